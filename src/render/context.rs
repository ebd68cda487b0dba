//! The values the site package's templates are rendered from, and the rules
//! every value must pass before it may reach a shell script, a systemd unit
//! or an nginx configuration. The site's paths are the deploy contract's
//! (`contract::Layout`); `render::site_context` fills a context from the
//! contract.
//!
//! Pure: no disk, no processes. Values that reach generated files are either
//! refused here (names, domain, paths, modules: strict character sets) or
//! quoted by the filters in `render::filters` (environment values, secret
//! texts).

use serde::Serialize;

use crate::contract::{self, Layout};
use crate::error::{Error, Result};
use crate::rules::values;

/// One run-time environment variable shipped in the site package
/// (`site.env`). Never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvVar {
    pub key: String,
    pub value: String,
}

impl EnvVar {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        EnvVar {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A piece of a composed secret: literal text, or the value of another
/// secret defined earlier in [`SiteContext::secrets`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Piece {
    Text(String),
    Secret(String),
}

/// How the postinst obtains a secret's value. Secrets are written to
/// `/etc/NAME-site/VARIANT/secrets.env` by the postinst, never shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SecretValue {
    /// Random bytes, hex-encoded, generated once (kept on every later
    /// configure, so an admin may replace it in secrets.env).
    Generated { bytes: u32 },
    /// Recomputed at every configure from literal text and earlier secrets
    /// (e.g. DATABASE_URL from the generated database password).
    Composed { pieces: Vec<Piece> },
}

/// A run-time variable whose value is created on the target host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Secret {
    pub key: String,
    pub value: SecretValue,
}

impl Secret {
    /// A random secret of `bytes` bytes (hex: twice as many characters).
    pub fn generated(key: impl Into<String>, bytes: u32) -> Self {
        Secret {
            key: key.into(),
            value: SecretValue::Generated { bytes },
        }
    }

    /// A secret composed of pieces.
    pub fn composed(key: impl Into<String>, pieces: Vec<Piece>) -> Self {
        Secret {
            key: key.into(),
            value: SecretValue::Composed { pieces },
        }
    }
}

/// A value an external service's site gets from its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalValue {
    /// The variable (`DATABASE_URL`).
    pub name: String,
    /// The service (`database`, `redis`, `broker`).
    pub service: String,
    /// What the value looks like.
    pub looks_like: String,
}

/// The local PostgreSQL role and database the postinst creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Database {
    /// Database name (the seed: `NAME-VARIANT`).
    pub name: String,
    /// Role name (`NAME-VARIANT`).
    pub user: String,
    /// Key of the secret holding the role's password.
    pub password_secret: String,
    /// Variable an admin sets in local.env to use another database; when it
    /// is set there, the postinst creates nothing (`DATABASE_URL`).
    pub override_key: String,
}

/// The local RabbitMQ user and vhost the postinst creates (celery only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Broker {
    pub user: String,
    pub vhost: String,
    /// Key of the secret holding the user's password.
    pub password_secret: String,
    /// Variable that, set in local.env, means "broker is elsewhere"
    /// (`CELERY_BROKER_URL`).
    pub override_key: String,
}

/// The site's own Redis instance (a redis-server@ instance of Debian's
/// template unit, run as the site user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redis {
    /// `maxmemory` (validated by `config::variant`).
    pub maxmemory: String,
    /// `maxmemory-policy`.
    pub policy: String,
    /// Key of the secret holding its password.
    pub password_secret: String,
}

/// Whether a [`Job`] is a long-running process or a scheduled job (its
/// templates see `process` or `timer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Process,
    Timer,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Process => "process",
            JobKind::Timer => "timer",
        }
    }
}

/// A process or a timer of the site (`[processes.NAME]`, `[timers.NAME]`
/// in djdd.toml, with the variant's copies): its units and its command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    /// The process's or timer's name (`^[a-z][a-z0-9-]*$`).
    pub name: String,
    pub kind: JobKind,
    /// The package's count: copies of a process (0..=16, 0: off unless a
    /// host scales it up); 1 for a timer. A host's `scale.env` may give
    /// another (`NAME-VARIANT scale`).
    pub copies: u32,
    /// `true`: `manage.py` and `command` are its arguments; `false`:
    /// `command` is a program of the env and its arguments.
    pub manage: bool,
    /// The words after `manage.py`, or the program and its arguments
    /// (each rendered with the `command_word` filter).
    pub command: Vec<String>,
    /// A timer's calendar (systemd.time(7)); empty for a process.
    pub calendar: String,
    /// A timer's `RandomizedDelaySec=`; empty for none.
    pub random_delay: String,
    pub units: crate::contract::ProcessUnits,
    /// The site's backup timer (`djdd variant --backup`, named
    /// [`BACKUP_JOB`]): how many backups it keeps (1 to 1000); 0 for
    /// every job of the project. Its service runs the control utility's
    /// `backup` as root (backup.service), not `launch run`.
    pub keep: u32,
}

/// The name of the site's backup timer among its jobs (`NAME-VARIANT
/// scale backup=0` turns it off on a host).
pub const BACKUP_JOB: &str = "backup";

/// A release command (`[release] commands` in djdd.toml).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseCommand {
    /// `true`: `manage.py` and `command` are its arguments; `false`:
    /// `command` is a program of the env and its arguments.
    pub manage: bool,
    /// The words after `manage.py`, or the program and its arguments
    /// (each rendered with the `command_word` filter).
    pub command: Vec<String>,
    /// The words as written in djdd.toml, joined by spaces (what postinst
    /// and `status` show).
    pub text: String,
}

/// The sandbox of every unit the site runs (`hardening.inc`): strict by
/// default; a variant relaxes one option with `djdd variant --allow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sandbox {
    /// `MemoryDenyWriteExecute=yes` unless the variant allows `wx-memory`.
    pub deny_wx_memory: bool,
    /// `RestrictAddressFamilies=`: AF_UNIX AF_INET AF_INET6, then the
    /// families the variant allows.
    pub address_families: Vec<String>,
}

/// The families every site's units may open: local sockets (gunicorn's,
/// Redis's, PostgreSQL's) and TCP/UDP over IPv4 and IPv6.
pub const BASE_ADDRESS_FAMILIES: &[&str] = &["AF_UNIX", "AF_INET", "AF_INET6"];

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
            deny_wx_memory: true,
            address_families: BASE_ADDRESS_FAMILIES
                .iter()
                .map(|f| f.to_string())
                .collect(),
        }
    }
}

impl Sandbox {
    /// The sandbox of a variant's relaxations (`config::variant::check_allow`
    /// spellings: `wx-memory`, `address-family=AF_X`).
    pub fn relaxed(allow: &[String]) -> Result<Sandbox> {
        let mut s = Sandbox::default();
        for a in allow {
            values::check_allow(&format!("sandbox relaxation '{a}'"), a)?;
            if a == values::ALLOW_WX_MEMORY {
                s.deny_wx_memory = false;
            } else if let Some(f) = a.strip_prefix(values::ALLOW_FAMILY_PREFIX) {
                if !s.address_families.iter().any(|x| x == f) {
                    s.address_families.push(f.to_string());
                }
            }
        }
        Ok(s)
    }
}

/// Everything the site package's files are rendered from. The build fills
/// it; [`SiteContext::validate`] (called by `site_files`) refuses values
/// that could change the meaning of a generated file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteContext {
    /// Project NAME (`^[a-z][a-z0-9-]*$`).
    pub name: String,
    /// VARIANT (same rule).
    pub variant: String,
    /// The site package's version (Debian Policy 5.6.12).
    pub version: String,
    /// DOMAIN; nginx answers for DOMAIN and www.DOMAIN.
    pub domain: String,
    /// Hash naming NAME-env-HASH and /usr/lib/NAME-env/HASH.
    pub env_hash: String,
    /// Hash naming NAME-src-HASH and /usr/lib/NAME-src/HASH.
    pub src_hash: String,
    /// The build root's Python, `3.X` (the env's interpreter is
    /// /usr/bin/python3.X; the control utility's env-file reader runs on it).
    pub python_version: String,
    /// DJANGO_SETTINGS_MODULE, dotted.
    pub settings_module: String,
    /// WSGI callable, `module.path:attribute`.
    pub wsgi_callable: String,
    /// Celery app (`-A` argument) when the variant runs a worker.
    pub celery_app: Option<String>,
    /// gunicorn's options, between `--chdir PROJECT_DIR` and the WSGI
    /// callable (`contract::gunicorn_args`); each is shell-quoted.
    pub gunicorn_args: Vec<String>,
    /// The celery worker's arguments (`contract::celery_args`); empty
    /// without a worker.
    pub celery_args: Vec<String>,
    /// gunicorn workers (WEB_CONCURRENCY default), 1..=256.
    pub workers: u32,
    /// Run `manage.py migrate` in the postinst.
    pub migrate: bool,
    /// Path the postinst requests through gunicorn's socket after a switch.
    pub health_path: String,
    /// The path a switch warms each new gunicorn worker up with (the
    /// variant's `warm_url`, else the health path).
    pub warm_path: String,
    /// manage.py relative to the source root (e.g. `manage.py`, `app/manage.py`).
    pub manage_py: String,
    /// URL prefix nginx serves the collected static files at (`/static/`).
    pub static_url: String,
    /// URL prefix nginx serves media at (`/media/`).
    pub media_url: String,
    /// nginx client_max_body_size, in MiB.
    pub max_body_mb: u32,
    /// Seconds the postinst waits for the health URL to answer.
    pub health_timeout: u32,
    /// Seconds a switch lets the old gunicorn finish its requests (its
    /// `--graceful-timeout`; the postinst's drain waits as long at most).
    pub graceful_timeout: u32,
    /// The run-time environment shipped in site.env, in order (the deploy
    /// contract's variables, then the variant's extra ones; no secrets).
    pub environment: Vec<EnvVar>,
    /// Variables created by the postinst into secrets.env, in order.
    pub secrets: Vec<Secret>,
    /// The values the site needs from its secrets because a service is
    /// external (`djdd variant --external`): configure fails without them.
    pub external: Vec<ExternalValue>,
    /// The secrets the project declares (djdd.toml `[secrets]`): postinst
    /// and `status` name the missing ones.
    pub declared_secrets: Vec<crate::config::project::DeclaredSecret>,
    /// The site user's fixed uid and gid (`djdd variant --uid`).
    pub uid: Option<u32>,
    /// Local PostgreSQL role/database; None: the site uses no database.
    pub database: Option<Database>,
    /// Local RabbitMQ user/vhost; None: no broker set-up.
    pub broker: Option<Broker>,
    /// The processes (those off by default too: a host may scale them up)
    /// and the timers, by name.
    pub jobs: Vec<Job>,
    /// djdd.toml's `[release] commands`, in order: postinst runs them
    /// after migrate, before the switch (`launch release`).
    pub release_commands: Vec<ReleaseCommand>,
    /// The site's Redis instance; None: no Redis.
    pub redis: Option<Redis>,
    /// The units' sandbox.
    pub sandbox: Sandbox,
    /// HTTPS; None: plain HTTP only (tls off).
    pub tls: Option<Tls>,
    /// nginx takes `http2 on;` (1.25.1 and later, trixie); bookworm's 1.22
    /// only `listen ... http2`.
    pub nginx_http2_on: bool,
}

/// How the site gets its certificate (the variant's `tls`, not off).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tls {
    /// `acme` or `files`.
    #[serde(serialize_with = "tls_mode_str")]
    pub mode: crate::config::variant::TlsMode,
    /// The ACME directory URL (acme only, else empty).
    pub acme_server: String,
    /// The ACME account's e-mail address; empty: none.
    pub acme_email: String,
}

fn tls_mode_str<S: serde::Serializer>(
    m: &crate::config::variant::TlsMode,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

impl SiteContext {
    /// `NAME-VARIANT`: the system user and group, the database, the unit
    /// and the control utility's name.
    pub fn user(&self) -> String {
        format!("{}-{}", self.name, self.variant)
    }

    /// `NAME-site-VARIANT`.
    pub fn package(&self) -> String {
        format!("{}-site-{}", self.name, self.variant)
    }

    /// `NAME-env-HASH`.
    pub fn env_package(&self) -> String {
        format!("{}-env-{}", self.name, self.env_hash)
    }

    /// `NAME-src-HASH`.
    pub fn src_package(&self) -> String {
        format!("{}-src-{}", self.name, self.src_hash)
    }

    /// `/usr/lib/NAME-env/HASH`.
    pub fn env_path(&self) -> String {
        contract::env_dir(&self.name, &self.env_hash)
    }

    /// `/usr/lib/NAME-src/HASH`.
    pub fn src_path(&self) -> String {
        contract::src_dir(&self.name, &self.src_hash)
    }

    /// DOMAIN and www.DOMAIN (DOMAIN alone when it already starts with www.).
    pub fn server_names(&self) -> Vec<String> {
        if self.domain.starts_with("www.") {
            vec![self.domain.clone()]
        } else {
            vec![self.domain.clone(), format!("www.{}", self.domain)]
        }
    }

    /// Whether a celery worker unit is part of the package.
    pub fn celery(&self) -> bool {
        self.celery_app.is_some()
    }

    /// The directory holding manage.py, relative to the source root ("" for
    /// the root): gunicorn's --chdir, PYTHONPATH and the shell's cwd.
    pub fn app_subdir(&self) -> String {
        match self.manage_py.rsplit_once('/') {
            Some((dir, _)) => dir.to_string(),
            None => String::new(),
        }
    }

    /// The site's fixed paths.
    pub fn layout(&self) -> Layout {
        Layout::new(&self.name, &self.variant)
    }

    /// Checks every value against the rule for where it ends up. The first
    /// problem is returned, naming the field, the value and the rule.
    pub fn validate(&self) -> Result<()> {
        self.validate_names()?;
        self.validate_jobs()?;
        self.validate_web()?;
        self.validate_environment()?;
        self.validate_services()
    }

    /// The names, hashes, versions, module paths and numbers of the site.
    fn validate_names(&self) -> Result<()> {
        check_ident_name("name", &self.name)?;
        check_ident_name("variant", &self.variant)?;
        let user = self.user();
        if user.len() > 32 {
            return Err(Error::invalid_hint(
                format!("site user '{user}'"),
                "is longer than 32 characters (the limit for user names)",
                "use a shorter NAME or VARIANT",
            ));
        }
        crate::deb::control::check_package_name(&self.package())?;
        crate::deb::control::check_version(&self.version)?;
        values::check_domain("domain", &self.domain)?;
        check_hex("env_hash", &self.env_hash)?;
        check_hex("src_hash", &self.src_hash)?;
        check_python_version(&self.python_version)?;
        values::check_settings("settings_module", &self.settings_module)?;
        check_callable("wsgi_callable", &self.wsgi_callable)?;
        if let Some(app) = &self.celery_app {
            check_callable("celery_app", app)?;
        }
        values::check_workers("workers", i64::from(self.workers))?;
        if !(1..=4096).contains(&self.max_body_mb) {
            return Err(Error::invalid(
                format!("max_body_mb {}", self.max_body_mb),
                "must be between 1 and 4096",
            ));
        }
        if !(1..=3600).contains(&self.health_timeout) {
            return Err(Error::invalid(
                format!("health_timeout {}", self.health_timeout),
                "must be between 1 and 3600 seconds",
            ));
        }
        values::check_graceful_timeout("graceful_timeout", i64::from(self.graceful_timeout))?;
        values::check_url_path("health_path", "health_url", &self.health_path)?;
        values::check_url_path("warm_path", "warm_url", &self.warm_path)?;
        Ok(())
    }

    /// The project's processes and timers: unique names, copies, a command,
    /// a calendar a unit file can carry.
    fn validate_jobs(&self) -> Result<()> {
        let mut job_names: Vec<&str> = Vec::new();
        for j in &self.jobs {
            check_ident_name("process or timer", &j.name)?;
            if job_names.contains(&j.name.as_str()) {
                return Err(Error::invalid(
                    format!("process or timer {}", j.name),
                    "is defined twice",
                ));
            }
            job_names.push(&j.name);
            let most = match j.kind {
                JobKind::Process => values::MAX_COPIES as u32,
                JobKind::Timer => 1,
            };
            if j.copies > most {
                return Err(Error::invalid(
                    format!("{} {}", j.kind.as_str(), j.name),
                    format!("{} copies: must be 0 to {most}", j.copies),
                ));
            }
            if j.command.is_empty() {
                return Err(Error::invalid(
                    format!("process or timer {}", j.name),
                    "has no command",
                ));
            }
            let ok_text = |t: &str| {
                t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || " *-:.,/~_+".contains(c))
            };
            if !ok_text(&j.calendar) || !ok_text(&j.random_delay) {
                return Err(Error::invalid(
                    format!("timer {}", j.name),
                    "calendar or random delay holds a character a unit file cannot carry as is",
                ));
            }
            if j.keep > 0 && (j.kind != JobKind::Timer || j.name != BACKUP_JOB) {
                return Err(Error::invalid(
                    format!("{} {}", j.kind.as_str(), j.name),
                    format!("only the timer {BACKUP_JOB} keeps backups"),
                ));
            }
            if i64::from(j.keep) > values::MAX_BACKUP_KEEP {
                return Err(Error::invalid(
                    format!("timer {}", j.name),
                    format!(
                        "keeps {} backups: must be 1 to {}",
                        j.keep,
                        values::MAX_BACKUP_KEEP
                    ),
                ));
            }
            if (j.kind == JobKind::Timer) == j.calendar.is_empty() {
                return Err(Error::invalid(
                    format!("{} {}", j.kind.as_str(), j.name),
                    "a timer needs a calendar and a process has none",
                ));
            }
        }
        Ok(())
    }

    /// What nginx and the units are made of: TLS, manage.py, the sandbox's
    /// address families, the static and media URLs.
    fn validate_web(&self) -> Result<()> {
        if let Some(t) = &self.tls {
            use crate::config::variant::TlsMode;
            match t.mode {
                TlsMode::Off => {
                    return Err(Error::invalid("tls", "is off: the context has no tls then"));
                }
                TlsMode::Acme => {
                    values::check_acme_server("tls", &t.acme_server)?;
                    if !t.acme_email.is_empty() {
                        values::check_email("tls", &t.acme_email)?;
                    }
                }
                TlsMode::Files => {}
            }
        }
        check_manage_py(&self.manage_py)?;
        for f in &self.sandbox.address_families {
            if !BASE_ADDRESS_FAMILIES.contains(&f.as_str())
                && !values::ALLOWABLE_FAMILIES.contains(&f.as_str())
            {
                return Err(Error::invalid(
                    format!("address family '{f}'"),
                    "is not one a site's units may open",
                ));
            }
        }
        check_url_prefix("static_url", &self.static_url)?;
        check_url_prefix("media_url", &self.media_url)?;
        if self.static_url.starts_with(&self.media_url)
            || self.media_url.starts_with(&self.static_url)
        {
            return Err(Error::invalid(
                format!(
                    "static_url '{}' and media_url '{}'",
                    self.static_url, self.media_url
                ),
                "must not be equal nor one inside the other (nginx serves them from different directories)",
            ));
        }
        Ok(())
    }

    /// The environment and the secrets: one rule for every name and value,
    /// each defined once, composed secrets only of secrets before them.
    fn validate_environment(&self) -> Result<()> {
        let mut keys: Vec<&str> = Vec::new();
        for v in &self.environment {
            check_env_key(&v.key)?;
            check_env_value(&v.key, &v.value)?;
            if keys.contains(&v.key.as_str()) {
                return Err(Error::invalid(
                    format!("environment variable {}", v.key),
                    "is given twice",
                ));
            }
            keys.push(&v.key);
        }
        let mut secret_keys: Vec<&str> = Vec::new();
        for s in &self.secrets {
            check_env_key(&s.key)?;
            if keys.contains(&s.key.as_str()) || secret_keys.contains(&s.key.as_str()) {
                return Err(Error::invalid(
                    format!("secret {}", s.key),
                    "is also defined elsewhere in the environment or the secrets",
                ));
            }
            match &s.value {
                SecretValue::Generated { bytes } => {
                    if !(16..=256).contains(bytes) {
                        return Err(Error::invalid(
                            format!("secret {}", s.key),
                            format!("{bytes} random bytes: must be between 16 and 256"),
                        ));
                    }
                }
                SecretValue::Composed { pieces } => {
                    for p in pieces {
                        match p {
                            Piece::Text(t) => check_env_value(&s.key, t)?,
                            Piece::Secret(k) => {
                                if !secret_keys.contains(&k.as_str()) {
                                    return Err(Error::invalid(
                                        format!("secret {}", s.key),
                                        format!(
                                            "refers to secret {k}, which is not defined before it"
                                        ),
                                    ));
                                }
                            }
                        }
                    }
                }
            }
            secret_keys.push(&s.key);
        }
        // The names the control utility's `secrets` takes: each once, none
        // shipped in site.env nor made by postinst.
        let mut host_keys: Vec<&str> = Vec::new();
        let others = self
            .external
            .iter()
            .map(|e| e.name.as_str())
            .chain(self.declared_secrets.iter().map(|d| d.name.as_str()));
        for k in others {
            check_env_key(k)?;
            if keys.contains(&k) || secret_keys.contains(&k) || host_keys.contains(&k) {
                return Err(Error::invalid(
                    format!("secret {k}"),
                    "is also defined elsewhere in the environment or the secrets",
                ));
            }
            host_keys.push(k);
        }
        Ok(())
    }

    /// The site's own database role, Redis and broker: names and the
    /// generated secrets their passwords are.
    fn validate_services(&self) -> Result<()> {
        let is_generated = |k: &str| {
            self.secrets
                .iter()
                .any(|s| s.key == k && matches!(s.value, SecretValue::Generated { .. }))
        };
        if let Some(db) = &self.database {
            check_role_name("database.name", &db.name)?;
            check_role_name("database.user", &db.user)?;
            check_env_key(&db.override_key)?;
            if !is_generated(&db.password_secret) {
                return Err(Error::invalid(
                    format!("database.password_secret {}", db.password_secret),
                    "must name a generated secret",
                ));
            }
        }
        if let Some(r) = &self.redis {
            values::check_redis_maxmemory("redis maxmemory", &r.maxmemory)?;
            values::check_redis_policy("redis policy", &r.policy)?;
            if !is_generated(&r.password_secret) {
                return Err(Error::invalid(
                    format!("redis.password_secret {}", r.password_secret),
                    "must name a generated secret",
                ));
            }
        }
        if let Some(b) = &self.broker {
            if self.celery_app.is_none() {
                return Err(Error::invalid(
                    "broker",
                    "is set but the variant has no celery_app",
                ));
            }
            check_role_name("broker.user", &b.user)?;
            check_role_name("broker.vhost", &b.vhost)?;
            check_env_key(&b.override_key)?;
            if !is_generated(&b.password_secret) {
                return Err(Error::invalid(
                    format!("broker.password_secret {}", b.password_secret),
                    "must name a generated secret",
                ));
            }
        }
        Ok(())
    }
}

fn bad(field: &str, value: &str, rule: &str) -> Error {
    Error::invalid(format!("{field} '{}'", value.escape_debug()), rule)
}

/// NAME and VARIANT: they become user, database, unit and path names.
fn check_ident_name(field: &str, v: &str) -> Result<()> {
    let ok = v.len() <= 30
        && v.starts_with(|c: char| c.is_ascii_lowercase())
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !v.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(bad(
            field,
            v,
            "must match ^[a-z][a-z0-9-]*$, not end with '-', at most 30 characters",
        ))
    }
}

/// PostgreSQL/RabbitMQ names: passed as quoted identifiers and arguments,
/// but kept to the same safe set as NAME-VARIANT.
fn check_role_name(field: &str, v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 63
        && v.starts_with(|c: char| c.is_ascii_lowercase())
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(bad(field, v, "must match ^[a-z][a-z0-9_-]*$ (at most 63)"))
    }
}

fn check_hex(field: &str, v: &str) -> Result<()> {
    if !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    {
        Ok(())
    } else {
        Err(bad(
            field,
            v,
            "must be lowercase hexadecimal, 1 to 64 digits",
        ))
    }
}

fn check_python_version(v: &str) -> Result<()> {
    let ok = v
        .strip_prefix("3.")
        .is_some_and(|m| !m.is_empty() && m.len() <= 3 && m.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(bad("python_version", v, "must look like 3.11"))
    }
}

fn is_py_ident(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `module.path` or `module.path:attribute`.
fn check_callable(field: &str, v: &str) -> Result<()> {
    let (module, attr) = v.split_once(':').unwrap_or((v, "application"));
    if v.len() <= 200 && module.split('.').all(is_py_ident) && attr.split('.').all(is_py_ident) {
        Ok(())
    } else {
        Err(bad(
            field,
            v,
            "must be module.path or module.path:attribute (Python identifiers)",
        ))
    }
}

fn url_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~/".contains(c)
}

fn check_manage_py(v: &str) -> Result<()> {
    let ok = v.len() <= 200
        && (v == "manage.py" || v.ends_with("/manage.py"))
        && !v.starts_with('/')
        && v.split('/').all(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        });
    if ok {
        Ok(())
    } else {
        Err(bad(
            "manage_py",
            v,
            "must be a relative path to manage.py inside the source ([A-Za-z0-9-._] components, no '..')",
        ))
    }
}

fn check_url_prefix(field: &str, v: &str) -> Result<()> {
    let ok = v.len() >= 3
        && v.len() <= 100
        && v.starts_with('/')
        && v.ends_with('/')
        && !v.contains("//")
        && !v.contains("/./")
        && !v.contains("/../")
        && v.chars().all(url_safe);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_hint(
            format!("{field} '{}'", v.escape_debug()),
            "must be a local URL path like /static/ (starting and ending with '/', [A-Za-z0-9-._~/], not '/')",
            "files on another host (a CDN) are not served by the site's nginx",
        ))
    }
}

/// An environment variable name of the context: the rule of every
/// environment name (`rules::values::check_env_key`).
fn check_env_key(k: &str) -> Result<()> {
    values::check_env_key("environment variable name", k, &[])
}

/// An environment value of the context: the rule of every environment
/// value (`rules::values::check_env_value`).
fn check_env_value(key: &str, v: &str) -> Result<()> {
    values::check_env_value(&format!("value of {key}"), v)
}
