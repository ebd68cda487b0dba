//! djdd: a Debian package factory for Django applications.
//!
//! Data flows one way: `config` (validated input) -> `plan` (what to build,
//! as a value) -> `render` (text of generated files) -> `buildroot` (the
//! build root and the processes it runs) -> `deb` (bytes of a .deb) ->
//! `repo` (an apt repository). `ops` holds one function per subcommand and
//! is the only glue that calls several stages. `cli` turns arguments into
//! option structs. `check` (`djdd check`'s checks) is a stage of its own
//! above `plan` and `render`, and `adopt` (what `djdd adopt` decides and
//! writes for a new project) one above it: it reads a checkout through
//! `check`'s view of a tree. Every process djdd runs (in the build root
//! or on the host: git, gpg, dpkg) goes through `buildroot::runner`, and
//! only `main` prints errors.
//!
//! The layers, top to bottom. A module imports only modules of the floors
//! below its own, never one of its floor or above; `tests/layers.rs` reads
//! this drawing and fails when a `crate::` path in `src/` points up or
//! sideways. `contract` (the deploy contract) and `rules` (one rule per
//! value) stand on the ground floor (`error` and the small helpers): every
//! stage reads them and they read nothing of the crate but `error`, so `config` reads the contract's
//! variables and the contract never reads `config`'s key table (the
//! generated tables of docs/contract.md that need both are
//! `render::contract_docs`).
//!
//! ```text
//! ops                                  one function per subcommand
//! cli                                  clap definitions
//! adopt                                what djdd adopt finds and writes
//! check source                         djdd check's checks; the git mirror
//! render buildroot                     generated text; the build root
//! plan repo                            the build plan; the apt repository
//! config                               variant files, djdd.toml
//! deb builddir                         .deb bytes; the build dir
//! contract rules                       the deploy contract; one rule per value
//! error report time testpause digest flock    the error type; the reporter; helpers
//! ```

pub mod adopt;
pub mod builddir;
pub mod buildroot;
pub mod check;
pub mod cli;
pub mod config;
pub mod contract;
pub mod deb;
pub mod digest;
pub mod error;
pub mod flock;
pub mod ops;
pub mod plan;
pub mod render;
pub mod repo;
pub mod report;
pub mod rules;
pub mod source;
pub mod testpause;
pub mod time;

pub use error::{Error, Result};
