//! The env installed by uv ([`crate::plan::Installer::Uv`]): uv
//! [`UV_VERSION`] lives in a tool directory of the build root
//! ([`tool_dir`]), installed once by the root's own python from the index
//! pip uses, its wheel checked against the sha256 pinned for the root's
//! architecture; never in the env.
//!
//! A resolution is `uv pip compile` of the requirements (with djdd's own
//! lines) to a pylock.toml, from which djdd picks, for each package, the
//! archive this interpreter installs ([`SELECT_SCRIPT`]): the lock
//! (`requirements.lock`, the format pip's path writes) and the sdists djdd
//! builds itself at their fixed path ([`super::sdists`]). Then, as from a
//! known lock, `uv pip install --no-deps --require-hashes --no-build`:
//! first `--offline`, from uv's cache, and only when that cannot, against
//! the index. Files are copied out of uv's cache (`UV_LINK_MODE=copy`),
//! never linked: djdd strips and rewrites them in place. Every installed
//! file is checked against its RECORD (`scripts/dist_info.py verify`); a mismatch
//! (a damaged cache entry) drops those distributions from uv's cache and
//! installs them again from the index.
//!
//! uv's cache is the build dir's (`D/cache/uv/env-format-N/pythonX.Y-ARCH`),
//! one per env format, Python and architecture.

use std::path::{Path, PathBuf};

use crate::buildroot::install::{
    EnvBuild, LOCK_FILE, drop_args, lock_error, lock_refused, log_kept_wheels, log_resolving,
    resolve_error_of, run_dist_info,
};
use crate::buildroot::sdists::{self, Sdist};
use crate::buildroot::steps::{
    PIP_TIMEOUT, give_cache_dir, host_ca, host_path, remove_in_root, run_step, run_step_metered,
};
use crate::buildroot::{BUILD_USER, BuildRoot, wheels};
use crate::error::{Error, Result};
use crate::plan::Locked;
use crate::plan::installer::{UV_VERSION, uv_wheel_sha256};

/// Where uv is installed inside the root: `/opt/djdd/uv-VERSION` (a
/// virtualenv of the root's python holding only uv).
pub fn tool_dir() -> String {
    format!("/opt/djdd/uv-{UV_VERSION}")
}

/// The marker of a finished tool install, in [`tool_dir`].
const TOOL_DONE: &str = ".djdd-complete";

/// Picks each package's archive from a pylock.toml (see its header).
pub(crate) const SELECT_SCRIPT: &str = include_str!("scripts/pylock.py");
/// The requirements djdd adds, in the share dir while uv resolves.
const PROVIDED_FILE: &str = ".djdd-provided.txt";
/// uv's resolution, in the share dir while djdd reads it (uv wants
/// `pylock.NAME.toml`).
const PYLOCK_FILE: &str = "pylock.djdd-resolution.toml";
/// The lock with the hashes of kept wheels added, while uv installs it.
const INSTALL_FILE: &str = ".djdd-install.lock";

/// `D/cache/uv/env-format-N/pythonX.Y-ARCH` on the host.
pub fn cache_dir(cache: &Path, python: &str, arch: &str) -> PathBuf {
    cache
        .join("uv")
        .join(format!("env-format-{}", crate::plan::ENV_FORMAT))
        .join(format!("python{python}-{arch}"))
}

/// uv's cache inside the root (the cache dir's bind mount).
fn cache_inside(python: &str, arch: &str) -> String {
    format!(
        "{}/uv/env-format-{}/python{python}-{arch}",
        crate::buildroot::CACHE_INSIDE,
        crate::plan::ENV_FORMAT
    )
}

/// Installs uv into [`tool_dir`] unless a finished install is there:
/// a virtualenv of `python` (`/usr/bin/python3.X`), then `pip install
/// --require-hashes` of the one wheel pinned for the root's architecture
/// (downloaded once into the build dir's cache, `D/cache/tools`). As root,
/// so the build user (and the project's code) cannot change it. Returns
/// the path of `uv` inside the root.
pub fn ensure_tool(root: &BuildRoot, python: &str, env: &[(String, String)]) -> Result<String> {
    let dir = tool_dir();
    let uv = format!("{dir}/bin/uv");
    let done = host_path(root, &format!("{dir}/{TOOL_DONE}"));
    if done.is_file() {
        return Ok(uv);
    }
    // Two builds in one fresh root (two envs at once) would both install
    // it, one removing the other's half-made tree: one installs while the
    // other waits, then finds it done. The lock is the root's, beside the
    // tool dir; it is released when the file is closed (or djdd dies).
    let lock_path = host_path(root, &format!("/opt/djdd/.uv-{UV_VERSION}.lock"));
    if let Some(parent) = lock_path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, e))?;
    crate::flock::lock(&lock).map_err(|e| Error::io(&lock_path, e))?;
    if done.is_file() {
        return Ok(uv);
    }
    let sha = uv_wheel_sha256(root.arch())?;
    tracing::info!("installing uv {UV_VERSION} into {dir} in the build root");
    remove_in_root(root, &dir)?;
    run_step(root, None, "/", env, 300, &[python, "-m", "venv", &dir])?;
    let req = format!("{dir}/requirement.txt");
    let p = host_path(root, &req);
    std::fs::write(&p, format!("uv=={UV_VERSION} --hash=sha256:{sha}\n"))
        .map_err(|e| Error::io(&p, e))?;
    let tools = format!("{}/tools", crate::buildroot::CACHE_INSIDE);
    let pip = format!("{dir}/bin/pip");
    let pip_run = |args: &[&str]| {
        let argv: Vec<&str> = std::iter::once(pip.as_str())
            .chain(args.iter().copied())
            .collect();
        run_step(root, None, "/", env, PIP_TIMEOUT, &argv)
    };
    let fetched = pip_run(&[
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--require-hashes",
        "--dest",
        &tools,
        "--requirement",
        &req,
    ])
    .and_then(|_| {
        pip_run(&[
            "install",
            "--no-index",
            "--no-deps",
            "--require-hashes",
            "--find-links",
            &tools,
            "--requirement",
            &req,
        ])
    });
    if let Err(e) = fetched {
        let _ = remove_in_root(root, &dir);
        return Err(match e {
            Error::Command { status, output, .. } => Error::Command {
                command: format!(
                    "installing uv {UV_VERSION} (sha256 {sha}) into {dir} in the build root"
                ),
                status,
                output,
            },
            other => other,
        });
    }
    let out = run_step(root, None, "/", env, 60, &[&uv, "--version"])?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if said.split_whitespace().nth(1) != Some(UV_VERSION) {
        let _ = remove_in_root(root, &dir);
        return Err(Error::invalid(
            format!("{uv} in the build root"),
            format!("says {said:?}, not uv {UV_VERSION}"),
        ));
    }
    std::fs::write(&done, format!("{said}\n")).map_err(|e| Error::io(&done, e))?;
    drop(lock);
    Ok(uv)
}

/// The environment of uv's runs: `base` (the env build's: PATH, HOME,
/// SOURCE_DATE_EPOCH, the compiler flags, pip's variables for the sdists
/// djdd builds) with uv's cache, copies instead of links, no progress
/// bars, no Python downloads, no uv.toml or pyproject.toml of the project
/// read, pip's meaning of extra indexes (the best match of all), and the
/// host's CA. Makes the cache dir on the host, the build user's.
pub(crate) fn uv_env(
    root: &BuildRoot,
    cache: &Path,
    python: &str,
    base: &[(String, String)],
) -> Result<Vec<(String, String)>> {
    give_cache_dir(root, cache, &cache_dir(cache, python, root.arch()))?;
    let mut env = base.to_vec();
    for (k, v) in [
        ("UV_CACHE_DIR", cache_inside(python, root.arch())),
        ("UV_LINK_MODE", "copy".into()),
        ("UV_NO_PROGRESS", "1".into()),
        ("UV_PYTHON_DOWNLOADS", "never".into()),
        ("UV_NO_CONFIG", "1".into()),
        ("UV_INDEX_STRATEGY", "unsafe-best-match".into()),
    ] {
        env.push((k.to_string(), v));
    }
    if let Some(ca) = host_ca(root)? {
        env.push(("SSL_CERT_FILE".into(), ca.into()));
    }
    Ok(env)
}

/// One package of a resolution as [`SELECT_SCRIPT`] prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picked {
    /// `wheel`, `sdist`, `none` or `mismatch`.
    pub kind: String,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub url: String,
    /// Named by its URL (`NAME @ URL`), not found on an index.
    pub direct: bool,
}

impl Picked {
    /// The requirement before its hash: `NAME==VERSION` or `NAME @ URL`.
    fn requirement(&self) -> String {
        if self.direct {
            format!("{} @ {}", self.name, self.url)
        } else {
            format!("{}=={}", self.name, self.version)
        }
    }

    /// Its `requirements.lock` line (the format of pip's path).
    pub fn lock_line(&self) -> String {
        if self.direct {
            format!(
                "{} --hash=sha256:{}  # {}",
                self.requirement(),
                self.sha256,
                self.version
            )
        } else {
            format!("{} --hash=sha256:{}", self.requirement(), self.sha256)
        }
    }
}

/// Reads [`SELECT_SCRIPT`]'s lines; a line that could not be part of a
/// lock (a name, version or hash with other characters) is refused,
/// naming it.
pub fn parse_picked(text: &str) -> std::result::Result<Vec<Picked>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| format!("line {} ({line:?}): {why}", i + 1);
        let f: Vec<&str> = line.split('\t').collect();
        let [kind, name, version, sha, url, direct] = f[..] else {
            return Err(bad("not six tab-separated fields"));
        };
        if !matches!(kind, "wheel" | "sdist" | "none" | "mismatch") {
            return Err(bad("an unknown kind"));
        }
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad("the name is not a normalised distribution name"));
        }
        if version.is_empty()
            || !version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+!-".contains(&b))
        {
            return Err(bad("the version has characters a version has not"));
        }
        let has_archive = matches!(kind, "wheel" | "sdist");
        if has_archive
            && !(sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        {
            return Err(bad("the hash is not a sha256"));
        }
        if url
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
            || (direct == "1" && !(url.starts_with("https://") || url.starts_with("http://")))
        {
            return Err(bad("the URL is not one http(s) URL"));
        }
        out.push(Picked {
            kind: kind.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            sha256: sha.to_string(),
            url: url.to_string(),
            direct: direct == "1",
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `requirements.lock` of a resolution: the header, then one line a
/// distribution, sorted by name.
pub fn lock_text(env_dir: &str, picked: &[Picked]) -> String {
    let mut s = format!(
        "# What uv installed into {env_dir}: one distribution a line, with the\n\
         # sha256 of the archive it came from (the wheel, or the sdist it built).\n\
         # Written by djdd from `uv pip compile`; install exactly this with\n\
         # pip install --no-deps --require-hashes -r requirements.lock\n"
    );
    for p in picked {
        s.push_str(&p.lock_line());
        s.push('\n');
    }
    s
}

/// `requirements.lock` of an env built from the project's own lock
/// (`requirements.root`, whose lines are what it installs here).
pub fn project_lock_text(env_dir: &str, requirements: &crate::plan::Requirements) -> String {
    let mut s = format!(
        "# What djdd installs into {env_dir}: the distributions the project's\n\
         # {} selects for this Python and architecture, one a line, with the\n\
         # sha256 of the archive it comes from (the wheel, or the sdist djdd builds).\n\
         # Install exactly this with\n\
         # pip install --no-deps --require-hashes -r requirements.lock\n",
        requirements.root
    );
    for l in requirements
        .files
        .get(&requirements.root)
        .map(|f| f.lines.as_slice())
        .unwrap_or_default()
    {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// The sdists of a resolution, for djdd to build at their fixed path.
pub fn sdists_of(picked: &[Picked]) -> Vec<Sdist> {
    picked
        .iter()
        .filter(|p| p.kind == "sdist")
        .map(|p| Sdist {
            name: p.name.clone(),
            version: p.version.clone(),
            sha256: p.sha256.clone(),
            requirement: p.requirement(),
        })
        .collect()
}

/// Installs the env with uv, after venv made it: resolves the
/// requirements (no lock) or installs the lock, checks the files, keeps
/// the `REQUESTED` mark of the requested distributions only.
pub fn install_env(
    root: &BuildRoot,
    b: &EnvBuild<'_>,
    base: &[(String, String)],
) -> Result<Installed> {
    with_uv(root, b, base, install_with)
}

/// [`install_env`] with the root's uv.
fn install_with(u: &Uv<'_>) -> Result<Installed> {
    let (root, b) = (u.root, u.b);
    u.seed()?;
    let lock_inside = format!("{}/{LOCK_FILE}", b.share_dir);
    let lock_host = host_path(root, &lock_inside);
    let names: Vec<String> = match b.lock {
        Some(lock) => {
            std::fs::write(&lock_host, lock).map_err(|e| Error::io(&lock_host, e))?;
            let dists = parse_lock_at(&lock_inside, &String::from_utf8_lossy(lock))?;
            tracing::info!("uv pip install --no-deps --require-hashes -r {lock_inside}");
            if u.install(&dists, true).is_err() {
                // Something is not in uv's cache, or an sdist was not built
                // by djdd yet: which archive each line is, from the index.
                let picked = u
                    .compile(LOCK_FILE, &["--no-deps"], Some(LOCK_FILE))
                    .map_err(|e| lock_error(&lock_inside, b.root_file, e))?;
                let wrong: Vec<String> = picked
                    .iter()
                    .filter(|p| p.kind == "mismatch")
                    .map(|p| {
                        format!(
                            "{}=={} (its archive's sha256 is not the one the lock records)",
                            p.name, p.version
                        )
                    })
                    .collect();
                if !wrong.is_empty() {
                    return Err(lock_refused(&lock_inside, b.root_file, &wrong.join(", ")));
                }
                u.prebuild(&sdists_of(&picked))?;
                u.install(&dists, false)
                    .map_err(|e| lock_error(&lock_inside, b.root_file, e))?;
            }
            dists.into_iter().map(|d| d.name).collect()
        }
        None => {
            let mut args: Vec<&str> = vec![b.root_file];
            if !b.provided.is_empty() {
                let p = host_path(root, &format!("{}/{PROVIDED_FILE}", b.share_dir));
                let lines: String = b.provided.iter().map(|l| format!("{l}\n")).collect();
                std::fs::write(&p, lines).map_err(|e| Error::io(&p, e))?;
                args.push(PROVIDED_FILE);
            }
            log_resolving("uv pip compile", b);
            let picked = u.compile_files(&args, None);
            if !b.provided.is_empty() {
                let p = host_path(root, &format!("{}/{PROVIDED_FILE}", b.share_dir));
                std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
            let picked = picked.map_err(|e| resolve_error(b, e))?;
            if let Some(p) = picked.iter().find(|p| p.kind == "none") {
                return Err(Error::invalid_hint(
                    format!(
                        "{} {} (in the resolution of {})",
                        p.name, p.version, b.root_file
                    ),
                    "comes from a VCS checkout or a local directory, not an archive with a sha256, and uv installs the env from hashed archives only",
                    "publish it as an sdist or a wheel (an index, or `NAME @ https://.../NAME-VERSION.tar.gz`), or build with DJDD_INSTALLER=pip",
                ));
            }
            let text = lock_text(b.env_dir, &picked);
            std::fs::write(&lock_host, &text).map_err(|e| Error::io(&lock_host, e))?;
            let dists = parse_lock_at(&lock_inside, &text)?;
            u.prebuild(&sdists_of(&picked))?;
            tracing::info!("uv pip install --no-deps --require-hashes -r {lock_inside}");
            if u.install(&dists, true).is_err() {
                u.install(&dists, false)
                    .map_err(|e| resolve_error_of("uv pip install -r", b, e))?;
            }
            picked.into_iter().map(|p| p.name).collect()
        }
    };
    Ok(Installed { names })
}

/// What [`install_env`] installed, for [`finish_env`].
#[derive(Debug)]
pub struct Installed {
    /// The PEP 503 names of the distributions installed.
    names: Vec<String>,
}

/// Checks the files [`install_env`] installed against their RECORD and,
/// when none differs, finishes the env ([`finish_args`]) in the same run
/// of the env's python (each RECORD then rewritten once). Returns the
/// (distribution, file) pairs that differ: a damaged cache entry, which
/// [`finish_env`] repairs; nothing is dropped then.
pub fn check_and_finish(
    root: &BuildRoot,
    b: &EnvBuild<'_>,
    base: &[(String, String)],
    installed: &Installed,
) -> Result<Vec<(String, String)>> {
    let out = run_dist_info(root, b.env_dir, base, "verify", &finish_args(b, installed))?;
    Ok(differing_lines(&out))
}

/// Finishes an env whose install had `damaged` files ([`check_and_finish`]):
/// those distributions installed again from the index, then what
/// [`finish_args`] names dropped.
pub fn finish_env(
    root: &BuildRoot,
    b: &EnvBuild<'_>,
    base: &[(String, String)],
    installed: Installed,
    damaged: Vec<(String, String)>,
) -> Result<()> {
    with_uv(root, b, base, |u| u.repair(damaged))?;
    run_dist_info(root, b.env_dir, base, "drop", &finish_args(b, &installed))?;
    Ok(())
}

/// What a uv install leaves that the env must not keep, as
/// [`drop_args`]: uv's record of when it installed a wheel from a local
/// file (the Debian pip wheel, a kept wheel: a time, different on every
/// build) in every distribution, and the `REQUESTED` marks of what the
/// requirements do not name.
fn finish_args(b: &EnvBuild<'_>, installed: &Installed) -> Vec<String> {
    let not_requested: Vec<String> = installed
        .names
        .iter()
        .filter(|n| !b.requested.contains(n))
        .cloned()
        .collect();
    drop_args(&[
        ("uv_cache.json", &["*".to_string()]),
        ("REQUESTED", &not_requested),
    ])
}

/// Runs `f` with the uv of `b`'s root (installed once per root).
fn with_uv<T>(
    root: &BuildRoot,
    b: &EnvBuild<'_>,
    base: &[(String, String)],
    f: impl FnOnce(&Uv<'_>) -> Result<T>,
) -> Result<T> {
    let python = format!("/usr/bin/python{}", b.python_version);
    let uv = ensure_tool(root, &python, base)?;
    let env = uv_env(root, b.cache_dir, b.python_version, base)?;
    f(&Uv {
        root,
        b,
        env: &env,
        uv: &uv,
        python: format!("{}/bin/python", b.env_dir),
    })
}

/// The distributions of the lock `text`, which is at `inside`.
fn parse_lock_at(inside: &str, text: &str) -> Result<Vec<Locked>> {
    crate::plan::parse_lock(text)
        .map_err(|why| Error::invalid(format!("the resolution lock {inside}"), why))
}

/// A failed uv run resolving the requirements, explained.
fn resolve_error(b: &EnvBuild<'_>, e: Error) -> Error {
    resolve_error_of("uv pip compile", b, e)
}

/// Debian's wheel of `name` (`pip`, `setuptools`) in the root, from
/// python3-pip-whl, which venv's ensurepip installs from: its path inside
/// the root.
pub fn debian_wheel(root: &BuildRoot, name: &str) -> Result<String> {
    let dir = "/usr/share/python-wheels";
    let prefix = format!("{name}-");
    let rd = std::fs::read_dir(host_path(root, dir));
    let mut found: Vec<String> = rd
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        .collect();
    found.sort();
    match found.pop() {
        Some(w) => Ok(format!("{dir}/{w}")),
        None => Err(Error::invalid_hint(
            format!("build root {}", root.path().display()),
            format!("has no {name} wheel in {dir}, which venv's ensurepip installs from"),
            "rerun `djdd init` (python3-venv brings python3-pip-whl)",
        )),
    }
}

/// What uv's runs of one env build share.
struct Uv<'a> {
    root: &'a BuildRoot,
    b: &'a EnvBuild<'a>,
    env: &'a [(String, String)],
    uv: &'a str,
    /// The env's `bin/python`.
    python: String,
}

impl Uv<'_> {
    /// Runs `argv` as the build user in the share dir, its progress shown
    /// as `label` (counted like pip's).
    fn run_metered(&self, argv: &[&str], label: &str) -> Result<crate::buildroot::runner::Output> {
        run_step_metered(
            self.root,
            Some(BUILD_USER),
            self.b.share_dir,
            self.env,
            PIP_TIMEOUT,
            argv,
            Some((label, crate::report::Meter::Pip)),
        )
    }

    /// `uv pip SUB --python ENV/bin/python`: the start of every uv command
    /// that acts on the env.
    fn pip<'s>(&'s self, sub: &'s str) -> Vec<&'s str> {
        vec![self.uv, "pip", sub, "--python", &self.python]
    }

    /// What `python -m venv` would have installed with ensurepip, installed
    /// by uv from the same Debian wheels (`/usr/share/python-wheels`,
    /// python3-pip-whl): pip, and setuptools before Python 3.12 (as
    /// CPython's ensurepip). The env's pip builds the sdists and reads
    /// wheel tags ([`SELECT_SCRIPT`]).
    fn seed(&self) -> Result<()> {
        let (root, b) = (self.root, self.b);
        let minor: u32 = b
            .python_version
            .split_once('.')
            .and_then(|(_, m)| m.parse().ok())
            .unwrap_or(0);
        let mut names = vec!["pip"];
        if minor < 12 {
            names.push("setuptools");
        }
        let wheels: Vec<String> = names
            .into_iter()
            .map(|n| debian_wheel(root, n))
            .collect::<Result<_>>()?;
        let mut argv = self.pip("install");
        argv.extend(["--offline", "--no-deps"]);
        argv.extend(wheels.iter().map(String::as_str));
        run_step(root, Some(BUILD_USER), "/", self.env, 300, &argv)?;
        Ok(())
    }

    /// `uv pip compile FILE --format pylock.toml` (with `extra` options),
    /// then the archive each package installs from ([`SELECT_SCRIPT`],
    /// given `lock` to match its hashes).
    fn compile(&self, file: &str, extra: &[&str], lock: Option<&str>) -> Result<Vec<Picked>> {
        let mut files = vec![file];
        files.extend(extra);
        self.compile_files(&files, lock)
    }

    /// As [`Self::compile`], with `args` (files and options) as given.
    fn compile_files(&self, args: &[&str], lock: Option<&str>) -> Result<Vec<Picked>> {
        let (root, b) = (self.root, self.b);
        let python = &self.python;
        let mut argv = self.pip("compile");
        argv.extend([
            "--quiet",
            "--no-header",
            "--format",
            "pylock.toml",
            "--output-file",
            PYLOCK_FILE,
        ]);
        argv.extend(args);
        let ran = self.run_metered(&argv, "uv pip compile");
        let pylock = format!("{}/{PYLOCK_FILE}", b.share_dir);
        let read = ran.and_then(|_| {
            let mut argv: Vec<&str> = vec![python, "-I", "-c", SELECT_SCRIPT, &pylock];
            let lock_path = lock.map(|l| format!("{}/{l}", b.share_dir));
            argv.extend(lock_path.as_deref());
            run_step(root, Some(BUILD_USER), "/", self.env, 60, &argv)
        });
        let _ = std::fs::remove_file(host_path(root, &pylock));
        let out = read?;
        parse_picked(&String::from_utf8_lossy(&out.stdout))
            .map_err(|why| Error::invalid(format!("uv's resolution {pylock}"), why))
    }

    /// Builds the sdists the build dir has no wheel of, at their fixed
    /// path, with the env's pip ([`sdists::Builder`]).
    fn prebuild(&self, list: &[Sdist]) -> Result<()> {
        let b = self.b;
        let python = format!("/usr/bin/python{}", b.python_version);
        let pip = format!("{}/bin/pip", b.env_dir);
        let builder = sdists::Builder {
            root: self.root,
            cache_dir: b.cache_dir,
            python_version: b.python_version,
            python: &python,
            pip: &pip,
            env: self.env,
        };
        let built = builder.build_missing(list)?;
        if !built.is_empty() {
            tracing::info!(
                "built from sdist{} at /build/NAME-VERSION: {}",
                if built.len() == 1 { "" } else { "s" },
                built.join(" ")
            );
        }
        Ok(())
    }

    /// `uv pip install --no-deps --require-hashes --no-build` of the lock's
    /// distributions `dists`, each kept wheel of an sdist offered
    /// (`--find-links` its directory, its sha256 beside the sdist's; looked
    /// up on each call: a build between two calls adds some); `offline`:
    /// from uv's cache only.
    fn install(&self, dists: &[Locked], offline: bool) -> Result<()> {
        let (root, b) = (self.root, self.b);
        let mut lines = String::new();
        let mut links: Vec<String> = Vec::new();
        let mut from_cache: Vec<String> = Vec::new();
        for d in dists {
            let Some(sha) = &d.sha256 else {
                lines.push_str(&format!("{}\n", d.requirement));
                continue;
            };
            let kept = wheels::cached(b.cache_dir, b.python_version, sha)?;
            if kept.is_empty() {
                lines.push_str(&format!("{} --hash=sha256:{sha}\n", d.requirement));
                continue;
            }
            // Named by version, so the kept wheel (a find-links) serves it.
            let mut line = format!("{}=={} --hash=sha256:{sha}", d.name, d.version);
            for (_, wheel_sha) in &kept {
                line.push_str(&format!(" --hash=sha256:{wheel_sha}"));
            }
            lines.push_str(&line);
            lines.push('\n');
            from_cache.push(format!("{}=={}", d.name, d.version));
            links.push(format!(
                "{}/{}/{sha}",
                crate::buildroot::CACHE_INSIDE,
                wheels::subdir(b.python_version)
            ));
        }
        if !from_cache.is_empty() && offline {
            log_kept_wheels(&from_cache);
        }
        let install = format!("{}/{INSTALL_FILE}", b.share_dir);
        let p = host_path(root, &install);
        std::fs::write(&p, lines).map_err(|e| Error::io(&p, e))?;
        let mut argv = self.pip("install");
        argv.extend([
            "--no-deps",
            "--require-hashes",
            "--no-build",
            "--requirement",
            INSTALL_FILE,
        ]);
        if offline {
            argv.push("--offline");
        }
        for l in &links {
            argv.push("--find-links");
            argv.push(l);
        }
        let ran = self.run_metered(&argv, "uv pip install");
        std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        if let Err(e) = &ran {
            if offline {
                tracing::info!("not all of it is in uv's cache: asking the index");
                tracing::debug!("uv pip install --offline: {e}");
            }
        }
        ran.map(|_| ())
    }

    /// The distributions of the files `bad` (which differ from their
    /// RECORD) leave uv's cache and are installed again from the index;
    /// what still differs then is an error naming the files.
    fn repair(&self, bad: Vec<(String, String)>) -> Result<()> {
        let mut dists: Vec<&str> = bad.iter().map(|(n, _)| n.as_str()).collect();
        dists.dedup();
        tracing::warn!(
            "files differ from their RECORD (a damaged cache entry?): {}; installing {} again from the index",
            bad.iter()
                .map(|(_, f)| f.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            dists.join(" ")
        );
        let mut argv: Vec<&str> = vec![self.uv, "cache", "clean"];
        argv.extend(dists.iter().copied());
        run_step(self.root, Some(BUILD_USER), "/", self.env, 600, &argv)?;
        let mut argv = self.pip("uninstall");
        argv.extend(dists.iter().copied());
        run_step(self.root, Some(BUILD_USER), "/", self.env, 600, &argv)?;
        let inside = format!("{}/{LOCK_FILE}", self.b.share_dir);
        let lock = host_path(self.root, &inside);
        let text = std::fs::read_to_string(&lock).map_err(|e| Error::io(&lock, e))?;
        self.install(&parse_lock_at(&inside, &text)?, false)?;
        let still = self.differing()?;
        if still.is_empty() {
            return Ok(());
        }
        Err(Error::invalid(
            format!("the env {}", self.b.env_dir),
            format!(
                "its files differ from their RECORD after a fresh download: {}",
                still
                    .iter()
                    .map(|(n, f)| format!("{f} ({n})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }

    /// The (distribution, file) pairs whose content differs from RECORD.
    fn differing(&self) -> Result<Vec<(String, String)>> {
        let out = run_dist_info(self.root, self.b.env_dir, self.env, "verify", &[])?;
        Ok(differing_lines(&out))
    }
}

/// The (distribution, file) pairs of `dist_info.py verify`'s output.
fn differing_lines(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, f)| (n.to_string(), f.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "9362660c4a31150cf18e78cae2ce8aa1e929fc6c6739e69f6dd5dbea9c3edc82";
    const B: &str = "e6e756b15c89c86818b48a4947a424706238afbf67d457428d3269bc4590db9e";

    #[test]
    fn picked_lines_become_lock_lines_and_sdists() {
        let text = format!(
            "wheel\tamqp\t5.4.2\t{B}\thttps://files.example.org/amqp-5.4.2-py3-none-any.whl\t0\n\
             sdist\tpsycopg2\t2.9.13\t{A}\thttps://files.example.org/psycopg2-2.9.13.tar.gz\t0\n\
             sdist\tmy-lib\t1.2\t{A}\thttps://e.org/dl/my_lib-1.2.tar.gz\t1\n"
        );
        let picked = parse_picked(&text).unwrap();
        let lock = lock_text("/usr/lib/demo-env/abc", &picked);
        let dists = crate::plan::parse_lock(&lock).unwrap();
        let got: Vec<(&str, &str, Option<&str>)> = dists
            .iter()
            .map(|d| (d.name.as_str(), d.requirement.as_str(), d.sha256.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("amqp", "amqp==5.4.2", Some(B)),
                (
                    "my-lib",
                    "my-lib @ https://e.org/dl/my_lib-1.2.tar.gz",
                    Some(A)
                ),
                ("psycopg2", "psycopg2==2.9.13", Some(A)),
            ],
            "{lock}"
        );
        assert!(crate::plan::installable(&lock).is_ok());
        let s = sdists_of(&picked);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0].requirement,
            "my-lib @ https://e.org/dl/my_lib-1.2.tar.gz"
        );
        assert_eq!(s[1].build_path(), "/build/psycopg2-2.9.13");
    }

    #[test]
    fn a_picked_line_that_could_not_be_a_lock_line_is_refused() {
        for (line, why) in [
            (
                format!("wheel\t../x\t1\t{A}\thttps://e.org/x.whl\t0"),
                "name",
            ),
            (
                format!("wheel\tx\t1 2\t{A}\thttps://e.org/x.whl\t0"),
                "version",
            ),
            (
                "sdist\tx\t1\tabc\thttps://e.org/x.tar.gz\t0".to_string(),
                "sha256",
            ),
            (format!("sdist\tx\t1\t{A}\tfile:///etc/x.tar.gz\t1"), "URL"),
            (format!("sdist\tx\t1\t{A}\thttps://e.org/a b\t1"), "URL"),
            (format!("egg\tx\t1\t{A}\thttps://e.org/x\t0"), "kind"),
            ("wheel\tx\t1".to_string(), "six"),
        ] {
            let err = parse_picked(&line).unwrap_err();
            assert!(
                err.contains("line 1") && err.contains(why),
                "{line:?}: {err}"
            );
        }
        // A VCS checkout has no archive: `none`, without a hash.
        let none = parse_picked("none\tthing\t0.1\t\t\t0").unwrap();
        assert_eq!(none[0].kind, "none");
    }

    #[test]
    fn the_select_script_picks_the_best_wheel_or_the_sdist() {
        // The host's python3 with its pip (python3-pip, .ci/apt-packages).
        let have_pip = std::process::Command::new("/usr/bin/python3")
            .args(["-c", "import pip._vendor.packaging.tags"])
            .status()
            .is_ok_and(|s| s.success());
        if !have_pip {
            panic!("/usr/bin/python3 has no pip: install python3-pip (.ci/apt-packages)");
        }
        let t = tempfile::tempdir().unwrap();
        let pylock = t.path().join("pylock.toml");
        let c = "c".repeat(64);
        std::fs::write(
            &pylock,
            format!(
                r#"lock-version = "1.0"
created-by = "uv"

[[packages]]
name = "Pure_Thing"
version = "1.0"
sdist = {{ url = "https://e.org/pure_thing-1.0.tar.gz", hashes = {{ sha256 = "{A}" }} }}
wheels = [{{ url = "https://e.org/pure_thing-1.0-py3-none-any.whl", hashes = {{ sha256 = "{B}" }} }}]

[[packages]]
name = "compiled"
version = "2.0"
sdist = {{ url = "https://e.org/compiled-2.0.tar.gz", hashes = {{ sha256 = "{A}" }} }}
wheels = [{{ url = "https://e.org/compiled-2.0-cp27-cp27m-win32.whl", hashes = {{ sha256 = "{c}" }} }}]

[[packages]]
name = "vcs-thing"
version = "0.1"
vcs = {{ type = "git", url = "https://git.example.org/thing.git", commit-id = "abc" }}

[[packages]]
name = "windows-only"
version = "0.4.6"
marker = "sys_platform == 'win32'"
wheels = [{{ url = "https://e.org/windows_only-0.4.6-py3-none-any.whl", hashes = {{ sha256 = "{c}" }} }}]

[[packages]]
name = "linux-only"
version = "1.1"
marker = "sys_platform == 'linux' and python_version >= '3.8'"
wheels = [{{ url = "https://e.org/linux_only-1.1-py3-none-any.whl", hashes = {{ sha256 = "{c}" }} }}]
"#
            ),
        )
        .unwrap();
        let run = |extra: Option<&Path>| {
            let mut cmd = std::process::Command::new("/usr/bin/python3");
            cmd.args(["-I", "-c", SELECT_SCRIPT]).arg(&pylock);
            if let Some(l) = extra {
                cmd.arg(l);
            }
            let out = cmd.output().unwrap();
            assert!(out.status.success(), "{out:?}");
            parse_picked(&String::from_utf8(out.stdout).unwrap()).unwrap()
        };
        let got: Vec<(String, String, String)> = run(None)
            .into_iter()
            .map(|p| (p.kind, p.name, p.sha256))
            .collect();
        assert_eq!(
            got,
            [
                ("sdist".into(), "compiled".into(), A.into()),
                ("wheel".into(), "linux-only".into(), c.clone()),
                ("wheel".into(), "pure-thing".into(), B.into()),
                ("none".into(), "vcs-thing".into(), String::new()),
            ]
        );
        // A lock for no Python this one is: exit 3, naming the specifier.
        let other = t.path().join("pylock.other.toml");
        std::fs::write(
            &other,
            "lock-version = \"1.0\"\nrequires-python = \">=3.99\"\n",
        )
        .unwrap();
        let out = std::process::Command::new("/usr/bin/python3")
            .args(["-I", "-c", SELECT_SCRIPT])
            .arg(&other)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("requires-python >=3.99"));
        // Given a lock, the archive with its hash, or `mismatch`.
        let lock = t.path().join("requirements.lock");
        std::fs::write(
            &lock,
            format!(
                "pure-thing==1.0 --hash=sha256:{A}\ncompiled==2.0 --hash=sha256:{}\n",
                "0".repeat(64)
            ),
        )
        .unwrap();
        let got: Vec<(String, String)> = run(Some(&lock))
            .into_iter()
            .map(|p| (p.kind, p.name))
            .collect();
        assert_eq!(
            got,
            [
                ("mismatch".into(), "compiled".into()),
                ("mismatch".into(), "linux-only".into()),
                ("sdist".into(), "pure-thing".into()),
                ("mismatch".into(), "vcs-thing".into()),
            ]
        );
    }
}
