//! `djdd check`'s checks, a stage of its own above `plan` and `render`:
//! each is one function that looks at the project (through [`Tree`], a
//! read-only view of its files) or at what the Python probe reported, and
//! returns every problem it finds, each with the fix. It reads the deploy
//! contract (`contract`), the project file's rules (`config`) and the
//! requirements parser (`plan`); no stage below reads it. `ops::check`
//! reads the tree, runs the probe (`probe.py`, embedded) and prints the
//! report.
//!
//! Pure: never touches the disk or runs a process; the `Tree` and the
//! probe's output are handed in. Follows docs/contract.md (the project's
//! side of the contract) and Debian Policy §5.6.1 for package names.

use std::fmt;

use crate::config::project::{
    self, FILE as DJDD_TOML, Project, REQUIREMENTS, SRC_DEBIAN_REQUIREMENTS,
    VENV_DEBIAN_REQUIREMENTS,
};
use crate::contract::{self, Reads, Secrets, Site, VARIABLES, full_runtime_env};
use crate::error::Error;

/// The Python probe, run with the project's interpreter.
pub const PROBE: &str = include_str!("probe.py");

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Breaks the contract: the build or the site would fail.
    Error,
    /// Best effort: probably wrong, possibly not (`djdd check` still exits 0).
    Warning,
}

/// One thing wrong with the project, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    /// The check's id, e.g. `requirements-include`.
    pub check: &'static str,
    /// The file, line, key or module at fault.
    pub what: String,
    pub problem: String,
    pub fix: String,
    /// Supporting output (a traceback's tail), if any.
    pub detail: Option<String>,
}

impl Problem {
    pub fn error(
        check: &'static str,
        what: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Problem {
        Problem {
            severity: Severity::Error,
            check,
            what: what.into(),
            problem: problem.into(),
            fix: fix.into(),
            detail: None,
        }
    }

    pub fn warning(
        check: &'static str,
        what: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Problem {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(check, what, problem, fix)
        }
    }

    fn with_detail(mut self, detail: &str) -> Problem {
        let d = detail.trim_end();
        if !d.is_empty() {
            self.detail = Some(d.to_string());
        }
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{sev}[{}]: {}: {}\n  fix: {}",
            self.check, self.what, self.problem, self.fix
        )?;
        if let Some(d) = &self.detail {
            let lines: Vec<&str> = d.lines().collect();
            let tail = &lines[lines.len().saturating_sub(12)..];
            for l in tail {
                write!(f, "\n  | {l}")?;
            }
        }
        Ok(())
    }
}

/// A read-only view of the project's files, by repository-relative,
/// `/`-separated path.
pub trait Tree {
    /// A regular file's bytes; `None` when missing or not a regular file.
    fn read(&self, path: &str) -> Option<Vec<u8>>;
    /// Whether a directory exists.
    fn is_dir(&self, path: &str) -> bool;
    /// Every regular file below `dir` (recursively), sorted.
    fn files_under(&self, dir: &str) -> Vec<String>;
}

fn read_text(tree: &dyn Tree, path: &str) -> Option<String> {
    tree.read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn join(dir: &str, rel: &str) -> String {
    if dir.is_empty() {
        rel.to_string()
    } else {
        format!("{dir}/{rel}")
    }
}

/// Everything the checks that need no Python found.
#[derive(Clone, Debug)]
pub struct StaticReport {
    /// The project as djdd will deploy it (with defaults; when djdd.toml
    /// is invalid, the defaults alone, so the other checks still run).
    pub project: Project,
    pub problems: Vec<Problem>,
    pub notes: Vec<String>,
    /// Whether the WSGI module's file exists in the tree (the probe then
    /// imports it; when it does not, the probe skips it, so one defect is
    /// reported once).
    pub wsgi_file_found: bool,
    /// Whether djdd's parser read requirements.txt and its includes without
    /// a problem (pip's own parser then checks them too; after a problem it
    /// would only repeat it).
    pub includes_complete: bool,
}

/// Runs every check that needs no Python, in order.
pub fn static_checks(tree: &dyn Tree) -> StaticReport {
    static_checks_with(tree, None)
}

/// A settings module named outside the tree (a variant's `--settings`,
/// which wins over djdd.toml and manage.py, as in `djdd build`).
#[derive(Clone, Debug)]
pub struct SettingsOverride {
    pub module: String,
    /// How to change it, for the fix of a problem with the module.
    pub fix: String,
}

/// [`static_checks`] with the settings module `settings` names: the module
/// checks and every later one use it.
pub fn static_checks_with(tree: &dyn Tree, settings: Option<&SettingsOverride>) -> StaticReport {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut project = djdd_toml(tree, &mut problems, &mut notes);
    if let Some(s) = settings {
        project.settings = Some(s.module.clone());
    }
    problems.extend(required_files(tree, &project));
    let requirement_problems = requirements_files(tree);
    let includes_complete = requirement_problems.is_empty() && tree.read(REQUIREMENTS).is_some();
    problems.extend(requirement_problems);
    if includes_complete {
        problems.extend(requirements_unpinned(tree));
    }
    problems.extend(debian_requirements(tree));
    let settings_fix = settings.map(|s| s.fix.as_str());
    let (module_problems, wsgi_file_found) = modules_exist(tree, &project, settings_fix);
    problems.extend(module_problems);
    problems.extend(settings_read_variables(tree, &project));
    problems.extend(settings_hardcoded(tree, &project));
    StaticReport {
        project,
        problems,
        notes,
        wsgi_file_found,
        includes_complete,
    }
}

/// `djdd.toml`: valid (known keys, valid values) and written for a
/// contract version this djdd implements. Returns the project, with
/// defaults when the file is missing or invalid.
fn djdd_toml(tree: &dyn Tree, problems: &mut Vec<Problem>, notes: &mut Vec<String>) -> Project {
    let manage_default = read_text(tree, "manage.py");
    let fallback =
        |manage: Option<&str>| project::resolve(None, manage).expect("the defaults are valid");
    let Some(text) = read_text(tree, DJDD_TOML) else {
        notes.push(format!(
            "no {DJDD_TOML}: checked with every default, against contract version {}",
            contract::VERSION
        ));
        return fallback(manage_default.as_deref());
    };
    let file = match project::parse(&text) {
        Ok(f) => f,
        Err(e) => {
            problems.push(error_to_problem(
                "djdd-toml",
                DJDD_TOML,
                e,
                "fix the key (docs/contract.md lists every key of djdd.toml and its default)",
            ));
            return fallback(manage_default.as_deref());
        }
    };
    let manage_path = file.manage.clone().unwrap_or_else(|| "manage.py".into());
    let manage = read_text(tree, &manage_path);
    match project::resolve(Some(&file), manage.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            problems.push(error_to_problem(
                "djdd-toml",
                DJDD_TOML,
                e,
                "fix the value (docs/contract.md lists every key of djdd.toml and its default)",
            ));
            fallback(manage_default.as_deref())
        }
    }
}

fn error_to_problem(
    check: &'static str,
    fallback_what: &str,
    e: Error,
    fallback_fix: &str,
) -> Problem {
    match e {
        Error::Invalid {
            what,
            problem,
            hint,
        } => Problem::error(
            check,
            what,
            problem,
            hint.unwrap_or_else(|| fallback_fix.into()),
        ),
        other => Problem::error(check, fallback_what, other.to_string(), fallback_fix),
    }
}

/// The files every project must have: requirements.txt and manage.py.
fn required_files(tree: &dyn Tree, project: &Project) -> Vec<Problem> {
    let mut out = Vec::new();
    if tree.read(REQUIREMENTS).is_none() {
        out.push(Problem::error(
            "required-file",
            REQUIREMENTS,
            "missing (or a symlink leaving the repository): djdd builds the virtualenv from it",
            "add requirements.txt at the repository root, listing the project's Python packages with pinned versions (pip's -r syntax)",
        ));
    }
    if tree.read(&project.manage).is_none() {
        out.push(Problem::error(
            "required-file",
            project.manage.clone(),
            "missing (or a symlink leaving the repository): djdd runs collectstatic, migrate and the control utility's `manage` through it",
            format!("add {} or set `manage = \"PATH\"` in {DJDD_TOML}", project.manage),
        ));
    }
    out
}

/// A warning for each requirement line that leaves its version to pip's
/// resolution (no `==`, no hash, and no constraint pins the name): two
/// builds of the same env HASH may then install different versions.
fn requirements_unpinned(tree: &dyn Tree) -> Vec<Problem> {
    let mut read = |path: &str| Ok(tree.read(path));
    let Ok(req) = crate::plan::load_requirements(REQUIREMENTS, &mut read) else {
        return Vec::new();
    };
    let Ok(lines) = crate::plan::unpinned_lines(&req, &mut read) else {
        return Vec::new();
    };
    lines
        .into_iter()
        .map(|u| {
            Problem::warning(
                "requirements-unpinned",
                format!("{}:{}", u.path, u.line),
                format!(
                    "`{}` is not pinned (`==` or a hash): the env HASH names the requirement files, not what they resolve to, so a later build of the same HASH may install another version",
                    u.text
                ),
                "pin it with `==` here or in a constraints file (-c); each env package records what its build resolved in /usr/share/NAME-env/HASH/requirements.lock, whose pins can be copied",
            )
        })
        .collect()
}

/// `requirements.txt` and every file it includes, read with djdd's own
/// requirements parser (`plan::check_requirements`, the one the build
/// uses): every line it cannot parse, and every include that is missing,
/// leaves the repository or closes a loop, each with file:line. Nothing
/// when requirements.txt itself is missing ([`required_files`] says so).
pub fn requirements_files(tree: &dyn Tree) -> Vec<Problem> {
    if tree.read(REQUIREMENTS).is_none() {
        return Vec::new();
    }
    let mut read = |path: &str| Ok(tree.read(path));
    crate::plan::check_requirements(REQUIREMENTS, &mut read)
        .into_iter()
        .map(|e| {
            let check = if is_include_problem(&e) {
                "requirements-include"
            } else {
                "requirements-line"
            };
            error_to_problem(
                check,
                REQUIREMENTS,
                e,
                "fix the line (one requirement specifier or pip option a line)",
            )
        })
        .collect()
}

/// Whether the parser's error is about a `-r`/`-c` line (its `what` is
/// `FILE:LINE: 'LINE TEXT'`).
fn is_include_problem(e: &Error) -> bool {
    let Error::Invalid { what, .. } = e else {
        return false;
    };
    let Some((_, text)) = what.split_once(": '") else {
        return false;
    };
    ["-r", "-c", "--requirement", "--constraint"]
        .iter()
        .any(|o| text.starts_with(o))
}

/// `venv-debian-requirements.txt` and `src-debian-requirements.txt`
/// (optional): every line a package name and `build`/`run`.
fn debian_requirements(tree: &dyn Tree) -> Vec<Problem> {
    let mut out = Vec::new();
    for file in [VENV_DEBIAN_REQUIREMENTS, SRC_DEBIAN_REQUIREMENTS] {
        let Some(text) = read_text(tree, file) else {
            continue;
        };
        if let Err(errors) = project::parse_debian_requirements(file, &text) {
            for e in errors {
                out.push(error_to_problem(
                    "debian-requirements",
                    file,
                    e,
                    "write one package a line, then `build`, `run` or both",
                ));
            }
        }
    }
    out
}

/// Where a module's source is in the tree: `dir/a/b.py` or
/// `dir/a/b/__init__.py`.
pub fn module_file(tree: &dyn Tree, project_dir: &str, module: &str) -> Option<String> {
    let base = join(project_dir, &module.replace('.', "/"));
    [format!("{base}.py"), format!("{base}/__init__.py")]
        .into_iter()
        .find(|p| tree.read(p).is_some())
}

/// The settings, WSGI and celery modules exist in the project tree.
/// `settings_fix`: how to change the settings module when it was named
/// outside djdd.toml (default: set it in djdd.toml).
fn modules_exist(
    tree: &dyn Tree,
    project: &Project,
    settings_fix: Option<&str>,
) -> (Vec<Problem>, bool) {
    let mut out = Vec::new();
    let dir = &project.project_dir;
    let shown_dir = if dir.is_empty() {
        "the repository root".to_string()
    } else {
        format!("{dir}/")
    };
    match &project.settings {
        None => out.push(Problem::error(
            "settings-module",
            DJDD_TOML,
            format!("no settings module: {DJDD_TOML} does not set `settings` and {} does not name one with os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", ...)", project.manage),
            format!("set `settings = \"PKG.settings\"` in {DJDD_TOML}"),
        )),
        Some(s) => {
            if module_file(tree, dir, s).is_none() {
                let base = s.replace('.', "/");
                out.push(Problem::error(
                    "settings-module",
                    format!("settings module {s}"),
                    format!("neither {base}.py nor {base}/__init__.py exists (relative to {shown_dir})"),
                    settings_fix.map_or_else(
                        || format!("set `settings` in {DJDD_TOML} to the settings module's dotted name"),
                        str::to_string,
                    ),
                ));
            }
        }
    }
    let mut wsgi_found = false;
    if let Some(w) = &project.wsgi {
        let module = w.split(':').next().unwrap_or(w);
        wsgi_found = module_file(tree, dir, module).is_some();
        if !wsgi_found {
            let base = module.replace('.', "/");
            out.push(Problem::error(
                "wsgi",
                format!("WSGI callable {w}"),
                format!("module {module} not found: neither {base}.py nor {base}/__init__.py exists (relative to {shown_dir})"),
                format!("set `wsgi = \"MODULE:CALLABLE\"` in {DJDD_TOML} (the default is PKG.wsgi:application, PKG the settings' package)"),
            ));
        }
    }
    if let Some(c) = &project.celery {
        let module = c.split(':').next().unwrap_or(c);
        if module_file(tree, dir, module).is_none() {
            out.push(Problem::error(
                "celery",
                format!("celery app {c}"),
                format!("module {module} not found in the project"),
                format!("set `celery = \"MODULE:APP\"` in {DJDD_TOML}, or remove it if the project has no celery app"),
            ));
        }
    }
    (out, wsgi_found)
}

/// The settings module's file and the text of every .py file in its
/// directory (settings are often split: `from .base import *`).
fn settings_sources(tree: &dyn Tree, project: &Project) -> Option<(String, String)> {
    let settings = project.settings.as_ref()?;
    let file = module_file(tree, &project.project_dir, settings)?;
    let dir = match file.rfind('/') {
        Some(i) => file[..i].to_string(),
        None => String::new(),
    };
    let sources: Vec<String> = if dir.is_empty() {
        vec![file.clone()]
    } else {
        tree.files_under(&dir)
            .into_iter()
            .filter(|f| f.ends_with(".py"))
            .collect()
    };
    let text = sources
        .iter()
        .filter_map(|f| read_text(tree, f))
        .collect::<Vec<_>>()
        .join("\n");
    Some((file, text))
}

fn mentions(text: &str, name: &str) -> bool {
    text.contains(&format!("\"{name}\"")) || text.contains(&format!("'{name}'"))
}

/// Best effort, warnings only: the settings sources (every .py file in the
/// settings module's directory) mention each variable they must read, as
/// a quoted name or through a helper that reads it (see
/// `Variable::also_read_by`).
pub fn settings_read_variables(tree: &dyn Tree, project: &Project) -> Vec<Problem> {
    let Some((file, text)) = settings_sources(tree, project) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut warned: Vec<&str> = Vec::new();
    for v in VARIABLES.iter().filter(|v| v.reads == Reads::Must) {
        let applies = match v.when {
            contract::When::Celery | contract::When::CeleryRedis => project.celery.is_some(),
            contract::When::Redis => project.redis,
            contract::When::Always => true,
        };
        if !applies || warned.contains(&v.name) {
            continue;
        }
        warned.push(v.name);
        let read = mentions(&text, v.name) || v.also_read_by.iter().any(|s| text.contains(s));
        if !read {
            out.push(Problem::warning(
                "settings-reads",
                file.clone(),
                format!(
                    "the settings never mention the contract variable {} (best-effort text search)",
                    v.name
                ),
                format!(
                    "read it from the environment, e.g. os.environ[\"{}\"] ({})",
                    v.name, v.meaning
                ),
            ));
        }
    }
    out
}

/// Top-level assignments `NAME = ...` in a source (lines that start with
/// the name), with their line numbers and right-hand sides.
fn top_level_assignments<'a>(text: &'a str, name: &str) -> Vec<(usize, &'a str)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let rest = line.strip_prefix(name)?.trim_start();
            let rest = rest.strip_prefix('=')?;
            if rest.starts_with('=') {
                return None;
            }
            Some((i + 1, rest.trim()))
        })
        .collect()
}

/// Settings that hard-code what the contract provides, found in the
/// settings module's own file: `DEBUG = True` as the last top-level
/// assignment of DEBUG, and `SECRET_KEY = "..."` as the last assignment
/// of SECRET_KEY when no settings file reads the SECRET_KEY variable.
/// These need no Python, so they are reported even when the settings do
/// not import.
pub fn settings_hardcoded(tree: &dyn Tree, project: &Project) -> Vec<Problem> {
    let Some((file, all_text)) = settings_sources(tree, project) else {
        return Vec::new();
    };
    let Some(own) = read_text(tree, &file) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some((line, rhs)) = top_level_assignments(&own, "DEBUG").last()
        && (*rhs == "True" || rhs.starts_with("True ") || rhs.starts_with("True#"))
    {
        out.push(Problem::error(
            "settings-hardcoded",
            format!("{file}:{line}"),
            "DEBUG = True: the site would run with DEBUG on (tracebacks to every visitor, memory growth)",
            "turn DEBUG off at run time: djdd never sets a variable that turns it on (e.g. DEBUG = os.environ.get(\"DJANGO_DEBUG\") == \"1\")",
        ));
    }
    if !mentions(&all_text, "SECRET_KEY")
        && let Some((line, rhs)) = top_level_assignments(&own, "SECRET_KEY").last()
        && rhs
            .trim_start_matches(['r', 'b', 'u', 'f', 'R', 'B', 'U', 'F'])
            .starts_with(['"', '\''])
    {
        out.push(Problem::error(
            "settings-hardcoded",
            format!("{file}:{line}"),
            "SECRET_KEY is a string literal: every site would share one key, and it is in the repository",
            "SECRET_KEY = os.environ[\"SECRET_KEY\"]: djdd generates the site's key on the target and gives a fake one at build time",
        ));
    }
    out
}

/// Drops the reports that repeat a static finding: a hard-coded DEBUG
/// also shows as `security.W018`, a hard-coded SECRET_KEY as a wrong
/// `settings.SECRET_KEY`, `security.W009` and an unread variable.
pub fn dedupe(problems: Vec<Problem>) -> Vec<Problem> {
    let hard = |word: &str| {
        problems
            .iter()
            .any(|p| p.check == "settings-hardcoded" && p.problem.starts_with(word))
    };
    let (debug, key) = (hard("DEBUG"), hard("SECRET_KEY"));
    problems
        .into_iter()
        .filter(|p| {
            let repeats_debug =
                debug && p.check == "deploy-check" && p.problem.starts_with("security.W018");
            let repeats_key = key
                && ((p.check == "deploy-check" && p.problem.starts_with("security.W009"))
                    || (p.check == "settings-value" && p.what == "settings.SECRET_KEY")
                    || (p.check == "settings-reads" && p.problem.contains(" SECRET_KEY ")));
            !repeats_debug && !repeats_key
        })
        .collect()
}

/// One record of the probe's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Ok(String),
    Fail {
        stage: String,
        summary: String,
        traceback: String,
    },
    Fact {
        key: String,
        value: String,
    },
    Check {
        level: String,
        id: String,
        message: String,
        hint: String,
        obj: String,
    },
    ReqFail(String),
    ReqSkip(String),
    Done,
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Parses the probe's stdout; lines that are not records are ignored.
pub fn parse_records(stdout: &str) -> Vec<Record> {
    stdout
        .lines()
        .filter_map(|line| {
            let f: Vec<String> = line.split('\t').map(unescape).collect();
            let g = |i: usize| f.get(i).cloned().unwrap_or_default();
            Some(match f[0].as_str() {
                "ok" => Record::Ok(g(1)),
                "fail" => Record::Fail {
                    stage: g(1),
                    summary: g(2),
                    traceback: g(3),
                },
                "fact" => Record::Fact {
                    key: g(1),
                    value: g(2),
                },
                "check" => Record::Check {
                    level: g(1),
                    id: g(2),
                    message: g(3),
                    hint: g(4),
                    obj: g(5),
                },
                "reqfail" => Record::ReqFail(g(1)),
                "reqskip" => Record::ReqSkip(g(1)),
                "done" => Record::Done,
                _ => return None,
            })
        })
        .collect()
}

/// How one run of the probe ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It exited (any status) with this output.
    Exited {
        success: bool,
        status: String,
        stdout: String,
        stderr: String,
    },
    /// It was killed after this many seconds.
    TimedOut { seconds: u64, stderr: String },
}

/// Which probe run: what its records mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Under the build-time environment.
    Build,
    /// Under the run-time environment (fake values).
    Run,
    /// pip's requirements parser.
    Requirements,
}

impl Phase {
    fn env_name(self) -> &'static str {
        match self {
            Phase::Build => "the build-time environment",
            Phase::Run => "the run-time environment",
            Phase::Requirements => "pip",
        }
    }
}

/// What a probe run tells: its records, or the problem that it did not
/// finish (timeout, crash), in which case records may be partial.
pub fn outcome_records(phase: Phase, outcome: &Outcome, root: &str) -> (Vec<Record>, Vec<Problem>) {
    let strip = |s: &str| strip_root(s, root);
    match outcome {
        Outcome::TimedOut { seconds, stderr } => (
            Vec::new(),
            vec![Problem::error(
                "timeout",
                format!("python under {}", phase.env_name()),
                format!("did not finish within {seconds} s and was killed"),
                "does the settings module (or something it imports) loop, sleep or wait on the network at import? Importing settings must be quick and must not connect anywhere",
            )
            .with_detail(&strip(stderr))],
        ),
        Outcome::Exited {
            success,
            status,
            stdout,
            stderr,
        } => {
            let records = parse_records(&strip(stdout));
            let mut problems = Vec::new();
            if !records.contains(&Record::Done) {
                let last_fail = records.iter().any(|r| matches!(r, Record::Fail { .. }));
                if !last_fail || !success {
                    problems.push(
                        Problem::error(
                            "python",
                            format!("python under {}", phase.env_name()),
                            format!("the probe stopped before its end ({status})"),
                            "see the output below: something the project imports ended the process (os._exit, a crash in a C extension, the OOM killer)",
                        )
                        .with_detail(&strip(stderr)),
                    );
                }
            }
            (records, problems)
        }
    }
}

fn strip_root(s: &str, root: &str) -> String {
    if root.is_empty() {
        return s.to_string();
    }
    let root = root.trim_end_matches('/');
    s.replace(&format!("{root}/"), "").replace(root, ".")
}

/// The interpreter the probe ran with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interpreter {
    /// `--python PATH`, on the host.
    Given(String),
    /// The env the build made for the project's requirements, inside the
    /// build root (the path is the python inside the root).
    BuiltEnv(String),
}

/// The problems the build-phase records show.
pub fn interpret_build(
    records: &[Record],
    project: &Project,
    python: &Interpreter,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let settings = project.settings.as_deref().unwrap_or("?");
    for r in records {
        let Record::Fail {
            stage,
            summary,
            traceback,
        } = r
        else {
            continue;
        };
        let p = match stage.as_str() {
            "django" => match python {
                Interpreter::Given(py) => Problem::error(
                    "python",
                    format!("--python {py}"),
                    format!("this interpreter cannot import Django ({summary})"),
                    "give --python the python of a virtualenv that has the project's requirements installed (python3 -m venv ENV && ENV/bin/pip install -r requirements.txt)",
                ),
                Interpreter::BuiltEnv(py) => Problem::error(
                    "requirements-django",
                    format!("{REQUIREMENTS} (the env's {py} in the build root)"),
                    format!("the env built from it cannot import Django ({summary})"),
                    "list Django in requirements.txt (or a file it includes), pinned",
                ),
            },
            "settings" => Problem::error(
                "settings-import",
                format!("settings module {settings}"),
                format!("does not import under the build-time environment: {summary}"),
                "build steps run with only the build-time variables of docs/contract.md (a fake SECRET_KEY, no DATABASE_URL, no secrets): the settings must import with exactly those",
            ),
            "setup" => Problem::error(
                "django-setup",
                format!("settings module {settings}"),
                format!("django.setup() fails under the build-time environment: {summary}"),
                "an installed app or the logging configuration fails to load; fix the module the traceback names",
            ),
            "wsgi" => Problem::error(
                "wsgi",
                format!("WSGI callable {}", project.wsgi.as_deref().unwrap_or("?")),
                format!("does not import: {summary}"),
                format!(
                    "set `wsgi = \"MODULE:CALLABLE\"` in {DJDD_TOML} (the default is PKG.wsgi:application, PKG the settings' package)"
                ),
            ),
            "celery" => Problem::error(
                "celery",
                format!("celery app {}", project.celery.as_deref().unwrap_or("?")),
                format!("does not load: {summary}"),
                format!(
                    "set `celery = \"MODULE:APP\"` in {DJDD_TOML} to the celery app, or remove the key"
                ),
            ),
            "collectstatic" => Problem::error(
                "collectstatic",
                "manage.py collectstatic",
                format!("fails under the build-time environment: {summary}"),
                "the build runs `manage.py collectstatic --noinput` with STATIC_ROOT set by djdd; fix the static files or storage setting the traceback names",
            ),
            _ => Problem::error(
                "python",
                format!("probe stage {stage}"),
                summary.clone(),
                "see the traceback",
            ),
        };
        out.push(p.with_detail(traceback));
    }
    out
}

/// Whether the build-phase records say the settings import, so that the
/// run phase is worth running.
pub fn settings_imported(records: &[Record]) -> bool {
    records.contains(&Record::Ok("settings".into()))
}

/// The problems the run-phase records show: the settings must import, use
/// the contract's values, and pass `manage.py check --deploy` (warnings
/// included; silence a deliberate one with SILENCED_SYSTEM_CHECKS).
pub fn interpret_run(
    records: &[Record],
    project: &Project,
    env: &[(String, String)],
    domain: &str,
) -> Vec<Problem> {
    let settings = project.settings.as_deref().unwrap_or("?");
    let get = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let fact = |k: &str| {
        records.iter().find_map(|r| match r {
            Record::Fact { key, value } if key == k => Some(value.as_str()),
            _ => None,
        })
    };
    let mut out = Vec::new();
    for r in records {
        match r {
            Record::Fail {
                stage,
                summary,
                traceback,
            } => {
                let (check, problem, fix) = match stage.as_str() {
                    "settings" | "setup" => (
                        "settings-import",
                        format!("does not import under the run-time environment: {summary}"),
                        "at run time the settings get the variables of docs/contract.md (djdd check uses fake secrets and a database it never contacts)".to_string(),
                    ),
                    "celery" => (
                        "celery",
                        format!("the celery app does not load under the run-time environment: {summary}"),
                        format!("set `celery` in {DJDD_TOML} to the celery app"),
                    ),
                    "checks" => (
                        "deploy-check",
                        format!("manage.py check --deploy could not run under the run-time environment: {summary}"),
                        "fix the import the traceback names (often the URL configuration importing a package missing from requirements.txt, or a --python without the project's requirements)".to_string(),
                    ),
                    _ => (
                        "deploy-check",
                        format!("{stage} failed under the run-time environment: {summary}"),
                        "see the traceback".to_string(),
                    ),
                };
                out.push(
                    Problem::error(check, format!("settings module {settings}"), problem, fix)
                        .with_detail(traceback),
                );
            }
            Record::Check {
                level,
                id,
                message,
                hint,
                obj,
            } => {
                let mut fix = match (id.as_str(), hint.is_empty()) {
                    ("security.W018", _) => "turn DEBUG off at run time: djdd never sets a variable that turns it on (e.g. DEBUG = os.environ.get(\"DJANGO_DEBUG\") == \"1\") ".to_string(),
                    ("security.W009", _) => "SECRET_KEY = os.environ[\"SECRET_KEY\"]: djdd generates a long random key on the target ".to_string(),
                    (_, true) => "fix the setting the message names ".to_string(),
                    (_, false) => format!("{hint} "),
                };
                fix.push_str(&format!(
                    "(or, if deliberate, add \"{id}\" to SILENCED_SYSTEM_CHECKS)"
                ));
                let what = if obj.is_empty() || obj == "?" {
                    "manage.py check --deploy".to_string()
                } else {
                    format!("manage.py check --deploy: {obj}")
                };
                out.push(Problem::error(
                    "deploy-check",
                    what,
                    format!("{id} ({level}): {message}"),
                    fix,
                ));
            }
            _ => {}
        }
    }
    let same_path = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
    if let (Some(f), Some(e)) = (fact("SECRET_KEY"), get("SECRET_KEY"))
        && f != e
    {
        out.push(Problem::error(
            "settings-value",
            "settings.SECRET_KEY",
            "is not the value of the SECRET_KEY environment variable (hard-coded?)",
            "SECRET_KEY = os.environ[\"SECRET_KEY\"]: djdd generates the site's key on the target and gives a fake one at build time",
        ));
    }
    for (setting, var) in [
        ("STATIC_ROOT", "STATIC_ROOT"),
        ("MEDIA_ROOT", "MEDIA_ROOT"),
        ("STATIC_URL", "STATIC_URL"),
        ("MEDIA_URL", "MEDIA_URL"),
    ] {
        if let (Some(f), Some(e)) = (fact(setting), get(var))
            && !same_path(f, e)
        {
            out.push(Problem::error(
                "settings-value",
                format!("settings.{setting}"),
                format!("is {f:?}, not the {var} environment variable ({e:?}): nginx serves {var} and the site would break"),
                format!("{setting} = os.environ[\"{var}\"]"),
            ));
        }
    }
    if fact("host_allowed") == Some("0") {
        out.push(Problem::error(
            "settings-value",
            "settings.ALLOWED_HOSTS",
            format!(
                "is [{}], which does not allow the site's domain ({domain}) given in the ALLOWED_HOSTS environment variable",
                fact("ALLOWED_HOSTS").unwrap_or("")
            ),
            "ALLOWED_HOSTS = os.environ[\"ALLOWED_HOSTS\"].split(\",\")",
        ));
    }
    if let (Some(name), Some(db)) = (fact("db_name"), get("DATABASE"))
        && name != db
    {
        out.push(Problem::error(
            "settings-value",
            "settings.DATABASES[\"default\"]",
            format!(
                "is {} database {name:?}, not the contract's database {db:?} (from DATABASE_URL / DATABASE)",
                fact("db_engine").unwrap_or("an unknown")
            ),
            "DATABASES = {\"default\": dj_database_url.config()} (reads DATABASE_URL), or use DATABASE and the DATABASE_* variables",
        ));
    }
    if let (Some(f), Some(e)) = (fact("broker_url"), get("CELERY_BROKER_URL"))
        && f != e
    {
        out.push(Problem::error(
            "settings-value",
            format!("celery app {}", project.celery.as_deref().unwrap_or("?")),
            "its broker_url is not the CELERY_BROKER_URL environment variable",
            "CELERY_BROKER_URL = os.environ[\"CELERY_BROKER_URL\"] in the settings, with app.config_from_object(\"django.conf:settings\", namespace=\"CELERY\")",
        ));
    }
    out
}

/// The problems pip's parser reported, and a note if it could not run.
pub fn interpret_requirements(records: &[Record]) -> (Vec<Problem>, Vec<String>) {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    for r in records {
        match r {
            Record::ReqFail(msg) => problems.push(Problem::error(
                "requirements-syntax",
                REQUIREMENTS,
                format!("pip cannot parse it: {msg}"),
                "fix the line pip names (one requirement specifier or option a line, see `pip help install`)",
            )),
            Record::ReqSkip(why) => notes.push(format!(
                "requirement syntax not checked: pip's parser is not importable with this interpreter ({why})"
            )),
            _ => {}
        }
    }
    (problems, notes)
}

/// The site identity `djdd check` uses for the run-time environment.
pub fn check_site(name: &str, variant: &str, project: &Project) -> Site {
    Site {
        name: name.into(),
        variant: variant.into(),
        domain: format!("{name}-{variant}.example.com"),
        settings: project.settings.clone().unwrap_or_default(),
        workers: 2,
        celery: project.celery.is_some(),
        redis_broker: false,
        redis: project.redis,
        asgi: project.asgi.is_some(),
        https_only: true,
        version: "0~djdd.check".into(),
        commit: "0".repeat(40),
    }
}

/// The run-time environment `djdd check` runs the settings with: the
/// contract's run-time variables with fake secrets (DATABASE_URL names a
/// database that is never contacted), HTTPS_ONLY=true (so the HTTPS
/// checks of `check --deploy` can pass), and the writable directories
/// (STATIC_ROOT, MEDIA_ROOT, LOG_DIR, HOME) moved under `tmp`.
pub fn check_runtime_env(site: &Site, tmp: &str, env_dir: &str) -> Vec<(String, String)> {
    let mut env = full_runtime_env(site, &Secrets::fake());
    for (name, value) in env.iter_mut() {
        match name.as_str() {
            "STATIC_ROOT" => *value = format!("{tmp}/static"),
            "MEDIA_ROOT" => *value = format!("{tmp}/media"),
            "LOG_DIR" => *value = format!("{tmp}/log"),
            "HOME" => *value = format!("{tmp}/home"),
            _ => {}
        }
    }
    env.push(("PATH".into(), format!("{env_dir}/bin:/usr/bin:/bin")));
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct MapTree(BTreeMap<String, String>);

    impl Tree for MapTree {
        fn read(&self, path: &str) -> Option<Vec<u8>> {
            self.0.get(path).map(|s| s.as_bytes().to_vec())
        }
        fn is_dir(&self, path: &str) -> bool {
            self.0.keys().any(|k| k.starts_with(&format!("{path}/")))
        }
        fn files_under(&self, dir: &str) -> Vec<String> {
            self.0
                .keys()
                .filter(|k| k.starts_with(&format!("{dir}/")))
                .cloned()
                .collect()
        }
    }

    fn tree(files: &[(&str, &str)]) -> MapTree {
        MapTree(
            files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    const SETTINGS: &str = "import os\nSECRET_KEY = os.environ['SECRET_KEY']\nALLOWED_HOSTS = os.environ['ALLOWED_HOSTS'].split(',')\nDATABASES = {'default': dj_database_url.config()}\nSTATIC_ROOT = os.environ.get('STATIC_ROOT')\nMEDIA_ROOT = os.environ.get('MEDIA_ROOT')\nCACHE = os.environ['CACHE_URL']\nLOG = os.environ['LOG_DIR']\n";

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "requirements.txt",
                "-r req/base.txt\n--constraint=req/c.txt\ngunicorn==23.0.0\n",
            ),
            ("req/base.txt", "Django==5.2\n-r ../more.txt  # more\n"),
            ("req/c.txt", "sqlparse==0.5\n"),
            ("more.txt", "celery==5.5\n"),
            (
                "manage.py",
                "os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"site1.settings\")\n",
            ),
            ("site1/__init__.py", ""),
            ("site1/settings.py", SETTINGS),
            ("site1/wsgi.py", ""),
        ]
    }

    #[test]
    fn good_tree_is_clean() {
        let r = static_checks(&tree(&good()));
        assert_eq!(r.problems, vec![]);
        assert!(r.wsgi_file_found && r.includes_complete);
        assert_eq!(r.project.settings.as_deref(), Some("site1.settings"));
        assert_eq!(r.notes.len(), 1, "no djdd.toml note");
    }

    #[test]
    fn a_settings_override_is_the_module_checked() {
        let fix = "djdd variant demo blue --settings MODULE".to_string();
        let good_override = SettingsOverride {
            module: "site1.settings".into(),
            fix: fix.clone(),
        };
        let r = static_checks_with(&tree(&good()), Some(&good_override));
        assert_eq!(r.problems, vec![]);

        let missing = SettingsOverride {
            module: "site1.production".into(),
            fix: fix.clone(),
        };
        let r = static_checks_with(&tree(&good()), Some(&missing));
        assert_eq!(r.project.settings.as_deref(), Some("site1.production"));
        let p: Vec<_> = r
            .problems
            .iter()
            .filter(|p| p.check == "settings-module")
            .collect();
        assert_eq!(p.len(), 1, "{:?}", r.problems);
        assert_eq!(p[0].what, "settings module site1.production");
        assert_eq!(p[0].fix, fix);
    }

    #[test]
    fn requirement_problems_are_all_reported_with_file_and_line() {
        let mut files = good();
        files.retain(|(k, _)| *k != "more.txt");
        files.push((
            "req/c.txt",
            "-c ../../outside.txt\n-r/etc/passwd\nnot a requirement!\n-r ../req/c.txt\n",
        ));
        let t = MapTree(
            files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let p = requirements_files(&t);
        let msgs: Vec<String> = p
            .iter()
            .map(|p| format!("{} {}: {}", p.check, p.what, p.problem))
            .collect();
        assert_eq!(msgs.len(), 5, "{msgs:#?}");
        let has = |check: &str, prefix: &str| {
            assert!(
                msgs.iter()
                    .any(|m| m.starts_with(&format!("{check} {prefix}"))),
                "no {check} {prefix} in {msgs:#?}"
            )
        };
        has("requirements-include", "req/base.txt:2: '-r ../more.txt'");
        has(
            "requirements-include",
            "req/c.txt:1: '-c ../../outside.txt'",
        );
        has("requirements-include", "req/c.txt:2: '-r/etc/passwd'");
        has("requirements-line", "req/c.txt:3: 'not a requirement!'");
        has("requirements-include", "req/c.txt:4: '-r ../req/c.txt'");
        let r = static_checks(&t);
        assert!(!r.includes_complete);
    }

    #[test]
    fn unpinned_requirements_are_warnings_naming_file_and_line() {
        let mut files = good();
        files[1] = ("req/base.txt", "Django>=5.2,<6\n-r ../more.txt\n");
        files[3] = ("more.txt", "# celery\ncelery[redis]>=5.4\nsqlparse\n");
        let r = static_checks(&tree(&files));
        let w: Vec<(&str, Severity)> = r
            .problems
            .iter()
            .filter(|p| p.check == "requirements-unpinned")
            .map(|p| (p.what.as_str(), p.severity))
            .collect();
        // sqlparse is pinned by the constraints file.
        assert_eq!(
            w,
            [
                ("more.txt:2", Severity::Warning),
                ("req/base.txt:1", Severity::Warning)
            ],
            "{:#?}",
            r.problems
        );
        let p = r
            .problems
            .iter()
            .find(|p| p.what == "req/base.txt:1")
            .unwrap();
        assert!(
            p.problem.contains("`Django>=5.2,<6` is not pinned"),
            "{p:?}"
        );
        assert!(p.fix.contains("requirements.lock"), "{p:?}");
        // The pinned tree has none.
        assert!(
            !static_checks(&tree(&good()))
                .problems
                .iter()
                .any(|p| p.check == "requirements-unpinned")
        );
    }

    #[test]
    fn no_requirements_file_is_reported_once() {
        let t = tree(&[("manage.py", "")]);
        assert_eq!(requirements_files(&t), vec![]);
        let r = static_checks(&t);
        assert_eq!(
            r.problems
                .iter()
                .filter(|p| p.what == "requirements.txt")
                .count(),
            1,
            "{:#?}",
            r.problems
        );
    }

    #[test]
    fn every_static_problem_at_once() {
        let t = tree(&[
            (
                "djdd.toml",
                "settings = \"site1.settings\"\nwsgi = \"site1.wsgx:application\"\ncelery = \"site1.celery:app\"\n",
            ),
            ("venv-debian-requirements.txt", "libpq5 runtime\n"),
            ("site1/settings.py", "SECRET_KEY = 'x'\n"),
        ]);
        let r = static_checks(&t);
        let checks: Vec<&str> = r.problems.iter().map(|p| p.check).collect();
        for c in [
            "required-file",
            "debian-requirements",
            "wsgi",
            "celery",
            "settings-reads",
        ] {
            assert!(checks.contains(&c), "{c} missing from {checks:?}");
        }
        assert_eq!(checks.iter().filter(|c| **c == "required-file").count(), 2);
        let reads: Vec<&Problem> = r
            .problems
            .iter()
            .filter(|p| p.check == "settings-reads")
            .collect();
        assert!(reads.iter().all(|p| p.severity == Severity::Warning));
        assert!(reads.iter().any(|p| p.problem.contains("SECRET_KEY")));
        assert!(
            reads
                .iter()
                .any(|p| p.problem.contains("CELERY_BROKER_URL"))
        );
    }

    #[test]
    fn invalid_djdd_toml_falls_back_to_defaults() {
        let mut files = good();
        files.push(("djdd.toml", "wsgi_app = \"x:y\"\n"));
        let t = MapTree(
            files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let r = static_checks(&t);
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert_eq!(r.problems[0].check, "djdd-toml");
        assert!(
            r.problems[0].problem.contains("wsgi_app"),
            "{}",
            r.problems[0]
        );
        assert_eq!(r.project.settings.as_deref(), Some("site1.settings"));
    }

    #[test]
    fn records_round_trip_escapes() {
        let r = parse_records(
            "fail\tsettings\tSyntaxError: x\\ty\ttb\\nline2\\\\\nnoise\nfact\tK\t\ndone\n",
        );
        assert_eq!(
            r,
            vec![
                Record::Fail {
                    stage: "settings".into(),
                    summary: "SyntaxError: x\ty".into(),
                    traceback: "tb\nline2\\".into()
                },
                Record::Fact {
                    key: "K".into(),
                    value: String::new()
                },
                Record::Done,
            ]
        );
    }

    #[test]
    fn run_facts_compared_with_env() {
        let project = project::resolve(
            None,
            Some("os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'a.settings')"),
        )
        .unwrap();
        let site = check_site("demo", "check", &project);
        let env = check_runtime_env(&site, "/tmp/x", "/e");
        let get = |n: &str| env.iter().find(|(k, _)| k == n).unwrap().1.clone();
        let records = vec![
            Record::Fact {
                key: "SECRET_KEY".into(),
                value: "hard".into(),
            },
            Record::Fact {
                key: "STATIC_ROOT".into(),
                value: format!("{}/", get("STATIC_ROOT")),
            },
            Record::Fact {
                key: "MEDIA_ROOT".into(),
                value: "/srv/media".into(),
            },
            Record::Fact {
                key: "host_allowed".into(),
                value: "0".into(),
            },
            Record::Fact {
                key: "db_name".into(),
                value: get("DATABASE"),
            },
            Record::Check {
                level: "WARNING".into(),
                id: "security.W018".into(),
                message: "DEBUG".into(),
                hint: String::new(),
                obj: String::new(),
            },
        ];
        let p = interpret_run(&records, &project, &env, &site.domain);
        let whats: Vec<&str> = p.iter().map(|p| p.what.as_str()).collect();
        assert_eq!(
            whats,
            [
                "manage.py check --deploy",
                "settings.SECRET_KEY",
                "settings.MEDIA_ROOT",
                "settings.ALLOWED_HOSTS"
            ]
        );
        assert!(p[0].problem.starts_with("security.W018"));
    }

    #[test]
    fn no_django_blames_the_interpreter_or_the_requirements() {
        let project = project::resolve(
            None,
            Some("os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'a.settings')"),
        )
        .unwrap();
        let records = vec![Record::Fail {
            stage: "django".into(),
            summary: "ModuleNotFoundError: No module named 'django'".into(),
            traceback: String::new(),
        }];
        let given = interpret_build(
            &records,
            &project,
            &Interpreter::Given("/v/bin/python".into()),
        );
        assert_eq!(given[0].check, "python");
        assert_eq!(given[0].what, "--python /v/bin/python");
        let built = interpret_build(
            &records,
            &project,
            &Interpreter::BuiltEnv("/usr/lib/x-env/h/bin/python".into()),
        );
        assert_eq!(built[0].check, "requirements-django");
        assert!(
            built[0].what.starts_with("requirements.txt"),
            "{}",
            built[0]
        );
        assert!(built[0].fix.contains("list Django in requirements.txt"));
    }

    #[test]
    fn timeout_is_a_problem() {
        let (r, p) = outcome_records(
            Phase::Build,
            &Outcome::TimedOut {
                seconds: 3,
                stderr: String::new(),
            },
            "/x",
        );
        assert!(r.is_empty());
        assert_eq!(p[0].check, "timeout");
        assert!(p[0].problem.contains("within 3 s"));
    }

    #[test]
    fn paths_stripped_of_the_temp_root() {
        let out = Outcome::Exited {
            success: true,
            status: "exit status: 0".into(),
            stdout: "fail\tsettings\tSyntaxError: bad (/tmp/r/a/settings.py, line 3)\tFile \"/tmp/r/a/settings.py\"\ndone\n".into(),
            stderr: String::new(),
        };
        let (r, p) = outcome_records(Phase::Build, &out, "/tmp/r");
        assert!(p.is_empty());
        match &r[0] {
            Record::Fail { summary, .. } => {
                assert_eq!(summary, "SyntaxError: bad (a/settings.py, line 3)")
            }
            other => panic!("{other:?}"),
        }
    }
}
