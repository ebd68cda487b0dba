//! The contract's environment variables: each variable's name, meaning,
//! template and when it applies ([`VARIABLES`]), the names djdd reserves,
//! the template placeholders, and the build-time and run-time (non-secret)
//! environments they expand to for a site.
//!
//! Never holds a secret's value: the secret variables and their values
//! are [`super::secrets`]'. Imports nothing of the crate outside the
//! contract; pure.

use super::{BuildContext, Service, Site, VERSION};

/// Whether a project's settings must read a variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// The settings must read it; `djdd check` warns when they seem not to.
    Must,
    /// Offered for settings that want it.
    May,
    /// Read by something else (Django itself, gunicorn, Python).
    No,
}

/// When a variable is set at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Always,
    /// Only for variants that run a celery worker with RabbitMQ as broker.
    Celery,
    /// Only for variants that run a celery worker with the site's Redis
    /// as broker (`--broker redis`).
    CeleryRedis,
    /// Only for sites with a Redis instance (djdd.toml `redis = true` or
    /// the variant's `--redis`).
    Redis,
}

/// One environment variable of the contract.
///
/// `build` and `run` are templates: `{placeholder}`s are replaced by
/// [`expand`] (the list is in [`PLACEHOLDERS`]); `None` means the variable
/// is not set in that phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable {
    pub name: &'static str,
    pub meaning: &'static str,
    /// Its value during build steps (collectstatic, compilemessages, ...).
    pub build: Option<&'static str>,
    /// Its value for gunicorn, celery, `manage` and `shell` on the target.
    pub run: Option<&'static str>,
    /// A secret: generated on the target by postinst, kept in
    /// `/etc/NAME-site/VARIANT/secrets.env`, never in a package.
    pub secret: bool,
    pub reads: Reads,
    pub when: When,
    /// Other text in a settings file that counts as reading the variable
    /// (for the best-effort `djdd check` warning), e.g. a helper that
    /// reads it implicitly.
    pub also_read_by: &'static [&'static str],
}

const fn var(
    name: &'static str,
    meaning: &'static str,
    build: Option<&'static str>,
    run: Option<&'static str>,
    reads: Reads,
) -> Variable {
    Variable {
        name,
        meaning,
        build,
        run,
        secret: false,
        reads,
        when: When::Always,
        also_read_by: &[],
    }
}

/// The fake SECRET_KEY every build step gets: clearly not a secret, long
/// and varied enough that Django's `security.W009` does not fire.
pub const BUILD_SECRET_KEY: &str =
    "djdd-build-time-fake-secret-key-not-secret-do-not-use-0123456789";

/// The variables of the contract, in the order they are written.
pub const VARIABLES: &[Variable] = &[
    var(
        "DJANGO_SETTINGS_MODULE",
        "The settings module (the variant's `--settings`, else `settings` in djdd.toml).",
        Some("{settings}"),
        Some("{settings}"),
        Reads::No,
    ),
    Variable {
        secret: true,
        ..var(
            "SECRET_KEY",
            "Django's SECRET_KEY: 64 random hexadecimal digits made by postinst on first install and kept across upgrades; a fixed fake one at build time.",
            Some(BUILD_SECRET_KEY),
            Some("{secret_key}"),
            Reads::Must,
        )
    },
    var(
        "DATABASE",
        "The PostgreSQL database name (also its owner role): NAME-VARIANT. Unset at build time: there is no database.",
        None,
        Some("{site}"),
        Reads::May,
    ),
    Variable {
        secret: true,
        also_read_by: &[
            "\"DATABASE\"",
            "'DATABASE'",
            "dj_database_url.config(",
            "env.db(",
            "env.db_url(",
        ],
        ..var(
            "DATABASE_URL",
            "The database as a dj-database-url URL (password included). Unset at build time: settings must then configure no database (`{}`, Django's dummy backend).",
            None,
            Some("postgres://{site}:{database_password}@127.0.0.1:5432/{site}"),
            Reads::Must,
        )
    },
    var(
        "DATABASE_USER",
        "The PostgreSQL role, for settings that do not use DATABASE_URL.",
        None,
        Some("{site}"),
        Reads::May,
    ),
    Variable {
        secret: true,
        ..var(
            "DATABASE_PASSWORD",
            "The role's password (32 random hexadecimal digits, made by postinst).",
            None,
            Some("{database_password}"),
            Reads::May,
        )
    },
    var(
        "DATABASE_HOST",
        "Where PostgreSQL listens (local TCP, so password authentication applies).",
        None,
        Some("127.0.0.1"),
        Reads::May,
    ),
    var(
        "DATABASE_PORT",
        "PostgreSQL's port.",
        None,
        Some("5432"),
        Reads::May,
    ),
    var(
        "ALLOWED_HOSTS",
        "Comma-separated host names the site answers to: the variant's domain and its www. name.",
        Some("localhost"),
        Some("{domain},www.{domain}"),
        Reads::Must,
    ),
    var(
        "HTTPS_ONLY",
        "`true` while the site serves HTTPS: a variant with `--tls acme` or `--tls files` once its certificate is in place (djdd writes it to `tls.env`, read after site.env; see docs/tls.md), or an admin's `true` in local.env (TLS in front of the host). Settings should then redirect to HTTPS, mark cookies secure and send HSTS. `false` while the site serves plain HTTP (tls off, or no certificate yet).",
        Some("false"),
        Some("{https_only}"),
        Reads::May,
    ),
    var(
        "STATIC_ROOT",
        "Where collectstatic writes (build) and what nginx serves at STATIC_URL (run time; read-only there).",
        Some("{build_static_root}"),
        Some("{static_root}"),
        Reads::Must,
    ),
    var(
        "STATIC_URL",
        "The URL prefix nginx serves STATIC_ROOT at.",
        Some("/static/"),
        Some("/static/"),
        Reads::May,
    ),
    var(
        "MEDIA_ROOT",
        "Uploaded files: writable by the site user, served by nginx at MEDIA_URL, never removed by djdd. An empty scratch directory at build time.",
        Some("{scratch}/media"),
        Some("{media_root}"),
        Reads::Must,
    ),
    var(
        "MEDIA_URL",
        "The URL prefix nginx serves MEDIA_ROOT at.",
        Some("/media/"),
        Some("/media/"),
        Reads::May,
    ),
    Variable {
        secret: true,
        when: When::Celery,
        ..var(
            "CELERY_BROKER_URL",
            "The RabbitMQ broker: user and vhost NAME-VARIANT with a password made by postinst. Set only for variants with celery; `memory://` at build time.",
            Some("memory://"),
            Some("amqp://{site}:{broker_password}@127.0.0.1:5672/{site}"),
            Reads::Must,
        )
    },
    Variable {
        secret: true,
        when: When::CeleryRedis,
        ..var(
            "CELERY_BROKER_URL",
            "With `--broker redis`: the site's Redis instance (database 1), in kombu's spelling for a unix socket. `memory://` at build time.",
            Some("memory://"),
            Some("redis+socket://:{redis_password}@/run/redis-{site}/redis.sock?virtual_host=1"),
            Reads::Must,
        )
    },
    Variable {
        secret: true,
        when: When::Redis,
        ..var(
            "REDIS_URL",
            "The site's own Redis instance (sites that declare Redis): a unix socket only the site user can open, with the password made by postinst, database 0. Unset at build time: settings must then configure no Redis.",
            None,
            Some("unix://:{redis_password}@/run/redis-{site}/redis.sock?db=0"),
            Reads::Must,
        )
    },
    Variable {
        secret: true,
        when: When::Redis,
        ..var(
            "REDIS_PASSWORD",
            "The Redis instance's password (32 random hexadecimal digits), as in REDIS_URL.",
            None,
            Some("{redis_password}"),
            Reads::No,
        )
    },
    Variable {
        secret: true,
        when: When::Celery,
        ..var(
            "BROKER_PASSWORD",
            "The RabbitMQ user's password (32 random hexadecimal digits), as in CELERY_BROKER_URL.",
            None,
            Some("{broker_password}"),
            Reads::No,
        )
    },
    var(
        "CACHE_URL",
        "The cache, django-environ style: the local memcached (`pymemcache://`; Django's PyMemcacheCache needs the pymemcache package). `dummy://` at build time.",
        Some("dummy://"),
        Some("pymemcache://127.0.0.1:11211"),
        Reads::Must,
    ),
    var(
        "CACHE_KEY_PREFIX",
        "A key prefix unique to the site, because every variant on the host shares one memcached.",
        Some("{site}"),
        Some("{site}"),
        Reads::May,
    ),
    var(
        "LOG_DIR",
        "A directory for the project's own log files, writable by the site user (open them with logging.handlers.WatchedFileHandler). A scratch directory at build time.",
        Some("{scratch}/log"),
        Some("{log_dir}"),
        Reads::Must,
    ),
    var(
        "DATA_DIR",
        "A directory for the site's own files that are not uploads (celery beat's schedule, a process's state): writable by the site user, not served, kept on upgrade and on purge. A scratch directory at build time.",
        Some("{scratch}/data"),
        Some("{data_dir}"),
        Reads::May,
    ),
    var(
        "WEB_CONCURRENCY",
        "gunicorn's number of worker processes (the variant's `--workers`); gunicorn reads it itself.",
        Some("1"),
        Some("{workers}"),
        Reads::No,
    ),
    var(
        "DJDD_VERSION",
        "The deployed version: the Debian version of the site package (NAME-site-VARIANT) that was built from this source.",
        Some("{version}"),
        Some("{version}"),
        Reads::May,
    ),
    var(
        "DJDD_COMMIT",
        "The full git commit the source package was built from.",
        Some("{commit}"),
        Some("{commit}"),
        Reads::May,
    ),
    var(
        "DJDD_CONTRACT",
        "The contract version djdd implements (this document's).",
        Some("{contract}"),
        Some("{contract}"),
        Reads::May,
    ),
    var(
        "DJDD_PHASE",
        "`build` during build steps, `run` on the target: for the rare setting that must differ.",
        Some("build"),
        Some("run"),
        Reads::May,
    ),
    var(
        "HOME",
        "The site user's home: its state directory, which it cannot write to (root's: it holds the releases). A scratch directory at build time.",
        Some("{scratch}/home"),
        Some("{state_dir}"),
        Reads::No,
    ),
    var(
        "PATH",
        "The virtualenv's bin first. At run time the units start the env's programs by full path; the control utility's `shell` puts them first too.",
        Some("{env_dir}/bin:/usr/bin:/bin"),
        None,
        Reads::No,
    ),
    var(
        "LANG",
        "A UTF-8 locale present on every Debian system.",
        Some("C.UTF-8"),
        Some("C.UTF-8"),
        Reads::No,
    ),
    var(
        "PYTHONDONTWRITEBYTECODE",
        "Python writes no .pyc files: the trees under /usr/lib are read-only and their .pyc files ship in the packages.",
        Some("1"),
        Some("1"),
        Reads::No,
    ),
];

/// Looks a variable up by name.
pub fn variable(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|v| v.name == name)
}

/// Variables the site's launcher sets itself (besides the contract's).
pub const LAUNCHER_VARIABLES: &[&str] = &["PATH", "PYTHONPATH"];

/// Prefixes of names reserved for djdd's own variables.
pub const RESERVED_PREFIXES: &[&str] = &["DJDD_"];

/// Whether a variant's extra environment may not set `name`: a variable of
/// the contract, one the launcher sets, or a name with a reserved prefix.
pub fn is_reserved(name: &str) -> bool {
    variable(name).is_some()
        || LAUNCHER_VARIABLES.contains(&name)
        || RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The reserved names in the form `config::variant` takes (`PREFIX*` for a
/// prefix): what `djdd variant --env` refuses.
pub fn reserved_env() -> Vec<String> {
    VARIABLES
        .iter()
        .map(|v| v.name.to_string())
        .chain(LAUNCHER_VARIABLES.iter().map(|n| n.to_string()))
        .chain(RESERVED_PREFIXES.iter().map(|p| format!("{p}*")))
        .collect()
}

/// The placeholders templates may use, each with what it stands for (the
/// documentation lists these).
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("name", "NAME, the source's name (`djdd src NAME`)"),
    ("variant", "VARIANT, the variant's name"),
    (
        "site",
        "NAME-VARIANT: the site user, group, database, role, vhost",
    ),
    ("domain", "the variant's domain"),
    ("settings", "the settings module"),
    ("workers", "the variant's number of gunicorn workers"),
    ("https_only", "`true` or `false` (the variant's setting)"),
    ("version", "the site package's Debian version"),
    ("commit", "the full git commit of the source"),
    ("contract", "the contract version (1)"),
    ("static_root", "/usr/lib/NAME-site/VARIANT/static"),
    ("media_root", "/var/lib/NAME-site/VARIANT/media"),
    ("log_dir", "/var/log/NAME-site/VARIANT"),
    ("state_dir", "/var/lib/NAME-site/VARIANT"),
    ("data_dir", "/var/lib/NAME-site/VARIANT/data"),
    (
        "build_static_root",
        "build time: the directory collectstatic fills, packaged as static_root",
    ),
    (
        "scratch",
        "build time: an empty directory, thrown away after the build",
    ),
    ("env_dir", "/usr/lib/NAME-env/HASH, the virtualenv"),
    (
        "secret_key",
        "secret: 64 random hexadecimal digits (postinst)",
    ),
    (
        "database_password",
        "secret: 32 random hexadecimal digits (postinst)",
    ),
    (
        "broker_password",
        "secret: 32 random hexadecimal digits (postinst)",
    ),
    (
        "redis_password",
        "secret: 32 random hexadecimal digits (postinst)",
    ),
];

/// Expands `{placeholder}`s in a template. `lookup` gives a placeholder's
/// value, or `None` when it is unknown, which is a bug in the template
/// table (a test expands every template), so this panics.
pub fn expand(template: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    for part in split_template(template) {
        match part {
            TemplatePart::Text(t) => out.push_str(t),
            TemplatePart::Placeholder(p) => match lookup(p) {
                Some(v) => out.push_str(&v),
                None => panic!("contract template {template:?}: unknown placeholder {{{p}}}"),
            },
        }
    }
    out
}

pub(super) enum TemplatePart<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

pub(super) fn split_template(template: &str) -> Vec<TemplatePart<'_>> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        // `{}` (no name) is literal text: it appears in meanings only.
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 1..start + len];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            parts.push(TemplatePart::Text(&rest[..start + 1]));
            rest = &rest[start + 1..];
            continue;
        }
        if start > 0 {
            parts.push(TemplatePart::Text(&rest[..start]));
        }
        parts.push(TemplatePart::Placeholder(name));
        rest = &rest[start + len + 1..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Text(rest));
    }
    parts
}

pub(super) fn site_value(site: &Site, p: &str) -> Option<String> {
    let layout = site.layout();
    Some(match p {
        "name" => site.name.clone(),
        "variant" => site.variant.clone(),
        "site" => site.site(),
        "domain" => site.domain.clone(),
        "settings" => site.settings.clone(),
        "workers" => site.workers.to_string(),
        "https_only" => site.https_only.to_string(),
        "version" => site.version.clone(),
        "commit" => site.commit.clone(),
        "contract" => VERSION.to_string(),
        "static_root" => layout.static_dir,
        "media_root" => layout.media_dir,
        "log_dir" => layout.log_dir,
        "state_dir" => layout.state_dir,
        "data_dir" => layout.data_dir,
        _ => return None,
    })
}

pub(super) fn applies(v: &Variable, site: &Site) -> bool {
    let when = match v.when {
        When::Always => true,
        When::Celery => site.celery && !site.redis_broker,
        When::CeleryRedis => site.celery && site.redis_broker,
        When::Redis => site.redis,
    };
    when && !is_external(v, site)
}

/// The service a variable describes: the local database's, Redis's and
/// the broker's variables, which an external service replaces.
pub fn service_of(name: &str) -> Option<Service> {
    match name {
        "DATABASE" | "DATABASE_URL" | "DATABASE_USER" | "DATABASE_PASSWORD" | "DATABASE_HOST"
        | "DATABASE_PORT" => Some(Service::Database),
        "REDIS_URL" | "REDIS_PASSWORD" => Some(Service::Redis),
        "CELERY_BROKER_URL" | "BROKER_PASSWORD" => Some(Service::Broker),
        _ => None,
    }
}

/// Whether the variable belongs to a service another host provides. A
/// broker in the site's Redis is external when that Redis is.
fn is_external(v: &Variable, site: &Site) -> bool {
    let ext = &site.external;
    match service_of(v.name) {
        Some(Service::Database) => ext.database,
        Some(Service::Redis) => ext.redis,
        Some(Service::Broker) => ext.broker || (ext.redis && v.when == When::CeleryRedis),
        None => false,
    }
}

/// A value an external service's site must get from its secrets (set on
/// each host with `NAME-VARIANT secrets set`, or imported).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExternalValue {
    pub name: &'static str,
    pub service: Service,
    /// What the value looks like (docs/contract.md, postinst's message).
    pub looks_like: &'static str,
}

/// Every external value there is, for the documentation.
pub const EXTERNAL_VALUES: &[ExternalValue] = &[
    ExternalValue {
        name: "DATABASE_URL",
        service: Service::Database,
        looks_like: "postgres://USER:PASSWORD@HOST:5432/DBNAME",
    },
    ExternalValue {
        name: "REDIS_URL",
        service: Service::Redis,
        looks_like: "redis://:PASSWORD@HOST:6379/0",
    },
    ExternalValue {
        name: "CELERY_BROKER_URL",
        service: Service::Broker,
        looks_like: "amqp://USER:PASSWORD@HOST:5672/VHOST (RabbitMQ) or redis://:PASSWORD@HOST:6379/1 (Redis)",
    },
];

/// The values this site needs from its secrets because a service it uses
/// is external: DATABASE_URL (external database), REDIS_URL (a site with
/// Redis, external), CELERY_BROKER_URL (celery with an external broker,
/// or with its broker in an external Redis).
pub fn external_values(site: &Site) -> Vec<ExternalValue> {
    let ext = &site.external;
    EXTERNAL_VALUES
        .iter()
        .filter(|e| match e.service {
            Service::Database => ext.database,
            Service::Redis => site.redis && ext.redis,
            Service::Broker => site.celery && (ext.broker || (site.redis_broker && ext.redis)),
        })
        .copied()
        .collect()
}

/// The environment of every build step (collectstatic, compilemessages,
/// the project's extra commands): exactly these variables, nothing
/// inherited. No secrets, a fake SECRET_KEY, no database.
pub fn build_env(ctx: &BuildContext) -> Vec<(String, String)> {
    let lookup = |p: &str| match p {
        "build_static_root" => Some(ctx.static_root.clone()),
        "scratch" => Some(ctx.scratch.clone()),
        "env_dir" => Some(ctx.env_dir.clone()),
        _ => site_value(ctx.site, p),
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for v in VARIABLES {
        // A variable defined twice (for two kinds of site) is set once.
        if let Some(b) = v.build {
            if !out.iter().any(|(n, _)| n == v.name) {
                out.push((v.name.to_string(), expand(b, &lookup)));
            }
        }
    }
    out
}

/// The non-secret run-time variables, in order: the content of the site
/// package's environment file (`Layout::site_env`).
pub fn runtime_env(site: &Site) -> Vec<(String, String)> {
    let lookup = |p: &str| site_value(site, p);
    VARIABLES
        .iter()
        .filter(|v| !v.secret && applies(v, site))
        .filter_map(|v| Some((v.name.to_string(), expand(v.run?, &lookup))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::tests::{blue, get};
    use crate::contract::{Secrets, env_file, full_runtime_env};

    #[test]
    fn external_services_take_their_variables_out_of_the_package() {
        use crate::contract::{External, Secret, secret_env_parts, secrets_needed};
        let site = Site {
            redis: true,
            external: External {
                database: true,
                redis: true,
                broker: false,
            },
            ..blue()
        };
        let run = runtime_env(&site);
        for name in [
            "DATABASE",
            "DATABASE_USER",
            "DATABASE_HOST",
            "DATABASE_PORT",
        ] {
            assert_eq!(get(&run, name), None, "{name} in site.env");
            assert!(get(&runtime_env(&blue()), name).is_some(), "{name} local");
        }
        let secret_names: Vec<String> = secret_env_parts(&site)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        for name in [
            "DATABASE_URL",
            "DATABASE_PASSWORD",
            "REDIS_URL",
            "REDIS_PASSWORD",
        ] {
            assert!(!secret_names.iter().any(|n| n == name), "{name} composed");
        }
        // RabbitMQ stays local: its URL is still composed.
        assert!(secret_names.iter().any(|n| n == "CELERY_BROKER_URL"));
        assert_eq!(
            secrets_needed(&site),
            [Secret::SecretKey, Secret::BrokerPassword]
        );
        let names: Vec<&str> = external_values(&site).iter().map(|e| e.name).collect();
        assert_eq!(names, ["DATABASE_URL", "REDIS_URL"]);
        assert!(external_values(&blue()).is_empty());
        // A broker in an external Redis is external too.
        let site = Site {
            redis_broker: true,
            ..site
        };
        let names: Vec<&str> = external_values(&site).iter().map(|e| e.name).collect();
        assert_eq!(names, ["DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"]);
        assert!(
            !secret_env_parts(&site)
                .iter()
                .any(|(n, _)| n == "CELERY_BROKER_URL")
        );
        assert_eq!(secrets_needed(&site), [Secret::SecretKey]);
    }

    #[test]
    fn runtime_env_values_for_demo_blue() {
        let env = runtime_env(&blue());
        assert_eq!(get(&env, "DJANGO_SETTINGS_MODULE"), Some("demo.settings"));
        assert_eq!(get(&env, "DATABASE"), Some("demo-blue"));
        assert_eq!(get(&env, "DATABASE_USER"), Some("demo-blue"));
        assert_eq!(
            get(&env, "ALLOWED_HOSTS"),
            Some("blue.example.org,www.blue.example.org")
        );
        assert_eq!(
            get(&env, "STATIC_ROOT"),
            Some("/usr/lib/demo-site/blue/static")
        );
        assert_eq!(get(&env, "STATIC_URL"), Some("/static/"));
        assert_eq!(
            get(&env, "MEDIA_ROOT"),
            Some("/var/lib/demo-site/blue/media")
        );
        assert_eq!(get(&env, "MEDIA_URL"), Some("/media/"));
        assert_eq!(get(&env, "LOG_DIR"), Some("/var/log/demo-site/blue"));
        assert_eq!(get(&env, "CACHE_URL"), Some("pymemcache://127.0.0.1:11211"));
        assert_eq!(get(&env, "CACHE_KEY_PREFIX"), Some("demo-blue"));
        assert_eq!(get(&env, "WEB_CONCURRENCY"), Some("3"));
        assert_eq!(get(&env, "DJDD_VERSION"), Some("1.20250101.1"));
        assert_eq!(get(&env, "HTTPS_ONLY"), Some("false"));
        assert_eq!(get(&env, "HOME"), Some("/var/lib/demo-site/blue"));
        // Secrets and build-only variables are not in the packaged file.
        for n in [
            "SECRET_KEY",
            "DATABASE_URL",
            "DATABASE_PASSWORD",
            "CELERY_BROKER_URL",
            "PATH",
        ] {
            assert_eq!(get(&env, n), None, "{n} must not be in the packaged env");
        }
    }

    #[test]
    fn build_env_has_no_secret_and_no_database() {
        let site = blue();
        let ctx = BuildContext {
            site: &site,
            env_dir: "/usr/lib/demo-env/abc".into(),
            static_root: "/build/static".into(),
            scratch: "/build/scratch".into(),
        };
        let env = build_env(&ctx);
        assert_eq!(get(&env, "SECRET_KEY"), Some(BUILD_SECRET_KEY));
        assert!(BUILD_SECRET_KEY.len() >= 50);
        assert_eq!(get(&env, "DATABASE_URL"), None);
        assert_eq!(get(&env, "DATABASE"), None);
        assert_eq!(get(&env, "STATIC_ROOT"), Some("/build/static"));
        assert_eq!(get(&env, "MEDIA_ROOT"), Some("/build/scratch/media"));
        assert_eq!(get(&env, "LOG_DIR"), Some("/build/scratch/log"));
        assert_eq!(get(&env, "CELERY_BROKER_URL"), Some("memory://"));
        assert_eq!(
            get(&env, "PATH"),
            Some("/usr/lib/demo-env/abc/bin:/usr/bin:/bin")
        );
        assert_eq!(get(&env, "DJDD_PHASE"), Some("build"));
        // No value anywhere comes from a secret placeholder.
        for v in VARIABLES.iter().filter(|v| v.secret) {
            if let Some(b) = v.build {
                assert!(
                    !b.contains("password") && !b.contains("{secret"),
                    "{}",
                    v.name
                );
            }
        }
    }

    #[test]
    fn every_template_expands() {
        let site = blue();
        let ctx = BuildContext {
            site: &site,
            env_dir: "/e".into(),
            static_root: "/s".into(),
            scratch: "/t".into(),
        };
        // build_env and full_runtime_env panic on an unknown placeholder.
        assert!(!build_env(&ctx).is_empty());
        let env = full_runtime_env(&site, &Secrets::fake());
        for (n, v) in &env {
            assert!(!v.contains('{'), "{n}={v} left a placeholder");
        }
        // Every placeholder used is documented.
        for v in VARIABLES {
            for t in [v.build, v.run].into_iter().flatten() {
                for p in split_template(t) {
                    if let TemplatePart::Placeholder(p) = p {
                        assert!(
                            PLACEHOLDERS.iter().any(|(n, _)| *n == p),
                            "{}: placeholder {p} not in PLACEHOLDERS",
                            v.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn names_are_unique_and_env_file_safe() {
        // A name is defined once, or once for each kind of site (the
        // broker URL: RabbitMQ or Redis), never twice for one site.
        let mut names: Vec<(&str, When)> = VARIABLES.iter().map(|v| (v.name, v.when)).collect();
        names.sort_by_key(|(n, w)| (*n, *w as u8));
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len(), "duplicate variable");
        for site in [
            blue(),
            Site {
                redis: true,
                redis_broker: true,
                ..blue()
            },
        ] {
            let env = full_runtime_env(&site, &Secrets::fake());
            let mut seen: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
            seen.sort();
            let m = seen.len();
            seen.dedup();
            assert_eq!(m, seen.len(), "a variable set twice for one site");
        }
        let env = full_runtime_env(&blue(), &Secrets::fake());
        let text = env_file(&env).unwrap();
        assert!(text.contains("DATABASE=\"demo-blue\"\n"));
        assert_eq!(text.lines().count(), env.len());
    }

    #[test]
    fn reserved_names() {
        for n in [
            "SECRET_KEY",
            "DATABASE_URL",
            "HOME",
            "PATH",
            "PYTHONPATH",
            "DJDD_X",
        ] {
            assert!(is_reserved(n), "{n}");
        }
        assert!(!is_reserved("SENTRY_DSN"));
        let list = reserved_env();
        assert!(list.contains(&"DJDD_*".to_string()));
        assert!(list.contains(&"CELERY_BROKER_URL".to_string()));
    }
}
