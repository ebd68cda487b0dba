//! The one way the publish procedure reads and changes a repository.
//!
//! [`RepoStore`] is implemented by [`FsStore`] (a directory: every write goes
//! to a temporary name in the target's directory, is synced, then renamed
//! into place, so a reader sees the old file or the new one, never half; the
//! repository lock `.djdd/lock` is held while the store lives) and by
//! [`DryRunStore`] (reads the directory, records the writes it would make).
//! Paths are relative to the repository root, `/`-separated. It never
//! decides what to write: that is `repo::publish`.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::deb::read::{FileHashes, hash_reader};
use crate::error::{Error, Result};
use crate::flock;

/// Temporary files start with this; any left in the repository belong to a
/// killed publish and are removed by the next one (which holds the lock).
pub const TEMP_PREFIX: &str = ".djdd-tmp-";

/// Reading and writing a repository by relative path.
pub trait RepoStore {
    /// The bytes of a file, or None when it does not exist.
    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>>;
    /// Whether a file exists.
    fn exists(&self, rel: &str) -> Result<bool>;
    /// Names in a directory, sorted (empty when it does not exist or is a file).
    fn list(&self, rel_dir: &str) -> Result<Vec<String>>;
    /// Size and hashes of a file, or None when it does not exist.
    fn hash_file(&self, rel: &str) -> Result<Option<FileHashes>>;
    /// Copies a file from outside the repository to `rel`, atomically.
    fn copy_in(&mut self, rel: &str, src: &Path) -> Result<()>;
    /// Writes `bytes` to `rel`, atomically.
    fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<()>;
    /// Removes a file (no error when it is already gone).
    fn remove(&mut self, rel: &str) -> Result<()>;
    /// A named point of the procedure (`after-pool`, `after-indices`,
    /// `after-release`): a test hook, see [`FsStore`].
    fn checkpoint(&mut self, _point: &str) {}
}

/// A repository in a local directory, locked while this value lives.
///
/// Test hook: its checkpoints are [`crate::testpause`] points (the store
/// pauses there holding the lock, so a test can kill the publish at a known
/// point or start a second one while the first is inside), and so is
/// `pool-copy`: half-way through copying a pool file into its temp file.
pub struct FsStore {
    root: PathBuf,
    _lock: File,
    cleaned: HashSet<PathBuf>,
}

impl FsStore {
    /// Opens (creating if needed) the repository at `root` and takes its
    /// lock `.djdd/lock`, waiting for another publish to finish.
    pub fn open(root: &Path) -> Result<FsStore> {
        let meta = root.join(".djdd");
        std::fs::create_dir_all(&meta).map_err(|e| Error::io(&meta, e))?;
        let lock_path = meta.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        if !flock::try_lock(&lock).unwrap_or(false) {
            tracing::info!(
                "waiting for another publish into {} to finish",
                root.display()
            );
            flock::lock(&lock).map_err(|e| Error::io(&lock_path, e))?;
        }
        Ok(FsStore {
            root: root.to_path_buf(),
            _lock: lock,
            cleaned: HashSet::new(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Creates the directory of `target` and, the first time this run
    /// touches it, removes temporary files a killed publish left there.
    fn prepare_dir(&mut self, target: &Path) -> Result<PathBuf> {
        let dir = target
            .parent()
            .expect("a repository path has a parent")
            .to_path_buf();
        if self.cleaned.insert(dir.clone()) {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
                let entry = entry.map_err(|e| Error::io(&dir, e))?;
                if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    let p = entry.path();
                    std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
                }
            }
        }
        Ok(dir)
    }

    fn atomic(&mut self, rel: &str, fill: impl FnOnce(&mut File) -> io::Result<()>) -> Result<()> {
        let target = self.path(rel);
        let dir = self.prepare_dir(&target)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dir, e))?;
        fill(tmp.as_file_mut()).map_err(|e| Error::io(tmp.path(), e))?;
        tmp.as_file()
            .sync_data()
            .map_err(|e| Error::io(tmp.path(), e))?;
        // Repository files are public: readable by the web server and by
        // apt's unprivileged `_apt` user.
        set_mode_0644(tmp.as_file()).map_err(|e| Error::io(tmp.path(), e))?;
        tmp.persist(&target)
            .map_err(|e| Error::io(&target, e.error))?;
        Ok(())
    }
}

#[cfg(unix)]
fn set_mode_0644(f: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn set_mode_0644(_: &File) -> io::Result<()> {
    Ok(())
}

fn read_opt(p: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(p) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(p, e)),
    }
}

fn list_dir(p: &Path) -> Result<Vec<String>> {
    let rd = match std::fs::read_dir(p) {
        Ok(rd) => rd,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(Error::io(p, e)),
    };
    let mut v = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io(p, e))?;
        v.push(e.file_name().to_string_lossy().into_owned());
    }
    v.sort();
    Ok(v)
}

fn hash_path(p: &Path) -> Result<Option<FileHashes>> {
    match File::open(p) {
        Ok(f) => Ok(Some(
            hash_reader(io::BufReader::with_capacity(1 << 16, f)).map_err(|e| Error::io(p, e))?,
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(p, e)),
    }
}

impl RepoStore for FsStore {
    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        read_opt(&self.path(rel))
    }

    fn exists(&self, rel: &str) -> Result<bool> {
        Ok(self.path(rel).is_file())
    }

    fn list(&self, rel_dir: &str) -> Result<Vec<String>> {
        list_dir(&self.path(rel_dir))
    }

    fn hash_file(&self, rel: &str) -> Result<Option<FileHashes>> {
        hash_path(&self.path(rel))
    }

    fn copy_in(&mut self, rel: &str, src: &Path) -> Result<()> {
        let mut from = File::open(src).map_err(|e| Error::io(src, e))?;
        let len = from.metadata().map_err(|e| Error::io(src, e))?.len();
        self.atomic(rel, |f| {
            // Half, the test point `pool-copy` (a publish killed there
            // leaves a partial temp file), then the rest.
            io::copy(&mut (&mut from).take(len / 2), f)?;
            crate::testpause::point("pool-copy");
            io::copy(&mut from, f).map(|_| ())
        })
    }

    fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.atomic(rel, |f| f.write_all(bytes))
    }

    fn remove(&mut self, rel: &str) -> Result<()> {
        let p = self.path(rel);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&p, e)),
        }
    }

    fn checkpoint(&mut self, point: &str) {
        tracing::debug!("publish: {point}");
        crate::testpause::point(point);
    }
}

/// What a [`DryRunStore`] would have done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DryRunOp {
    Copy { rel: String, from: PathBuf },
    Write { rel: String, size: usize },
    Remove { rel: String },
}

impl std::fmt::Display for DryRunOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DryRunOp::Copy { rel, from } => write!(f, "copy   {rel} (from {})", from.display()),
            DryRunOp::Write { rel, size } => write!(f, "write  {rel} ({size} bytes)"),
            DryRunOp::Remove { rel } => write!(f, "remove {rel}"),
        }
    }
}

/// Reads a repository directory (which may not exist) and records the
/// changes instead of making them. Takes no lock and creates nothing.
pub struct DryRunStore {
    root: PathBuf,
    pub ops: Vec<DryRunOp>,
}

impl DryRunStore {
    pub fn new(root: &Path) -> DryRunStore {
        DryRunStore {
            root: root.to_path_buf(),
            ops: Vec::new(),
        }
    }
}

impl RepoStore for DryRunStore {
    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        read_opt(&self.root.join(rel))
    }

    fn exists(&self, rel: &str) -> Result<bool> {
        Ok(self.root.join(rel).is_file())
    }

    fn list(&self, rel_dir: &str) -> Result<Vec<String>> {
        list_dir(&self.root.join(rel_dir))
    }

    fn hash_file(&self, rel: &str) -> Result<Option<FileHashes>> {
        hash_path(&self.root.join(rel))
    }

    fn copy_in(&mut self, rel: &str, src: &Path) -> Result<()> {
        self.ops.push(DryRunOp::Copy {
            rel: rel.into(),
            from: src.into(),
        });
        Ok(())
    }

    fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.ops.push(DryRunOp::Write {
            rel: rel.into(),
            size: bytes.len(),
        });
        Ok(())
    }

    fn remove(&mut self, rel: &str) -> Result<()> {
        self.ops.push(DryRunOp::Remove { rel: rel.into() });
        Ok(())
    }
}
