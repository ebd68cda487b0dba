//! Crash safety of `djdd build` and `djdd publish` (issue 8, item 2): each
//! is killed with SIGKILL at several points; after each kill nothing torn is
//! visible in `packages/` or the repository (every visible file is a
//! complete .deb that dpkg-deb reads; temp files only under the documented
//! temp names), no process of the build is left running in the build root,
//! no lock stays held, and a rerun succeeds and gives byte-identical
//! packages (and repository) to an uninterrupted run.
//!
//! Kill points of the build (docs/build.md "Crashes and concurrent builds"):
//! while pip runs (seen in the process list: `kill -9 PID`, what a user
//! does), while compileall runs (quiet: it wrote on after djdd died before
//! the parent-death signal; the whole process group is killed, as a CI
//! timeout does), at the test pause points `pack-env` (half the env .deb in
//! its temp file), `after-env` (env .deb in packages/, src not started) and
//! `pack-site`. Publish: `pool-copy` (half a pool file in its temp file),
//! `after-pool`, `after-indices`, `after-release`.
//!
//! Needs root, the cached base tarball and PyPI (the build test).

mod build_support;
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use build_support::*;
use common::*;

/// How long a killed build's processes and locks may take to go (the
/// schroot of a killed djdd ends its session, holding the tree's lock).
const SETTLE: Duration = Duration::from_secs(20);
/// How long the build steps inside the root may run on after djdd was
/// killed (they get SIGTERM at once; without it compileall ran on for about
/// 5 s, pip for minutes when it prints nothing).
const STEPS_STOP: Duration = Duration::from_millis(2500);

fn djdd_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_djdd"));
    c.arg("--dir").arg(dir).args(args).env_remove("DJDD_DIR");
    c
}

/// A command line of what runs a build step in the root rather than the
/// step: schroot, setpriv, env, timeout.
fn is_wrapper(cmd: &str) -> bool {
    ["schroot ", "setpriv ", "env ", "timeout "]
        .iter()
        .any(|w| cmd.starts_with(w))
}

/// Starts `djdd build ARGS` (stderr to a log file) and SIGKILLs it as soon
/// as a process inside its chroot's session runs a command line containing
/// `needle`: the step itself, not schroot nor a wrapper that runs it
/// (setpriv, env, timeout: their command lines hold the step's; killed
/// while `timeout` starts, before it has forked the step and recorded its
/// pid, coreutils' timeout exits without passing the signal on, and the
/// step it was forking runs on, which is timeout's window, not djdd's):
/// only djdd's pid (`group` false: `kill -9 PID`) or djdd's whole process
/// group (`group` true). Returns the command line seen.
fn kill_when_running(d: &TestBuildDir, args: &[&str], needle: &str, group: bool) -> String {
    use std::os::unix::process::CommandExt;
    let name = schroot_name_of(d.path());
    let log_path = d
        .path()
        .join(format!("kill-{}.log", needle.replace(['/', ' '], "_")));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut c = djdd_cmd(d.path(), args);
    c.stdout(Stdio::null()).stderr(log);
    if group {
        c.process_group(0);
    }
    let mut child = c.spawn().unwrap();
    let start = Instant::now();
    let seen = loop {
        if let Some((_, cmd)) = processes_of_chroot(&name)
            .into_iter()
            .find(|(_, cmd)| !is_wrapper(cmd) && cmd.contains(needle))
        {
            break cmd;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "djdd {args:?} ended ({status}) before running {needle}:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "{needle} never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    if group {
        // SAFETY: kill(2) on the process group the child leads.
        assert_eq!(
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) },
            0
        );
    } else {
        child.kill().unwrap();
    }
    child.wait().unwrap();
    seen
}

/// Starts `djdd build ARGS` paused at `point` and SIGKILLs it (its pid).
fn kill_at(d: &TestBuildDir, args: &[&str], point: &str) {
    let (mut child, _) = spawn_until_paused(djdd_cmd(d.path(), args), point);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// What a killed build left in packages/.
#[derive(Debug)]
struct Left {
    /// Visible files: all .debs, each read by dpkg-deb --info.
    debs: Vec<String>,
    /// Temp files (name, size).
    temps: Vec<(String, u64)>,
}

/// The checks after every kill: no process left in the chroot, no lock
/// held, and packages/ holds complete .debs and temp-named files only.
fn after_kill(d: &TestBuildDir, what: &str) -> Left {
    let name = schroot_name_of(d.path());
    // The build steps inside the root stop at once (SIGTERM); a step that
    // went on after djdd died (compileall runs for seconds) fails this.
    let start = Instant::now();
    let inside = loop {
        let inside: Vec<(u32, String)> = processes_of_chroot(&name)
            .into_iter()
            .filter(|(_, cmd)| !cmd.starts_with("schroot "))
            .collect();
        if inside.is_empty() || start.elapsed() > STEPS_STOP {
            break inside;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        inside.is_empty(),
        "{what}: build steps still run {STEPS_STOP:?} after djdd was killed: {inside:#?}"
    );
    // schroot itself ends its session (unmounting) and exits.
    let left = wait_no_processes(&name, SETTLE);
    assert!(
        left.is_empty(),
        "{what}: processes of the killed build still run: {left:#?}"
    );
    let held = locks_still_held(d.path(), SETTLE);
    assert!(held.is_empty(), "{what}: locks still held: {held:?}");
    let dir = d.path().join("packages");
    let mut out = Left {
        debs: Vec::new(),
        temps: Vec::new(),
    };
    for f in list_dir(&dir) {
        let p = dir.join(&f);
        if f.starts_with('.') {
            assert!(
                f.starts_with(".djdd-pack-") && f.ends_with(".deb.tmp"),
                "{what}: unexpected hidden file {f}"
            );
            out.temps.push((f, std::fs::metadata(&p).unwrap().len()));
        } else {
            assert!(f.ends_with(".deb"), "{what}: unexpected file {f}");
            info(&p); // panics unless dpkg-deb reads it
            out.debs.push(f);
        }
    }
    out
}

fn kinds(debs: &[String]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = debs
        .iter()
        .map(|f| {
            if f.starts_with("demo-env-") {
                "env"
            } else if f.starts_with("demo-src-") {
                "src"
            } else if f.starts_with("demo-site-") {
                "site"
            } else {
                "other"
            }
        })
        .collect();
    v.sort();
    v
}

#[test]
fn killed_builds_leave_no_torn_package_no_process_no_lock_and_a_rerun_matches() {
    let started = Instant::now();
    let repo = demo_repo();
    let build = ["build", "demo", "blue", "--version", "v1"];

    // The uninterrupted reference, in another build dir, meanwhile.
    let repo_path = repo.path().to_path_buf();
    let reference = std::thread::spawn(move || {
        let b = demo_build_dir(&repo_path, true);
        let _end = EndSessions(schroot_name_of(b.path()));
        ok(&b, &["build", "demo", "blue", "--version", "v1"]);
        sha256_of_files(&b.path().join("packages"))
    });

    let d = demo_build_dir(repo.path(), true);
    let name = schroot_name_of(d.path());
    let _end = EndSessions(name.clone());

    // 1. kill -9 of djdd while pip runs.
    let seen = kill_when_running(&d, &build, "pip install", false);
    eprintln!("killed djdd while running: {seen}");
    let left = after_kill(&d, "killed during pip");
    assert!(left.debs.is_empty() && left.temps.is_empty(), "{left:?}");
    // schroot, sent SIGTERM by djdd's death, ends its own session; when its
    // setup-stop is cut short (seen once in CI: the mounts were gone, the
    // session file was left) the session is stale and the next build must
    // end it, as after step 2.
    let mut stale_sessions = sessions_of(&name);
    if !stale_sessions.is_empty() {
        eprintln!("schroot left its session after djdd was killed alone: {stale_sessions:?}");
    }

    // 2. The whole process group killed while compileall runs (it prints
    //    nothing, so nothing but a signal stops it).
    let seen = kill_when_running(&d, &build, "-m compileall", true);
    eprintln!("killed djdd's process group while running: {seen}");
    let left = after_kill(&d, "killed during compileall");
    assert!(left.debs.is_empty() && left.temps.is_empty(), "{left:?}");
    // The half-built env tree is in the root, but not marked complete:
    // the rerun builds it again instead of trusting it.
    assert_eq!(
        list_dir(&d.path().join("buildroot/usr/lib/demo-env")).len(),
        1
    );
    assert!(list_dir(&d.path().join("state/envs")).is_empty());
    // schroot itself was SIGKILLed: its session is left (the next build
    // ends it, below).
    stale_sessions.extend(sessions_of(&name));

    // 3. Half-way through writing the env .deb.
    kill_at(&d, &build, "pack-env");
    let left = after_kill(&d, "killed in pack-env");
    assert!(left.debs.is_empty(), "{left:?}");
    assert_eq!(left.temps.len(), 1, "{left:?}");
    let partial_env = left.temps[0].1;
    assert!(partial_env > 0, "{left:?}");
    for s in &stale_sessions {
        assert!(
            !sessions_of(&name).contains(s),
            "the rerun did not end the stale session {s}"
        );
    }

    // 4. The env .deb renamed into packages/, src not started.
    kill_at(&d, &build, "after-env");
    let left = after_kill(&d, "killed after env");
    assert_eq!(kinds(&left.debs), ["env"], "{left:?}");
    assert!(
        left.temps.is_empty(),
        "the rerun removes the killed writer's temp file: {left:?}"
    );
    assert_eq!(list_dir(&d.path().join("state/envs")).len(), 1);

    // 5. Half-way through writing the site .deb.
    kill_at(&d, &build, "pack-site");
    let left = after_kill(&d, "killed in pack-site");
    assert_eq!(kinds(&left.debs), ["env", "src"], "{left:?}");
    assert_eq!(left.temps.len(), 1, "{left:?}");
    assert!(!d.path().join("state/builds/demo-blue.toml").exists());

    // 6. The rerun completes: the same packages as the uninterrupted build,
    //    byte for byte, and nothing else.
    ok(&d, &build);
    let got = sha256_of_files(&d.path().join("packages"));
    let want = reference.join().expect("the reference build");
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(
        got, want,
        "a rerun after kills differs from an uninterrupted build"
    );
    let env_deb = got.keys().find(|f| f.starts_with("demo-env-")).unwrap();
    let env_size = std::fs::metadata(d.path().join("packages").join(env_deb))
        .unwrap()
        .len();
    assert!(
        partial_env < env_size,
        "the pack-env temp file held {partial_env} of {env_size} bytes: not a partial file"
    );
    assert!(sessions_of(&name).is_empty(), "{:?}", sessions_of(&name));
    let scratch = list_dir(&d.path().join("buildroot/var/tmp/djdd-build"));
    assert!(
        scratch.is_empty(),
        "scratch dirs of killed builds left: {scratch:?}"
    );
    eprintln!(
        "build kills and rerun: {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

/// A pseudo-random text of `n` bytes (compresses badly, so the .deb is big
/// enough for a half-copied pool file).
fn noise(n: usize, seed: u64) -> String {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

/// Every file of a repository (but `.djdd/`) with its bytes; the Release
/// files without their Date line.
fn repo_files(repo: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(repo).sort_by_file_name() {
        let e = e.unwrap();
        if !e.file_type().is_file() {
            continue;
        }
        let rel = e
            .path()
            .strip_prefix(repo)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel.starts_with(".djdd/") {
            continue;
        }
        let mut bytes = std::fs::read(e.path()).unwrap();
        if rel.ends_with("/Release") {
            let text = String::from_utf8(bytes).unwrap();
            bytes = text
                .lines()
                .filter(|l| !l.starts_with("Date:"))
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes();
        }
        out.insert(rel, bytes);
    }
    out
}

#[test]
fn killed_publishes_leave_a_valid_repository_no_lock_and_a_rerun_matches() {
    let tmp = tempdir();
    let dir = tmp.path().join("d");
    let packages = dir.join("packages");
    let first = make_deb(&packages, "demo-env-aaa", "1", "all", "", "first");
    let big: Vec<String> = (0..3)
        .map(|i| {
            make_deb(
                &packages,
                &format!("demo-src-b{i}"),
                "1",
                "all",
                "",
                &noise(3 << 20, i + 7),
            )
            .to_string_lossy()
            .into_owned()
        })
        .collect();
    let publish = |repo: &Path, debs: &[&str]| {
        let mut c = djdd_cmd(
            &dir,
            &["publish", "--suite", "stable", "--unsigned", "--repo"],
        );
        c.arg(repo).args(debs);
        c
    };
    let big_refs: Vec<&str> = big.iter().map(String::as_str).collect();

    // The reference: the same two publishes, uninterrupted.
    let reference = tmp.path().join("reference");
    run_ok(&mut publish(&reference, &[first.to_str().unwrap()]));
    run_ok(&mut publish(&reference, &big_refs));

    let repo = tmp.path().join("repo");
    run_ok(&mut publish(&repo, &[first.to_str().unwrap()]));
    let before = check_repo(&repo, "stable");
    for point in ["pool-copy", "after-pool", "after-indices", "after-release"] {
        let (mut child, _) = spawn_until_paused(publish(&repo, &big_refs), point);
        child.kill().unwrap();
        child.wait().unwrap();
        // What apt sees is consistent: every file the Release lists (by
        // hash) is there with its hashes, and so is every pool file the
        // listed indices name.
        let listed = check_repo_as_apt(&repo, "stable");
        assert!(listed.is_superset(&before), "{point}: {listed:?}");
        // Every visible pool file is a complete .deb; temp files only under
        // the temp name, and only at pool-copy.
        let mut temps = Vec::new();
        for e in walkdir::WalkDir::new(repo.join("pool")) {
            let e = e.unwrap();
            if !e.file_type().is_file() {
                continue;
            }
            let f = e.file_name().to_string_lossy().into_owned();
            if f.starts_with(".djdd-tmp-") {
                temps.push((f, e.metadata().unwrap().len()));
            } else {
                assert!(f.ends_with(".deb"), "{point}: {f}");
                info(e.path());
            }
        }
        if point == "pool-copy" {
            assert_eq!(temps.len(), 1, "{point}: {temps:?}");
            assert!(temps[0].1 > 0 && temps[0].1 < 3 << 20, "{point}: {temps:?}");
        } else {
            assert!(
                temps.is_empty(),
                "{point}: the rerun removes temps: {temps:?}"
            );
        }
        // The repository lock is free: a publish can start at once.
        let lock = std::fs::OpenOptions::new()
            .append(true)
            .open(repo.join(".djdd/lock"))
            .unwrap();
        assert!(
            djdd::flock::try_lock(&lock).unwrap_or(false),
            "{point}: the repository lock is held"
        );
    }
    run_ok(&mut publish(&repo, &big_refs));
    assert_eq!(check_repo(&repo, "stable").len(), 4);
    let got = repo_files(&repo);
    let want = repo_files(&reference);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the repositories hold other files"
    );
    for (k, v) in &want {
        assert!(got[k] == *v, "{k} differs from the uninterrupted publish");
    }
}
