//! What the env's two installers share ([`super::pip`], [`super::uv`]):
//! the env build's inputs ([`EnvBuild`]), the lock's name, a failed
//! resolution or lock install explained, the line that names the wheels
//! the build dir kept, and the dist-info marks dropped after an install.
//!
//! Effects only, through [`super::steps`]; never writes outside the build
//! root.

use std::path::Path;

use crate::buildroot::python::python_hint;
use crate::buildroot::steps::run_step;
use crate::buildroot::{BUILD_USER, BuildRoot};
use crate::error::Error;
use crate::error::Result;

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
    /// The commit's tree (`git archive`), when the project itself is
    /// installed into the env after its dependencies ([`super::project`]).
    pub project: Option<&'a [u8]>,
}

/// The lock, shipped in the env package beside the requirement files.
pub const LOCK_FILE: &str = "requirements.lock";

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
pub(crate) fn lock_error(inside: &str, root_file: &str, e: Error) -> Error {
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
            lock_refused(inside, root_file, &format!("{what}{tail}"))
        }
        other => other,
    }
}

/// The lock `inside` no longer installs: `what` (the distributions and
/// why), and `--rebuild-env`; for a lock made from the project's own
/// (`root_file`, uv.lock or a pylock.toml), how to fix that one.
pub(crate) fn lock_refused(inside: &str, root_file: &str, what: &str) -> Error {
    if root_file != crate::plan::REQUIREMENTS {
        return Error::invalid_hint(
            format!("the project's {root_file} (as {inside})"),
            format!("does not install: {what}"),
            format!(
                "lock it again against the index (`uv lock --upgrade-package NAME`, or export the pylock.toml again) and commit {root_file}"
            ),
        );
    }
    Error::invalid_hint(
        format!("the resolution lock {inside}"),
        format!("no longer installs: {what}"),
        "`djdd build --rebuild-env` resolves the requirements again and writes a new lock (the env's content may then change under the same HASH)",
    )
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
/// all) in `env_dir`, and its RECORD row ([`DIST_INFO_SCRIPT`]), with
/// the env's python as the build user.
pub(crate) fn drop_dist_file(
    root: &BuildRoot,
    env_dir: &str,
    env: &[(String, String)],
    file: &str,
    names: &[String],
) -> Result<()> {
    let args = drop_args(&[(file, names)]);
    run_dist_info(root, env_dir, env, "drop", &args)?;
    Ok(())
}

/// The script's `FILE NAMES` pairs of `drops` (each NAMES one word, comma-
/// separated PEP 503 names or `*`).
pub(crate) fn drop_args(drops: &[(&str, &[String])]) -> Vec<String> {
    drops
        .iter()
        .flat_map(|(file, names)| [file.to_string(), names.join(",")])
        .collect()
}

/// Runs [`DIST_INFO_SCRIPT`]'s `command` on `env_dir` with `args`, with
/// the env's python as the build user; returns its standard output.
pub(crate) fn run_dist_info(
    root: &BuildRoot,
    env_dir: &str,
    env: &[(String, String)],
    command: &str,
    args: &[String],
) -> Result<String> {
    let python = format!("{env_dir}/bin/python");
    let mut argv: Vec<&str> = vec![&python, "-I", "-c", DIST_INFO_SCRIPT, command, env_dir];
    argv.extend(args.iter().map(String::as_str));
    let out = run_step(root, Some(BUILD_USER), "/", env, 600, &argv)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
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

/// Checks installed files against their RECORD, and drops files (and
/// their RECORD rows) of the distributions named (see the script's header).
const DIST_INFO_SCRIPT: &str = include_str!("scripts/dist_info.py");
