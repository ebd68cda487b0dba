//! `djdd variant` arguments.

use clap::Args;

#[derive(Debug, Args)]
pub struct VariantArgs {
    /// The project's NAME (added with `djdd src`).
    #[arg(allow_hyphen_values = true)]
    pub name: String,
    /// The VARIANT: ^[a-z][a-z0-9-]*$; NAME-VARIANT (the site's user) at
    /// most 32 characters.
    #[arg(allow_hyphen_values = true, required_unless_present = "list")]
    pub variant: Option<String>,
    /// List NAME's variants.
    #[arg(long, conflicts_with = "variant")]
    pub list: bool,
    /// The branch built by default, as BRANCH or REMOTE:BRANCH (REMOTE is
    /// NAME or origin) [default: the source's default branch, its HEAD].
    #[arg(long, value_name = "[REMOTE:]BRANCH", allow_hyphen_values = true)]
    pub branch: Option<String>,
    /// The site's host name; nginx serves DOMAIN and www.DOMAIN
    /// [default: NAME-VARIANT.localhost].
    #[arg(long, value_name = "DOMAIN", allow_hyphen_values = true)]
    pub domain: Option<String>,
    /// DJANGO_SETTINGS_MODULE [default: the project's djdd.toml].
    #[arg(long, value_name = "MODULE", allow_hyphen_values = true)]
    pub settings: Option<String>,
    /// Forget --settings: use the project's djdd.toml again.
    #[arg(long, conflicts_with = "settings")]
    pub project_settings: bool,
    /// gunicorn worker processes, 1 to 64 [default: 3].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub workers: Option<i64>,
    /// Run a celery worker (and recommend rabbitmq-server).
    #[arg(long, overrides_with = "no_celery")]
    pub celery: bool,
    /// No celery worker [default].
    #[arg(long, overrides_with = "celery")]
    pub no_celery: bool,
    /// Run `manage.py migrate` in postinst.
    #[arg(long, overrides_with = "no_migrate")]
    pub migrate: bool,
    /// Do not migrate in postinst [default].
    #[arg(long, overrides_with = "migrate")]
    pub no_migrate: bool,
    /// The site uses memcached (recommend it).
    #[arg(long, overrides_with = "no_memcached")]
    pub memcached: bool,
    /// No memcached [default].
    #[arg(long, overrides_with = "memcached")]
    pub no_memcached: bool,
    /// The path postinst requests after an upgrade [default: /].
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    pub health_url: Option<String>,
    /// The page a switch requests from each new gunicorn worker before it
    /// gets visitors, e.g. one that reads the database [default: the
    /// health URL]; '' forgets it.
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    pub warm_url: Option<String>,
    /// Seconds the old gunicorn gets to finish its requests when an
    /// upgrade, restart or reload switches to a new one [default: 30].
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub graceful_timeout: Option<i64>,
    /// Set an environment variable of the site's processes (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", allow_hyphen_values = true)]
    pub env: Vec<String>,
    /// Remove an environment variable (repeatable).
    #[arg(long = "unset-env", value_name = "KEY")]
    pub unset_env: Vec<String>,
    /// The site gets its own Redis instance (REDIS_URL; Recommends
    /// redis-server). Also on when the project's djdd.toml says `redis = true`.
    #[arg(long, overrides_with = "no_redis")]
    pub redis: bool,
    /// No Redis instance of the variant's own [default].
    #[arg(long, overrides_with = "redis")]
    pub no_redis: bool,
    /// The Redis instance's maxmemory, e.g. 128mb or 1gb [default: 128mb].
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub redis_maxmemory: Option<String>,
    /// The Redis instance's maxmemory-policy [default: noeviction].
    #[arg(long, value_name = "POLICY", allow_hyphen_values = true)]
    pub redis_policy: Option<String>,
    /// celery's broker: rabbitmq, or redis (the site's own instance,
    /// database 1) [default: rabbitmq].
    #[arg(long, value_name = "BROKER", allow_hyphen_values = true)]
    pub broker: Option<String>,
    /// Run N copies of the project's process NAME (`[processes.NAME]` in
    /// its djdd.toml), 0 (off) to 16 [default: 1] (repeatable).
    #[arg(long = "process", value_name = "NAME=N", allow_hyphen_values = true)]
    pub process: Vec<String>,
    /// How the site serves HTTPS: off (plain HTTP), acme (a certificate
    /// from an ACME directory, renewed by certbot), files (a certificate
    /// and key named in local.env) [default: off]. See docs/tls.md.
    #[arg(long, value_name = "MODE", allow_hyphen_values = true)]
    pub tls: Option<String>,
    /// The ACME directory URL, https only [default: Let's Encrypt's
    /// production directory].
    #[arg(long, value_name = "URL", allow_hyphen_values = true)]
    pub acme_server: Option<String>,
    /// The e-mail address the ACME account is registered with (expiry
    /// notices); an empty value forgets it [default: none].
    #[arg(long, value_name = "EMAIL", allow_hyphen_values = true)]
    pub acme_email: Option<String>,
    /// Relax one sandbox option of every unit the site runs (repeatable):
    /// `wx-memory` (writable executable memory: a JIT, some cffi
    /// callbacks) or `address-family=AF_NETLINK` (AF_PACKET, AF_ALG,
    /// AF_VSOCK, AF_CAN) [default: none, the strict sandbox; see
    /// docs/site-package.md for what each costs].
    #[arg(long = "allow", value_name = "RELAXATION", allow_hyphen_values = true)]
    pub allow: Vec<String>,
    /// Drop every --allow given before: the strict sandbox again.
    #[arg(long)]
    pub strict: bool,
    /// A service another host provides (repeatable): database, redis or
    /// broker. postinst then sets none of it up, the package does not
    /// Recommend its server, and its URL comes from the site's secrets
    /// (`NAME-VARIANT secrets set DATABASE_URL`) [default: none; see
    /// docs/multi-host.md].
    #[arg(long = "external", value_name = "SERVICE", allow_hyphen_values = true)]
    pub external: Vec<String>,
    /// Forget every --external: every service local again.
    #[arg(long)]
    pub no_external: bool,
    /// The site user's and group's uid and gid, the same on every host
    /// (shared storage), 100 to 999 [default: allocated on each host].
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        conflicts_with = "no_uid"
    )]
    pub uid: Option<i64>,
    /// Forget --uid.
    #[arg(long)]
    pub no_uid: bool,
    /// Back the site up on this systemd calendar (systemd.time(7), e.g.
    /// daily or "*-*-* 03:00:00"): a timer runs `NAME-VARIANT backup`
    /// into /var/backups/NAME-site/VARIANT/ and keeps the newest
    /// --backup-keep backups; '' forgets it [default: no backup timer].
    #[arg(
        long,
        value_name = "CALENDAR",
        allow_hyphen_values = true,
        conflicts_with = "no_backup"
    )]
    pub backup: Option<String>,
    /// No backup timer.
    #[arg(long)]
    pub no_backup: bool,
    /// How many backups the backup timer keeps, 1 to 1000 [default: 7].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub backup_keep: Option<i64>,
}
