//! `djdd init` for real: debootstrap (once; later roots come from the base
//! tarball in /var/cache/djdd/base), schroot sessions running the root's
//! python3, kill -9 part-way and a rerun that completes, two djdd processes
//! on one build dir waiting for each other's locks, and the refusals that
//! must happen before anything is made.
//!
//! These need root and Debian's mirror, as CI has. They fail (never skip)
//! when not run as root. The first run on a machine debootstraps (a few
//! minutes under load); later runs extract the tarball (seconds).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TestBuildDir, snapshot};
use djdd::builddir::BuildDir;
use djdd::buildroot::BuildRoot;

fn need_root() {
    assert!(
        djdd::buildroot::host::is_root(),
        "the host_root tests need root (CI runs them as root)"
    );
}

/// `djdd --dir D init ARGS`, asserting success; returns stdout.
fn init(d: &TestBuildDir, args: &[&str]) -> String {
    let mut full = vec!["init"];
    full.extend(args);
    let out = d.djdd(&full).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "djdd init failed:\n{err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A djdd process whose stderr is read line by line in a thread.
struct Spawned {
    child: Child,
    lines: Receiver<String>,
    all: Arc<Mutex<String>>,
}

fn spawn(d: &TestBuildDir, args: &[&str], env: &[(&str, &str)]) -> Spawned {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("djdd"));
    c.arg("--dir").arg(d.path()).args(args);
    c.env_remove("DJDD_DIR");
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = channel();
    let all = Arc::new(Mutex::new(String::new()));
    let all2 = all.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            all2.lock().unwrap().push_str(&format!("{line}\n"));
            let _ = tx.send(line);
        }
    });
    Spawned {
        child,
        lines: rx,
        all,
    }
}

impl Spawned {
    /// Waits for a stderr line containing `needle`.
    fn wait_for(&self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return,
                Ok(_) => {}
                Err(_) => panic!(
                    "no line with {needle:?} within {limit:?}; stderr so far:\n{}",
                    self.all.lock().unwrap()
                ),
            }
        }
    }

    fn finish(mut self) -> (bool, String) {
        let status = self.child.wait().unwrap();
        // Let the reader thread drain.
        std::thread::sleep(Duration::from_millis(100));
        (status.success(), self.all.lock().unwrap().clone())
    }
}

/// The mount points at or below `dir`.
fn mounts_below(dir: &Path) -> Vec<std::path::PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    djdd::buildroot::mounts::mounts_below(&info, dir)
}

fn root_of(d: &TestBuildDir) -> BuildRoot {
    BuildRoot::open(&BuildDir::open(d.path()).unwrap()).unwrap()
}

/// Purges a package from a finished root (as if it had never been
/// installed), so that the next `djdd init` has to install it.
fn purge(d: &TestBuildDir, package: &str) {
    root_of(d)
        .run(
            None,
            "/",
            &[("DEBIAN_FRONTEND", "noninteractive")],
            &["dpkg", "--purge", package],
        )
        .unwrap();
    let missing = root_of(d).missing_packages(&[package.to_string()]).unwrap();
    assert_eq!(missing, [package]);
}

#[test]
fn init_makes_a_root_that_schroot_runs_python_in_and_a_rerun_does_nothing() {
    need_root();
    let d = TestBuildDir::new();
    let out = init(&d, &[]);
    assert!(out.contains("build root ready"), "{out}");
    let bd = BuildDir::open(d.path()).unwrap();
    let root = root_of(&d);
    assert_eq!(
        root.suite(),
        djdd::buildroot::host::read_host_suite().unwrap()
    );

    // A real schroot session runs the root's python3, not the host's.
    let v = root
        .run(None, "/", &[], &["python3", "--version"])
        .unwrap()
        .text();
    let py = root.python_version().unwrap();
    assert!(v.starts_with(&format!("Python {py}.")), "{v} vs {py}");
    let exe = root
        .run(
            None,
            "/",
            &[],
            &["python3", "-c", "import sys; print(sys.executable)"],
        )
        .unwrap()
        .text();
    assert_eq!(exe, "/usr/bin/python3");

    // As the build user, with values passed as they are, in a directory.
    let who = root
        .run(
            Some("djdd"),
            "/tmp",
            &[("X", "$(touch /tmp/pwned) `id` 'q'")],
            &[
                "sh",
                "-c",
                "printf '%s|%s|%s' \"$(id -un)\" \"$PWD\" \"$X\"",
            ],
        )
        .unwrap()
        .text();
    assert_eq!(who, "djdd|/tmp|$(touch /tmp/pwned) `id` 'q'");
    // The build dir's pip cache is mounted and writable by the build user.
    root.run(Some("djdd"), "/", &[], &["touch", "/djdd/cache/pip/probe"])
        .unwrap();
    assert!(bd.pip_cache_dir().join("probe").is_file());
    // A failing command is an error naming it, with its output.
    let e = root
        .run(None, "/", &[], &["sh", "-c", "echo oops >&2; exit 7"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("exit status: 7") && e.contains("| oops"), "{e}");
    // The build packages are there: installing them again does nothing.
    let mut lock = bd.lock_shared().unwrap();
    let wanted: Vec<String> = djdd::buildroot::BUILD_PACKAGES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(
        root.install_packages(&mut lock, &wanted)
            .unwrap()
            .is_empty()
    );
    drop(lock);

    // The schroot config is this build dir's own.
    let conf =
        std::fs::read_to_string(Path::new("/etc/schroot/chroot.d").join(root.schroot_name()))
            .unwrap();
    assert!(
        conf.contains(&format!("directory={}\n", bd.buildroot().display())),
        "{conf}"
    );

    // A rerun changes nothing.
    let before = snapshot(d.path());
    let start = Instant::now();
    let again = init(&d, &[]);
    eprintln!("rerun of a finished init took {:?}", start.elapsed());
    assert!(again.contains("nothing to do"), "{again}");
    assert_eq!(snapshot(d.path()), before);

    // status describes it.
    let st = d.djdd(&["status"]).output().unwrap();
    let st = String::from_utf8_lossy(&st.stdout);
    assert!(
        st.contains(&format!("build root: ready, {} ", root.suite())),
        "{st}"
    );
    assert!(st.contains(&format!("Python {py}")), "{st}");

    // Asking for another suite on this root is refused, and changes nothing.
    let out = d.djdd(&["init", "--suite", "trixie"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--suite trixie: the build root of"), "{err}");
    assert!(err.contains("made with suite"), "{err}");
    assert_eq!(snapshot(d.path()), before);
}

#[test]
fn second_build_dir_has_its_own_chroot_and_stale_configs_are_pruned() {
    need_root();
    let a = TestBuildDir::new();
    let b = TestBuildDir::new();
    init(&a, &[]);
    let gone = TestBuildDir::new();
    init(&gone, &[]);
    let gone_name = BuildDir::open(gone.path()).unwrap().schroot_name();
    // A build dir deleted without cleaning up (a crashed test): its config
    // stays until the next init.
    std::fs::remove_dir_all(gone.path()).unwrap();
    let conf = Path::new("/etc/schroot/chroot.d").join(&gone_name);
    assert!(conf.is_file());
    init(&b, &[]);
    assert!(!conf.exists(), "stale {gone_name} pruned");
    let (ra, rb) = (root_of(&a), root_of(&b));
    assert_ne!(ra.schroot_name(), rb.schroot_name());
    // Each session sees its own root.
    std::fs::write(a.path().join("buildroot/tmp/which"), "a").unwrap();
    std::fs::write(b.path().join("buildroot/tmp/which"), "b").unwrap();
    assert_eq!(
        ra.run(None, "/", &[], &["cat", "/tmp/which"])
            .unwrap()
            .text(),
        "a"
    );
    assert_eq!(
        rb.run(None, "/", &[], &["cat", "/tmp/which"])
            .unwrap()
            .text(),
        "b"
    );
}

#[test]
fn init_killed_while_extracting_is_finished_by_a_rerun() {
    need_root();
    // Make sure there is a base tarball to extract.
    let first = TestBuildDir::new();
    init(&first, &[]);
    drop(first);

    let d = TestBuildDir::new();
    let p = spawn(&d, &["init"], &[]);
    p.wait_for("extracting the base tarball", Duration::from_secs(600));
    std::thread::sleep(Duration::from_millis(800));
    let mut p = p;
    p.child.kill().unwrap(); // SIGKILL
    let _ = p.finish();
    assert!(
        !d.path().join("buildroot").exists(),
        "killed before the rename"
    );
    let out = init(&d, &[]);
    assert!(out.contains("build root ready"), "{out}");
    assert!(!d.path().join("buildroot.tmp").exists());
    let v = root_of(&d)
        .run(None, "/", &[], &["python3", "--version"])
        .unwrap()
        .text();
    assert!(v.starts_with("Python 3."), "{v}");
}

#[test]
fn init_killed_during_debootstrap_leaves_no_mount_and_a_rerun_completes() {
    need_root();
    // An empty base cache forces a real debootstrap for the first run.
    let cache = common::tempdir();
    let d = TestBuildDir::new();
    let p = spawn(
        &d,
        &["init"],
        &[("DJDD_BASE_CACHE", cache.path().to_str().unwrap())],
    );
    // By now debootstrap has mounted /proc in its target.
    p.wait_for("Installing core packages", Duration::from_secs(600));
    std::thread::sleep(Duration::from_secs(2));
    let mut p = p;
    p.child.kill().unwrap();
    let _ = p.finish();
    let tmp = d.path().join("buildroot.tmp");
    assert!(tmp.join("usr").is_dir(), "a half-made root");
    // The rerun (with the normal cache) stops the orphaned debootstrap,
    // unmounts what it mounted, removes the half root and finishes.
    let out = d.djdd(&["init"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Whether debootstrap was still running depends on when it noticed its
    // output pipe was gone; either way nothing of it may be left.
    eprintln!(
        "left-over processes stopped: {}",
        err.contains("stopping processes left running by an interrupted djdd")
    );
    assert!(err.contains("removing the half-made root"), "{err}");
    assert!(
        mounts_below(d.path()).is_empty(),
        "{:?}",
        mounts_below(d.path())
    );
    assert!(!tmp.exists());
    let v = root_of(&d)
        .run(None, "/", &[], &["python3", "--version"])
        .unwrap()
        .text();
    assert!(v.starts_with("Python 3."), "{v}");
}

#[test]
fn package_installs_wait_for_builds_and_readers_wait_for_installs() {
    need_root();
    let d = TestBuildDir::new();
    init(&d, &[]);
    let bd = BuildDir::open(d.path()).unwrap();

    // 1. A build (here: this test holding the shared lock) is running; init
    // must install a package, so it waits for the exclusive lock.
    purge(&d, "git");
    let build = bd.lock_shared().unwrap();
    let p = spawn(&d, &["init"], &[]);
    p.wait_for(
        "to finish before installing git (lock",
        Duration::from_secs(120),
    );
    std::thread::sleep(Duration::from_secs(2));
    let mut p = p;
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "init waits while the build runs"
    );
    assert_eq!(
        root_of(&d).missing_packages(&["git".into()]).unwrap(),
        ["git"]
    );
    drop(build);
    let (ok, err) = p.finish();
    assert!(ok, "{err}");
    assert!(err.contains("got the lock after"), "{err}");
    assert!(
        root_of(&d)
            .missing_packages(&["git".into()])
            .unwrap()
            .is_empty()
    );

    // 2. Two djdd processes: init installing (exclusive) and status
    // (shared), which waits, says for what, then succeeds.
    purge(&d, "git");
    let installer = spawn(&d, &["init"], &[]);
    installer.wait_for(
        "installing into the build root: git",
        Duration::from_secs(120),
    );
    let reader = spawn(&d, &["status"], &[]);
    reader.wait_for("waiting for the build root of", Duration::from_secs(60));
    let (ok_i, err_i) = installer.finish();
    assert!(ok_i, "{err_i}");
    let (ok_r, err_r) = reader.finish();
    assert!(ok_r, "{err_r}");
    assert!(
        err_r.contains("held exclusively by another djdd process: pid"),
        "{err_r}"
    );
    assert!(err_r.contains("installing git"), "{err_r}");

    // 3. dpkg's own (fcntl) lock held by another process inside the root:
    // the install waits for it, saying who holds it.
    purge(&d, "git");
    let lock_file = d.path().join("buildroot/var/lib/dpkg/lock-frontend");
    let mut holder = Command::new("python3")
        .args([
            "-c",
            "import fcntl,sys,time\nf=open(sys.argv[1],'w')\nfcntl.lockf(f,fcntl.LOCK_EX)\nprint('locked',flush=True)\ntime.sleep(4)",
        ])
        .arg(&lock_file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    let p = spawn(&d, &["init"], &[]);
    p.wait_for("waiting for dpkg's lock", Duration::from_secs(60));
    let (ok, err) = p.finish();
    assert!(ok, "{err}");
    assert!(
        err.contains(&format!("held by process {}", holder.id())),
        "{err}"
    );
    holder.wait().unwrap();
    assert!(
        root_of(&d)
            .missing_packages(&["git".into()])
            .unwrap()
            .is_empty()
    );
}

/// Runs `djdd --dir D init` through `prefix` (e.g. setpriv) or with env,
/// expecting exit 1 with `needles`, and no D made.
fn init_refused(prefix: &[&str], env: &[(&str, &str)], args: &[&str], needles: &[&str]) {
    let t = common::tempdir();
    let d = t.path().join("d");
    let bin = assert_cmd::cargo::cargo_bin("djdd");
    let mut c = if prefix.is_empty() {
        Command::new(&bin)
    } else {
        let mut c = Command::new(prefix[0]);
        c.args(&prefix[1..]).arg(&bin);
        c
    };
    c.arg("--dir").arg(&d).arg("init").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "missing {n:?} in:\n{err}");
    }
    assert!(!d.exists(), "{} was made", d.display());
}

#[test]
fn refusals_happen_before_anything_is_made() {
    need_root();
    // Not root.
    init_refused(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ],
        &[],
        &[],
        &["djdd init: must run as root", "hint: run it as root"],
    );
    // debootstrap missing: a PATH with everything but it.
    let bin = common::tempdir();
    for p in ["schroot", "tar", "dpkg"] {
        let real = djdd::buildroot::host::which(p).unwrap();
        std::os::unix::fs::symlink(real, bin.path().join(p)).unwrap();
    }
    let path = bin.path().to_str().unwrap();
    init_refused(
        &[],
        &[("PATH", path)],
        &[],
        &[
            "`debootstrap` is not installed",
            "hint: apt-get install debootstrap",
        ],
    );
    // schroot missing.
    std::fs::remove_file(bin.path().join("schroot")).unwrap();
    std::os::unix::fs::symlink(
        djdd::buildroot::host::which("debootstrap").unwrap(),
        bin.path().join("debootstrap"),
    )
    .unwrap();
    init_refused(
        &[],
        &[("PATH", path)],
        &[],
        &[
            "`schroot` is not installed",
            "hint: apt-get install schroot",
        ],
    );
    // An unknown suite.
    init_refused(
        &[],
        &[],
        &["--suite", "xyz"],
        &[
            "unknown suite 'xyz': debootstrap has no script for it",
            "hint:",
        ],
    );
    init_refused(&[], &[], &["--suite", "../etc"], &["suite '../etc'"]);
    init_refused(&[], &[], &["--mirror", "ftp://x y"], &["--mirror"]);
    // A directory that is not a build dir.
    let full = common::tempdir();
    std::fs::write(full.path().join("precious"), "data").unwrap();
    let out = common::djdd()
        .arg("--dir")
        .arg(full.path())
        .arg("init")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("is not empty and is not a djdd build directory"),
        "{err}"
    );
    assert_eq!(common::list_dir(full.path()), ["precious"]);
}

/// The root, not the host, decides the target's release and Python: on a
/// Debian 12 host this builds a trixie root (and a bookworm one), on a
/// Debian 13 host a bookworm root (and a trixie one). `status` names the
/// root's suite and Python, and reminds (exit 0) when the host differs.
#[test]
fn roots_of_either_release_work_on_either_host() {
    need_root();
    let host = djdd::buildroot::host::read_host_suite();
    for (suite, python) in [("trixie", "3.13"), ("bookworm", "3.11")] {
        let d = TestBuildDir::new();
        init(&d, &["--suite", suite]);
        let root = root_of(&d);
        assert_eq!(root.suite(), suite);
        assert_eq!(root.python_version().unwrap(), python);
        let v = root
            .run(Some("djdd"), "/", &[], &["python3", "--version"])
            .unwrap()
            .text();
        assert!(v.starts_with(&format!("Python {python}.")), "{v}");

        let out = d.djdd(&["status"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let st = String::from_utf8_lossy(&out.stdout);
        assert!(st.contains(&format!("build root: ready, {suite} ")), "{st}");
        assert!(st.contains(&format!("Python {python}")), "{st}");
        let reminder = format!("the packages built here are for {suite} targets");
        match host.as_deref() {
            Some(h) if h != suite => {
                assert!(
                    st.contains(&format!(
                        "warning: this host runs Debian {h}, the build root {suite}"
                    )),
                    "{st}"
                );
                assert!(st.contains(&reminder), "{st}");
            }
            _ => assert!(!st.contains("warning:"), "{st}"),
        }
    }
}
