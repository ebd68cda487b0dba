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

/// Writes `data` to `path` (creating parent directories) and sets `mode`.
pub fn write_mode(path: &Path, data: impl AsRef<[u8]>, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).expect("create parent dirs");
    }
    std::fs::write(path, data).expect("write file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Creates a directory (and parents) and sets its mode.
pub fn mkdir_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path).expect("mkdir");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A control paragraph with the five required fields.
pub fn control_text(package: &str, version: &str) -> String {
    format!(
        "Package: {package}\nVersion: {version}\nArchitecture: all\n\
         Maintainer: djdd tests <tests@example.org>\nPriority: optional\nSection: misc\n\
         Description: test package {package}\n a package built by djdd's tests.\n"
    )
}

/// Runs a command, panics with its output unless it succeeds, returns stdout.
pub fn run_ok(cmd: &mut std::process::Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
