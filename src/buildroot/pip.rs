//! pip's path of the env build: the env's own pip installs exactly from
//! the resolution lock when there is one, else resolves the requirements
//! and its report becomes the lock; what pip would build from sdists is
//! built first, at fixed paths ([`sdists`]), and the wheels the build dir
//! kept of them are offered to it. `DJDD_INSTALLER=pip` chooses it.
//!
//! Effects only: every process runs through [`super::steps`]. Never writes
//! outside the build root.

use crate::buildroot::install::{
    EnvBuild, LOCK_FILE, drop_requested, lock_error, log_kept_wheels, log_resolving,
    resolve_error_of,
};
use crate::buildroot::steps::{PIP_TIMEOUT, host_path, read_report, run_step_metered};
use crate::buildroot::{BUILD_USER, BuildRoot, sdists, wheels};
use crate::error::{Error, Result};

/// Installs the env's distributions with its own pip: exactly the lock
/// when the build has one ([`install_lock`]), else resolved ([`resolve`]).
pub(crate) fn install_env(
    root: &BuildRoot,
    b: &EnvBuild<'_>,
    env: &[(String, String)],
) -> Result<()> {
    let pip = format!("{}/bin/pip", b.env_dir);
    match b.lock {
        Some(lock) => install_lock(root, b, env, &pip, lock),
        None => resolve(root, b, env, &pip),
    }
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

/// A failed pip run resolving the requirements, explained.
fn resolve_error(b: &EnvBuild<'_>, e: Error) -> Error {
    resolve_error_of("pip install -r", b, e)
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
    prebuild(root, b, env, pip, &args, |e| {
        lock_error(&inside, b.root_file, e)
    })?;
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
    .map_err(|e| lock_error(&inside, b.root_file, e));
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

/// The lock with the hashes of the build dir's cached wheels added, in the
/// share dir while pip installs it (removed after).
const INSTALL_FILE: &str = ".djdd-install.lock";

/// The page of links to those wheels, beside it.
const LINKS_FILE: &str = ".djdd-wheels.html";

/// pip's report, in the share dir while the env builds (removed after).
const LOCK_REPORT: &str = ".pip-report.json";

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
}
