//! `djdd init` arguments.

use clap::Args;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Debian suite (codename) of the build root, e.g. bookworm or trixie
    /// [default: the host's, from /etc/os-release; or the existing root's].
    #[arg(long, value_name = "SUITE")]
    pub suite: Option<String>,
    /// Debian architecture of the build root
    /// [default: the host's, from `dpkg --print-architecture`].
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Debian mirror for debootstrap and apt
    /// [default: the one the host's apt sources use].
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
    /// The apt repository this build dir's packages are published to (the
    /// directory `djdd publish --repo` writes), kept in the build dir's
    /// settings: `djdd build` then reuses the env packages published there
    /// as with `--repo`, which (or DJDD_REPO) still wins. It need not
    /// exist yet.
    #[arg(long, value_name = "DIR", conflicts_with = "no_repo")]
    pub repo: Option<std::path::PathBuf>,
    /// Forget the repository `--repo` set.
    #[arg(long)]
    pub no_repo: bool,
}
