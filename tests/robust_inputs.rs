//! The hostile-input suite (issue 8, item 1): names, variants, revisions,
//! branches, project trees, variant values, damaged state and publish
//! options that djdd must refuse. Every case asserts three things: a
//! non-zero exit, a message naming the thing to fix, and that the build
//! dir's state and the apt repository are exactly as before (see
//! [`Snapshot`]): `packages/`, `variants/`, `state/` (last-build records,
//! init state, tree markers), the source mirrors' refs, the repository
//! (every file's mode, size, mtime and SHA-256), no lock left held, and a
//! summary of the build root (its dpkg database, users, scratch dirs).
//! Revisions and branches that carry shell also assert that the command
//! they hold never ran (a unique /tmp/pwned-* file is not created).
//!
//! Cases are tables run in a loop; one build dir with a real build root
//! (`djdd init` from the cached base tarball) serves every case of a test
//! function, and the failures of a table are reported together, each with
//! its label. Needs root, the cached base tarball, Debian's mirror (the
//! first build installs libpq-dev and gettext) and PyPI (or the wheels in
//! /var/cache/djdd/test-pip).

mod build_support;
mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use build_support::*;
use common::{TestBuildDir, git, make_deb};

/// How long one case may run before it counts as hung.
const CASE_TIMEOUT: Duration = Duration::from_secs(240);

// ---------------------------------------------------------------------
// Snapshots

/// What a case may not change, as path -> description.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot(BTreeMap<String, String>);

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One path: type, mode, and for files size, mtime (ns) and SHA-256; for
/// links the target. Directories leave out their mtime (a lock upgrade
/// writes and removes `state/exclusive-holder`, by design); every entry
/// below them is listed, so a file added or removed still shows.
fn describe(path: &Path) -> String {
    let m = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return format!("unreadable: {e}"),
    };
    let mode = m.permissions().mode() & 0o7777;
    let ft = m.file_type();
    if ft.is_dir() {
        format!("dir {mode:o}")
    } else if ft.is_symlink() {
        format!("link -> {}", std::fs::read_link(path).unwrap().display())
    } else if ft.is_file() {
        let bytes = std::fs::read(path).unwrap_or_default();
        format!(
            "file {mode:o} {} bytes mtime {}.{:09} sha256 {}",
            m.len(),
            m.mtime(),
            m.mtime_nsec(),
            sha256_hex(&bytes)
        )
    } else {
        format!("other {mode:o}")
    }
}

/// Adds every path below `base` (not entering what `skip` refuses) as
/// `PREFIX/relative`.
fn walk_into(
    snap: &mut BTreeMap<String, String>,
    base: &Path,
    prefix: &str,
    skip: &dyn Fn(&Path) -> bool,
) {
    if !base.exists() {
        snap.insert(prefix.to_string(), "absent".into());
        return;
    }
    for e in walkdir::WalkDir::new(base)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !skip(e.path()))
    {
        let e = e.expect("walk");
        let rel = e.path().strip_prefix(base).unwrap();
        let key = format!("{prefix}/{}", rel.display());
        snap.insert(key, describe(e.path()));
    }
}

/// Names in a directory, sorted ("absent" when it does not exist).
fn names(dir: &Path) -> String {
    if !dir.exists() {
        return "absent".into();
    }
    common::list_dir(dir).join(" ")
}

impl Snapshot {
    /// The state of build dir `d` and (when given) the repository `repo`.
    /// Left out: `logs/` (a failed build keeps its log, by design),
    /// `cache/` (pip's wheels), the lock files of `state/locks` (empty
    /// files; checked by [`assert_no_lock_held`] instead), and the build
    /// root, which is summarised: its dpkg status, passwd and group, the
    /// names of its top directory, `usr/lib`, `usr/lib/*-env` and
    /// `var/tmp`, and everything under its build scratch dir.
    fn take(d: &Path, repo: Option<&Path>) -> Snapshot {
        let mut s = BTreeMap::new();
        let top = d.to_path_buf();
        walk_into(&mut s, d, "D", &|p: &Path| {
            let rel = p.strip_prefix(&top).unwrap();
            let first = rel.components().next().map(|c| c.as_os_str().to_owned());
            matches!(
                first.as_deref().and_then(|f| f.to_str()),
                Some("buildroot" | "logs" | "cache" | "src")
            ) || rel.starts_with("state/locks")
        });
        // Source mirrors: their refs and configuration.
        s.insert("D/src".into(), names(&d.join("src")));
        for name in common::list_dir(&d.join("src")) {
            let mirror = d.join("src").join(&name);
            if !mirror.join("HEAD").is_file() {
                s.insert(format!("D/src/{name}"), describe(&mirror));
                continue;
            }
            s.insert(
                format!("D/src/{name} refs"),
                git(
                    &mirror,
                    &["for-each-ref", "--format=%(refname) %(objectname)"],
                ),
            );
            for f in ["HEAD", "config"] {
                s.insert(
                    format!("D/src/{name}/{f}"),
                    sha256_hex(&std::fs::read(mirror.join(f)).unwrap_or_default()),
                );
            }
        }
        // The build root, summarised.
        let root = d.join("buildroot");
        if root.exists() {
            for f in ["var/lib/dpkg/status", "etc/passwd", "etc/group"] {
                s.insert(format!("R/{f}"), describe(&root.join(f)));
            }
            for dir in ["", "usr/lib", "var/tmp"] {
                s.insert(format!("R/{dir} names"), names(&root.join(dir)));
            }
            for lib in common::list_dir(&root.join("usr/lib")) {
                if lib.ends_with("-env") {
                    let p = root.join("usr/lib").join(&lib);
                    s.insert(format!("R/usr/lib/{lib} names"), names(&p));
                }
            }
            walk_into(
                &mut s,
                &root.join("var/tmp/djdd-build"),
                "R/scratch",
                &|_| false,
            );
        } else {
            s.insert("R".into(), "absent".into());
        }
        if let Some(r) = repo {
            walk_into(&mut s, r, "REPO", &|_| false);
        }
        Snapshot(s)
    }

    /// The differences from `after`, one line each.
    fn diff(&self, after: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.0 {
            match after.0.get(k) {
                None => out.push(format!("removed {k} ({v})")),
                Some(w) if w != v => out.push(format!("changed {k}: {v} -> {w}")),
                _ => {}
            }
        }
        for (k, v) in &after.0 {
            if !self.0.contains_key(k) {
                out.push(format!("added {k} ({v})"));
            }
        }
        out
    }
}

/// No djdd lock of `d` is held (each can be taken at once), no
/// exclusive-holder record is left, and nobody holds dpkg's lock in the
/// build root (unless `dpkg_holder` is the test's own holder).
fn locks_held(d: &Path, dpkg_holder: Option<u32>) -> Vec<String> {
    let mut held = Vec::new();
    let mut files = vec![d.join(".lock"), d.join(".init.lock")];
    for n in common::list_dir(&d.join("state/locks")) {
        files.push(d.join("state/locks").join(n));
    }
    for f in files {
        let Ok(file) = std::fs::OpenOptions::new().read(true).write(true).open(&f) else {
            continue;
        };
        match djdd::flock::try_lock(&file) {
            Ok(true) => {
                let _ = djdd::flock::unlock(&file);
            }
            Ok(false) | Err(_) => held.push(format!("lock {} is still held", f.display())),
        }
    }
    if d.join("state/exclusive-holder").exists() {
        held.push("state/exclusive-holder was left behind".into());
    }
    if let Some((file, pid)) = djdd::buildroot::dpkg::dpkg_lock_holder(&d.join("buildroot")) {
        if Some(pid as u32) != dpkg_holder {
            held.push(format!("dpkg lock {file} held by process {pid}"));
        }
    }
    held
}

// ---------------------------------------------------------------------
// Cases

/// One hostile input: `djdd --dir D ARGS` must exit non-zero with every
/// needle in its output (stderr and stdout) and change nothing.
struct Case {
    label: String,
    args: Vec<String>,
    needles: Vec<String>,
    env: Vec<(String, String)>,
    /// The build dir to run in, when not the table's.
    dir: Option<PathBuf>,
}

fn case(label: &str, args: &[&str], needles: &[&str]) -> Case {
    Case {
        label: label.to_string(),
        args: args.iter().map(|s| s.to_string()).collect(),
        needles: needles.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
        dir: None,
    }
}

impl Case {
    fn env(mut self, k: &str, v: &str) -> Case {
        self.env.push((k.into(), v.into()));
        self
    }
    fn in_dir(mut self, d: &Path) -> Case {
        self.dir = Some(d.to_path_buf());
        self
    }
}

/// Where the test's shell-injection payloads would write: unique to the
/// test process and function, so a left-over file from elsewhere never
/// counts and a created one always does.
fn pwned_path(tag: &str) -> PathBuf {
    PathBuf::from(format!("/tmp/pwned-{}-{tag}", std::process::id()))
}

/// Runs one case against build dir `d` (and repository `repo`); returns
/// the problems found (empty when the case passed).
fn run_case(
    d: &Path,
    repo: Option<&Path>,
    c: &Case,
    pwned: &Path,
    dpkg_holder: Option<u32>,
) -> Vec<String> {
    let dir = c.dir.as_deref().unwrap_or(d);
    let before = Snapshot::take(dir, repo);
    let mut cmd = common::djdd();
    cmd.arg("--dir")
        .arg(dir)
        .args(&c.args)
        .timeout(CASE_TIMEOUT);
    for (k, v) in &c.env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run djdd");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let mut problems = Vec::new();
    match out.status.code() {
        Some(0) => problems.push("exited 0 (accepted)".to_string()),
        None => problems.push(format!("did not exit by itself: {}", out.status)),
        Some(_) => {}
    }
    for n in &c.needles {
        if !text.contains(n.as_str()) {
            problems.push(format!("output lacks {n:?}"));
        }
    }
    if !text.contains("error") {
        problems.push("output has no error line".to_string());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Escape codes or CRs in a value must not reach the terminal raw
    // (ANSI colour codes of djdd's own log lines aside).
    let raw = stderr
        .replace("\u{1b}[32m", "")
        .replace("\u{1b}[33m", "")
        .replace("\u{1b}[0m", "")
        .replace("\u{1b}[2m", "");
    if let Some(c) = raw
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        problems.push(format!("stderr holds the raw control character {c:?}"));
    }
    let after = Snapshot::take(dir, repo);
    problems.extend(before.diff(&after));
    problems.extend(locks_held(dir, dpkg_holder));
    if pwned.exists() {
        problems.push(format!(
            "{} was created: a value ran as shell",
            pwned.display()
        ));
        let _ = std::fs::remove_file(pwned);
    }
    if problems.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "case {:?} (djdd {:?}):\n    {}\n  output:\n{}",
            c.label,
            c.args,
            problems.join("\n    "),
            text.lines()
                .map(|l| format!("    | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )]
    }
}

/// Runs a table; panics listing every failed case. Returns the number run.
fn run_table(d: &Path, repo: Option<&Path>, cases: &[Case], pwned: &Path) -> usize {
    let mut failures = Vec::new();
    for c in cases {
        failures.extend(run_case(d, repo, c, pwned, None));
    }
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    cases.len()
}

/// A branch `name` on top of v1 of `repo` with the changes `edit` makes.
fn defect(repo: &Path, name: &str, edit: impl FnOnce(&Path)) {
    git(repo, &["checkout", "--quiet", "-B", name, "v1"]);
    edit(repo);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "--allow-empty", "-m", name]);
    git(repo, &["checkout", "--quiet", "main"]);
}

fn append(path: &Path, text: &str) {
    let mut t = std::fs::read_to_string(path).unwrap();
    t.push_str(text);
    std::fs::write(path, t).unwrap();
}

/// A process holding an fcntl write lock on `file` (as dpkg and apt do)
/// until dropped.
struct FcntlHolder(Child);

impl FcntlHolder {
    fn hold(file: &Path) -> FcntlHolder {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(
                "import fcntl,sys,time\nf=open(sys.argv[1],'r+')\n\
                 fcntl.lockf(f,fcntl.LOCK_EX)\nprint('locked',flush=True)\ntime.sleep(600)",
            )
            .arg(file)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked", "the lock holder did not start");
        FcntlHolder(child)
    }
}

impl Drop for FcntlHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------
// Tests

/// Names, variants, revisions, branches, variant values and damaged state:
/// everything refused before a build starts. One build dir with a build
/// root (no build), plus one without a build root.
#[test]
fn names_revisions_values_and_damaged_state_are_refused() {
    let pwned = pwned_path("a");
    let _ = std::fs::remove_file(&pwned);
    let pw = pwned.display().to_string();
    let upstream = demo_repo();
    let up = upstream.path();
    // Branch names git allows that carry shell: mirrored, never run.
    let evil_branch = format!("$(touch${{IFS}}{pw})");
    git(up, &["branch", &evil_branch, "v1"]);
    git(up, &["branch", &format!("`touch${{IFS}}{pw}`"), "v1"]);
    let url = up.to_str().unwrap();

    let d = demo_build_dir(up, false);
    let dp = d.path();
    ok(&d, &["src", "www", "--clone", url]);
    // A variant whose branch does not exist (accepted with a warning).
    ok(&d, &["variant", "demo", "ghost", "--branch", "nosuch"]);
    // Damaged variant files.
    std::fs::write(
        dp.join("variants/demo/broken.toml"),
        "branch = \"main\"\ndomain = \"unterminated\n",
    )
    .unwrap();
    std::fs::write(dp.join("variants/demo/badval.toml"), "workers = 0\n").unwrap();
    std::fs::write(
        dp.join("variants/demo/inject.toml"),
        "domain = \"x.org; return 200 'pwned'\"\n",
    )
    .unwrap();
    // A build dir without a build root, and one whose root was deleted.
    let bare = TestBuildDir::layout();
    ok(&bare, &["src", "demo", "--clone", url]);
    ok(&bare, &["variant", "demo", "blue"]);
    let gone = TestBuildDir::layout();
    ok(&gone, &["src", "demo", "--clone", url]);
    ok(&gone, &["variant", "demo", "blue"]);
    std::fs::copy(
        dp.join("state/init.toml"),
        gone.path().join("state/init.toml"),
    )
    .unwrap();
    let not_a_dir = common::tempdir();
    let file_dir = not_a_dir.path().join("file");
    std::fs::write(&file_dir, "x").unwrap();

    const RULE: &str = "^[a-z][a-z0-9-]*$";
    let long64 = "a".repeat(64);
    let long_variant = "b".repeat(64);
    #[rustfmt::skip]
    let cases = vec![
        // NAME (djdd src).
        case("name uppercase", &["src", "Demo", "--clone", url], &["NAME 'Demo'", "starts with 'D'", RULE, "hint: try 'demo'"]),
        case("name underscore", &["src", "de_mo", "--clone", url], &["NAME 'de_mo'", "contains '_'", "hint: try 'de-mo'"]),
        case("name dot", &["src", "de.mo", "--clone", url], &["NAME 'de.mo'", "contains '.'", RULE]),
        case("name plus", &["src", "de+mo", "--clone", url], &["NAME 'de+mo'", "contains '+'"]),
        case("name semicolon", &["src", "de;mo", "--clone", url], &["NAME 'de;mo'", "contains ';'"]),
        case("name space", &["src", "de mo", "--clone", url], &["NAME 'de mo'", "contains ' '"]),
        case("name unicode", &["src", "démo", "--clone", url], &["NAME 'démo'", "contains 'é'"]),
        case("name leading dash", &["src", "-demo", "--clone", url], &["NAME '-demo'", "starts with '-'"]),
        case("name empty", &["src", "", "--clone", url], &["NAME ''", "is empty", RULE]),
        case("name trailing dash", &["src", "demo-", "--clone", url], &["NAME 'demo-'", "ends with '-'"]),
        case("name 64 chars", &["src", &long64, "--clone", url], &["64 characters long", "at most 32"]),
        case("name newline", &["src", "de\nmo", "--clone", url], &["NAME 'de\\nmo'", "contains '\\n'"]),
        // NAME and VARIANT given to build.
        case("build name underscore", &["build", "de_mo", "blue"], &["NAME 'de_mo'", "contains '_'"]),
        case("build name path", &["build", "../demo", "blue"], &["NAME '../demo'", "starts with '.'"]),
        case("check variant with an escape code", &["check", "demo", "bl\u{1b}[31mue"], &["VARIANT 'bl\\u{1b}[31mue'"]),
        case("check name with a carriage return", &["check", "de\rmo"], &["NAME 'de\\rmo'"]),
        case("build variant escape code", &["build", "demo", "bl\u{1b}[31mue"], &["VARIANT 'bl\\u{1b}[31mue'", "contains '\\u{1b}'"]),
        case("build variant uppercase", &["build", "demo", "Blue"], &["VARIANT 'Blue'", "starts with 'B'"]),
        case("build variant path", &["build", "demo", "../../etc/passwd"], &["VARIANT '../../etc/passwd'", "starts with '.'"]),
        case("build variant path to a state file", &["build", "demo", "../../state/init"], &["VARIANT '../../state/init'", "starts with '.'"]),
        case("build variant www-data", &["build", "www", "data"], &["NAME-VARIANT 'www-data'", "system user"]),
        case("build unknown variant", &["build", "demo", "green"], &["variant 'green'", "does not exist", "djdd variant demo green"]),
        // VARIANT (djdd variant).
        case("variant uppercase", &["variant", "demo", "Blue"], &["VARIANT 'Blue'", "starts with 'B'", "hint: try 'blue'"]),
        case("variant underscore", &["variant", "demo", "bl_ue"], &["VARIANT 'bl_ue'", "contains '_'"]),
        case("variant dot", &["variant", "demo", "bl.ue"], &["VARIANT 'bl.ue'", "contains '.'"]),
        case("variant plus", &["variant", "demo", "bl+ue"], &["VARIANT 'bl+ue'", "contains '+'"]),
        case("variant semicolon", &["variant", "demo", "bl;ue"], &["VARIANT 'bl;ue'", "contains ';'"]),
        case("variant space", &["variant", "demo", "bl ue"], &["VARIANT 'bl ue'", "contains ' '"]),
        case("variant unicode", &["variant", "demo", "blüe"], &["VARIANT 'blüe'", "contains 'ü'"]),
        case("variant leading dash", &["variant", "demo", "-blue"], &["VARIANT '-blue'", "starts with '-'"]),
        case("variant empty", &["variant", "demo", ""], &["VARIANT ''", "is empty"]),
        case("variant trailing dash", &["variant", "demo", "blue-"], &["VARIANT 'blue-'", "ends with '-'"]),
        case("variant 64 chars", &["variant", "demo", &long_variant], &["VARIANT", "64 characters long"]),
        case("variant makes user www-data", &["variant", "www", "data"], &["NAME-VARIANT 'www-data'", "system user"]),
        case("variant of unknown name", &["variant", "nosuch", "blue"], &["unknown NAME 'nosuch'", "djdd src nosuch --clone URL"]),
        // Revisions given to build and check.
        case("rev $(...)", &["build", "demo", "blue", &format!("--version=$(touch {pw})")], &["--version '$(touch", "a revision is a commit id"]),
        case("rev backticks", &["build", "demo", "blue", &format!("--version=`touch {pw}`")], &["--version '`touch", "a revision is a commit id"]),
        case("rev single quotes", &["build", "demo", "blue", "--version='v1'"], &["--version '\\'v1\\''", "quotes"]),
        case("rev double quotes", &["build", "demo", "blue", "--version=\"v1\""], &["--version '\\\"v1\\\"'", "quotes"]),
        case("rev range ..", &["build", "demo", "blue", "--version=v1..v2"], &["--version 'v1..v2'", "'..'"]),
        case("rev like an option", &["build", "demo", "blue", &format!("--version=--upload-pack=touch {pw}")], &["--version '--upload-pack=touch", "no leading '-'"]),
        case("rev -c config", &["build", "demo", "blue", &format!("--version=-c core.pager=touch {pw}")], &["--version '-c core.pager", "no leading '-'"]),
        case("rev newline", &["build", "demo", "blue", &format!("--version=v1\ntouch {pw}")], &["--version 'v1\\ntouch", "control characters"]),
        case("rev hostile branch that exists", &["build", "demo", "blue", &format!("--version={evil_branch}")], &["--version '$(touch${IFS}", "a revision is a commit id"]),
        case("rev missing commit", &["build", "demo", "blue", "--version", "0123456789abcdef0123456789abcdef01234567"], &["revision '0123456789abcdef0123456789abcdef01234567'", "does not name a commit"]),
        case("rev missing tag", &["build", "demo", "blue", "--version", "v9"], &["revision 'v9'", "does not name a commit"]),
        case("rev path of a blob", &["build", "demo", "blue", "--version", "HEAD:manage.py"], &["--version 'HEAD:manage.py'", "':'"]),
        case("check rev $(...)", &["check", "demo", "blue", &format!("--rev=$(touch {pw})")], &["--rev", "not a commit, tag or branch"]),
        case("variant branch missing", &["build", "demo", "ghost"], &["branch 'nosuch'", "does not name a commit"]),
        // Branches given to variant.
        case("branch $(...)", &["variant", "demo", "blue", "--branch", &format!("$(touch {pw})")], &["--branch", "contains '$'"]),
        case("branch backticks", &["variant", "demo", "blue", "--branch", &format!("`touch {pw}`")], &["--branch", "contains '`'"]),
        case("branch quotes", &["variant", "demo", "blue", "--branch", "a\"b"], &["--branch", "contains '\"'"]),
        case("branch ..", &["variant", "demo", "blue", "--branch", "a..b"], &["--branch", "contains '..'"]),
        case("branch like an option", &["variant", "demo", "blue", "--branch", &format!("--upload-pack=touch {pw}")], &["--branch", "starts with '-'"]),
        case("branch of another remote", &["variant", "demo", "blue", "--branch", "other:main"], &["names the remote 'other'"]),
        case("branch hostile that exists", &["variant", "demo", "evil", "--branch", &evil_branch], &["--branch", "contains '$'"]),
        // URLs given to src.
        case("clone url like an option", &["src", "demo2", "--clone", &format!("--upload-pack=touch {pw}")], &["--clone", "starts with '-'"]),
        case("clone ext:: helper", &["src", "demo2", "--clone", &format!("ext::sh -c touch% {pw}")], &["--clone", "remote helper"]),
        // Variant values that reach nginx, units, scripts and control files.
        case("domain with space", &["variant", "demo", "blue", "--domain", "a b.org"], &["--domain", "contains ' '"]),
        case("domain with ;", &["variant", "demo", "blue", "--domain", "a.org;return"], &["--domain", "contains ';'"]),
        case("domain with {", &["variant", "demo", "blue", "--domain", "a{b.org"], &["--domain", "contains '{'"]),
        case("domain uppercase", &["variant", "demo", "blue", "--domain", "Blue.org"], &["--domain", "lowercase"]),
        case("settings with /", &["variant", "demo", "blue", "--settings", "demo/settings"], &["--settings", "module path"]),
        case("settings with '", &["variant", "demo", "blue", "--settings", "demo.'settings'"], &["--settings", "module path"]),
        case("settings with \"", &["variant", "demo", "blue", "--settings", "demo.\"settings\""], &["--settings", "module path"]),
        case("workers 0", &["variant", "demo", "blue", "--workers", "0"], &["--workers", "workers = 0 is out of range", "1 to 64"]),
        case("workers -1", &["variant", "demo", "blue", "--workers", "-1"], &["--workers", "workers = -1 is out of range"]),
        case("workers huge", &["variant", "demo", "blue", "--workers", "1000000"], &["--workers", "1 to 64"]),
        case("workers beyond i64", &["variant", "demo", "blue", "--workers", "99999999999999999999"], &["--workers", "invalid value"]),
        case("health url", &["variant", "demo", "blue", "--health-url", "/a b"], &["--health-url", "contains ' '"]),
        case("env newline", &["variant", "demo", "blue", "--env", "A=x\ny"], &["--env A", "control character"]),
        case("build --settings with /", &["build", "demo", "blue", "--settings", "demo/settings"], &["settings module 'demo/settings'", "dotted Python module path"]),
        case("build --settings with quote", &["build", "demo", "blue", "--settings", "demo.settings'"], &["settings module 'demo.settings\\''", "dotted Python module path"]),
        // Damaged state.
        case("corrupted variant file: build", &["build", "demo", "broken"], &["variants/demo/broken.toml", "not a valid variant file"]),
        case("corrupted variant file: update", &["variant", "demo", "broken", "--workers", "4"], &["variants/demo/broken.toml", "not a valid variant file"]),
        case("corrupted variant file: list", &["variant", "demo", "--list"], &["variants/demo/broken.toml"]),
        case("variant file workers 0", &["build", "demo", "badval"], &["variants/demo/badval.toml", "key `workers`", "out of range"]),
        case("variant file domain injection", &["build", "demo", "inject"], &["variants/demo/inject.toml", "key `domain`", "contains ';'"]),
        case("missing build root", &["build", "demo", "blue"], &["build root", "does not exist", "djdd init"]).in_dir(bare.path()),
        case("deleted build root", &["build", "demo", "blue"], &["build root", "is missing"]).in_dir(gone.path()),
        case("build dir that does not exist", &["status"], &["build directory", "does not exist", "djdd init"]).in_dir(&not_a_dir.path().join("nosuch")),
        case("build dir that is a file", &["status"], &["build directory", "does not exist"]).in_dir(&file_dir),
        // The same damage seen by `status`.
        case("status with a corrupted variant", &["status", "demo"], &["BROKEN"]),
    ];

    let n = run_table(dp, None, &cases, &pwned);
    assert!(n >= 60, "{n} cases");
    assert!(!pwned.exists());
    // The mirror holds the hostile branches (fetched as data, never run).
    let refs = git(
        &dp.join("src/demo.git"),
        &["for-each-ref", "--format=%(refname)"],
    );
    assert!(
        refs.contains(&format!("refs/heads/{evil_branch}")),
        "{refs}"
    );
    eprintln!("robust_inputs: {n} cases refused, nothing changed");
}

/// Project trees a build or check must refuse or bound, a dpkg database
/// locked by another process, and a damaged package in `packages/`. One
/// build dir: the dpkg-lock case runs first (the first build needs build
/// packages), then a good build of v1 so that later cases reach the
/// build-root steps.
#[test]
fn hostile_project_trees_and_a_locked_root_are_refused() {
    let pwned = pwned_path("b");
    let _ = std::fs::remove_file(&pwned);
    let upstream = demo_repo();
    let r = upstream.path();
    defect(r, "absolute-link", |r| {
        std::os::unix::fs::symlink("/etc/passwd", r.join("notes/static/notes/passwd")).unwrap();
    });
    defect(r, "escaping-link", |r| {
        std::os::unix::fs::symlink("../../../../etc/shadow", r.join("notes/static/shadow"))
            .unwrap();
    });
    defect(r, "newline-name", |r| {
        std::fs::write(r.join("notes/static/notes/a\nb.css"), "a {}\n").unwrap();
    });
    // A 300-byte path in the repository (accepted: packed whole).
    let long_rel = {
        let base = "notes/static/notes/";
        let a = "a".repeat(140);
        let b = "b".repeat(300 - base.len() - a.len() - 1 - 4);
        format!("{base}{a}/{b}.css")
    };
    assert_eq!(long_rel.len(), 300);
    defect(r, "long-path", |r| {
        let p = r.join(&long_rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "a {}\n").unwrap();
    });
    defect(r, "self-include", |r| {
        append(&r.join("requirements.txt"), "-r requirements.txt\n");
    });
    defect(r, "outside-include", |r| {
        append(&r.join("requirements.txt"), "-r ../outside.txt\n");
    });
    defect(r, "absolute-include", |r| {
        append(&r.join("requirements.txt"), "-c /etc/passwd\n");
    });
    defect(r, "requirements-link", |r| {
        std::fs::remove_file(r.join("requirements.txt")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.join("requirements.txt")).unwrap();
    });
    defect(r, "editable", |r| {
        append(
            &r.join("requirements/base.txt"),
            "-e git+https://example.invalid/x.git#egg=x\n",
        );
    });
    defect(r, "unreachable-index", |r| {
        let p = r.join("requirements.txt");
        let t = std::fs::read_to_string(&p).unwrap();
        std::fs::write(p, format!("--index-url http://127.0.0.1:9/simple\n{t}")).unwrap();
    });
    defect(r, "settings-exit", |r| {
        append(&r.join("demo/settings.py"), "\nimport sys\nsys.exit(3)\n");
    });
    defect(r, "settings-loop", |r| {
        append(
            &r.join("demo/settings.py"),
            "\nimport time\nwhile True:\n    time.sleep(0.1)\n",
        );
    });
    defect(r, "toml-settings-path", |r| {
        let p = r.join("djdd.toml");
        let t = std::fs::read_to_string(&p).unwrap();
        std::fs::write(
            p,
            t.replace(
                "settings = \"demo.settings\"",
                "settings = \"demo/settings\"",
            ),
        )
        .unwrap();
    });
    defect(r, "toml-manage-outside", |r| {
        let p = r.join("djdd.toml");
        let t = std::fs::read_to_string(&p).unwrap();
        std::fs::write(
            p,
            t.replace("manage = \"manage.py\"", "manage = \"../../manage.py\""),
        )
        .unwrap();
    });
    let d = demo_build_dir(r, true);
    let dp = d.path();
    let mut failures = Vec::new();
    let mut count = 0;

    // dpkg's lock (fcntl, which flock does not see) held by another
    // process while the build must install libpq-dev and gettext: djdd
    // says it waits, then gives up naming the holder.
    {
        let holder = FcntlHolder::hold(&dp.join("buildroot/var/lib/dpkg/lock-frontend"));
        let pid = holder.0.id();
        let c = case(
            "dpkg database locked by another process",
            &["build", "demo", "blue", "--version", "v1"],
            &[
                "waiting for dpkg's lock",
                &format!("held by process {pid}, python3"),
                "dpkg database of",
                &format!("is locked by process {pid} (python3) through var/lib/dpkg/lock-frontend for more than 3 s"),
                "hint: wait for that process to finish, or stop it",
            ],
        )
        .env("DJDD_DPKG_LOCK_TIMEOUT", "3");
        failures.extend(run_case(dp, None, &c, &pwned, Some(pid)));
        count += 1;
    }

    // A good build, so the env exists for the cases found later.
    ok(&d, &["build", "demo", "blue", "--version", "v1"]);
    save_pip_cache(&d);
    let v1_packages = package_files(&d);
    assert_eq!(v1_packages.len(), 3, "{v1_packages:?}");

    // The 300-byte path is packed whole (dpkg-deb lists it).
    ok(&d, &["build", "demo", "blue", "--version", "long-path"]);
    let src = one_package(&d, "demo-src-", &v1_packages);
    let members = contents(&src);
    assert!(
        members.iter().any(|m| m.ends_with(&long_rel)),
        "{} lacks the 300-byte path {long_rel}",
        src.display()
    );

    let python = common::demo_venv_python();
    let py = python.to_str().unwrap();
    let blue = |rev: &str| -> Vec<String> {
        ["build", "demo", "blue", "--version", rev]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let build_case = |label: &str, rev: &str, needles: &[&str]| {
        let mut c = case(label, &[], needles);
        c.args = blue(rev);
        c
    };
    #[rustfmt::skip]
    let mut cases = vec![
        build_case("symlink to an absolute path", "absolute-link", &["notes/static/notes/passwd", "'/etc/passwd'", "absolute path outside the source tree"]),
        build_case("symlink climbing out with ../..", "escaping-link", &["notes/static/shadow", "points outside the source tree"]),
        build_case("file name with a newline", "newline-name", &["a\\nb.css", "newline"]),
        build_case("requirements file including itself", "self-include", &["requirements.txt:", "'-r requirements.txt'", "includes itself"]),
        build_case("-r outside the repository", "outside-include", &["'-r ../outside.txt'", "leaves the repository"]),
        build_case("-c of an absolute path", "absolute-include", &["'-c /etc/passwd'"]),
        build_case("requirements.txt is a symlink", "requirements-link", &["requirements.txt", "is a symlink"]),
        build_case("-e editable install", "editable", &["requirements/base.txt:", "-e git+https://example.invalid", "cannot honour editable installs"]),
        build_case("--index-url unreachable", "unreachable-index", &[resolving().trim_end(), "http://127.0.0.1:9/simple", "Connection refused"]),
        build_case("settings exits at import", "settings-exit", &["DJANGO_SETTINGS_MODULE=demo.settings", "exit status: 3", "sys.exit() in the settings module demo.settings"]),
        build_case("djdd.toml settings with /", "toml-settings-path", &["djdd.toml", "settings", "demo/settings"]),
        build_case("djdd.toml manage outside", "toml-manage-outside", &["djdd.toml", "manage", "../../manage.py"]),
        case("settings loop at import (build --timeout)", &["build", "demo", "blue", "--version", "settings-loop", "--timeout", "5"], &["DJANGO_SETTINGS_MODULE=demo.settings", "did not finish within 5 s and was killed", "djdd build --timeout"]),
        case("check: settings exit at import", &["check", "demo", "blue", "--rev", "settings-exit", "--python", py, "--timeout", "20"], &["error[settings-import]", "SystemExit"]),
        case("check: settings loop at import", &["check", "demo", "blue", "--rev", "settings-loop", "--python", py, "--timeout", "3"], &["error[timeout]", "did not finish within 3 s and was killed"]),
        case("check: --rev of a missing commit", &["check", "demo", "blue", "--rev", "0123456789abcdef0123456789abcdef01234567"], &["--rev", "not a commit, tag or branch"]),
    ];

    // A truncated env package in packages/ that must be unpacked (its
    // tree's marker is gone, as in a new build root).
    let env_deb = one_package(&d, "demo-env-", &[]);
    let env_bytes = std::fs::read(&env_deb).unwrap();
    let env_id = env_hash_of(&env_deb);
    let markers: Vec<PathBuf> = common::list_dir(&dp.join("state/envs"))
        .into_iter()
        .filter(|m| m.starts_with(&env_id))
        .map(|m| dp.join("state/envs").join(m))
        .collect();
    assert_eq!(markers.len(), 1, "env marker for {env_id}");
    count += cases.len();
    for c in cases.drain(..) {
        failures.extend(run_case(dp, None, &c, &pwned, None));
    }
    std::fs::write(&env_deb, &env_bytes[..env_bytes.len() / 2]).unwrap();
    let marker_text = std::fs::read(&markers[0]).unwrap();
    std::fs::remove_file(&markers[0]).unwrap();
    let c = case(
        "truncated env .deb in packages/",
        &["build", "demo", "red", "--version", "v1"],
        &[env_deb.file_name().unwrap().to_str().unwrap(), "dpkg-deb"],
    );
    failures.extend(run_case(dp, None, &c, &pwned, None));
    count += 1;
    std::fs::write(&env_deb, &env_bytes).unwrap();
    std::fs::write(&markers[0], marker_text).unwrap();

    assert!(
        failures.is_empty(),
        "{} of {count} hostile cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(!pwned.exists());
    // And the build dir still builds.
    ok(&d, &["build", "demo", "blue", "--version", "v2"]);
    eprintln!("robust_inputs: {count} project-tree cases refused, nothing changed");
}

/// A .deb made with `dpkg-deb --nocheck`, so that its control file may
/// break the rules dpkg-deb would enforce (names, versions, arches).
fn unchecked_deb(out: &Path, file: &str, control: &str) -> PathBuf {
    let tmp = common::tempdir();
    let tree = tmp.path().join("t");
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(tree.join("usr/share/doc/x")).unwrap();
    std::fs::write(tree.join("usr/share/doc/x/payload"), "x\n").unwrap();
    std::fs::write(tree.join("DEBIAN/control"), control).unwrap();
    std::fs::create_dir_all(out).unwrap();
    let deb = out.join(file);
    common::run_ok(
        Command::new("dpkg-deb")
            .args(["--nocheck", "--root-owner-group", "-Zgzip", "--build"])
            .arg(&tree)
            .arg(&deb)
            .stdout(Stdio::null()),
    );
    deb
}

/// `djdd publish` refusing damaged packages, collisions and option values
/// that would break the repository: the repository (pool, indices,
/// Release) and the build dir are byte for byte as before.
#[test]
fn hostile_publish_inputs_leave_the_repository_as_it_was() {
    let pwned = pwned_path("c");
    let d = TestBuildDir::layout();
    let dp = d.path();
    let work = common::tempdir();
    let w = work.path();
    let repo = w.join("repo");
    let debs = w.join("debs");
    let good = make_deb(&debs, "demo-site-blue", "1.0", "all", "", "first");
    ok(
        &d,
        &[
            "publish",
            "--suite",
            "stable",
            "--repo",
            repo.to_str().unwrap(),
            "--unsigned",
            good.to_str().unwrap(),
        ],
    );
    assert!(repo.join("dists/stable/Release").is_file());

    // Damaged and colliding files.
    let env = make_deb(&debs, "demo-env-aaa", "1", "all", "", "env");
    let bytes = std::fs::read(&env).unwrap();
    let cut = w.join("cut/demo-env-aaa_1_all.deb");
    std::fs::create_dir_all(cut.parent().unwrap()).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
    let half = w.join("cut/half.deb");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    let text = w.join("cut/text.deb");
    std::fs::write(&text, "not an archive\n").unwrap();
    let empty = w.join("cut/empty.deb");
    std::fs::write(&empty, "").unwrap();
    let other = make_deb(
        &w.join("other"),
        "demo-site-blue",
        "1.0",
        "all",
        "",
        "other bytes",
    );
    let trixie = make_deb(
        &w.join("trixie"),
        "demo-site-blue",
        "2.0",
        "all",
        "X-Djdd-Suite: trixie\n",
        "built on a trixie root",
    );
    let bad_name = unchecked_deb(
        &w.join("bad"),
        "traversal.deb",
        "Package: ../../etc\nVersion: 1\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: x\n",
    );
    let bad_version = unchecked_deb(
        &w.join("bad"),
        "version.deb",
        "Package: demo-site-red\nVersion: 1;touch /tmp/x\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: x\n",
    );
    let bad_arch = unchecked_deb(
        &w.join("bad"),
        "arch.deb",
        "Package: demo-site-red\nVersion: 1\nArchitecture: ../all\nMaintainer: t <t@example.org>\nDescription: x\n",
    );
    // A truncated package in D/packages/, found by the default publish.
    std::fs::copy(&cut, dp.join("packages/demo-env-aaa_1_all.deb")).unwrap();

    let r = repo.to_str().unwrap();
    let p = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["publish", "--suite", "stable", "--repo", r, "--unsigned"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let pcase = |label: &str, extra: &[&str], needles: &[&str]| {
        let mut c = case(label, &[], needles);
        c.args = p(extra);
        c
    };
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (cut_s, half_s, text_s, empty_s, other_s, trixie_s) = (
        s(&cut),
        s(&half),
        s(&text),
        s(&empty),
        s(&other),
        s(&trixie),
    );
    let (bn, bv, ba) = (s(&bad_name), s(&bad_version), s(&bad_arch));
    #[rustfmt::skip]
    let cases = vec![
        pcase("truncated .deb (40 bytes short)", &[&cut_s], &["demo-env-aaa_1_all.deb: is not a valid .deb", "truncated"]),
        pcase("truncated .deb (half)", &[&half_s], &["half.deb: is not a valid .deb"]),
        pcase("text named .deb", &[&text_s], &["text.deb: is not a valid .deb", "ar magic"]),
        pcase("empty .deb", &[&empty_s], &["empty.deb: is not a valid .deb"]),
        pcase("missing file", &["/nonexistent/x.deb"], &["/nonexistent/x.deb"]),
        pcase("same name and version, other bytes", &[&other_s], &["demo-site-blue 1.0 (all)", "a published version is immutable: bump the version"]),
        pcase("built on a root of another release", &[&trixie_s], &["trixie/demo-site-blue_2.0_all.deb", "was built on a trixie build root (X-Djdd-Suite: trixie) and cannot go into suite stable", "--suite trixie"]),
        pcase("built for another codename than --codename", &["--codename", "bookworm", &trixie_s], &["cannot go into suite stable (codename bookworm)"]),
        pcase("package name with ../", &[&bn], &["package name '../../etc'"]),
        pcase("version with ;", &[&bv], &["version '1;touch /tmp/x'"]),
        pcase("architecture with ../", &[&ba], &["architecture '../all'"]),
        pcase("truncated .deb in packages/", &[], &["packages/demo-env-aaa_1_all.deb: is not a valid .deb", "truncated"]),
        pcase("--origin with a newline", &["--origin", "x\nSHA256: forged", &s(&good)], &["--origin 'x\\nSHA256: forged'", "control character"]),
        pcase("--label empty", &["--label", "", &s(&good)], &["--label ''", "is empty"]),
        pcase("--description with a newline", &["--description", "x\n y", &s(&good)], &["--description", "control character"]),
        pcase("--codename with /", &["--codename", "a/b", &s(&good)], &["--codename 'a/b'"]),
        case("--suite ../x", &["publish", "--repo", r, "--unsigned", "--suite", "../x", &s(&good)], &["--suite '../x'", "names a directory under dists/"]),
        case("--suite with a space", &["publish", "--repo", r, "--unsigned", "--suite", "a b", &s(&good)], &["--suite 'a b'"]),
        pcase("--component with ;", &["--component", "a;b", &s(&good)], &["--component 'a;b'"]),
        pcase("--arch with ;", &["--arch", "amd64;x", &s(&good)], &["architecture 'amd64;x'"]),
        pcase("--valid-for 0", &["--valid-for", "0", &s(&good)], &["--valid-for", "0 is not in 1..=36500"]),
        pcase("--valid-for beyond a century", &["--valid-for", "4000000000", &s(&good)], &["--valid-for", "not in 1..=36500"]),
        case("--sign-key file that does not exist", &["publish", "--suite", "stable", "--repo", r, "--sign-key", "/nonexistent/key.asc", &s(&good)], &["/nonexistent/key.asc"]),
        case("--repo is a file", &["publish", "--suite", "stable", "--repo", &s(&good), "--unsigned", &s(&good)], &[&s(&good)]),
    ];
    let n = run_table(dp, Some(&repo), &cases, &pwned);
    assert!(!pwned.exists());
    // The repository is still valid for apt.
    assert_eq!(common::check_repo(&repo, "stable").len(), 1);
    eprintln!("robust_inputs: {n} publish cases refused, repository unchanged");
}
