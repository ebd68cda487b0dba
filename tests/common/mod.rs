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

/// A build dir for host tests: removed with its schroot config when dropped.
pub struct TestBuildDir {
    pub tmp: tempfile::TempDir,
}

impl TestBuildDir {
    /// A new, empty directory to use as `--dir` (not yet a build dir).
    pub fn new() -> TestBuildDir {
        TestBuildDir { tmp: tempdir() }
    }

    /// A new directory laid out as a build dir (no build root).
    pub fn layout() -> TestBuildDir {
        let t = TestBuildDir::new();
        djdd::builddir::BuildDir::create(t.path()).expect("build dir layout");
        t
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// `djdd --dir THIS ARGS...`.
    pub fn djdd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut c = djdd();
        c.arg("--dir").arg(self.path()).args(args);
        c
    }
}

impl Drop for TestBuildDir {
    fn drop(&mut self) {
        if let Ok(d) = djdd::builddir::BuildDir::open(self.path()) {
            let _ = djdd::buildroot::schroot::remove_config(&d.schroot_name());
        }
    }
}

/// Every file and directory below `dir` with its size and modification
/// time: two snapshots differ when anything was added, removed or written.
/// Skips the build root and the lock files of state/locks (empty files that
/// hold no state: a lock file is made the first time a lock is taken).
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut v: Vec<_> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.file_name() != "buildroot" && e.file_name() != "locks")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.path().to_path_buf(), m.len(), m.modified().ok()?))
        })
        .collect();
    v.sort();
    v
}

/// Runs git with arguments in `dir`, panicking on failure; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.org")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.org")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A git repository in a new temp dir with one commit on `main`.
pub fn upstream_repo() -> tempfile::TempDir {
    let t = tempdir();
    git(t.path(), &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(t.path().join("README"), "v1\n").unwrap();
    git(t.path(), &["add", "README"]);
    git(t.path(), &["commit", "--quiet", "-m", "first"]);
    t
}
