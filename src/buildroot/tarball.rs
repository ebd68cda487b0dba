//! The base tarball cache: a finished build root (debootstrapped, build
//! user made, build packages installed) saved as a zstd-compressed tar in
//! /var/cache/djdd/base/, keyed by suite, architecture, mirror and package
//! list, so that the next build dir is extracted in seconds instead of
//! debootstrapped in a minute or two.
//!
//! GNU tar(1) does the archiving (numeric owners, permissions, xattrs,
//! device nodes, hard links, one file system), fed through an in-process
//! zstd stream; a tarball is written to a temp name and renamed, so a
//! reader never sees a partial one. Never writes outside the cache dir and
//! the directory it extracts into.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::buildroot::runner::{Cmd, Runner};
use crate::digest::sha256_hex;
use crate::error::{Error, Result};

/// The cache directory of base tarballs (`DJDD_BASE_CACHE` overrides it,
/// for tests that need an empty cache).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("DJDD_BASE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/djdd/base"))
}

/// The format of what a base tarball holds; bump it when the finished
/// root changes in a way an old tarball would not have.
const FORMAT: &str = "djdd-base-1";

/// The cache key of a finished root: 16 hex digits of SHA-256 over the
/// format, suite, architecture, mirror and sorted package list.
pub fn key(suite: &str, arch: &str, mirror: &str, packages: &[String]) -> String {
    let mut p: Vec<&str> = packages.iter().map(String::as_str).collect();
    p.sort_unstable();
    p.dedup();
    let text = format!(
        "{FORMAT}\nsuite={suite}\narch={arch}\nmirror={mirror}\npackages={}\n",
        p.join(" ")
    );
    sha256_hex(text.as_bytes())[..16].to_string()
}

/// The tarball's path: `DIR/SUITE-ARCH-KEY.tar.zst`.
pub fn path(dir: &Path, suite: &str, arch: &str, key: &str) -> PathBuf {
    dir.join(format!("{suite}-{arch}-{key}.tar.zst"))
}

/// Archives the root at `root` into the tarball `dest` (temp name, then
/// renamed). The caller holds the key's lock (`KEY.lock` in the cache dir).
pub fn create(runner: &dyn Runner, root: &Path, dest: &Path) -> Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let start = Instant::now();
    tracing::info!("saving the base tarball {}", dest.display());
    // Temp files of this tarball left by a killed djdd (the caller holds
    // this key's lock, so none is being written).
    let prefix = format!(
        ".tmp-{}-",
        dest.file_name().unwrap_or_default().to_string_lossy()
    );
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.filter_map(|e| e.ok()) {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let file = tmp.reopen().map_err(|e| Error::io(tmp.path(), e))?;
    let mut enc = zstd::stream::Encoder::new(file, 3).map_err(|e| Error::io(tmp.path(), e))?;
    enc.multithread(2).map_err(|e| Error::io(tmp.path(), e))?;
    let cmd = Cmd::new("tar")
        .args([
            "--create",
            "--file=-",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "--one-file-system",
            "--sort=name",
            "--directory",
        ])
        .arg(root)
        .arg(".");
    runner.run_io(&cmd, None, Some(&mut enc))?.check(&cmd)?;
    let file = enc.finish().map_err(|e| Error::io(tmp.path(), e))?;
    file.sync_all().map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(dest).map_err(|e| Error::io(dest, e.error))?;
    let size = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    tracing::info!(
        "saved the base tarball ({} MB) in {:.1} s",
        size / 1_000_000,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Extracts the tarball `src` into the (new, empty) directory `into`.
/// `group_file`: see [`Cmd::group_file`].
pub fn extract(
    runner: &dyn Runner,
    src: &Path,
    into: &Path,
    group_file: Option<PathBuf>,
) -> Result<()> {
    let start = Instant::now();
    let size = std::fs::metadata(src).map(|m| m.len()).unwrap_or(0);
    tracing::info!(
        "extracting the base tarball {} ({} MB)",
        src.display(),
        size / 1_000_000
    );
    std::fs::create_dir_all(into).map_err(|e| Error::io(into, e))?;
    let file = std::fs::File::open(src).map_err(|e| Error::io(src, e))?;
    let mut dec = zstd::stream::Decoder::new(file).map_err(|e| Error::io(src, e))?;
    let cmd = Cmd::new("tar")
        .args([
            "--extract",
            "--file=-",
            "--numeric-owner",
            "--same-owner",
            "--preserve-permissions",
            "--xattrs",
            "--xattrs-include=*",
            "--directory",
        ])
        .arg(into)
        .group_file(group_file);
    runner
        .run_io(&cmd, Some(&mut dec), None)?
        .check(&cmd)
        .map_err(|e| match e {
            Error::Command { command, status, output } => Error::Command {
                command,
                status,
                output: format!(
                    "{output}\n(the base tarball {} may be damaged: delete it to debootstrap again)",
                    src.display()
                ),
            },
            e => e,
        })?;
    tracing::info!("extracted in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pk(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn key_depends_on_every_input_but_not_package_order() {
        let m = "http://deb.debian.org/debian";
        let k = key("bookworm", "amd64", m, &pk(&["git", "python3"]));
        assert_eq!(k.len(), 16);
        assert_eq!(k, key("bookworm", "amd64", m, &pk(&["python3", "git"])));
        assert_ne!(k, key("trixie", "amd64", m, &pk(&["git", "python3"])));
        assert_ne!(k, key("bookworm", "arm64", m, &pk(&["git", "python3"])));
        assert_ne!(
            k,
            key(
                "bookworm",
                "amd64",
                "http://x/debian",
                &pk(&["git", "python3"])
            )
        );
        assert_ne!(k, key("bookworm", "amd64", m, &pk(&["git"])));
    }

    #[test]
    fn create_and_extract_round_trip() {
        use crate::buildroot::runner::RealRunner;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            root.join("usr/bin/tool"),
            std::fs::Permissions::from_mode(0o4755),
        )
        .unwrap();
        std::os::unix::fs::symlink("tool", root.join("usr/bin/link")).unwrap();
        let tb = dir.path().join("cache/x.tar.zst");
        // A temp file of a killed run is cleaned up.
        std::fs::create_dir_all(dir.path().join("cache")).unwrap();
        std::fs::write(dir.path().join("cache/.tmp-x.tar.zst-dead"), "partial").unwrap();
        create(&RealRunner, &root, &tb).unwrap();
        let out = dir.path().join("out");
        extract(&RealRunner, &tb, &out, None).unwrap();
        let m = std::fs::metadata(out.join("usr/bin/tool")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
        assert_eq!(
            std::fs::read_link(out.join("usr/bin/link")).unwrap(),
            Path::new("tool")
        );
        // Only the finished tarball is in the cache dir.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x.tar.zst"]);
    }
}
