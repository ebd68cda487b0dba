//! `djdd init`: make (or finish) the build root of a build dir.
//!
//! Steps, each checked against the real state before it runs, so that a
//! rerun after `kill -9` at any point finishes the job and a rerun on a
//! finished root changes nothing:
//! 1. `root`: extract the base tarball if the cache has one, else
//!    debootstrap(8) `--variant=minbase`; either into `D/buildroot.tmp`,
//!    renamed to `D/buildroot` only when complete (a half root is removed,
//!    after stopping what the killed run left running and unmounting what
//!    debootstrap had mounted);
//! 2. `schroot`: the chroot definition and profile (schroot.conf(5));
//! 3. `user`: the build user and group `djdd` inside the root;
//! 4. `packages`: the build packages (apt-get, under the exclusive lock);
//! 5. `base-tarball`: save the finished root in the cache for the next
//!    build dir.
//!
//! Progress goes to `tracing`; the steps done are recorded atomically in
//! `D/state/init.toml`. Needs root; says so before touching anything.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::builddir::{BuildDir, NamedLock};
use crate::buildroot::runner::{Cmd, RealRunner, Runner, reap_group};
use crate::buildroot::{
    BUILD_PACKAGES, BUILD_USER, BuildRoot, InitState, host, mounts, schroot, tarball,
};
use crate::error::{Error, Result};

/// Where debootstrap keeps its suite scripts.
pub const DEBOOTSTRAP_SCRIPTS: &str = "/usr/share/debootstrap/scripts";

/// What the user asked for; `None`: the host's own (or the existing root's).
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    pub suite: Option<String>,
    pub arch: Option<String>,
    pub mirror: Option<String>,
}

/// What `init` did.
#[derive(Debug, Clone)]
pub struct InitReport {
    pub state: InitState,
    /// The steps that did some work this time (empty: nothing to do).
    pub ran: Vec<String>,
}

/// Makes or finishes the build root of the build dir at `path`.
pub fn init(path: &Path, opts: &InitOptions) -> Result<InitReport> {
    init_with(path, opts, Arc::new(RealRunner))
}

/// Checks what must hold before anything is written: root, programs.
pub fn preflight() -> Result<()> {
    if !host::is_root() {
        return Err(Error::invalid_hint(
            "djdd init",
            "must run as root: it runs debootstrap, writes /etc/schroot and installs packages into the build root",
            "run it as root (sudo djdd init ...)",
        ));
    }
    for (program, package) in [
        ("debootstrap", "debootstrap"),
        ("schroot", "schroot"),
        ("tar", "tar"),
    ] {
        if host::which(program).is_none() {
            return Err(Error::MissingProgram {
                program: program.to_string(),
                package: package.to_string(),
            });
        }
    }
    Ok(())
}

fn check_word(what: &str, v: &str, extra: &str) -> Result<()> {
    let ok = v
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("{what} {}", crate::rules::names::shown(v)),
            format!("must be lowercase letters, digits and {extra:?}"),
        ))
    }
}

/// Checks a mirror URL: http(s) or file, one printable word.
pub fn check_mirror(m: &str) -> Result<()> {
    let ok = (m.starts_with("http://") || m.starts_with("https://") || m.starts_with("file:/"))
        && !m.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("--mirror {}", crate::rules::names::shown(m)),
            "must be an http://, https:// or file:/ URL without spaces",
        ))
    }
}

fn pick(
    what: &str,
    asked: &Option<String>,
    existing: Option<&str>,
    dir: &Path,
) -> Result<Option<String>> {
    match (asked, existing) {
        (Some(a), Some(e)) if a != e => Err(Error::invalid_hint(
            format!("--{what} {a}"),
            format!(
                "the build root of {} was made with {what} {e}",
                dir.display()
            ),
            format!(
                "use another --dir, or remove {0}/buildroot and {0}/state/init.toml to make a new root",
                dir.display()
            ),
        )),
        (Some(a), _) => Ok(Some(a.clone())),
        (None, Some(e)) => Ok(Some(e.to_string())),
        (None, None) => Ok(None),
    }
}

/// [`init`] with processes run through `runner`.
pub fn init_with(path: &Path, opts: &InitOptions, runner: Arc<dyn Runner>) -> Result<InitReport> {
    preflight()?;
    // A directory that is there, not empty, and not ours is refused.
    if path.is_dir()
        && !path.join(".lock").is_file()
        && std::fs::read_dir(path)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    {
        return Err(Error::invalid_hint(
            format!("build directory {}", path.display()),
            "exists, is not empty and is not a djdd build directory",
            "give an empty or new directory with --dir",
        ));
    }
    let existing = match std::fs::read_to_string(path.join("state/init.toml")) {
        Ok(t) => Some(InitState::parse(
            &t,
            &path.join("state/init.toml").display().to_string(),
        )?),
        Err(_) => None,
    };
    let ex = existing.as_ref();
    let suite = match pick("suite", &opts.suite, ex.map(|s| s.suite.as_str()), path)? {
        Some(s) => s,
        None => host::read_host_suite().ok_or_else(|| {
            Error::invalid_hint(
                "the host's Debian suite",
                "is not in /etc/os-release (no VERSION_CODENAME)",
                "give one with --suite, e.g. --suite bookworm",
            )
        })?,
    };
    check_word("suite", &suite, "-.")?;
    let arch = match pick("arch", &opts.arch, ex.map(|s| s.arch.as_str()), path)? {
        Some(a) => a,
        None => runner
            .check(&Cmd::new("dpkg").arg("--print-architecture"))?
            .text(),
    };
    check_word("architecture", &arch, "-")?;
    let mirror = match pick("mirror", &opts.mirror, ex.map(|s| s.mirror.as_str()), path)? {
        Some(m) => m,
        None => host::pick_mirror(&host::read_host_sources(Path::new("/etc/apt")), &suite),
    };
    let mirror = mirror.trim_end_matches('/').to_string();
    check_mirror(&mirror)?;
    let have_root = path.join("buildroot").is_dir();
    if !have_root && !Path::new(DEBOOTSTRAP_SCRIPTS).join(&suite).is_file() {
        return Err(unknown_suite(&suite, "debootstrap has no script for it"));
    }

    let dir = BuildDir::create(path)?;
    let _init_lock = dir.lock_init()?;
    let mut lock = dir.lock_shared()?;
    let packages: Vec<String> = BUILD_PACKAGES.iter().map(|s| s.to_string()).collect();
    let mut state = InitState::read(&dir)?.unwrap_or(InitState {
        suite: suite.clone(),
        arch: arch.clone(),
        mirror: mirror.clone(),
        packages: packages.clone(),
        schroot: dir.schroot_name(),
        steps: Vec::new(),
        from_base: None,
        done: false,
    });
    if state.packages != packages {
        state.packages = packages.clone();
        state.done = false;
    }
    let mut ran = Vec::new();
    let root = dir.buildroot();
    let group_file = dir.state_dir().join("init-child.pid");
    let cache = tarball::cache_dir();
    let key = tarball::key(&suite, &arch, &mirror, &packages);
    let base = tarball::path(&cache, &suite, &arch, &key);
    let base_lock_path = cache.join(format!("{key}.lock"));
    let base_what = format!("another djdd making the base tarball {}", base.display());
    let mut base_lock: Option<NamedLock> = None;

    // 1. root
    if !root.is_dir() {
        state.done = false;
        state.steps.clear();
        state.write(&dir)?;
        if reap_group(&group_file)? {
            ran.push("stopped left-over processes".to_string());
        }
        let tmp = dir.path().join("buildroot.tmp");
        if tmp.exists() {
            tracing::info!(
                "removing the half-made root {} of an interrupted run",
                tmp.display()
            );
            mounts::remove_tree(runner.as_ref(), &tmp)?;
        }
        std::fs::create_dir_all(&cache).map_err(|e| Error::io(&cache, e))?;
        base_lock = Some(NamedLock::take(&base_lock_path, &base_what)?);
        if base.is_file() {
            tarball::extract(runner.as_ref(), &base, &tmp, Some(group_file.clone()))?;
            state.from_base = Some(base.display().to_string());
            base_lock = None;
            ran.push(format!("root (from {})", base.display()));
        } else {
            debootstrap(runner.as_ref(), &suite, &arch, &mirror, &tmp, &group_file)?;
            state.from_base = None;
            ran.push("root (debootstrap)".to_string());
        }
        std::fs::rename(&tmp, &root).map_err(|e| Error::io(&root, e))?;
    }
    state.mark("root");
    state.write(&dir)?;

    // 2. schroot
    let mount_point = root.join(schroot::CACHE_INSIDE.trim_start_matches('/'));
    std::fs::create_dir_all(&mount_point).map_err(|e| Error::io(&mount_point, e))?;
    for gone in schroot::prune_stale(&state.schroot) {
        tracing::info!("removed the schroot config {gone} of a build dir that no longer exists");
    }
    let files = schroot::render(
        &state.schroot,
        dir.path(),
        &root,
        &dir.cache_dir(),
        Path::new("/dev/shm").is_dir(),
    )?;
    if schroot::write_config(&files)? {
        ran.push(format!("schroot config {}", state.schroot));
    }
    state.mark("schroot");
    state.write(&dir)?;

    // 3. user
    let br = BuildRoot::for_init(&dir, state.clone(), runner.clone());
    if passwd_entry(&root, "etc/passwd", BUILD_USER).is_none() {
        tracing::info!("creating the build user {BUILD_USER} in the root");
        if passwd_entry(&root, "etc/group", BUILD_USER).is_none() {
            br.run(None, "/", &[], &["groupadd", "--system", BUILD_USER])?;
        }
        br.run(
            None,
            "/",
            &[],
            &[
                "useradd",
                "--system",
                "--gid",
                BUILD_USER,
                "--create-home",
                "--home-dir",
                "/home/djdd",
                "--shell",
                "/bin/bash",
                BUILD_USER,
            ],
        )?;
        ran.push(format!("build user {BUILD_USER}"));
    }
    let (uid, gid) = passwd_entry(&root, "etc/passwd", BUILD_USER).ok_or_else(|| {
        Error::invalid(
            format!("user {BUILD_USER} in {}/etc/passwd", root.display()),
            "is missing after useradd",
        )
    })?;
    let pip = dir.pip_cache_dir();
    std::os::unix::fs::chown(&pip, Some(uid), Some(gid)).map_err(|e| Error::io(&pip, e))?;
    state.mark("user");
    state.write(&dir)?;

    // 4. packages
    let installed = br.install_packages(&mut lock, &packages)?;
    if !installed.is_empty() {
        ran.push(format!("packages {}", installed.join(" ")));
    }
    state.mark("packages");
    state.write(&dir)?;

    // 5. base tarball
    if !base.is_file() {
        if base_lock.is_none() {
            base_lock = Some(NamedLock::take(&base_lock_path, &base_what)?);
        }
        if !base.is_file() {
            lock.upgrade("saving the base tarball")?;
            tarball::create(runner.as_ref(), &root, &base)?;
            lock.downgrade()?;
            ran.push(format!("base tarball {}", base.display()));
        }
    }
    drop(base_lock);
    state.mark("base-tarball");
    state.done = true;
    state.write(&dir)?;
    Ok(InitReport { state, ran })
}

/// The error for a suite debootstrap does not know.
fn unknown_suite(suite: &str, why: &str) -> Error {
    Error::invalid_hint(
        format!("unknown suite '{suite}'"),
        why.to_string(),
        "give a Debian codename such as bookworm or trixie with --suite",
    )
}

/// Which debootstrap lines are progress worth showing (not the per-package
/// ones).
fn debootstrap_progress(line: &str) -> bool {
    if line.starts_with("E:") || line.starts_with("W:") {
        return true;
    }
    let Some(rest) = line.strip_prefix("I: ") else {
        return false;
    };
    let words = |r: &str| r.trim().trim_end_matches("...").split_whitespace().count();
    let per_package = ["Extracting ", "Unpacking ", "Configuring "]
        .iter()
        .any(|p| rest.strip_prefix(p).is_some_and(|r| words(r) == 1))
        || ["Retrieving ", "Validating "]
            .iter()
            .any(|p| rest.strip_prefix(p).is_some_and(|r| words(r) == 2));
    !per_package
}

fn debootstrap(
    runner: &dyn Runner,
    suite: &str,
    arch: &str,
    mirror: &str,
    target: &Path,
    group_file: &Path,
) -> Result<()> {
    tracing::info!(
        "debootstrap {suite} ({arch}) from {mirror} into {} (a minute or two)",
        target.display()
    );
    let start = std::time::Instant::now();
    let cmd = Cmd::new("debootstrap")
        .arg("--variant=minbase")
        .arg(format!("--arch={arch}"))
        .arg(suite)
        .arg(target)
        .arg(mirror)
        .progress(debootstrap_progress)
        .meter("debootstrap", crate::report::Meter::Debootstrap)
        .group_file(Some(PathBuf::from(group_file)));
    let out = runner.run(&cmd)?;
    if !out.status.success() {
        let tail = out.tail.clone();
        if tail.contains("No such script") {
            return Err(unknown_suite(suite, "debootstrap has no script for it"));
        }
        if tail.contains("Failed getting release file") {
            return Err(unknown_suite(
                suite,
                &format!(
                    "the mirror {mirror} has no release file for it ({mirror}/dists/{suite}/Release)"
                ),
            ));
        }
        out.check(&cmd)?;
    }
    tracing::debug!(
        "debootstrap finished in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The (uid, gid) of `name` in the root's passwd-format file `file`
/// (etc/passwd or etc/group: for a group, both are its gid).
pub fn passwd_entry(root: &Path, file: &str, name: &str) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(root.join(file)).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.first() != Some(&name) || f.len() < 3 {
            return None;
        }
        let id: u32 = f[2].parse().ok()?;
        let gid: u32 = f.get(3).and_then(|g| g.parse().ok()).unwrap_or(id);
        Some((id, gid))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_hides_per_package_lines() {
        assert!(debootstrap_progress("I: Retrieving InRelease "));
        assert!(debootstrap_progress("I: Retrieving Packages "));
        assert!(!debootstrap_progress("I: Retrieving libc6 2.36-9"));
        assert!(!debootstrap_progress("I: Extracting bash..."));
        assert!(debootstrap_progress("I: Unpacking the base system..."));
        assert!(debootstrap_progress(
            "I: Base system installed successfully."
        ));
        assert!(!debootstrap_progress("I: Configuring libc-bin..."));
        assert!(!debootstrap_progress("I: Unpacking libc6:amd64..."));
        assert!(!debootstrap_progress("I: Validating adduser 3.134"));
        assert!(debootstrap_progress("I: Unpacking required packages..."));
        assert!(debootstrap_progress("I: Validating Packages "));
        assert!(debootstrap_progress("E: Failed getting release file"));
    }

    /// Answers every command with one exit code and output.
    struct Answer(i32, &'static str);

    impl Runner for Answer {
        fn run_io(
            &self,
            _cmd: &Cmd,
            _i: Option<&mut (dyn std::io::Read + Send)>,
            _o: Option<&mut (dyn std::io::Write + Send)>,
        ) -> Result<crate::buildroot::runner::Output> {
            Ok(crate::buildroot::runner::Output::fake(self.0, "", self.1))
        }
    }

    #[test]
    fn debootstrap_failures_name_the_suite() {
        let t = tempfile::tempdir().unwrap();
        let g = t.path().join("g");
        let e = debootstrap(
            &Answer(1, "I: Retrieving InRelease\nE: Failed getting release file http://m/debian/dists/xyz/Release"),
            "xyz",
            "amd64",
            "http://m/debian",
            t.path(),
            &g,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("unknown suite 'xyz': the mirror http://m/debian has no release file"),
            "{e}"
        );
        let e = debootstrap(
            &Answer(1, "E: No such script: /x/xyz"),
            "xyz",
            "amd64",
            "http://m",
            t.path(),
            &g,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("unknown suite 'xyz': debootstrap has no script"),
            "{e}"
        );
        let e = debootstrap(
            &Answer(1, "E: Couldn't download packages: libc6"),
            "bookworm",
            "amd64",
            "http://m",
            t.path(),
            &g,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`debootstrap --variant=minbase --arch=amd64 bookworm"),
            "{e}"
        );
        assert!(e.contains("| E: Couldn't download packages: libc6"), "{e}");
    }

    #[test]
    fn passwd_lookup() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("etc")).unwrap();
        std::fs::write(
            t.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/bash\ndjdd:x:999:998::/home/djdd:/bin/bash\n",
        )
        .unwrap();
        assert_eq!(
            passwd_entry(t.path(), "etc/passwd", "djdd"),
            Some((999, 998))
        );
        assert_eq!(passwd_entry(t.path(), "etc/passwd", "djd"), None);
    }

    #[test]
    fn options_must_match_the_existing_root() {
        let d = Path::new("/d");
        assert_eq!(
            pick("suite", &None, Some("bookworm"), d)
                .unwrap()
                .as_deref(),
            Some("bookworm")
        );
        let e = pick("suite", &Some("trixie".into()), Some("bookworm"), d)
            .unwrap_err()
            .to_string();
        assert!(e.contains("made with suite bookworm"), "{e}");
        assert!(check_mirror("http://deb.debian.org/debian").is_ok());
        assert!(check_mirror("-o foo").is_err());
        assert!(check_word("suite", "../x", "-.").is_err());
        assert!(check_word("suite", "-x", "-.").is_err());
    }
}
