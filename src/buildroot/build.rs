//! The build steps that run inside the build root: the virtualenv (created
//! at its final path with the root's own `/usr/bin/python3.X`, pip with the
//! build dir's wheel cache, bytecode compiled once, deterministically), the
//! shared-library dependencies of its compiled modules, the source tree
//! unpacked from `git archive`, compilemessages and collectstatic.
//!
//! Effects only: what to build comes from `plan`, which environment the
//! project's code sees comes from `contract`. Every process runs through
//! [`BuildRoot::run`] as an argument array under `env -i` with exactly the
//! variables given, bounded by `timeout`. Never writes outside the build root.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::buildroot::{BuildRoot, sdists, wheels};
use crate::error::{Error, Result};

/// mtime and SOURCE_DATE_EPOCH of everything in an env package: the env's
/// content depends on its requirements only, not on the commit it was first
/// built for, so its time is fixed too (2024-01-01; zip, which pip uses for
/// wheels, cannot store times before 1980).
pub const ENV_EPOCH: u64 = 1_704_067_200;

/// Upper bound of one pip run (downloads and compiles), in seconds.
pub const PIP_TIMEOUT: u32 = 3600;
/// Default upper bound of one project command (collectstatic,
/// compilemessages), in seconds: `djdd build --timeout`.
pub const PROJECT_TIMEOUT: u32 = 600;

/// Where the build dir's pip cache is mounted inside the root.
pub const PIP_CACHE_IN_ROOT: &str = "/djdd/cache/pip";

/// The root's path of `inside` (an absolute path inside the root).
pub fn host_path(root: &BuildRoot, inside: &str) -> PathBuf {
    root.path().join(inside.trim_start_matches('/'))
}

/// The launcher of every project command djdd runs (the build's steps,
/// `djdd check`'s probe): `timeout --kill-after=10 SECS env -i K=V...
/// ARGV...`, as an argument array. timeout(1) puts itself in a new process
/// group and signals the whole group (TERM, then KILL 10 s later), so
/// whatever the command started is stopped with it; it then exits 124
/// (137 after the KILL), see [`timed_out`].
pub fn bounded_argv(env: &[(String, String)], timeout: u32, argv: &[&str]) -> Vec<String> {
    let mut full: Vec<String> = vec![
        "timeout".into(),
        "--kill-after=10".into(),
        timeout.to_string(),
        "env".into(),
        "-i".into(),
    ];
    for (k, v) in env {
        full.push(format!("{k}={v}"));
    }
    // No `--` here: env(1) takes the first word without '=' as the
    // program; argv[0] is always a path djdd chose.
    full.extend(argv.iter().map(|s| s.to_string()));
    full
}

/// Whether a process run by [`bounded_argv`] was stopped by its timeout
/// (timeout(1)'s exit status 124, or 137 / SIGKILL after --kill-after).
pub fn timed_out(status: &std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    matches!(status.code(), Some(124) | Some(137)) || status.signal() == Some(9)
}

/// Runs `argv` in the root under `env -i` with exactly `env`, bounded by
/// `timeout` seconds ([`bounded_argv`]); fails unless it exits 0.
pub fn run_step(
    root: &BuildRoot,
    user: Option<&str>,
    cwd: &str,
    env: &[(String, String)],
    timeout: u32,
    argv: &[&str],
) -> Result<crate::buildroot::runner::Output> {
    run_step_metered(root, user, cwd, env, timeout, argv, None)
}

/// As [`run_step`], with its output lines counted by a progress task
/// `(label, meter)` (pip, collectstatic).
pub fn run_step_metered(
    root: &BuildRoot,
    user: Option<&str>,
    cwd: &str,
    env: &[(String, String)],
    timeout: u32,
    argv: &[&str],
    meter: Option<(&str, crate::report::Meter)>,
) -> Result<crate::buildroot::runner::Output> {
    let full = bounded_argv(env, timeout, argv);
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    root.run_metered(user, cwd, &[], &refs, meter)
        .map_err(|e| match e {
            // timeout(1) exits 124 when it stopped the command (137 when it had
            // to kill it after the grace period): say so instead of a number.
            Error::Command {
                command,
                status,
                output,
            } if status.ends_with(" 124") || status.ends_with(" 137") => Error::Command {
                command,
                status: format!("did not finish within {timeout} s and was killed"),
                output,
            },
            e => e,
        })
}

/// As [`run_step`], but a non-zero exit (a timeout included, see
/// [`timed_out`]) is returned, not an error.
pub fn run_step_unchecked(
    root: &BuildRoot,
    user: Option<&str>,
    cwd: &str,
    env: &[(String, String)],
    timeout: u32,
    argv: &[&str],
) -> Result<crate::buildroot::runner::Output> {
    let full = bounded_argv(env, timeout, argv);
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    root.run_unchecked(user, cwd, &[], &refs)
}

/// The same launcher on the host, in the host directory `cwd` (`djdd
/// check --python`); a non-zero exit is returned, not an error. `argv[0]`
/// must be an absolute path without '='.
pub fn run_host_step(
    runner: &dyn crate::buildroot::runner::Runner,
    cwd: &Path,
    env: &[(String, String)],
    timeout: u32,
    argv: &[&str],
) -> Result<crate::buildroot::runner::Output> {
    if !argv
        .first()
        .is_some_and(|p| p.starts_with('/') && !p.contains('='))
    {
        return Err(Error::invalid(
            format!("command {:?}", argv.first().unwrap_or(&"")),
            "must start with an absolute program path without '='",
        ));
    }
    let full = bounded_argv(env, timeout, argv);
    let cmd = crate::buildroot::runner::Cmd::new(&full[0])
        .args(&full[1..])
        .cwd(cwd);
    runner.run(&cmd)
}

/// Removes a directory of the root if it exists.
pub fn remove_in_root(root: &BuildRoot, inside: &str) -> Result<()> {
    let p = host_path(root, inside);
    match std::fs::remove_dir_all(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(p, e)),
    }
}

/// What an env build needs.
pub struct EnvBuild<'a> {
    /// `/usr/lib/NAME-env/HASH`.
    pub env_dir: &'a str,
    /// `/usr/share/NAME-env/HASH`: the requirement files, as in the repository.
    pub share_dir: &'a str,
    /// Requirement files: repository-relative path -> bytes.
    pub files: Vec<(String, Vec<u8>)>,
    /// The root file (`requirements.txt`).
    pub root_file: &'a str,
    /// `3.X`.
    pub python_version: &'a str,
    /// Requirement lines djdd adds (its app server), installed in the
    /// same pip run as the project's, so one resolution covers both.
    pub provided: &'a [String],
    /// The resolution lock to install exactly (`pip install --no-deps
    /// --require-hashes`), instead of resolving the requirements; it is
    /// then the env's `requirements.lock` as it is.
    pub lock: Option<&'a [u8]>,
    /// The PEP 503 names the requirements ask for (the root file, its `-r`
    /// includes, `provided`): installed from a lock, only these keep the
    /// `REQUESTED` mark pip gives every line of the lock.
    pub requested: &'a [String],
    /// The build dir's cache dir on the host (`D/cache`, `/djdd/cache` in
    /// the root): its wheels built from sdists ([`wheels`]).
    pub cache_dir: &'a Path,
}

/// The build user inside the root (made by `djdd init`).
pub const BUILD_USER: &str = "djdd";

/// The build user's (uid, gid) in the root.
pub fn build_user_ids(root: &BuildRoot) -> Result<(u32, u32)> {
    crate::buildroot::init::passwd_entry(&root.path(), "etc/passwd", BUILD_USER).ok_or_else(|| {
        Error::invalid_hint(
            format!("build root {}", root.path().display()),
            format!("has no user '{BUILD_USER}'"),
            "rerun `djdd init` to finish the build root",
        )
    })
}

/// Makes `inside` (a directory of the root) and gives it to the build user.
pub fn make_build_dir(root: &BuildRoot, inside: &str) -> Result<()> {
    let (uid, gid) = build_user_ids(root)?;
    let p = host_path(root, inside);
    std::fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
    std::os::unix::fs::chown(&p, Some(uid), Some(gid)).map_err(|e| Error::io(&p, e))?;
    Ok(())
}

/// Where the host's CA bundle is copied inside the root, so pip reaches
/// its index through whatever TLS-inspecting proxy the host trusts.
pub const HOST_CA_IN_ROOT: &str = "/etc/ssl/certs/djdd-host-ca.crt";

/// Copies the host's CA bundle into the root (when the host has one) and
/// returns its path inside the root.
pub fn host_ca(root: &BuildRoot) -> Result<Option<&'static str>> {
    let host = Path::new("/etc/ssl/certs/ca-certificates.crt");
    match std::fs::read(host) {
        Ok(bytes) => {
            let dest = host_path(root, HOST_CA_IN_ROOT);
            if std::fs::read(&dest).ok().as_deref() != Some(bytes.as_slice()) {
                if let Some(p) = dest.parent() {
                    std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
                }
                crate::builddir::write_atomic(&dest, &bytes)?;
            }
            Ok(Some(HOST_CA_IN_ROOT))
        }
        Err(_) => Ok(None),
    }
}

/// Builds the virtualenv at its final path inside the root, as the build
/// user (no project code runs as root). Any earlier, unfinished tree at
/// that path is removed first.
pub fn build_env(root: &BuildRoot, b: &EnvBuild<'_>) -> Result<()> {
    remove_in_root(root, b.env_dir)?;
    remove_in_root(root, b.share_dir)?;
    make_build_dir(root, b.env_dir)?;
    for (rel, bytes) in &b.files {
        let dest = host_path(root, &format!("{}/{rel}", b.share_dir));
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::write(&dest, bytes).map_err(|e| Error::io(&dest, e))?;
    }
    make_build_dir(root, b.share_dir)?;
    let python = format!("/usr/bin/python{}", b.python_version);
    let epoch = ENV_EPOCH.to_string();
    let mut env = vec![
        ("PATH".to_string(), "/usr/bin:/bin".to_string()),
        ("HOME".into(), "/tmp".into()),
        ("LC_ALL".into(), "C.UTF-8".into()),
        ("SOURCE_DATE_EPOCH".into(), epoch),
        ("PYTHONHASHSEED".into(), "0".into()),
        // One cache a env format: a wheel pip built from an sdist under
        // another format's flags (debug info, build ID) is never reused.
        (
            "PIP_CACHE_DIR".into(),
            format!("{PIP_CACHE_IN_ROOT}/env-format-{}", crate::plan::ENV_FORMAT),
        ),
        ("PIP_NO_INPUT".into(), "1".into()),
        ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
        ("PIP_ROOT_USER_ACTION".into(), "ignore".into()),
        // No debug info: it embeds pip's random build directory.
        ("CFLAGS".into(), "-g0".into()),
        ("CXXFLAGS".into(), "-g0".into()),
        // No GNU build ID either: the linker computes it over the file,
        // debug info included, and some builds add `-g` after CFLAGS
        // (uWSGI), so it would name that directory too, in effect.
        ("LDFLAGS".into(), "-Wl,--build-id=none".into()),
    ];
    if let Some(ca) = host_ca(root)? {
        env.push(("PIP_CERT".into(), ca.into()));
    }
    let user = Some(BUILD_USER);
    tracing::info!("creating the virtualenv {} with {python}", b.env_dir);
    run_step(
        root,
        user,
        "/",
        &env,
        300,
        &[&python, "-m", "venv", b.env_dir],
    )?;
    // Python >= 3.13's venv (trixie) writes ENV/.gitignore ("*") so that git
    // ignores the virtualenv: in a package it is a stray VCS file (lintian:
    // package-contains-vcs-control-file), and the env of every suite is
    // laid out alike without it.
    let gitignore = host_path(root, &format!("{}/.gitignore", b.env_dir));
    match std::fs::remove_file(&gitignore) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&gitignore, e)),
    }
    let pip = format!("{}/bin/pip", b.env_dir);
    match b.lock {
        Some(lock) => install_lock(root, b, &env, &pip, lock)?,
        None => resolve(root, b, &env, &pip)?,
    }
    strip_objects(root, b.env_dir)?;
    // pip compiled bytecode package by package; drop it and compile the
    // whole env once, in sorted order, in one process (checked-hash pycs
    // because SOURCE_DATE_EPOCH is set): byte-identical on every build.
    remove_bytecode(&host_path(root, b.env_dir))?;
    run_step(
        root,
        user,
        "/",
        &env,
        PIP_TIMEOUT,
        &[
            &format!("{}/bin/python", b.env_dir),
            "-m",
            "compileall",
            "-q",
            // Rewrite every .pyc: the interpreter running compileall has
            // already imported _distutils_hack (distutils-precedence.pth)
            // and written a timestamp .pyc that compileall would keep.
            "-f",
            "-j",
            "1",
            "--invalidation-mode",
            "checked-hash",
            b.env_dir,
        ],
    )?;
    Ok(())
}

/// `pip install -r ROOT_FILE PROVIDED...`: pip resolves the requirements;
/// its report becomes `requirements.lock`. What it would build from
/// sdists is built first, at fixed paths ([`sdists`]), and offered to it.
fn resolve(root: &BuildRoot, b: &EnvBuild<'_>, env: &[(String, String)], pip: &str) -> Result<()> {
    let user = Some(BUILD_USER);
    tracing::info!(
        "pip install -r {}/{}{}",
        b.share_dir,
        b.root_file,
        b.provided
            .iter()
            .map(|l| format!(" {l}"))
            .collect::<String>()
    );
    let mut args: Vec<&str> = vec!["--requirement", b.root_file];
    args.extend(b.provided.iter().map(String::as_str));
    let planned = prebuild(root, b, env, pip, &args, |e| resolve_error(b, e))?;
    let mut links = String::new();
    for s in &planned {
        for (wheel, wheel_sha) in wheels::cached(b.cache_dir, b.python_version, &s.sha256)? {
            links.push_str(&wheel_link(b.python_version, &s.sha256, &wheel, &wheel_sha));
        }
    }
    let find_links = format!("--find-links={}/{LINKS_FILE}", b.share_dir);
    // pip's installation report (pip >= 22.2): what it resolved, each
    // distribution's version and archive hash; it becomes the lock.
    let report = format!("{}/{LOCK_REPORT}", b.share_dir);
    let mut argv: Vec<&str> = vec![
        pip,
        "install",
        "--no-warn-script-location",
        "--report",
        &report,
    ];
    if !links.is_empty() {
        write_links(root, b, &links)?;
        argv.push(&find_links);
    }
    argv.extend(args);
    let installed = run_step_metered(
        root,
        user,
        b.share_dir,
        env,
        PIP_TIMEOUT,
        &argv,
        Some(("pip install", crate::report::Meter::Pip)),
    )
    .map_err(|e| resolve_error(b, e));
    if !links.is_empty() {
        let p = host_path(root, &format!("{}/{LINKS_FILE}", b.share_dir));
        std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
    }
    installed?;
    write_lock(root, b, env, &report)
}

/// A failed pip run resolving the requirements, explained: the one
/// sentence that matters (a Python the root has not), before pip's pages.
fn resolve_error(b: &EnvBuild<'_>, e: Error) -> Error {
    match e {
        Error::Command { status, output, .. } => {
            let hint = python_hint(&output, b.python_version)
                .map(|h| format!("{h}\n"))
                .unwrap_or_default();
            Error::Command {
                command: format!("pip install -r {} (in the build root)", b.root_file),
                status,
                output: format!("{hint}{output}"),
            }
        }
        other => other,
    }
}

/// A failed pip run installing a lock, explained: the distributions pip
/// could not get, the tail of its output, and `--rebuild-env`.
fn lock_error(inside: &str, e: Error) -> Error {
    match e {
        Error::Command { status, output, .. } => {
            let failed = crate::plan::lock_failures(&output);
            let what = if failed.is_empty() {
                format!("pip {status}")
            } else {
                failed.join(", ")
            };
            let tail: Vec<&str> = output.trim_end().lines().collect();
            let tail = tail[tail.len().saturating_sub(12)..]
                .iter()
                .map(|l| format!("\n  | {l}"))
                .collect::<String>();
            Error::invalid_hint(
                format!("the resolution lock {inside}"),
                format!("no longer installs: {what}{tail}"),
                "`djdd build --rebuild-env` resolves the requirements again and writes a new lock (the env's content may then change under the same HASH)",
            )
        }
        other => other,
    }
}

/// Builds what pip would build from sdists (its dry run with `args`, in
/// the share dir; a failure explained by `explain`) at fixed paths, unless
/// the build dir kept their wheels ([`sdists`]); says which it built.
/// Returns the sdists of the dry run.
fn prebuild(
    root: &BuildRoot,
    b: &EnvBuild<'_>,
    env: &[(String, String)],
    pip: &str,
    args: &[&str],
    explain: impl Fn(Error) -> Error,
) -> Result<Vec<sdists::Sdist>> {
    let python = format!("/usr/bin/python{}", b.python_version);
    let builder = sdists::Builder {
        root,
        cache_dir: b.cache_dir,
        python_version: b.python_version,
        python: &python,
        pip,
        env,
    };
    let planned = builder.planned(b.share_dir, args).map_err(explain)?;
    let built = builder.build_missing(&planned)?;
    if !built.is_empty() {
        tracing::info!(
            "built from sdist{} at /build/NAME-VERSION: {}",
            if built.len() == 1 { "" } else { "s" },
            built.join(" ")
        );
    }
    Ok(planned)
}

/// One link of the page of kept wheels: the wheel built from the sdist
/// with sha256 `sha`, in the cache dir's mount, with its own sha256.
fn wheel_link(python: &str, sha: &str, wheel: &str, wheel_sha: &str) -> String {
    format!(
        "<a href=\"file://{}/{}/{sha}/{wheel}#sha256={wheel_sha}\">{wheel}</a>\n",
        crate::buildroot::CACHE_INSIDE,
        wheels::subdir(python)
    )
}

/// Writes the page of links `links` to the share dir (removed after the
/// install).
fn write_links(root: &BuildRoot, b: &EnvBuild<'_>, links: &str) -> Result<()> {
    let p = host_path(root, &format!("{}/{LINKS_FILE}", b.share_dir));
    let page = format!("<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n");
    std::fs::write(&p, page).map_err(|e| Error::io(&p, e))
}

/// `pip install --no-deps --require-hashes -r requirements.lock`: exactly
/// the distributions of `lock` (written to the share dir first, so the
/// env ships it as it is), each checked against its archive's sha256.
/// Then only the requested distributions keep pip's `REQUESTED` mark, as
/// after a resolution. A lock that no longer installs is an error naming
/// the distributions pip could not get, and `--rebuild-env`.
fn install_lock(
    root: &BuildRoot,
    b: &EnvBuild<'_>,
    env: &[(String, String)],
    pip: &str,
    lock: &[u8],
) -> Result<()> {
    let inside = format!("{}/{LOCK_FILE}", b.share_dir);
    let dest = host_path(root, &inside);
    std::fs::write(&dest, lock).map_err(|e| Error::io(&dest, e))?;
    let text = String::from_utf8_lossy(lock);
    let dists = crate::plan::parse_lock(&text)
        .map_err(|why| Error::invalid(format!("the resolution lock {inside}"), why))?;
    // What of the lock comes from sdists: built first, at fixed paths,
    // unless the build dir has built them before. A lock that no longer
    // installs fails here already.
    let args = ["--no-deps", "--require-hashes", "--requirement", LOCK_FILE];
    prebuild(root, b, env, pip, &args, |e| lock_error(&inside, e))?;
    // The wheels the build dir kept of its sdists: offered to pip with
    // their own hash beside the sdist's, in a copy of the lock that is not
    // shipped, through a page of links that carry that hash (pip ranks a
    // link without an allowed hash below the index's sdist, which has one).
    let mut lines = Vec::new();
    let mut links = String::new();
    let mut from_cache = Vec::new();
    for d in &dists {
        let Some(sha) = &d.sha256 else { continue };
        let mut line = format!("{} --hash=sha256:{sha}", d.requirement);
        let kept = wheels::cached(b.cache_dir, b.python_version, sha)?;
        if !kept.is_empty() {
            for (wheel, wheel_sha) in &kept {
                line.push_str(&format!(" --hash=sha256:{wheel_sha}"));
                links.push_str(&wheel_link(b.python_version, sha, wheel, wheel_sha));
            }
            from_cache.push(format!("{}=={}", d.name, d.version));
        }
        lines.push(line + "\n");
    }
    let requirement = if from_cache.is_empty() {
        LOCK_FILE
    } else {
        tracing::info!(
            "{} wheel{} built before from {} sdist{} (the build dir's cache): {}",
            from_cache.len(),
            if from_cache.len() == 1 { "" } else { "s" },
            if from_cache.len() == 1 {
                "its"
            } else {
                "their"
            },
            if from_cache.len() == 1 { "" } else { "s" },
            from_cache.join(" ")
        );
        let p = host_path(root, &format!("{}/{INSTALL_FILE}", b.share_dir));
        std::fs::write(&p, lines.concat()).map_err(|e| Error::io(&p, e))?;
        write_links(root, b, &links)?;
        INSTALL_FILE
    };
    let find_links = format!("--find-links={}/{LINKS_FILE}", b.share_dir);
    tracing::info!("pip install --no-deps --require-hashes -r {inside}");
    let mut argv = vec![
        pip,
        "install",
        "--no-warn-script-location",
        "--no-deps",
        "--require-hashes",
        "--requirement",
        requirement,
    ];
    if requirement == INSTALL_FILE {
        argv.push(&find_links);
    }
    let installed = run_step_metered(
        root,
        Some(BUILD_USER),
        b.share_dir,
        env,
        PIP_TIMEOUT,
        &argv,
        Some(("pip install", crate::report::Meter::Pip)),
    )
    .map_err(|e| lock_error(&inside, e));
    if requirement == INSTALL_FILE {
        for f in [INSTALL_FILE, LINKS_FILE] {
            let p = host_path(root, &format!("{}/{f}", b.share_dir));
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    installed?;
    let not_requested: Vec<String> = dists
        .into_iter()
        .map(|d| d.name)
        .filter(|n| !b.requested.contains(n))
        .collect();
    let python = format!("{}/bin/python", b.env_dir);
    let mut argv: Vec<&str> = vec![&python, "-I", "-c", REQUESTED_SCRIPT, b.env_dir];
    argv.extend(not_requested.iter().map(String::as_str));
    run_step(root, Some(BUILD_USER), "/", env, 60, &argv)?;
    Ok(())
}

/// Drops the `REQUESTED` mark (and its RECORD row) of the distributions
/// named (see the script's header).
const REQUESTED_SCRIPT: &str = include_str!("scripts/requested.py");

/// The lock with the hashes of the build dir's cached wheels added, in the
/// share dir while pip installs it (removed after).
const INSTALL_FILE: &str = ".djdd-install.lock";
/// The page of links to those wheels, beside it.
const LINKS_FILE: &str = ".djdd-wheels.html";

/// pip's report, in the share dir while the env builds (removed after).
const LOCK_REPORT: &str = ".pip-report.json";
/// The lock, shipped in the env package beside the requirement files.
pub const LOCK_FILE: &str = "requirements.lock";

/// Turns pip's installation report into `requirements.lock` lines, one a
/// distribution sorted by name: `NAME==VERSION --hash=sha256:HEX` (the hash
/// of the archive pip downloaded: the wheel, or the sdist it built), or a
/// comment for a distribution without one (a VCS or local requirement).
const LOCK_SCRIPT: &str = include_str!("scripts/lock.py");

/// Writes `SHARE/requirements.lock` from pip's report (see [`LOCK_SCRIPT`]),
/// with the root's python, and removes the report.
fn write_lock(
    root: &BuildRoot,
    b: &EnvBuild<'_>,
    env: &[(String, String)],
    report: &str,
) -> Result<()> {
    let python = format!("/usr/bin/python{}", b.python_version);
    let out = read_report(root, env, &python, LOCK_SCRIPT, report, &[b.env_dir])?;
    let lock = host_path(root, &format!("{}/{LOCK_FILE}", b.share_dir));
    std::fs::write(&lock, out).map_err(|e| Error::io(&lock, e))
}

/// Runs `script` (a djdd Python script) with `python` over pip's report
/// `report` (a path in the root) and `args`, as the build user; removes
/// the report and returns the script's stdout.
pub fn read_report(
    root: &BuildRoot,
    env: &[(String, String)],
    python: &str,
    script: &str,
    report: &str,
    args: &[&str],
) -> Result<Vec<u8>> {
    let mut argv = vec![python, "-I", "-c", script, report];
    argv.extend(args);
    let out = run_step(root, Some(BUILD_USER), "/", env, 60, &argv)?;
    let r = host_path(root, report);
    std::fs::remove_file(&r).map_err(|e| Error::io(&r, e))?;
    Ok(out.stdout)
}

/// The Debian suites djdd builds for, with the Python each one's
/// `python3` is (Debian's python3-defaults).
pub const SUITE_PYTHONS: &[(&str, &str)] = &[("bookworm", "3.11"), ("trixie", "3.13")];

/// When pip failed because a requirement needs another Python than the
/// build root's, the one sentence that says so: which requirement needs
/// which Python, what this root has, and the `djdd init --suite` that has
/// one. Read from pip's own messages ("Ignored the following versions
/// that require a different python version: V Requires-Python S; ..."
/// followed by "Could not find a version that satisfies the requirement
/// R", or "Package 'P' requires a different Python: X not in 'S'").
pub fn python_hint(pip_output: &str, root_python: &str) -> Option<String> {
    let mut spec: Option<String> = None;
    let mut versions: Vec<String> = Vec::new();
    let mut requirement: Option<String> = None;
    for line in pip_output.lines() {
        let line = line.trim().trim_start_matches("ERROR: ");
        if let Some(rest) = line.strip_prefix(
            "Ignored the following versions that require a different python version: ",
        ) {
            for item in rest.split("; ") {
                if let Some((v, s)) = item.split_once(" Requires-Python ") {
                    versions.push(v.trim().to_string());
                    spec = Some(s.trim().to_string());
                }
            }
        } else if let Some(rest) =
            line.strip_prefix("Could not find a version that satisfies the requirement ")
        {
            let r = rest.split(" (from versions").next().unwrap_or(rest);
            requirement.get_or_insert(r.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("Package '")
            && let Some((pkg, tail)) = rest.split_once("' requires a different Python: ")
            && let Some((_, s)) = tail.split_once(" not in '")
        {
            requirement.get_or_insert(pkg.to_string());
            spec = Some(s.trim_end_matches('\'').to_string());
        }
    }
    let spec = spec?;
    let what = requirement.unwrap_or_else(|| "a requirement".to_string());
    let ignored = if versions.is_empty() {
        String::new()
    } else {
        format!(" (pip skipped {} for that)", versions.join(", "))
    };
    let fix = SUITE_PYTHONS
        .iter()
        .find(|(_, py)| python_satisfies(py, &spec))
        .map(|(suite, py)| {
            format!(
                "a build root made with `djdd init --suite {suite}` has Python {py} (a new build dir: `djdd init --dir DIR --suite {suite}`)"
            )
        })
        .unwrap_or_else(|| "no Debian suite djdd knows has such a Python".to_string());
    Some(format!(
        "{what} needs Python {spec}{ignored}, and this build root has Python {root_python}: {fix}"
    ))
}

/// Whether Python `version` (`3.11`) meets a PEP 440 specifier set such as
/// `>=3.12`, `>=3.10,<4` or `~=3.12` (only what Requires-Python uses).
pub fn python_satisfies(version: &str, spec: &str) -> bool {
    fn parts(v: &str) -> Vec<u64> {
        v.split('.')
            .map(|p| p.trim().parse().unwrap_or(0))
            .collect()
    }
    fn cmp(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
        let n = a.len().max(b.len());
        let get = |v: &[u64], i| v.get(i).copied().unwrap_or(0);
        (0..n)
            .map(|i| get(a, i).cmp(&get(b, i)))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    }
    let v = parts(version);
    spec.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .all(|clause| {
            let (op, rest) = ["~=", "==", "!=", ">=", "<=", ">", "<"]
                .iter()
                .find_map(|op| clause.strip_prefix(op).map(|r| (*op, r.trim())))
                .unwrap_or(("==", clause));
            if let Some(prefix) = rest.strip_suffix(".*") {
                let p = parts(prefix);
                let same = v.len() >= p.len() && v[..p.len()] == p[..];
                return if op == "!=" { !same } else { same };
            }
            let w = parts(rest);
            let o = cmp(&v, &w);
            match op {
                ">=" => o.is_ge(),
                "<=" => o.is_le(),
                ">" => o.is_gt(),
                "<" => o.is_lt(),
                "!=" => o.is_ne(),
                "~=" => {
                    let upper: Vec<u64> = match w.len() {
                        0 | 1 => vec![u64::MAX],
                        n => {
                            let mut u = w[..n - 1].to_vec();
                            *u.last_mut().expect("n >= 2") += 1;
                            u
                        }
                    };
                    o.is_ge() && cmp(&v, &upper).is_lt()
                }
                _ => o.is_eq(),
            }
        })
}

/// Strips the ELF files below `env_dir` as dh_strip does, with the root's
/// own `strip`, as the build user: shared objects (`*.so*`) with
/// `--strip-unneeded`, executables (a program compiled from an sdist, such
/// as uWSGI's `bin/uwsgi`) of all symbols; both without `.comment` and
/// `.note` sections. Debian ships stripped objects (Policy 10.1; lintian:
/// unstripped-binary-or-object), and the symbol tables are smaller
/// without. A root without binutils (nothing was compiled) leaves the
/// files as pip installed them.
pub fn strip_objects(root: &BuildRoot, env_dir: &str) -> Result<()> {
    let host = host_path(root, env_dir);
    let mut shared: Vec<String> = Vec::new();
    let mut programs: Vec<String> = Vec::new();
    for e in walkdir::WalkDir::new(&host)
        .follow_links(false)
        .sort_by_file_name()
    {
        let e = e.map_err(|e| Error::io(&host, std::io::Error::other(e.to_string())))?;
        if !e.file_type().is_file() {
            continue;
        }
        let mut magic = [0u8; 4];
        let is_elf = std::fs::File::open(e.path())
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
            && magic == *b"\x7fELF";
        if !is_elf {
            continue;
        }
        let name = e.file_name().to_string_lossy();
        let rel = e.path().strip_prefix(&host).expect("below the walk's root");
        let inside = format!("{env_dir}/{}", rel.to_string_lossy());
        if name.ends_with(".so") || name.contains(".so.") {
            shared.push(inside);
        } else if name.ends_with(".o") || name.ends_with(".a") {
            // Objects and archives for linking: left as they are.
        } else {
            programs.push(inside);
        }
    }
    if (shared.is_empty() && programs.is_empty()) || !host_path(root, "/usr/bin/strip").exists() {
        return Ok(());
    }
    tracing::info!(
        "stripping {} shared objects and {} programs",
        shared.len(),
        programs.len()
    );
    let path = [("PATH".to_string(), "/usr/bin:/bin".to_string())];
    for (files, how) in [(&shared, Some("--strip-unneeded")), (&programs, None)] {
        if files.is_empty() {
            continue;
        }
        let mut argv: Vec<&str> = vec![
            "/usr/bin/strip",
            "--remove-section=.comment",
            "--remove-section=.note",
        ];
        argv.extend(how);
        argv.push("--");
        argv.extend(files.iter().map(String::as_str));
        run_step(root, Some(BUILD_USER), "/", &path, 600, &argv)?;
    }
    // Their distributions' RECORD still carries the hashes of the files as
    // pip installed them (with debug info naming pip's random build
    // directory: different on every build).
    let python = format!("{env_dir}/bin/python");
    let mut argv: Vec<&str> = vec![&python, "-I", "-c", RECORD_SCRIPT, env_dir];
    argv.extend(shared.iter().chain(&programs).map(String::as_str));
    run_step(root, Some(BUILD_USER), "/", &path, 600, &argv)?;
    Ok(())
}

/// Rewrites the RECORD rows of stripped files (see the script's header).
const RECORD_SCRIPT: &str = include_str!("scripts/record.py");

/// Removes every `__pycache__` directory below `dir` (on the host side).
pub fn remove_bytecode(dir: &Path) -> Result<()> {
    let mut caches = Vec::new();
    for e in walkdir::WalkDir::new(dir).follow_links(false) {
        let e = e.map_err(|e| Error::io(dir, std::io::Error::other(e.to_string())))?;
        if e.file_type().is_dir() && e.file_name() == "__pycache__" {
            caches.push(e.path().to_path_buf());
        }
    }
    for c in caches {
        std::fs::remove_dir_all(&c).map_err(|e| Error::io(&c, e))?;
    }
    Ok(())
}

/// The Debian packages providing the shared libraries the env's compiled
/// modules link to: (package, library) pairs, sorted; libraries dpkg knows
/// no owner of are an error naming them.
pub fn shlib_packages(root: &BuildRoot, env_dir: &str) -> Result<Vec<(String, String)>> {
    let script = include_str!("scripts/shlibdeps.py");
    let out = run_step(
        root,
        None,
        "/",
        &[("PATH".into(), "/usr/bin:/bin:/usr/sbin:/sbin".into())],
        600,
        &["/usr/bin/python3", "-c", script, env_dir],
    )?;
    let mut pairs = Vec::new();
    let mut unowned = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((pkg, lib)) = line.split_once('\t') {
            if pkg == "unowned" {
                unowned.push(lib.to_string());
            } else {
                pairs.push((pkg.to_string(), lib.to_string()));
            }
        }
    }
    if !unowned.is_empty() {
        return Err(Error::invalid_hint(
            format!("virtualenv {env_dir}"),
            format!(
                "its compiled modules link to libraries no Debian package owns: {}",
                unowned.join(", ")
            ),
            "build those libraries as part of a wheel, or install them from a Debian package listed in venv-debian-requirements.txt",
        ));
    }
    Ok(pairs)
}

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
    fn lock_py_writes_what_the_plan_reads_back() {
        // pip's report (format 1) for an index wheel, an sdist given by
        // its URL, and a VCS checkout; the build root's python runs the
        // script, /usr/bin/python3 (python3-venv, .ci/apt-packages) here.
        let h1 = "1".repeat(64);
        let h2 = "2".repeat(64);
        let report = format!(
            r#"{{"version": "1", "install": [
  {{"metadata": {{"name": "Django", "version": "5.2.8"}}, "is_direct": false, "requested": true,
    "download_info": {{"url": "https://files.example.org/Django-5.2.8-py3-none-any.whl", "archive_info": {{"hash": "sha256={h1}"}}}}}},
  {{"metadata": {{"name": "my_lib", "version": "1.2"}}, "is_direct": true, "requested": true,
    "download_info": {{"url": "https://e.org/dl/my_lib-1.2.tar.gz", "archive_info": {{"hash": "sha256={h2}", "hashes": {{"sha256": "{h2}"}}}}}}}},
  {{"metadata": {{"name": "vcs.thing", "version": "0.1"}}, "is_direct": true, "requested": true,
    "download_info": {{"url": "https://git.example.org/thing.git", "vcs_info": {{"vcs": "git", "commit_id": "abc"}}}}}}
]}}"#
        );
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("report.json");
        std::fs::write(&path, report).unwrap();
        let out = std::process::Command::new("/usr/bin/python3")
            .args(["-I", "-c", LOCK_SCRIPT])
            .arg(&path)
            .arg("/usr/lib/demo-env/0123456789ab")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let got = crate::plan::parse_lock(&text).unwrap();
        let got: Vec<(&str, &str, &str, Option<&str>)> = got
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.version.as_str(),
                    d.requirement.as_str(),
                    d.sha256.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("django", "5.2.8", "django==5.2.8", Some(h1.as_str())),
                (
                    "my-lib",
                    "1.2",
                    "my-lib @ https://e.org/dl/my_lib-1.2.tar.gz",
                    Some(h2.as_str())
                ),
                ("vcs-thing", "0.1", "vcs-thing==0.1", None),
            ],
            "{text}"
        );
        assert!(crate::plan::installable(&text).is_err(), "{text}");
    }

    #[test]
    fn pips_python_complaint_becomes_one_sentence() {
        // pip 23.0 (bookworm's python3.11 venv) on `Django>=6.0,<6.1`.
        let out = "Collecting Django<6.1,>=6.0\n\
ERROR: Ignored the following versions that require a different python version: 6.0 Requires-Python >=3.12; 6.0.1 Requires-Python >=3.12\n\
ERROR: Could not find a version that satisfies the requirement Django<6.1,>=6.0 (from versions: 1.1.3, 5.2.19)\n\
ERROR: No matching distribution found for Django<6.1,>=6.0\n";
        assert_eq!(
            python_hint(out, "3.11").unwrap(),
            "Django<6.1,>=6.0 needs Python >=3.12 (pip skipped 6.0, 6.0.1 for that), and this build root has Python 3.11: a build root made with `djdd init --suite trixie` has Python 3.13 (a new build dir: `djdd init --dir DIR --suite trixie`)"
        );
        let direct =
            "ERROR: Package 'wagtail' requires a different Python: 3.11.2 not in '>=3.12'\n";
        assert!(
            python_hint(direct, "3.11")
                .unwrap()
                .starts_with("wagtail needs Python >=3.12")
        );
        let old = "ERROR: Package 'x' requires a different Python: 3.13.5 not in '<3.9'\n";
        assert!(
            python_hint(old, "3.13")
                .unwrap()
                .ends_with("no Debian suite djdd knows has such a Python")
        );
        assert_eq!(
            python_hint("ERROR: No matching distribution found for nope\n", "3.11"),
            None
        );
    }

    #[test]
    fn python_specifiers() {
        for (v, s, want) in [
            ("3.11", ">=3.12", false),
            ("3.13", ">=3.12", true),
            ("3.13", ">=3.10,<3.13", false),
            ("3.11", ">=3.10, <3.13", true),
            ("3.11", "~=3.10", true),
            ("3.13", "~=3.12.0", false),
            ("3.12", "==3.12.*", true),
            ("3.11", "!=3.11.*", false),
            ("3.11", ">3.11", false),
        ] {
            assert_eq!(python_satisfies(v, s), want, "{v} {s}");
        }
    }

    #[test]
    fn the_launcher_bounds_and_clears_the_environment() {
        let env = vec![("A".to_string(), "x y".to_string())];
        assert_eq!(
            bounded_argv(&env, 7, &["/bin/true", "-q"]),
            [
                "timeout",
                "--kill-after=10",
                "7",
                "env",
                "-i",
                "A=x y",
                "/bin/true",
                "-q"
            ]
        );
        let runner = crate::buildroot::runner::RealRunner;
        let dir = tempfile::tempdir().unwrap();
        // Exactly the variables given, in the directory given.
        let out = run_host_step(&runner, dir.path(), &env, 5, &["/usr/bin/env"]).unwrap();
        assert!(out.status.success());
        assert_eq!(out.text(), "A=x y");
        // A process that outlives the limit is stopped, and says so.
        let start = std::time::Instant::now();
        let out = run_host_step(&runner, dir.path(), &[], 1, &["/bin/sleep", "30"]).unwrap();
        assert!(timed_out(&out.status), "{:?}", out.status);
        assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
        let out = run_host_step(&runner, dir.path(), &[], 5, &["/bin/false"]).unwrap();
        assert!(!out.status.success() && !timed_out(&out.status));
        // The program must be an absolute path env(1) cannot misread.
        for bad in ["python3", "/x=y/python"] {
            assert!(run_host_step(&runner, dir.path(), &[], 5, &[bad]).is_err());
        }
    }

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
