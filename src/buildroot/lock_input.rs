//! The project's own lock as the env's input (`[env] requirements` in
//! djdd.toml, or a commit with uv.lock or pylock.toml and no
//! requirements.txt): what it installs on the build root's Python and
//! architecture, read in the root, as the build user, without asking an
//! index.
//!
//! A uv.lock is turned into a PEP 751 lock by `uv export --frozen
//! --offline --format pylock.toml --no-emit-project --no-default-groups`
//! (with the chosen `--extra` and `--group`): the project itself is left
//! out (its source is the src package; `env.install_project` installs it
//! after the lock, [`super::project`]), and no dependency group is
//! installed unless named, not even `dev`. A pylock.toml is read as it
//! is. The select script ([`super::uv::SELECT_SCRIPT`]) then keeps the
//! packages whose markers hold and picks each one's archive, run by the
//! root's python with Debian's pip wheel on its path (no env exists yet).
//!
//! Effects only: the decision what the env is built from is
//! [`crate::plan::env_source_file`]; the HASH is
//! [`crate::plan::Requirements::from_lock`] of what this returns.

use std::path::Path;

use crate::buildroot::env::base_env;
use crate::buildroot::python::suite_for;
use crate::buildroot::steps::{host_path, make_build_dir, remove_in_root, run_step};
use crate::buildroot::uv::{self, Picked, SELECT_SCRIPT, debian_wheel, parse_picked};
use crate::buildroot::{BUILD_USER, BuildRoot};
use crate::error::{Error, Result};
use crate::plan::EnvSourceFile;

/// What to read.
pub struct LockInput<'a> {
    pub source: &'a EnvSourceFile,
    /// The lock's files at the commit, by repository path (the lock, and
    /// the pyproject.toml beside a uv.lock).
    pub files: &'a [(&'a str, &'a [u8])],
    /// PEP 685-normalised, for uv.lock only.
    pub extras: &'a [String],
    pub groups: &'a [String],
    /// The root's Python, `3.X`.
    pub python_version: &'a str,
    /// The build dir's cache dir on the host (uv's cache lives there).
    pub cache_dir: &'a Path,
    /// The commit, for messages.
    pub commit: &'a str,
}

/// Where the lock is read, inside the root.
fn scratch() -> String {
    format!("/var/tmp/djdd-lock-{}", std::process::id())
}

/// The archive of each package the lock installs here, sorted by name.
pub fn read_lock(root: &BuildRoot, l: &LockInput<'_>) -> Result<Vec<Picked>> {
    let dir = scratch();
    remove_in_root(root, &dir)?;
    make_build_dir(root, &dir)?;
    let got = read_in(root, l, &dir);
    let _ = remove_in_root(root, &dir);
    got
}

fn read_in(root: &BuildRoot, l: &LockInput<'_>, dir: &str) -> Result<Vec<Picked>> {
    let path = l.source.path();
    let what = format!("{path} (commit {})", l.commit);
    for (rel, bytes) in l.files {
        let dest = host_path(root, &format!("{dir}/{rel}"));
        std::fs::write(&dest, bytes).map_err(|e| Error::io(&dest, e))?;
    }
    let python = format!("/usr/bin/python{}", l.python_version);
    let base = base_env(root)?;
    let env = uv::uv_env(root, l.cache_dir, l.python_version, &base)?;
    let pylock = match l.source {
        EnvSourceFile::UvLock => {
            let uv = uv::ensure_tool(root, &python, &base)?;
            let mut argv: Vec<&str> = vec![
                &uv,
                "export",
                "--frozen",
                "--offline",
                "--format",
                "pylock.toml",
                "--no-emit-project",
                "--no-default-groups",
                "--no-header",
                "--quiet",
            ];
            for e in l.extras {
                argv.extend(["--extra", e.as_str()]);
            }
            for g in l.groups {
                argv.extend(["--group", g.as_str()]);
            }
            let out = run_step(root, Some(BUILD_USER), dir, &env, 120, &argv)
                .map_err(|e| refused(&what, "uv export", e))?;
            let exported = format!("{dir}/pylock.djdd-export.toml");
            let p = host_path(root, &exported);
            std::fs::write(&p, &out.stdout).map_err(|e| Error::io(&p, e))?;
            exported
        }
        other => format!("{dir}/{}", other.path()),
    };
    let mut env = env;
    env.push(("DJDD_PIP_WHEEL".into(), debian_wheel(root, "pip")?));
    let argv = [python.as_str(), "-I", "-c", SELECT_SCRIPT, &pylock];
    let out = match run_step(root, Some(BUILD_USER), "/", &env, 60, &argv) {
        Ok(out) => out,
        Err(Error::Command { status, output, .. }) => {
            return Err(select_error(&what, l.python_version, &status, &output));
        }
        Err(e) => return Err(e),
    };
    let picked = parse_picked(&String::from_utf8_lossy(&out.stdout))
        .map_err(|why| Error::invalid(what.clone(), why))?;
    let lock_text = l
        .files
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    if let Some(p) = picked.iter().find(|p| p.kind == "none") {
        return Err(Error::invalid_hint(
            format!("{}{}", p.name, at_line(&lock_text, &p.name)),
            format!(
                "in {what}, {} has no archive with a sha256 for Python {} on {} (a VCS checkout, a local directory, or only wheels for other platforms and no sdist)",
                p.version,
                l.python_version,
                root.arch()
            ),
            "lock it from an index or an archive URL (an sdist or a wheel for this platform), then commit the lock",
        ));
    }
    if picked.is_empty() {
        return Err(Error::invalid_hint(
            what,
            format!(
                "installs nothing on Python {} (no package of it is for this Python and platform)",
                l.python_version
            ),
            "lock the project's dependencies (`uv lock`), and name the extras and groups the env needs in djdd.toml's [env]",
        ));
    }
    Ok(picked)
}

/// ` (line N of the lock)` for the package `name`'s entry, when found.
fn at_line(lock: &str, name: &str) -> String {
    lock.lines()
        .position(|line| {
            line.trim()
                .strip_prefix("name = \"")
                .and_then(|r| r.strip_suffix('"'))
                .and_then(crate::plan::requirement_name)
                .is_some_and(|n| n == name)
        })
        .map(|i| format!(" (line {} of the lock)", i + 1))
        .unwrap_or_default()
}

/// A failed `uv export`, explained with uv's own message (a TOML error
/// names the line).
fn refused(what: &str, step: &str, e: Error) -> Error {
    match e {
        Error::Command { output, .. } => Error::invalid_hint(
            what.to_string(),
            format!("{step} cannot read it: {}", message_of(&output)),
            "fix the lock (`uv lock` rewrites it from pyproject.toml) and commit it",
        ),
        other => other,
    }
}

/// The select script's failure: a lock for another Python (exit 3), a
/// marker that does not parse (4), or a lock that does not parse.
fn select_error(what: &str, python: &str, status: &str, output: &str) -> Error {
    let msg = message_of(output);
    // "exit status: 3"
    match status.rsplit([' ', ':']).next() {
        Some("3") => {
            let spec = msg.trim_start_matches("requires-python ").to_string();
            let hint = format!(
                "{}; or lock the project for Python {python} (requires-python in pyproject.toml, then `uv lock`)",
                suite_for(&spec)
            );
            Error::invalid_hint(
                what.to_string(),
                format!(
                    "has no entry for this build root's Python {python}: it is locked for requires-python {spec}"
                ),
                hint,
            )
        }
        _ => Error::invalid_hint(
            what.to_string(),
            format!("does not parse: {msg}"),
            "fix the lock (`uv lock` or `uv export --format pylock.toml` writes one) and commit it",
        ),
    }
}

/// The lines of a failed command's output that say why: uv's `error:`
/// and `Caused by:` lines, or Python's last line (the exception).
fn message_of(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let from_uv: Vec<&str> = lines
        .iter()
        .copied()
        .skip_while(|l| !l.starts_with("error:"))
        .take(8)
        .collect();
    let picked = if !from_uv.is_empty() {
        from_uv.join(" ")
    } else {
        lines.last().copied().unwrap_or("no message").to_string()
    };
    crate::rules::names::printable(&picked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_is_found_by_its_normalised_name() {
        let lock = "version = 1\n\n[[package]]\nname = \"Typing_Extensions\"\nversion = \"4\"\n";
        assert_eq!(at_line(lock, "typing-extensions"), " (line 4 of the lock)");
        assert_eq!(at_line(lock, "django"), "");
    }

    #[test]
    fn the_reason_is_uvs_error_or_pythons_last_line() {
        let uv = "warning: x\nerror: Failed to parse `uv.lock`\n  Caused by: TOML parse error at line 3, column 1\n";
        assert_eq!(
            message_of(uv),
            "error: Failed to parse `uv.lock` Caused by: TOML parse error at line 3, column 1"
        );
        let py = "Traceback (most recent call last):\n  File x\ntomllib.TOMLDecodeError: Invalid value (at line 3, column 5)\n";
        assert_eq!(
            message_of(py),
            "tomllib.TOMLDecodeError: Invalid value (at line 3, column 5)"
        );
        let e = select_error(
            "pylock.toml (commit c)",
            "3.13",
            "exit status: 3",
            "requires-python >=3.99\n",
        );
        let s = e.to_string();
        assert!(
            s.contains("has no entry for this build root's Python 3.13"),
            "{s}"
        );
        assert!(s.contains("requires-python >=3.99"), "{s}");
    }
}
