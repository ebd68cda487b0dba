//! `djdd check [PATH | NAME [VARIANT]]`: validates a project against the
//! deploy contract and prints every problem with its fix. Exit 0 when
//! clean (warnings allowed), 1 when there are problems, 2 on usage errors.
//!
//! Glue only: finds the tree (a checkout, or `git archive` of a source's
//! mirror into a temp dir), hands it to the pure checks of
//! `check`, and runs the embedded Python probe under the
//! contract's build-time and run-time environments. Where the probe runs:
//! with `--python PY`, on this host with that interpreter; otherwise, for a
//! NAME whose build dir has a build root in which the env of the checked
//! commit's requirements is built, inside the build root as the build user
//! with that env's python, in a scratch dir of the root that is removed
//! afterwards. Both go through the build's launcher
//! (`buildroot::steps::bounded_argv`: `timeout ... env -i ...`), so each run
//! is bounded and its process group killed. Never writes into the checked
//! tree, nor into the build root outside its scratch dir.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::builddir::BuildDir;
use crate::buildroot::BuildRoot;
use crate::buildroot::runner::RealRunner;
use crate::buildroot::{BUILD_USER, source_tree, steps};
use crate::check::{self, Outcome, Phase, Problem, Severity, StaticReport, Tree};
use crate::cli::check::CheckArgs;
use crate::config::variant::Variant;
use crate::contract::{BuildContext, build_env};

/// A usage error: printed, exit status 2.
fn usage(message: impl Into<String>) -> anyhow::Error {
    crate::ops::Usage(message.into()).into()
}

pub fn run(args: &CheckArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::Builder::new()
        .prefix("djdd-check-")
        .tempdir()
        .context("creating a temp dir")?;
    let mut notes = Vec::new();
    let timeout = u32::try_from(args.timeout).unwrap_or(u32::MAX);

    let python = python_arg(args)?;

    let Target {
        root,
        name,
        variant,
        source,
        conf,
    } = target(args, dir, tmp.path(), &mut notes)?;
    let tree = DirTree { root: root.clone() };
    let mut settings = None;
    if let Some(v) = &conf {
        if let Some(module) = &v.settings {
            notes.push(format!(
                "settings module {module}: from variant {} (it wins over djdd.toml and manage.py, as in djdd build)",
                v.variant
            ));
            settings = Some(check::SettingsOverride {
                module: module.clone(),
                fix: format!(
                    "name an existing module with `djdd variant {name} {} --settings MODULE`, or use djdd.toml's with `--project-settings`",
                    v.variant
                ),
            });
        }
    }
    let report = check::static_checks_with(&tree, settings.as_ref());
    let StaticReport {
        project,
        mut problems,
        notes: static_notes,
        wsgi_file_found,
        includes_complete,
    } = report;
    notes.extend(static_notes);

    // The app server: from the requirements, or provided by djdd.
    if let Ok(inputs) = crate::plan::load_project(&mut |p: &str| Ok(tree.read(p))) {
        notes.push(format!(
            "app server: {}",
            crate::plan::app_server(&inputs, project.asgi.is_some()).describe()
        ));
    }
    // The timers' calendars, as systemd reads them.
    for t in &project.timers {
        match crate::buildroot::host::calendar_problem(&RealRunner, &t.calendar) {
            Ok(None) => {}
            Ok(Some(why)) => problems.push(Problem::error(
                "timer-calendar",
                format!("{}: key `timers.{}.calendar`", crate::config::project::FILE, t.name),
                format!("systemd refuses {:?}: {why}", t.calendar),
                "write a systemd calendar expression, e.g. \"daily\" or \"*-*-* 04:00:00\" (systemd.time(7))",
            )),
            Err(e) => notes.push(format!("timer {}'s calendar was not checked: {e}", t.name)),
        }
    }

    // Where the checks that import the project run, if anywhere.
    let probe = place_probe(
        args,
        dir,
        &python,
        &source,
        &root,
        &tree,
        &name,
        &project,
        tmp.path(),
        timeout,
        &mut notes,
    )?;

    if let Some(probe) = &probe {
        let found = Found {
            problems: &mut problems,
            notes: &mut notes,
        };
        run_probe(
            probe,
            &name,
            &variant,
            conf.as_ref(),
            &project,
            &root,
            wsgi_file_found,
            includes_complete,
            found,
        )?;
    }
    // Removes the scratch dir in the build root (also on the error paths
    // above, by drop), then releases the build dir's lock.
    drop(probe);

    let problems = check::dedupe(problems);
    print_report(&problems, &notes);
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The start of the note saying the probe did not run.
const SKIPPED: &str = "the checks that import the project were skipped (settings and WSGI imports, celery app, collectstatic, `manage.py check --deploy`, requirement syntax)";

/// `--python PY`: an absolute path (the probe runs in the project
/// directory), not canonical (a virtualenv's python is a symlink out of
/// it), that env(1) can run.
fn python_arg(args: &CheckArgs) -> anyhow::Result<Option<PathBuf>> {
    Ok(match &args.python {
        Some(p) => {
            if !p.is_file() {
                return Err(usage(format!(
                    "--python {}: no such file (give the python of a virtualenv with the project's requirements)",
                    p.display()
                )));
            }
            let abs =
                std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))?;
            if abs.to_string_lossy().contains('=') {
                return Err(usage(format!(
                    "--python {}: a path with '=' cannot be run through env(1); link the python to a path without it",
                    p.display()
                )));
            }
            Some(abs)
        }
        None => None,
    })
}

/// Where the checks that import the project run: on this host with
/// `--python`, inside the build root for a NAME whose env is built, or
/// nowhere (a note says why).
#[allow(clippy::too_many_arguments)]
fn place_probe(
    args: &CheckArgs,
    dir: &Path,
    python: &Option<PathBuf>,
    source: &Option<Source>,
    root: &Path,
    tree: &DirTree,
    name: &str,
    project: &crate::config::project::Project,
    tmp: &Path,
    timeout: u32,
    notes: &mut Vec<String>,
) -> anyhow::Result<Option<Probe>> {
    Ok(match (python, source) {
        (Some(py), _) => Some(Probe::host(py, root, tmp, timeout)),
        (None, Some(src)) => {
            match Probe::in_root(
                dir,
                name,
                args.variant.as_deref(),
                src,
                tree,
                timeout,
                project,
                notes,
            )? {
                Ok(p) => {
                    notes.push(format!(
                        "the checks that import the project ran inside the build root {} as user {BUILD_USER}, with {} (the env built for these requirements)",
                        p.root_path().display(),
                        p.python
                    ));
                    Some(p)
                }
                Err(why) => {
                    notes.push(format!("{SKIPPED}: {why}"));
                    None
                }
            }
        }
        (None, None) => {
            notes.push(format!(
                "{SKIPPED}: give --python PATH, the python of a virtualenv with the project's requirements installed (or check a source added with `djdd src` by its NAME: then they run inside the build root once `djdd build` has built its env)"
            ));
            None
        }
    })
}

/// Where the probe's findings go.
struct Found<'a> {
    problems: &'a mut Vec<Problem>,
    notes: &'a mut Vec<String>,
}

/// The checks that import the project, in the probe: its requirements,
/// then the build phase (the build-time environment), the processes' and
/// timers' manage.py commands, and the run phase (the run-time
/// environment with fake secrets), each only when the one before lets it.
#[allow(clippy::too_many_arguments)]
fn run_probe(
    probe: &Probe,
    name: &str,
    variant: &str,
    conf: Option<&Variant>,
    project: &crate::config::project::Project,
    root: &Path,
    wsgi_file_found: bool,
    includes_complete: bool,
    found: Found<'_>,
) -> anyhow::Result<()> {
    let Found { problems, notes } = found;
    let mut site = check::check_site(name, variant, project);
    if let Some(v) = conf {
        site.domain.clone_from(&v.domain);
    }
    let tree_in = probe.tree.as_str();
    let project_dir = join(tree_in, &project.project_dir);
    let scratch = probe.scratch.as_str();

    if includes_complete {
        let home = format!("{scratch}/home");
        probe.mkdir(&home)?;
        let env = minimal_env(&home);
        let req = join(tree_in, crate::config::project::REQUIREMENTS);
        let out = probe.run(&["requirements", &req], &env, tree_in)?;
        let (records, mut p) = check::outcome_records(Phase::Requirements, &out, tree_in);
        let (rp, rn) = check::interpret_requirements(&records);
        problems.append(&mut p);
        problems.extend(rp);
        notes.extend(rn);
    }

    let settings = project
        .settings
        .as_ref()
        .filter(|_| root.join(&project.project_dir).is_dir());
    if let Some(settings) = settings {
        // Build phase: exactly the build-time environment.
        let build_scratch = format!("{scratch}/build/scratch");
        let static_root = format!("{scratch}/build/static");
        for d in [
            format!("{scratch}/build"),
            build_scratch.clone(),
            static_root.clone(),
            format!("{build_scratch}/media"),
            format!("{build_scratch}/log"),
            format!("{build_scratch}/home"),
        ] {
            probe.mkdir(&d)?;
        }
        let ctx = BuildContext {
            site: &site,
            env_dir: probe.env_dir.clone(),
            static_root,
            scratch: build_scratch,
        };
        let env = build_env(&ctx);
        let wsgi = match (&project.wsgi, wsgi_file_found) {
            (Some(w), true) => w.as_str(),
            _ => "-",
        };
        let celery = project.celery.as_deref().unwrap_or("-");
        let collectstatic = if project.build.collectstatic {
            "1"
        } else {
            "0"
        };
        let out = probe.run(
            &["build", settings, wsgi, celery, collectstatic],
            &env,
            &project_dir,
        )?;
        let (records, mut p) = check::outcome_records(Phase::Build, &out, tree_in);
        problems.append(&mut p);
        problems.extend(check::interpret_build(
            &records,
            project,
            &probe.interpreter(),
        ));

        // The commands of the processes, timers, build steps and release
        // commands exist
        // (only when the settings import: `help` needs them).
        if check::settings_imported(&records) {
            let build_packages = debian_build_packages(root);
            check_job_commands(
                probe,
                project,
                tree_in,
                &project_dir,
                &env,
                &build_packages,
                problems,
                notes,
            )?;
        }

        // Run phase: only when the settings import at all.
        if check::settings_imported(&records) {
            let run_tmp = format!("{scratch}/run");
            probe.mkdir(&run_tmp)?;
            for d in ["static", "media", "log", "home"] {
                probe.mkdir(&format!("{run_tmp}/{d}"))?;
            }
            let env = check::check_runtime_env(&site, &run_tmp, &probe.env_dir);
            let out = probe.run(&["run", settings, celery, &site.domain], &env, &project_dir)?;
            let (records, mut p) = check::outcome_records(Phase::Run, &out, tree_in);
            problems.append(&mut p);
            problems.extend(check::interpret_run(&records, project, &env, &site.domain));
            notes.push(format!(
                "the run-time checks used site {} with fake secrets, HTTPS_ONLY=true, a DATABASE_URL that is never contacted, and temp dirs for STATIC_ROOT, MEDIA_ROOT, LOG_DIR and HOME",
                site.site()
            ));
        } else if records
            .iter()
            .any(|r| matches!(r, check::Record::Fail { stage, .. } if stage == "settings"))
        {
            notes.push("the run-time checks were skipped: the settings do not import under the build-time environment".into());
        }
    }
    Ok(())
}

/// The commands of the project's processes, timers, build steps and
/// release commands exist: manage.py commands (`manage.py help CMD` under
/// the build-time environment ENV; only when the settings import: `help`
/// needs them), programs in the env's `bin/` or the root's `/usr/bin`,
/// `/bin` (`command -v` with ENV's PATH). A program missing from the root
/// is only a warning when the project lists Debian build packages: `djdd
/// build` installs those first (`build_packages`).
#[allow(clippy::too_many_arguments)]
fn check_job_commands(
    probe: &Probe,
    project: &crate::config::project::Project,
    tree_in: &str,
    project_dir: &str,
    env: &[(String, String)],
    build_packages: &[String],
    problems: &mut Vec<Problem>,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    use crate::config::project::Command;
    let manage = join(tree_in, &project.manage);
    let file = crate::config::project::FILE;
    let mut commands: Vec<(String, &Command)> = Vec::new();
    for p in &project.processes {
        commands.push((format!("processes.{}.command", p.name), &p.command));
    }
    for t in &project.timers {
        commands.push((format!("timers.{}.command", t.name), &t.command));
    }
    for (i, s) in project.build.steps.iter().enumerate() {
        commands.push((format!("build.steps[{}].command", i + 1), &s.command));
    }
    for (i, c) in project.release.iter().enumerate() {
        commands.push((format!("release.commands[{}]", i + 1), c));
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut programs: Vec<&str> = Vec::new();
    for (key, command) in &commands {
        match command {
            Command::Manage(args) => {
                let cmd = args[0].as_str();
                if seen.contains(&cmd) {
                    continue;
                }
                seen.push(cmd);
                let out = probe.exec(&[&probe.python, &manage, "help", cmd], env, project_dir)?;
                if !out.status.success() {
                    let last = out.last_line().unwrap_or("").to_string();
                    problems.push(Problem::error(
                        "process-command",
                        format!("{file}: key `{key}`"),
                        format!("manage.py has no command `{cmd}` (`manage.py help {cmd}`: {last})"),
                        "name a management command of the project (`manage.py help` lists them), or add it",
                    ));
                }
            }
            Command::Program(words) => {
                let name = words[0].as_str();
                if programs.contains(&name) {
                    continue;
                }
                programs.push(name);
                let out = probe.exec(
                    &["/bin/sh", "-c", "command -v -- \"$1\"", "sh", name],
                    env,
                    project_dir,
                )?;
                if out.status.success() {
                    continue;
                }
                let what = format!("{file}: key `{key}`");
                let problem = format!(
                    "the program `{name}` is neither in the env ({}/bin) nor in /usr/bin or /bin",
                    probe.env_dir
                );
                if key.starts_with("build.steps") && !build_packages.is_empty() {
                    problems.push(Problem::warning(
                        "process-command",
                        what,
                        format!("{problem} of the build root now"),
                        format!(
                            "`djdd build` installs the build packages ({}) into the root before the steps: if one of them provides `{name}`, this goes away",
                            build_packages.join(" ")
                        ),
                    ));
                } else {
                    problems.push(Problem::error(
                        "process-command",
                        what,
                        problem,
                        "a program of the env comes from requirements.txt; one of the build root from a Debian package listed in src-debian-requirements.txt (`build` for a build step, e.g. `nodejs build` and `npm build`; `run` for the target)",
                    ));
                }
            }
        }
    }
    if !seen.is_empty() {
        notes.push(format!(
            "the manage.py commands of the processes, timers, build steps and release commands exist: checked {}",
            seen.join(", ")
        ));
    }
    if !programs.is_empty() {
        notes.push(format!(
            "the programs they run were looked up in the env and the root: {}",
            programs.join(", ")
        ));
    }
    let made: Vec<&str> = project
        .build
        .steps
        .iter()
        .flat_map(|s| s.makes.iter().map(String::as_str))
        .collect();
    if !made.is_empty() {
        notes.push(format!(
            "the build steps make {}: Django's staticfiles.W004 for them does not count",
            made.join(", ")
        ));
    }
    Ok(())
}

/// The Debian build packages of the project's requirement files in the
/// source tree at `root` (unreadable or invalid files: none; the file
/// checks report them).
fn debian_build_packages(root: &Path) -> Vec<String> {
    use crate::config::project::{SRC_DEBIAN_REQUIREMENTS, VENV_DEBIAN_REQUIREMENTS};
    let mut out = Vec::new();
    for f in [SRC_DEBIAN_REQUIREMENTS, VENV_DEBIAN_REQUIREMENTS] {
        let parsed = std::fs::read(root.join(f))
            .ok()
            .and_then(|b| crate::plan::debian_requirements::DebianRequirements::parse(f, &b).ok());
        out.extend(parsed.into_iter().flat_map(|r| r.build));
    }
    out.sort();
    out.dedup();
    out
}

/// `dir/rel`, or `dir` when `rel` is empty.
fn join(dir: &str, rel: &str) -> String {
    if rel.is_empty() {
        dir.to_string()
    } else {
        format!("{}/{rel}", dir.trim_end_matches('/'))
    }
}

/// Where the probe runs.
enum Place {
    /// On this host (`--python`).
    Host,
    /// Inside the build root, as the build user; the build dir's shared
    /// lock is held meanwhile (no `djdd init` or package install under it).
    Root {
        root: Box<BuildRoot>,
        _lock: crate::builddir::DirLock,
    },
}

/// The probe's interpreter and the paths it sees: host paths, or paths
/// inside the build root. Dropping it removes its scratch dir from the
/// build root.
struct Probe {
    place: Place,
    /// The python, as the probe runs it (absolute).
    python: String,
    /// The virtualenv (PATH and the contract's `env_dir`).
    env_dir: String,
    /// The checked tree.
    tree: String,
    /// The parent of every temp dir the probe is given.
    scratch: String,
    timeout: u32,
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Place::Root { root, .. } = &self.place {
            if let Err(e) = steps::remove_in_root(root, &self.scratch) {
                tracing::warn!("could not remove {}: {e}", self.scratch);
            }
        }
    }
}

/// The root's directory of `djdd check`'s scratch dirs.
const ROOT_SCRATCH: &str = "/var/tmp/djdd-check";

impl Probe {
    /// On this host with `python`, temp dirs below `tmp`.
    fn host(python: &Path, tree: &Path, tmp: &Path, timeout: u32) -> Probe {
        let env_dir = python
            .parent()
            .and_then(Path::parent)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        Probe {
            place: Place::Host,
            python: python.to_string_lossy().into_owned(),
            env_dir,
            tree: tree.to_string_lossy().into_owned(),
            scratch: tmp.join("probe").to_string_lossy().into_owned(),
            timeout,
        }
    }

    /// Inside the build root of `dir` with the env the build made for the
    /// tree's requirements, the source exported into a scratch dir of the
    /// root owned by the build user. `Err(why)` (the note's text) when
    /// there is no build root or that env is not built there yet.
    #[allow(clippy::too_many_arguments)]
    fn in_root(
        dir: &Path,
        name: &str,
        variant: Option<&str>,
        src: &Source,
        tree: &DirTree,
        timeout: u32,
        project: &crate::config::project::Project,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<Result<Probe, String>> {
        let asgi = project.asgi.is_some();
        let or_python = "or give --python PATH, the python of a virtualenv with the project's requirements installed";
        let build_cmd = format!(
            "`djdd build {name} {} --version {}`",
            variant.unwrap_or("VARIANT"),
            src.commit
        );
        let Ok(bd) = BuildDir::open(dir) else {
            return Ok(Err(format!(
                "{} is not a build dir with a build root: make one with `djdd init --dir {0}`, then {build_cmd} builds the env they run with; {or_python}",
                dir.display()
            )));
        };
        let Ok(root) = BuildRoot::open(&bd) else {
            return Ok(Err(format!(
                "the build dir {} has no finished build root: run `djdd init --dir {0}`, then {build_cmd} builds the env they run with; {or_python}",
                bd.path().display()
            )));
        };
        if !crate::buildroot::host::is_root() {
            return Ok(Err(format!(
                "running them inside the build root {} needs root (schroot, the build user); run djdd check as root, {or_python}",
                root.path().display()
            )));
        }
        let lock = bd.lock_shared()?;
        let mut read = |path: &str| Ok(tree.read(path));
        // As the build reads them: requirements.txt, or the project's lock
        // read in the root.
        let inputs = match crate::ops::env_input::project_inputs(
            &bd,
            &root,
            &project.env,
            asgi,
            &src.commit,
            &src.tree,
            &mut read,
        ) {
            Ok(i) => i,
            Err(e) => {
                return Ok(Err(format!(
                    "djdd cannot read the requirement files ({e}), so it cannot tell which env the build would use; fix them (see above), {or_python}"
                )));
            }
        };
        let python_version = root.python_version()?;
        let reqs = &inputs.requirements;
        if reqs.root != crate::plan::REQUIREMENTS {
            let lines = reqs
                .files
                .get(&reqs.root)
                .map(|f| f.lines.as_slice())
                .unwrap_or_default();
            let installed: Vec<&str> = lines
                .iter()
                .filter_map(|l| l.split_whitespace().next())
                .collect();
            notes.push(format!(
                "env: a build in this root (python{python_version} {}) installs {} distributions from {}: {}",
                root.arch(),
                installed.len(),
                reqs.root,
                installed.join(" ")
            ));
        }
        let app_server = crate::plan::app_server(&inputs, asgi);
        let hash = crate::plan::hash::env_hash(&inputs.env_inputs(
            &python_version,
            root.arch(),
            &app_server.provided,
            crate::ops::installer_setting()?,
        ))?;
        let env_dir = crate::contract::env_dir(name, &hash.short);
        let python = format!("{env_dir}/bin/python");
        // As the build decides: its marker says the tree is complete.
        let marker = bd.state_dir().join("envs").join(&hash.full);
        let built =
            marker.is_file() && std::fs::symlink_metadata(steps::host_path(&root, &python)).is_ok();
        if !built {
            return Ok(Err(format!(
                "the env for these requirements, {name}-env-{} ({env_dir} in the build root), has not been built yet; build it with {build_cmd} and check again, {or_python}",
                hash.short
            )));
        }

        prune_scratch(&root);
        let scratch = format!("{ROOT_SCRATCH}/{name}-{}", std::process::id());
        steps::remove_in_root(&root, &scratch)?;
        let probe = Probe {
            place: Place::Root {
                root: Box::new(root),
                _lock: lock,
            },
            python,
            env_dir,
            tree: format!("{scratch}/src"),
            scratch,
            timeout,
        };
        let Place::Root { root, .. } = &probe.place else {
            unreachable!("made above")
        };
        steps::make_build_dir(root, &probe.scratch)?;
        source_tree::unpack_tree(root, &probe.tree, &src.tar)?;
        Ok(Ok(probe))
    }

    /// The build root's host path (for the note).
    fn root_path(&self) -> PathBuf {
        match &self.place {
            Place::Root { root, .. } => root.path(),
            Place::Host => PathBuf::from("/"),
        }
    }

    /// How problems name the interpreter.
    fn interpreter(&self) -> check::Interpreter {
        match &self.place {
            Place::Host => check::Interpreter::Given(self.python.clone()),
            Place::Root { .. } => check::Interpreter::BuiltEnv(self.python.clone()),
        }
    }

    /// Runs `argv` (the probe's python first) with exactly `env` in `cwd`,
    /// through the build's launcher, bounded by the timeout.
    fn exec(
        &self,
        argv: &[&str],
        env: &[(String, String)],
        cwd: &str,
    ) -> anyhow::Result<crate::buildroot::runner::Output> {
        Ok(match &self.place {
            Place::Host => {
                steps::run_host_step(&RealRunner, Path::new(cwd), env, self.timeout, argv)?
            }
            Place::Root { root, .. } => {
                steps::run_step_unchecked(root, Some(BUILD_USER), cwd, env, self.timeout, argv)?
            }
        })
    }

    /// Makes a directory the probe may write to (in the root: owned by
    /// the build user; its parent must exist).
    fn mkdir(&self, path: &str) -> anyhow::Result<()> {
        match &self.place {
            Place::Host => fs_err::create_dir_all(path)?,
            Place::Root { root, .. } => steps::make_build_dir(root, path)?,
        }
        Ok(())
    }

    /// Runs the probe with `args`, exactly `env`, in `cwd`, through the
    /// build's launcher, killed (with its process group) after the
    /// timeout.
    fn run(&self, args: &[&str], env: &[(String, String)], cwd: &str) -> anyhow::Result<Outcome> {
        let mut argv: Vec<&str> = vec![&self.python, "-c", check::PROBE];
        argv.extend_from_slice(args);
        let start = Instant::now();
        let out = self.exec(&argv, env, cwd)?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        // The runner keeps the last lines of both streams; the probe's
        // records are on stdout, the rest is the project's output.
        let records: std::collections::HashSet<&str> = stdout.lines().collect();
        let stderr = out
            .tail
            .lines()
            .filter(|l| !records.contains(l))
            .collect::<Vec<_>>()
            .join("\n");
        let limit = Duration::from_secs(u64::from(self.timeout));
        if steps::timed_out(&out.status) && start.elapsed() + Duration::from_millis(500) >= limit {
            return Ok(Outcome::TimedOut {
                seconds: u64::from(self.timeout),
                stderr,
            });
        }
        Ok(Outcome::Exited {
            success: out.status.success(),
            status: out.status.to_string(),
            stdout,
            stderr,
        })
    }
}

/// Removes the scratch dirs of `djdd check` runs that were killed (their
/// process is gone) from the root.
fn prune_scratch(root: &BuildRoot) {
    let dir = steps::host_path(root, ROOT_SCRATCH);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in rd.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = file.rsplit('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = steps::remove_in_root(root, &format!("{ROOT_SCRATCH}/{file}"));
        }
    }
}

fn print_report(problems: &[Problem], notes: &[String]) {
    let mut sorted: Vec<&Problem> = problems.iter().collect();
    sorted.sort_by_key(|p| p.severity);
    for p in &sorted {
        println!("{p}");
    }
    for n in notes {
        println!("note: {n}");
    }
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let warnings = problems.len() - errors;
    if problems.is_empty() {
        println!(
            "ok: the project meets the deploy contract, version {}",
            crate::contract::VERSION
        );
    } else {
        println!("{errors} error(s), {warnings} warning(s)");
    }
}

/// The tree to check: its host path, NAME and VARIANT for the fake site,
/// and for a NAME the commit and its `git archive`.
struct Target {
    root: PathBuf,
    name: String,
    variant: String,
    source: Option<Source>,
    /// The variant's file, when VARIANT is recorded in the build dir: its
    /// branch, domain and settings module are the site's.
    conf: Option<Variant>,
}

/// A commit of a source added with `djdd src`.
struct Source {
    commit: String,
    /// The commit's git tree id.
    tree: String,
    tar: Vec<u8>,
}

/// Finds the tree to check.
fn target(
    args: &CheckArgs,
    dir: &Path,
    tmp: &Path,
    notes: &mut Vec<String>,
) -> anyhow::Result<Target> {
    let t = args.target.clone().unwrap_or_else(|| ".".into());
    let is_path = t.contains('/') || t == "." || t == ".." || Path::new(&t).is_dir();
    if is_path {
        if let Some(v) = &args.variant {
            return Err(usage(format!(
                "VARIANT '{v}' only follows a NAME, not a path ({t})"
            )));
        }
        if args.rev.is_some() {
            return Err(usage("--rev only applies to a NAME, not a path"));
        }
        let root = Path::new(&t);
        if !root.is_dir() {
            return Err(usage(format!("{t}: no such directory")));
        }
        let root = root
            .canonicalize()
            .with_context(|| format!("resolving {t}"))?;
        return Ok(Target {
            root,
            name: "project".into(),
            variant: "check".into(),
            source: None,
            conf: None,
        });
    }

    let name = t;
    if !valid_name(&name) {
        return Err(usage(format!(
            "NAME '{}': must match ^[a-z][a-z0-9-]*$ and not end with '-' (or give a path, e.g. ./{})",
            name.escape_debug(),
            name.escape_debug()
        )));
    }
    if let Some(v) = &args.variant {
        if !valid_name(v) {
            return Err(usage(format!(
                "VARIANT '{}': must match ^[a-z][a-z0-9-]*$ and not end with '-'",
                v.escape_debug()
            )));
        }
    }
    let mirror = dir.join("src").join(format!("{name}.git"));
    if !mirror.is_dir() {
        return Err(usage(format!(
            "unknown NAME '{name}': {} does not exist\n  hint: add it with `djdd src {name} --clone URL`, or give a path",
            mirror.display()
        )));
    }
    let variant = args.variant.clone().unwrap_or_else(|| "check".into());
    let conf = args
        .variant
        .as_deref()
        .and_then(|v| load_variant(dir, &name, v));
    if let (Some(v), None) = (&args.variant, &conf) {
        let what = match &args.rev {
            Some(_) => "--rev".to_string(),
            None => format!("HEAD of {} (use --rev REV)", mirror.display()),
        };
        notes.push(format!(
            "variant {v} is not recorded in this build dir (or its file does not load): checked {what} as a site {name}-{v} with the defaults"
        ));
    }
    let rev = match (&args.rev, &conf) {
        (Some(r), _) => r.clone(),
        (None, Some(v)) => format!("refs/heads/{}", v.branch),
        (None, None) => "HEAD".into(),
    };
    let commit = resolve_rev(&mirror, &rev)?;
    let root = tmp.join("src");
    fs_err::create_dir_all(&root).context("making the temp dir")?;
    let root = root.canonicalize().context("resolving the temp dir")?;
    let tar = crate::source::archive(&mirror, &commit)?;
    let tree = crate::source::tree_id(&mirror, &commit)?;
    tar::Archive::new(&tar[..])
        .unpack(&root)
        .with_context(|| format!("unpacking git archive {commit} into {}", root.display()))?;
    notes.push(format!("checked {name} at commit {commit} ({rev})"));
    Ok(Target {
        root,
        name,
        variant,
        source: Some(Source { commit, tree, tar }),
        conf,
    })
}

fn valid_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The variant's file; None when the build dir has no such variant (or its
/// file does not load: the note printed then says the defaults were used).
fn load_variant(dir: &Path, name: &str, variant: &str) -> Option<Variant> {
    let bd = crate::builddir::BuildDir::open(dir).ok()?;
    crate::ops::variant::load(&bd, name, variant).ok()?
}

/// The commit `rev` names in the mirror, resolved as `djdd build
/// --version` resolves it (`source::resolve`: the revision's rule first,
/// a branch before a tag of the same name, ids of any length git uses).
fn resolve_rev(mirror: &Path, rev: &str) -> anyhow::Result<String> {
    match crate::source::resolve(mirror, Some(rev), "") {
        Ok(commit) => Ok(commit.id),
        Err(_) => Err(usage(format!(
            "--rev {rev:?}: not a commit, tag or branch of {}",
            mirror.display()
        ))),
    }
}

/// The environment of the requirements probe: nothing of the caller's.
fn minimal_env(home: &str) -> Vec<(String, String)> {
    vec![
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("HOME".into(), home.into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("PIP_NO_INPUT".into(), "1".into()),
    ]
}

/// The checked tree on disk (`root` canonical). Paths never leave the root
/// textually (the pure checks refuse `..`), and a symlink is followed only
/// when its target is inside the root: a file outside counts as missing.
pub(crate) struct DirTree {
    pub(crate) root: PathBuf,
}

impl DirTree {
    fn inside(&self, path: &str) -> Option<PathBuf> {
        let real = self.root.join(path).canonicalize().ok()?;
        real.starts_with(&self.root).then_some(real)
    }
}

impl Tree for DirTree {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let p = self.inside(path)?;
        if !p.is_file() {
            return None;
        }
        std::fs::read(p).ok()
    }

    fn is_dir(&self, path: &str) -> bool {
        self.inside(path).is_some_and(|p| p.is_dir())
    }

    fn files_under(&self, dir: &str) -> Vec<String> {
        let base = self.root.join(dir);
        walkdir::WalkDir::new(&base)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.file_name() != "__pycache__")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .filter_map(|e| {
                e.path()
                    .strip_prefix(&self.root)
                    .ok()
                    .map(|p| p.to_string_lossy().into_owned())
            })
            .collect()
    }
}
