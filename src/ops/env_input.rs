//! What the env is built from, at one commit: requirements.txt (parsed by
//! [`crate::plan::load_project`]) or the project's own lock (read in the
//! build root by [`crate::buildroot::lock_input`]). `djdd build` and
//! `djdd check` both call [`project_inputs`], so check finds the env the
//! build made.

use crate::builddir::BuildDir;
use crate::buildroot::BuildRoot;
use crate::buildroot::lock_input::{LockInput, read_lock};
use crate::config::project::{EnvSource, PYPROJECT};
use crate::error::Error;
use crate::plan::{self, EnvSourceFile, ProjectInputs, ReadFile, Requirements};

/// The project's env inputs at `commit`, every file read through `read`
/// (which records what the build ships). With a lock, what it installs on
/// this root's Python and architecture becomes the requirements the env
/// HASH is computed from; the lock must hold the app server.
///
/// With `env.install_project`, `tree` (the commit's git tree id) is an
/// input of the env HASH too, and the commit must have what builds the
/// project (pyproject.toml or setup.py at its root).
pub fn project_inputs(
    bd: &BuildDir,
    root: &BuildRoot,
    env: &EnvSource,
    asgi: bool,
    commit: &str,
    tree: &str,
    read: &mut ReadFile<'_>,
) -> anyhow::Result<ProjectInputs> {
    if env.install_project {
        let buildable = [PYPROJECT, "setup.py"]
            .iter()
            .map(|p| read(p).map(|b| b.is_some()))
            .collect::<crate::Result<Vec<bool>>>()?;
        if !buildable.contains(&true) {
            return Err(Error::invalid_hint(
                format!(
                    "{}: key `env.install_project`",
                    crate::config::project::FILE
                ),
                format!(
                    "asks for the project itself in the env, and commit {commit} has neither pyproject.toml nor setup.py to build it with"
                ),
                "commit a pyproject.toml with [project] and [build-system] tables at the repository root, or drop `install_project`",
            )
            .into());
        }
    }
    let mut inputs = dependencies(bd, root, env, asgi, commit, read)?;
    if env.install_project {
        inputs.project_tree = Some(tree.to_string());
    }
    Ok(inputs)
}

/// The distributions the env installs at `commit` (everything but the
/// project itself).
fn dependencies(
    bd: &BuildDir,
    root: &BuildRoot,
    env: &EnvSource,
    asgi: bool,
    commit: &str,
    read: &mut ReadFile<'_>,
) -> anyhow::Result<ProjectInputs> {
    let source = plan::env_source_file(env, &mut |p: &str| Ok(read(p)?.is_some()))?;
    if source == EnvSourceFile::Requirements {
        return Ok(plan::load_project(read)?);
    }
    let mut shipped: Vec<(&str, Vec<u8>)> = Vec::new();
    for path in source.files() {
        let bytes = read(path)?.ok_or_else(|| {
            let hint = if path == PYPROJECT {
                "commit the pyproject.toml that uv.lock locks, beside it at the repository root"
                    .to_string()
            } else {
                format!(
                    "commit {path} at the repository root, or name what the env is built from in {}'s `env.requirements`",
                    crate::config::project::FILE
                )
            };
            Error::invalid_hint(
                format!("{path} (commit {commit})"),
                "does not exist, and the env is built from it",
                hint,
            )
        })?;
        shipped.push((path, bytes));
    }
    let files: Vec<(&str, &[u8])> = shipped.iter().map(|(p, b)| (*p, b.as_slice())).collect();
    let python_version = root.python_version()?;
    let picked = read_lock(
        root,
        &LockInput {
            source: &source,
            files: &files,
            extras: &env.extras,
            groups: &env.groups,
            python_version: &python_version,
            cache_dir: &bd.cache_dir(),
            commit,
        },
    )?;
    let lines: Vec<String> = picked.iter().map(|p| p.lock_line()).collect();
    let requirements = Requirements::from_lock(source.path(), &files, lines);
    let inputs = plan::with_debian(requirements, read)?;
    let server = plan::app_server(&inputs, asgi);
    if !server.provided.is_empty() {
        let names: Vec<&str> = server
            .provided
            .iter()
            .map(|l| l.split("==").next().unwrap_or(l))
            .collect();
        let add = if source == EnvSourceFile::UvLock {
            format!(
                "`uv add {}`, then commit pyproject.toml and uv.lock",
                names.join(" ")
            )
        } else {
            format!(
                "add {} to the project's dependencies and export the lock again",
                names.join(" and ")
            )
        };
        return Err(Error::invalid_hint(
            format!("{} (commit {commit})", source.path()),
            format!(
                "does not lock {}, which serves the site, and djdd never adds to a lock",
                names.join(" or ")
            ),
            add,
        )
        .into());
    }
    Ok(inputs)
}
