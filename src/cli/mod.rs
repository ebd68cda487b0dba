//! Command-line definitions (clap derive) only: each subcommand's arguments
//! become an options struct that one function in `ops` takes. Nothing here
//! reads files or runs processes.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub mod check;
pub mod pack;
pub mod publish;

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

    /// More output (-v: debug, -vv: trace). Progress goes to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a .deb from a dpkg-deb style tree (a deterministic, faster
    /// `dpkg-deb --build --root-owner-group`).
    Pack(pack::PackArgs),
    /// Add packages to a signed apt repository (and prune old ones).
    Publish(Box<publish::PublishArgs>),
    /// Check a Django project against the deploy contract (docs/contract.md):
    /// lists every problem with its fix. Exit 0 clean, 1 problems, 2 usage.
    Check(check::CheckArgs),
}
