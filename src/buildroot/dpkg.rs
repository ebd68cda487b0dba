//! Reading a root's dpkg database, and waiting for dpkg's lock.
//!
//! Which packages are installed comes from `var/lib/dpkg/status` (dpkg(1)
//! database, deb822 paragraphs: a package is installed when its `Status` is
//! `install ok installed`; a virtual package when an installed package
//! `Provides` it), read directly: no process, so a build that needs nothing
//! new stays fast. dpkg and apt lock `var/lib/dpkg/lock-frontend` and
//! `lock` with fcntl(2) record locks, which flock(2) does not see; this
//! module asks with `F_GETLK`. Never changes the database.

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::deb::control::parse_paragraphs;
use crate::error::{Error, Result};

/// The names installed (and the virtual names they provide) in a dpkg
/// status file's text.
pub fn installed_names(status: &str) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for p in parse_paragraphs(status, "var/lib/dpkg/status")? {
        let ok = p.get("Status").is_some_and(|s| {
            s.split_whitespace().collect::<Vec<_>>() == ["install", "ok", "installed"]
        });
        if !ok {
            continue;
        }
        if let Some(n) = p.get("Package") {
            names.insert(n.trim().to_string());
        }
        if let Some(prov) = p.get("Provides") {
            for item in prov.split(',') {
                if let Some(n) = item.split_whitespace().next() {
                    names.insert(n.to_string());
                }
            }
        }
    }
    Ok(names)
}

/// The packages of `wanted` not installed (in `installed`). Names may carry
/// an `:arch` qualifier, which is ignored.
pub fn missing(wanted: &[String], installed: &BTreeSet<String>) -> Vec<String> {
    wanted
        .iter()
        .filter(|w| {
            let base = w.split(':').next().unwrap_or(w);
            !installed.contains(base)
        })
        .cloned()
        .collect()
}

/// The packages of `wanted` not installed in the root at `root`.
pub fn missing_in_root(root: &Path, wanted: &[String]) -> Result<Vec<String>> {
    let path = root.join("var/lib/dpkg/status");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    Ok(missing(wanted, &installed_names(&text)?))
}

/// The process holding an fcntl lock on `file`, if any (`F_GETLK`).
pub fn fcntl_lock_holder(file: &Path) -> Option<i32> {
    let f = std::fs::File::open(file).ok()?;
    // SAFETY: a zeroed flock is a valid argument; fcntl(F_GETLK) only
    // writes into it.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETLK, &mut fl) };
    if r == 0 && fl.l_type != libc::F_UNLCK as libc::c_short {
        Some(fl.l_pid)
    } else {
        None
    }
}

/// The holder of the dpkg lock of the root at `root`: (lock file, pid).
pub fn dpkg_lock_holder(root: &Path) -> Option<(String, i32)> {
    for f in ["var/lib/dpkg/lock-frontend", "var/lib/dpkg/lock"] {
        if let Some(pid) = fcntl_lock_holder(&root.join(f)) {
            return Some((f.to_string(), pid));
        }
    }
    None
}

/// Waits until no process holds dpkg's lock in `root`, saying who holds
/// it; fails after `timeout` naming the holder.
pub fn wait_for_dpkg_lock(root: &Path, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    let mut said = false;
    while let Some((file, pid)) = dpkg_lock_holder(root) {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim().to_string())
            .unwrap_or_else(|_| "?".to_string());
        if start.elapsed() >= timeout {
            return Err(Error::invalid_hint(
                format!("dpkg database of {}", root.display()),
                format!(
                    "is locked by process {pid} ({comm}) through {file} for more than {} s",
                    timeout.as_secs()
                ),
                "wait for that process to finish, or stop it",
            ));
        }
        if !said {
            tracing::info!(
                "waiting for dpkg's lock in {} (held by process {pid}, {comm}, on {file})",
                root.display()
            );
            said = true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Package: python3\nStatus: install ok installed\nVersion: 3.11\n\n\
        Package: git\nStatus: deinstall ok config-files\nVersion: 1\n\n\
        Package: mawk\nStatus: install ok installed\nProvides: awk\n\n\
        Package: libfoo\nStatus: install ok half-configured\n";

    #[test]
    fn installed_and_provided() {
        let names = installed_names(STATUS).unwrap();
        assert!(names.contains("python3"));
        assert!(names.contains("awk"));
        assert!(!names.contains("git"));
        assert!(!names.contains("libfoo"));
        let want: Vec<String> = ["python3", "git", "awk", "libfoo:amd64"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(missing(&want, &names), ["git", "libfoo:amd64"]);
    }

    #[test]
    fn sees_an_fcntl_lock_flock_would_not() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("lock-frontend");
        std::fs::write(&lock, "").unwrap();
        assert_eq!(fcntl_lock_holder(&lock), None);
        // Another process takes an fcntl lock (as dpkg does): python's
        // fcntl.lockf is fcntl F_SETLK.
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                "import fcntl,sys,time\nf=open(sys.argv[1],'w')\nfcntl.lockf(f,fcntl.LOCK_EX)\nprint('locked',flush=True)\ntime.sleep(30)",
            ])
            .arg(&lock)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "locked");
        assert_eq!(fcntl_lock_holder(&lock), Some(child.id() as i32));
        // flock does not see it.
        let f = std::fs::File::open(&lock).unwrap();
        assert!(crate::flock::try_lock(&f).unwrap());
        drop(f);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(fcntl_lock_holder(&lock), None);
    }
}
