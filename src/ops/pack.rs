//! `djdd pack`: read a dpkg-deb style tree and write a .deb.

use std::process::ExitCode;

use crate::cli::pack::PackArgs;

pub fn run(args: &PackArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "djdd pack {}: the .deb writer is being written",
        args.tree.display()
    )
}
