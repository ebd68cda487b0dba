//! The Python probe (`probe.py`, embedded) and the interpretation of what
//! it reports: its records, the outcome of a run, and the problems and
//! notes they mean for the build, the run-time settings and the
//! requirements; and the site and run-time environment `djdd check` runs
//! the probe with.
//!
//! Pure: never runs the probe or touches the disk; its output is handed
//! in (`ops::check` runs it).

use crate::config::project::{FILE as DJDD_TOML, Project, REQUIREMENTS};
use crate::contract::{Secrets, Site, full_runtime_env};

use super::Problem;

/// The Python probe, run with the project's interpreter.
pub const PROBE: &str = include_str!("probe.py");

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

/// The directory Django's staticfiles.W004 names ("The directory 'D' in
/// the STATICFILES_DIRS setting does not exist."), relative to the tree
/// when it is in it.
fn w004_directory(message: &str) -> Option<String> {
    let start = message.find('\'')? + 1;
    let len = message[start..].find('\'')?;
    let d = &message[start..start + len];
    Some(d.trim_start_matches("./").trim_end_matches('/').to_string())
}

/// Whether a build step declares it makes directory `dir` (relative to
/// the repository root).
pub fn made_by_step(project: &Project, dir: &str) -> bool {
    project
        .build
        .steps
        .iter()
        .any(|s| s.makes.iter().any(|m| m == dir))
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
                // A STATICFILES_DIRS entry a build step makes is missing
                // from the source by design (djdd.toml build.steps.makes).
                let missing_dir = (id == "staticfiles.W004")
                    .then(|| w004_directory(message))
                    .flatten();
                if missing_dir.is_some_and(|d| made_by_step(project, &d)) {
                    continue;
                }
                let mut fix = match (id.as_str(), hint.is_empty()) {
                    ("staticfiles.W004", _) => "create the directory in the repository, or, when a build step makes it, declare it in that step: [[build.steps]] makes = [\"DIR\"] (docs/contract.md) ".to_string(),
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
    if let (Some(f), Some(e)) = (fact("SECRET_KEY"), get("SECRET_KEY")) {
        if f != e {
            out.push(Problem::error(
                "settings-value",
                "settings.SECRET_KEY",
                "is not the value of the SECRET_KEY environment variable (hard-coded?)",
                "SECRET_KEY = os.environ[\"SECRET_KEY\"]: djdd generates the site's key on the target and gives a fake one at build time",
            ));
        }
    }
    for (setting, var) in [
        ("STATIC_ROOT", "STATIC_ROOT"),
        ("MEDIA_ROOT", "MEDIA_ROOT"),
        ("STATIC_URL", "STATIC_URL"),
        ("MEDIA_URL", "MEDIA_URL"),
    ] {
        if let (Some(f), Some(e)) = (fact(setting), get(var)) {
            if !same_path(f, e) {
                out.push(Problem::error(
                    "settings-value",
                    format!("settings.{setting}"),
                    format!("is {f:?}, not the {var} environment variable ({e:?}): nginx serves {var} and the site would break"),
                    format!("{setting} = os.environ[\"{var}\"]"),
                ));
            }
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
    if let (Some(name), Some(db)) = (fact("db_name"), get("DATABASE")) {
        if name != db {
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
    }
    if let (Some(f), Some(e)) = (fact("broker_url"), get("CELERY_BROKER_URL")) {
        if f != e {
            out.push(Problem::error(
                "settings-value",
                format!("celery app {}", project.celery.as_deref().unwrap_or("?")),
                "its broker_url is not the CELERY_BROKER_URL environment variable",
                "CELERY_BROKER_URL = os.environ[\"CELERY_BROKER_URL\"] in the settings, with app.config_from_object(\"django.conf:settings\", namespace=\"CELERY\")",
            ));
        }
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
        external: crate::contract::External::default(),
        uid: None,
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
    use crate::config::project;

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
    fn w004_counts_unless_a_build_step_makes_the_directory() {
        let f = project::parse(
            "settings = \"a.settings\"\n[[build.steps]]\ncommand = [\"npm\", \"ci\"]\nmakes = [\"build/docs\"]\n",
        )
        .unwrap();
        let project = project::resolve(Some(&f), None).unwrap();
        let w004 = |dir: &str| Record::Check {
            level: "WARNING".into(),
            id: "staticfiles.W004".into(),
            message: format!(
                "The directory '{dir}' in the STATICFILES_DIRS setting does not exist."
            ),
            hint: String::new(),
            obj: String::new(),
        };
        let records = vec![w004("build/docs"), w004("./build/docs/"), w004("assets")];
        let p = interpret_run(&records, &project, &[], "x.example.org");
        let deploy: Vec<&Problem> = p.iter().filter(|p| p.check == "deploy-check").collect();
        assert_eq!(deploy.len(), 1, "{deploy:?}");
        assert!(deploy[0].problem.contains("'assets'"), "{:?}", deploy[0]);
        assert!(
            deploy[0].fix.contains("[[build.steps]] makes"),
            "{:?}",
            deploy[0]
        );
        // Without the step, each one counts.
        let bare = project::resolve(
            None,
            Some("os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'a.settings')"),
        )
        .unwrap();
        let p = interpret_run(&records, &bare, &[], "x.example.org");
        assert_eq!(p.iter().filter(|p| p.check == "deploy-check").count(), 3);
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
