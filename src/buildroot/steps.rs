//! The helpers every step that runs in the build root is made of, whatever
//! it builds: the host path of a path inside the root, the launcher that
//! bounds a command and clears its environment ([`bounded_argv`]: `timeout
//! ... env -i ...`) and runs it in the root ([`run_step`] and its kin) or on
//! the host ([`run_host_step`]), the build user and the directories given to
//! it, the host's CA bundle for pip, a djdd script run over pip's report,
//! the removal of bytecode, and the time limits of pip and project commands.
//!
//! Generic: what is built with them is said by their callers (the env in
//! [`super::env`], sdists in [`super::sdists`], the source tree in
//! [`super::source_tree`], `djdd build`'s and `djdd check`'s project
//! commands). Every process runs through [`BuildRoot::run`] as an argument
//! array under `env -i` with exactly the variables given, bounded by
//! `timeout`. Never writes outside the build root.

use std::path::{Path, PathBuf};

use crate::buildroot::{BUILD_USER, BuildRoot};
use crate::error::{Error, Result};

/// Upper bound of one pip run (downloads and compiles), in seconds.
pub const PIP_TIMEOUT: u32 = 3600;
/// Default upper bound of one project command (collectstatic,
/// compilemessages), in seconds: `djdd build --timeout`.
pub const PROJECT_TIMEOUT: u32 = 600;

/// Where the build dir's pip cache is mounted inside the root.
pub const PIP_CACHE_IN_ROOT: &str = "/djdd/cache/pip";

/// The root's path of `inside` (an absolute path inside the root).
pub fn host_path(root: &BuildRoot, inside: &str) -> PathBuf {
    root.path().join(inside.trim_start_matches('/'))
}

/// The launcher of every project command djdd runs (the build's steps,
/// `djdd check`'s probe): `timeout --kill-after=10 SECS env -i K=V...
/// ARGV...`, as an argument array. timeout(1) puts itself in a new process
/// group and signals the whole group (TERM, then KILL 10 s later), so
/// whatever the command started is stopped with it; it then exits 124
/// (137 after the KILL), see [`timed_out`].
pub fn bounded_argv(env: &[(String, String)], timeout: u32, argv: &[&str]) -> Vec<String> {
    let mut full: Vec<String> = vec![
        "timeout".into(),
        "--kill-after=10".into(),
        timeout.to_string(),
        "env".into(),
        "-i".into(),
    ];
    for (k, v) in env {
        full.push(format!("{k}={v}"));
    }
    // No `--` here: env(1) takes the first word without '=' as the
    // program; argv[0] is always a path djdd chose.
    full.extend(argv.iter().map(|s| s.to_string()));
    full
}

/// Whether a process run by [`bounded_argv`] was stopped by its timeout
/// (timeout(1)'s exit status 124, or 137 / SIGKILL after --kill-after).
pub fn timed_out(status: &std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    matches!(status.code(), Some(124) | Some(137)) || status.signal() == Some(9)
}

/// Runs `argv` in the root under `env -i` with exactly `env`, bounded by
/// `timeout` seconds ([`bounded_argv`]); fails unless it exits 0.
pub fn run_step(
    root: &BuildRoot,
    user: Option<&str>,
    cwd: &str,
    env: &[(String, String)],
    timeout: u32,
    argv: &[&str],
) -> Result<crate::buildroot::runner::Output> {
    run_step_metered(root, user, cwd, env, timeout, argv, None)
}

/// As [`run_step`], with its output lines counted by a progress task
/// `(label, meter)` (pip, collectstatic).
pub fn run_step_metered(
    root: &BuildRoot,
    user: Option<&str>,
    cwd: &str,
    env: &[(String, String)],
    timeout: u32,
    argv: &[&str],
    meter: Option<(&str, crate::report::Meter)>,
) -> Result<crate::buildroot::runner::Output> {
    let full = bounded_argv(env, timeout, argv);
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    root.run_metered(user, cwd, &[], &refs, meter)
        .map_err(|e| match e {
            // timeout(1) exits 124 when it stopped the command (137 when it had
            // to kill it after the grace period): say so instead of a number.
            Error::Command {
                command,
                status,
                output,
            } if status.ends_with(" 124") || status.ends_with(" 137") => Error::Command {
                command,
                status: format!("did not finish within {timeout} s and was killed"),
                output,
            },
            e => e,
        })
}

/// As [`run_step`], but a non-zero exit (a timeout included, see
/// [`timed_out`]) is returned, not an error.
pub fn run_step_unchecked(
    root: &BuildRoot,
    user: Option<&str>,
    cwd: &str,
    env: &[(String, String)],
    timeout: u32,
    argv: &[&str],
) -> Result<crate::buildroot::runner::Output> {
    let full = bounded_argv(env, timeout, argv);
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    root.run_unchecked(user, cwd, &[], &refs)
}

/// The same launcher on the host, in the host directory `cwd` (`djdd
/// check --python`); a non-zero exit is returned, not an error. `argv[0]`
/// must be an absolute path without '='.
pub fn run_host_step(
    runner: &dyn crate::buildroot::runner::Runner,
    cwd: &Path,
    env: &[(String, String)],
    timeout: u32,
    argv: &[&str],
) -> Result<crate::buildroot::runner::Output> {
    if !argv
        .first()
        .is_some_and(|p| p.starts_with('/') && !p.contains('='))
    {
        return Err(Error::invalid(
            format!("command {:?}", argv.first().unwrap_or(&"")),
            "must start with an absolute program path without '='",
        ));
    }
    let full = bounded_argv(env, timeout, argv);
    let cmd = crate::buildroot::runner::Cmd::new(&full[0])
        .args(&full[1..])
        .cwd(cwd);
    runner.run(&cmd)
}

/// Removes a directory of the root if it exists.
pub fn remove_in_root(root: &BuildRoot, inside: &str) -> Result<()> {
    let p = host_path(root, inside);
    match std::fs::remove_dir_all(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(p, e)),
    }
}

/// Where [`discard_in_root`] moves trees, inside the root (the same file
/// system as any path of the root, so a rename).
const DISCARD_DIR: &str = "/var/tmp/djdd-discard";

/// The removals [`discard_in_root`] started, and the discard dirs they
/// empty.
static DISCARDS: std::sync::Mutex<Vec<(std::thread::JoinHandle<()>, PathBuf)>> =
    std::sync::Mutex::new(Vec::new());

/// Removes a directory of the root if it exists, without waiting for it:
/// the tree is renamed into the root's [`DISCARD_DIR`] (the path is free at
/// once) and removed on a thread, while the caller goes on (an env of
/// 10 000 files takes seconds to remove). Trees a killed djdd left there
/// are removed with it; [`wait_discards`] (a [`DiscardGuard`] dropped)
/// waits for the removals and removes the discard dir once it is empty. A
/// tree that cannot be renamed is removed here and now.
pub fn discard_in_root(root: &BuildRoot, inside: &str) -> Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let p = host_path(root, inside);
    if std::fs::symlink_metadata(&p).is_err() {
        return Ok(());
    }
    let dir = host_path(root, DISCARD_DIR);
    if std::fs::create_dir_all(&dir).is_err() {
        return remove_in_root(root, inside);
    }
    let me = std::process::id();
    // Left by a djdd that died before its removal ended (`PID-N`, PID no
    // longer running).
    let mut trees: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.split_once('-')
                .and_then(|(pid, _)| pid.parse::<u32>().ok())
                .is_some_and(|pid| pid != me && !Path::new(&format!("/proc/{pid}")).exists())
        })
        .map(|e| e.path())
        .collect();
    let aside = dir.join(format!("{me}-{}", N.fetch_add(1, Ordering::Relaxed)));
    if std::fs::rename(&p, &aside).is_err() {
        return remove_in_root(root, inside);
    }
    trees.push(aside);
    let handle = std::thread::spawn(move || {
        for t in trees {
            let _ = std::fs::remove_dir_all(&t);
        }
    });
    DISCARDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((handle, dir));
    Ok(())
}

/// Waits for the removals [`discard_in_root`] started; removes each
/// discard dir that is then empty.
pub fn wait_discards() {
    let started: Vec<_> = std::mem::take(&mut *DISCARDS.lock().unwrap_or_else(|e| e.into_inner()));
    for (handle, dir) in started {
        let _ = handle.join();
        let _ = std::fs::remove_dir(&dir);
    }
}

/// Calls [`wait_discards`] when dropped: a command that discards trees
/// holds one, so it ends only once they are gone, on success or error.
pub struct DiscardGuard;

impl Drop for DiscardGuard {
    fn drop(&mut self) {
        wait_discards();
    }
}

/// The build user's (uid, gid) in the root.
pub fn build_user_ids(root: &BuildRoot) -> Result<(u32, u32)> {
    crate::buildroot::init::passwd_entry(&root.path(), "etc/passwd", BUILD_USER).ok_or_else(|| {
        Error::invalid_hint(
            format!("build root {}", root.path().display()),
            format!("has no user '{BUILD_USER}'"),
            "rerun `djdd init` to finish the build root",
        )
    })
}

/// Makes `host`, a directory below the build dir's cache dir `cache`, and
/// gives it and its parents below `cache` to the build user.
pub fn give_cache_dir(root: &BuildRoot, cache: &Path, host: &Path) -> Result<()> {
    let (uid, gid) = build_user_ids(root)?;
    std::fs::create_dir_all(host).map_err(|e| Error::io(host, e))?;
    let mut p = host;
    while p.starts_with(cache) && p != cache {
        std::os::unix::fs::chown(p, Some(uid), Some(gid)).map_err(|e| Error::io(p, e))?;
        p = p.parent().expect("below the cache dir");
    }
    Ok(())
}

/// Makes `inside` (a directory of the root) and gives it to the build user.
pub fn make_build_dir(root: &BuildRoot, inside: &str) -> Result<()> {
    let (uid, gid) = build_user_ids(root)?;
    let p = host_path(root, inside);
    std::fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
    std::os::unix::fs::chown(&p, Some(uid), Some(gid)).map_err(|e| Error::io(&p, e))?;
    Ok(())
}

/// Where the host's CA bundle is copied inside the root, so pip reaches
/// its index through whatever TLS-inspecting proxy the host trusts.
pub const HOST_CA_IN_ROOT: &str = "/etc/ssl/certs/djdd-host-ca.crt";

/// Copies the host's CA bundle into the root (when the host has one) and
/// returns its path inside the root.
pub fn host_ca(root: &BuildRoot) -> Result<Option<&'static str>> {
    let host = Path::new("/etc/ssl/certs/ca-certificates.crt");
    match std::fs::read(host) {
        Ok(bytes) => {
            let dest = host_path(root, HOST_CA_IN_ROOT);
            if std::fs::read(&dest).ok().as_deref() != Some(bytes.as_slice()) {
                if let Some(p) = dest.parent() {
                    std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
                }
                crate::builddir::write_atomic(&dest, &bytes)?;
            }
            Ok(Some(HOST_CA_IN_ROOT))
        }
        Err(_) => Ok(None),
    }
}

/// Runs `script` (a djdd Python script) with `python` over pip's report
/// `report` (a path in the root) and `args`, as the build user; removes
/// the report and returns the script's stdout.
pub fn read_report(
    root: &BuildRoot,
    env: &[(String, String)],
    python: &str,
    script: &str,
    report: &str,
    args: &[&str],
) -> Result<Vec<u8>> {
    let mut argv = vec![python, "-I", "-c", script, report];
    argv.extend(args);
    let out = run_step(root, Some(BUILD_USER), "/", env, 60, &argv)?;
    let r = host_path(root, report);
    std::fs::remove_file(&r).map_err(|e| Error::io(&r, e))?;
    Ok(out.stdout)
}

/// Removes every `__pycache__` directory below `dir` (on the host side).
pub fn remove_bytecode(dir: &Path) -> Result<()> {
    let mut caches = Vec::new();
    for e in walkdir::WalkDir::new(dir).follow_links(false) {
        let e = e.map_err(|e| Error::io(dir, std::io::Error::other(e.to_string())))?;
        if e.file_type().is_dir() && e.file_name() == "__pycache__" {
            caches.push(e.path().to_path_buf());
        }
    }
    for c in caches {
        std::fs::remove_dir_all(&c).map_err(|e| Error::io(&c, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launcher_bounds_and_clears_the_environment() {
        let env = vec![("A".to_string(), "x y".to_string())];
        assert_eq!(
            bounded_argv(&env, 7, &["/bin/true", "-q"]),
            [
                "timeout",
                "--kill-after=10",
                "7",
                "env",
                "-i",
                "A=x y",
                "/bin/true",
                "-q"
            ]
        );
        let runner = crate::buildroot::runner::RealRunner;
        let dir = tempfile::tempdir().unwrap();
        // Exactly the variables given, in the directory given.
        let out = run_host_step(&runner, dir.path(), &env, 5, &["/usr/bin/env"]).unwrap();
        assert!(out.status.success());
        assert_eq!(out.text(), "A=x y");
        // A process that outlives the limit is stopped, and says so.
        let start = std::time::Instant::now();
        let out = run_host_step(&runner, dir.path(), &[], 1, &["/bin/sleep", "30"]).unwrap();
        assert!(timed_out(&out.status), "{:?}", out.status);
        assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
        let out = run_host_step(&runner, dir.path(), &[], 5, &["/bin/false"]).unwrap();
        assert!(!out.status.success() && !timed_out(&out.status));
        // The program must be an absolute path env(1) cannot misread.
        for bad in ["python3", "/x=y/python"] {
            assert!(run_host_step(&runner, dir.path(), &[], 5, &[bad]).is_err());
        }
    }
}
