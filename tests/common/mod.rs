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

/// Copies a directory tree (files, directories, symlinks as links), skipping
/// `__pycache__`.
pub fn copy_tree(src: &Path, dst: &Path) {
    for entry in walkdir::WalkDir::new(src).sort_by_file_name() {
        let entry = entry.expect("walk");
        if entry.file_name() == "__pycache__" {
            continue;
        }
        let rel = entry.path().strip_prefix(src).unwrap();
        let to = dst.join(rel);
        let ft = entry.file_type();
        if ft.is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else if ft.is_symlink() {
            let target = std::fs::read_link(entry.path()).unwrap();
            std::os::unix::fs::symlink(target, &to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// The python of a virtualenv holding fixtures/demo's requirements, made
/// once with the host's python3 in /var/cache/djdd/test-venv/KEY/ (KEY: a
/// hash of the Python version and the requirement files), under a lock so
/// parallel tests build it once. Rebuilt when missing or half-made.
pub fn demo_venv_python() -> PathBuf {
    use sha2::{Digest, Sha256};
    let project = fixtures().join("demo");
    let version = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .expect("python3 on PATH");
    let mut h = Sha256::new();
    h.update(&version.stdout);
    h.update(&version.stderr);
    for f in [
        "requirements.txt",
        "requirements/base.txt",
        "requirements/constraints.txt",
    ] {
        h.update(f.as_bytes());
        h.update(std::fs::read(project.join(f)).expect("fixture requirements"));
    }
    let key: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let cache = PathBuf::from("/var/cache/djdd/test-venv");
    std::fs::create_dir_all(&cache).expect("create /var/cache/djdd/test-venv");
    let venv = cache.join(&key);
    let python = venv.join("bin/python");
    let done = venv.join(".complete");
    let lock = std::fs::File::create(cache.join(format!("{key}.lock"))).expect("lock file");
    lock.lock().expect("lock the test venv");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&venv);
        let run = |cmd: &mut std::process::Command| {
            let out = cmd.output().expect("run");
            assert!(
                out.status.success(),
                "{cmd:?} failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(std::process::Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv));
        run(std::process::Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--no-input", "-r", "requirements.txt"])
            .current_dir(&project));
        std::fs::write(&done, b"").expect("mark the venv complete");
    }
    drop(lock);
    python
}
