//! `djdd status` arguments.

use clap::Args;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Show only this project.
    #[arg(allow_hyphen_values = true)]
    pub name: Option<String>,
}
