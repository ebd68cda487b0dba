//! Removing a half-made build root safely.
//!
//! debootstrap mounts /proc and /sys inside its target while it configures
//! packages; killed, it leaves them mounted. Removing such a tree with a
//! plain recursive delete would walk into the host's /proc and /sys. This
//! module finds the mounts below a path (proc(5) `mountinfo`), unmounts them
//! (deepest first, lazily), and only then removes the tree, refusing when a
//! mount remains. Never removes anything outside the path it is given.

use std::path::{Path, PathBuf};

use crate::buildroot::runner::{Cmd, Runner};
use crate::error::{Error, Result};

/// Decodes the octal escapes (`\040`) of a mountinfo field.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points in `mountinfo` text that are `path` or below it,
/// deepest first.
pub fn mounts_below(mountinfo: &str, path: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|f| PathBuf::from(unescape(f)))
        .filter(|m| m.starts_with(path))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    v.dedup();
    v
}

/// Unmounts everything mounted at or below `path`.
pub fn unmount_below(runner: &dyn Runner, path: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("/proc/self/mountinfo", e))?;
    for m in mounts_below(&info, path) {
        tracing::info!("unmounting {} (left by an interrupted run)", m.display());
        runner.check(&Cmd::new("umount").args(["--lazy", "--"]).arg(&m))?;
    }
    Ok(())
}

/// Removes the tree at `path` after unmounting what is mounted below it.
/// Nothing to do when it does not exist.
pub fn remove_tree(runner: &dyn Runner, path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    unmount_below(runner, path)?;
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("/proc/self/mountinfo", e))?;
    if let Some(m) = mounts_below(&info, path).first() {
        return Err(Error::invalid_hint(
            path.display().to_string(),
            format!("cannot be removed: {} is still mounted", m.display()),
            format!("unmount it (umount --lazy {}) and run again", m.display()),
        ));
    }
    std::fs::remove_dir_all(path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
        90 27 0:21 / /tmp/d/buildroot.tmp/proc rw - proc proc rw\n\
        91 27 0:22 / /tmp/d/buildroot.tmp/sys rw - sysfs sysfs rw\n\
        92 91 0:23 / /tmp/d/buildroot.tmp/sys/fs/cgroup rw - cgroup2 cgroup rw\n\
        93 27 0:24 / /tmp/d/buildroot.tmpx rw - tmpfs tmpfs rw\n\
        94 27 0:25 / /tmp/d\\040e/buildroot.tmp/proc rw - proc proc rw\n";

    #[test]
    fn finds_mounts_below_deepest_first() {
        let m = mounts_below(INFO, Path::new("/tmp/d/buildroot.tmp"));
        assert_eq!(
            m,
            [
                PathBuf::from("/tmp/d/buildroot.tmp/sys/fs/cgroup"),
                PathBuf::from("/tmp/d/buildroot.tmp/proc"),
                PathBuf::from("/tmp/d/buildroot.tmp/sys"),
            ]
        );
        let m = mounts_below(INFO, Path::new("/tmp/d e/buildroot.tmp"));
        assert_eq!(m, [PathBuf::from("/tmp/d e/buildroot.tmp/proc")]);
    }
}
