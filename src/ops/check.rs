//! `djdd check [PATH | NAME [VARIANT]]`: validates a project against the
//! deploy contract and prints every problem with its fix. Exit 0 when
//! clean (warnings allowed), 1 when there are problems, 2 on usage errors.
//!
//! Glue only: finds the tree (a checkout, or `git archive` of a source's
//! mirror into a temp dir), hands it to the pure checks of
//! `contract::check`, and runs the embedded Python probe with the given
//! interpreter under the contract's build-time and run-time environments,
//! each run bounded by a timeout (the process group is killed). Never
//! writes into the checked tree. Running the probe inside the build root
//! with the built env is left to the build pipeline (see the note printed).

use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::cli::check::CheckArgs;
use crate::contract::check::{
    self as checks, Outcome, Phase, Problem, Severity, StaticReport, Tree,
};
use crate::contract::{BuildContext, build_env};

/// A usage error: printed, exit status 2.
struct Usage(String);

fn usage(message: impl Into<String>) -> Usage {
    Usage(message.into())
}

pub fn run(args: &CheckArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    match check(args, dir) {
        Ok(code) => Ok(code),
        Err(Err(e)) => Err(e),
        Err(Ok(Usage(message))) => {
            eprintln!("djdd: error: {message}");
            Ok(ExitCode::from(2))
        }
    }
}

type CheckResult<T> = Result<T, Result<Usage, anyhow::Error>>;

fn check(args: &CheckArgs, dir: &Path) -> CheckResult<ExitCode> {
    let tmp = tempfile::Builder::new()
        .prefix("djdd-check-")
        .tempdir()
        .context("creating a temp dir")
        .map_err(Err)?;
    let mut notes = Vec::new();

    let python = match &args.python {
        Some(p) => {
            if !p.is_file() {
                return Err(Ok(usage(format!(
                    "--python {}: no such file (give the python of a virtualenv with the project's requirements)",
                    p.display()
                ))));
            }
            Some(p.clone())
        }
        None => None,
    };

    let (root, name, variant) = target(args, dir, tmp.path(), &mut notes)?;
    let tree = DirTree { root: root.clone() };
    let report = checks::static_checks(&tree);
    let StaticReport {
        project,
        mut problems,
        notes: static_notes,
        wsgi_file_found,
        includes_complete,
    } = report;
    notes.extend(static_notes);

    match &python {
        None => notes.push(
            "the checks that import the project were skipped (settings and WSGI imports, celery app, collectstatic, `manage.py check --deploy`, requirement syntax): give --python PATH, the python of a virtualenv with the project's requirements installed".into(),
        ),
        Some(py) => {
            let env_dir = py
                .parent()
                .and_then(Path::parent)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let site = checks::check_site(&name, &variant, &project);
            let project_dir = root.join(&project.project_dir);
            let root_str = root.to_string_lossy().into_owned();
            let timeout = Duration::from_secs(args.timeout);
            let py_shown = py.display().to_string();

            if includes_complete {
                let env = minimal_env(tmp.path());
                let req = root.join(crate::config::project::REQUIREMENTS);
                let out = run_python(
                    py,
                    &["requirements", &req.to_string_lossy()],
                    &env,
                    &root,
                    timeout,
                    tmp.path(),
                    "requirements",
                )
                .map_err(Err)?;
                let (records, mut p) = checks::outcome_records(Phase::Requirements, &out, &root_str);
                let (rp, rn) = checks::interpret_requirements(&records);
                problems.append(&mut p);
                problems.extend(rp);
                notes.extend(rn);
            }

            if let Some(settings) = &project.settings
                && project_dir.is_dir()
            {
                // Build phase: exactly the build-time environment.
                let scratch = tmp.path().join("build/scratch");
                let static_root = tmp.path().join("build/static");
                for d in ["media", "log", "home"] {
                    mkdir(&scratch.join(d)).map_err(Err)?;
                }
                let ctx = BuildContext {
                    site: &site,
                    env_dir: env_dir.clone(),
                    static_root: static_root.to_string_lossy().into_owned(),
                    scratch: scratch.to_string_lossy().into_owned(),
                };
                let env = build_env(&ctx);
                let wsgi = match (&project.wsgi, wsgi_file_found) {
                    (Some(w), true) => w.as_str(),
                    _ => "-",
                };
                let celery = project.celery.as_deref().unwrap_or("-");
                let collectstatic = if project.build.collectstatic { "1" } else { "0" };
                let out = run_python(
                    py,
                    &["build", settings, wsgi, celery, collectstatic],
                    &env,
                    &project_dir,
                    timeout,
                    tmp.path(),
                    "build",
                )
                .map_err(Err)?;
                let (records, mut p) = checks::outcome_records(Phase::Build, &out, &root_str);
                problems.append(&mut p);
                problems.extend(checks::interpret_build(&records, &project, &py_shown));

                // Run phase: only when the settings import at all.
                if checks::settings_imported(&records) {
                    let run_tmp = tmp.path().join("run");
                    for d in ["static", "media", "log", "home"] {
                        mkdir(&run_tmp.join(d)).map_err(Err)?;
                    }
                    let env =
                        checks::check_runtime_env(&site, &run_tmp.to_string_lossy(), &env_dir);
                    let out = run_python(
                        py,
                        &["run", settings, celery, &site.domain],
                        &env,
                        &project_dir,
                        timeout,
                        tmp.path(),
                        "run",
                    )
                    .map_err(Err)?;
                    let (records, mut p) = checks::outcome_records(Phase::Run, &out, &root_str);
                    problems.append(&mut p);
                    problems.extend(checks::interpret_run(&records, &project, &env, &site.domain));
                    notes.push(format!(
                        "the run-time checks used site {} with fake secrets, HTTPS_ONLY=true, a DATABASE_URL that is never contacted, and temp dirs for STATIC_ROOT, MEDIA_ROOT, LOG_DIR and HOME",
                        site.site()
                    ));
                } else if records.iter().any(|r| matches!(r, checks::Record::Fail { stage, .. } if stage == "settings")) {
                    notes.push("the run-time checks were skipped: the settings do not import under the build-time environment".into());
                }
            }
        }
    }

    let problems = checks::dedupe(problems);
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

/// Finds the tree to check: (root, NAME, VARIANT) for the fake site.
fn target(
    args: &CheckArgs,
    dir: &Path,
    tmp: &Path,
    notes: &mut Vec<String>,
) -> CheckResult<(PathBuf, String, String)> {
    let t = args.target.clone().unwrap_or_else(|| ".".into());
    let is_path = t.contains('/') || t == "." || t == ".." || Path::new(&t).is_dir();
    if is_path {
        if let Some(v) = &args.variant {
            return Err(Ok(usage(format!(
                "VARIANT '{v}' only follows a NAME, not a path ({t})"
            ))));
        }
        if args.rev.is_some() {
            return Err(Ok(usage("--rev only applies to a NAME, not a path")));
        }
        let root = Path::new(&t);
        if !root.is_dir() {
            return Err(Ok(usage(format!("{t}: no such directory"))));
        }
        let root = root
            .canonicalize()
            .with_context(|| format!("resolving {t}"))
            .map_err(Err)?;
        return Ok((root, "project".into(), "check".into()));
    }

    let name = t;
    if !valid_name(&name) {
        return Err(Ok(usage(format!(
            "NAME '{}': must match ^[a-z][a-z0-9-]*$ and not end with '-' (or give a path, e.g. ./{})",
            name.escape_debug(),
            name.escape_debug()
        ))));
    }
    if let Some(v) = &args.variant
        && !valid_name(v)
    {
        return Err(Ok(usage(format!(
            "VARIANT '{}': must match ^[a-z][a-z0-9-]*$ and not end with '-'",
            v.escape_debug()
        ))));
    }
    let mirror = dir.join("src").join(format!("{name}.git"));
    if !mirror.is_dir() {
        return Err(Ok(usage(format!(
            "unknown NAME '{name}': {} does not exist\n  hint: add it with `djdd src {name} --clone URL`, or give a path",
            mirror.display()
        ))));
    }
    let variant = args.variant.clone().unwrap_or_else(|| "check".into());
    let rev = match (&args.rev, &args.variant) {
        (Some(r), _) => r.clone(),
        (None, Some(v)) => match variant_rev(dir, &name, v) {
            Some(r) => r,
            None => {
                notes.push(format!(
                    "variant {v} is not recorded in this build dir (or its file does not load): checked HEAD of {} (use --rev REV)",
                    mirror.display()
                ));
                "HEAD".into()
            }
        },
        (None, None) => "HEAD".into(),
    };
    let commit = resolve_rev(&mirror, &rev)?;
    let root = tmp.join("src");
    mkdir(&root).map_err(Err)?;
    let root = root
        .canonicalize()
        .context("resolving the temp dir")
        .map_err(Err)?;
    export(&mirror, &commit, &root).map_err(Err)?;
    notes.push(format!("checked {name} at commit {commit} ({rev})"));
    Ok((root, name, variant))
}

fn valid_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The variant's branch (`refs/heads/BRANCH`) from its variant file; None
/// when the build dir has no such variant (or its file does not load: the
/// note printed then says HEAD was checked).
fn variant_rev(dir: &Path, name: &str, variant: &str) -> Option<String> {
    let bd = crate::builddir::BuildDir::open(dir).ok()?;
    let v = crate::ops::variant::load(&bd, name, variant).ok()??;
    Some(format!("refs/heads/{}", v.branch))
}

fn resolve_rev(mirror: &Path, rev: &str) -> CheckResult<String> {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(mirror)
        .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{rev}^{{commit}}"))
        .stdin(Stdio::null())
        .output()
        .context("running git rev-parse")
        .map_err(Err)?;
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || commit.len() != 40 {
        return Err(Ok(usage(format!(
            "--rev {rev:?}: not a commit, tag or branch of {}",
            mirror.display()
        ))));
    }
    Ok(commit)
}

/// `git archive COMMIT` unpacked into `dest`.
fn export(mirror: &Path, commit: &str, dest: &Path) -> anyhow::Result<()> {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(mirror)
        .args(["archive", "--format=tar", commit])
        .stdin(Stdio::null())
        .output()
        .context("running git archive")?;
    if !out.status.success() {
        anyhow::bail!(
            "git archive {commit} in {} failed: {}",
            mirror.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    tar::Archive::new(&out.stdout[..])
        .unpack(dest)
        .with_context(|| format!("unpacking git archive {commit} into {}", dest.display()))
}

fn mkdir(p: &Path) -> anyhow::Result<()> {
    fs_err::create_dir_all(p)?;
    Ok(())
}

/// The environment of the requirements probe: nothing of the caller's.
fn minimal_env(tmp: &Path) -> Vec<(String, String)> {
    vec![
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("LANG".into(), "C.UTF-8".into()),
        (
            "HOME".into(),
            tmp.join("home").to_string_lossy().into_owned(),
        ),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("PIP_NO_INPUT".into(), "1".into()),
    ]
}

/// Runs the embedded probe with `python`, exactly `env`, in `cwd`, killed
/// (with its whole process group) after `timeout`. Output goes to files,
/// so a stuck grandchild holding a pipe cannot block us.
fn run_python(
    python: &Path,
    args: &[&str],
    env: &[(String, String)],
    cwd: &Path,
    timeout: Duration,
    tmp: &Path,
    label: &str,
) -> anyhow::Result<Outcome> {
    let out_path = tmp.join(format!("{label}.out"));
    let err_path = tmp.join(format!("{label}.err"));
    let stdout =
        File::create(&out_path).with_context(|| format!("creating {}", out_path.display()))?;
    let stderr =
        File::create(&err_path).with_context(|| format!("creating {}", err_path.display()))?;
    let mut child = Command::new(python)
        .arg("-c")
        .arg(checks::PROBE)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .with_context(|| format!("running {}", python.display()))?;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if start.elapsed() >= timeout {
            // The whole group: the probe and anything it started.
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{}", child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let read = |p: &Path| -> anyhow::Result<String> {
        let mut s = Vec::new();
        File::open(p)?.read_to_end(&mut s)?;
        Ok(String::from_utf8_lossy(&s).into_owned())
    };
    let stderr = read(&err_path)?;
    Ok(match status {
        Some(s) => Outcome::Exited {
            success: s.success(),
            status: s.to_string(),
            stdout: read(&out_path)?,
            stderr,
        },
        None => Outcome::TimedOut {
            seconds: timeout.as_secs(),
            stderr,
        },
    })
}

/// The checked tree on disk (`root` canonical). Paths never leave the root
/// textually (the pure checks refuse `..`), and a symlink is followed only
/// when its target is inside the root: a file outside counts as missing.
struct DirTree {
    root: PathBuf,
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
