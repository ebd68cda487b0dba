//! One deployment of a project: the variant file `D/variants/NAME/VARIANT.toml`.
//!
//! Responsible for the variant file's format (TOML, every key optional with a
//! documented default, unknown keys refused), for the defaults a site gets,
//! and for the rules every value must follow before it can reach a generated
//! nginx config, systemd unit, shell script or control file (Debian Policy
//! §5.6.1 names, git-check-ref-format(1) branches, RFC 1123 host names).
//! Validated on every load, so a hand edit that breaks a rule is reported
//! with the file, the key and the rule. Pure: never touches the disk; `ops`
//! reads and writes the file. The format is documented in docs/host.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contract::Service;
use crate::error::{Error, Result};
use crate::rules::names::{check_pair, printable, shown};
pub use crate::rules::values::{
    ALLOW_FAMILY_PREFIX, ALLOW_WX_MEMORY, ALLOWABLE_FAMILIES, MAX_COPIES, MAX_GRACEFUL_TIMEOUT,
    MAX_WORKERS, REDIS_POLICIES,
};
use crate::rules::values::{DEFAULT_BACKUP_KEEP, check_backup_keep, check_calendar};
use crate::rules::values::{
    check_acme_server, check_allow, check_branch, check_broker, check_copies, check_domain,
    check_email, check_env_key, check_env_value, check_graceful_timeout, check_process_name,
    check_redis_maxmemory, check_redis_policy, check_settings, check_uid, check_url_path,
    check_workers,
};

/// Default branch built when none is given (`refs/heads/main` of the mirror).
pub const DEFAULT_BRANCH: &str = "main";
/// Default number of gunicorn workers: a fixed number, because the build
/// host's cores say nothing about the target's.
pub const DEFAULT_WORKERS: i64 = 3;
/// Default `maxmemory` of a site's Redis instance.
pub const DEFAULT_REDIS_MAXMEMORY: &str = "128mb";
/// Default `maxmemory-policy`: Redis's own (nothing is evicted, which a
/// broker needs); a cache-only site sets `allkeys-lru`.
pub const DEFAULT_REDIS_POLICY: &str = "noeviction";
/// Default health URL the site's postinst requests after an upgrade.
pub const DEFAULT_HEALTH_URL: &str = "/";
/// Default seconds a switch lets the old gunicorn finish its requests.
pub const DEFAULT_GRACEFUL_TIMEOUT: u32 = 30;
/// The ACME directory a variant with `tls = "acme"` uses unless it names
/// another: Let's Encrypt's production directory.
pub const DEFAULT_ACME_SERVER: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// How a site serves HTTPS (docs/tls.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plain HTTP on port 80 only (the default for now).
    #[default]
    Off,
    /// A certificate for DOMAIN and www.DOMAIN from an ACME directory
    /// (certbot, webroot method), renewed by certbot's timer.
    Acme,
    /// A certificate chain and key the administrator puts at the paths
    /// `TLS_CERTIFICATE` and `TLS_KEY` name in local.env.
    Files,
}

impl TlsMode {
    pub const ALL: [TlsMode; 3] = [TlsMode::Off, TlsMode::Acme, TlsMode::Files];

    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Off => "off",
            TlsMode::Acme => "acme",
            TlsMode::Files => "files",
        }
    }

    /// Parses `off`, `acme` or `files`.
    pub fn parse(s: &str) -> std::result::Result<TlsMode, String> {
        TlsMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("tls {} is not off, acme or files", shown(s)))
    }
}

/// A validated variant: everything a site package needs to know about one
/// deployment of NAME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The project NAME (from the file's directory).
    pub name: String,
    /// The VARIANT (from the file's name).
    pub variant: String,
    /// The branch built by default: looked up as `refs/heads/BRANCH` in the
    /// mirror clone `D/src/NAME.git`.
    pub branch: String,
    /// The site's host name; nginx serves DOMAIN and www.DOMAIN.
    /// Default `NAME-VARIANT.localhost`.
    pub domain: String,
    /// `DJANGO_SETTINGS_MODULE`; `None`: taken from the project's djdd.toml
    /// at build time.
    pub settings: Option<String>,
    /// gunicorn worker processes, 1..=64. Default 3.
    pub workers: u32,
    /// Whether the site runs a celery worker (and Recommends rabbitmq-server).
    pub celery: bool,
    /// Whether postinst runs `manage.py migrate` (default off).
    pub migrate: bool,
    /// Whether the site uses memcached (Recommends memcached).
    pub memcached: bool,
    /// Path (with optional query) requested through gunicorn's socket after
    /// an upgrade; the upgrade is rolled back unless it answers.
    pub health_url: String,
    /// The page a switch requests from each new gunicorn worker before
    /// nginx sends it visitors (`None`: the health URL). A page that reads
    /// the database opens each worker's connection before visitors come.
    pub warm_url: Option<String>,
    /// Seconds the old gunicorn gets to finish the requests it has when a
    /// switch (upgrade, restart, reload) moves the site to a new one
    /// (gunicorn's `--graceful-timeout`), 1..=3600. Default 30.
    pub graceful_timeout: u32,
    /// Extra environment of the site's processes (keys `[A-Z_][A-Z0-9_]*`,
    /// not one of the deploy contract's reserved names).
    pub env: BTreeMap<String, String>,
    /// Copies of the project's processes (`[processes.NAME]` in its
    /// djdd.toml), 0 (off) to 16; a process not listed runs one copy.
    pub processes: BTreeMap<String, u32>,
    /// The site gets its own Redis instance (also when the project's
    /// djdd.toml says `redis = true`, or the broker is Redis).
    pub redis: bool,
    /// The instance's `maxmemory` (`128mb`, `1gb`, bytes).
    pub redis_maxmemory: String,
    /// The instance's `maxmemory-policy`.
    pub redis_policy: String,
    /// celery's broker: `rabbitmq` (default) or `redis` (the site's own
    /// instance, database 1).
    pub broker: String,
    /// How the site serves HTTPS.
    pub tls: TlsMode,
    /// The ACME directory URL (`tls = "acme"`): an https URL.
    pub acme_server: String,
    /// The e-mail address the ACME account is registered with (expiry
    /// notices); `None`: registered without one.
    pub acme_email: Option<String>,
    /// The sandbox options the variant relaxes (`--allow`), sorted and
    /// unique: [`ALLOW_WX_MEMORY`], `address-family=AF_X`. Empty (the
    /// default): every unit gets the strict sandbox.
    pub allow: Vec<String>,
    /// The services another host provides (`--external`), sorted and
    /// unique: postinst sets none of them up, their values come from the
    /// site's secrets. Empty (the default): every service is local.
    pub external: Vec<Service>,
    /// The site user's and group's uid and gid, the same on every host
    /// (`--uid`); `None` (the default): allocated on each host.
    pub uid: Option<u32>,
    /// When the backup timer runs `NAME-VARIANT backup` (`--backup
    /// CALENDAR`, a systemd calendar expression); `None` (the default):
    /// the package has no backup timer.
    pub backup: Option<String>,
    /// How many backups the backup timer keeps (`--backup-keep`, 1 to
    /// 1000) [default: 7].
    pub backup_keep: u32,
}

/// The file as written: every key optional, unknown keys refused.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workers: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    celery: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    migrate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memcached: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    health_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warm_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    graceful_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redis: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redis_maxmemory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redis_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    broker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    processes: Option<BTreeMap<String, i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acme_server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acme_email: Option<String>,
    allow: Option<Vec<String>>,
    // Written only when set, also in the canonical text: the variants of
    // older djdd versions keep their fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    external: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup_keep: Option<i64>,
}

/// Changes asked for on the command line; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariantUpdate {
    pub branch: Option<String>,
    pub domain: Option<String>,
    pub settings: Option<String>,
    /// Forget the settings module (use the project's djdd.toml).
    pub clear_settings: bool,
    pub workers: Option<i64>,
    pub celery: Option<bool>,
    pub migrate: Option<bool>,
    pub memcached: Option<bool>,
    pub health_url: Option<String>,
    /// `Some("")` forgets the warm-up URL (the health URL again).
    pub warm_url: Option<String>,
    pub graceful_timeout: Option<i64>,
    /// `KEY=VALUE` pairs to set.
    pub env_set: Vec<(String, String)>,
    /// Keys to remove.
    pub env_unset: Vec<String>,
    /// `--process NAME=N`: copies of a process (0: off).
    pub processes: Vec<(String, i64)>,
    pub redis: Option<bool>,
    pub redis_maxmemory: Option<String>,
    pub redis_policy: Option<String>,
    pub broker: Option<String>,
    pub tls: Option<String>,
    pub acme_server: Option<String>,
    /// `Some("")` forgets the address.
    pub acme_email: Option<String>,
    /// `--allow X`: sandbox relaxations to add.
    pub allow: Vec<String>,
    /// `--strict`: drop every relaxation (before `allow` is added).
    pub strict: bool,
    /// `--external SERVICE`: services to add.
    pub external: Vec<String>,
    /// `--no-external`: forget every external service (before `external`
    /// is added).
    pub clear_external: bool,
    /// `--uid N`.
    pub uid: Option<i64>,
    /// `--no-uid`: forget the fixed uid.
    pub clear_uid: bool,
    /// `--backup CALENDAR`; `Some("")` (or `--no-backup`) forgets it.
    pub backup: Option<String>,
    /// `--backup-keep N`.
    pub backup_keep: Option<i64>,
}

impl Variant {
    /// A variant with every default. NAME and VARIANT must pass
    /// [`check_pair`].
    pub fn new(name: &str, variant: &str) -> Result<Variant> {
        check_pair(name, variant)?;
        Ok(Variant {
            name: name.to_string(),
            variant: variant.to_string(),
            branch: DEFAULT_BRANCH.to_string(),
            domain: default_domain(name, variant),
            settings: None,
            workers: DEFAULT_WORKERS as u32,
            celery: false,
            migrate: false,
            memcached: false,
            health_url: DEFAULT_HEALTH_URL.to_string(),
            warm_url: None,
            graceful_timeout: DEFAULT_GRACEFUL_TIMEOUT,
            env: BTreeMap::new(),
            processes: BTreeMap::new(),
            redis: false,
            redis_maxmemory: DEFAULT_REDIS_MAXMEMORY.to_string(),
            redis_policy: DEFAULT_REDIS_POLICY.to_string(),
            broker: "rabbitmq".to_string(),
            tls: TlsMode::Off,
            acme_server: DEFAULT_ACME_SERVER.to_string(),
            acme_email: None,
            allow: Vec::new(),
            external: Vec::new(),
            uid: None,
            backup: None,
            backup_keep: DEFAULT_BACKUP_KEEP,
        })
    }

    /// The site's system user and group, also its database name.
    pub fn user(&self) -> String {
        format!("{}-{}", self.name, self.variant)
    }

    /// Parses and validates a variant file. `origin` names the file in
    /// messages; `reserved` lists the environment names the deploy contract
    /// sets itself (refused in `[env]`).
    pub fn parse(
        name: &str,
        variant: &str,
        text: &str,
        origin: &str,
        reserved: &[&str],
    ) -> Result<Variant> {
        let file: VariantFile = toml::from_str(text).map_err(|e| {
            Error::invalid_hint(
                origin,
                format!(
                    "not a valid variant file: {}",
                    printable(e.to_string().trim_end())
                ),
                "fix the file by hand (keys: docs/host.md), or delete it and run `djdd variant NAME VARIANT` again",
            )
        })?;
        let mut v = Variant::new(name, variant)?;
        let key = |k: &str| format!("{origin}: key `{k}`");
        if let Some(b) = file.branch {
            check_branch(&key("branch"), &b)?;
            v.branch = b;
        }
        if let Some(d) = file.domain {
            check_domain(&key("domain"), &d)?;
            v.domain = d;
        }
        if let Some(s) = file.settings {
            check_settings(&key("settings"), &s)?;
            v.settings = Some(s);
        }
        if let Some(w) = file.workers {
            v.workers = check_workers(&key("workers"), w)?;
        }
        v.celery = file.celery.unwrap_or(v.celery);
        v.migrate = file.migrate.unwrap_or(v.migrate);
        v.memcached = file.memcached.unwrap_or(v.memcached);
        if let Some(h) = file.health_url {
            check_url_path(&key("health_url"), "health_url", &h)?;
            v.health_url = h;
        }
        if let Some(w) = file.warm_url {
            check_url_path(&key("warm_url"), "warm_url", &w)?;
            v.warm_url = Some(w);
        }
        if let Some(t) = file.graceful_timeout {
            v.graceful_timeout = check_graceful_timeout(&key("graceful_timeout"), t)?;
        }
        for (k, val) in file.env.unwrap_or_default() {
            let what = format!("{origin}: key `env.{}`", k.escape_debug());
            check_env_key(&what, &k, reserved)?;
            check_env_value(&what, &val)?;
            v.env.insert(k, val);
        }
        v.redis = file.redis.unwrap_or(v.redis);
        if let Some(m) = file.redis_maxmemory {
            check_redis_maxmemory(&key("redis_maxmemory"), &m)?;
            v.redis_maxmemory = m;
        }
        if let Some(p) = file.redis_policy {
            check_redis_policy(&key("redis_policy"), &p)?;
            v.redis_policy = p;
        }
        if let Some(b) = file.broker {
            check_broker(&key("broker"), &b)?;
            v.broker = b;
        }
        for (p, n) in file.processes.unwrap_or_default() {
            let what = format!("{origin}: key `processes.{}`", p.escape_debug());
            check_process_name(&what, &p)?;
            let n = check_copies(&what, &p, n)?;
            v.processes.insert(p, n);
        }
        if let Some(t) = file.tls {
            v.tls = TlsMode::parse(&t).map_err(|e| Error::invalid(key("tls"), e))?;
        }
        if let Some(u) = file.acme_server {
            check_acme_server(&key("acme_server"), &u)?;
            v.acme_server = u;
        }
        if let Some(m) = file.acme_email {
            check_email(&key("acme_email"), &m)?;
            v.acme_email = Some(m);
        }
        for a in file.allow.unwrap_or_default() {
            check_allow(&key("allow"), &a)?;
            v.allow.push(a);
        }
        v.allow.sort();
        v.allow.dedup();
        for e in file.external.unwrap_or_default() {
            v.external.push(parse_service(&key("external"), &e)?);
        }
        v.external.sort();
        v.external.dedup();
        if let Some(n) = file.uid {
            v.uid = Some(check_uid(&key("uid"), n)?);
        }
        if let Some(c) = file.backup {
            check_calendar(&key("backup"), &c)?;
            v.backup = Some(c);
        }
        if let Some(n) = file.backup_keep {
            v.backup_keep = check_backup_keep(&key("backup_keep"), n)?;
        }
        Ok(v)
    }

    /// Whether celery's broker is the site's Redis.
    pub fn redis_broker(&self) -> bool {
        self.broker == "redis"
    }

    /// The health URL this variant chose, when it differs from djdd's
    /// default: it wins over the project's `[health] url`.
    pub fn chosen_health_url(&self) -> Option<&str> {
        (self.health_url != DEFAULT_HEALTH_URL).then_some(self.health_url.as_str())
    }

    /// Whether the site gets its own Redis: the variant asks for it, its
    /// broker is Redis, or the project's djdd.toml says `redis = true`.
    pub fn site_redis(&self, project_redis: bool) -> bool {
        self.redis || self.redis_broker() || project_redis
    }

    /// Copies of process `name` this variant runs (default 1).
    pub fn copies(&self, name: &str) -> u32 {
        self.processes.get(name).copied().unwrap_or(1)
    }

    /// Applies command-line changes, checking each new value; on error the
    /// variant is left unchanged.
    pub fn apply(&self, u: &VariantUpdate, reserved: &[&str]) -> Result<Variant> {
        let mut v = self.clone();
        let opt = |o: &str| format!("--{o}");
        if let Some(b) = &u.branch {
            check_branch(&opt("branch"), b)?;
            v.branch = b.clone();
        }
        if let Some(d) = &u.domain {
            check_domain(&opt("domain"), d)?;
            v.domain = d.clone();
        }
        if u.clear_settings {
            v.settings = None;
        }
        if let Some(s) = &u.settings {
            check_settings(&opt("settings"), s)?;
            v.settings = Some(s.clone());
        }
        if let Some(w) = u.workers {
            v.workers = check_workers(&opt("workers"), w)?;
        }
        v.celery = u.celery.unwrap_or(v.celery);
        v.migrate = u.migrate.unwrap_or(v.migrate);
        v.memcached = u.memcached.unwrap_or(v.memcached);
        if let Some(h) = &u.health_url {
            check_url_path(&opt("health-url"), "health_url", h)?;
            v.health_url = h.clone();
        }
        match u.warm_url.as_deref() {
            Some("") => v.warm_url = None,
            Some(w) => {
                check_url_path(&opt("warm-url"), "warm_url", w)?;
                v.warm_url = Some(w.to_string());
            }
            None => {}
        }
        if let Some(t) = u.graceful_timeout {
            v.graceful_timeout = check_graceful_timeout(&opt("graceful-timeout"), t)?;
        }
        for k in &u.env_unset {
            v.env.remove(k);
        }
        for (k, val) in &u.env_set {
            // The key as typed, control characters escaped.
            let what = || format!("--env {}", k.escape_debug());
            check_env_key(&what(), k, reserved)?;
            check_env_value(&what(), val)?;
            v.env.insert(k.clone(), val.clone());
        }
        v.redis = u.redis.unwrap_or(v.redis);
        if let Some(m) = &u.redis_maxmemory {
            check_redis_maxmemory(&opt("redis-maxmemory"), m)?;
            v.redis_maxmemory = m.clone();
        }
        if let Some(p) = &u.redis_policy {
            check_redis_policy(&opt("redis-policy"), p)?;
            v.redis_policy = p.clone();
        }
        if let Some(b) = &u.broker {
            check_broker(&opt("broker"), b)?;
            v.broker = b.clone();
        }
        for (p, n) in &u.processes {
            let what = format!("--process {}={n}", p.escape_debug());
            check_process_name(&what, p)?;
            let n = check_copies(&what, p, *n)?;
            v.processes.insert(p.clone(), n);
        }
        if let Some(t) = &u.tls {
            v.tls = TlsMode::parse(t).map_err(|e| Error::invalid(opt("tls"), e))?;
        }
        if let Some(url) = &u.acme_server {
            check_acme_server(&opt("acme-server"), url)?;
            v.acme_server = url.clone();
        }
        match u.acme_email.as_deref() {
            Some("") => v.acme_email = None,
            Some(m) => {
                check_email(&opt("acme-email"), m)?;
                v.acme_email = Some(m.to_string());
            }
            None => {}
        }
        if v.tls != TlsMode::Acme && (u.acme_server.is_some() || u.acme_email.is_some()) {
            let which = if u.acme_server.is_some() {
                "acme-server"
            } else {
                "acme-email"
            };
            return Err(Error::invalid_hint(
                opt(which),
                format!(
                    "only applies to a variant with --tls acme (this one has tls {})",
                    v.tls.as_str()
                ),
                "add --tls acme, or leave the option out",
            ));
        }
        if u.strict {
            v.allow.clear();
        }
        for a in &u.allow {
            check_allow(&format!("--allow {}", a.escape_debug()), a)?;
            v.allow.push(a.clone());
        }
        v.allow.sort();
        v.allow.dedup();
        if u.clear_external {
            v.external.clear();
        }
        for e in &u.external {
            v.external.push(parse_service(
                &format!("--external {}", e.escape_debug()),
                e,
            )?);
        }
        v.external.sort();
        v.external.dedup();
        if u.clear_uid {
            v.uid = None;
        }
        if let Some(n) = u.uid {
            v.uid = Some(check_uid(&opt("uid"), n)?);
        }
        match u.backup.as_deref() {
            Some("") => v.backup = None,
            Some(c) => {
                check_calendar(&opt("backup"), c)?;
                v.backup = Some(c.to_string());
            }
            None => {}
        }
        if let Some(n) = u.backup_keep {
            v.backup_keep = check_backup_keep(&opt("backup-keep"), n)?;
        }
        Ok(v)
    }

    /// Whether the variant uses SERVICE from another host.
    pub fn is_external(&self, service: Service) -> bool {
        self.external.contains(&service)
    }

    /// The external services in one phrase: `database, redis`, or `none`.
    pub fn external_list(&self) -> String {
        if self.external.is_empty() {
            "none".to_string()
        } else {
            self.external
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    /// The sandbox in one phrase: `strict`, or `relaxed: wx-memory, ...`.
    pub fn sandbox(&self) -> String {
        if self.allow.is_empty() {
            "strict".to_string()
        } else {
            format!("relaxed: {}", self.allow.join(", "))
        }
    }

    /// djdd's defaults for this variant's NAME and VARIANT.
    fn defaults(&self) -> Variant {
        Variant::new(&self.name, &self.variant).expect("a variant's names passed check_pair")
    }

    /// The file form of the variant: every key when `all`, else only the
    /// values that differ from djdd's defaults (what the admin chose).
    fn file(&self, all: bool) -> VariantFile {
        let d = self.defaults();
        let pick = |differs: bool| all || differs;
        VariantFile {
            branch: pick(self.branch != d.branch).then(|| self.branch.clone()),
            domain: pick(self.domain != d.domain).then(|| self.domain.clone()),
            settings: self.settings.clone(),
            workers: pick(self.workers != d.workers).then_some(i64::from(self.workers)),
            celery: pick(self.celery != d.celery).then_some(self.celery),
            migrate: pick(self.migrate != d.migrate).then_some(self.migrate),
            memcached: pick(self.memcached != d.memcached).then_some(self.memcached),
            health_url: pick(self.health_url != d.health_url).then(|| self.health_url.clone()),
            warm_url: self.warm_url.clone(),
            graceful_timeout: pick(self.graceful_timeout != d.graceful_timeout)
                .then_some(i64::from(self.graceful_timeout)),
            env: (!self.env.is_empty()).then(|| self.env.clone()),
            redis: pick(self.redis != d.redis).then_some(self.redis),
            redis_maxmemory: pick(self.redis_maxmemory != d.redis_maxmemory)
                .then(|| self.redis_maxmemory.clone()),
            redis_policy: pick(self.redis_policy != d.redis_policy)
                .then(|| self.redis_policy.clone()),
            broker: pick(self.broker != d.broker).then(|| self.broker.clone()),
            tls: pick(self.tls != d.tls).then(|| self.tls.as_str().to_string()),
            acme_server: pick(self.acme_server != d.acme_server).then(|| self.acme_server.clone()),
            acme_email: self.acme_email.clone(),
            processes: (!self.processes.is_empty()).then(|| {
                self.processes
                    .iter()
                    .map(|(k, v)| (k.clone(), i64::from(*v)))
                    .collect()
            }),
            allow: (!self.allow.is_empty()).then(|| self.allow.clone()),
            external: (!self.external.is_empty()).then(|| {
                self.external
                    .iter()
                    .map(|s| s.as_str().to_string())
                    .collect()
            }),
            uid: self.uid.map(i64::from),
            backup: self.backup.clone(),
            // As external and uid: only when set, also in the canonical
            // text (older variants keep their fingerprint).
            backup_keep: (self.backup_keep != d.backup_keep).then_some(i64::from(self.backup_keep)),
        }
    }

    /// The variant file's text: a comment header, then only the values
    /// the admin chose, those that differ from djdd's defaults. A value
    /// equal to the default (as older djdd versions wrote every key) is
    /// not written, so the file never shows a value that the project's
    /// djdd.toml overrides; every value in it wins over the project's.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(&self.file(false)).expect("a variant always serialises");
        let mut s = format!(
            "# djdd variant {} {}: one deployment of {}.\n\
             # Written by `djdd variant`; may be edited by hand: it is checked on every load.\n\
             # Only the values chosen for this variant; the others are the project's\n\
             # djdd.toml's or djdd's defaults (`djdd variant {} {}` shows them all).\n\
             # Keys, rules and defaults: docs/host.md.\n",
            self.name, self.variant, self.name, self.name, self.variant
        );
        s.push_str(&body);
        s
    }

    /// Every value, defaults written out, in one canonical text: what the
    /// build's fingerprint reads (same settings, same text, whichever
    /// djdd version wrote the file). Byte for byte the variant file older
    /// djdd versions wrote, so that their builds stay up to date.
    pub fn canonical(&self) -> String {
        let body = toml::to_string(&self.file(true)).expect("a variant always serialises");
        let mut s = format!(
            "# djdd variant {} {}: one deployment of {}.\n\
             # Written by `djdd variant`; may be edited by hand: it is checked on every load.\n\
             # Keys, rules and defaults: docs/host.md.\n",
            self.name, self.variant, self.name
        );
        if self.settings.is_none() {
            s.push_str("# settings: not set, taken from the project's djdd.toml\n");
        }
        s.push_str(&body);
        s
    }

    /// Every effective value of the variant for the project (its djdd.toml
    /// at the commit built, when known) and where it comes from: the
    /// variant file, the project's djdd.toml or djdd's default. The rules
    /// are the build's: a value in the variant file wins over the project's.
    pub fn effective(&self, project: Option<&crate::config::project::Project>) -> Vec<Effective> {
        use Origin::{Default as D, Project as P, Variant as V};
        let d = self.defaults();
        let yn = |b: bool| if b { "yes" } else { "no" }.to_string();
        let of = |chosen: bool| if chosen { V } else { D };
        let mut rows = vec![
            Effective::new("branch", self.branch.clone(), of(self.branch != d.branch)),
            Effective::new("domain", self.domain.clone(), of(self.domain != d.domain)),
        ];
        rows.push(
            match (&self.settings, project.and_then(|p| p.settings.as_ref())) {
                (Some(s), _) => Effective::new("settings", s.clone(), V),
                (None, Some(s)) => Effective::new("settings", s.clone(), P),
                (None, None) => Effective::new("settings", "(none)".into(), D),
            },
        );
        rows.push(Effective::new(
            "workers",
            self.workers.to_string(),
            of(self.workers != d.workers),
        ));
        rows.push(Effective::new(
            "celery",
            yn(self.celery),
            of(self.celery != d.celery),
        ));
        rows.push(Effective::new(
            "migrate",
            yn(self.migrate),
            of(self.migrate != d.migrate),
        ));
        rows.push(Effective::new(
            "memcached",
            yn(self.memcached),
            of(self.memcached != d.memcached),
        ));
        let project_health = project
            .map(|p| p.health.url.as_str())
            .filter(|u| *u != DEFAULT_HEALTH_URL);
        let health = if let Some(u) = self.chosen_health_url() {
            Effective::new("health_url", u.to_string(), V)
        } else if let Some(u) = project_health {
            Effective::new("health_url", u.to_string(), P)
        } else {
            Effective::new("health_url", self.health_url.clone(), D)
        };
        let warm = match &self.warm_url {
            Some(w) => Effective::new("warm_url", w.clone(), V),
            None => Effective::new(
                "warm_url",
                format!("{} (the health URL)", health.value),
                health.from,
            ),
        };
        rows.push(health);
        rows.push(warm);
        rows.push(Effective::new(
            "graceful_timeout",
            self.graceful_timeout.to_string(),
            of(self.graceful_timeout != d.graceful_timeout),
        ));
        rows.push(if self.env.is_empty() {
            Effective::new("env", "(none)".into(), D)
        } else {
            Effective::new(
                "env",
                self.env.keys().cloned().collect::<Vec<_>>().join(" "),
                V,
            )
        });
        if let Some(p) = project {
            for proc in &p.processes {
                let copies = self.processes.get(&proc.name);
                rows.push(Effective::new(
                    format!("processes.{}", proc.name),
                    copies.copied().unwrap_or(1).to_string(),
                    if copies.is_some() { V } else { P },
                ));
            }
        } else {
            for (name, n) in &self.processes {
                rows.push(Effective::new(
                    format!("processes.{name}"),
                    n.to_string(),
                    V,
                ));
            }
        }
        // The build's rule (`site_redis`), with where the yes comes from.
        let redis = if self.site_redis(false) {
            let why = if self.redis {
                "yes"
            } else {
                "yes (the broker)"
            };
            Effective::new("redis", why.into(), V)
        } else if self.site_redis(project.is_some_and(|p| p.redis)) {
            Effective::new("redis", yn(true), P)
        } else {
            Effective::new("redis", yn(false), D)
        };
        rows.push(redis);
        rows.push(Effective::new(
            "redis_maxmemory",
            self.redis_maxmemory.clone(),
            of(self.redis_maxmemory != d.redis_maxmemory),
        ));
        rows.push(Effective::new(
            "redis_policy",
            self.redis_policy.clone(),
            of(self.redis_policy != d.redis_policy),
        ));
        rows.push(Effective::new(
            "broker",
            self.broker.clone(),
            of(self.broker != d.broker),
        ));
        rows.push(Effective::new(
            "tls",
            self.tls.as_str().into(),
            of(self.tls != d.tls),
        ));
        rows.push(Effective::new(
            "acme_server",
            self.acme_server.clone(),
            of(self.acme_server != d.acme_server),
        ));
        rows.push(match &self.acme_email {
            Some(m) => Effective::new("acme_email", m.clone(), V),
            None => Effective::new("acme_email", "(none)".into(), D),
        });
        rows.push(Effective::new(
            "allow",
            self.sandbox(),
            of(!self.allow.is_empty()),
        ));
        rows.push(Effective::new(
            "external",
            self.external_list(),
            of(!self.external.is_empty()),
        ));
        rows.push(match self.uid {
            Some(n) => Effective::new("uid", n.to_string(), V),
            None => Effective::new("uid", "(allocated on each host)".into(), D),
        });
        rows.push(match &self.backup {
            Some(c) => Effective::new("backup", c.clone(), V),
            None => Effective::new("backup", "(no backup timer)".into(), D),
        });
        rows.push(Effective::new(
            "backup_keep",
            self.backup_keep.to_string(),
            of(self.backup_keep != d.backup_keep),
        ));
        rows
    }
}

/// A service name of `--external` (`database`, `redis`, `broker`).
fn parse_service(what: &str, s: &str) -> Result<Service> {
    Service::parse(s).ok_or_else(|| {
        Error::invalid(
            what,
            format!(
                "{} is not a service djdd can leave to another host: {}",
                shown(s),
                Service::ALL
                    .iter()
                    .map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

/// Where an effective value of a variant comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The variant file: its admin chose it.
    Variant,
    /// The project's djdd.toml.
    Project,
    /// djdd's default.
    Default,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Variant => "variant",
            Origin::Project => "djdd.toml",
            Origin::Default => "default",
        }
    }
}

/// One effective value of a variant ([`Variant::effective`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub key: String,
    pub value: String,
    pub from: Origin,
}

impl Effective {
    fn new(key: impl Into<String>, value: String, from: Origin) -> Self {
        Effective {
            key: key.into(),
            value,
            from,
        }
    }
}

/// The effective values as a table: key, value, origin, one per line,
/// each line indented by two spaces.
pub fn effective_table(rows: &[Effective]) -> String {
    let wk = rows.iter().map(|r| r.key.len()).max().unwrap_or(0);
    let wv = rows
        .iter()
        .map(|r| r.value.chars().count())
        .max()
        .unwrap_or(0);
    let mut s = String::new();
    for r in rows {
        s.push_str(&format!(
            "  {:<wk$}  {:<wv$}  {}\n",
            r.key,
            printable(&r.value),
            r.from.as_str()
        ));
    }
    s
}

/// The default domain of a variant: `NAME-VARIANT.localhost` (resolves to
/// the loopback on most systems, so a fresh site answers without DNS).
pub fn default_domain(name: &str, variant: &str) -> String {
    format!("{name}-{variant}.localhost")
}

/// Splits `NAME=N` (from `--process`).
pub fn split_process(arg: &str) -> Result<(String, i64)> {
    let parsed = arg
        .split_once('=')
        .and_then(|(k, v)| Some((k.to_string(), v.trim().parse::<i64>().ok()?)));
    parsed.ok_or_else(|| {
        Error::invalid_hint(
            format!("--process {}", shown(arg)),
            "is not NAME=N (N a number of copies)",
            "e.g. --process sendalerts=2, or --process beat=0 to turn it off",
        )
    })
}

/// Splits `KEY=VALUE` (from `--env`).
pub fn split_env(arg: &str) -> Result<(String, String)> {
    match arg.split_once('=') {
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None => Err(Error::invalid(
            format!("--env {}", shown(arg)),
            "has no '=': write KEY=VALUE",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESERVED: &[&str] = &["DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DJDD_*"];

    fn parse(text: &str) -> Result<Variant> {
        Variant::parse("demo", "blue", text, "variants/demo/blue.toml", RESERVED)
    }

    #[test]
    fn empty_file_gives_defaults() {
        let v = parse("").unwrap();
        assert_eq!(v, Variant::new("demo", "blue").unwrap());
        assert_eq!(v.domain, "demo-blue.localhost");
        assert_eq!(v.branch, "main");
        assert_eq!(v.workers, 3);
        assert!(!v.celery && !v.migrate && !v.memcached);
        assert_eq!(v.health_url, "/");
        assert_eq!(v.user(), "demo-blue");
    }

    #[test]
    fn external_services_and_uid_are_kept_and_checked() {
        let v = Variant::new("demo", "blue").unwrap();
        let canonical_before = v.canonical();
        let u = VariantUpdate {
            external: vec!["redis".into(), "database".into(), "redis".into()],
            uid: Some(640),
            ..VariantUpdate::default()
        };
        let w = v.apply(&u, RESERVED).unwrap();
        assert_eq!(w.external, [Service::Database, Service::Redis]);
        assert!(w.is_external(Service::Database) && !w.is_external(Service::Broker));
        assert_eq!(w.uid, Some(640));
        let text = w.to_toml();
        assert!(
            text.contains("external = [\"database\", \"redis\"]"),
            "{text}"
        );
        assert!(text.contains("uid = 640"), "{text}");
        assert_eq!(parse(&text).unwrap(), w);
        // A variant without them keeps the canonical text (and so the
        // fingerprint) older djdd versions gave it.
        assert_eq!(
            Variant::new("demo", "blue").unwrap().canonical(),
            canonical_before
        );
        assert!(!canonical_before.contains("external") && !canonical_before.contains("uid"));
        let e = v
            .apply(
                &VariantUpdate {
                    external: vec!["memcached".into()],
                    ..VariantUpdate::default()
                },
                RESERVED,
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--external") && e.contains("database, redis, broker"),
            "{e}"
        );
        let e = v
            .apply(
                &VariantUpdate {
                    uid: Some(1000),
                    ..VariantUpdate::default()
                },
                RESERVED,
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("--uid") && e.contains("100 to 999"), "{e}");
        let e = parse("uid = 5\n").unwrap_err().to_string();
        assert!(e.contains("key `uid`"), "{e}");
        let e = parse("external = [\"db\"]\n").unwrap_err().to_string();
        assert!(e.contains("key `external`"), "{e}");
        // --no-external and --no-uid forget them.
        let x = w
            .apply(
                &VariantUpdate {
                    clear_external: true,
                    clear_uid: true,
                    ..VariantUpdate::default()
                },
                RESERVED,
            )
            .unwrap();
        assert_eq!(x, v);
    }

    #[test]
    fn backup_calendar_and_keep_are_kept_and_checked() {
        let v = Variant::new("demo", "blue").unwrap();
        let canonical_before = v.canonical();
        let w = v
            .apply(
                &VariantUpdate {
                    backup: Some("*-*-* 03:00:00".into()),
                    backup_keep: Some(30),
                    ..VariantUpdate::default()
                },
                RESERVED,
            )
            .unwrap();
        assert_eq!(
            (w.backup.as_deref(), w.backup_keep),
            (Some("*-*-* 03:00:00"), 30)
        );
        let text = w.to_toml();
        assert!(text.contains("backup = \"*-*-* 03:00:00\""), "{text}");
        assert!(text.contains("backup_keep = 30"), "{text}");
        assert_eq!(parse(&text).unwrap(), w);
        // Without them: the canonical text of older djdd versions.
        assert!(!canonical_before.contains("backup"), "{canonical_before}");
        for (u, want) in [
            (
                VariantUpdate {
                    backup: Some("daily; rm -rf /".into()),
                    ..VariantUpdate::default()
                },
                "--backup",
            ),
            (
                VariantUpdate {
                    backup_keep: Some(0),
                    ..VariantUpdate::default()
                },
                "--backup-keep",
            ),
            (
                VariantUpdate {
                    backup_keep: Some(1001),
                    ..VariantUpdate::default()
                },
                "1 to 1000",
            ),
        ] {
            let e = v.apply(&u, RESERVED).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        let e = parse("backup = \"\"\n").unwrap_err().to_string();
        assert!(e.contains("key `backup`"), "{e}");
        let e = parse("backup_keep = 5000\n").unwrap_err().to_string();
        assert!(e.contains("key `backup_keep`"), "{e}");
        // --backup '' (or --no-backup) forgets the timer.
        let x = w
            .apply(
                &VariantUpdate {
                    backup: Some(String::new()),
                    ..VariantUpdate::default()
                },
                RESERVED,
            )
            .unwrap();
        assert_eq!(x.backup, None);
    }

    #[test]
    fn round_trip_keeps_every_value() {
        let mut v = Variant::new("demo", "red").unwrap();
        v.branch = "release/2.x".into();
        v.domain = "red.example.org".into();
        v.settings = Some("demo.settings.prod".into());
        v.workers = 9;
        v.celery = true;
        v.migrate = true;
        v.memcached = true;
        v.health_url = "/health/?full=1".into();
        v.env
            .insert("FEATURE_X".into(), "on \"quoted\" $HOME".into());
        v.processes.insert("sendalerts".into(), 2);
        v.redis = true;
        v.redis_maxmemory = "1gb".into();
        v.redis_policy = "allkeys-lru".into();
        v.broker = "redis".into();
        v.processes.insert("beat".into(), 0);
        v.tls = TlsMode::Acme;
        v.acme_server = "https://acme-staging-v02.api.letsencrypt.org/directory".into();
        v.acme_email = Some("ops+djdd@example.org".into());
        let text = v.to_toml();
        let back = Variant::parse("demo", "red", &text, "x", RESERVED).unwrap();
        assert_eq!(back, v);
        assert!(text.starts_with("# djdd variant demo red"));
        assert!(text.contains("domain = \"red.example.org\""), "{text}");
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let e = parse("colour = \"blue\"\n").unwrap_err().to_string();
        assert!(e.contains("variants/demo/blue.toml"), "{e}");
        assert!(e.contains("colour"), "{e}");
        assert!(e.contains("hint:"), "{e}");
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let e = parse("workers = \"many\"\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        assert!(e.contains("workers"), "{e}");
    }

    #[test]
    fn broken_values_name_the_key_and_rule() {
        for (text, key, needle) in [
            ("domain = \"a b\"", "`domain`", "contains ' '"),
            ("domain = \"a;b\"", "`domain`", "contains ';'"),
            ("domain = \"a{b\"", "`domain`", "contains '{'"),
            ("domain = \"Example.com\"", "`domain`", "lowercase"),
            ("domain = \"-a.com\"", "`domain`", "'-'"),
            ("domain = \"a..com\"", "`domain`", "empty label"),
            ("settings = \"a/b\"", "`settings`", "module path"),
            ("settings = \"a.'b'\"", "`settings`", "module path"),
            ("workers = 0", "`workers`", "1 to 64"),
            ("workers = -1", "`workers`", "1 to 64"),
            ("workers = 100000", "`workers`", "1 to 64"),
            ("graceful_timeout = 0", "`graceful_timeout`", "1 to 3600"),
            ("graceful_timeout = 3601", "`graceful_timeout`", "1 to 3600"),
            (
                "branch = \"$(touch /tmp/pwned)\"",
                "`branch`",
                "contains '$'",
            ),
            ("branch = \"a`b`\"", "`branch`", "contains '`'"),
            ("branch = \"a'b\"", "`branch`", "contains '\\''"),
            ("branch = \"a..b\"", "`branch`", "'..'"),
            (
                "branch = \"--upload-pack=x\"",
                "`branch`",
                "starts with '-'",
            ),
            ("branch = \"x.lock\"", "`branch`", ".lock"),
            (
                "health_url = \"health\"",
                "`health_url`",
                "start with one '/'",
            ),
            (
                "health_url = \"//cdn/x\"",
                "`health_url`",
                "start with one '/'",
            ),
            ("health_url = \"/a b\"", "`health_url`", "contains ' '"),
            ("health_url = \"/a#b\"", "`health_url`", "contains '#'"),
            (
                "warm_url = \"/a b\"",
                "`warm_url`",
                "warm_url '/a b' contains ' '",
            ),
            ("[env]\nlower = \"x\"", "`env.lower`", "[A-Z_][A-Z0-9_]*"),
            (
                "[env]\nSECRET_KEY = \"x\"",
                "`env.SECRET_KEY`",
                "set by djdd",
            ),
            ("[env]\nA = \"x\\ny\"", "`env.A`", "control character"),
            (
                "[env]\nDJDD_VERSION = \"x\"",
                "`env.DJDD_VERSION`",
                "set by djdd",
            ),
            (
                "redis_maxmemory = \"lots\"",
                "`redis_maxmemory`",
                "not a size",
            ),
            (
                "redis_maxmemory = \"12\"",
                "`redis_maxmemory`",
                "not a size",
            ),
            (
                "redis_maxmemory = \"64 mb\"",
                "`redis_maxmemory`",
                "not a size",
            ),
            ("redis_policy = \"lru\"", "`redis_policy`", "allkeys-lru"),
            ("broker = \"kafka\"", "`broker`", "rabbitmq or redis"),
            (
                "[processes]\nbeat = 17",
                "`processes.beat`",
                "0 (off) to 16",
            ),
            (
                "[processes]\nbeat = -1",
                "`processes.beat`",
                "0 (off) to 16",
            ),
            (
                "[processes]\nBeat = 1",
                "`processes.Beat`",
                "not a process name",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains("variants/demo/blue.toml: key "), "{text}: {e}");
            assert!(e.contains(key), "{text}: {e}");
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn apply_updates_only_given_values() {
        let v = Variant::new("demo", "blue").unwrap();
        let u = VariantUpdate {
            workers: Some(5),
            celery: Some(true),
            env_set: vec![("A".into(), "1".into())],
            ..Default::default()
        };
        let w = v.apply(&u, RESERVED).unwrap();
        assert_eq!(w.workers, 5);
        assert!(w.celery);
        assert_eq!(w.domain, v.domain);
        assert_eq!(w.env.get("A").map(String::as_str), Some("1"));
        let u2 = VariantUpdate {
            env_unset: vec!["A".into()],
            domain: Some("x.org".into()),
            ..Default::default()
        };
        let x = w.apply(&u2, RESERVED).unwrap();
        assert!(x.env.is_empty());
        assert_eq!(x.workers, 5);
        assert_eq!(x.domain, "x.org");
        let bad = VariantUpdate {
            workers: Some(0),
            ..Default::default()
        };
        let e = x.apply(&bad, RESERVED).unwrap_err().to_string();
        assert!(e.starts_with("--workers: workers = 0"), "{e}");
    }

    #[test]
    fn warm_url_set_kept_and_forgotten() {
        let v = parse("warm_url = \"/\"\n").unwrap();
        assert_eq!(v.warm_url.as_deref(), Some("/"));
        let again = parse(&v.to_toml()).unwrap();
        assert_eq!(again.warm_url.as_deref(), Some("/"));
        assert!(!parse("").unwrap().to_toml().contains("warm_url"));
        let set = VariantUpdate {
            warm_url: Some("/notes/?page=1".into()),
            ..Default::default()
        };
        let w = v.apply(&set, RESERVED).unwrap();
        assert_eq!(w.warm_url.as_deref(), Some("/notes/?page=1"));
        let forget = VariantUpdate {
            warm_url: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(w.apply(&forget, RESERVED).unwrap().warm_url, None);
        let bad = VariantUpdate {
            warm_url: Some("home".into()),
            ..Default::default()
        };
        let e = v.apply(&bad, RESERVED).unwrap_err().to_string();
        assert!(
            e.starts_with("--warm-url: warm_url 'home' does not start with one '/'"),
            "{e}"
        );
        let e = parse("warm_url = \"/a b\"\n").unwrap_err().to_string();
        assert!(
            e.contains("key `warm_url`") && e.contains("contains ' '"),
            "{e}"
        );
    }

    #[test]
    fn process_copies() {
        let v = parse("[processes]\nbeat = 0\nsendalerts = 4\n").unwrap();
        assert_eq!(
            (v.copies("beat"), v.copies("sendalerts"), v.copies("other")),
            (0, 4, 1)
        );
        let u = VariantUpdate {
            processes: vec![("beat".into(), 2)],
            ..Default::default()
        };
        assert_eq!(v.apply(&u, RESERVED).unwrap().copies("beat"), 2);
        let bad = VariantUpdate {
            processes: vec![("beat".into(), 99)],
            ..Default::default()
        };
        let e = v.apply(&bad, RESERVED).unwrap_err().to_string();
        assert!(e.starts_with("--process beat=99: 99 copies"), "{e}");
        assert_eq!(split_process("a=3").unwrap(), ("a".into(), 3));
        assert!(split_process("a").is_err() && split_process("a=x").is_err());
    }

    #[test]
    fn tls_options() {
        let v = Variant::new("demo", "blue").unwrap();
        assert_eq!(v.tls, TlsMode::Off);
        let u = VariantUpdate {
            tls: Some("acme".into()),
            acme_email: Some("ops@example.org".into()),
            ..Default::default()
        };
        let w = v.apply(&u, RESERVED).unwrap();
        assert_eq!(w.tls, TlsMode::Acme);
        assert_eq!(w.acme_server, DEFAULT_ACME_SERVER);
        assert_eq!(w.acme_email.as_deref(), Some("ops@example.org"));
        // An empty --acme-email forgets the address.
        let forget = VariantUpdate {
            acme_email: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(w.apply(&forget, RESERVED).unwrap().acme_email, None);
        // Bad input names the option; the variant is unchanged.
        for (u, needle) in [
            (
                VariantUpdate {
                    tls: Some("on".into()),
                    ..Default::default()
                },
                "--tls: tls 'on' is not off, acme or files",
            ),
            (
                VariantUpdate {
                    acme_server: Some("http://acme.example.org/dir".into()),
                    ..Default::default()
                },
                "--acme-server: ACME server 'http://acme.example.org/dir' is not an https:// URL",
            ),
            (
                VariantUpdate {
                    acme_server: Some("https://a.example/dir;rm -rf /".into()),
                    ..Default::default()
                },
                "--acme-server: ACME server",
            ),
            (
                VariantUpdate {
                    acme_email: Some("ops at example.org".into()),
                    ..Default::default()
                },
                "--acme-email: e-mail 'ops at example.org' has no '@'",
            ),
            (
                VariantUpdate {
                    acme_email: Some("ops@localhost".into()),
                    ..Default::default()
                },
                "has an invalid domain",
            ),
        ] {
            let e = w.apply(&u, RESERVED).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
        // ACME options without --tls acme mean nothing: refused.
        let e = v
            .apply(
                &VariantUpdate {
                    acme_email: Some("ops@example.org".into()),
                    ..Default::default()
                },
                RESERVED,
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--acme-email: only applies to a variant with --tls acme"),
            "{e}"
        );
        let e = parse("tls = \"https\"\n").unwrap_err().to_string();
        assert!(e.contains("key `tls`"), "{e}");
    }

    #[test]
    fn split_env_needs_equals() {
        assert_eq!(split_env("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert!(split_env("A").is_err());
    }

    #[test]
    fn sandbox_relaxations() {
        let v = parse("").unwrap();
        assert!(v.allow.is_empty());
        assert_eq!(v.sandbox(), "strict");
        let u = VariantUpdate {
            allow: vec![
                "wx-memory".into(),
                "address-family=AF_NETLINK".into(),
                "wx-memory".into(),
            ],
            ..Default::default()
        };
        let r = v.apply(&u, RESERVED).unwrap();
        assert_eq!(r.allow, ["address-family=AF_NETLINK", "wx-memory"]);
        assert_eq!(r.sandbox(), "relaxed: address-family=AF_NETLINK, wx-memory");
        // Written to the file and read back; --strict drops them.
        let back = parse(&r.to_toml()).unwrap();
        assert_eq!(back.allow, r.allow);
        assert!(
            !v.to_toml().contains("allow"),
            "strict variants write no allow key"
        );
        let strict = VariantUpdate {
            strict: true,
            ..Default::default()
        };
        assert!(back.apply(&strict, RESERVED).unwrap().allow.is_empty());
        for bad in [
            "AF_NETLINK",
            "address-family=AF_INET9",
            "address-family=",
            "wx",
            "syscalls=@raw-io",
            "wx-memory\n",
        ] {
            let u = VariantUpdate {
                allow: vec![bad.into()],
                ..Default::default()
            };
            let e = v.apply(&u, RESERVED).unwrap_err().to_string();
            assert!(e.starts_with("--allow"), "{bad}: {e}");
        }
        let e = parse("allow = [\"address-family=AF_BLUETOOTH\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key `allow`") && e.contains("AF_NETLINK"), "{e}");
    }

    /// A file an older djdd wrote holds every key, defaults included:
    /// those are read as not chosen, the next write drops them, and the
    /// project's djdd.toml is then in force for health_url and redis
    /// (it showed `health_url = "/"` and `redis = false` before).
    #[test]
    fn only_chosen_values_are_written_and_the_project_shows_through() {
        let old = Variant::new("demo", "blue").unwrap().canonical();
        assert!(
            old.contains("health_url = \"/\"") && old.contains("redis = false"),
            "{old}"
        );
        let mut v = parse(&old).unwrap();
        assert_eq!(v, Variant::new("demo", "blue").unwrap());
        let text = v.to_toml();
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(body.iter().all(|l| l.is_empty()), "{text}");
        assert_eq!(parse(&text).unwrap(), v);

        let project = crate::config::project::resolve(
            Some(
                &crate::config::project::parse(
                    "settings = \"demo.settings\"\nredis = true\n[health]\nurl = \"/login/\"\n[processes.beat]\ncommand = [\"celery\", \"beat\"]\n",
                )
                .unwrap(),
            ),
            None,
        )
        .unwrap();
        let origin = |rows: &[Effective], key: &str| {
            let r = rows.iter().find(|r| r.key == key).unwrap();
            (r.value.clone(), r.from)
        };
        let rows = v.effective(Some(&project));
        assert_eq!(
            origin(&rows, "health_url"),
            ("/login/".into(), Origin::Project)
        );
        assert_eq!(origin(&rows, "warm_url").1, Origin::Project);
        assert_eq!(origin(&rows, "redis"), ("yes".into(), Origin::Project));
        assert_eq!(
            origin(&rows, "settings"),
            ("demo.settings".into(), Origin::Project)
        );
        assert_eq!(
            origin(&rows, "processes.beat"),
            ("1".into(), Origin::Project)
        );
        assert_eq!(origin(&rows, "workers"), ("3".into(), Origin::Default));
        assert_eq!(origin(&rows, "domain").1, Origin::Default);

        // What the admin chooses is written and wins over the project.
        v.health_url = "/health/".into();
        v.workers = 5;
        v.processes.insert("beat".into(), 0);
        let text = v.to_toml();
        assert!(
            text.contains("health_url = \"/health/\"") && text.contains("workers = 5"),
            "{text}"
        );
        assert!(
            !text.contains("redis") && !text.contains("domain"),
            "{text}"
        );
        let rows = v.effective(Some(&project));
        assert_eq!(
            origin(&rows, "health_url"),
            ("/health/".into(), Origin::Variant)
        );
        assert_eq!(origin(&rows, "workers"), ("5".into(), Origin::Variant));
        assert_eq!(
            origin(&rows, "processes.beat"),
            ("0".into(), Origin::Variant)
        );
        let table = effective_table(&rows);
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("  health_url ") && l.ends_with(" variant")),
            "{table}"
        );
    }
}
