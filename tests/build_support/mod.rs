//! Helpers shared by the `djdd build` tests (tests/build_*.rs): a build dir
//! made by the real `djdd init` (from the cached base tarball), the fixture
//! repository from fixtures/make-repo.sh, running `djdd build` and reading
//! the packages it writes with the real dpkg-deb.
//!
//! The installers' caches and djdd's kept wheels: a build dir starts with
//! empty ones, so the first env build compiles psycopg2 from its sdist.
//! `seed_pip_cache` copies what an earlier test run left in
//! /var/cache/djdd/test-pip (pip's downloads), test-uv (uv's cache),
//! test-tools (the uv wheel) and test-wheels (the wheels djdd built from
//! sdists, by the sdist's sha256) into the build dir (and
//! `save_pip_cache` adds new ones), under a lock; a missing cache only
//! makes a test slower. The builds use the installer `DJDD_INSTALLER`
//! names ([`installer`]), uv by default as djdd.
#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{TestBuildDir, fixtures, tempdir};

pub const PIP_CACHE: &str = "/var/cache/djdd/test-pip";
/// The kept wheels of earlier test runs (D/cache/wheels).
pub const WHEEL_CACHE: &str = "/var/cache/djdd/test-wheels";

/// uv's cache of earlier test runs (D/cache/uv).
pub const UV_CACHE: &str = "/var/cache/djdd/test-uv";
/// The uv wheel djdd installs into build roots (D/cache/tools).
pub const TOOLS_CACHE: &str = "/var/cache/djdd/test-tools";

/// (test cache, the build dir's cache subdir it seeds).
const TEST_CACHES: [(&str, &str); 4] = [
    (PIP_CACHE, "cache/pip"),
    (WHEEL_CACHE, "cache/wheels"),
    (UV_CACHE, "cache/uv"),
    (TOOLS_CACHE, "cache/tools"),
];

/// The installer the tests' builds use: `DJDD_INSTALLER` as djdd reads it
/// (the tests' builds inherit it), `uv` unless it says `pip`.
pub fn installer() -> &'static str {
    match std::env::var("DJDD_INSTALLER").as_deref().map(str::trim) {
        Ok("pip") => "pip",
        _ => "uv",
    }
}

/// What a build says when its installer resolves the requirements.
pub fn resolving() -> &'static str {
    if installer() == "pip" {
        "pip install -r "
    } else {
        "uv pip compile "
    }
}

pub fn need_root() {
    assert!(
        djdd::buildroot::host::is_root(),
        "the build tests need root (CI runs them as root)"
    );
}

/// A build dir with a build root (`djdd init`), source `demo` cloned from
/// `repo`, and variants blue and red (red: --celery --migrate).
pub fn demo_build_dir(repo: &Path, seed: bool) -> TestBuildDir {
    need_root();
    let d = TestBuildDir::new();
    ok(&d, &["init"]);
    if seed {
        seed_pip_cache(&d);
    }
    ok(&d, &["src", "demo", "--clone", repo.to_str().unwrap()]);
    ok(
        &d,
        &["variant", "demo", "blue", "--domain", "blue.example.org"],
    );
    ok(
        &d,
        &[
            "variant",
            "demo",
            "red",
            "--domain",
            "red.example.org",
            "--celery",
            "--migrate",
        ],
    );
    d
}

/// The fixture repository (fixtures/make-repo.sh) in a new temp dir.
pub fn demo_repo() -> tempfile::TempDir {
    let t = tempdir();
    let out = Command::new("sh")
        .arg(fixtures().join("make-repo.sh"))
        .arg(t.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make-repo.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t
}

/// The fixtures/pulse repository (make-repo.sh ... pulse) in a new temp dir.
pub fn pulse_repo() -> tempfile::TempDir {
    need_root();
    let t = tempdir();
    let out = Command::new("sh")
        .arg(fixtures().join("make-repo.sh"))
        .arg(t.path())
        .arg("pulse")
        .output()
        .unwrap();
    assert!(out.status.success(), "make-repo.sh pulse: {out:?}");
    t
}

/// A fresh build dir (empty pip cache) with fixtures/pulse as source
/// `pulse` and variant blue.
pub fn pulse_build_dir(repo: &Path) -> TestBuildDir {
    let d = TestBuildDir::new();
    ok(&d, &["init"]);
    ok(&d, &["src", "pulse", "--clone", repo.to_str().unwrap()]);
    ok(
        &d,
        &["variant", "pulse", "blue", "--domain", "pulse.example.org"],
    );
    d
}

/// `djdd --dir D ARGS`, whatever its exit.
pub fn run(d: &TestBuildDir, args: &[&str]) -> Output {
    d.djdd(args).output().unwrap()
}

/// `djdd --dir D ARGS`, asserting success; returns (stdout, stderr).
pub fn ok(d: &TestBuildDir, args: &[&str]) -> (String, String) {
    let out = run(d, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "djdd {args:?} failed ({}):\n{stderr}\n{stdout}",
        out.status
    );
    (stdout, stderr)
}

/// `djdd --dir D ARGS`, asserting it fails with exit 1 and an error line;
/// returns stderr.
pub fn fails(d: &TestBuildDir, args: &[&str]) -> String {
    let out = run(d, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "djdd {args:?} should fail with exit 1:\n{stderr}"
    );
    assert!(
        stderr.contains("djdd: error: "),
        "no error line for {args:?}:\n{stderr}"
    );
    stderr
}

/// Every file name in D/packages/ (temp files included), sorted.
pub fn package_files(d: &TestBuildDir) -> Vec<String> {
    let dir = d.path().join("packages");
    let mut v: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// The one file in D/packages/ whose name starts with `prefix` and is not
/// in `except`.
pub fn one_package(d: &TestBuildDir, prefix: &str, except: &[String]) -> PathBuf {
    let found: Vec<String> = package_files(d)
        .into_iter()
        .filter(|f| f.starts_with(prefix) && !except.contains(f))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one package {prefix}*, found {found:?} in {:?}",
        package_files(d)
    );
    d.path().join("packages").join(&found[0])
}

/// (inode, mtime in ns): changes when a file is rewritten or replaced.
pub fn identity(p: &Path) -> (u64, i64, i64) {
    let m = std::fs::metadata(p).unwrap();
    (m.ino(), m.mtime(), m.mtime_nsec())
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dpkg-deb {args:?} {} failed: {}",
        deb.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `dpkg-deb --info` succeeds; returns its output.
pub fn info(deb: &Path) -> String {
    dpkg_deb(&["--info"], deb)
}

/// One control field (`dpkg-deb -f DEB FIELD`), continuation lines kept.
pub fn field(deb: &Path, name: &str) -> String {
    let out = Command::new("dpkg-deb")
        .arg("-f")
        .arg(deb)
        .arg(name)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// The member paths of the data archive, as `/usr/...` (directories end
/// in `/`).
pub fn contents(deb: &Path) -> Vec<String> {
    let data = data_tar(deb);
    let mut ar = tar::Archive::new(&data[..]);
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let p = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let p = format!("/{}", p.trim_start_matches("./"));
            if e.header().entry_type() == tar::EntryType::Directory && !p.ends_with('/') {
                format!("{p}/")
            } else {
                p
            }
        })
        .collect()
}

/// The data archive of `deb`, uncompressed (`dpkg-deb --fsys-tarfile`).
pub fn data_tar(deb: &Path) -> Vec<u8> {
    let out = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// The text of the first member of `deb` whose path ends with `suffix`.
pub fn member_text(deb: &Path, suffix: &str) -> Option<String> {
    let data = data_tar(deb);
    let mut ar = tar::Archive::new(&data[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path_bytes().ends_with(suffix.as_bytes()) {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            return Some(s);
        }
    }
    None
}

/// Asserts `list` holds `want`.
pub fn has(list: &[String], want: &str, what: &str) {
    assert!(
        list.iter().any(|x| x == want),
        "{what} lacks {want}; it has {} members, e.g. {:?}",
        list.len(),
        &list[..list.len().min(30)]
    );
}

/// Copies the test caches into the build dir: /var/cache/djdd/test-pip
/// into D/cache/pip, test-wheels into D/cache/wheels, test-uv into
/// D/cache/uv, test-tools into D/cache/tools.
pub fn seed_pip_cache(d: &TestBuildDir) {
    let _lock = pip_lock();
    for (src, sub) in TEST_CACHES {
        if !Path::new(src).is_dir() {
            continue;
        }
        let dest = d.path().join(sub);
        std::fs::create_dir_all(&dest).unwrap();
        let st = Command::new("cp")
            .arg("-a")
            .arg(format!("{src}/."))
            .arg(&dest)
            .status()
            .unwrap();
        assert!(st.success(), "copying the test cache {src}");
    }
}

/// Adds what D/cache/{pip,wheels,uv,tools} hold to the test caches.
pub fn save_pip_cache(d: &TestBuildDir) {
    let _lock = pip_lock();
    for (dest, sub) in TEST_CACHES {
        let src = d.path().join(sub);
        if !src.is_dir() {
            continue;
        }
        std::fs::create_dir_all(dest).unwrap();
        let _ = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", src.display()))
            .arg(dest)
            .status();
    }
}

/// The file names of the wheels D/cache/wheels keeps for the sdist with
/// sha256 `sha` (any Python), sorted.
pub fn kept_wheels(d: &TestBuildDir, sha: &str) -> Vec<String> {
    let dir = d.path().join(format!(
        "cache/wheels/env-format-{}",
        djdd::plan::ENV_FORMAT
    ));
    let mut out: Vec<String> = walkdir::WalkDir::new(&dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_type().is_file()
                && e.path().parent().and_then(|p| p.file_name()) == Some(std::ffi::OsStr::new(sha))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

fn pip_lock() -> std::fs::File {
    std::fs::create_dir_all("/var/cache/djdd").unwrap();
    let f = std::fs::File::create("/var/cache/djdd/test-pip.lock").unwrap();
    djdd::flock::lock(&f).unwrap();
    f
}

/// Runs lintian on `deb`; returns its error and warning lines (`E: ...`,
/// `W: ...`: what `lintian --fail-on error,warning` fails on, after the
/// package's own overrides) and the whole output.
pub fn lintian_problems(deb: &Path) -> (Vec<String>, String) {
    let out = Command::new("lintian")
        .args(["--tag-display-limit", "0"])
        .arg(deb)
        .output()
        .expect("lintian (apt-get install lintian)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let errors = text
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("W: "))
        .map(str::to_string)
        .collect();
    (errors, text)
}

/// The fixture repository's commit id of `rev`.
pub fn rev_parse(repo: &Path, rev: &str) -> String {
    crate::common::git(repo, &["rev-parse", &format!("{rev}^{{commit}}")])
}

/// The one lock file in D/state/env-locks/.
pub fn recorded_lock(d: &TestBuildDir) -> PathBuf {
    let dir = d.path().join("state/env-locks");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// Asserts the package at `got` has the bytes `want`, showing diffoscope's
/// report when not (`apt-get install diffoscope-minimal`).
pub fn assert_same_package(want: &[u8], got: &Path, what: &str) {
    let bytes = std::fs::read(got).unwrap();
    if bytes == want {
        return;
    }
    let t = tempdir();
    let first = t.path().join(got.file_name().unwrap());
    std::fs::write(&first, want).unwrap();
    let report = std::process::Command::new("diffoscope")
        .args(["--text", "-", "--max-report-size", "20000"])
        .arg(&first)
        .arg(got)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|_| "(diffoscope is not installed)".into());
    panic!("{what}:\n{report}");
}

/// The HASH of an env package `deb` (`D/packages/NAME-env-HASH_1_ARCH.deb`).
pub fn env_hash_of(deb: &Path) -> String {
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    let package = name.split('_').next().unwrap();
    package
        .rsplit_once("-env-")
        .map(|(_, h)| h)
        .unwrap_or(package)
        .to_string()
}

/// Loses the env package `deb` as a host whose build root was made again
/// would: the package, and the mark of its complete tree in the root, so
/// the next build makes the env again (from its lock) instead of packing
/// the tree again.
pub fn lose_env(d: &TestBuildDir, deb: &Path) {
    std::fs::remove_file(deb).unwrap();
    let hash = env_hash_of(deb);
    let envs = d.path().join("state/envs");
    for m in crate::common::list_dir(&envs) {
        if m.starts_with(&hash) {
            std::fs::remove_file(envs.join(m)).unwrap();
        }
    }
}
