//! One function per subcommand: the only glue that calls several stages
//! (config, plan, render, buildroot, deb, repo). Reads the files the pure
//! stages need and hands them bytes; reports progress through `tracing`.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod check;
pub mod pack;
pub mod publish;

/// Runs the parsed command line; the exit code is the command's own
/// (`djdd check` returns 1 for problems found).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Pack(args) => pack::run(&args),
        Command::Publish(args) => publish::run(&args, &cli.dir),
        Command::Check(args) => check::run(&args, &cli.dir),
    }
}
