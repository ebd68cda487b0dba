//! djdd: a Debian package factory for Django applications.
//!
//! Data flows one way: `config` (validated input) -> `plan` (what to build,
//! as a value) -> `render` (text of generated files) -> `buildroot` (the only
//! place that runs processes) -> `deb` (bytes of a .deb) -> `repo` (an apt
//! repository). `ops` holds one function per subcommand and is the only glue
//! that calls several stages. `cli` turns arguments into option structs.

pub mod builddir;
pub mod buildroot;
pub mod cli;
pub mod config;
pub mod contract;
pub mod deb;
pub mod digest;
pub mod error;
pub mod ops;
pub mod plan;
pub mod render;
pub mod repo;
pub mod report;
pub mod testpause;
pub mod time;

pub use error::{Error, Result};
