//! The djdd deploy contract, in code: the one definition of what a Django
//! project gets from djdd (the environment variables at build time and at
//! run time, the paths, the users and names, the gunicorn and celery
//! command lines) and its version. The site package's environment file,
//! systemd units, maintainer scripts and control utility take their values
//! from here; `docs/contract.md` carries tables generated from here (see
//! `render::contract_docs`), and a test fails when the two disagree.
//! `djdd check` (the `check` stage) validates a project against it.
//!
//! The ground floor: imports nothing of the crate, so that every stage
//! (config, plan, render, check) reads it and none of it reads them.
//! Pure: never touches the disk or runs a process. The paths follow the
//! Filesystem Hierarchy Standard as Debian Policy §9.1 applies it; the
//! environment files are read by both systemd (`EnvironmentFile=`,
//! systemd.exec(5)) and POSIX sh, so values are restricted to what both
//! read the same way.

use std::fmt;

/// The version of the contract this djdd implements. A project declares
/// the version it was written for with `contract = N` in its `djdd.toml`.
///
/// The rules (also in docs/contract.md): removing or renaming a variable,
/// changing a value's meaning or format, moving a path, changing a command
/// line incompatibly, or requiring a new file of projects bumps it. Adding
/// a variable or an optional `djdd.toml` key with a default that keeps old
/// projects working does not.
pub const VERSION: u32 = 1;

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

/// The secrets postinst generates on the target when they are missing and
/// keeps across upgrades (they live in `secrets.env`, never in a package).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secret {
    SecretKey,
    DatabasePassword,
    BrokerPassword,
    RedisPassword,
}

impl Secret {
    pub const ALL: [Secret; 4] = [
        Secret::SecretKey,
        Secret::DatabasePassword,
        Secret::BrokerPassword,
        Secret::RedisPassword,
    ];

    /// The placeholder that stands for it in templates.
    pub fn placeholder(self) -> &'static str {
        match self {
            Secret::SecretKey => "secret_key",
            Secret::DatabasePassword => "database_password",
            Secret::BrokerPassword => "broker_password",
            Secret::RedisPassword => "redis_password",
        }
    }

    /// The variable that holds it in `secrets.env` (so postinst can read an
    /// existing one back and keep it).
    pub fn variable(self) -> &'static str {
        match self {
            Secret::SecretKey => "SECRET_KEY",
            Secret::DatabasePassword => "DATABASE_PASSWORD",
            Secret::BrokerPassword => "BROKER_PASSWORD",
            Secret::RedisPassword => "REDIS_PASSWORD",
        }
    }

    /// How many random bytes postinst reads from /dev/urandom for it.
    pub fn bytes(self) -> usize {
        match self {
            Secret::SecretKey => 32,
            Secret::DatabasePassword => 16,
            Secret::BrokerPassword => 16,
            Secret::RedisPassword => 16,
        }
    }

    /// Its length: postinst writes the bytes as lowercase hexadecimal
    /// (safe in URLs, shell and environment files without quoting). An
    /// administrator may replace a value in `secrets.env`; postinst keeps
    /// whatever is there.
    pub fn length(self) -> usize {
        2 * self.bytes()
    }

    fn from_placeholder(p: &str) -> Option<Secret> {
        Secret::ALL.into_iter().find(|s| s.placeholder() == p)
    }
}

/// The values of the secrets, for code that knows them (tests, `djdd
/// check` with fake ones). postinst uses [`secret_env_parts`] instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secrets {
    pub secret_key: String,
    pub database_password: String,
    pub broker_password: String,
    pub redis_password: String,
}

impl Secrets {
    /// Obviously fake secrets of the right shape (for `djdd check`).
    pub fn fake() -> Secrets {
        let fill = |prefix: &str, s: Secret| {
            let mut v: String = prefix.to_string();
            let digits = "0123456789";
            while v.len() < s.length() {
                v.push_str(digits);
            }
            v.truncate(s.length());
            v
        };
        Secrets {
            secret_key: fill("djddcheckfakesecretkeynotsecret", Secret::SecretKey),
            database_password: fill("djddcheckfakedbpassword", Secret::DatabasePassword),
            broker_password: fill("djddcheckfakebroker", Secret::BrokerPassword),
            redis_password: fill("djddcheckfakeredis", Secret::RedisPassword),
        }
    }

    fn get(&self, s: Secret) -> &str {
        match s {
            Secret::SecretKey => &self.secret_key,
            Secret::DatabasePassword => &self.database_password,
            Secret::BrokerPassword => &self.broker_password,
            Secret::RedisPassword => &self.redis_password,
        }
    }
}

/// One deployed site (NAME-VARIANT) and the build it runs: what the
/// run-time templates need. Values come from validated config (NAME and
/// VARIANT match `^[a-z][a-z0-9-]*$`, the domain is a host name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub name: String,
    pub variant: String,
    pub domain: String,
    pub settings: String,
    pub workers: u32,
    pub celery: bool,
    /// celery's broker is the site's Redis (`--broker redis`), not RabbitMQ.
    pub redis_broker: bool,
    /// The site has its own Redis instance.
    pub redis: bool,
    /// Served as an ASGI application (uvicorn's worker class).
    pub asgi: bool,
    pub https_only: bool,
    /// The site package's Debian version (DJDD_VERSION).
    pub version: String,
    /// The full git commit of the source (DJDD_COMMIT).
    pub commit: String,
}

impl Site {
    /// NAME-VARIANT: the user, group, database, role and vhost.
    pub fn site(&self) -> String {
        format!("{}-{}", self.name, self.variant)
    }

    /// The site's fixed paths on the target.
    pub fn layout(&self) -> Layout {
        Layout::new(&self.name, &self.variant)
    }
}

/// What a build step's environment needs besides the site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildContext<'a> {
    pub site: &'a Site,
    /// The virtualenv the step runs with, at its final path
    /// (`/usr/lib/NAME-env/HASH`).
    pub env_dir: String,
    /// Where collectstatic writes (inside the build root); its content is
    /// packaged at the site's `static_root`.
    pub static_root: String,
    /// An empty directory, thrown away after the build (MEDIA_ROOT,
    /// LOG_DIR and HOME point below it).
    pub scratch: String,
}

/// The fixed paths and names of site NAME-VARIANT on the target host: the
/// one definition the site package's files, the maintainer scripts and
/// docs/contract.md (its paths table) all take them from. They follow the
/// FHS as Debian Policy ch. 9 applies it: files shipped by dpkg under
/// /usr/lib, state under /var/lib, configuration under /etc, logs under
/// /var/log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Layout {
    /// `NAME-VARIANT`: user, group, unit base name, control utility.
    pub unit: String,
    /// `/usr/lib/NAME-site/VARIANT`: files shipped by the site package.
    pub lib_dir: String,
    /// `lib_dir/static`: collectstatic output (STATIC_ROOT), served by nginx.
    pub static_dir: String,
    /// `lib_dir/site.env`: the shipped, non-secret run-time environment
    /// (not a conffile); postinst copies it into each release.
    pub site_env: String,
    /// `lib_dir/launch`: starts gunicorn, celery, manage.py from a release.
    pub launcher: String,
    /// `lib_dir/envfile`: reads systemd environment files, runs a command.
    pub envfile: String,
    /// `lib_dir/nginx.conf`: the nginx site over plain HTTP.
    pub nginx_conf: String,
    /// `lib_dir/nginx-tls.conf`: the nginx site over HTTPS (tls acme or
    /// files), enabled instead of nginx_conf once a certificate is in place.
    pub nginx_tls_conf: String,
    /// `lib_dir/maintenance`: holds the 503 page (index.html).
    pub maintenance_dir: String,
    /// `lib_dir/local.env.example`: copied to local_env when missing.
    pub local_env_example: String,
    /// `/var/lib/NAME-site/VARIANT`: state made by postinst (root's); the
    /// site user's HOME.
    pub state_dir: String,
    /// `state_dir/media`: MEDIA_ROOT, writable by the site user.
    pub media_dir: String,
    /// `state_dir/data`: DATA_DIR, writable by the site user, not served.
    pub data_dir: String,
    /// `state_dir/units`: the units postinst last enabled (one a line), so
    /// the next configure can stop the ones a new version dropped.
    pub units_file: String,
    /// `state_dir/releases`: one directory a version, holding `env` and
    /// `src` links and a copy of site.env.
    pub releases_dir: String,
    /// `state_dir/current` -> `releases/VERSION`: the running release.
    pub current: String,
    /// `current/site.env`: the environment file the processes read (the
    /// running release's copy of site_env).
    pub current_site_env: String,
    /// `state_dir/offline`: while it exists nginx answers 503.
    pub offline_flag: String,
    /// `state_dir/acme`: the ACME http-01 webroot nginx serves
    /// `/.well-known/acme-challenge/` from (certbot writes it).
    pub acme_webroot: String,
    /// `state_dir/tls.env`: `HTTPS_ONLY`, written when the site switches
    /// between HTTP and HTTPS; read after secrets_env, before local_env.
    pub tls_env: String,
    /// `/etc/NAME-site/VARIANT`: configuration.
    pub etc_dir: String,
    /// `etc_dir/secrets.env`: the secret variables (made by postinst,
    /// 0640 root:NAME-VARIANT).
    pub secrets_env: String,
    /// `etc_dir/local.env`: the admin's overrides, read last (made from
    /// the example when missing, never overwritten).
    pub local_env: String,
    /// `etc_dir/nginx.d`: the admin's nginx additions, included in the
    /// server block.
    pub nginx_dropins: String,
    /// `etc_dir/tls`: links to the certificate chain and key nginx serves.
    pub tls_dir: String,
    /// `tls_dir/fullchain.pem` -> certbot's live copy, or TLS_CERTIFICATE.
    pub tls_cert: String,
    /// `tls_dir/privkey.pem` -> certbot's live key, or TLS_KEY.
    pub tls_key: String,
    /// `/etc/letsencrypt/live/NAME-VARIANT`: certbot's lineage of the site
    /// (certificate name NAME-VARIANT).
    pub acme_live: String,
    /// `/var/log/NAME-site/VARIANT`: LOG_DIR.
    pub log_dir: String,
    /// `/srv/NAME-site/VARIANT`: convenience links.
    pub srv_dir: String,
    /// `/run/NAME-VARIANT`: runtime directory (made by the socket unit).
    pub run_dir: String,
    /// `run_dir/gunicorn.sock`: the socket gunicorn is given by its
    /// `.socket` unit and nginx proxies to.
    pub socket: String,
    /// `run_dir/next.sock`: the socket of the next gunicorn during a switch
    /// (docs/site-package.md, The switch).
    pub next_socket: String,
    /// `state_dir/upstream.conf`: the `server` line of the site's nginx
    /// upstream, naming socket or next_socket (written by the switch).
    pub upstream_conf: String,
    /// `/etc/nginx/sites-enabled/NAME-VARIANT.conf` -> nginx_conf.
    pub nginx_link: String,
    /// `/usr/bin/NAME-VARIANT`: the control utility.
    pub control: String,
    /// `/lib/systemd/system`.
    pub unit_dir: String,
    /// `NAME-VARIANT.socket`.
    pub socket_unit: String,
    /// `NAME-VARIANT.service`: gunicorn.
    pub service_unit: String,
    /// `NAME-VARIANT-next.socket` and `NAME-VARIANT-next.service`: the
    /// next gunicorn, run beside the serving one during a switch only
    /// (static units: never enabled).
    pub next_socket_unit: String,
    pub next_service_unit: String,
    /// `NAME-VARIANT-celery.service`: the celery worker.
    pub celery_unit: String,
    /// `redis-server@NAME-VARIANT.service`: the site's Redis (Debian's
    /// template unit of redis-server, one config file an instance).
    pub redis_unit: String,
    /// `etc_dir/redis.conf`: the instance's configuration (written by
    /// postinst: it holds the password; the site user reads it, which
    /// Debian's `/etc/redis` (2770 redis:redis) would not let it).
    pub redis_conf: String,
    /// `/etc/redis/redis-NAME-VARIANT.conf`: where Debian's template unit
    /// looks for an instance's configuration. djdd never writes it: when it
    /// exists, another instance of that name is the admin's.
    pub redis_foreign_conf: String,
    /// `state_dir/redis`: the instance's persistence (kept on purge).
    pub redis_dir: String,
    /// `/run/redis-NAME-VARIANT/redis.sock`: its only listener (0700, the
    /// site user's: the template's RuntimeDirectory).
    pub redis_socket: String,
    /// `/lib/systemd/system/redis-server@NAME-VARIANT.service.d/djdd.conf`:
    /// runs the instance as the site user, writing only its redis_dir.
    pub redis_dropin: String,
}

/// The units of one process or timer of a site (`[processes.P]`,
/// `[timers.T]` in djdd.toml): `NAME-VARIANT-P`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProcessUnits {
    /// `NAME-VARIANT-P`.
    pub base: String,
    /// The unit postinst enables and starts, prerm stops, and `restart`
    /// restarts: `BASE.service` for one copy, `BASE.target` (which wants
    /// every instance) for several, `BASE.timer` for a timer.
    pub main: String,
    /// The unit files the site package ships, by name.
    pub files: Vec<String>,
    /// The services that run (the control utility's status): `BASE.service`,
    /// or `BASE@1.service` ... `BASE@N.service`.
    pub services: Vec<String>,
}

impl ProcessUnits {
    /// A process with `copies` copies (1 or more).
    pub fn process(unit: &str, process: &str, copies: u32) -> ProcessUnits {
        let base = format!("{unit}-{process}");
        if copies <= 1 {
            ProcessUnits {
                main: format!("{base}.service"),
                files: vec![format!("{base}.service")],
                services: vec![format!("{base}.service")],
                base,
            }
        } else {
            ProcessUnits {
                main: format!("{base}.target"),
                files: vec![format!("{base}.target"), format!("{base}@.service")],
                services: (1..=copies)
                    .map(|i| format!("{base}@{i}.service"))
                    .collect(),
                base,
            }
        }
    }

    /// A timer: `BASE.timer` and the oneshot `BASE.service` it starts.
    pub fn timer(unit: &str, timer: &str) -> ProcessUnits {
        let base = format!("{unit}-{timer}");
        ProcessUnits {
            main: format!("{base}.timer"),
            files: vec![format!("{base}.timer"), format!("{base}.service")],
            services: vec![format!("{base}.service")],
            base,
        }
    }
}

/// The gunicorn djdd installs into the env when the project's requirements
/// do not name gunicorn (an env input: the env HASH changes with it).
pub const GUNICORN_PIN: &str = "gunicorn==27.0.1";
/// What djdd adds for an ASGI project (`asgi` in djdd.toml) whose
/// requirements do not name it: uvicorn's gunicorn worker.
pub const UVICORN_WORKER_PIN: &str = "uvicorn-worker==0.4.0";
/// gunicorn's worker class for an ASGI project.
pub const ASGI_WORKER_CLASS: &str = "uvicorn_worker.UvicornWorker";

/// What serves the site: gunicorn (from the project's requirements or
/// djdd's pin), with uvicorn's worker for an ASGI application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppServer {
    /// Requirement lines djdd adds to the env (empty: the project's own).
    pub provided: Vec<String>,
    /// Whether the site is an ASGI application.
    pub asgi: bool,
}

impl AppServer {
    /// The app server a project gets, given the (PEP 503 normalised) names
    /// its requirements install and whether it is ASGI.
    pub fn for_project(names: &[String], asgi: bool) -> AppServer {
        let has = |n: &str| names.iter().any(|x| x == n);
        let mut provided = Vec::new();
        if !has("gunicorn") {
            provided.push(GUNICORN_PIN.to_string());
        }
        if asgi && !has("uvicorn-worker") {
            provided.push(UVICORN_WORKER_PIN.to_string());
        }
        AppServer { provided, asgi }
    }

    /// One line for `--plan` and `djdd check`.
    pub fn describe(&self) -> String {
        let kind = if self.asgi {
            format!("gunicorn with {ASGI_WORKER_CLASS} (ASGI)")
        } else {
            "gunicorn (WSGI)".to_string()
        };
        if self.provided.is_empty() {
            format!("{kind}, from the project's requirements")
        } else {
            format!(
                "{kind}; djdd adds {} (the requirements do not name {})",
                self.provided.join(" "),
                self.provided
                    .iter()
                    .map(|l| l.split("==").next().unwrap_or(l))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

impl Layout {
    pub fn new(name: &str, variant: &str) -> Layout {
        let unit = format!("{name}-{variant}");
        let lib_dir = format!("/usr/lib/{name}-site/{variant}");
        let state_dir = format!("/var/lib/{name}-site/{variant}");
        let etc_dir = format!("/etc/{name}-site/{variant}");
        let run_dir = format!("/run/{unit}");
        let current = format!("{state_dir}/current");
        Layout {
            static_dir: format!("{lib_dir}/static"),
            site_env: format!("{lib_dir}/site.env"),
            launcher: format!("{lib_dir}/launch"),
            envfile: format!("{lib_dir}/envfile"),
            nginx_conf: format!("{lib_dir}/nginx.conf"),
            nginx_tls_conf: format!("{lib_dir}/nginx-tls.conf"),
            maintenance_dir: format!("{lib_dir}/maintenance"),
            local_env_example: format!("{lib_dir}/local.env.example"),
            media_dir: format!("{state_dir}/media"),
            data_dir: format!("{state_dir}/data"),
            units_file: format!("{state_dir}/units"),
            releases_dir: format!("{state_dir}/releases"),
            current_site_env: format!("{current}/site.env"),
            current,
            offline_flag: format!("{state_dir}/offline"),
            acme_webroot: format!("{state_dir}/acme"),
            tls_env: format!("{state_dir}/tls.env"),
            tls_dir: format!("{etc_dir}/tls"),
            tls_cert: format!("{etc_dir}/tls/fullchain.pem"),
            tls_key: format!("{etc_dir}/tls/privkey.pem"),
            acme_live: format!("/etc/letsencrypt/live/{unit}"),
            secrets_env: format!("{etc_dir}/secrets.env"),
            local_env: format!("{etc_dir}/local.env"),
            nginx_dropins: format!("{etc_dir}/nginx.d"),
            log_dir: format!("/var/log/{name}-site/{variant}"),
            srv_dir: format!("/srv/{name}-site/{variant}"),
            socket: format!("{run_dir}/gunicorn.sock"),
            next_socket: format!("{run_dir}/next.sock"),
            upstream_conf: format!("{state_dir}/upstream.conf"),
            nginx_link: format!("/etc/nginx/sites-enabled/{unit}.conf"),
            control: format!("/usr/bin/{unit}"),
            unit_dir: "/lib/systemd/system".to_string(),
            socket_unit: format!("{unit}.socket"),
            service_unit: format!("{unit}.service"),
            next_socket_unit: format!("{unit}-next.socket"),
            next_service_unit: format!("{unit}-next.service"),
            celery_unit: format!("{unit}-celery.service"),
            redis_unit: format!("redis-server@{unit}.service"),
            redis_conf: format!("{etc_dir}/redis.conf"),
            redis_foreign_conf: format!("/etc/redis/redis-{unit}.conf"),
            redis_dir: format!("{state_dir}/redis"),
            redis_socket: format!("/run/redis-{unit}/redis.sock"),
            redis_dropin: format!("/lib/systemd/system/redis-server@{unit}.service.d/djdd.conf"),
            unit,
            lib_dir,
            state_dir,
            etc_dir,
            run_dir,
        }
    }

    /// The environment files gunicorn, the celery worker and the control
    /// utility read, in order (a later value wins), each with whether it
    /// may be missing.
    pub fn env_files(&self) -> [(&str, bool); 4] {
        [
            (self.current_site_env.as_str(), false),
            (self.secrets_env.as_str(), false),
            (self.tls_env.as_str(), true),
            (self.local_env.as_str(), true),
        ]
    }

    /// The directories the site's processes may write to, and nothing
    /// else (the units' `ReadWritePaths=`), each with whether it may be
    /// missing when a unit starts (the run directory is made by systemd).
    pub fn writable(&self) -> Vec<(String, bool)> {
        vec![
            (self.media_dir.clone(), false),
            (self.data_dir.clone(), false),
            (self.log_dir.clone(), false),
            (self.run_dir.clone(), true),
        ]
    }

    /// The convenience links under `/srv/NAME-site/VARIANT/`: (link,
    /// target). `src` and `env` go through `current`, so they follow an
    /// upgrade.
    pub fn srv_links(&self) -> Vec<(String, String)> {
        [
            ("logs", self.log_dir.clone()),
            ("config", self.etc_dir.clone()),
            ("src", format!("{}/src", self.current)),
            ("env", format!("{}/env", self.current)),
            ("static", self.static_dir.clone()),
            ("media", self.media_dir.clone()),
        ]
        .into_iter()
        .map(|(l, t)| (format!("{}/{l}", self.srv_dir), t))
        .collect()
    }
}

/// `/usr/lib/NAME-env/HASH`: the virtualenv of the env package.
pub fn env_dir(name: &str, hash: &str) -> String {
    format!("/usr/lib/{name}-env/{hash}")
}

/// `/usr/lib/NAME-src/HASH`: the source tree of the src package.
pub fn src_dir(name: &str, hash: &str) -> String {
    format!("/usr/lib/{name}-src/{hash}")
}

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

enum TemplatePart<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

fn split_template(template: &str) -> Vec<TemplatePart<'_>> {
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

fn site_value(site: &Site, p: &str) -> Option<String> {
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

fn applies(v: &Variable, site: &Site) -> bool {
    match v.when {
        When::Always => true,
        When::Celery => site.celery && !site.redis_broker,
        When::CeleryRedis => site.celery && site.redis_broker,
        When::Redis => site.redis,
    }
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
        if let Some(b) = v.build
            && !out.iter().any(|(n, _)| n == v.name)
        {
            out.push((v.name.to_string(), expand(b, &lookup)));
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

/// The secret run-time variables with the given secrets' values: what
/// `secrets.env` holds.
pub fn secret_env(site: &Site, secrets: &Secrets) -> Vec<(String, String)> {
    secret_env_parts(site)
        .into_iter()
        .map(|(name, parts)| {
            let value = parts
                .iter()
                .map(|p| match p {
                    Part::Text(t) => t.as_str(),
                    Part::Secret(s) => secrets.get(*s),
                })
                .collect();
            (name, value)
        })
        .collect()
}

/// A piece of a secret variable's value: literal text, or a secret that
/// only the target host knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Secret(Secret),
}

/// The secret variables as pieces, so postinst can write `secrets.env`:
/// each [`Part::Text`] is literal (quote it in generated shell), each
/// [`Part::Secret`] is the shell variable holding that secret
/// (`Secret::variable`). Only the variables that apply to the site.
pub fn secret_env_parts(site: &Site) -> Vec<(String, Vec<Part>)> {
    VARIABLES
        .iter()
        .filter(|v| v.secret && applies(v, site))
        .filter_map(|v| {
            let template = v.run?;
            let mut parts: Vec<Part> = Vec::new();
            for p in split_template(template) {
                let part = match p {
                    TemplatePart::Text(t) => Part::Text(t.to_string()),
                    TemplatePart::Placeholder(name) => match Secret::from_placeholder(name) {
                        Some(s) => Part::Secret(s),
                        None => {
                            Part::Text(expand(&format!("{{{name}}}"), &|p| site_value(site, p)))
                        }
                    },
                };
                // Adjacent text is one piece.
                match (parts.last_mut(), part) {
                    (Some(Part::Text(prev)), Part::Text(t)) => prev.push_str(&t),
                    (_, part) => parts.push(part),
                }
            }
            Some((v.name.to_string(), parts))
        })
        .collect()
}

/// The secrets a site needs (the broker password only with celery).
pub fn secrets_needed(site: &Site) -> Vec<Secret> {
    let mut out: Vec<Secret> = Vec::new();
    for (_, parts) in secret_env_parts(site) {
        for p in parts {
            if let Part::Secret(s) = p
                && !out.contains(&s)
            {
                out.push(s);
            }
        }
    }
    out
}

/// The full run-time environment (the environment file, then
/// `secrets.env`), as the processes see it before any `local.env`.
pub fn full_runtime_env(site: &Site, secrets: &Secrets) -> Vec<(String, String)> {
    let mut env = runtime_env(site);
    env.extend(secret_env(site, secrets));
    env
}

/// A value an environment file cannot carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFileError {
    pub name: String,
    pub value: String,
}

impl fmt::Display for EnvFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "environment variable {:?}: a name must match [A-Za-z_][A-Za-z0-9_]* and a value may hold no line break or other control character but tab (value {:?})",
            self.name, self.value
        )
    }
}

impl std::error::Error for EnvFileError {}

/// A value as an environment file writes it: `"…"` with each of
/// `\`, `"`, `$` and `` ` `` backslash-escaped. systemd's `EnvironmentFile=` (systemd.exec(5))
/// unescapes exactly these four inside double quotes, and so does POSIX
/// sh, so the line means the same to both. `None` for a value with a line
/// break or another control character (tab is allowed).
pub fn env_quote(value: &str) -> Option<String> {
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return None;
    }
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    Some(s)
}

/// Writes variables as an environment file that systemd's
/// `EnvironmentFile=` and sh's `set -a; . FILE` read identically: one
/// `NAME="value"` a line, the value quoted by [`env_quote`].
pub fn env_file(vars: &[(String, String)]) -> Result<String, EnvFileError> {
    let mut out = String::new();
    for (name, value) in vars {
        let name_ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let quoted = env_quote(value).filter(|_| name_ok);
        let Some(quoted) = quoted else {
            return Err(EnvFileError {
                name: name.clone(),
                value: value.clone(),
            });
        };
        out.push_str(&format!("{name}={quoted}\n"));
    }
    Ok(out)
}

/// gunicorn's options as the site's launcher runs it: `ENV_DIR/bin/gunicorn
/// --chdir PROJECT_DIR OPTIONS... [ARG...] WSGI`, PROJECT_DIR the running
/// release's project directory (its links resolved), ARG anything given to
/// `launch gunicorn` (the unit gives nothing; GUNICORN_CMD_ARGS in
/// local.env adds options). The socket comes from the `.socket` unit
/// (gunicorn takes it from `LISTEN_FDS`); `--bind` names the same path.
/// Workers come from WEB_CONCURRENCY; the error log goes to stderr (the
/// journal), the access log is nginx's. X-Forwarded-* headers are trusted
/// (only nginx can reach the socket). The site's launch.sh renders exactly
/// these (`SiteContext::gunicorn_args`).
pub fn gunicorn_args(site: &Site) -> Vec<String> {
    let layout = site.layout();
    let mut args = vec![
        "--name".into(),
        site.site(),
        "--bind".into(),
        format!("unix:{}", layout.socket),
        "--forwarded-allow-ips".into(),
        "*".into(),
    ];
    if site.asgi {
        args.extend(["--worker-class".into(), ASGI_WORKER_CLASS.into()]);
    }
    args
}

/// The celery worker's arguments as the launcher runs it:
/// `ENV_DIR/bin/celery ARGS... [ARG...]` with the project directory as
/// working directory (`SiteContext::celery_args`).
pub fn celery_args(celery_app: &str) -> Vec<String> {
    vec![
        "--app".into(),
        celery_app.into(),
        "worker".into(),
        "--loglevel".into(),
        "INFO".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blue() -> Site {
        Site {
            name: "demo".into(),
            variant: "blue".into(),
            domain: "blue.example.org".into(),
            settings: "demo.settings".into(),
            workers: 3,
            celery: true,
            redis_broker: false,
            redis: false,
            asgi: false,
            https_only: false,
            version: "1.20250101.1".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
        }
    }

    fn get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
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
    fn secret_env_composes_urls_from_secrets() {
        let secrets = Secrets {
            secret_key: "k".repeat(64),
            database_password: "p".repeat(32),
            broker_password: "b".repeat(24),
            redis_password: "r".repeat(32),
        };
        let env = secret_env(&blue(), &secrets);
        let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "SECRET_KEY",
                "DATABASE_URL",
                "DATABASE_PASSWORD",
                "CELERY_BROKER_URL",
                "BROKER_PASSWORD"
            ]
        );
        assert_eq!(
            get(&env, "DATABASE_URL").unwrap(),
            format!(
                "postgres://demo-blue:{}@127.0.0.1:5432/demo-blue",
                "p".repeat(32)
            )
        );
        assert_eq!(
            get(&env, "CELERY_BROKER_URL").unwrap(),
            format!(
                "amqp://demo-blue:{}@127.0.0.1:5672/demo-blue",
                "b".repeat(24)
            )
        );
    }

    #[test]
    fn redis_gives_a_url_and_can_be_the_broker() {
        let site = Site {
            redis: true,
            ..blue()
        };
        let env = full_runtime_env(&site, &Secrets::fake());
        let pw = Secrets::fake().redis_password;
        assert_eq!(
            get(&env, "REDIS_URL").unwrap(),
            format!("unix://:{pw}@/run/redis-demo-blue/redis.sock?db=0")
        );
        assert!(
            get(&env, "CELERY_BROKER_URL")
                .unwrap()
                .starts_with("amqp://")
        );
        let site = Site {
            redis_broker: true,
            ..site
        };
        let env = full_runtime_env(&site, &Secrets::fake());
        assert_eq!(
            get(&env, "CELERY_BROKER_URL").unwrap(),
            format!("redis+socket://:{pw}@/run/redis-demo-blue/redis.sock?virtual_host=1")
        );
        assert_eq!(get(&env, "BROKER_PASSWORD"), None);
        assert_eq!(
            secrets_needed(&site),
            [
                Secret::SecretKey,
                Secret::DatabasePassword,
                Secret::RedisPassword
            ]
        );
        assert_eq!(
            get(&full_runtime_env(&blue(), &Secrets::fake()), "REDIS_URL"),
            None
        );
    }

    #[test]
    fn no_broker_without_celery() {
        let site = Site {
            celery: false,
            ..blue()
        };
        let env = full_runtime_env(&site, &Secrets::fake());
        assert_eq!(get(&env, "CELERY_BROKER_URL"), None);
        assert_eq!(get(&env, "BROKER_PASSWORD"), None);
        assert_eq!(
            secrets_needed(&site),
            [Secret::SecretKey, Secret::DatabasePassword]
        );
        assert_eq!(secrets_needed(&blue()).len(), 3);
    }

    #[test]
    fn secret_parts_keep_secrets_symbolic() {
        let parts = secret_env_parts(&blue());
        let (_, db) = parts.iter().find(|(n, _)| n == "DATABASE_URL").unwrap();
        assert_eq!(
            db,
            &vec![
                Part::Text("postgres://demo-blue:".into()),
                Part::Secret(Secret::DatabasePassword),
                Part::Text("@127.0.0.1:5432/demo-blue".into()),
            ]
        );
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
    fn env_file_quotes_what_sh_and_systemd_would_read_differently() {
        assert!(env_file(&[("X".into(), "a\nb".into())]).is_err());
        assert!(env_file(&[("1X".into(), "v".into())]).is_err());
        assert!(env_file(&[("A-B".into(), "v".into())]).is_err());
        assert_eq!(
            env_file(&[("A".into(), r#"it's "x" $z \ `id`"#.into())]).unwrap(),
            "A=\"it's \\\"x\\\" \\$z \\\\ \\`id\\`\"\n"
        );
        assert_eq!(env_quote("a\tb").unwrap(), "\"a\tb\"");
    }

    #[test]
    fn layout_for_demo_blue() {
        let p = Layout::new("demo", "blue");
        assert_eq!(p.lib_dir, "/usr/lib/demo-site/blue");
        assert_eq!(p.static_dir, "/usr/lib/demo-site/blue/static");
        assert_eq!(p.site_env, "/usr/lib/demo-site/blue/site.env");
        assert_eq!(p.media_dir, "/var/lib/demo-site/blue/media");
        assert_eq!(
            p.current_site_env,
            "/var/lib/demo-site/blue/current/site.env"
        );
        assert_eq!(p.etc_dir, "/etc/demo-site/blue");
        assert_eq!(p.secrets_env, "/etc/demo-site/blue/secrets.env");
        assert_eq!(p.local_env, "/etc/demo-site/blue/local.env");
        assert_eq!(p.log_dir, "/var/log/demo-site/blue");
        assert_eq!(p.srv_dir, "/srv/demo-site/blue");
        assert_eq!(p.socket, "/run/demo-blue/gunicorn.sock");
        assert_eq!(p.celery_unit, "demo-blue-celery.service");
        assert_eq!(env_dir("demo", "f9e8d7"), "/usr/lib/demo-env/f9e8d7");
        assert_eq!(src_dir("demo", "a1b2c3"), "/usr/lib/demo-src/a1b2c3");
        let links = p.srv_links();
        assert!(links.contains(&(
            "/srv/demo-site/blue/media".into(),
            "/var/lib/demo-site/blue/media".into()
        )));
        assert!(links.contains(&(
            "/srv/demo-site/blue/src".into(),
            "/var/lib/demo-site/blue/current/src".into()
        )));
        assert_eq!(links.len(), 6);
        // The runtime values of the contract's variables are the layout's.
        let env = runtime_env(&blue());
        assert_eq!(get(&env, "STATIC_ROOT"), Some(p.static_dir.as_str()));
        assert_eq!(get(&env, "MEDIA_ROOT"), Some(p.media_dir.as_str()));
        assert_eq!(get(&env, "LOG_DIR"), Some(p.log_dir.as_str()));
        assert_eq!(get(&env, "HOME"), Some(p.state_dir.as_str()));
    }

    #[test]
    fn command_lines() {
        let g = gunicorn_args(&blue());
        assert!(
            g.windows(2)
                .any(|w| w[0] == "--bind" && w[1] == "unix:/run/demo-blue/gunicorn.sock")
        );
        assert!(
            g.windows(2)
                .any(|w| w[0] == "--name" && w[1] == "demo-blue")
        );
        let c = celery_args("demo.celery:app");
        assert_eq!(&c[..3], ["--app", "demo.celery:app", "worker"]);
    }

    #[test]
    fn secret_meanings_state_their_lengths() {
        for s in Secret::ALL {
            let want = format!("{} random hexadecimal digits", s.length());
            let (_, meaning) = PLACEHOLDERS
                .iter()
                .find(|(p, _)| *p == s.placeholder())
                .unwrap();
            assert!(meaning.contains(&want), "{}: {meaning}", s.placeholder());
            let v = variable(s.variable()).unwrap();
            assert!(v.meaning.contains(&want), "{}: {}", v.name, v.meaning);
        }
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

    #[test]
    fn fake_secrets_have_the_right_shape() {
        let s = Secrets::fake();
        for (s, v) in [
            (Secret::SecretKey, &s.secret_key),
            (Secret::DatabasePassword, &s.database_password),
            (Secret::BrokerPassword, &s.broker_password),
        ] {
            assert_eq!(v.len(), s.length());
            assert!(v.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }
}
