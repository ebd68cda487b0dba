//! The env's virtualenv, built inside the build root: created at its final
//! path with the root's own `/usr/bin/python3.X`; installed by pip with the
//! build dir's wheel cache, exactly from the resolution lock when there is
//! one, else resolved and its lock written from pip's report (what pip would
//! build from sdists is built first, at fixed paths: [`sdists`]); its
//! compiled objects stripped and bytecode compiled once, deterministically;
//! and the Debian packages of the shared libraries its compiled modules link
//! to. A pip failure that comes from the root's Python is explained.
//!
//! Effects only: what to build comes from `plan`. Every process runs
//! through [`super::steps`] (an argument array under `env -i` with exactly the
//! variables given, bounded by `timeout`). Never writes outside the build
//! root.

use std::io::Read;
use std::path::Path;

use crate::buildroot::steps::{
    PIP_CACHE_IN_ROOT, PIP_TIMEOUT, host_ca, host_path, make_build_dir, read_report,
    remove_bytecode, remove_in_root, run_step, run_step_metered,
};
use crate::buildroot::{BUILD_USER, BuildRoot, sdists, wheels};
use crate::error::{Error, Result};

/// mtime and SOURCE_DATE_EPOCH of everything in an env package: the env's
/// content depends on its requirements only, not on the commit it was first
/// built for, so its time is fixed too (2024-01-01; zip, which pip uses for
/// wheels, cannot store times before 1980).
pub const ENV_EPOCH: u64 = 1_704_067_200;

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
    /// What installs it: the env's pip, or uv ([`super::uv`]).
    pub installer: crate::plan::Installer,
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
    let mut venv: Vec<&str> = vec![&python, "-m", "venv"];
    if b.installer == crate::plan::Installer::Uv {
        // uv puts in what ensurepip would, from the same wheels, at a
        // tenth of the time ([`super::uv::seed`]).
        venv.push("--without-pip");
    }
    venv.push(b.env_dir);
    run_step(root, user, "/", &env, 300, &venv)?;
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
    match (b.installer, b.lock) {
        (crate::plan::Installer::Uv, _) => super::uv::install_env(root, b, &env)?,
        (crate::plan::Installer::Pip, Some(lock)) => install_lock(root, b, &env, &pip, lock)?,
        (crate::plan::Installer::Pip, None) => resolve(root, b, &env, &pip)?,
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
    log_resolving("pip install -r", b);
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

/// Says that `what` (`pip install -r`, `uv pip compile`) resolves the
/// requirements: the root file and djdd's own lines.
pub(crate) fn log_resolving(what: &str, b: &EnvBuild<'_>) {
    tracing::info!(
        "{what} {}/{}{}",
        b.share_dir,
        b.root_file,
        b.provided
            .iter()
            .map(|l| format!(" {l}"))
            .collect::<String>()
    );
}

/// A failed pip run resolving the requirements, explained.
fn resolve_error(b: &EnvBuild<'_>, e: Error) -> Error {
    resolve_error_of("pip install -r", b, e)
}

/// A failed run of `what` (`pip install -r`, `uv pip compile`) resolving
/// the requirements, explained: the one sentence that matters (a Python
/// the root has not), before the installer's pages.
pub(crate) fn resolve_error_of(what: &str, b: &EnvBuild<'_>, e: Error) -> Error {
    match e {
        Error::Command { status, output, .. } => {
            let hint = python_hint(&output, b.python_version)
                .map(|h| format!("{h}\n"))
                .unwrap_or_default();
            Error::Command {
                command: format!("{what} {} (in the build root)", b.root_file),
                status,
                output: format!("{hint}{output}"),
            }
        }
        other => other,
    }
}

/// A failed pip run installing a lock, explained: the distributions pip
/// could not get, the tail of its output, and `--rebuild-env`.
pub(crate) fn lock_error(inside: &str, e: Error) -> Error {
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
            lock_refused(inside, &format!("{what}{tail}"))
        }
        other => other,
    }
}

/// The lock `inside` no longer installs: `what` (the distributions and
/// why), and `--rebuild-env`.
pub(crate) fn lock_refused(inside: &str, what: &str) -> Error {
    Error::invalid_hint(
        format!("the resolution lock {inside}"),
        format!("no longer installs: {what}"),
        "`djdd build --rebuild-env` resolves the requirements again and writes a new lock (the env's content may then change under the same HASH)",
    )
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
        log_kept_wheels(&from_cache);
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
    drop_requested(root, b.env_dir, env, &not_requested)
}

/// Drops the `REQUESTED` mark of the distributions `names` in `env_dir`.
pub(crate) fn drop_requested(
    root: &BuildRoot,
    env_dir: &str,
    env: &[(String, String)],
    names: &[String],
) -> Result<()> {
    drop_dist_file(root, env_dir, env, "REQUESTED", names)
}

/// Removes `file` from the `.dist-info` of the distributions `names` (`*`:
/// all) in `env_dir`, and its RECORD row ([`DROP_DIST_FILE_SCRIPT`]), with
/// the env's python as the build user.
pub(crate) fn drop_dist_file(
    root: &BuildRoot,
    env_dir: &str,
    env: &[(String, String)],
    file: &str,
    names: &[String],
) -> Result<()> {
    let python = format!("{env_dir}/bin/python");
    let mut argv: Vec<&str> = vec![&python, "-I", "-c", DROP_DIST_FILE_SCRIPT, env_dir, file];
    argv.extend(names.iter().map(String::as_str));
    run_step(root, Some(BUILD_USER), "/", env, 60, &argv)?;
    Ok(())
}

/// Says which distributions come from wheels the build dir built before
/// from their sdists (`NAME==VERSION` each).
pub(crate) fn log_kept_wheels(from_cache: &[String]) {
    let one = from_cache.len() == 1;
    tracing::info!(
        "{} wheel{} built before from {} sdist{} (the build dir's cache): {}",
        from_cache.len(),
        if one { "" } else { "s" },
        if one { "its" } else { "their" },
        if one { "" } else { "s" },
        from_cache.join(" ")
    );
}

/// Drops a file (and its RECORD row) of the distributions named (see the
/// script's header).
const DROP_DIST_FILE_SCRIPT: &str = include_str!("scripts/drop_dist_file.py");

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
        } else if let Some(rest) = line
            .trim_start_matches("cause: ")
            .strip_prefix("Because the current Python version (")
        {
            // uv: "Because the current Python version (3.11.2) does not
            // satisfy Python>=3.12 and django>=6.0,<=6.0.10 depends on
            // Python>=3.12, we can conclude that ... cannot be used."
            if let Some((_, after)) = rest.split_once(") does not satisfy Python") {
                let s = after.split(" and ").next().unwrap_or(after);
                spec = Some(s.trim().trim_end_matches(',').to_string());
            }
        } else if let Some(rest) = line.split_once("you require ").map(|(_, r)| r) {
            // uv: "... and you require django>=6.0,<6.1, we can conclude".
            if let Some((r, _)) = rest.split_once(", we can conclude") {
                requirement.get_or_insert(r.trim().to_string());
            }
        } else if let Some(rest) = line.strip_prefix("Package '") {
            if let Some((pkg, tail)) = rest.split_once("' requires a different Python: ") {
                if let Some((_, s)) = tail.split_once(" not in '") {
                    requirement.get_or_insert(pkg.to_string());
                    spec = Some(s.trim_end_matches('\'').to_string());
                }
            }
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
        // uv 0.13 (`uv pip compile --python ENV/bin/python`) on the same.
        let uv = "error: No solution found when resolving dependencies\n\
  cause: Because the current Python version (3.11.2) does not satisfy Python>=3.12 and django>=6.0,<=6.0.10 depends on Python>=3.12, we can conclude that django>=6.0,<=6.0.10 cannot be used.\n\
         And because only the following versions of django are available:\n\
             django<=6.0.10\n\
             django>=6.1\n\
         and you require django>=6.0,<6.1, we can conclude that your requirements are unsatisfiable.\n";
        assert_eq!(
            python_hint(uv, "3.11").unwrap(),
            "django>=6.0,<6.1 needs Python >=3.12, and this build root has Python 3.11: a build root made with `djdd init --suite trixie` has Python 3.13 (a new build dir: `djdd init --dir DIR --suite trixie`)"
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
}
