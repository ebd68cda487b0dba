//! `djdd check` arguments.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A project checkout (a path: contains `/`, or is an existing
    /// directory) or the NAME of a source added with `djdd src`.
    /// Default: the current directory.
    pub target: Option<String>,
    /// With NAME: the variant whose site is checked: NAME-VARIANT, and,
    /// when recorded with `djdd variant`, its branch, settings module and
    /// domain.
    pub variant: Option<String>,
    /// A Python with the project's requirements installed (a virtualenv's
    /// bin/python): runs the checks that import the project on this host
    /// with it. Without it, for a NAME, they run inside the build root with
    /// the env `djdd build` made for the commit's requirements, if built.
    #[arg(long, value_name = "PYTHON")]
    pub python: Option<PathBuf>,
    /// With NAME: the commit, tag or branch to check (default: HEAD of the
    /// source's mirror).
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// Seconds each Python run may take before it is killed.
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}
