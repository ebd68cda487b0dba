//! `djdd pack` arguments: dpkg-deb's `--build` options that matter for a
//! drop-in `dpkg-deb --build --root-owner-group`.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct PackArgs {
    /// Compression of the tar members: xz (dpkg-deb's default), zstd, gzip
    /// or none.
    #[arg(short = 'Z', value_name = "TYPE", default_value = "xz",
          value_parser = ["zstd", "xz", "gzip", "none"])]
    pub compression: String,
    /// Compression level (default as dpkg-deb: xz 6, zstd 3, gzip 9).
    #[arg(short = 'z', value_name = "LEVEL")]
    pub level: Option<u32>,
    /// Compressor and reader threads (default: all CPUs); the output does
    /// not depend on it.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: u32,
    /// The tree to pack: DIR/DEBIAN holds control files, the rest is data.
    pub tree: PathBuf,
    /// Output file, or a directory to write PACKAGE_VERSION_ARCH.deb into
    /// (default: DIR.deb beside the tree, as dpkg-deb does).
    pub out: Option<PathBuf>,
}
