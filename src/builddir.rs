//! The build directory `D` (default /var/lib/djdd): its layout, its locks,
//! and the small state records kept in it.
//!
//! Layout (docs/host.md):
//! ```text
//! D/.lock                 shared: reading and building; exclusive: changing the build root's packages
//! D/.init.lock            exclusive: one `djdd init` of D at a time
//! D/buildroot/            the Debian root builds run in (debootstrap, schroot)
//! D/src/NAME.git          mirror clone of project NAME
//! D/variants/NAME/VARIANT.toml   one deployment of NAME
//! D/packages/             finished .debs (written to a temp name, renamed in)
//! D/cache/pip/            pip's cache, bind-mounted into the root at /djdd/cache
//! D/cache/wheels/         wheels pip built from sdists, by the sdist's sha256 (buildroot::wheels)
//! D/logs/                 one log per build
//! D/state/init.toml       what `djdd init` did (suite, arch, mirror, steps)
//! D/state/settings.toml   the build dir's settings (`djdd init --repo`)
//! D/state/builds/NAME-VARIANT.toml   the last build of each variant
//! D/state/env-locks/NAME-FULLHASH.lock   the resolution lock of each env this build dir made or took
//! D/state/locks/          per-source and per-variant lock files
//! ```
//! Locks are `flock(2)` locks (`crate::flock`): released by the kernel when
//! the holder dies, so a killed process never blocks the next one. Never runs
//! a process; every file it writes is written to a temp name and renamed.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::digest::sha256_hex;
use crate::error::{Error, Result};
use crate::flock;

/// An opened build directory (its path is absolute and canonical).
#[derive(Debug, Clone)]
pub struct BuildDir {
    root: PathBuf,
}

const SUBDIRS: &[&str] = &[
    "src",
    "variants",
    "packages",
    "cache",
    "cache/pip",
    "logs",
    "state",
    "state/builds",
    "state/locks",
];

impl BuildDir {
    /// Creates the layout (idempotent): D and its subdirectories and lock
    /// file. Does not create the build root (`djdd init` does).
    pub fn create(path: &Path) -> Result<BuildDir> {
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        let root = path.canonicalize().map_err(|e| Error::io(path, e))?;
        for sub in SUBDIRS {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        }
        for lock in [".lock", ".init.lock"] {
            let p = root.join(lock);
            open_lock_file(&p)?;
        }
        Ok(BuildDir { root })
    }

    /// Opens an existing build directory made by [`BuildDir::create`]
    /// (`djdd init`); a clear error with a hint when there is none.
    pub fn open(path: &Path) -> Result<BuildDir> {
        let shown = path.display();
        if !path.is_dir() {
            return Err(Error::invalid_hint(
                format!("build directory {shown}"),
                "does not exist",
                format!("run `djdd init --dir {shown}` first"),
            ));
        }
        let root = path.canonicalize().map_err(|e| Error::io(path, e))?;
        if !root.join(".lock").is_file() || !root.join("state").is_dir() {
            return Err(Error::invalid_hint(
                format!("build directory {shown}"),
                "is not a djdd build directory (no .lock file or state/ directory)",
                format!("run `djdd init --dir {shown}` to make one"),
            ));
        }
        // Directories added by newer versions of djdd.
        for sub in SUBDIRS {
            let p = root.join(sub);
            if !p.is_dir() {
                std::fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
        Ok(BuildDir { root })
    }

    /// D itself.
    pub fn path(&self) -> &Path {
        &self.root
    }
    /// D/buildroot: the Debian root.
    pub fn buildroot(&self) -> PathBuf {
        self.root.join("buildroot")
    }
    /// D/src: the mirror clones.
    pub fn src_dir(&self) -> PathBuf {
        self.root.join("src")
    }
    /// D/src/NAME.git.
    pub fn source_repo(&self, name: &str) -> PathBuf {
        self.src_dir().join(format!("{name}.git"))
    }
    /// D/variants.
    pub fn variants_dir(&self) -> PathBuf {
        self.root.join("variants")
    }
    /// D/variants/NAME/VARIANT.toml.
    pub fn variant_file(&self, name: &str, variant: &str) -> PathBuf {
        self.variants_dir()
            .join(name)
            .join(format!("{variant}.toml"))
    }
    /// D/packages: finished .deb files.
    pub fn packages_dir(&self) -> PathBuf {
        self.root.join("packages")
    }
    /// D/cache: caches kept outside the build root (survive a new root).
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }
    /// D/cache/pip: pip's cache (PIP_CACHE_DIR inside the root is
    /// [`crate::buildroot::CACHE_INSIDE`]`/pip`).
    pub fn pip_cache_dir(&self) -> PathBuf {
        self.cache_dir().join("pip")
    }
    /// D/logs.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// D/state.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }
    /// D/state/init.toml.
    pub fn init_state_file(&self) -> PathBuf {
        self.state_dir().join("init.toml")
    }
    /// D/state/builds.
    pub fn builds_state_dir(&self) -> PathBuf {
        self.state_dir().join("builds")
    }
    /// D/state/builds/NAME-VARIANT.toml.
    pub fn last_build_file(&self, name: &str, variant: &str) -> PathBuf {
        self.builds_state_dir()
            .join(format!("{name}-{variant}.toml"))
    }

    /// D/state/env-locks/NAME-FULLHASH.lock: the resolution lock
    /// (`requirements.lock`) of the env of NAME with the full env hash
    /// FULLHASH, as the last env package of it this build dir built,
    /// reused or copied holds it. A later build of that env whose package
    /// is gone installs exactly it (docs/build-plan.md).
    pub fn env_lock_file(&self, name: &str, full_hash: &str) -> PathBuf {
        self.state_dir()
            .join("env-locks")
            .join(format!("{name}-{full_hash}.lock"))
    }

    /// The schroot chroot name of this build dir: `djdd-` and 12 hex digits
    /// of the SHA-256 of D's canonical path, so that every build dir on a
    /// host has its own chroot config and none clobbers another.
    pub fn schroot_name(&self) -> String {
        let hash = sha256_hex(self.root.as_os_str().as_encoded_bytes());
        format!("djdd-{}", &hash[..12])
    }

    /// Takes D's lock shared (reading, building). Waits, saying so, while a
    /// process holds it exclusively.
    pub fn lock_shared(&self) -> Result<DirLock> {
        let path = self.root.join(".lock");
        let file = open_lock_file(&path)?;
        let mut lock = DirLock {
            file,
            path,
            holder: self.state_dir().join("exclusive-holder"),
            exclusive: false,
        };
        lock.acquire(false, "")?;
        Ok(lock)
    }

    /// Takes D's lock exclusively, to change the build root (`reason` says
    /// how, e.g. "installing libpq-dev"). Waits, saying so, for running
    /// builds to finish.
    pub fn lock_exclusive(&self, reason: &str) -> Result<DirLock> {
        let path = self.root.join(".lock");
        let file = open_lock_file(&path)?;
        let mut lock = DirLock {
            file,
            path,
            holder: self.state_dir().join("exclusive-holder"),
            exclusive: false,
        };
        lock.acquire(true, reason)?;
        Ok(lock)
    }

    /// Takes D's lock exclusively if no other process holds it, without
    /// waiting (None when one does).
    pub fn try_lock_exclusive(&self, reason: &str) -> Result<Option<DirLock>> {
        let path = self.root.join(".lock");
        let file = open_lock_file(&path)?;
        if !flock::try_lock(&file).map_err(|e| Error::io(&path, e))? {
            return Ok(None);
        }
        let lock = DirLock {
            file,
            path,
            holder: self.state_dir().join("exclusive-holder"),
            exclusive: true,
        };
        let _ = write_atomic(
            &lock.holder,
            format!("pid {} {reason}\n", std::process::id()).as_bytes(),
        );
        Ok(Some(lock))
    }

    /// The lock that lets one `djdd init` of D run at a time.
    pub fn lock_init(&self) -> Result<NamedLock> {
        NamedLock::take(
            &self.root.join(".init.lock"),
            &format!("another `djdd init` of {}", self.root.display()),
        )
    }

    /// An exclusive lock on `D/state/locks/KEY.lock` (KEY e.g. `src-demo`),
    /// `what` describing the holder for the waiting message.
    pub fn lock_named(&self, key: &str, what: &str) -> Result<NamedLock> {
        NamedLock::take(
            &self.state_dir().join("locks").join(format!("{key}.lock")),
            what,
        )
    }

    /// D/state/settings.toml.
    pub fn settings_file(&self) -> PathBuf {
        self.state_dir().join("settings.toml")
    }

    /// The build dir's settings (defaults when none were set).
    pub fn read_settings(&self) -> Result<Settings> {
        let path = self.settings_file();
        match std::fs::read_to_string(&path) {
            Ok(t) => Settings::parse(&t, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Records the build dir's settings (atomically).
    pub fn write_settings(&self, s: &Settings) -> Result<()> {
        let path = self.settings_file();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        write_atomic(&path, s.to_toml().as_bytes())
    }

    /// The last build of NAME-VARIANT, if one was recorded.
    pub fn read_last_build(&self, name: &str, variant: &str) -> Result<Option<LastBuild>> {
        let path = self.last_build_file(name, variant);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        LastBuild::parse(&text, &path.display().to_string()).map(Some)
    }

    /// Records the last build of NAME-VARIANT (atomically).
    pub fn write_last_build(&self, name: &str, variant: &str, b: &LastBuild) -> Result<()> {
        write_atomic(&self.last_build_file(name, variant), b.to_toml().as_bytes())
    }
}

/// The shared or exclusive lock on `D/.lock`; released when dropped (or when
/// the process dies).
#[derive(Debug)]
pub struct DirLock {
    file: File,
    path: PathBuf,
    holder: PathBuf,
    exclusive: bool,
}

impl DirLock {
    /// Whether this lock is held exclusively.
    pub fn is_exclusive(&self) -> bool {
        self.exclusive
    }

    /// Turns a shared lock into an exclusive one (waiting for other holders
    /// to finish). Use this, not a second [`BuildDir::lock_exclusive`], while
    /// holding a shared lock: two locks of one process on D would wait for
    /// each other. Like flock(2), the change is not atomic: the shared lock
    /// is given up while waiting.
    pub fn upgrade(&mut self, reason: &str) -> Result<()> {
        if self.exclusive {
            return Ok(());
        }
        self.acquire(true, reason)
    }

    /// Turns an exclusive lock back into a shared one (never waits).
    pub fn downgrade(&mut self) -> Result<()> {
        if !self.exclusive {
            return Ok(());
        }
        let _ = std::fs::remove_file(&self.holder);
        flock::lock_shared(&self.file).map_err(|e| Error::io(&self.path, e))?;
        self.exclusive = false;
        Ok(())
    }

    fn acquire(&mut self, exclusive: bool, reason: &str) -> Result<()> {
        let tried = if exclusive {
            flock::try_lock(&self.file)
        } else {
            flock::try_lock_shared(&self.file)
        };
        let got = tried.map_err(|e| Error::io(&self.path, e))?;
        if !got {
            let dir = self.path.parent().unwrap_or(Path::new("/")).display();
            if exclusive {
                tracing::info!(
                    "waiting for other djdd commands using {dir} to finish before {reason} (lock {} held by another djdd process)",
                    self.path.display()
                );
            } else {
                let by = std::fs::read_to_string(&self.holder)
                    .map(|s| format!(": {}", s.trim()))
                    .unwrap_or_default();
                tracing::info!(
                    "waiting for the build root of {dir} to be changed (lock {} held exclusively by another djdd process{by})",
                    self.path.display()
                );
            }
            let start = Instant::now();
            let r = if exclusive {
                flock::lock(&self.file)
            } else {
                flock::lock_shared(&self.file)
            };
            r.map_err(|e| Error::io(&self.path, e))?;
            tracing::info!("got the lock after {:.1} s", start.elapsed().as_secs_f64());
        }
        self.exclusive = exclusive;
        if exclusive {
            let _ = write_atomic(
                &self.holder,
                format!("pid {} {reason}\n", std::process::id()).as_bytes(),
            );
        }
        Ok(())
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if self.exclusive {
            let _ = std::fs::remove_file(&self.holder);
        }
    }
}

/// An exclusive lock on one lock file; released when dropped.
#[derive(Debug)]
pub struct NamedLock {
    file: File,
}

/// Lock files whose descriptors the processes djdd starts inherit (see
/// [`NamedLock::hold_in_children`]).
static HELD_IN_CHILDREN: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

/// The descriptors of the locks that children must inherit now (read by
/// [`crate::buildroot::runner::RealRunner`] before each spawn).
pub fn locks_held_in_children() -> Vec<RawFd> {
    HELD_IN_CHILDREN
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default()
}

/// While alive, the processes djdd starts inherit a [`NamedLock`]; see
/// [`NamedLock::hold_in_children`].
#[derive(Debug)]
pub struct ChildHold<'a> {
    lock: &'a NamedLock,
}

impl Drop for ChildHold<'_> {
    fn drop(&mut self) {
        let fd = self.lock.file.as_raw_fd();
        if let Ok(mut v) = HELD_IN_CHILDREN.lock() {
            if let Some(i) = v.iter().position(|&f| f == fd) {
                v.remove(i);
            }
        }
    }
}

impl NamedLock {
    /// Locks `path` exclusively, creating it; when it is held, logs
    /// "waiting for WHAT" and waits.
    pub fn take(path: &Path, what: &str) -> Result<NamedLock> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let file = open_lock_file(path)?;
        if !flock::try_lock(&file).map_err(|e| Error::io(path, e))? {
            tracing::info!(
                "waiting for {what} (lock {} held by another djdd process)",
                path.display()
            );
            flock::lock(&file).map_err(|e| Error::io(path, e))?;
        }
        Ok(NamedLock { file })
    }

    /// Until the returned guard is dropped, every process djdd starts
    /// inherits this lock's descriptor (flock(2) locks belong to the open
    /// file, which the children then share). The lock is released only when
    /// djdd *and* those children are gone: when djdd is killed, the build
    /// steps it started in the tree this lock guards (pip writing the env,
    /// compilemessages writing the source tree) are stopped by their
    /// parent-death signal, and the next djdd waiting for the lock starts
    /// only once they have exited, never while they still write.
    pub fn hold_in_children(&self) -> ChildHold<'_> {
        if let Ok(mut v) = HELD_IN_CHILDREN.lock() {
            v.push(self.file.as_raw_fd());
        }
        ChildHold { lock: self }
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory,
/// flushed, mode 0644, then renamed over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// The build dir's own settings, `D/state/settings.toml`, set by `djdd
/// init` and used by the commands when their options do not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The apt repository the builds go to (`djdd init --repo R`): `djdd
    /// build` reuses the env packages published there when neither
    /// `--repo` nor `DJDD_REPO` names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<PathBuf>,
}

impl Settings {
    /// Parses the settings; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Settings> {
        toml::from_str(text).map_err(|e| {
            Error::invalid_hint(
                origin,
                format!("not valid build dir settings: {}", e.to_string().trim_end()),
                "set them again with `djdd init --repo R` (or `--no-repo`), or delete the file",
            )
        })
    }

    pub fn to_toml(&self) -> String {
        format!(
            "# The build dir's settings, written by `djdd init` (docs/host.md).\n{}",
            toml::to_string(self).expect("settings serialise")
        )
    }
}

/// The record of the last build of one variant,
/// `D/state/builds/NAME-VARIANT.toml`, written by `djdd build` and shown by
/// `djdd status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastBuild {
    /// The full commit built.
    pub commit: String,
    /// The site package's version.
    pub version: String,
    /// The env package's HASH.
    pub env_hash: String,
    /// The src package's HASH.
    pub src_hash: String,
    /// When the build finished, seconds since the Unix epoch (UTC).
    pub time: u64,
    /// The file names of the packages of this build (in D/packages).
    pub packages: Vec<String>,
    /// A digest of every input of the build (commit, env, variant settings,
    /// djdd version): equal inputs mean the build is up to date.
    #[serde(default)]
    pub inputs: String,
}

impl LastBuild {
    /// Parses a record; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<LastBuild> {
        toml::from_str(text).map_err(|e| {
            Error::invalid_hint(
                origin,
                format!("not a valid build record: {}", e.to_string().trim_end()),
                "delete it: the next build writes it again",
            )
        })
    }

    /// The record's text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a build record always serialises")
    }
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_time(secs: u64) -> String {
    crate::time::utc(secs as i64)
}

/// Now, in seconds since the epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_refuse_unknown_keys() {
        let none = Settings::default();
        assert_eq!(Settings::parse(&none.to_toml(), "s").unwrap(), none);
        assert!(!none.to_toml().contains("repo"));
        let set = Settings {
            repo: Some(PathBuf::from("/srv/apt")),
        };
        assert!(set.to_toml().contains("repo = \"/srv/apt\"\n"));
        assert_eq!(Settings::parse(&set.to_toml(), "s").unwrap(), set);
        let e = Settings::parse("rep = \"/x\"\n", "D/state/settings.toml").unwrap_err();
        assert!(e.to_string().starts_with("D/state/settings.toml: "), "{e}");
    }

    #[test]
    fn formats_times() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(1_747_699_200), "2025-05-20 00:00:00 UTC");
        assert_eq!(format_time(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
    }

    #[test]
    fn last_build_round_trips() {
        let b = LastBuild {
            commit: "a".repeat(40),
            version: "1.2".into(),
            env_hash: "abc".into(),
            src_hash: "def".into(),
            time: 5,
            packages: vec!["x.deb".into()],
            inputs: "i".into(),
        };
        assert_eq!(LastBuild::parse(&b.to_toml(), "f").unwrap(), b);
        let e = LastBuild::parse("commit = 1", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f.toml: not a valid build record"), "{e}");
    }
}
