//! Validated configuration: the variant files and the project's djdd.toml,
//! turned into typed values, each value checked with its rule (`rules`).
//!
//! Pure: never touches the disk or runs a process; `ops` reads the bytes and
//! hands them in, so every rule is tested without a file system. Each error
//! names the file (or option), the key and the rule broken.

pub mod project;
pub mod variant;
