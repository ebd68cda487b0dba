//! What makes the site package's static files, in the build root: the
//! project's build steps (`[[build.steps]]`: a docs build, `npm ci && npm
//! run build`), `manage.py collectstatic`, and `build.commands`, in that
//! order as djdd.toml places them, as the build user with the contract's
//! build-time environment.
//!
//! Without build steps collectstatic runs in the source tree itself (it
//! only reads it). With them everything runs in a copy of the tree
//! (`/var/tmp/djdd-steps/NAME-VARIANT`, a fixed path so that what a step
//! writes does not depend on the build), which the steps may write to; the
//! src package is made from the tree as committed, so it stays one per
//! commit. What a step makes reaches the target only through collectstatic.

use std::path::{Path, PathBuf};

use super::Inputs;
use super::package::{BuildLog, build_env, manage_name, project_cwd, step_error};
use crate::buildroot::{BUILD_USER, BuildRoot, steps};
use crate::config::project::{BuildStep, Command, FILE, StepWhen};
use crate::contract;
use crate::error::{Error, Result};

/// Where the copy of the source the steps run in is, inside the root.
const STEPS_TREE_DIR: &str = "/var/tmp/djdd-steps";

/// Where the build dir's npm cache is inside the root (the cache dir's
/// bind mount): `npm ci` of later builds takes its packages from there.
pub const NPM_CACHE_IN_ROOT: &str = "/djdd/cache/npm";

/// Directories a step's program is looked up in, after the env's `bin/`.
const ROOT_PROGRAM_DIRS: &[&str] = &["/usr/bin", "/bin"];

/// What the static-files stage needs besides the root and the inputs.
pub struct StaticBuild<'a> {
    pub site: &'a contract::Site,
    /// The env's directory inside the root.
    pub env_dir: &'a str,
    /// The commit's source tree inside the root.
    pub src_dir: &'a str,
    /// This build's scratch directory inside the root.
    pub scratch: &'a str,
    /// The build dir's cache dir on the host (`D/cache`).
    pub cache_dir: &'a Path,
}

/// The build steps, `manage.py collectstatic` and the project's
/// `build.commands`; returns the host path of the collected files.
pub fn collectstatic(
    root: &BuildRoot,
    inputs: &Inputs,
    b: &StaticBuild<'_>,
    log: &mut BuildLog,
) -> Result<PathBuf> {
    let project = &inputs.project;
    let mut env = build_env(root, b.site, b.env_dir, b.scratch)?;
    let steps_list = &project.build.steps;
    // Every step's program is found (once) before any of them runs, with
    // manage.py in the copy the steps run in.
    let steps_tree = steps_tree(&b.site.site());
    let argvs = steps_list
        .iter()
        .enumerate()
        .map(|(i, s)| step_argv(root, inputs, b.env_dir, &steps_tree, i + 1, s))
        .collect::<Result<Vec<_>>>()?;
    let work = if steps_list.is_empty() {
        None
    } else {
        env.extend(step_env(root, inputs, b.cache_dir)?);
        Some(WorkTree::copy(root, b.src_dir, &b.site.site())?)
    };
    let tree = work.as_ref().map_or(b.src_dir, |w| w.inside.as_str());
    let cwd = project_cwd(inputs, tree);
    let python = format!("{}/bin/python", b.env_dir);
    let manage = manage_name(inputs);

    let run_steps = |when: StepWhen, log: &mut BuildLog| -> Result<()> {
        for (i, (step, argv)) in steps_list.iter().zip(&argvs).enumerate() {
            if step.when == when {
                run_step(root, inputs, tree, &env, i + 1, step, argv, log)?;
            }
        }
        Ok(())
    };

    run_steps(StepWhen::BeforeCollectstatic, log)?;
    if project.build.collectstatic {
        tracing::info!("manage.py collectstatic");
        // Verbosity 2 names each file copied: the progress counts them.
        let out = steps::run_step_metered(
            root,
            Some(BUILD_USER),
            &cwd,
            &env,
            inputs.timeout,
            &[
                &python,
                &manage,
                "collectstatic",
                "--noinput",
                "--verbosity",
                "2",
            ],
            Some(("collectstatic", crate::report::Meter::Collectstatic)),
        )
        .map_err(|e| step_error("manage.py collectstatic --noinput", inputs, e))?;
        log.output("collectstatic", &out.tail);
    }
    for cmd in &project.build.commands {
        let full = manage_argv(&python, &manage, cmd);
        let argv: Vec<&str> = full.iter().map(String::as_str).collect();
        tracing::info!("manage.py {}", cmd.join(" "));
        let out = steps::run_step(root, Some(BUILD_USER), &cwd, &env, inputs.timeout, &argv)
            .map_err(|e| {
                step_error(
                    &format!("manage.py {} (djdd.toml build.commands)", cmd.join(" ")),
                    inputs,
                    e,
                )
            })?;
        log.output("build command", &out.tail);
    }
    run_steps(StepWhen::AfterCollectstatic, log)?;
    drop(work);
    Ok(steps::host_path(root, &format!("{}/static", b.scratch)))
}

/// The variables a build step gets besides the contract's build-time ones:
/// npm's cache in the build dir (kept between builds like pip's), quiet
/// npm, the host's CA (as pip gets it), and the commit's time as
/// SOURCE_DATE_EPOCH for tools that stamp what they make.
fn step_env(root: &BuildRoot, inputs: &Inputs, cache_dir: &Path) -> Result<Vec<(String, String)>> {
    let npm = cache_dir.join("npm");
    std::fs::create_dir_all(&npm).map_err(|e| Error::io(&npm, e))?;
    let (uid, gid) = steps::build_user_ids(root)?;
    std::os::unix::fs::chown(&npm, Some(uid), Some(gid)).map_err(|e| Error::io(&npm, e))?;
    let mut env: Vec<(String, String)> = vec![
        ("npm_config_cache".into(), NPM_CACHE_IN_ROOT.into()),
        ("npm_config_update_notifier".into(), "false".into()),
        ("npm_config_fund".into(), "false".into()),
        ("npm_config_audit".into(), "false".into()),
        (
            "SOURCE_DATE_EPOCH".into(),
            inputs.plan.commit.time.to_string(),
        ),
    ];
    if let Some(ca) = steps::host_ca(root)? {
        env.push(("PIP_CERT".into(), ca.into()));
        env.push(("NODE_EXTRA_CA_CERTS".into(), ca.into()));
    }
    Ok(env)
}

/// Where the copy of the source the steps of SITE run in is, inside the
/// root.
fn steps_tree(site: &str) -> String {
    format!("{STEPS_TREE_DIR}/{site}")
}

/// The copy of the source the steps run in; removed when dropped.
struct WorkTree<'a> {
    root: &'a BuildRoot,
    inside: String,
}

impl<'a> WorkTree<'a> {
    /// `STEPS_TREE_DIR/SITE`, a fresh copy of `src_dir` owned by the
    /// build user (only this variant's build, under its lock, uses it).
    fn copy(root: &'a BuildRoot, src_dir: &str, site: &str) -> Result<WorkTree<'a>> {
        let inside = steps_tree(site);
        steps::remove_in_root(root, &inside)?;
        steps::make_build_dir(root, STEPS_TREE_DIR)?;
        let tree = WorkTree { root, inside };
        steps::run_step(
            root,
            Some(BUILD_USER),
            "/",
            &[("PATH".into(), "/usr/bin:/bin".into())],
            600,
            &[
                "/bin/cp",
                "-R",
                "--preserve=mode,timestamps",
                "--",
                src_dir,
                &tree.inside,
            ],
        )?;
        Ok(tree)
    }
}

impl Drop for WorkTree<'_> {
    fn drop(&mut self) {
        let _ = steps::remove_in_root(self.root, &self.inside);
    }
}

/// Runs build step `n` (from 1), `argv`, in `tree` and checks what it
/// makes.
#[allow(clippy::too_many_arguments)]
fn run_step(
    root: &BuildRoot,
    inputs: &Inputs,
    tree: &str,
    env: &[(String, String)],
    n: usize,
    step: &BuildStep,
    argv: &[String],
    log: &mut BuildLog,
) -> Result<()> {
    let key = format!("{FILE}: key `build.steps[{n}]");
    let cwd = join(tree, &step.cwd);
    if !steps::host_path(root, &cwd).is_dir() {
        return Err(Error::invalid_hint(
            format!("{key}.cwd`"),
            format!(
                "{:?} is not a directory of the source at this commit (nor made by an earlier step)",
                display_dir(&step.cwd)
            ),
            "give a directory of the repository, from its root (\".\" is the root)",
        ));
    }
    let words = step.command.words().join(" ");
    tracing::info!("build step {n}: {words}");
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = steps::run_step(root, Some(BUILD_USER), &cwd, env, inputs.timeout, &refs)
        .map_err(|e| step_error(&format!("build step {n}, {words} ({key}`)"), inputs, e))?;
    log.output(&format!("build step {n}: {words}"), &out.tail);
    for dir in &step.makes {
        if !steps::host_path(root, &join(tree, dir)).is_dir() {
            return Err(Error::invalid_hint(
                format!("{key}.makes`"),
                format!("the step ran, but the directory {dir:?} is not there after it"),
                "make the step write there, or correct `makes`",
            ));
        }
    }
    Ok(())
}

/// Build step `n`'s argument vector: manage.py from `tree` with the env's
/// python, or its program found in the env's `bin/`, then the root's
/// `/usr/bin` and `/bin` (an error naming the key when it is in none).
fn step_argv(
    root: &BuildRoot,
    inputs: &Inputs,
    env_dir: &str,
    tree: &str,
    n: usize,
    step: &BuildStep,
) -> Result<Vec<String>> {
    let python = format!("{env_dir}/bin/python");
    match &step.command {
        Command::Manage(args) => Ok(manage_argv(
            &python,
            &join(tree, &inputs.project.manage),
            args,
        )),
        Command::Program(words) => {
            let name = &words[0];
            let env_bin = format!("{env_dir}/bin");
            let found = std::iter::once(env_bin.as_str())
                .chain(ROOT_PROGRAM_DIRS.iter().copied())
                .map(|d| format!("{d}/{name}"))
                .find(|p| is_executable_in_root(root, p));
            let Some(program) = found else {
                return Err(Error::invalid_hint(
                    format!("{FILE}: key `build.steps[{n}].command`"),
                    format!(
                        "the program `{name}` is neither in the env ({env_bin}) nor in the build root's /usr/bin or /bin"
                    ),
                    "a program of the build root comes from a Debian package listed as `build` in src-debian-requirements.txt (e.g. `nodejs build` and `npm build`); a program of the env from a distribution in requirements.txt",
                ));
            };
            let mut v = vec![program];
            v.extend(words[1..].iter().cloned());
            Ok(v)
        }
    }
}

/// Whether `inside` (a path in the root) is an executable file. Symlinks
/// are followed inside the root: a virtualenv's `bin/python` points at
/// `/usr/bin/python3.X` of the root, not of the host.
fn is_executable_in_root(root: &BuildRoot, inside: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let mut p = steps::host_path(root, inside);
    for _ in 0..40 {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            return false;
        };
        if !m.file_type().is_symlink() {
            return m.is_file() && m.permissions().mode() & 0o111 != 0;
        }
        let Ok(target) = std::fs::read_link(&p) else {
            return false;
        };
        p = match target.to_str() {
            Some(t) if t.starts_with('/') => steps::host_path(root, t),
            _ => match p.parent() {
                Some(dir) => dir.join(&target),
                None => return false,
            },
        };
    }
    false
}

/// `dir/rel`, or `dir` when `rel` is empty.
fn join(dir: &str, rel: &str) -> String {
    if rel.is_empty() {
        dir.to_string()
    } else {
        format!("{dir}/{rel}")
    }
}

/// A repository directory as the user wrote it (`"."`: the root).
fn display_dir(rel: &str) -> &str {
    if rel.is_empty() { "." } else { rel }
}

/// `PYTHON MANAGE ARGS...`: one of djdd.toml's `build.commands`, which the
/// contract defines as manage.py commands (docs/contract.md).
fn manage_argv(python: &str, manage: &str, args: &[String]) -> Vec<String> {
    let mut v = vec![python.to_string(), manage.to_string()];
    v.extend(args.iter().cloned());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_commands_run_through_manage_py() {
        let cmd = vec!["compress".to_string(), "--force".to_string()];
        assert_eq!(
            manage_argv("/usr/lib/demo-env/abc/bin/python", "manage.py", &cmd),
            [
                "/usr/lib/demo-env/abc/bin/python",
                "manage.py",
                "compress",
                "--force"
            ]
        );
    }

    #[test]
    fn step_directories_join_the_tree() {
        assert_eq!(join("/t", ""), "/t");
        assert_eq!(join("/t", "frontend/app"), "/t/frontend/app");
        assert_eq!(display_dir(""), ".");
    }
}
