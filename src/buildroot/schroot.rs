//! The schroot(1) setup of a build root: the chroot definition in
//! /etc/schroot/chroot.d/NAME and its profile /etc/schroot/NAME/ (fstab,
//! copyfiles, nssdatabases), per schroot.conf(5), with NAME unique per build
//! dir ([`crate::builddir::BuildDir::schroot_name`]).
//!
//! The text is rendered by pure functions; `write_config` writes it
//! atomically, `prune_stale` removes the definitions of build dirs that no
//! longer exist (never another live one), and `end_sessions` ends sessions a
//! killed djdd left open. Never runs a shell.

use std::path::{Path, PathBuf};

use crate::builddir::write_atomic;
use crate::buildroot::runner::{Cmd, Runner};
use crate::error::{Error, Result};

/// Where schroot reads chroot definitions.
pub const CHROOT_D: &str = "/etc/schroot/chroot.d";
/// Where schroot reads profiles.
pub const SCHROOT_ETC: &str = "/etc/schroot";
/// The first line of every file djdd writes there: how `prune_stale`
/// recognises its own files.
pub const MARKER: &str = "# Written by djdd";
/// Where the build dir's cache dir is mounted inside the root.
pub const CACHE_INSIDE: &str = "/djdd/cache";

/// The files of one chroot's setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchrootFiles {
    /// (path, contents)
    pub files: Vec<(PathBuf, String)>,
}

/// Escapes a path for an fstab field (space, tab, newline, backslash as
/// octal, fstab(5)).
fn fstab_escape(p: &str) -> String {
    let mut s = String::new();
    for c in p.chars() {
        match c {
            ' ' => s.push_str("\\040"),
            '\t' => s.push_str("\\011"),
            '\n' => s.push_str("\\012"),
            '\\' => s.push_str("\\134"),
            c => s.push(c),
        }
    }
    s
}

/// Renders the chroot definition and profile of build dir `build_dir`
/// (whose root is `root`, cache `cache`) named `name`. `dev_shm`: whether
/// the host has /dev/shm to bind-mount (Python's multiprocessing needs it).
pub fn render(
    name: &str,
    build_dir: &Path,
    root: &Path,
    cache: &Path,
    dev_shm: bool,
) -> Result<SchrootFiles> {
    let text = |p: &Path| -> Result<String> {
        let s = p.to_str().ok_or_else(|| {
            Error::invalid(
                format!("build directory {}", p.display()),
                "is not valid UTF-8: schroot cannot name it",
            )
        })?;
        if s.chars().any(|c| c.is_control()) {
            return Err(Error::invalid(
                format!("build directory {}", s.escape_debug()),
                "contains a control character: schroot's config cannot hold it",
            ));
        }
        Ok(s.to_string())
    };
    let (bd, root_s, cache_s) = (text(build_dir)?, text(root)?, text(cache)?);
    let conf = format!(
        "{MARKER} for the build dir {bd}: `djdd init` rewrites it, and removes it\n\
         # once that build dir is gone. Do not edit.\n\
         [{name}]\n\
         description=djdd build root of {bd}\n\
         type=directory\n\
         directory={root_s}\n\
         users=root\n\
         root-users=root\n\
         profile={name}\n\
         preserve-environment=false\n"
    );
    let mut fstab = format!(
        "{MARKER} (profile of {name}): file systems mounted in each session.\n\
         /proc\t/proc\tnone\trw,bind\t0\t0\n\
         /sys\t/sys\tnone\trw,bind\t0\t0\n\
         /dev\t/dev\tnone\trw,bind\t0\t0\n\
         /dev/pts\t/dev/pts\tnone\trw,bind\t0\t0\n"
    );
    if dev_shm {
        fstab.push_str("/dev/shm\t/dev/shm\tnone\trw,bind\t0\t0\n");
    }
    fstab.push_str(&format!(
        "{}\t{CACHE_INSIDE}\tnone\trw,bind\t0\t0\n",
        fstab_escape(&cache_s)
    ));
    let copyfiles = format!(
        "{MARKER} (profile of {name}): files copied into each session.\n/etc/resolv.conf\n"
    );
    let nss = format!(
        "{MARKER} (profile of {name}): none. The root keeps its own users (the build user djdd).\n"
    );
    let profile = Path::new(SCHROOT_ETC).join(name);
    Ok(SchrootFiles {
        files: vec![
            (profile.join("fstab"), fstab),
            (profile.join("copyfiles"), copyfiles),
            (profile.join("nssdatabases"), nss),
            // Last: the definition appears only once its profile is complete.
            (Path::new(CHROOT_D).join(name), conf),
        ],
    })
}

/// Writes the files that differ; returns whether anything was written.
pub fn write_config(files: &SchrootFiles) -> Result<bool> {
    let mut changed = false;
    for (path, text) in &files.files {
        if std::fs::read_to_string(path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        write_atomic(path, text.as_bytes())?;
        changed = true;
    }
    Ok(changed)
}

/// The `directory=` of a chroot definition djdd wrote (None for others).
pub fn parse_own_directory(text: &str) -> Option<PathBuf> {
    if !text.starts_with(MARKER) {
        return None;
    }
    text.lines()
        .find_map(|l| l.strip_prefix("directory="))
        .map(PathBuf::from)
}

/// Removes djdd's chroot definitions (and profiles) whose build root no
/// longer exists: what is left when a build dir (a test's temp dir) is
/// deleted. Another build dir's live definition is never touched. Returns
/// the names removed.
pub fn prune_stale(keep: &str) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(rd) = std::fs::read_dir(CHROOT_D) else {
        return removed;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("djdd-") || name == keep {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let Some(dir) = parse_own_directory(&text) else {
            continue;
        };
        // The build dir (the root's parent) is gone: nothing can use it.
        let build_dir_gone = dir.parent().is_none_or(|p| !p.exists());
        if build_dir_gone {
            let _ = std::fs::remove_file(e.path());
            let profile = Path::new(SCHROOT_ETC).join(&name);
            if profile.join("fstab").is_file() {
                let _ = std::fs::remove_dir_all(&profile);
            }
            removed.push(name);
        }
    }
    removed
}

/// Removes the chroot definition and profile `name` (when djdd wrote them).
pub fn remove_config(name: &str) -> Result<()> {
    let conf = Path::new(CHROOT_D).join(name);
    if let Ok(text) = std::fs::read_to_string(&conf) {
        if parse_own_directory(&text).is_some() {
            std::fs::remove_file(&conf).map_err(|e| Error::io(&conf, e))?;
            let profile = Path::new(SCHROOT_ETC).join(name);
            let _ = std::fs::remove_dir_all(&profile);
        }
    }
    Ok(())
}

/// The open sessions of chroot `name`, from `schroot --list --all-sessions`
/// output.
pub fn parse_sessions(list: &str, name: &str) -> Vec<String> {
    let prefix = format!("session:{name}-");
    list.lines()
        .map(str::trim)
        .filter(|l| l.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// Ends every session of chroot `name` (left by a killed djdd). Only call
/// this while holding the build dir's exclusive lock: no build is using one.
pub fn end_sessions(runner: &dyn Runner, name: &str) -> Result<usize> {
    let list = runner.check(&Cmd::new("schroot").args(["--list", "--all-sessions"]))?;
    let sessions = parse_sessions(&list.text(), name);
    for s in &sessions {
        tracing::info!("ending schroot session {s} left open by an interrupted djdd");
        let cmd = Cmd::new("schroot").args(["--end-session", "--force", "-c", s.as_str()]);
        runner.check(&cmd)?;
    }
    Ok(sessions.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_unique_chroot_with_its_profile() {
        let f = render(
            "djdd-0123456789ab",
            Path::new("/tmp/x y"),
            Path::new("/tmp/x y/buildroot"),
            Path::new("/tmp/x y/cache"),
            true,
        )
        .unwrap();
        let names: Vec<_> = f
            .files
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "/etc/schroot/djdd-0123456789ab/fstab",
                "/etc/schroot/djdd-0123456789ab/copyfiles",
                "/etc/schroot/djdd-0123456789ab/nssdatabases",
                "/etc/schroot/chroot.d/djdd-0123456789ab"
            ]
        );
        let conf = &f.files[3].1;
        assert!(conf.contains("[djdd-0123456789ab]\n"));
        assert!(conf.contains("type=directory\n"));
        assert!(conf.contains("directory=/tmp/x y/buildroot\n"));
        assert!(conf.contains("profile=djdd-0123456789ab\n"));
        assert_eq!(
            parse_own_directory(conf).unwrap(),
            Path::new("/tmp/x y/buildroot")
        );
        let fstab = &f.files[0].1;
        assert!(
            fstab.contains("/tmp/x\\040y/cache\t/djdd/cache\tnone\trw,bind"),
            "{fstab}"
        );
        assert!(fstab.contains("/dev/shm"));
        assert!(f.files[1].1.contains("\n/etc/resolv.conf\n"));
    }

    #[test]
    fn refuses_paths_schroot_cannot_hold() {
        let p = Path::new("/tmp/a\nb");
        assert!(render("djdd-x", p, p, p, false).is_err());
    }

    #[test]
    fn only_own_files_are_recognised() {
        assert!(parse_own_directory("[x]\ndirectory=/srv\n").is_none());
    }

    #[test]
    fn sessions_of_one_chroot() {
        let list =
            "session:djdd-aaa-1234\nsession:djdd-aaab-5678\nchroot:djdd-aaa\nsession:other-1\n";
        assert_eq!(
            parse_sessions(list, "djdd-aaa"),
            vec!["session:djdd-aaa-1234"]
        );
    }
}
