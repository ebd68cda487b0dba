//! Shared helpers for integration tests: each test gets its own temp dir
//! and runs the real `djdd` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A `djdd` command ready to run, with logging quiet unless DJDD_LOG is set.
pub fn djdd() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("djdd").expect("djdd binary");
    c.env_remove("DJDD_DIR");
    c
}

/// The repository's root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    repo_root().join("fixtures")
}

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("djdd-test-")
        .tempdir()
        .expect("tempdir")
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Lists a directory's entries (names), sorted; empty when it does not exist.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
