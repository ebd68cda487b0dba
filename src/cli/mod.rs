//! Command-line definitions (clap derive) only: each subcommand's arguments
//! become an options struct that one function in `ops` takes. Nothing here
//! reads files or runs processes.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub mod adopt;
pub mod build;
pub mod check;
pub mod init;
pub mod pack;
pub mod publish;
pub mod src;
pub mod status;
pub mod variant;

#[derive(Debug, Parser)]
#[command(
    name = "djdd",
    version,
    about = "A Debian package factory for Django applications"
)]
pub struct Cli {
    /// The build directory: build root, sources, variants, caches, packages, logs.
    #[arg(long, global = true, env = "DJDD_DIR", default_value = "/var/lib/djdd")]
    pub dir: PathBuf,

    /// More output (-v: debug, -vv: trace). Log lines and progress go to
    /// stderr; what scripts read goes to stdout.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Errors only on stderr: no log lines, no progress (stdout unchanged).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Colour the log lines: auto (only on a terminal, and not when
    /// NO_COLOR is set), always or never.
    #[arg(
        long,
        global = true,
        value_name = "WHEN",
        default_value = "auto",
        value_enum
    )]
    pub color: crate::report::ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a .deb from a dpkg-deb style tree (a deterministic, faster
    /// `dpkg-deb --build --root-owner-group`).
    Pack(pack::PackArgs),
    /// Build the env, src and site packages of one commit of a source, for
    /// one variant (or all): only what changed is rebuilt.
    Build(build::BuildArgs),
    /// Add packages to a signed apt repository (and prune old ones).
    Publish(Box<publish::PublishArgs>),
    /// Write djdd.toml and a settings module that reads the deploy
    /// contract's variables for a project checkout, from what it finds
    /// there (manage.py, settings, WSGI/ASGI, celery, Procfile,
    /// requirements); never overwrites a file.
    Adopt(adopt::AdoptArgs),
    /// Check a Django project against the deploy contract (docs/contract.md):
    /// lists every problem with its fix. Exit 0 clean, 1 problems, 2 usage.
    Check(check::CheckArgs),
    /// Make the build root (debootstrap, schroot, build user, build
    /// packages); resumable and idempotent.
    Init(init::InitArgs),
    /// Clone a project's repository as a mirror (or fetch it again).
    Src(src::SrcArgs),
    /// Record (or change, or list) a deployment of a project.
    Variant(Box<variant::VariantArgs>),
    /// Show the build root, sources, variants, cached packages and last builds.
    Status(status::StatusArgs),
    /// Print a shell completion script for djdd on stdout (bash, zsh,
    /// fish, elvish, powershell). The Debian package installs them.
    Completions(CompletionsArgs),
    /// Write the man pages (djdd.1 and one djdd-COMMAND.1 per command)
    /// into DIR (for packaging; the Debian package installs them).
    #[command(hide = true)]
    Manpages(ManpagesArgs),
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManpagesArgs {
    /// The directory to write the pages into (made if missing).
    pub dir: PathBuf,
}
