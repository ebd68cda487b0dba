//! `djdd build` arguments.

use clap::Args;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The source NAME (as given to `djdd src`).
    pub name: String,
    /// The VARIANT to build; default: every variant of NAME.
    pub variant: Option<String>,
    /// The revision to build: a commit, tag or branch of the source
    /// (default: the variant's branch).
    #[arg(long = "version", value_name = "REV")]
    pub rev: Option<String>,
    /// The Django settings module, instead of the variant's or the project's.
    #[arg(long, value_name = "MODULE")]
    pub settings: Option<String>,
    /// Print what would be built or reused, and build nothing.
    #[arg(long)]
    pub plan: bool,
    /// Build the site package even when its inputs equal the last build's.
    #[arg(long)]
    pub force: bool,
    /// Seconds each project command (manage.py compilemessages and
    /// collectstatic, djdd.toml's build commands) may run before it is
    /// killed, with its process group.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::buildroot::steps::PROJECT_TIMEOUT,
          value_parser = clap::value_parser!(u32).range(1..=86400))]
    pub timeout: u32,
    /// Compression of the packages written (zstd: fast, and read by dpkg
    /// since Debian 12; xz: smaller, and read by every dpkg).
    #[arg(
        short = 'Z',
        long,
        default_value = "zstd",
        value_name = "zstd|xz|gzip|none"
    )]
    pub compression: String,
    /// An apt repository `djdd publish` writes (a directory): when its pool
    /// for the build root's suite holds this build's NAME-env-HASH, that
    /// package is reused as it is (copied into packages/, unpacked into the
    /// build root) instead of being built again, so a new build dir makes
    /// exactly the env that is deployed. Also set by DJDD_REPO.
    #[arg(long, value_name = "DIR", env = "DJDD_REPO")]
    pub repo: Option<std::path::PathBuf>,
    /// Build the env again, letting pip resolve the requirements anew and
    /// writing a new resolution lock, even when its package exists or a
    /// lock was recorded (neither packages/, the repository nor the lock
    /// is used). The env's content may then change under the same HASH;
    /// the build says whether it did.
    #[arg(long)]
    pub rebuild_env: bool,
}
