//! `djdd publish` arguments.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The apt repository (a directory; created when missing). Serve it with
    /// any static web server; see docs/publish.md.
    #[arg(long, value_name = "DIR", required_unless_present = "init_key")]
    pub repo: Option<PathBuf>,

    /// The suite (distribution) under dists/: targets name it in their
    /// sources entry. Default: the build root's Debian codename (bookworm,
    /// trixie), so packages built for two releases never share an index.
    #[arg(long)]
    pub suite: Option<String>,

    /// The component under the suite.
    #[arg(long, default_value = "main")]
    pub component: String,

    /// The Release Codename (default: the suite). Packages djdd built go
    /// only into a suite whose codename is their build root's.
    #[arg(long)]
    pub codename: Option<String>,

    /// The Release Origin field (apt pinning can match it).
    #[arg(long, default_value = "djdd")]
    pub origin: String,

    /// The Release Label field.
    #[arg(long, default_value = "djdd")]
    pub label: String,

    /// The Release Description field.
    #[arg(long)]
    pub description: Option<String>,

    /// An architecture to index even without packages of it (repeatable;
    /// default: this host's `dpkg --print-architecture`). `all` packages are
    /// listed in every architecture's index.
    #[arg(long = "arch", value_name = "ARCH")]
    pub arch: Vec<String>,

    /// Add Valid-Until, DAYS after now, to the Release (then publish at least
    /// that often, or apt refuses the repository as expired).
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub valid_for: Option<u32>,

    /// Sign with this key: a key id or fingerprint in DIR/gnupg or the
    /// default gpg home, or the path of an armored secret key file (imported
    /// into DIR/state/gnupg). Default: the key made by --init-key.
    #[arg(long, value_name = "KEY", conflicts_with = "unsigned")]
    pub sign_key: Option<String>,

    /// Do not sign (no InRelease, no Release.gpg): targets then need
    /// `[trusted=yes]`, which is only sensible for tests.
    #[arg(long)]
    pub unsigned: bool,

    /// Create a signing key (ed25519, no passphrase) in DIR/gnupg if there is
    /// none, and export its public key to REPO/KEY.gpg and REPO/KEY.asc.
    #[arg(long, conflicts_with = "unsigned")]
    pub init_key: bool,

    /// Remove site versions beyond the newest --keep per variant, and the
    /// env and src packages no kept site version depends on.
    #[arg(long, conflicts_with = "packages")]
    pub prune: bool,

    /// With --prune: how many versions of each site package to keep.
    #[arg(long, value_name = "N", requires = "prune", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: u32,

    /// Print what would be written and removed; change nothing.
    #[arg(long, conflicts_with = "init_key")]
    pub dry_run: bool,

    /// .deb files to publish (default: those in DIR/packages not yet
    /// published to this repository, suite and component).
    #[arg(value_name = "PACKAGE")]
    pub packages: Vec<PathBuf>,
}
