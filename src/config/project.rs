//! The project's side of the deploy contract as typed values: the optional
//! `djdd.toml` at the root of the project's repository (parsed with
//! unknown keys refused, every key defaulted), the settings module found
//! in `manage.py` when `djdd.toml` does not name one, and the
//! `venv-debian-requirements.txt` / `src-debian-requirements.txt` files.
//!
//! Pure: takes file contents as text, never reads the disk. Package names
//! are checked against Debian Policy §5.6.1; `docs/contract.md` documents
//! every key and the requirement files' syntax.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::contract;
use crate::deb::control::check_package_name;
use crate::error::{Error, Result};
use crate::rules::values::{check_description, check_env_key, check_process_name, check_url_path};

/// The file's name at the project root.
pub const FILE: &str = "djdd.toml";
/// Debian packages the virtualenv needs to build and to run.
pub const VENV_DEBIAN_REQUIREMENTS: &str = "venv-debian-requirements.txt";
/// Debian packages the source needs to build and to run.
pub const SRC_DEBIAN_REQUIREMENTS: &str = "src-debian-requirements.txt";
/// The pip requirements file.
pub const REQUIREMENTS: &str = "requirements.txt";

/// `djdd.toml` as written (every key optional).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    pub contract: Option<u32>,
    pub manage: Option<String>,
    pub settings: Option<String>,
    pub wsgi: Option<String>,
    pub celery: Option<String>,
    pub asgi: Option<String>,
    pub redis: Option<bool>,
    #[serde(default)]
    pub build: BuildFile,
    #[serde(default)]
    pub health: HealthFile,
    #[serde(default)]
    pub processes: BTreeMap<String, ProcessFile>,
    #[serde(default)]
    pub timers: BTreeMap<String, TimerFile>,
    /// `[secrets]`: NAME = "what it is".
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    #[serde(default)]
    pub release: ReleaseFile,
    #[serde(default)]
    pub env: EnvFile,
}

/// `[env]` as written: what the env is built from.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EnvFile {
    pub requirements: Option<String>,
    pub extras: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
    pub install_project: Option<bool>,
}

/// `[release]` as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReleaseFile {
    pub commands: Option<Vec<Vec<String>>>,
}

/// One `[[build.steps]]` as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    pub command: Option<Vec<String>>,
    pub when: Option<String>,
    pub cwd: Option<String>,
    pub makes: Option<Vec<String>>,
}

/// `[processes.NAME]` as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProcessFile {
    pub command: Option<Vec<String>>,
}

/// `[timers.NAME]` as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TimerFile {
    pub command: Option<Vec<String>>,
    pub calendar: Option<String>,
    pub random_delay: Option<String>,
}

/// `[build]` as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BuildFile {
    pub python_packages: Option<Vec<String>>,
    pub collectstatic: Option<bool>,
    pub compilemessages: Option<Compilemessages>,
    pub commands: Option<Vec<Vec<String>>>,
    pub steps: Option<Vec<StepFile>>,
}

/// `[health]` as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HealthFile {
    pub url: Option<String>,
    pub timeout: Option<u32>,
}

/// When the build runs `manage.py compilemessages`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Compilemessages {
    /// When the project has a `locale` directory (beside manage.py, or in
    /// an app) holding a `.po` file.
    #[default]
    Auto,
    Always,
    Never,
}

/// The project, with every default applied and every value validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// The contract version the project was written for.
    pub contract: u32,
    /// Whether `djdd.toml` declared `contract` (a missing declaration means
    /// the current version).
    pub contract_declared: bool,
    /// `manage.py`'s path in the repository (`/`-separated, relative).
    pub manage: String,
    /// The directory holding manage.py (`""` for the root): the working
    /// directory of every process and the first entry of `sys.path`.
    pub project_dir: String,
    /// The settings module, if known (from djdd.toml or manage.py); a
    /// variant's `--settings` overrides it.
    pub settings: Option<String>,
    /// The WSGI callable, `MODULE:ATTRIBUTE`.
    pub wsgi: Option<String>,
    /// The celery app, `MODULE` or `MODULE:ATTRIBUTE`; `None`: no worker.
    pub celery: Option<String>,
    /// The ASGI application, `MODULE:ATTRIBUTE`: when set, gunicorn serves
    /// it with uvicorn's worker class instead of the WSGI callable.
    pub asgi: Option<String>,
    /// The project needs Redis: every site gets its own instance
    /// (REDIS_URL).
    pub redis: bool,
    pub build: Build,
    pub health: Health,
    /// `[processes.NAME]`: long-running programs beside gunicorn, by name.
    pub processes: Vec<Process>,
    /// `[timers.NAME]`: scheduled jobs, by name.
    pub timers: Vec<Timer>,
    /// `[secrets]`: the secrets the project's settings read, which each
    /// host gets from `NAME-VARIANT secrets set` or `secrets import`,
    /// never from a package; sorted by name.
    pub secrets: Vec<DeclaredSecret>,
    /// `[release] commands`: run on the target by postinst after migrate
    /// and before the switch, in the new release, in order.
    pub release: Vec<Command>,
    /// `[env]`: what the env is built from.
    pub env: EnvSource,
}

/// `[env]`, checked: the file the env is built from, when djdd.toml names
/// one (otherwise the first of requirements.txt, uv.lock, pylock.toml the
/// commit has), and the extras and dependency groups a lock installs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvSource {
    pub requirements: Option<String>,
    /// PEP 685-normalised, sorted, unique.
    pub extras: Vec<String>,
    pub groups: Vec<String>,
    /// `install_project = true`: the project itself is built (a wheel of
    /// the commit's tree, by its own build backend) and installed into the
    /// env after its dependencies; the env HASH then has the commit's tree
    /// among its inputs, so every change to the tree makes a new env.
    pub install_project: bool,
}

/// A secret the project declares (`[secrets]` in djdd.toml).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeclaredSecret {
    /// The environment variable, `[A-Z_][A-Z0-9_]*`, not one the contract
    /// sets.
    pub name: String,
    /// One line: what it is, shown by `NAME-VARIANT secrets list`.
    pub description: String,
}

/// A long-running process of the project (`[processes.NAME]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub name: String,
    pub command: Command,
}

/// A scheduled job of the project (`[timers.NAME]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timer {
    pub name: String,
    pub command: Command,
    /// A systemd calendar expression (systemd.time(7)); checked with
    /// `systemd-analyze calendar` by `djdd check` and `djdd build`.
    pub calendar: String,
    /// systemd's `RandomizedDelaySec=` (a time span such as `5min`).
    pub random_delay: Option<String>,
}

/// What a process or timer runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `["manage.py", CMD, ARG...]`: a manage.py command and its arguments.
    Manage(Vec<String>),
    /// `[PROGRAM, ARG...]`: a program of the env (`celery`, ...), found
    /// in the env's `bin/` first, then in `/usr/bin` and `/bin`.
    Program(Vec<String>),
}

impl Command {
    /// The words as written in djdd.toml.
    pub fn words(&self) -> Vec<String> {
        match self {
            Command::Manage(args) => std::iter::once("manage.py".to_string())
                .chain(args.iter().cloned())
                .collect(),
            Command::Program(argv) => argv.clone(),
        }
    }

    /// The manage.py command it runs, if it is one.
    pub fn manage_command(&self) -> Option<&str> {
        match self {
            Command::Manage(args) => args.first().map(String::as_str),
            Command::Program(_) => None,
        }
    }
}

/// Unit name suffixes djdd makes itself (`NAME-VARIANT-celery.service`)
/// or keeps for itself: no process or timer may take them.
pub const RESERVED_UNIT_NAMES: &[&str] = &["celery", "web", "gunicorn", "socket", "redis", "next"];

/// Most release commands one project may define (postinst reads which
/// one failed from an exit status, 64 + N).
pub const MAX_RELEASE_COMMANDS: usize = 32;

/// Most processes and timers one project may define (each is a unit).
pub const MAX_PROCESSES: usize = 32;

/// `[build]` with defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Build {
    /// pip requirement lines installed for the build steps only (into a
    /// throwaway layer, never into the env package). Default: none.
    pub python_packages: Vec<String>,
    /// Run `manage.py collectstatic --noinput`. Default: true.
    pub collectstatic: bool,
    /// Default: auto.
    pub compilemessages: Compilemessages,
    /// Extra `manage.py` commands run after collectstatic, each a list of
    /// arguments (`["compress", "--force"]`). Default: none.
    pub commands: Vec<Vec<String>>,
    /// `[[build.steps]]`: commands of any kind run in the build's copy of
    /// the source, before or after collectstatic, in order.
    pub steps: Vec<BuildStep>,
}

/// One build step (`[[build.steps]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildStep {
    /// A manage.py command, a program of the env, or a program of the
    /// build root (`npm`): found in the env's `bin/`, then `/usr/bin`,
    /// `/bin`.
    pub command: Command,
    pub when: StepWhen,
    /// The working directory, `/`-separated and relative to the
    /// repository root (`""`: the root itself).
    pub cwd: String,
    /// Directories the step makes, relative to the repository root: the
    /// build checks they exist after it, and `djdd check` does not count
    /// Django's staticfiles.W004 for them.
    pub makes: Vec<String>,
}

/// When a build step runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepWhen {
    BeforeCollectstatic,
    AfterCollectstatic,
}

impl StepWhen {
    /// As written in djdd.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            StepWhen::BeforeCollectstatic => "before-collectstatic",
            StepWhen::AfterCollectstatic => "after-collectstatic",
        }
    }
}

/// `[health]` with defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The path postinst requests after an upgrade. Default: `/`.
    pub url: String,
    /// Seconds postinst waits for a 2xx/3xx answer. Default: 30.
    pub timeout: u32,
}

/// One key of `djdd.toml`, for the documentation (docs/contract.md's key
/// table is generated from [`KEYS`]) and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// Dotted: `health.url` is `url` in `[health]`.
    pub name: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
    /// A valid TOML value for it (tests parse every key with it).
    pub example: &'static str,
}

/// Every key of `djdd.toml`, in documentation order.
pub const KEYS: &[Key] = &[
    Key {
        name: "contract",
        default: "1 (the current version)",
        meaning: "The contract version the project was written for. djdd refuses a version it does not implement.",
        example: "1",
    },
    Key {
        name: "manage",
        default: "`\"manage.py\"`",
        meaning: "manage.py's path from the repository root; its directory is the project directory.",
        example: "\"src/manage.py\"",
    },
    Key {
        name: "settings",
        default: "what manage.py's `os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", ...)` names",
        meaning: "The settings module (dotted name). A variant's `--settings` overrides it.",
        example: "\"mysite.settings\"",
    },
    Key {
        name: "wsgi",
        default: "`\"PKG.wsgi:application\"`, PKG the settings module's first component",
        meaning: "The WSGI callable, `MODULE:CALLABLE`.",
        example: "\"mysite.wsgi:application\"",
    },
    Key {
        name: "celery",
        default: "none",
        meaning: "The celery app, `MODULE` or `MODULE:APP`. Without it no variant can run a worker.",
        example: "\"mysite.celery:app\"",
    },
    Key {
        name: "asgi",
        default: "none (WSGI)",
        meaning: "The ASGI application, `MODULE:APP`. When set, gunicorn serves it with uvicorn's worker class (djdd provides `uvicorn-worker` when the requirements do not) instead of the WSGI callable.",
        example: "\"mysite.asgi:application\"",
    },
    Key {
        name: "redis",
        default: "`false`",
        meaning: "The project needs Redis: each site gets its own redis-server instance (a unix socket only its user can open, a password, persistence in its state directory) and REDIS_URL. A variant may also ask for one (`--redis`).",
        example: "true",
    },
    Key {
        name: "processes.NAME.command",
        default: "none",
        meaning: "A long-running process beside gunicorn, run as instances `NAME-VARIANT-NAME@1.service` ... of a template, under `NAME-VARIANT-NAME.target`: `[\"manage.py\", CMD, ARG...]` or `[PROGRAM, ARG...]` (a program of the env). `${VAR}` in a word is a contract variable's value. A variant runs N copies with `--process NAME=N` (0 = off, default 1); a host may run another count (`NAME-VARIANT scale NAME=N`).",
        example: "[\"manage.py\", \"sendalerts\"]",
    },
    Key {
        name: "timers.NAME.command",
        default: "none",
        meaning: "A scheduled job (a `.timer` and a oneshot `.service`, `NAME-VARIANT-NAME`): the command, as for processes. Needs `calendar`.",
        example: "[\"manage.py\", \"clearsessions\"]",
    },
    Key {
        name: "timers.NAME.calendar",
        default: "none (required)",
        meaning: "When the job runs: a systemd calendar expression (systemd.time(7)), checked with `systemd-analyze calendar`.",
        example: "\"daily\"",
    },
    Key {
        name: "timers.NAME.random_delay",
        default: "none",
        meaning: "A random delay added to each run (systemd's `RandomizedDelaySec=`), a time span such as `\"10min\"`.",
        example: "\"10min\"",
    },
    Key {
        name: "secrets.KEY",
        default: "none",
        meaning: "A secret the settings read (an SMTP password, an API key): its environment name and a one-line description. It never reaches a package: each host gets it from `NAME-VARIANT secrets set KEY` or `secrets import FILE` into `/etc/NAME-site/VARIANT/secrets.env`; postinst and `status` name the missing ones, and `djdd variant --env` refuses the name.",
        example: "\"the SMTP relay's password\"",
    },
    Key {
        name: "release.commands",
        default: "`[]`",
        meaning: "Commands postinst runs on the target after migrate and before the switch, in the new release with the run-time environment, each `[\"manage.py\", CMD, ARG...]` or `[PROGRAM, ARG...]` (as for processes; `${VAR}` is a contract variable's value). They run on every configure that switches release (a rollback too), one host at a time under migrate's lock, so they must be idempotent. One that fails fails the upgrade: the running release keeps serving.",
        example: "[[\"manage.py\", \"clearsessions\"]]",
    },
    Key {
        name: "env.requirements",
        default: "`\"requirements.txt\"` when the commit has it, else `\"uv.lock\"`, else `\"pylock.toml\"`",
        meaning: "What the env is built from: `\"requirements.txt\"` (pip's format, with its `-r`/`-c` includes, resolved at build time), `\"uv.lock\"` (uv's lock, beside the pyproject.toml it locks) or a PEP 751 lock, `\"pylock.toml\"` or `\"pylock.NAME.toml\"`. A lock is installed as it is: the packages it selects for the build root's Python and architecture, each from the archive whose sha256 it records; the project itself is not installed (its source is the src package) unless `env.install_project` asks for it, nor any dependency group unless `env.groups` names it. The lock must hold the app server (gunicorn, and uvicorn-worker for `asgi`). For poetry.lock, export one: `poetry export --format requirements.txt`.",
        example: "\"uv.lock\"",
    },
    Key {
        name: "env.extras",
        default: "`[]`",
        meaning: "The project's optional dependencies (`[project.optional-dependencies]`) a uv.lock installs, by name. Only with uv.lock.",
        example: "[\"postgres\"]",
    },
    Key {
        name: "env.groups",
        default: "`[]` (not even `dev`)",
        meaning: "The dependency groups (`[dependency-groups]`) a uv.lock installs, by name. Only with uv.lock.",
        example: "[\"prod\"]",
    },
    Key {
        name: "env.install_project",
        default: "`false`",
        meaning: "Install the project itself into the env too, for what only an installed distribution has: its version in `importlib.metadata`, its entry points (plugins, console scripts in the env's `bin/`). djdd builds a wheel of the commit's tree with the project's own build backend (`pyproject.toml`'s `[build-system]`, or `setup.py`; the backend comes from the index, as for an sdist), at a fixed path, and installs it without its dependencies (the lock or requirements.txt has those), after them. The env HASH then has the commit's git tree among its inputs: every commit that changes the tree makes a new env, so leave it off unless the project needs it. With any `env.requirements`.",
        example: "true",
    },
    Key {
        name: "build.python_packages",
        default: "`[]`",
        meaning: "Requirement lines installed only for the build steps, never into the env package.",
        example: "[\"django-compressor==4.5\"]",
    },
    Key {
        name: "build.collectstatic",
        default: "`true`",
        meaning: "Run `manage.py collectstatic --noinput`.",
        example: "false",
    },
    Key {
        name: "build.compilemessages",
        default: "`\"auto\"`",
        meaning: "`\"auto\"` (when a `locale` directory holds a `.po` file), `\"always\"` or `\"never\"`.",
        example: "\"never\"",
    },
    Key {
        name: "build.commands",
        default: "`[]`",
        meaning: "More manage.py commands run after collectstatic, each a list of arguments.",
        example: "[[\"compress\", \"--force\"]]",
    },
    Key {
        name: "build.steps.command",
        default: "none (required in each `[[build.steps]]`)",
        meaning: "A build step, run in the build's copy of the source as the build user with the build-time environment: `[\"manage.py\", CMD, ARG...]`, `[PROGRAM, ARG...]` with PROGRAM from the env's `bin/` (`python`, `zensical`) or the build root's `/usr/bin`, `/bin` (`npm`: list `nodejs` and `npm` in src-debian-requirements.txt as `build`). Words are passed as written (no `${VAR}`). What a step makes reaches the target only through collectstatic; nothing else it writes is shipped.",
        example: "[\"npm\", \"ci\"]",
    },
    Key {
        name: "build.steps.when",
        default: "`\"before-collectstatic\"`",
        meaning: "`\"before-collectstatic\"` or `\"after-collectstatic\"`. Steps run in the order written; `build.commands` run first among the after-collectstatic ones.",
        example: "\"after-collectstatic\"",
    },
    Key {
        name: "build.steps.cwd",
        default: "the project directory (manage.py's)",
        meaning: "The step's working directory, relative to the repository root (`\".\"`: the root).",
        example: "\"frontend\"",
    },
    Key {
        name: "build.steps.makes",
        default: "`[]`",
        meaning: "Directories the step makes, relative to the repository root (a STATICFILES_DIRS entry it fills): the build fails when one is missing after the step, and `djdd check` does not count Django's `staticfiles.W004` for them.",
        example: "[\"project-static/docs\"]",
    },
    Key {
        name: "health.url",
        default: "`\"/\"`",
        meaning: "The path postinst requests through gunicorn's socket after an upgrade. The rule of a variant's `health_url`: starts with one `/`; letters, digits and `- . _ ~ / ? = & % + , : @` only, at most 512 characters.",
        example: "\"/health/\"",
    },
    Key {
        name: "health.timeout",
        default: "`30`",
        meaning: "Seconds postinst waits for a 2xx or 3xx answer (1 to 600).",
        example: "10",
    },
];

/// Parses `djdd.toml` text; errors name the file, the key and the rule
/// (toml's messages carry line and column).
pub fn parse(text: &str) -> Result<ProjectFile> {
    toml::from_str(text).map_err(|e| {
        Error::invalid_hint(
            FILE,
            crate::rules::names::printable(e.to_string().trim_end()),
            "docs/contract.md lists every key of djdd.toml",
        )
    })
}

/// Builds the [`Project`] from `djdd.toml` (if the project has one) and
/// `manage.py`'s text (if found; used for the default settings module).
pub fn resolve(file: Option<&ProjectFile>, manage_py: Option<&str>) -> Result<Project> {
    let default = ProjectFile::default();
    let f = file.unwrap_or(&default);

    let contract = f.contract.unwrap_or(contract::VERSION);
    if contract == 0 || contract > contract::VERSION {
        return Err(Error::invalid_hint(
            format!("{FILE}: key `contract`"),
            format!(
                "the project was written for contract version {contract}; this djdd implements version {}",
                contract::VERSION
            ),
            format!(
                "use a djdd that implements version {contract}, or set `contract = {}` after checking docs/contract.md",
                contract::VERSION
            ),
        ));
    }

    let manage = f.manage.clone().unwrap_or_else(|| "manage.py".into());
    check_relative_path("manage", &manage)?;
    let project_dir = match manage.rfind('/') {
        Some(i) => manage[..i].to_string(),
        None => String::new(),
    };

    let settings = match &f.settings {
        Some(s) => Some(check_module("settings", s)?.to_string()),
        None => manage_py.and_then(settings_from_manage_py),
    };
    let wsgi = match &f.wsgi {
        Some(w) => Some(check_callable("wsgi", w, true)?.to_string()),
        None => settings.as_deref().map(default_wsgi),
    };
    let celery = match &f.celery {
        Some(c) => Some(check_callable("celery", c, false)?.to_string()),
        None => None,
    };
    let asgi = match &f.asgi {
        Some(a) => Some(check_callable("asgi", a, true)?.to_string()),
        None => None,
    };
    if f.processes.len() + f.timers.len() > MAX_PROCESSES {
        return Err(Error::invalid(
            format!("{FILE}: tables `processes` and `timers`"),
            format!(
                "{} processes and timers: at most {MAX_PROCESSES}",
                f.processes.len() + f.timers.len()
            ),
        ));
    }
    let mut processes = Vec::new();
    for (name, p) in &f.processes {
        let key = format!("processes.{}", name.escape_debug());
        check_unit_name(&key, name)?;
        let command = check_command(&format!("{key}.command"), p.command.as_deref())?;
        processes.push(Process {
            name: name.clone(),
            command,
        });
    }
    let mut timers = Vec::new();
    for (name, t) in &f.timers {
        let key = format!("timers.{}", name.escape_debug());
        check_unit_name(&key, name)?;
        if f.processes.contains_key(name) {
            return Err(Error::invalid_hint(
                format!("{FILE}: key `{key}`"),
                format!("`{name}` is also a process: both would be NAME-VARIANT-{name}.service"),
                "give the timer another name",
            ));
        }
        let command = check_command(&format!("{key}.command"), t.command.as_deref())?;
        let calendar = match &t.calendar {
            Some(c) => check_calendar_text(&format!("{key}.calendar"), c)?.to_string(),
            None => {
                return Err(Error::invalid_hint(
                    format!("{FILE}: key `{key}.calendar`"),
                    "is missing: a timer needs a calendar",
                    "e.g. calendar = \"daily\" or \"*-*-* 04:00:00\" (systemd.time(7))",
                ));
            }
        };
        let random_delay = match &t.random_delay {
            Some(d) => Some(check_timespan(&format!("{key}.random_delay"), d)?.to_string()),
            None => None,
        };
        timers.push(Timer {
            name: name.clone(),
            command,
            calendar,
            random_delay,
        });
    }

    let python_packages = f.build.python_packages.clone().unwrap_or_default();
    for (i, p) in python_packages.iter().enumerate() {
        if p.trim().is_empty() || p.contains(['\n', '\r', '\0']) || p.trim_start().starts_with('-')
        {
            return Err(Error::invalid_hint(
                format!("{FILE}: key `build.python_packages`, item {}", i + 1),
                format!("{p:?} is not one requirement line (no options, no newlines)"),
                "write one requirement specifier per item, e.g. \"django-compressor==4.5\"",
            ));
        }
    }
    let commands = f.build.commands.clone().unwrap_or_default();
    for (i, c) in commands.iter().enumerate() {
        let what = format!("{FILE}: key `build.commands`, item {}", i + 1);
        let Some(first) = c.first() else {
            return Err(Error::invalid_hint(
                what,
                "an empty command",
                "each item is a manage.py command and its arguments, e.g. [\"compress\", \"--force\"]",
            ));
        };
        if first.is_empty()
            || !first
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(Error::invalid_hint(
                what,
                format!("{first:?} is not a manage.py command name ([a-z0-9_]+)"),
                "the first word is the command manage.py runs; do not include \"manage.py\" itself",
            ));
        }
        if let Some(a) = c.iter().find(|a| a.contains(['\n', '\r', '\0'])) {
            return Err(Error::invalid(
                what,
                format!("argument {a:?} contains a newline or NUL"),
            ));
        }
    }

    let steps = match &f.build.steps {
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, st)| check_step(i + 1, st, &project_dir))
            .collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    let release = match &f.release.commands {
        Some(list) if list.len() > MAX_RELEASE_COMMANDS => {
            return Err(Error::invalid(
                format!("{FILE}: key `release.commands`"),
                format!("{} commands: at most {MAX_RELEASE_COMMANDS}", list.len()),
            ));
        }
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, c)| check_command(&format!("release.commands[{}]", i + 1), Some(c)))
            .collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };

    let mut secrets = Vec::new();
    for (name, description) in &f.secrets {
        let what = format!("{FILE}: key `secrets.{}`", name.escape_debug());
        check_env_key(&what, name, &[]).map_err(|e| {
            e.with_hint("e.g. [secrets]\nSMTP_PASSWORD = \"the SMTP relay's password\"")
        })?;
        if contract::is_reserved(name) {
            return Err(Error::invalid_hint(
                what,
                format!("{name} is a variable of the deploy contract: djdd sets it"),
                "declare only the project's own secrets (docs/contract.md lists the contract's variables)",
            ));
        }
        check_description(&what, description)?;
        secrets.push(DeclaredSecret {
            name: name.clone(),
            description: description.clone(),
        });
    }

    let url = f.health.url.clone().unwrap_or_else(|| "/".into());
    // The variant's rule for URL paths: a project's health URL is also
    // the default of every variant's health_url and warm_url.
    check_url_path(&format!("{FILE}: key `health.url`"), "health.url", &url)
        .map_err(|e| e.with_hint("e.g. url = \"/health/\""))?;
    let timeout = f.health.timeout.unwrap_or(30);
    if !(1..=600).contains(&timeout) {
        return Err(Error::invalid(
            format!("{FILE}: key `health.timeout`"),
            format!("{timeout} is not between 1 and 600 seconds"),
        ));
    }

    Ok(Project {
        contract,
        contract_declared: f.contract.is_some(),
        manage,
        project_dir,
        settings,
        wsgi,
        celery,
        asgi,
        redis: f.redis.unwrap_or(false),
        processes,
        timers,
        secrets,
        release,
        build: Build {
            python_packages,
            collectstatic: f.build.collectstatic.unwrap_or(true),
            compilemessages: f.build.compilemessages.unwrap_or_default(),
            commands,
            steps,
        },
        health: Health { url, timeout },
        env: check_env(&f.env)?,
    })
}

/// `uv.lock`.
pub const UV_LOCK: &str = "uv.lock";
/// The pyproject.toml a uv.lock locks.
pub const PYPROJECT: &str = "pyproject.toml";

/// Whether `name` is a file name PEP 751 gives a lock: `pylock.toml`, or
/// `pylock.NAME.toml` with NAME of letters, digits, `.`, `_` and `-`.
pub fn is_pylock_name(name: &str) -> bool {
    name == "pylock.toml"
        || name
            .strip_prefix("pylock.")
            .and_then(|r| r.strip_suffix(".toml"))
            .is_some_and(|n| {
                !n.is_empty()
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            })
}

/// PEP 685: an extra's (or group's) name, normalised.
fn normalise_extra(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    ok.then(|| crate::rules::names::python_name(s))
}

/// `[env]`, checked.
fn check_env(f: &EnvFile) -> Result<EnvSource> {
    let requirements = match &f.requirements {
        None => None,
        Some(r) if r == REQUIREMENTS || r == UV_LOCK || is_pylock_name(r) => Some(r.clone()),
        Some(r) if r == "poetry.lock" => {
            return Err(Error::invalid_hint(
                format!("{FILE}: key `env.requirements`"),
                "poetry.lock is not read: its format is poetry's own",
                "export it and commit the result: `poetry export --format requirements.txt --output requirements.txt` (then `requirements = \"requirements.txt\"`), or `poetry export --format pylock.toml` where your poetry has it",
            ));
        }
        Some(r) => {
            return Err(Error::invalid_hint(
                format!("{FILE}: key `env.requirements`"),
                format!(
                    "{} is not a file djdd builds an env from",
                    crate::rules::shown(r)
                ),
                "name \"requirements.txt\", \"uv.lock\", \"pylock.toml\" or \"pylock.NAME.toml\", at the repository root",
            ));
        }
    };
    let names = |key: &str, list: &Option<Vec<String>>| -> Result<Vec<String>> {
        let mut out = Vec::new();
        for s in list.iter().flatten() {
            let n = normalise_extra(s).ok_or_else(|| {
                Error::invalid_hint(
                    format!("{FILE}: key `env.{key}`"),
                    format!("{} is not a name (PEP 685)", crate::rules::shown(s)),
                    "letters, digits, '.', '_' and '-', starting and ending with a letter or digit",
                )
            })?;
            out.push(n);
        }
        out.sort();
        out.dedup();
        Ok(out)
    };
    let extras = names("extras", &f.extras)?;
    let groups = names("groups", &f.groups)?;
    if requirements.as_deref() == Some(REQUIREMENTS) && !(extras.is_empty() && groups.is_empty()) {
        return Err(Error::invalid_hint(
            format!("{FILE}: keys `env.extras` and `env.groups`"),
            "apply to a lock, not to requirements.txt",
            "with requirements.txt, write the extras in the requirement line (`NAME[EXTRA]==VERSION`) and the groups' packages as lines of their own",
        ));
    }
    if f.requirements.as_deref().is_some_and(is_pylock_name)
        && !(extras.is_empty() && groups.is_empty())
    {
        return Err(Error::invalid_hint(
            format!("{FILE}: keys `env.extras` and `env.groups`"),
            "apply to uv.lock only: djdd installs a pylock.toml's default selection",
            "export the pylock.toml with the extras and groups you want (`uv export --format pylock.toml --extra NAME --group NAME`)",
        ));
    }
    Ok(EnvSource {
        requirements,
        extras,
        groups,
        install_project: f.install_project.unwrap_or(false),
    })
}

/// One `[[build.steps]]` (item `n`, from 1), checked; `project_dir` is
/// its default working directory.
fn check_step(n: usize, st: &StepFile, project_dir: &str) -> Result<BuildStep> {
    let key = |k: &str| format!("build.steps[{n}].{k}");
    let mut words = st.command.iter().flatten();
    if let Some(w) = words.find(|w| !command_variables(w).is_empty()) {
        return Err(Error::invalid_hint(
            format!("{FILE}: key `{}`", key("command")),
            format!("word {w:?} uses ${{...}}: a build step's words are passed as written"),
            "the step's environment has the contract's build-time variables (STATIC_ROOT, ...): read them in the program",
        ));
    }
    let command = check_command(&key("command"), st.command.as_deref())?;
    let when = match st.when.as_deref() {
        None | Some("before-collectstatic") => StepWhen::BeforeCollectstatic,
        Some("after-collectstatic") => StepWhen::AfterCollectstatic,
        Some(other) => {
            return Err(Error::invalid_hint(
                format!("{FILE}: key `{}`", key("when")),
                format!("{other:?} is not a time a step can run"),
                "when = \"before-collectstatic\" or \"after-collectstatic\"",
            ));
        }
    };
    let cwd = match st.cwd.as_deref() {
        None => project_dir.to_string(),
        Some(".") => String::new(),
        Some(c) => {
            let c = c.trim_start_matches("./");
            check_repo_path(&key("cwd"), c)?;
            c.to_string()
        }
    };
    let mut makes = Vec::new();
    for m in st.makes.iter().flatten() {
        let m = m.trim_start_matches("./").trim_end_matches('/');
        check_repo_path(&key("makes"), m)?;
        makes.push(m.to_string());
    }
    Ok(BuildStep {
        command,
        when,
        cwd,
        makes,
    })
}

/// A directory of the repository a build step names: relative, inside.
fn check_repo_path(key: &str, p: &str) -> Result<()> {
    check_relative_path(key, p).map_err(|_| {
        Error::invalid_hint(
            format!("{FILE}: key `{key}`"),
            format!("{p:?} is not a directory inside the repository"),
            "give the path from the repository root, without `..`, e.g. \"frontend\" (\".\" is the root)",
        )
    })
}

/// A process or timer name: it becomes part of unit names
/// (`NAME-VARIANT-PROCESS.service`), so `^[a-z][a-z0-9-]*$`, at most 32
/// characters, not ending in `-`, and not a name djdd's own units use.
fn check_unit_name(key: &str, name: &str) -> Result<()> {
    // The rule a variant's `--process NAME=N` checks too.
    check_process_name(&format!("{FILE}: key `{key}`"), name)
        .map_err(|e| e.with_hint("e.g. [processes.sendalerts] or [timers.clearsessions]"))?;
    if RESERVED_UNIT_NAMES.contains(&name) {
        return Err(Error::invalid_hint(
            format!("{FILE}: key `{key}`"),
            format!(
                "`{name}` collides with a unit djdd makes or keeps for itself (reserved: {})",
                RESERVED_UNIT_NAMES.join(", ")
            ),
            "choose another name (the celery worker is a variant's --celery)",
        ));
    }
    Ok(())
}

/// A process's or timer's command: `["manage.py", CMD, ARG...]` or
/// `[PROGRAM, ARG...]`. Words hold no control characters; `${VAR}` must
/// name a variable of the deploy contract.
pub fn check_command(key: &str, words: Option<&[String]>) -> Result<Command> {
    let what = || format!("{FILE}: key `{key}`");
    let hint = "e.g. command = [\"manage.py\", \"sendalerts\"] or [\"celery\", \"--app\", \"proj\", \"beat\"]";
    let Some(words) = words else {
        return Err(Error::invalid_hint(what(), "is missing", hint));
    };
    let Some(first) = words.first() else {
        return Err(Error::invalid_hint(what(), "is an empty command", hint));
    };
    if words.len() > 64 {
        return Err(Error::invalid(what(), "has more than 64 words"));
    }
    for w in words {
        if w.chars().any(|c| c.is_control()) || w.len() > 1024 {
            return Err(Error::invalid(
                what(),
                format!(
                    "word {:?} holds a control character (or is over 1024 bytes)",
                    w
                ),
            ));
        }
        for var in command_variables(w) {
            if crate::contract::variable(&var).is_none_or(|v| v.run.is_none()) {
                return Err(Error::invalid_hint(
                    what(),
                    format!(
                        "word {w:?} uses ${{{var}}}, which is not a run-time variable of the deploy contract"
                    ),
                    "use one of the variables of docs/contract.md section 3 (e.g. ${DATA_DIR}), or write `$` as is",
                ));
            }
        }
    }
    if first == "manage.py" {
        let Some(cmd) = words.get(1) else {
            return Err(Error::invalid_hint(
                what(),
                "names manage.py but no command",
                "e.g. [\"manage.py\", \"sendalerts\"]",
            ));
        };
        if cmd.is_empty()
            || !cmd
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(Error::invalid(
                what(),
                format!("{cmd:?} is not a manage.py command name ([a-z0-9_]+)"),
            ));
        }
        return Ok(Command::Manage(words[1..].to_vec()));
    }
    let program_ok = !first.is_empty()
        && !first.starts_with(['-', '.'])
        && first
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    if !program_ok {
        return Err(Error::invalid_hint(
            what(),
            format!("{first:?} is not a program name (letters, digits, . _ + -; no path)"),
            "name a program of the env's bin/ (e.g. \"celery\"), or \"manage.py\" for a management command",
        ));
    }
    Ok(Command::Program(words.to_vec()))
}

/// The `${VAR}` references in a command word, in order.
pub fn command_variables(word: &str) -> Vec<String> {
    command_pieces(word)
        .into_iter()
        .filter_map(|p| match p {
            CommandPiece::Var(v) => Some(v),
            CommandPiece::Text(_) => None,
        })
        .collect()
}

/// A piece of a command word: literal text or a `${VAR}` reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandPiece {
    Text(String),
    Var(String),
}

/// Splits a command word into text and `${VAR}` references (VAR:
/// `[A-Z_][A-Z0-9_]*`); any other `$` is literal text.
pub fn command_pieces(word: &str) -> Vec<CommandPiece> {
    let mut out: Vec<CommandPiece> = Vec::new();
    let mut text = String::new();
    let mut rest = word;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let var_len = after.find('}').filter(|&n| {
            let v = &after[..n];
            v.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
                && v.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        });
        match var_len {
            Some(n) => {
                text.push_str(&rest[..i]);
                if !text.is_empty() {
                    out.push(CommandPiece::Text(std::mem::take(&mut text)));
                }
                out.push(CommandPiece::Var(after[..n].to_string()));
                rest = &after[n + 1..];
            }
            None => {
                text.push_str(&rest[..i + 2]);
                rest = after;
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(CommandPiece::Text(text));
    }
    out
}

/// The text of a calendar expression (its meaning is systemd's: checked
/// with `systemd-analyze calendar` by the callers that can run it).
fn check_calendar_text<'a>(key: &str, c: &'a str) -> Result<&'a str> {
    crate::rules::values::check_calendar(&format!("{FILE}: key `{key}`"), c)?;
    Ok(c)
}

/// A systemd time span (`30s`, `5min`, `1h 30min`, or seconds).
fn check_timespan<'a>(key: &str, d: &'a str) -> Result<&'a str> {
    const UNITS: &[&str] = &[
        "", "us", "usec", "ms", "msec", "s", "sec", "second", "seconds", "m", "min", "minute",
        "minutes", "h", "hr", "hour", "hours", "d", "day", "days", "w", "week", "weeks",
    ];
    let ok = !d.trim().is_empty()
        && d.len() <= 64
        && d.split_whitespace().all(|tok| {
            let n = tok.bytes().take_while(|b| b.is_ascii_digit()).count();
            n > 0 && UNITS.contains(&&tok[n..])
        });
    if ok {
        Ok(d)
    } else {
        Err(Error::invalid_hint(
            format!("{FILE}: key `{key}`"),
            format!("{d:?} is not a time span"),
            "e.g. \"30s\", \"10min\", \"1h 30min\" (systemd.time(7))",
        ))
    }
}

/// The WSGI callable a project gets when `djdd.toml` names none:
/// `PKG.wsgi:application`, PKG the settings module's first component (what
/// `django-admin startproject` makes).
pub fn default_wsgi(settings: &str) -> String {
    let top = settings.split('.').next().unwrap_or(settings);
    format!("{top}.wsgi:application")
}

impl Project {
    /// A path relative to the project directory, as a repository path.
    pub fn in_project_dir(&self, rel: &str) -> String {
        if self.project_dir.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.project_dir)
        }
    }
}

fn check_relative_path(key: &str, p: &str) -> Result<()> {
    let ok = !p.is_empty()
        && !p.starts_with('/')
        && !p.ends_with('/')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && !p.chars().any(|c| c.is_control() || c == '\\');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_hint(
            format!("{FILE}: key `{key}`"),
            format!("{p:?} is not a relative path inside the repository"),
            "give the path from the repository root, e.g. \"manage.py\" or \"src/manage.py\"",
        ))
    }
}

/// Whether `s` is a dotted Python module path (`pkg.sub.mod`).
pub fn is_module(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut b = part.bytes();
            matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
                && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        })
}

fn check_module<'a>(key: &str, s: &'a str) -> Result<&'a str> {
    if is_module(s) {
        Ok(s)
    } else {
        Err(Error::invalid_hint(
            format!("{FILE}: key `{key}`"),
            format!("{s:?} is not a dotted Python module name"),
            "e.g. \"mysite.settings\"",
        ))
    }
}

fn check_callable<'a>(key: &str, s: &'a str, attr_required: bool) -> Result<&'a str> {
    let (module, attr) = match s.split_once(':') {
        Some((m, a)) => (m, Some(a)),
        None => (s, None),
    };
    let attr_ok = match attr {
        Some(a) => is_module(a) && !a.contains('.'),
        None => !attr_required,
    };
    if is_module(module) && attr_ok {
        Ok(s)
    } else {
        let shape = if attr_required {
            "MODULE:ATTRIBUTE"
        } else {
            "MODULE or MODULE:ATTRIBUTE"
        };
        Err(Error::invalid_hint(
            format!("{FILE}: key `{key}`"),
            format!("{s:?} is not {shape}"),
            if attr_required {
                "e.g. \"mysite.wsgi:application\""
            } else {
                "e.g. \"mysite.celery:app\""
            },
        ))
    }
}

/// The module named by `os.environ.setdefault("DJANGO_SETTINGS_MODULE",
/// "...")` in manage.py, if there is exactly such a call.
pub fn settings_from_manage_py(text: &str) -> Option<String> {
    let key = "DJANGO_SETTINGS_MODULE";
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || !line.contains("setdefault") {
            continue;
        }
        let Some(i) = line.find(key) else { continue };
        let rest = &line[i + key.len()..];
        // Skip the closing quote of the key, the comma and spaces.
        let rest = rest.trim_start_matches(['"', '\'']).trim_start();
        let rest = rest.strip_prefix(',')?.trim_start();
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let value = &rest[1..];
        let end = value.find(quote)?;
        let module = &value[..end];
        if is_module(module) {
            return Some(module.to_string());
        }
    }
    None
}

/// One line of a `*-debian-requirements.txt` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebianRequirement {
    pub package: String,
    /// Installed in the build root before the step that needs it.
    pub build: bool,
    /// A `Depends` of the package (env or src) the file belongs to.
    pub run: bool,
    /// 1-based line number.
    pub line: usize,
}

/// Parses a `venv-debian-requirements.txt` or `src-debian-requirements.txt`
/// (`file` names it in messages): the one parser of these files (the build
/// plan and `djdd check` both use it). Syntax: one package a line, then
/// `build`, `run`, or both (either order; `both`, or neither, means both);
/// `#` starts a comment; blank lines are ignored; a package is listed
/// once; no version relations or alternatives. Returns every bad line's
/// error.
pub fn parse_debian_requirements(
    file: &str,
    text: &str,
) -> std::result::Result<Vec<DebianRequirement>, Vec<Error>> {
    let mut out: Vec<DebianRequirement> = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let what = format!("{file}:{line_no}");
        let mut words = line.split_whitespace();
        let package = words.next().unwrap_or_default();
        if let Err(e) = check_package_name(package) {
            let rule = match e {
                Error::Invalid { problem, .. } => problem,
                other => other.to_string(),
            };
            errors.push(Error::invalid_hint(
                what,
                format!("{package:?} is not a Debian package name: {rule}"),
                "write one package a line, then `build`, `run` or both, e.g. `libpq-dev build`",
            ));
            continue;
        }
        if line[package.len()..].contains(['(', ')', '|', ',', '[', '<', '>', '=']) {
            errors.push(Error::invalid_hint(
                what,
                format!("{line:?}: version relations and alternatives are not supported"),
                "name one package a line; the versions come from the build root's Debian release",
            ));
            continue;
        }
        let (mut build, mut run) = (false, false);
        let mut bad = None;
        for w in words {
            match w {
                "build" => build = true,
                "run" => run = true,
                "both" => (build, run) = (true, true),
                other => {
                    bad = Some(other.to_string());
                    break;
                }
            }
        }
        if let Some(w) = bad {
            errors.push(Error::invalid_hint(
                what,
                format!("`{w}` after {package} is not `build` or `run`"),
                "write `PACKAGE build`, `PACKAGE run` or `PACKAGE build run` (neither means both); version relations are not supported",
            ));
            continue;
        }
        if !build && !run {
            build = true;
            run = true;
        }
        if let Some(prev) = out.iter_mut().find(|r| r.package == package) {
            errors.push(Error::invalid_hint(
                what,
                format!("{package} is listed again (first on line {})", prev.line),
                "list each package once, with all its uses: `PACKAGE build run`",
            ));
            continue;
        }
        out.push(DebianRequirement {
            package: package.to_string(),
            build,
            run,
            line: line_no,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let f = parse("").unwrap();
        let p = resolve(
            Some(&f),
            Some("os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"mysite.settings\")\n"),
        )
        .unwrap();
        assert_eq!(p.contract, contract::VERSION);
        assert!(!p.contract_declared);
        assert_eq!(p.manage, "manage.py");
        assert_eq!(p.project_dir, "");
        assert_eq!(p.settings.as_deref(), Some("mysite.settings"));
        assert_eq!(p.wsgi.as_deref(), Some("mysite.wsgi:application"));
        assert_eq!(p.celery, None);
        assert_eq!(p.health.url, "/");
        assert_eq!(p.health.timeout, 30);
        assert!(p.build.collectstatic);
        assert_eq!(p.build.compilemessages, Compilemessages::Auto);
        assert_eq!(resolve(None, None).unwrap().settings, None);
    }

    #[test]
    fn full_file() {
        let f = parse(
            r#"
contract = 1
manage = "src/manage.py"
settings = "site.settings.prod"
wsgi = "site.wsgi:app"
celery = "site.celery"
[build]
python_packages = ["django-compressor==4.5"]
collectstatic = false
compilemessages = "never"
commands = [["compress", "--force"]]
[health]
url = "/health/"
timeout = 10
"#,
        )
        .unwrap();
        let p = resolve(Some(&f), None).unwrap();
        assert!(p.contract_declared);
        assert_eq!(p.project_dir, "src");
        assert_eq!(p.in_project_dir("site/settings.py"), "src/site/settings.py");
        assert_eq!(p.wsgi.as_deref(), Some("site.wsgi:app"));
        assert_eq!(p.celery.as_deref(), Some("site.celery"));
        assert_eq!(
            p.build.commands,
            vec![vec!["compress".to_string(), "--force".into()]]
        );
        assert_eq!(p.health.timeout, 10);
    }

    #[test]
    fn every_documented_key_parses_and_applies() {
        for k in KEYS {
            let name = k.name.replace("NAME", "job");
            let mut text = match name.split_once('.') {
                Some(("build", key)) if key.starts_with("steps.") => {
                    let key = &key["steps.".len()..];
                    let mut t = format!("[[build.steps]]\n{key} = {}\n", k.example);
                    if key != "command" {
                        t.push_str("command = [\"npm\", \"ci\"]\n");
                    }
                    t
                }
                Some((table, key)) => format!("[{table}]\n{key} = {}\n", k.example),
                None => format!("{name} = {}\n", k.example),
            };
            // A timer needs both keys: add the one the example leaves out.
            if name == "timers.job.command" {
                text.push_str("job.calendar = \"daily\"\n");
            } else if name.starts_with("timers.job.") {
                text.push_str("job.command = [\"manage.py\", \"x\"]\n");
                if name != "timers.job.calendar" {
                    text.push_str("job.calendar = \"daily\"\n");
                }
            }
            let f = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", k.name));
            assert_ne!(f, ProjectFile::default(), "{} changed nothing", k.name);
            resolve(Some(&f), None).unwrap_or_else(|e| panic!("{}: {e}", k.name));
        }
    }

    #[test]
    fn build_steps_and_release_commands_resolve_in_order() {
        let f = parse(
            r#"
manage = "src/manage.py"
[[build.steps]]
command = ["python", "docs/build.py"]
cwd = "."
makes = ["./project-static/docs/"]
[[build.steps]]
command = ["npm", "ci"]
cwd = "frontend"
[[build.steps]]
command = ["manage.py", "compress"]
when = "after-collectstatic"
[release]
commands = [["manage.py", "clearsessions"], ["reindex", "--lazy", "${DATA_DIR}"]]
"#,
        )
        .unwrap();
        let p = resolve(Some(&f), None).unwrap();
        let s = &p.build.steps;
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].cwd, "");
        assert_eq!(s[0].makes, ["project-static/docs"]);
        assert_eq!(s[0].when, StepWhen::BeforeCollectstatic);
        assert_eq!(
            s[0].command,
            Command::Program(vec!["python".into(), "docs/build.py".into()])
        );
        assert_eq!(s[1].cwd, "frontend");
        // The default working directory is manage.py's.
        assert_eq!(s[2].cwd, "src");
        assert_eq!(s[2].when, StepWhen::AfterCollectstatic);
        assert_eq!(s[2].command.manage_command(), Some("compress"));
        assert_eq!(p.release.len(), 2);
        assert_eq!(p.release[0].manage_command(), Some("clearsessions"));
        assert_eq!(p.release[1].words(), ["reindex", "--lazy", "${DATA_DIR}"]);
        // Without the keys: nothing.
        let p = resolve(None, None).unwrap();
        assert!(p.build.steps.is_empty() && p.release.is_empty());
    }

    #[test]
    fn bad_build_steps_and_release_commands_name_the_key() {
        let cases = [
            (
                "[[build.steps]]\ncommand = [\"npm\", \"ci\"]\nwhen = \"after-migrate\"",
                "key `build.steps[1].when`",
                "\"after-migrate\" is not a time",
            ),
            (
                "[[build.steps]]\ncommand = []",
                "key `build.steps[1].command`",
                "empty command",
            ),
            (
                "[[build.steps]]\ncwd = \"x\"",
                "key `build.steps[1].command`",
                "is missing",
            ),
            (
                "[[build.steps]]\ncommand = [\"npm\", \"ci\"]\n[[build.steps]]\ncommand = [\"npm\"]\ncwd = \"../elsewhere\"",
                "key `build.steps[2].cwd`",
                "not a directory inside the repository",
            ),
            (
                "[[build.steps]]\ncommand = [\"npm\"]\ncwd = \"/srv\"",
                "key `build.steps[1].cwd`",
                "not a directory inside",
            ),
            (
                "[[build.steps]]\ncommand = [\"npm\"]\nmakes = [\"a/../../b\"]",
                "key `build.steps[1].makes`",
                "not a directory inside",
            ),
            (
                "[[build.steps]]\ncommand = [\"/usr/bin/npm\"]",
                "key `build.steps[1].command`",
                "not a program name",
            ),
            (
                "[[build.steps]]\ncommand = [\"cp\", \"${STATIC_ROOT}\"]",
                "key `build.steps[1].command`",
                "passed as written",
            ),
            (
                "[release]\ncommands = [[]]",
                "key `release.commands[1]`",
                "empty command",
            ),
            (
                "[release]\ncommands = [[\"manage.py\", \"x\"], [\"manage.py\"]]",
                "key `release.commands[2]`",
                "no command",
            ),
            (
                "[release]\ncommands = [[\"x\", \"${NOPE}\"]]",
                "key `release.commands[1]`",
                "not a run-time variable",
            ),
        ];
        for (text, key, why) in cases {
            let e = parse(text)
                .and_then(|f| resolve(Some(&f), None))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{text}: {e}");
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse("contract = 1\nwsgi_app = \"x:y\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("djdd.toml: "), "{e}");
        assert!(e.contains("wsgi_app"), "{e}");
        let e = parse("[health]\npath = \"/\"\n").unwrap_err().to_string();
        assert!(e.contains("path"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            ("contract = 2", "key `contract`"),
            ("settings = \"my/settings\"", "key `settings`"),
            ("wsgi = \"demo.wsgi\"", "key `wsgi`"),
            ("wsgi = \"demo.wsgi:app;rm\"", "key `wsgi`"),
            ("manage = \"../manage.py\"", "key `manage`"),
            ("[health]\nurl = \"health\"", "key `health.url`"),
            ("[health]\nurl = \"/a b\"", "key `health.url`"),
            // The variant's rule: '#' would end the path curl requests.
            ("[health]\nurl = \"/health/#x\"", "key `health.url`"),
            ("[health]\nurl = \"//health/\"", "key `health.url`"),
            ("[health]\ntimeout = 0", "key `health.timeout`"),
            ("[build]\ncommands = [[]]", "key `build.commands`"),
            (
                "[build]\ncommands = [[\"manage.py\", \"x\"]]",
                "key `build.commands`",
            ),
            (
                "[build]\npython_packages = [\"-e .\"]",
                "key `build.python_packages`",
            ),
            ("asgi = \"demo.asgi\"", "key `asgi`"),
            (
                "[processes.Send]\ncommand = [\"x\"]",
                "key `processes.Send`",
            ),
            (
                "[processes.celery]\ncommand = [\"x\"]",
                "key `processes.celery`",
            ),
            ("[processes.a-]\ncommand = [\"x\"]", "key `processes.a-`"),
            (
                "[processes.a]\ncommand = []",
                "key `processes.a.command`: is an empty",
            ),
            ("[processes.a]\n", "key `processes.a.command`: is missing"),
            (
                "[processes.a]\ncommand = [\"manage.py\"]",
                "key `processes.a.command`",
            ),
            (
                "[processes.a]\ncommand = [\"/bin/sh\", \"-c\"]",
                "key `processes.a.command`",
            ),
            (
                "[processes.a]\ncommand = [\"x\", \"a\\nb\"]",
                "key `processes.a.command`",
            ),
            ("[processes.a]\ncommand = [\"x\", \"${NOPE}\"]", "${NOPE}"),
            (
                "[timers.a]\ncommand = [\"x\"]",
                "key `timers.a.calendar`: is missing",
            ),
            (
                "[timers.a]\ncommand = [\"x\"]\ncalendar = \"daily; rm\"",
                "key `timers.a.calendar`",
            ),
            (
                "[timers.a]\ncommand = [\"x\"]\ncalendar = \"daily\"\nrandom_delay = \"soon\"",
                "key `timers.a.random_delay`",
            ),
            (
                "[processes.a]\ncommand = [\"x\"]\n[timers.a]\ncommand = [\"x\"]\ncalendar = \"daily\"",
                "also a process",
            ),
        ];
        for (text, key) in cases {
            let f = parse(text).unwrap();
            let e = resolve(Some(&f), None).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn processes_and_timers() {
        let f = parse(
            r#"
asgi = "site.asgi:application"
[processes.sendalerts]
command = ["manage.py", "sendalerts", "--loop"]
[processes.beat]
command = ["celery", "--app", "site", "beat", "--schedule", "${DATA_DIR}/beat"]
[timers.clearsessions]
command = ["manage.py", "clearsessions"]
calendar = "daily"
random_delay = "1h 30min"
"#,
        )
        .unwrap();
        let p = resolve(Some(&f), None).unwrap();
        assert_eq!(p.asgi.as_deref(), Some("site.asgi:application"));
        let names: Vec<&str> = p.processes.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["beat", "sendalerts"]);
        assert_eq!(
            p.processes[1].command,
            Command::Manage(vec!["sendalerts".into(), "--loop".into()])
        );
        assert_eq!(p.processes[1].command.manage_command(), Some("sendalerts"));
        assert_eq!(p.processes[0].command.manage_command(), None);
        assert_eq!(p.processes[0].command.words()[0], "celery");
        assert_eq!(p.timers[0].calendar, "daily");
        assert_eq!(p.timers[0].random_delay.as_deref(), Some("1h 30min"));
        assert_eq!(
            p.timers[0].command.words(),
            ["manage.py".to_string(), "clearsessions".into()]
        );
    }

    #[test]
    fn command_pieces_split_variables() {
        assert_eq!(
            command_pieces("a${DATA_DIR}/b$c${x}${LOG_DIR}"),
            [
                CommandPiece::Text("a".into()),
                CommandPiece::Var("DATA_DIR".into()),
                CommandPiece::Text("/b$c${x}".into()),
                CommandPiece::Var("LOG_DIR".into()),
            ]
        );
        assert_eq!(command_pieces(""), []);
        assert_eq!(command_pieces("${"), [CommandPiece::Text("${".into())]);
    }

    #[test]
    fn settings_from_manage_py_variants() {
        assert_eq!(
            settings_from_manage_py("    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'a.b')")
                .as_deref(),
            Some("a.b")
        );
        assert_eq!(
            settings_from_manage_py("# os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'a.b')"),
            None
        );
        assert_eq!(
            settings_from_manage_py("os.environ['DJANGO_SETTINGS_MODULE'] = 'a.b'"),
            None
        );
    }

    #[test]
    fn debian_requirements_syntax() {
        let r = parse_debian_requirements(
            "venv-debian-requirements.txt",
            "# c\nlibpq-dev  build   # headers\nlibpq5 run\n\ngettext\ncurl run build\nmake both\r\n",
        )
        .unwrap();
        assert_eq!(r.len(), 5);
        assert_eq!((r[4].build, r[4].run), (true, true));
        assert_eq!(
            (r[0].package.as_str(), r[0].build, r[0].run, r[0].line),
            ("libpq-dev", true, false, 2)
        );
        assert_eq!((r[1].build, r[1].run), (false, true));
        assert_eq!((r[2].build, r[2].run), (true, true));
        assert_eq!((r[3].build, r[3].run), (true, true));
    }

    #[test]
    fn debian_requirements_errors_all_reported() {
        let errs = parse_debian_requirements(
            "src-debian-requirements.txt",
            "LibPQ build\nlibpq5 runtime\nlibpq5 run\nlibpq5 build\nlibpq4 (>= 15)\n",
        )
        .unwrap_err();
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(
            msgs[3].contains(":5: \"libpq4 (>= 15)\": version relations"),
            "{}",
            msgs[3]
        );
        assert!(
            msgs[0].starts_with("src-debian-requirements.txt:1: \"LibPQ\""),
            "{}",
            msgs[0]
        );
        assert!(msgs[1].contains(":2: `runtime`"), "{}", msgs[1]);
        assert!(
            msgs[2].contains(":4: libpq5 is listed again (first on line 3)"),
            "{}",
            msgs[2]
        );
    }
}
