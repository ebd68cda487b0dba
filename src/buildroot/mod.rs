//! The build root: a minimal Debian system (debootstrap(8) `--variant=minbase`)
//! in `D/buildroot`, entered through schroot(1), in which every build step
//! runs, so that the packages match the target's Debian, not the host's.
//!
//! Responsible for making it (`init`, resumable and idempotent, with a base
//! tarball cache), for running commands in it ([`BuildRoot::run`]: argument
//! arrays through `schroot`, `setpriv` and `env`, never `sh -c` with a value
//! it was handed), and for installing Debian packages into it (under the
//! build dir's exclusive lock, only when missing). This is the only module
//! that runs processes, all through the [`runner::Runner`] trait so that unit
//! tests can fake it. Follows debootstrap(8), schroot.conf(5), apt-get(8).
//!
//! The build steps that run in it: [`steps`], the generic helpers they are
//! made of (the bounded launcher, the build user's directories, the time
//! limits), on which the others rest; [`mod@env`], the virtualenv, installed by [`uv`] or [`pip`] ([`install`]: what they share); [`sdists`]
//! and [`wheels`], the wheels built from sdists at fixed paths and kept;
//! [`source_tree`], the commit's tree unpacked.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::builddir::{BuildDir, DirLock};
use crate::deb::control::check_package_name;
use crate::error::{Error, Result};

pub mod dpkg;
pub mod env;
pub mod host;
pub mod init;
pub mod install;
pub mod lock_input;
pub mod mounts;
pub mod pip;
pub mod project;
pub mod python;
pub mod runner;
pub mod schroot;
pub mod sdists;
pub mod source_tree;
pub mod steps;
pub mod tarball;
pub mod uv;
pub mod wheels;

use runner::{Cmd, Output, RealRunner, Runner};

pub use schroot::CACHE_INSIDE;

/// The build user and group inside the root: builds run as this user.
pub const BUILD_USER: &str = "djdd";

/// The Debian packages every build root gets (projects bring their own
/// through venv-debian-requirements.txt and src-debian-requirements.txt).
pub const BUILD_PACKAGES: &[&str] = &[
    "python3",
    "python3-venv",
    "python3-dev",
    "build-essential",
    "git",
    "ca-certificates",
];

/// How long to wait for another process's dpkg lock inside the root
/// (`DJDD_DPKG_LOCK_TIMEOUT`, in seconds, overrides it: see
/// [`dpkg_lock_timeout`]).
pub const DPKG_LOCK_TIMEOUT: Duration = Duration::from_secs(600);

/// The dpkg lock timeout: `DJDD_DPKG_LOCK_TIMEOUT` seconds when set to a
/// number, else [`DPKG_LOCK_TIMEOUT`].
pub fn dpkg_lock_timeout() -> Duration {
    std::env::var("DJDD_DPKG_LOCK_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(DPKG_LOCK_TIMEOUT, Duration::from_secs)
}

/// What `djdd init` recorded: `D/state/init.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitState {
    /// Debian suite (codename) of the root.
    pub suite: String,
    /// Debian architecture of the root.
    pub arch: String,
    /// The mirror debootstrap and apt use.
    pub mirror: String,
    /// The build packages installed.
    pub packages: Vec<String>,
    /// The schroot chroot name.
    pub schroot: String,
    /// Steps finished, in order: root, schroot, user, packages, base-tarball.
    pub steps: Vec<String>,
    /// The base tarball the root was extracted from, if it was.
    #[serde(default)]
    pub from_base: Option<String>,
    /// Whether every step is finished.
    pub done: bool,
}

impl InitState {
    /// Parses `D/state/init.toml`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<InitState> {
        toml::from_str(text).map_err(|e| {
            Error::invalid_hint(
                origin,
                format!("not a valid init state: {}", e.to_string().trim_end()),
                "delete it and run `djdd init` again (the root is checked, not rebuilt)",
            )
        })
    }

    /// Reads the state of a build dir, if `djdd init` wrote one.
    pub fn read(dir: &BuildDir) -> Result<Option<InitState>> {
        let path = dir.init_state_file();
        match std::fs::read_to_string(&path) {
            Ok(t) => InitState::parse(&t, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Writes it atomically (not at all when the file already says so).
    pub fn write(&self, dir: &BuildDir) -> Result<()> {
        let path = dir.init_state_file();
        let text = toml::to_string(self).expect("state serialises");
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        crate::builddir::write_atomic(&path, text.as_bytes())
    }

    /// Whether a step is recorded as done.
    pub fn has(&self, step: &str) -> bool {
        self.steps.iter().any(|s| s == step)
    }

    /// Records a step as done.
    pub fn mark(&mut self, step: &str) {
        if !self.has(step) {
            self.steps.push(step.to_string());
        }
    }
}

/// A ready build root.
pub struct BuildRoot {
    dir: BuildDir,
    state: InitState,
    runner: Arc<dyn Runner>,
}

impl std::fmt::Debug for BuildRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildRoot")
            .field("dir", &self.dir)
            .field("state", &self.state)
            .finish()
    }
}

/// The error for a build dir without a finished root.
pub fn not_ready(dir: &BuildDir, why: &str) -> Error {
    Error::invalid_hint(
        format!("build root {}", dir.buildroot().display()),
        why.to_string(),
        format!("run `djdd init --dir {}` first", dir.path().display()),
    )
}

impl BuildRoot {
    /// Opens the finished build root of `dir` (processes run for real).
    pub fn open(dir: &BuildDir) -> Result<BuildRoot> {
        Self::open_with(dir, Arc::new(RealRunner))
    }

    /// Opens the finished build root of `dir`, running processes through
    /// `runner`.
    pub fn open_with(dir: &BuildDir, runner: Arc<dyn Runner>) -> Result<BuildRoot> {
        let state = match InitState::read(dir)? {
            Some(s) if s.done => s,
            Some(_) => {
                return Err(not_ready(
                    dir,
                    "is not finished (`djdd init` was interrupted)",
                ));
            }
            None => return Err(not_ready(dir, "does not exist")),
        };
        if !dir.buildroot().join("usr/bin").is_dir() {
            return Err(not_ready(dir, "is missing"));
        }
        Ok(BuildRoot {
            dir: dir.clone(),
            state,
            runner,
        })
    }

    /// A root being made by `init` (not necessarily finished).
    pub(crate) fn for_init(dir: &BuildDir, state: InitState, runner: Arc<dyn Runner>) -> BuildRoot {
        BuildRoot {
            dir: dir.clone(),
            state,
            runner,
        }
    }

    /// The root's directory on the host (`D/buildroot`).
    pub fn path(&self) -> PathBuf {
        self.dir.buildroot()
    }

    /// The build dir.
    pub fn build_dir(&self) -> &BuildDir {
        &self.dir
    }

    /// What init recorded.
    pub fn state(&self) -> &InitState {
        &self.state
    }

    /// The schroot chroot name.
    pub fn schroot_name(&self) -> &str {
        &self.state.schroot
    }

    /// The root's Debian suite.
    pub fn suite(&self) -> &str {
        &self.state.suite
    }

    /// The root's Debian architecture (e.g. "amd64").
    pub fn arch(&self) -> &str {
        &self.state.arch
    }

    /// The root's Python version, e.g. "3.11", from `/usr/bin/python3`'s
    /// link target (`python3.11`), without running anything.
    pub fn python_version(&self) -> Result<String> {
        python_version_of(&self.path())
    }

    /// The `schroot` command that runs `argv` in the root as `user` (None:
    /// root) in `cwd` with `env` added. Pure: see [`BuildRoot::run`].
    pub fn command(
        &self,
        user: Option<&str>,
        cwd: &str,
        env: &[(&str, &str)],
        argv: &[&str],
    ) -> Result<Cmd> {
        schroot_command(&self.state.schroot, user, cwd, env, argv)
    }

    /// Runs `argv` in the root through a schroot session, as `user` (None:
    /// root) in the directory `cwd` (inside the root) with `env` added to
    /// the login environment; fails unless it exits 0, with the tail of its
    /// output. Arguments go as an array: nothing is interpreted by a shell.
    pub fn run(
        &self,
        user: Option<&str>,
        cwd: &str,
        env: &[(&str, &str)],
        argv: &[&str],
    ) -> Result<Output> {
        self.run_metered(user, cwd, env, argv, None)
    }

    /// As [`BuildRoot::run`], with its output lines counted by a progress
    /// task `(label, meter)`.
    pub fn run_metered(
        &self,
        user: Option<&str>,
        cwd: &str,
        env: &[(&str, &str)],
        argv: &[&str],
        meter: Option<(&str, crate::report::Meter)>,
    ) -> Result<Output> {
        let mut cmd = self.command(user, cwd, env, argv)?;
        if let Some((label, m)) = meter {
            cmd = cmd.meter(label, m);
        }
        self.check_cwd(cwd)?;
        self.runner.check(&cmd)
    }

    /// As [`BuildRoot::run`], but a non-zero exit is returned, not an error.
    pub fn run_unchecked(
        &self,
        user: Option<&str>,
        cwd: &str,
        env: &[(&str, &str)],
        argv: &[&str],
    ) -> Result<Output> {
        let cmd = self.command(user, cwd, env, argv)?;
        self.check_cwd(cwd)?;
        self.runner.run(&cmd)
    }

    fn check_cwd(&self, cwd: &str) -> Result<()> {
        let inside = self.path().join(cwd.trim_start_matches('/'));
        if !inside.is_dir() {
            return Err(Error::invalid(
                format!("directory {cwd} in the build root"),
                format!("does not exist ({})", inside.display()),
            ));
        }
        Ok(())
    }

    /// Ends the schroot sessions of this root that a killed djdd left open
    /// (with their mounts); returns how many. `lock` must be the build
    /// dir's lock held exclusively: then no build is using a session.
    pub fn end_stale_sessions(&self, lock: &DirLock) -> Result<usize> {
        assert!(
            lock.is_exclusive(),
            "sessions are ended under the exclusive lock"
        );
        schroot::end_sessions(self.runner.as_ref(), self.schroot_name())
    }

    /// The packages of `packages` not installed in the root (read from its
    /// dpkg database; virtual packages count when provided).
    pub fn missing_packages(&self, packages: &[String]) -> Result<Vec<String>> {
        for p in packages {
            check_package_name(p.split(':').next().unwrap_or(p)).map_err(|e| {
                Error::invalid(
                    format!("Debian package {}", crate::rules::names::shown(p)),
                    e.to_string(),
                )
            })?;
        }
        dpkg::missing_in_root(&self.path(), packages)
    }

    /// Installs the `packages` missing from the root with apt-get. Does
    /// nothing (and takes no exclusive lock) when all are installed;
    /// otherwise turns `lock` (the caller's shared lock on the build dir)
    /// exclusive, waiting for running builds, installs, and turns it back to
    /// shared. Returns the packages installed.
    pub fn install_packages(&self, lock: &mut DirLock, packages: &[String]) -> Result<Vec<String>> {
        let missing = self.missing_packages(packages)?;
        if missing.is_empty() {
            return Ok(missing);
        }
        let was_exclusive = lock.is_exclusive();
        lock.upgrade(&format!("installing {}", missing.join(" ")))?;
        let result = self.install_locked(packages);
        if !was_exclusive {
            lock.downgrade()?;
        }
        result
    }

    /// The install itself; the caller holds the exclusive lock.
    fn install_locked(&self, packages: &[String]) -> Result<Vec<String>> {
        // Another process may have installed them while we waited.
        let missing = self.missing_packages(packages)?;
        if missing.is_empty() {
            return Ok(missing);
        }
        tracing::info!("installing into the build root: {}", missing.join(" "));
        // Under the exclusive lock no build uses a session: any left open
        // belongs to a killed djdd.
        schroot::end_sessions(self.runner.as_ref(), self.schroot_name())?;
        let lock_timeout = dpkg_lock_timeout();
        dpkg::wait_for_dpkg_lock(&self.path(), lock_timeout)?;
        let env = [("DEBIAN_FRONTEND", "noninteractive")];
        let lock_opt = format!("DPkg::Lock::Timeout={}", lock_timeout.as_secs());
        // Finish what an interrupted dpkg left half-configured.
        self.run(None, "/", &env, &["dpkg", "--configure", "-a"])?;
        let mut install: Vec<&str> = vec![
            "apt-get",
            "install",
            "--yes",
            "--no-install-recommends",
            "-o",
            &lock_opt,
        ];
        install.extend(missing.iter().map(String::as_str));
        let cmd = self
            .command(None, "/", &env, &install)?
            .progress(apt_progress)
            .meter("apt-get install", crate::report::Meter::Apt);
        let first = self.runner.run(&cmd)?;
        if !first.status.success() {
            // The package lists may be missing or stale (a root from an
            // old tarball): refresh them once and try again.
            tracing::info!("updating the build root's package lists");
            self.run(None, "/", &env, &["apt-get", "update", "-o", &lock_opt])?;
            self.runner.check(&cmd).map_err(|e| match e {
                Error::Command { output, .. } => Error::invalid(
                    format!("installing {} into the build root", missing.join(" ")),
                    format!("apt-get failed:\n{output}"),
                ),
                e => e,
            })?;
        }
        self.run(None, "/", &env, &["apt-get", "clean"])?;
        let still = self.missing_packages(packages)?;
        if !still.is_empty() {
            return Err(Error::invalid(
                format!("installing {} into the build root", still.join(" ")),
                "apt-get succeeded but they are still not installed",
            ));
        }
        Ok(missing)
    }
}

/// Which apt-get lines are progress worth showing.
fn apt_progress(line: &str) -> bool {
    ["Need to get", "Fetched ", "E:", "W:"]
        .iter()
        .any(|p| line.starts_with(p))
}

/// The Python version of the root at `root` ("3.11"), from the
/// `usr/bin/python3` link.
pub fn python_version_of(root: &Path) -> Result<String> {
    let link = root.join("usr/bin/python3");
    let target = std::fs::read_link(&link).map_err(|e| Error::io(&link, e))?;
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.strip_prefix("python")
        .filter(|v| v.starts_with("3.") && v[2..].chars().all(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .ok_or_else(|| {
            Error::invalid(
                link.display().to_string(),
                format!("points to {}, not to python3.X", target.display()),
            )
        })
}

/// The `schroot` command running `argv` in chroot `name` (see
/// [`BuildRoot::run`]): `schroot -c NAME -u root -d CWD -- setpriv
/// --pdeathsig TERM [--reuid=U ... --reset-env] -- env
/// --default-signal=PIPE -- K=V... ARGV...` (schroot runs with SIGPIPE
/// ignored, see [`Cmd::ignore_sigpipe`]).
/// schroot looks users up on the host, and the build user exists only
/// inside the root, so a user other than root is entered with setpriv(1)
/// inside the session.
pub fn schroot_command(
    name: &str,
    user: Option<&str>,
    cwd: &str,
    env: &[(&str, &str)],
    argv: &[&str],
) -> Result<Cmd> {
    if !cwd.starts_with('/') {
        return Err(Error::invalid(
            format!("directory {}", crate::rules::names::shown(cwd)),
            "must be an absolute path inside the build root",
        ));
    }
    let Some(program) = argv.first() else {
        return Err(Error::invalid("command", "is empty"));
    };
    if program.is_empty() || program.starts_with('-') || program.contains('=') {
        return Err(Error::invalid(
            format!("command {}", crate::rules::names::shown(program)),
            "must name a program (not empty, no leading '-', no '=')",
        ));
    }
    // setpriv --pdeathsig: when schroot dies without passing a signal on
    // (it was SIGKILLed, e.g. with djdd's whole process group), the command
    // gets SIGTERM; `timeout` (build steps) passes it to its process group.
    let mut cmd = Cmd::new("schroot").ignore_sigpipe().args([
        "-c",
        name,
        "-u",
        "root",
        "-d",
        cwd,
        "--",
        "setpriv",
        "--pdeathsig",
        "TERM",
    ]);
    if let Some(u) = user {
        if u != "root" {
            let ok = u
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                && u.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !ok {
                return Err(Error::invalid(
                    format!("user {}", crate::rules::names::shown(u)),
                    "is not a user name ([a-z_][a-z0-9_-]*)",
                ));
            }
            cmd = cmd.args([
                &format!("--reuid={u}"),
                &format!("--regid={u}"),
                "--init-groups",
                "--reset-env",
            ]);
        }
    }
    cmd = cmd.args(["--", "env", "--default-signal=PIPE", "--"]);
    for (k, v) in env {
        let ok = k
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(Error::invalid(
                format!("environment name {}", crate::rules::names::shown(k)),
                "must match [A-Za-z_][A-Za-z0-9_]*",
            ));
        }
        if v.contains('\0') {
            return Err(Error::invalid(
                format!("environment {k}"),
                "contains a NUL byte",
            ));
        }
        cmd = cmd.arg(format!("{k}={v}"));
    }
    Ok(cmd.args(argv))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records commands; answers from a script of (program-and-args
    /// prefix, exit code, stdout).
    struct Fake {
        seen: Mutex<Vec<String>>,
        script: Vec<(&'static str, i32, &'static str)>,
    }

    impl Runner for Fake {
        fn run_io(
            &self,
            cmd: &Cmd,
            _i: Option<&mut (dyn std::io::Read + Send)>,
            _o: Option<&mut (dyn std::io::Write + Send)>,
        ) -> Result<Output> {
            let line = cmd.display();
            self.seen.lock().unwrap().push(line.clone());
            for (prefix, code, out) in &self.script {
                if line.contains(prefix) {
                    return Ok(Output::fake(*code, out, out));
                }
            }
            Ok(Output::fake(0, "", ""))
        }
    }

    #[test]
    fn command_is_an_argument_array_through_setpriv_and_env() {
        let c = schroot_command(
            "djdd-abc",
            Some("djdd"),
            "/usr/lib/x",
            &[("A", "$(touch /tmp/pwned) 'q'")],
            &["python3", "-c", "print(1)"],
        )
        .unwrap();
        let args: Vec<String> = c
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(c.program, "schroot");
        assert_eq!(
            args,
            [
                "-c",
                "djdd-abc",
                "-u",
                "root",
                "-d",
                "/usr/lib/x",
                "--",
                "setpriv",
                "--pdeathsig",
                "TERM",
                "--reuid=djdd",
                "--regid=djdd",
                "--init-groups",
                "--reset-env",
                "--",
                "env",
                "--default-signal=PIPE",
                "--",
                "A=$(touch /tmp/pwned) 'q'",
                "python3",
                "-c",
                "print(1)"
            ]
        );
        let root = schroot_command("n", None, "/", &[], &["true"]).unwrap();
        assert!(
            root.display()
                .ends_with("-- setpriv --pdeathsig TERM -- env --default-signal=PIPE -- true"),
            "{}",
            root.display()
        );
    }

    #[test]
    fn command_refuses_what_could_be_misread() {
        for (user, cwd, env, argv) in [
            (None, "rel", vec![], vec!["true"]),
            (None, "/", vec![], vec![]),
            (None, "/", vec![], vec!["-rf"]),
            (None, "/", vec![], vec!["A=b"]),
            (Some("-u"), "/", vec![], vec!["true"]),
            (None, "/", vec![("A=B", "c")], vec!["true"]),
        ] {
            assert!(
                schroot_command("n", user, cwd, &env, &argv).is_err(),
                "{user:?} {cwd} {env:?} {argv:?}"
            );
        }
    }

    fn fake_root(status: &str) -> (tempfile::TempDir, BuildDir) {
        let t = tempfile::tempdir().unwrap();
        let d = BuildDir::create(t.path()).unwrap();
        let root = d.buildroot();
        std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("var/lib/dpkg/status"), status).unwrap();
        std::os::unix::fs::symlink("python3.11", root.join("usr/bin/python3")).unwrap();
        (t, d)
    }

    fn state() -> InitState {
        InitState {
            suite: "bookworm".into(),
            arch: "amd64".into(),
            mirror: "http://deb.debian.org/debian".into(),
            packages: vec![],
            schroot: "djdd-test".into(),
            steps: vec![],
            from_base: None,
            done: true,
        }
    }

    #[test]
    fn install_does_nothing_when_all_are_there() {
        let (_t, d) = fake_root("Package: git\nStatus: install ok installed\n");
        let fake = Arc::new(Fake {
            seen: Mutex::new(vec![]),
            script: vec![],
        });
        let root = BuildRoot::for_init(&d, state(), fake.clone());
        let mut lock = d.lock_shared().unwrap();
        assert!(
            root.install_packages(&mut lock, &["git".to_string()])
                .unwrap()
                .is_empty()
        );
        assert!(fake.seen.lock().unwrap().is_empty());
        assert!(!lock.is_exclusive());
        assert_eq!(root.python_version().unwrap(), "3.11");
    }

    #[test]
    fn install_refuses_names_that_are_not_packages() {
        let (_t, d) = fake_root("");
        let fake = Arc::new(Fake {
            seen: Mutex::new(vec![]),
            script: vec![],
        });
        let root = BuildRoot::for_init(&d, state(), fake.clone());
        let mut lock = d.lock_shared().unwrap();
        let e = root
            .install_packages(&mut lock, &["-o=APT::x".to_string()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("Debian package '-o=APT::x'"), "{e}");
        assert!(fake.seen.lock().unwrap().is_empty());
    }

    #[test]
    fn install_runs_apt_get_exclusively_and_reports_failure() {
        let (_t, d) = fake_root("");
        let fake = Arc::new(Fake {
            seen: Mutex::new(vec![]),
            script: vec![("apt-get install", 100, "E: Unable to locate package nosuch")],
        });
        let root = BuildRoot::for_init(&d, state(), fake.clone());
        let mut lock = d.lock_shared().unwrap();
        let e = root
            .install_packages(&mut lock, &["nosuch".to_string()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("Unable to locate package nosuch"), "{e}");
        // Back to shared after the attempt.
        assert!(!lock.is_exclusive());
        let seen = fake.seen.lock().unwrap();
        let joined = seen.join("\n");
        assert!(joined.contains("--all-sessions"), "{joined}");
        assert!(joined.contains("dpkg --configure -a"), "{joined}");
        assert!(joined.contains("DEBIAN_FRONTEND=noninteractive apt-get install --yes --no-install-recommends -o DPkg::Lock::Timeout=600 nosuch"), "{joined}");
        assert!(joined.contains("apt-get update"), "{joined}");
    }

    #[test]
    fn open_says_run_init_first() {
        let t = tempfile::tempdir().unwrap();
        let d = BuildDir::create(t.path()).unwrap();
        let e = BuildRoot::open(&d).unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
        assert!(e.contains("run `djdd init --dir"), "{e}");
    }
}
