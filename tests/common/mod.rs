//! Shared helpers for integration tests: each test gets its own temp dir
//! and runs the real `djdd` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A `djdd` command ready to run, with logging quiet unless DJDD_LOG is set.
pub fn djdd() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("djdd").expect("djdd binary");
    // The caller's build dir and repository are not the test's.
    c.env_remove("DJDD_DIR").env_remove("DJDD_REPO");
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

// ---------------------------------------------------------------------
// Helpers for the publish tests: .debs made with dpkg-deb, repository
// checks written independently of djdd's parsers, and a cached Debian root
// for running the real apt.

/// Builds NAME_VERSION_ARCH.deb in `out_dir` with `dpkg-deb --build` from a
/// generated tree; `extra` is appended to the control file (e.g.
/// "Depends: x\n"); `payload` makes the bytes differ between builds.
pub fn make_deb(
    out_dir: &Path,
    name: &str,
    version: &str,
    arch: &str,
    extra: &str,
    payload: &str,
) -> PathBuf {
    let tmp = tempdir();
    let tree = tmp.path().join("t");
    let doc = tree.join("usr/share/doc").join(name);
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(&doc).unwrap();
    std::fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\n\
             Maintainer: djdd tests <tests@example.org>\n{extra}\
             Description: test package {name}\n built by the djdd publish tests\n"
        ),
    )
    .unwrap();
    std::fs::write(doc.join("payload"), payload).unwrap();
    std::fs::create_dir_all(out_dir).unwrap();
    let out = out_dir.join(format!(
        "{name}_{}_{arch}.deb",
        version.split_once(':').map_or(version, |(_, v)| v)
    ));
    let st = std::process::Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group", "-Zgzip", "-z1"])
        .arg(&tree)
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("dpkg-deb");
    assert!(st.success(), "dpkg-deb --build {name}");
    out
}

/// Parses deb822 text into paragraphs of (field, value) with continuation
/// lines joined by `\n` (an independent reader for checking djdd's output).
pub fn deb822(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else if line.starts_with(' ') {
            let last = cur.last_mut().expect("continuation after a field");
            last.1.push('\n');
            last.1.push_str(line);
        } else {
            let (k, v) = line.split_once(':').expect("a field line");
            cur.push((k.to_string(), v.trim().to_string()));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The value of a field of a deb822 paragraph.
pub fn field<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Lower-case hex SHA-256 and MD5 of a file's bytes.
pub fn sums(bytes: &[u8]) -> (String, String) {
    use sha2::Digest;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    (
        hex(&sha2::Sha256::digest(bytes)),
        hex(&md5::Md5::digest(bytes)),
    )
}

/// Checks a suite of a repository the way apt would: every file the Release
/// lists exists with that size, MD5 and SHA-256, and so does its by-hash
/// copy; InRelease (when present) signs the same text; every package of
/// every listed Packages index exists in the pool with its Size, MD5sum and
/// SHA256. Returns the (Package, Version, Architecture) triples listed.
pub fn check_repo(
    repo: &Path,
    suite: &str,
) -> std::collections::BTreeSet<(String, String, String)> {
    check_repo_inner(repo, suite, true)
}

/// Like [`check_repo`] but only as apt with `Acquire-By-Hash` sees the
/// repository at any moment, mid-publish included: the files the Release
/// (InRelease when present) lists are fetched by hash; the plain index
/// names may already hold the next version.
pub fn check_repo_as_apt(
    repo: &Path,
    suite: &str,
) -> std::collections::BTreeSet<(String, String, String)> {
    check_repo_inner(repo, suite, false)
}

fn check_repo_inner(
    repo: &Path,
    suite: &str,
    settled: bool,
) -> std::collections::BTreeSet<(String, String, String)> {
    let dists = repo.join("dists").join(suite);
    let mut release = std::fs::read_to_string(dists.join("Release")).expect("Release");
    if let Ok(inrelease) = std::fs::read_to_string(dists.join("InRelease")) {
        let body: String = inrelease
            .split("\n\n")
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n\n");
        let body = body.split("-----BEGIN PGP SIGNATURE-----").next().unwrap();
        if settled {
            assert_eq!(body, release, "InRelease signs another text than Release");
        }
        // apt reads InRelease when there is one.
        release = body.to_string();
    }
    let paras = deb822(&release);
    let rel = &paras[0];
    assert_eq!(field(rel, "Acquire-By-Hash"), Some("yes"));
    assert_eq!(field(rel, "Suite"), Some(suite));
    let mut triples = std::collections::BTreeSet::new();
    let sha_lines = field(rel, "SHA256").expect("SHA256 section");
    let md5_lines = field(rel, "MD5Sum").expect("MD5Sum section");
    let md5_of: std::collections::BTreeMap<&str, &str> = md5_lines
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() == 3).then(|| (w[2], w[0]))
        })
        .collect();
    let mut n_files = 0;
    for line in sha_lines.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.is_empty() {
            continue;
        }
        let (hash, size, path) = (w[0], w[1], w[2]);
        n_files += 1;
        let dir = Path::new(path).parent().unwrap();
        let by_hash = dists.join(dir).join("by-hash/SHA256").join(hash);
        let bytes =
            std::fs::read(&by_hash).unwrap_or_else(|e| panic!("{}: {e}", by_hash.display()));
        let (sha, md5) = sums(&bytes);
        assert_eq!(bytes.len().to_string(), size, "size of {path} (by hash)");
        assert_eq!(sha, hash, "SHA256 of {path} (by hash)");
        assert_eq!(
            Some(md5.as_str()),
            md5_of.get(path).copied(),
            "MD5 of {path}"
        );
        if settled {
            let plain = std::fs::read(dists.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(plain, bytes, "{path} differs from its by-hash copy");
        }
        if path.ends_with("/Packages") {
            for p in deb822(std::str::from_utf8(&bytes).unwrap()) {
                let filename = field(&p, "Filename").expect("Filename");
                let deb = std::fs::read(repo.join(filename))
                    .unwrap_or_else(|e| panic!("{filename}: {e}"));
                let (sha, md5) = sums(&deb);
                assert_eq!(
                    field(&p, "Size"),
                    Some(deb.len().to_string().as_str()),
                    "{filename}"
                );
                assert_eq!(field(&p, "SHA256"), Some(sha.as_str()), "{filename}");
                assert_eq!(field(&p, "MD5sum"), Some(md5.as_str()), "{filename}");
                triples.insert((
                    field(&p, "Package").unwrap().to_string(),
                    field(&p, "Version").unwrap().to_string(),
                    field(&p, "Architecture").unwrap().to_string(),
                ));
            }
        }
    }
    assert!(n_files >= 3, "Release lists {n_files} files");
    triples
}

/// Kills the gpg-agent a test's GNUPGHOME started (it would outlive the test).
pub struct GpgAgentGuard(pub PathBuf);

impl Drop for GpgAgentGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.0)
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// A debootstrap `--variant=minbase bookworm` root as a tarball, made once
/// (about a minute) under a lock in /var/cache/djdd/test-apt and reused.
pub fn bookworm_minbase_tarball() -> PathBuf {
    let dir = Path::new("/var/cache/djdd/test-apt");
    std::fs::create_dir_all(dir).unwrap();
    let tar = dir.join("bookworm-minbase.tar");
    let lock = std::fs::File::create(dir.join("bookworm-minbase.lock")).unwrap();
    djdd::flock::lock(&lock).unwrap();
    if tar.is_file() {
        return tar;
    }
    let work = tempfile::Builder::new()
        .prefix("build.")
        .tempdir_in(dir)
        .unwrap();
    let root = work.path().join("root");
    let out = std::process::Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(&root)
        .arg("http://deb.debian.org/debian")
        .output()
        .expect("debootstrap");
    assert!(
        out.status.success(),
        "debootstrap failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let part = work.path().join("out.tar");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&part)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::rename(&part, &tar).unwrap();
    tar
}

/// Spawns `djdd --dir DIR publish --repo REPO EXTRA..` with
/// `DJDD_TEST_PAUSE_AT=PAUSE` (`POINT` or `POINT:SECONDS`); returns once it
/// is paused at POINT.
pub fn spawn_paused(dir: &Path, repo: &Path, pause: &str, extra: &[&str]) -> std::process::Child {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("djdd"));
    c.arg("--dir")
        .arg(dir)
        .arg("publish")
        .args(["--suite", "stable"])
        .arg("--repo")
        .arg(repo)
        .args(extra)
        .env("DJDD_TEST_PAUSE_AT", pause)
        .env_remove("DJDD_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let point = pause.split(':').next().unwrap();
    let mut seen = String::new();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains(&format!("djdd: test pause at {point}")) => break,
            Some(Ok(l)) => {
                seen.push_str(&l);
                seen.push('\n');
            }
            Some(Err(_)) => {}
            None => panic!("publish ended before reaching {point}:\n{seen}"),
        }
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
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
    djdd::flock::lock(&lock).expect("lock the test venv");
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

/// Spawns `cmd` (a `djdd` command) with `DJDD_TEST_PAUSE_AT=PAUSE`
/// (`POINT` or `POINT:SECONDS`, see src/testpause.rs) and returns once it
/// printed `djdd: test pause at POINT`, with the stderr lines it printed
/// before; panics with them when it ends first. The rest of its stderr is
/// drained by a thread.
pub fn spawn_until_paused(
    mut cmd: std::process::Command,
    pause: &str,
) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    cmd.env("DJDD_TEST_PAUSE_AT", pause)
        .env_remove("DJDD_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn djdd");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let point = pause.split(':').next().unwrap();
    let mut seen = String::new();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains(&format!("djdd: test pause at {point}")) => break,
            Some(Ok(l)) => {
                seen.push_str(&l);
                seen.push('\n');
            }
            Some(Err(_)) => {}
            None => {
                let status = child.wait().unwrap();
                panic!("{cmd:?} ended ({status}) before reaching {point}:\n{seen}");
            }
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, seen)
}

// ---------------------------------------------------------------------
// Helpers for the crash and concurrency tests (tests/robust_*.rs).

/// The schroot chroot name of build dir `d`.
pub fn schroot_name_of(d: &Path) -> String {
    djdd::builddir::BuildDir::open(d)
        .expect("a build dir")
        .schroot_name()
}

/// The processes of chroot `name`: those running inside one of its
/// sessions (their root is below /run/schroot/mount/NAME-...) and the
/// schroot processes themselves. (pid, command line).
pub fn processes_of_chroot(name: &str) -> Vec<(u32, String)> {
    let mount = format!("/run/schroot/mount/{name}-");
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let root = std::fs::read_link(format!("/proc/{pid}/root")).unwrap_or_default();
        let inside = root.to_string_lossy().starts_with(&mount);
        let is_schroot = cmdline.starts_with("schroot ")
            && (cmdline.contains(&format!("-c {name} "))
                || cmdline.contains(&format!("session:{name}-")));
        if inside || is_schroot {
            out.push((pid, cmdline));
        }
    }
    out
}

/// Waits (at most `limit`) until no process of chroot `name` is left;
/// returns those still there at the end (empty: all gone).
pub fn wait_no_processes(name: &str, limit: std::time::Duration) -> Vec<(u32, String)> {
    let start = std::time::Instant::now();
    loop {
        let left = processes_of_chroot(name);
        if left.is_empty() || start.elapsed() > limit {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The open schroot sessions of chroot `name`.
pub fn sessions_of(name: &str) -> Vec<String> {
    let out = std::process::Command::new("schroot")
        .args(["--list", "--all-sessions"])
        .output()
        .expect("schroot");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(&format!("session:{name}-")))
        .map(str::to_string)
        .collect()
}

/// Ends every session of its chroot when dropped, so that a failed test
/// never deletes its temp build dir with /proc, /sys and /dev still
/// bind-mounted inside.
pub struct EndSessions(pub String);

impl Drop for EndSessions {
    fn drop(&mut self) {
        for s in sessions_of(&self.0) {
            let _ = std::process::Command::new("schroot")
                .args(["--end-session", "--force", "-c", &s])
                .status();
        }
    }
}

/// Tries every lock of build dir `d` (`D/.lock` and `D/state/locks/*.lock`)
/// exclusively without waiting, until all are free or `limit` passed;
/// returns the ones still held.
pub fn locks_still_held(d: &Path, limit: std::time::Duration) -> Vec<PathBuf> {
    let start = std::time::Instant::now();
    loop {
        let mut files = vec![d.join(".lock")];
        files.extend(
            list_dir(&d.join("state/locks"))
                .into_iter()
                .map(|f| d.join("state/locks").join(f)),
        );
        let held: Vec<PathBuf> = files
            .into_iter()
            .filter(|f| {
                let file = std::fs::OpenOptions::new().append(true).open(f).unwrap();
                !djdd::flock::try_lock(&file).unwrap_or(false)
            })
            .collect();
        if held.is_empty() || start.elapsed() > limit {
            return held;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// SHA-256 of every file in `dir` (name -> hex), temp files included.
pub fn sha256_of_files(dir: &Path) -> std::collections::BTreeMap<String, String> {
    list_dir(dir)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(dir.join(&f)).unwrap();
            let sha = sums(&bytes).0;
            (f, sha)
        })
        .collect()
}

/// A finished process's stdout followed by its stderr, as text.
pub fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
