//! The Procfile's entries as djdd sees them: `web` tells the app server
//! and its callable, a celery worker line the celery app (a variant's
//! `--celery`), `release` the commands after a deploy (migrate: a
//! variant's `--migrate`; others: `[release]` commands), and every other
//! line a `[processes.NAME]`.
//!
//! Pure.

use crate::config::project::{self, RESERVED_UNIT_NAMES, is_module};
use crate::rules::values::check_process_name;

use super::Adoption;
use super::procfile::{Command, Entry, variables};

/// What the Procfile says.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub web: Option<Web>,
    pub worker: Option<Worker>,
    pub processes: Vec<Process>,
    /// `[release]` commands, as djdd.toml words.
    pub release: Vec<Vec<String>>,
    pub migrate: bool,
}

#[derive(Debug)]
pub(crate) struct Web {
    pub line: usize,
    /// The server it ran (`uwsgi`, `gunicorn`, `manage.py runserver`).
    pub program: String,
    /// `MODULE:CALLABLE`, when the line names a WSGI one.
    pub wsgi: Option<String>,
    /// `MODULE:APP`, when an ASGI server serves it.
    pub asgi: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Worker {
    pub line: usize,
    /// The `-A`/`--app` value as written.
    pub app: Option<String>,
}

/// A `[processes.NAME]` to write.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Process {
    pub name: String,
    pub command: Vec<String>,
    /// Where it comes from (a comment in djdd.toml).
    pub why: String,
}

/// A command as djdd runs it.
enum Normal {
    /// `manage.py ARGS...` (however the line spelt manage.py).
    Manage(Vec<String>),
    /// A program and its arguments.
    Program(Vec<String>),
}

impl Normal {
    fn words(&self) -> Vec<String> {
        match self {
            Normal::Manage(args) => std::iter::once("manage.py".to_string())
                .chain(args.iter().cloned())
                .collect(),
            Normal::Program(w) => w.clone(),
        }
    }
}

fn is_python(w: &str) -> bool {
    w == "python"
        || w == "python3"
        || w.strip_prefix("python3.")
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
}

fn normalize(words: &[String]) -> Normal {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["exec", ..] => normalize(&words[1..]),
        ["uv" | "poetry" | "pipenv", "run", ..] => normalize(&words[2..]),
        [py, "-m", "django", ..] if is_python(py) => Normal::Manage(words[3..].to_vec()),
        [py, "-m", _, ..] if is_python(py) => Normal::Program(words[2..].to_vec()),
        [py, script, ..] if is_python(py) && script.ends_with("manage.py") => {
            Normal::Manage(words[2..].to_vec())
        }
        [first, ..] if first.ends_with("manage.py") || *first == "django-admin" => {
            Normal::Manage(words[1..].to_vec())
        }
        _ => Normal::Program(words.to_vec()),
    }
}

fn is_cd(c: &Command) -> bool {
    c.words.first().is_some_and(|w| w == "cd")
}

/// `MODULE` or `MODULE:ATTR` with plain Python names.
fn callable_like(w: &str) -> bool {
    match w.split_once(':') {
        Some((m, a)) => is_module(m) && is_module(a) && !a.contains('.'),
        None => is_module(w),
    }
}

fn with_attr(spec: &str, attr: &str) -> String {
    if spec.contains(':') {
        spec.to_string()
    } else {
        format!("{spec}:{attr}")
    }
}

/// The value of option `names` (`--app X`, `--app=X`, `-AX`).
fn option_value(words: &[String], names: &[&str]) -> Option<String> {
    let mut it = words.iter();
    while let Some(w) = it.next() {
        for n in names {
            if w == n {
                return it.next().cloned();
            }
            if let Some(v) = w.strip_prefix(&format!("{n}=")) {
                return Some(v.to_string());
            }
            if n.len() == 2 && !n.starts_with("--") {
                if let Some(v) = w.strip_prefix(n) {
                    if !v.is_empty() {
                        return Some(v.to_string());
                    }
                }
            }
        }
    }
    None
}

/// The first word after the program that names a callable and looks
/// like the application (`x.wsgi`, `x.asgi:app`, `x:y`).
fn positional_app(words: &[String]) -> Option<String> {
    words.iter().skip(1).find_map(|w| {
        let appish = w.contains(':') || w.contains("wsgi") || w.contains("asgi");
        (!w.starts_with('-') && appish && callable_like(w)).then(|| w.clone())
    })
}

fn web(entry: &Entry, cmd: &Command, cd: Option<&str>) -> Web {
    let n = normalize(&cmd.words);
    let words = n.words();
    let program = match &n {
        Normal::Manage(args) => format!("manage.py {}", args.first().map_or("", String::as_str)),
        Normal::Program(w) => w
            .first()
            .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
            .unwrap_or_default(),
    };
    let mut out = Web {
        line: entry.line,
        program: program.clone(),
        wsgi: None,
        asgi: None,
    };
    match program.as_str() {
        "uwsgi" => {
            out.wsgi = option_value(&words, &["--module", "-w", "--wsgi"])
                .filter(|m| callable_like(m))
                .map(|m| with_attr(&m, "application"))
                .or_else(|| {
                    let f = option_value(&words, &["--wsgi-file", "--file"])?;
                    let f = f.trim_start_matches("./");
                    let f = match cd {
                        Some(d) if !d.is_empty() && d != "." => {
                            format!("{}/{f}", d.trim_end_matches('/'))
                        }
                        _ => f.to_string(),
                    };
                    let m = f.strip_suffix(".py")?.replace('/', ".");
                    // Relative to the project directory: the last parts
                    // that make a module of it.
                    let parts: Vec<&str> = m.split('.').collect();
                    let m = parts[parts.len().saturating_sub(2)..].join(".");
                    is_module(&m).then(|| format!("{m}:application"))
                });
        }
        "gunicorn" => {
            let app = positional_app(&words).map(|m| with_attr(&m, "application"));
            let worker = option_value(&words, &["-k", "--worker-class"]).unwrap_or_default();
            if worker.contains("uvicorn") || app.as_deref().is_some_and(|a| a.contains("asgi")) {
                out.asgi = app;
            } else {
                out.wsgi = app;
            }
        }
        "uvicorn" | "daphne" | "hypercorn" => {
            out.asgi = positional_app(&words).map(|m| with_attr(&m, "application"));
        }
        "waitress-serve" => {
            out.wsgi = positional_app(&words).map(|m| with_attr(&m, "application"));
        }
        _ => {}
    }
    out
}

fn is_celery(words: &[String], sub: &str) -> bool {
    words.first().is_some_and(|w| w == "celery") && words.iter().skip(1).any(|w| w == sub)
}

/// The Procfile's entries as djdd.toml values, notes and undecided items.
pub(crate) fn procfile(entries: &[Entry], a: &mut Adoption) -> Plan {
    let mut plan = Plan::default();
    for e in entries {
        let at = format!("Procfile line {}", e.line);
        let cd = e
            .commands
            .iter()
            .find(|c| is_cd(c))
            .and_then(|c| c.words.get(1).cloned());
        let cmds: Vec<&Command> = e.commands.iter().filter(|c| !is_cd(c)).collect();
        for c in &cmds {
            if !c.assignments.is_empty() {
                a.undecided(
                    format!(
                        "{at} ({}) sets {}: djdd does not set it",
                        e.name,
                        c.assignments.join(" ")
                    ),
                    "djdd variant NAME VARIANT --env NAME=VALUE",
                );
            }
        }
        if e.name == "release" {
            release(e, &cmds, &mut plan, a);
            continue;
        }
        let Some(main) = cmds.last() else {
            continue;
        };
        if cmds.len() > 1 {
            a.undecided(
                format!(
                    "{at} ({}) runs {} commands; djdd runs one: the last is kept",
                    e.name,
                    cmds.len()
                ),
                format!("djdd.toml's [processes.{}]", e.name),
            );
        }
        let n = normalize(&main.words);
        let words = n.words();
        if is_celery(&words, "worker") && plan.worker.is_none() {
            let app = option_value(&words, &["-A", "--app"]);
            a.found.push(format!(
                "Procfile {} (line {}): a celery worker (`{}`): djdd.toml's `celery`, and a variant's --celery runs it",
                e.name, e.line, e.text
            ));
            if words.iter().any(|w| w == "-B" || w == "--beat") {
                a.undecided(
                    format!("{at}: the worker runs beat too (-B): djdd's worker does not"),
                    "djdd.toml's [processes.beat] command = [\"celery\", \"--app\", APP, \"beat\", \"--schedule\", \"${DATA_DIR}/celerybeat-schedule\"]",
                );
            }
            let other = worker_options(&words);
            if !other.is_empty() {
                a.undecided(
                    format!(
                        "{at}: the worker's options `{}` are not kept: djdd's worker runs `celery --app APP worker --loglevel INFO`",
                        other.join(" ")
                    ),
                    "a [processes.NAME] in djdd.toml running the worker as you want it, instead of a variant's --celery",
                );
            }
            plan.worker = Some(Worker { line: e.line, app });
            continue;
        }
        if e.name == "web" {
            plan.web = Some(web(e, main, cd.as_deref()));
            continue;
        }
        process(e, n, &mut plan, a);
    }
    plan
}

/// A celery worker line's words other than the program, `worker`, the
/// app, the log level and beat (said apart).
fn worker_options(words: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = words.iter().skip(1);
    while let Some(w) = it.next() {
        match w.as_str() {
            "worker" | "-B" | "--beat" => {}
            "-A" | "--app" | "-l" | "--loglevel" => {
                it.next();
            }
            _ if ["--app=", "--loglevel=", "-A", "-l"]
                .iter()
                .any(|p| w.starts_with(p)) => {}
            _ => out.push(w.clone()),
        }
    }
    out
}

fn release(e: &Entry, cmds: &[&Command], plan: &mut Plan, a: &mut Adoption) {
    let at = format!("Procfile line {}", e.line);
    for c in cmds {
        let n = normalize(&c.words);
        if let Normal::Manage(args) = &n {
            match args.first().map(String::as_str) {
                Some("migrate") => {
                    plan.migrate = true;
                    a.found.push(format!(
                        "{at} (release) migrates: a variant's --migrate runs migrate on each upgrade, before the switch"
                    ));
                    continue;
                }
                Some(cmd @ ("collectstatic" | "compilemessages")) => {
                    a.found.push(format!(
                        "{at} (release) runs {cmd}: djdd runs it when it builds (djdd.toml's [build])"
                    ));
                    continue;
                }
                _ => {}
            }
        }
        let words = n.words();
        match project::check_command("release.commands", Some(&words)) {
            Ok(_) if unknown_variables(&words).is_empty() => {
                a.found.push(format!(
                    "{at} (release) runs `{}` after migrate: a [release] command",
                    words.join(" ")
                ));
                plan.release.push(words);
            }
            _ => a.undecided(
                format!(
                    "{at} (release): `{}` is not a manage.py command or a program of the env",
                    words.join(" ")
                ),
                "djdd.toml's [release] commands",
            ),
        }
    }
}

/// The `${VAR}`s of the words that are not run-time variables of the
/// deploy contract.
fn unknown_variables(words: &[String]) -> Vec<String> {
    words
        .iter()
        .flat_map(|w| variables(w))
        .filter(|v| crate::contract::variable(v).is_none_or(|x| x.run.is_none()))
        .collect()
}

fn process(e: &Entry, n: Normal, plan: &mut Plan, a: &mut Adoption) {
    let at = format!("Procfile line {}", e.line);
    let name = e.name.to_ascii_lowercase().replace('_', "-");
    let name_ok =
        check_process_name("", &name).is_ok() && !RESERVED_UNIT_NAMES.contains(&name.as_str());
    if !name_ok {
        a.undecided(
            format!(
                "{at}: process type {} is not a name djdd can give a process (^[a-z][a-z0-9-]*$, not one of {})",
                e.name,
                RESERVED_UNIT_NAMES.join(", ")
            ),
            "djdd.toml's [processes.NAME], written by hand",
        );
        return;
    }
    let mut words = n.words();
    let mut why = format!("{at}: {}", e.text);
    if is_celery(&words, "beat") && option_value(&words, &["-s", "--schedule"]).is_none() {
        words.extend([
            "--schedule".to_string(),
            "${DATA_DIR}/celerybeat-schedule".into(),
        ]);
        why.push_str(" (its schedule file in DATA_DIR: the source is read-only)");
    }
    let key = format!("processes.{name}.command");
    if let Err(err) = project::check_command(&key, Some(&words)) {
        a.undecided(
            format!("{at} ({}): {err}", e.name),
            format!("djdd.toml's [processes.{name}]"),
        );
        return;
    }
    a.found.push(format!(
        "Procfile {} (line {}): [processes.{name}]",
        e.name, e.line
    ));
    plan.processes.push(Process {
        name,
        command: words,
        why,
    });
}
