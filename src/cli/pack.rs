//! `djdd pack` arguments.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct PackArgs {
    /// The tree to pack: DIR/DEBIAN holds control files, the rest is data.
    pub tree: PathBuf,
    /// Output file, or a directory to write PACKAGE_VERSION_ARCH.deb into
    /// (default: DIR.deb beside the tree, as dpkg-deb does).
    pub out: Option<PathBuf>,
}
