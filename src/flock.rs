//! `flock(2)` locks on open files: exclusive or shared, waiting or not.
//!
//! The same calls as std's `File::lock` family on Linux (which needs Rust
//! 1.89; djdd builds with Debian 13's 1.85): a lock belongs to the open
//! file, so it is released when the last descriptor of it is closed (the
//! file dropped, the process dead); taking a lock on a file this open file
//! already locks converts it, shared to exclusive or back (not atomically:
//! see flock(2)). A call interrupted by a signal fails with `Interrupted`,
//! as std's does.
//!
//! The ground floor: imports nothing of the crate.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

fn flock(file: &File, op: libc::c_int) -> io::Result<()> {
    // SAFETY: flock(2) on a descriptor the File owns and keeps open for
    // the call; it touches no memory.
    if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Non-blocking `op`: whether it took the lock (false: another open file
/// holds a conflicting one).
fn try_flock(file: &File, op: libc::c_int) -> io::Result<bool> {
    match flock(file, op | libc::LOCK_NB) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

/// Locks `file` exclusively, waiting while another open file holds a lock
/// on it (std's `File::lock`).
pub fn lock(file: &File) -> io::Result<()> {
    flock(file, libc::LOCK_EX)
}

/// Locks `file` shared, waiting while another open file holds it
/// exclusively (std's `File::lock_shared`).
pub fn lock_shared(file: &File) -> io::Result<()> {
    flock(file, libc::LOCK_SH)
}

/// Locks `file` exclusively if no other open file holds a lock on it,
/// without waiting: Ok(false) when one does (std's `File::try_lock`,
/// whose `TryLockError::WouldBlock` is the false here).
pub fn try_lock(file: &File) -> io::Result<bool> {
    try_flock(file, libc::LOCK_EX)
}

/// Locks `file` shared if no other open file holds it exclusively, without
/// waiting: Ok(false) when one does (std's `File::try_lock_shared`).
pub fn try_lock_shared(file: &File) -> io::Result<bool> {
    try_flock(file, libc::LOCK_SH)
}

/// Releases this open file's lock on `file` (std's `File::unlock`);
/// closing it does the same.
pub fn unlock(file: &File) -> io::Result<()> {
    flock(file, libc::LOCK_UN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(p: &std::path::Path) -> File {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(p)
            .unwrap()
    }

    #[test]
    fn exclusive_and_shared_as_flock_says() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l");
        let (a, b, c) = (open(&p), open(&p), open(&p));
        lock(&a).unwrap();
        assert!(!try_lock(&b).unwrap());
        assert!(!try_lock_shared(&b).unwrap());
        unlock(&a).unwrap();
        assert!(try_lock_shared(&b).unwrap());
        lock_shared(&c).unwrap();
        assert!(!try_lock(&a).unwrap(), "two shared holders keep it");
        // Converting: b's shared lock becomes exclusive once c lets go.
        // (Unlocked, not closed: a child another test forks meanwhile
        // shares the open file until it execs, and with it the lock.)
        unlock(&c).unwrap();
        assert!(try_lock(&b).unwrap());
        assert!(!try_lock_shared(&a).unwrap());
        assert!(!try_lock_shared(&c).unwrap());
        unlock(&b).unwrap();
        assert!(try_lock(&a).unwrap());
    }
}
