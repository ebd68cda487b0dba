//! `djdd adopt` arguments.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// The project's checkout (default: the current directory).
    pub path: Option<PathBuf>,
    /// Print the files it would write instead of writing them.
    #[arg(long)]
    pub dry_run: bool,
    /// manage.py's path in the checkout, when there are several
    /// (djdd.toml's key `manage`).
    #[arg(long, value_name = "PATH")]
    pub manage: Option<String>,
    /// The project's own settings module (default: manage.py's
    /// DJANGO_SETTINGS_MODULE, or the production module beside it).
    #[arg(long, value_name = "MODULE")]
    pub settings: Option<String>,
    /// The source NAME the next commands use (default: from the
    /// checkout's directory name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}
