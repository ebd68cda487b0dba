//! `djdd src` arguments.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct SrcArgs {
    /// The project's NAME: ^[a-z][a-z0-9-]*$, NAME-VARIANT at most 32 characters.
    #[arg(allow_hyphen_values = true)]
    pub name: String,
    /// Clone the repository at URL (a local path, file://, https:// or ssh)
    /// as a mirror into D/src/NAME.git. Without it (or when already cloned),
    /// fetch.
    #[arg(long, value_name = "URL", allow_hyphen_values = true)]
    pub clone: Option<String>,
    /// An ssh deploy key for the repository (kept in the mirror's git
    /// config for later fetches).
    #[arg(long, value_name = "KEY")]
    pub identity: Option<PathBuf>,
}
