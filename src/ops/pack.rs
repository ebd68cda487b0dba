//! `djdd pack`: read a dpkg-deb style tree (DIR/DEBIAN/control and other
//! control files; everything else is data, owned by root as with
//! `--root-owner-group`), make dpkg-deb's checks, and write the .deb
//! atomically with `deb::write_deb_to_path`.
//!
//! Must never leave a partial output nor write anything when a check
//! fails. Follows dpkg-deb(1) `--build` and its build.c checks (control
//! directory and maintainer script permissions, conffiles), Debian Policy
//! §5.6.1 for names (stricter than dpkg-deb), and deb(5).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::pack::PackArgs;
use crate::deb::control::Paragraph;
use crate::deb::entry::{MAINTAINER_SCRIPTS, bad_script_mode};
use crate::deb::{
    Compression, ControlFile, Entry, Package, WriteOptions, source_date_epoch_from_env,
    write_deb_to_path,
};
use crate::error::{Error, Result};

pub fn run(args: &PackArgs) -> anyhow::Result<ExitCode> {
    let compression = Compression::parse(&args.compression)?;
    let opts = WriteOptions {
        compression,
        level: args.level,
        threads: args.threads,
        source_date_epoch: source_date_epoch_from_env()?,
    };
    compression.check_level(opts.level())?;
    let started = std::time::Instant::now();
    let pkg = read_tree(&args.tree)?;
    tracing::debug!(
        "read {}: {} entries in {:.3} s",
        args.tree.display(),
        pkg.entries.len(),
        started.elapsed().as_secs_f64()
    );
    pkg.check()
        .with_context(|| format!("{} is not a valid package tree", args.tree.display()))?;
    let out = output_path(&args.tree, args.out.as_deref(), &pkg)?;
    tracing::info!("building package '{}' in '{}'", pkg.name(), out.display());
    let written = write_deb_to_path(&pkg, &opts, &out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    tracing::debug!(
        "{}: {} bytes, {} files, Installed-Size {}, {:.3} s in all",
        out.display(),
        written.deb_bytes,
        written.files,
        written.installed_size,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Where dpkg-deb would write: OUT itself, OUT/NAME_VERSION_ARCH.deb when
/// OUT is a directory (epoch dropped), or DIR.deb without OUT.
pub fn output_path(tree: &Path, out: Option<&Path>, pkg: &Package) -> Result<PathBuf> {
    match out {
        Some(o) if o.is_dir() => {
            let version = pkg.control.get("Version").unwrap_or("");
            let version = version.split_once(':').map_or(version, |(_, v)| v);
            let arch = pkg.control.get("Architecture").unwrap_or("");
            Ok(o.join(format!("{}_{}_{}.deb", pkg.name(), version, arch)))
        }
        Some(o) => Ok(o.to_path_buf()),
        None => {
            let bytes = tree.as_os_str().as_bytes();
            let mut end = bytes.len();
            while end > 1 && bytes[end - 1] == b'/' {
                end -= 1;
            }
            let mut name = bytes[..end].to_vec();
            if name.is_empty() || name == b"/" || name == b"." || name.ends_with(b"/.") {
                return Err(Error::invalid_hint(
                    format!("tree '{}'", tree.display()),
                    "gives no name for the output file",
                    "name the output: djdd pack DIR OUT",
                ));
            }
            name.extend_from_slice(b".deb");
            Ok(PathBuf::from(OsStr::from_bytes(&name)))
        }
    }
}

/// Reads a dpkg-deb style tree into a [`Package`]: DIR/DEBIAN's files
/// become control files, everything else data entries owned by root (file
/// contents are read later, by the writer). Makes the checks that need the
/// disk: DEBIAN's permissions, maintainer script modes, file types.
pub fn read_tree(dir: &Path) -> Result<Package> {
    let meta = std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
    if !meta.is_dir() {
        return Err(Error::invalid(
            dir.display().to_string(),
            "is not a directory; djdd pack takes a tree holding DEBIAN/control",
        ));
    }
    let debian = dir.join("DEBIAN");
    let dmeta = match std::fs::symlink_metadata(&debian) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::invalid_hint(
                debian.join("control").display().to_string(),
                "is missing: the control file of a dpkg-deb tree is DIR/DEBIAN/control",
                "create DEBIAN/control with Package, Version, Architecture, Maintainer and Description",
            ));
        }
        Err(e) => return Err(Error::io(&debian, e)),
    };
    if !dmeta.is_dir() {
        return Err(Error::invalid(
            debian.display().to_string(),
            "is not a directory",
        ));
    }
    if dmeta.mode() & 0o7757 != 0o755 {
        return Err(Error::invalid_hint(
            debian.display().to_string(),
            format!(
                "control directory has bad permissions {:04o} (must be >=0755 and <=0775)",
                dmeta.mode() & 0o7777
            ),
            format!("chmod 0755 {}", debian.display()),
        ));
    }

    let mut control: Option<Paragraph> = None;
    let mut control_files = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&debian)
        .map_err(|e| Error::io(&debian, e))?
        .map(|r| r.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(&debian, e))?;
    names.sort();
    for name in names {
        let path = debian.join(&name);
        let Some(name) = name.to_str().map(str::to_string) else {
            return Err(Error::invalid(
                path.display().to_string(),
                "control file names must be UTF-8",
            ));
        };
        // Maintainer scripts may be symlinks (dpkg-deb follows them too).
        let m = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
        if !m.is_file() {
            return Err(Error::invalid_hint(
                path.display().to_string(),
                "is not a regular file; the control area (DEBIAN) holds only files",
                "move it out of DEBIAN",
            ));
        }
        if MAINTAINER_SCRIPTS.contains(&name.as_str()) && m.mode() & 0o7557 != 0o555 {
            return Err(bad_script_mode(
                &name,
                m.mode(),
                &format!("chmod 0755 {}", path.display()),
            ));
        }
        let data = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        if name == "control" {
            let text = String::from_utf8(data)
                .map_err(|_| Error::invalid(path.display().to_string(), "is not UTF-8 text"))?;
            control = Some(Paragraph::parse(&text, &path.display().to_string())?);
        } else {
            control_files.push(ControlFile {
                name,
                mode: m.mode() & 0o7777,
                data,
            });
        }
    }
    let Some(control) = control else {
        return Err(Error::invalid_hint(
            debian.join("control").display().to_string(),
            "is missing",
            "create DEBIAN/control with Package, Version, Architecture, Maintainer and Description",
        ));
    };

    let mut pkg = Package::new(control);
    pkg.control_files = control_files;
    let root = std::fs::symlink_metadata(dir).map_err(|e| Error::io(dir, e))?;
    let mut found = vec![Found {
        rel: Vec::new(),
        path: dir.to_path_buf(),
        meta: root,
    }];
    found.extend(walk(dir, b"", true)?);
    // sorted, so the first member of each hard link group is always the same
    found.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    let mut inodes: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    for Found { rel, path, meta: m } in found {
        let path = path.as_path();
        let ft = m.file_type();
        let mode = m.mode() & 0o7777;
        let entry = if ft.is_dir() {
            Entry::dir(rel, mode)
        } else if ft.is_file() {
            if m.nlink() > 1 {
                match inodes.get(&(m.dev(), m.ino())) {
                    Some(first) => Entry::hard_link(rel, mode, first.clone()),
                    None => {
                        inodes.insert((m.dev(), m.ino()), rel.clone());
                        Entry::file_from_path(rel, mode, path)
                    }
                }
            } else {
                Entry::file_from_path(rel, mode, path)
            }
        } else if ft.is_symlink() {
            let target = std::fs::read_link(path).map_err(|e| Error::io(path, e))?;
            Entry::symlink(rel, target.as_os_str().as_bytes().to_vec())
        } else if ft.is_socket() {
            return Err(Error::invalid_hint(
                path.display().to_string(),
                "is a socket; a .deb cannot hold sockets",
                "remove it from the tree: the program creates its socket when it runs",
            ));
        } else {
            let kind = if ft.is_fifo() {
                "a named pipe (FIFO)"
            } else if ft.is_block_device() {
                "a block device"
            } else {
                "a character device"
            };
            return Err(Error::invalid_hint(
                path.display().to_string(),
                format!(
                    "is {kind}; djdd pack writes only directories, regular files, symlinks and hard links"
                ),
                "remove it from the tree and create it in postinst if it is needed",
            ));
        };
        pkg.add(entry.with_mtime(m.mtime().max(0) as u64));
    }
    Ok(pkg)
}

/// A file system object of the tree: its package path, disk path and lstat.
struct Found {
    rel: Vec<u8>,
    path: PathBuf,
    meta: std::fs::Metadata,
}

/// Lists everything below `path` (not following symlinks; `DEBIAN` skipped
/// at the top), subdirectories in parallel. `DirEntry::metadata` stats
/// relative to the open directory, sparing a full path lookup per entry.
fn walk(path: &Path, rel: &[u8], top: bool) -> Result<Vec<Found>> {
    use rayon::prelude::*;
    let mut here = Vec::new();
    let mut subdirs = Vec::new();
    for de in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
        let de = de.map_err(|e| Error::io(path, e))?;
        let name = de.file_name();
        if top && name == "DEBIAN" {
            continue;
        }
        let meta = de.metadata().map_err(|e| Error::io(de.path(), e))?;
        let mut r = Vec::with_capacity(rel.len() + name.len() + 1);
        if !rel.is_empty() {
            r.extend_from_slice(rel);
            r.push(b'/');
        }
        r.extend_from_slice(name.as_bytes());
        if meta.is_dir() {
            subdirs.push((de.path(), r.clone()));
        }
        here.push(Found {
            rel: r,
            path: de.path(),
            meta,
        });
    }
    let nested: Vec<Vec<Found>> = subdirs
        .par_iter()
        .map(|(p, r)| walk(p, r, false))
        .collect::<Result<_>>()?;
    here.extend(nested.into_iter().flatten());
    Ok(here)
}
