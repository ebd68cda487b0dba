//! One function per subcommand: the only glue that calls several stages
//! (config, plan, render, buildroot, deb, repo). Reads the files the pure
//! stages need and hands them bytes; reports progress through `tracing`.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod adopt;
pub mod build;
pub mod check;
pub mod env_input;
pub mod init;
pub mod manpages;
pub mod pack;
pub mod publish;
pub mod src;
pub mod status;
pub mod variant;

/// A usage error of a command (wrong arguments for what it found): main
/// prints it like any error and exits with status 2, as `djdd check`
/// documents.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// Runs the parsed command line; the exit code is the command's own
/// (`djdd check` returns 1 for problems found).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Pack(args) => pack::run(&args),
        Command::Build(args) => build::run(&args, &cli.dir),
        Command::Publish(args) => publish::run(&args, &cli.dir),
        Command::Adopt(args) => adopt::run(&args),
        Command::Check(args) => check::run(&args, &cli.dir),
        Command::Init(args) => init::run(&args, &cli.dir),
        Command::Src(args) => src::run(&args, &cli.dir),
        Command::Variant(args) => variant::run(&args, &cli.dir),
        Command::Status(args) => status::run(&args, &cli.dir),
        Command::Completions(args) => manpages::completions(args.shell),
        Command::Manpages(args) => manpages::run(&args.dir),
    }
}

/// The env installer `DJDD_INSTALLER` chooses (`pip` or `uv`; unset: the
/// default), refused with the variable named when it names neither.
pub fn installer_setting() -> crate::error::Result<crate::plan::Installer> {
    let value = std::env::var(crate::plan::INSTALLER_VAR).ok();
    crate::plan::Installer::from_setting(value.as_deref())
}
