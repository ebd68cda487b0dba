//! The project's source tree in the build root: a commit's `git archive`
//! unpacked into a directory of the root (`djdd build`'s src tree, `djdd
//! check`'s scratch copy) and given to the build user, who runs the
//! project's build steps in it. Members a package must not carry are
//! refused: paths that leave the tree, names with a newline, symlinks
//! pointing outside it, anything but files, directories and symlinks.
//!
//! Never writes outside the directory it is given.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::buildroot::BuildRoot;
use crate::buildroot::steps::{build_user_ids, host_path, remove_in_root};
use crate::error::{Error, Result};

/// Unpacks a `git archive` tar into `dest` (a directory inside the root,
/// removed first). Refuses members a package must not carry: paths that
/// leave the tree, names with a newline (dpkg's file lists are line based),
/// symlinks pointing outside the tree, and anything but files, directories
/// and symlinks. Returns the number of members.
pub fn unpack_tree(root: &BuildRoot, dest: &str, tar_bytes: &[u8]) -> Result<usize> {
    remove_in_root(root, dest)?;
    let base = host_path(root, dest);
    std::fs::create_dir_all(&base).map_err(|e| Error::io(&base, e))?;
    let n = unpack_tar(&base, tar_bytes)?;
    // The build user runs the project's build steps (compilemessages
    // writes .mo files here); the package's owners are root regardless.
    let (uid, gid) = build_user_ids(root)?;
    for e in walkdir::WalkDir::new(&base) {
        let e = e.map_err(|e| Error::io(&base, std::io::Error::other(e.to_string())))?;
        std::os::unix::fs::lchown(e.path(), Some(uid), Some(gid))
            .map_err(|err| Error::io(e.path(), err))?;
    }
    Ok(n)
}

/// As [`unpack_tree`], into a host directory (exists, empty).
pub fn unpack_tar(base: &Path, tar_bytes: &[u8]) -> Result<usize> {
    let mut archive = tar::Archive::new(tar_bytes);
    let mut count = 0;
    let entries = archive.entries().map_err(|e| Error::io(base, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::io(base, e))?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            continue; // git archive's pax comment with the commit id
        }
        let rel = check_member(&name)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let dest = base.join(&rel);
        match kind {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&dest).map_err(|e| Error::io(&dest, e))?;
            }
            tar::EntryType::Regular => {
                let mode = entry.header().mode().map_err(|e| Error::io(&dest, e))?;
                let mut bytes = Vec::new();
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| Error::io(&dest, e))?;
                if let Some(p) = dest.parent() {
                    std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
                }
                std::fs::write(&dest, &bytes).map_err(|e| Error::io(&dest, e))?;
                use std::os::unix::fs::PermissionsExt;
                let m = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
                std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(m))
                    .map_err(|e| Error::io(&dest, e))?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                check_link(&name, &rel, &target)?;
                if let Some(p) = dest.parent() {
                    std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
                }
                std::os::unix::fs::symlink(&target, &dest).map_err(|e| Error::io(&dest, e))?;
            }
            other => {
                return Err(Error::invalid(
                    format!("source file '{}'", name.escape_debug()),
                    format!(
                        "is a {other:?} member; a source package holds files, directories and symlinks only"
                    ),
                ));
            }
        }
        count += 1;
    }
    Ok(count)
}

/// A member name of the source tree as a relative path, refusing what a
/// package cannot carry.
fn check_member(name: &str) -> Result<PathBuf> {
    let what = || format!("source file '{}'", name.escape_debug());
    if name.contains(['\n', '\r']) {
        return Err(Error::invalid_hint(
            what(),
            "has a newline in its name; dpkg's file lists are one path a line, so no package can hold it",
            "rename the file in the repository",
        ));
    }
    let p = Path::new(name);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            _ => {
                return Err(Error::invalid(
                    what(),
                    "leaves the source tree ('..' or an absolute path)",
                ));
            }
        }
    }
    Ok(out)
}

/// A symlink of the source tree must point inside it, relatively.
fn check_link(name: &str, rel: &Path, target: &str) -> Result<()> {
    let what = || {
        format!(
            "symlink '{}' -> '{}'",
            name.escape_debug(),
            target.escape_debug()
        )
    };
    if target.starts_with('/') {
        return Err(Error::invalid_hint(
            what(),
            "points to an absolute path outside the source tree; the installed package would follow it on the target host",
            "make it a relative link inside the repository, or copy the file",
        ));
    }
    let mut depth: i64 = rel.components().count() as i64 - 1;
    for c in Path::new(target).components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(Error::invalid_hint(
                what(),
                "points outside the source tree",
                "make it point inside the repository, or copy the file",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_stay_inside() {
        assert_eq!(check_member("a/b.py").unwrap(), PathBuf::from("a/b.py"));
        assert_eq!(check_member("./a/").unwrap(), PathBuf::from("a"));
        assert!(
            check_member("../x")
                .unwrap_err()
                .to_string()
                .contains("leaves the source tree")
        );
        assert!(check_member("/etc/passwd").is_err());
        assert!(
            check_member("a\nb")
                .unwrap_err()
                .to_string()
                .contains("newline")
        );
    }

    #[test]
    fn links_stay_inside() {
        check_link("a/l", Path::new("a/l"), "../b").unwrap();
        check_link("l", Path::new("l"), "a/b").unwrap();
        assert!(
            check_link("l", Path::new("l"), "/etc/passwd")
                .unwrap_err()
                .to_string()
                .contains("absolute")
        );
        assert!(
            check_link("a/l", Path::new("a/l"), "../../x")
                .unwrap_err()
                .to_string()
                .contains("outside")
        );
        assert!(check_link("l", Path::new("l"), "a/../../x").is_err());
    }

    #[test]
    fn unpack_refuses_escaping_symlink_and_writes_modes() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o755);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, "bin/run", &b"hi\n"[..]).unwrap();
        let ok = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(unpack_tar(dir.path(), &ok).unwrap(), 1);
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(dir.path().join("bin/run"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(m & 0o777, 0o755);

        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, "evil", "../../etc/shadow").unwrap();
        let bad = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let e = unpack_tar(dir.path(), &bad).unwrap_err().to_string();
        assert!(e.contains("points outside the source tree"), "{e}");
    }
}
