//! `djdd adopt`'s planning: looks at a project checkout and decides what a
//! new user would otherwise write by hand, `djdd.toml` and a settings
//! module that reads the deploy contract's variables
//! (`PKG/djdd_settings.py`), as an [`Adoption`]: what it found, what it
//! could not decide (each with the key or option that decides it), the
//! two files' text, and the commands to run next.
//!
//! Pure: reads the checkout through [`Tree`] and the list of its files
//! that `ops::adopt` makes; never writes, never runs a process. The rules
//! are simple text rules ([`detect`], [`procfile`]); what they cannot
//! decide is said, never guessed. The files are rendered from embedded
//! templates with minijinja, every value through the quoting filter of
//! its syntax (TOML strings, Python string literals), and the djdd.toml
//! written is parsed back with `config::project`'s rules.

pub mod detect;
pub mod procfile;
mod python;
mod render;
mod translate;

use crate::check::Tree;
use crate::config::project::{self, FILE as DJDD_TOML, REQUIREMENTS};
use crate::error::Result;

pub use python::PythonNeed;

/// What the user chose on the command line.
#[derive(Clone, Debug, Default)]
pub struct Choices {
    /// `--manage PATH`.
    pub manage: Option<String>,
    /// `--settings MODULE`: the project's own settings module.
    pub settings: Option<String>,
}

/// The checkout adopt looks at.
pub struct Input<'a> {
    pub tree: &'a dyn Tree,
    /// Its regular files, repository-relative, sorted (`ops::adopt` lists
    /// them, skipping `.git`, virtualenvs and `node_modules`).
    pub files: &'a [String],
    pub choices: Choices,
    /// The source NAME the next commands use (`djdd src NAME`).
    pub name: String,
    /// What `djdd src NAME --clone` gets: the checkout's path.
    pub clone: String,
}

/// Something adopt could not decide, and what decides it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undecided {
    pub what: String,
    /// The djdd.toml key, command-line option or file that decides it.
    pub key: String,
}

/// A file adopt writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewFile {
    /// Repository-relative.
    pub path: String,
    pub text: String,
}

/// What adopt found, could not decide, writes, and suggests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adoption {
    pub found: Vec<String>,
    pub undecided: Vec<Undecided>,
    /// djdd.toml first, then the settings module.
    pub files: Vec<NewFile>,
    /// The commands to run next, in order.
    pub next: Vec<String>,
}

impl Adoption {
    fn undecided(&mut self, what: impl Into<String>, key: impl Into<String>) {
        self.undecided.push(Undecided {
            what: what.into(),
            key: key.into(),
        });
    }
}

/// The values djdd.toml and the settings module are rendered from.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct Decided {
    pub name: String,
    pub manage: String,
    pub project_dir: String,
    /// The project's own settings module.
    pub project_settings: String,
    /// The module adopt writes (djdd.toml's `settings`).
    pub settings: String,
    pub settings_file: String,
    pub wsgi: Option<String>,
    pub wsgi_why: String,
    pub asgi: Option<String>,
    pub asgi_why: String,
    pub celery: Option<String>,
    pub celery_why: String,
    /// The Django setting celery reads its broker from
    /// (`CELERY_BROKER_URL`), when the project has a celery app.
    pub broker_setting: Option<String>,
    pub redis: bool,
    pub redis_why: String,
    pub processes: Vec<translate::Process>,
    pub release: Vec<Vec<String>>,
    pub migrate: bool,
    /// The log file's name in LOG_DIR.
    pub log_file: String,
}

/// Looks at the checkout and decides. Errors (nothing to write): no
/// manage.py, or several; no settings module; a Procfile line it cannot
/// parse.
pub fn adopt(input: &Input<'_>) -> Result<Adoption> {
    let tree = input.tree;
    let files = input.files;
    let mut a = Adoption {
        found: Vec::new(),
        undecided: Vec::new(),
        files: Vec::new(),
        next: Vec::new(),
    };

    // manage.py: chosen, else djdd.toml's own choice, else the only one.
    let existing = detect::text(tree, DJDD_TOML).and_then(|t| project::parse(&t).ok());
    let chosen = input
        .choices
        .manage
        .clone()
        .or_else(|| existing.as_ref().and_then(|f| f.manage.clone()));
    let manage = detect::find_manage(files, chosen.as_deref())?;
    let project_dir = manage
        .rsplit_once('/')
        .map(|(d, _)| d.to_string())
        .unwrap_or_default();
    a.found.push(format!(
        "manage.py: {manage}{}",
        if project_dir.is_empty() {
            String::new()
        } else {
            format!(" (the project directory is {project_dir}/)")
        }
    ));

    let procfile = match detect::text(tree, procfile::FILE) {
        Some(t) => procfile::parse(&t)?,
        None => Vec::new(),
    };

    let settings = detect::project_settings(
        tree,
        files,
        &project_dir,
        &manage,
        input.choices.settings.as_deref(),
    )?;
    a.found
        .push(format!("settings: {} ({})", settings.module, settings.why));
    let sources = detect::settings_sources(tree, files, &project_dir, &settings.module);
    let pkg = settings
        .module
        .split('.')
        .next()
        .unwrap_or(&settings.module)
        .to_string();
    let pkg_is_dir = tree.is_dir(&detect::join(&project_dir, &pkg));
    let (settings_module, settings_file) = if pkg_is_dir {
        (
            format!("{pkg}.djdd_settings"),
            detect::join(&project_dir, &format!("{pkg}/{}", detect::SETTINGS_FILE)),
        )
    } else {
        (
            "djdd_settings".to_string(),
            detect::join(&project_dir, detect::SETTINGS_FILE),
        )
    };

    let mut d = Decided {
        name: input.name.clone(),
        manage: manage.clone(),
        project_dir: project_dir.clone(),
        project_settings: settings.module.clone(),
        settings: settings_module,
        settings_file: settings_file.clone(),
        log_file: format!("{pkg}.log"),
        ..Decided::default()
    };

    let names = requirement_names(tree);
    let plan = translate::procfile(&procfile, &mut a);
    app_callables(tree, files, &sources, &plan, &names, &mut d, &mut a);
    celery(tree, files, &plan, &mut d, &mut a);
    d.processes = plan.processes;
    d.release = plan.release;
    d.migrate = plan.migrate;
    redis(&sources, &names, &mut d, &mut a);
    env_reads(&sources, &mut a);
    requirements(tree, files, &names, &mut a);
    let need = python::need(tree, &mut a);

    a.files = render::files(&d)?;
    next_commands(input, &d, &need, &mut a);
    Ok(a)
}

/// The distributions requirements.txt installs (PEP 503 names), if it
/// can be read.
fn requirement_names(tree: &dyn Tree) -> Option<Vec<String>> {
    let mut read = |p: &str| Ok(tree.read(p));
    crate::plan::requirements::load_requirements(REQUIREMENTS, &mut read)
        .ok()
        .map(|r| r.installed_names())
}

/// The WSGI and ASGI callables: the Procfile's web line, else the
/// settings' WSGI_APPLICATION / ASGI_APPLICATION, else PKG/wsgi.py.
fn app_callables(
    tree: &dyn Tree,
    files: &[String],
    sources: &[(String, String)],
    plan: &translate::Plan,
    names: &Option<Vec<String>>,
    d: &mut Decided,
    a: &mut Adoption,
) {
    let dir = d.project_dir.clone();
    let exists = |spec: &str| {
        let m = spec.split(':').next().unwrap_or(spec);
        detect::module_file(tree, &dir, m).is_some()
    };
    let pkg = d
        .project_settings
        .split('.')
        .next()
        .unwrap_or("")
        .to_string();
    let web = plan.web.as_ref();
    // WSGI.
    let from_web = web.and_then(|w| w.wsgi.clone()).filter(|s| exists(s));
    let from_settings = detect::setting_string(sources, "WSGI_APPLICATION")
        .and_then(|(v, f)| detect::dotted_to_callable(&v).map(|c| (c, f)))
        .filter(|(c, _)| exists(c));
    let default = format!("{pkg}.wsgi:application");
    if let Some(w) = from_web {
        d.wsgi_why = format!(
            "the Procfile's web line ({})",
            web.map_or("", |w| w.program.as_str())
        );
        d.wsgi = Some(w);
    } else if let Some((c, f)) = from_settings {
        d.wsgi_why = format!("WSGI_APPLICATION in {f}");
        d.wsgi = Some(c);
    } else if exists(&default) {
        d.wsgi_why = detect::join(&dir, &format!("{pkg}/wsgi.py"));
        d.wsgi = Some(default);
    } else {
        let others: Vec<String> = files
            .iter()
            .filter(|f| f.ends_with("/wsgi.py"))
            .filter_map(|f| detect::module_of(&dir, f))
            .collect();
        match others.as_slice() {
            [one] => {
                d.wsgi_why = "the only wsgi.py of the project".into();
                d.wsgi = Some(format!("{one}:application"));
            }
            _ => a.undecided(
                "the WSGI callable: no wsgi.py beside the settings, no WSGI_APPLICATION",
                "djdd.toml's `wsgi` (MODULE:CALLABLE)",
            ),
        }
    }
    if let Some(w) = &d.wsgi {
        a.found.push(format!("WSGI: {w} ({})", d.wsgi_why));
    }
    // ASGI: only when something serves it (asgi.py alone is what
    // startproject makes for every project).
    let from_web = web.and_then(|w| w.asgi.clone());
    let from_settings = detect::setting_string(sources, "ASGI_APPLICATION")
        .and_then(|(v, f)| detect::dotted_to_callable(&v).map(|c| (c, f)));
    if let Some(s) = from_web.filter(|s| exists(s)) {
        d.asgi_why = format!(
            "the Procfile's web line serves it ({})",
            web.map_or("", |w| w.program.as_str())
        );
        d.asgi = Some(s);
    } else if let Some((c, f)) = from_settings.filter(|(c, _)| exists(c)) {
        d.asgi_why = format!("ASGI_APPLICATION in {f}");
        d.asgi = Some(c);
    } else if exists(&format!("{pkg}.asgi")) {
        a.found.push(format!(
            "ASGI: {pkg}/asgi.py exists, but nothing serves it: served as WSGI (djdd.toml's `asgi = \"{pkg}.asgi:application\"` serves it with uvicorn's worker)"
        ));
    }
    if let Some(s) = &d.asgi {
        a.found.push(format!(
            "ASGI: {s} ({}): gunicorn serves it with uvicorn's worker",
            d.asgi_why
        ));
    }
    // The app server.
    if let Some(w) = web {
        let server = match names {
            Some(n) if n.iter().any(|x| x == "gunicorn") => {
                "gunicorn, from the requirements".to_string()
            }
            _ => "gunicorn, which djdd provides (the requirements list none)".to_string(),
        };
        a.found.push(format!(
            "Procfile web (line {}): {}; djdd serves the site with {server}, behind nginx",
            w.line, w.program
        ));
    }
}

/// The celery app: the Procfile worker's `-A`, else the project's only
/// celery app.
fn celery(
    tree: &dyn Tree,
    files: &[String],
    plan: &translate::Plan,
    d: &mut Decided,
    a: &mut Adoption,
) {
    let worker = plan.worker.as_ref();
    let app_arg = worker.and_then(|w| w.app.clone());
    let apps = detect::celery_apps(tree, files, &d.project_dir, app_arg.as_deref());
    let explicit = app_arg
        .as_deref()
        .filter(|s| s.contains(':') && project::is_module(&s.replace(':', ".")));
    let chosen = match (explicit, app_arg.as_deref(), apps.as_slice()) {
        (Some(s), _, _) => apps.iter().find(|c| c.spec == s).cloned(),
        (None, Some(m), _) => apps
            .iter()
            .find(|c| c.spec.starts_with(&format!("{m}.")) || c.spec.starts_with(&format!("{m}:")))
            .cloned(),
        (None, None, [one]) => Some(one.clone()),
        (None, None, []) => None,
        (None, None, many) => {
            a.undecided(
                format!(
                    "the celery app: {} define one",
                    many.iter()
                        .map(|c| c.spec.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "djdd.toml's `celery` (MODULE:APP)",
            );
            None
        }
    };
    let Some(app) = chosen else {
        if let Some(w) = worker {
            a.undecided(
                format!(
                    "the celery app of the Procfile's worker (line {}): `{}` names no `Celery(` app in the project",
                    w.line,
                    app_arg.as_deref().unwrap_or("(no -A)")
                ),
                "djdd.toml's `celery` (MODULE:APP)",
            );
        }
        return;
    };
    d.celery_why = match worker {
        Some(w) => format!(
            "the Procfile's worker line (line {}); the app is in {}",
            w.line, app.file
        ),
        None => format!("the celery app in {}", app.file),
    };
    d.celery = Some(app.spec.clone());
    a.found
        .push(format!("celery: {} ({})", app.spec, d.celery_why));
    match app.namespace.as_deref() {
        Some("") => d.broker_setting = Some("BROKER_URL".into()),
        Some(ns) => d.broker_setting = Some(format!("{ns}_BROKER_URL")),
        None => a.undecided(
            format!(
                "celery's broker: {} does not read Django's settings (config_from_object(\"django.conf:settings\", namespace=\"CELERY\"))",
                app.file
            ),
            format!(
                "{}: make the app's broker the environment's CELERY_BROKER_URL",
                app.file
            ),
        ),
    }
    if worker.is_none() {
        a.found.push(
            "celery: no worker line in a Procfile; a variant runs the worker with --celery".into(),
        );
    }
}

/// Whether the project uses Redis: its settings mention it.
fn redis(
    sources: &[(String, String)],
    names: &Option<Vec<String>>,
    d: &mut Decided,
    a: &mut Adoption,
) {
    let marks = [
        "redis://",
        "rediss://",
        "RedisCache",
        "django_redis",
        "REDIS_URL",
    ];
    let hit = sources
        .iter()
        .find_map(|(f, t)| marks.iter().find(|m| t.contains(**m)).map(|m| (f, m)));
    if let Some((f, m)) = hit {
        d.redis = true;
        d.redis_why = format!("the settings use Redis ({m} in {f})");
        a.found.push(format!(
            "Redis: {}: each site gets its own (redis = true, REDIS_URL)",
            d.redis_why
        ));
        let has = |n: &str| names.as_ref().is_some_and(|v| v.iter().any(|x| x == n));
        if !has("redis") && !has("django-redis") {
            a.undecided(
                "Redis's client: the requirements list neither redis nor django-redis (Django's RedisCache needs redis)",
                REQUIREMENTS,
            );
        }
    }
}

/// The settings djdd_settings.py sets (a variable the project reads only
/// for one of them is not needed).
const OVERRIDDEN: &[&str] = &[
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "DATABASES",
    "STATIC_ROOT",
    "STATIC_URL",
    "MEDIA_ROOT",
    "MEDIA_URL",
    "CACHES",
    "LOGGING",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "BROKER_URL",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
];

/// The environment variables the settings read that djdd does not set.
fn env_reads(sources: &[(String, String)], a: &mut Adoption) {
    for r in detect::env_reads(sources) {
        if crate::contract::variable(&r.name).is_some() || r.name == "DJANGO_SETTINGS_MODULE" {
            continue;
        }
        if let Some(s) = r.setting.as_deref().filter(|s| OVERRIDDEN.contains(s)) {
            if r.required {
                a.undecided(
                    format!(
                        "{}: {s} requires {} (os.environ[...]) at import, before djdd_settings.py sets {s}: djdd does not set {}",
                        r.at, r.name, r.name
                    ),
                    format!("{}: read it with os.environ.get(...)", r.at),
                );
            } else {
                a.found.push(format!(
                    "{} ({}): not needed, djdd_settings.py sets {s} from the contract",
                    r.name, r.at
                ));
            }
            continue;
        }
        let what = if r.required {
            format!(
                "{}: the settings require {} (os.environ[...]), which djdd does not set, not even at build time: read it with os.environ.get(...)",
                r.at, r.name
            )
        } else {
            format!(
                "{}: the settings read {}, which djdd does not set",
                r.at, r.name
            )
        };
        a.undecided(
            what,
            format!(
                "a secret: djdd.toml's [secrets] {} = \"...\"; a plain value: djdd variant NAME VARIANT --env {}=VALUE",
                r.name, r.name
            ),
        );
    }
}

/// The requirement files, the lock files, and what the env needs.
fn requirements(tree: &dyn Tree, files: &[String], names: &Option<Vec<String>>, a: &mut Adoption) {
    let locks: Vec<&str> = ["uv.lock", "pylock.toml", "poetry.lock", "Pipfile.lock"]
        .into_iter()
        .filter(|l| tree.read(l).is_some())
        .collect();
    let export = |lock: &str| match lock {
        "uv.lock" => "uv export --format requirements-txt --no-dev --no-hashes -o requirements.txt",
        "poetry.lock" => "poetry export --without-hashes -o requirements.txt",
        "Pipfile.lock" => "pipenv requirements > requirements.txt",
        _ => "write its pins as NAME==VERSION lines into requirements.txt",
    };
    match names {
        Some(n) => {
            a.found.push(format!(
                "requirements: {REQUIREMENTS} ({} distributions{})",
                n.len(),
                if locks.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; djdd installs it, not {}: keep them in step",
                        locks.join(", ")
                    )
                }
            ));
            let has = |x: &str| n.iter().any(|y| y == x);
            if has("psycopg2") {
                let deb = detect::text(tree, project::VENV_DEBIAN_REQUIREMENTS).unwrap_or_default();
                if !deb.contains("libpq-dev") {
                    a.undecided(
                        "psycopg2 is built from source: it needs libpq-dev to build and libpq5 to run",
                        format!(
                            "{}: `libpq-dev build` and `libpq5 run` (or psycopg2-binary in requirements.txt)",
                            project::VENV_DEBIAN_REQUIREMENTS
                        ),
                    );
                }
            }
            if !["psycopg2", "psycopg2-binary", "psycopg", "psycopg-binary"]
                .iter()
                .any(|x| has(x))
            {
                a.undecided(
                    "PostgreSQL's driver: the requirements list neither psycopg nor psycopg2 (DATABASE_URL is a PostgreSQL database)",
                    format!("{REQUIREMENTS}: e.g. psycopg2-binary==2.9.13"),
                );
            }
            if !has("pymemcache") {
                a.found.push("cache: the requirements do not list pymemcache: each process keeps its own cache (add pymemcache to use the host's memcached, CACHE_URL)".into());
            }
            if has("uwsgi") && !has("gunicorn") {
                a.found.push("uWSGI is in the requirements: the env keeps it; djdd serves the site with its own gunicorn".into());
            }
        }
        None if locks
            .first()
            .is_some_and(|l| *l == "uv.lock" || *l == "pylock.toml") =>
        {
            let lock = locks[0];
            a.found.push(format!(
                "requirements: {lock}: djdd builds the env from the lock as it is (no {REQUIREMENTS} needed; [env] in djdd.toml chooses extras and groups)"
            ));
            let text = detect::text(tree, lock).unwrap_or_default();
            if !text.lines().any(|l| l.trim() == "name = \"gunicorn\"") {
                a.undecided(
                    format!("the app server: {lock} does not lock gunicorn, and djdd never adds to a lock"),
                    if lock == "uv.lock" {
                        "pyproject.toml: `uv add gunicorn`, then commit pyproject.toml and uv.lock"
                            .to_string()
                    } else {
                        "add gunicorn to the project's dependencies and export pylock.toml again"
                            .to_string()
                    },
                );
            }
        }
        None => {
            let key = match locks.first() {
                Some(l) => format!("{REQUIREMENTS}: {}", export(l)),
                None => {
                    let others: Vec<&String> = files
                        .iter()
                        .filter(|f| f.starts_with("requirements") && f.ends_with(".txt"))
                        .collect();
                    match others.first() {
                        Some(f) => format!("{REQUIREMENTS}: e.g. the one line `-r {f}`"),
                        None => format!("{REQUIREMENTS}: the project's requirements, pinned"),
                    }
                }
            };
            a.undecided(
                format!(
                    "what the env installs: no {REQUIREMENTS} at the repository root (or it does not parse: djdd check shows why){}",
                    if locks.is_empty() {
                        String::new()
                    } else {
                        format!("; found {}", locks.join(", "))
                    }
                ),
                key,
            );
        }
    }
}

/// The next commands, in order.
fn next_commands(input: &Input<'_>, d: &Decided, need: &PythonNeed, a: &mut Adoption) {
    let name = &input.name;
    let paths: Vec<String> = a
        .files
        .iter()
        .map(|f| crate::render::filters::shell_word(&f.path))
        .collect();
    a.next.push(format!(
        "git add {} && git commit -m 'Deploy with djdd'",
        paths.join(" ")
    ));
    a.next.push(format!("djdd init --suite {}", need.suite));
    a.next.push(format!(
        "djdd src {name} --clone {}",
        crate::render::filters::shell_word(&input.clone)
    ));
    let mut variant = format!("djdd variant {name} VARIANT --domain DOMAIN");
    if d.celery.is_some() {
        variant.push_str(" --celery");
    }
    if d.migrate {
        variant.push_str(" --migrate");
    }
    a.next.push(variant);
    a.next.push(format!("djdd check {name} VARIANT"));
    a.next.push(format!("djdd build {name} VARIANT"));
}

#[cfg(test)]
mod tests;
