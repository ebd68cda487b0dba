//! Builds the [`SiteContext`] of NAME-site-VARIANT from the deploy
//! contract, the project's `djdd.toml` and the build's facts: the one
//! place where the contract's variables, secrets, names and command lines
//! become the values the site package's templates are rendered from.
//!
//! Pure: no disk, no processes; every value comes from the arguments or
//! from `crate::contract`. Never invents a value the contract defines (the
//! environment, the secrets and their lengths, the database and broker
//! names, the gunicorn and celery arguments all come from there).

use crate::config::project::{self, Project};
use crate::contract::{self, Part, Site};
use crate::error::{Error, Result};

use super::{Broker, Database, EnvVar, Job, JobKind, Piece, ReleaseCommand, Secret, SiteContext};

/// nginx's `client_max_body_size` for every site, in MiB: the largest
/// upload (or other request body) the site accepts.
pub const MAX_BODY_MB: u32 = 64;

/// What a site package is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteInput {
    /// The site and the build it runs (name, variant, domain, settings,
    /// workers, celery, https_only, version, commit).
    pub site: Site,
    /// The project's side: manage.py, WSGI, celery app, health check.
    pub project: Project,
    /// The hash of NAME-env-HASH.
    pub env_hash: String,
    /// The hash of NAME-src-HASH.
    pub src_hash: String,
    /// The build root's Python, `3.X`.
    pub python_version: String,
    /// Run `manage.py migrate` in postinst (the variant's setting).
    pub migrate: bool,
    /// The variant's health URL, when it sets one: it replaces the
    /// project's `health.url` (djdd.toml); the timeout stays the project's.
    pub health_url: Option<String>,
    /// The variant's warm-up URL (`None`: the health URL).
    pub warm_url: Option<String>,
    /// Seconds the old gunicorn gets to finish its requests in a switch
    /// (the variant's `graceful_timeout`).
    pub graceful_timeout: u32,
    /// The variant's extra run-time variables, given by the admin of the
    /// build host; written to site.env after the contract's. A variable
    /// the contract defines (or the launcher sets) is refused.
    pub extra_env: Vec<(String, String)>,
    /// The site's Redis instance settings (`maxmemory`, policy), when the
    /// site has one (`site.redis`).
    pub redis_maxmemory: String,
    pub redis_policy: String,
    /// The variant's copies of the project's processes (a process not
    /// listed runs once; 0: off unless a host scales it up). A name the
    /// project does not define is refused.
    pub copies: std::collections::BTreeMap<String, u32>,
    /// How the site serves HTTPS (None: tls off).
    pub tls: Option<super::Tls>,
    /// The build root's Debian suite (codename): the target's nginx.
    pub suite: String,
    /// The variant's sandbox relaxations (`djdd variant --allow`); empty:
    /// the strict sandbox.
    pub allow: Vec<String>,
    /// The variant's backup timer (`djdd variant --backup CALENDAR
    /// --backup-keep N`): its calendar and how many backups it keeps.
    pub backup: Option<(String, u32)>,
}

/// The context of the site package, every value from the contract or the
/// input, validated ([`SiteContext::validate`]).
///
/// Defaults when the project leaves a value out:
/// - the WSGI callable: `PKG.wsgi:application`, PKG the first component of
///   the site's settings module ([`project::default_wsgi`]);
/// - the health check: the variant's URL, else `project.health`, which
///   already carries the defaults (`/`, 30 seconds);
/// - request bodies up to [`MAX_BODY_MB`] MiB.
///
/// Errors: a variant with celery whose project names no celery app; an
/// extra variable the contract reserves; any value
/// [`SiteContext::validate`] refuses.
pub fn site_context(input: &SiteInput) -> Result<SiteContext> {
    let site = &input.site;
    if site.celery && input.project.celery.is_none() {
        return Err(Error::invalid_hint(
            format!("variant {} of {}", site.variant, site.name),
            "runs a celery worker, but the project names no celery app",
            "set `celery = \"MODULE:APP\"` in the project's djdd.toml, or turn celery off for the variant",
        ));
    }
    let runtime = contract::runtime_env(site);
    let get = |name: &str| -> Result<String> {
        runtime
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                Error::invalid(
                    format!("deploy contract variable {name}"),
                    "has no run-time value for this site",
                )
            })
    };

    let mut environment: Vec<EnvVar> = runtime
        .iter()
        .map(|(k, v)| EnvVar::new(k.clone(), v.clone()))
        .collect();
    for (key, value) in &input.extra_env {
        if contract::is_reserved(key) {
            return Err(Error::invalid_hint(
                format!(
                    "extra environment variable {key} of variant {}",
                    site.variant
                ),
                "is reserved by the deploy contract (docs/contract.md): djdd or the site's launcher sets it",
                "use the variant's own option for it, or set it on the host in local.env",
            ));
        }
        if input.project.secrets.iter().any(|s| &s.name == key) {
            return Err(Error::invalid_hint(
                format!(
                    "extra environment variable {key} of variant {}",
                    site.variant
                ),
                "is a secret the project declares (djdd.toml [secrets]): site.env is shipped in the package",
                format!(
                    "remove it from the variant (djdd variant {} {} --unset-env {key}) and set it on each host: {} secrets set {key}",
                    site.name,
                    site.variant,
                    site.site()
                ),
            ));
        }
        environment.push(EnvVar::new(key.clone(), value.clone()));
    }

    let (secrets, password_of) = secrets(site);
    let external: Vec<super::ExternalValue> = contract::external_values(site)
        .into_iter()
        .map(|e| super::ExternalValue {
            name: e.name.to_string(),
            service: e.service.as_str().to_string(),
            looks_like: e.looks_like.to_string(),
        })
        .collect();
    let database = if site.external.database {
        None
    } else {
        Some(Database {
            name: get("DATABASE")?,
            user: get("DATABASE_USER")?,
            password_secret: password_of(contract::Secret::DatabasePassword)?,
            override_key: "DATABASE_URL".into(),
        })
    };
    // What postinst sets up: the local services only (`site.external`).
    let redis = if site.redis && !site.external.redis {
        Some(super::Redis {
            maxmemory: input.redis_maxmemory.clone(),
            policy: input.redis_policy.clone(),
            password_secret: password_of(contract::Secret::RedisPassword)?,
        })
    } else {
        None
    };
    // RabbitMQ only when it is celery's broker.
    let broker = if site.celery && !site.redis_broker && !site.external.broker {
        Some(Broker {
            user: site.site(),
            vhost: site.site(),
            password_secret: password_of(contract::Secret::BrokerPassword)?,
            override_key: "CELERY_BROKER_URL".into(),
        })
    } else {
        None
    };

    let p = &input.project;
    let celery_app = if site.celery { p.celery.clone() } else { None };
    let health_path = input
        .health_url
        .clone()
        .unwrap_or_else(|| p.health.url.clone());
    if let Some(unknown) = input
        .copies
        .keys()
        .find(|k| !p.processes.iter().any(|pr| &pr.name == *k))
    {
        return Err(Error::invalid_hint(
            format!(
                "variant {} of {}: process {unknown}",
                site.variant, site.name
            ),
            format!(
                "the project's djdd.toml defines no process {unknown} (its processes: {})",
                if p.processes.is_empty() {
                    "none".to_string()
                } else {
                    p.processes
                        .iter()
                        .map(|x| x.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
            format!(
                "djdd variant {} {} --process {unknown}=1 keeps it at the default, or delete `{unknown}` from the variant file's [processes]",
                site.name, site.variant
            ),
        ));
    }
    let unit = site.site();
    let words = |c: &project::Command| match c {
        project::Command::Manage(args) => (true, args.clone()),
        project::Command::Program(argv) => (false, argv.clone()),
    };
    let mut jobs: Vec<Job> = Vec::new();
    for pr in &p.processes {
        // 0: shipped, but off unless a host scales it up.
        let copies = input.copies.get(&pr.name).copied().unwrap_or(1);
        let (manage, command) = words(&pr.command);
        jobs.push(Job {
            name: pr.name.clone(),
            kind: JobKind::Process,
            copies,
            manage,
            command,
            calendar: String::new(),
            random_delay: String::new(),
            units: contract::ProcessUnits::process(&unit, &pr.name),
            keep: 0,
        });
    }
    for t in &p.timers {
        let (manage, command) = words(&t.command);
        jobs.push(Job {
            name: t.name.clone(),
            kind: JobKind::Timer,
            copies: 1,
            manage,
            command,
            calendar: t.calendar.clone(),
            random_delay: t.random_delay.clone().unwrap_or_default(),
            units: contract::ProcessUnits::timer(&unit, &t.name),
            keep: 0,
        });
    }
    if let Some((calendar, keep)) = &input.backup {
        if jobs.iter().any(|j| j.name == super::BACKUP_JOB) {
            return Err(Error::invalid_hint(
                format!("variant {} of {}: --backup", site.variant, site.name),
                format!(
                    "the project's djdd.toml has a process or timer named {} already: the backup timer's units would be its units",
                    super::BACKUP_JOB
                ),
                format!(
                    "rename the project's [processes.{0}] or [timers.{0}], or drop the variant's backup timer: djdd variant {1} {2} --no-backup",
                    super::BACKUP_JOB,
                    site.name,
                    site.variant
                ),
            ));
        }
        crate::rules::values::check_calendar(
            &format!("variant {} of {}: backup", site.variant, site.name),
            calendar,
        )?;
        jobs.push(Job {
            name: super::BACKUP_JOB.to_string(),
            kind: JobKind::Timer,
            copies: 1,
            manage: false,
            command: vec![
                contract::Layout::new(&site.name, &site.variant).control,
                "backup".into(),
            ],
            calendar: calendar.clone(),
            random_delay: String::new(),
            units: contract::ProcessUnits::timer(&unit, super::BACKUP_JOB),
            keep: *keep,
        });
    }
    let release_commands = p
        .release
        .iter()
        .map(|c| {
            let (manage, command) = words(c);
            ReleaseCommand {
                manage,
                command,
                text: c.words().join(" "),
            }
        })
        .collect();
    let ctx = SiteContext {
        name: site.name.clone(),
        variant: site.variant.clone(),
        version: site.version.clone(),
        domain: site.domain.clone(),
        env_hash: input.env_hash.clone(),
        src_hash: input.src_hash.clone(),
        python_version: input.python_version.clone(),
        settings_module: site.settings.clone(),
        // gunicorn serves the ASGI application when there is one.
        wsgi_callable: p
            .asgi
            .clone()
            .or_else(|| p.wsgi.clone())
            .unwrap_or_else(|| project::default_wsgi(&site.settings)),
        gunicorn_args: contract::gunicorn_args(site),
        celery_args: celery_app
            .as_deref()
            .map(contract::celery_args)
            .unwrap_or_default(),
        celery_app,
        workers: site.workers,
        migrate: input.migrate,
        health_path: health_path.clone(),
        warm_path: input.warm_url.clone().unwrap_or(health_path),
        manage_py: p.manage.clone(),
        static_url: get("STATIC_URL")?,
        media_url: get("MEDIA_URL")?,
        max_body_mb: MAX_BODY_MB,
        health_timeout: p.health.timeout,
        graceful_timeout: input.graceful_timeout,
        environment,
        secrets,
        external,
        declared_secrets: p.secrets.clone(),
        uid: site.uid,
        database,
        broker,
        jobs,
        release_commands,
        redis,
        tls: input.tls.clone(),
        // nginx 1.25.1 took `http2 on;`; bookworm has 1.22.
        nginx_http2_on: !matches!(input.suite.as_str(), "bullseye" | "bookworm"),
        sandbox: super::Sandbox::relaxed(&input.allow)?,
    };
    ctx.validate()?;
    Ok(ctx)
}

type PasswordOf = Box<dyn Fn(contract::Secret) -> Result<String>>;

/// The contract's secret variables as postinst makes them: first every
/// generated secret (random bytes, the contract's length), then the
/// variables composed from them. Also a lookup from a generated secret to
/// the variable holding it.
fn secrets(site: &Site) -> (Vec<Secret>, PasswordOf) {
    let needed = contract::secrets_needed(site);
    let mut out: Vec<Secret> = needed
        .iter()
        .map(|s| Secret::generated(s.variable(), s.bytes() as u32))
        .collect();
    for (name, parts) in contract::secret_env_parts(site) {
        let alone = matches!(parts.as_slice(), [Part::Secret(s)] if s.variable() == name);
        if alone {
            continue;
        }
        let pieces = parts
            .into_iter()
            .map(|p| match p {
                Part::Text(t) => Piece::Text(t),
                Part::Secret(s) => Piece::Secret(s.variable().to_string()),
            })
            .collect();
        out.push(Secret::composed(name, pieces));
    }
    let lookup: PasswordOf = Box::new(move |s: contract::Secret| {
        if needed.contains(&s) {
            Ok(s.variable().to_string())
        } else {
            Err(Error::invalid(
                format!("deploy contract secret {}", s.variable()),
                "is not made for this site",
            ))
        }
    });
    (out, lookup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::SecretValue;

    fn input(celery: bool) -> SiteInput {
        let file =
            project::parse("celery = \"demo.celery:app\"\n[health]\nurl = \"/health/\"\n").unwrap();
        let project = project::resolve(
            Some(&file),
            Some("os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"demo.settings\")\n"),
        )
        .unwrap();
        SiteInput {
            site: Site {
                name: "demo".into(),
                variant: "blue".into(),
                domain: "blue.example.org".into(),
                settings: "demo.settings".into(),
                workers: 3,
                celery,
                redis_broker: false,
                redis: false,
                asgi: false,
                https_only: false,
                version: "1.20250101.1".into(),
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
                external: contract::External::default(),
                uid: None,
            },
            project,
            env_hash: "0123456789abcdef".into(),
            src_hash: "a1b2c3d4e5f6".into(),
            python_version: "3.11".into(),
            migrate: false,
            health_url: None,
            warm_url: None,
            graceful_timeout: 30,
            extra_env: vec![("SENTRY_ENVIRONMENT".into(), "blue".into())],
            copies: Default::default(),
            redis_maxmemory: "128mb".into(),
            redis_policy: "noeviction".into(),
            tls: None,
            suite: "trixie".into(),
            allow: Vec::new(),
            backup: None,
        }
    }

    #[test]
    fn environment_is_the_contracts_then_the_extra() {
        let i = input(false);
        let ctx = site_context(&i).unwrap();
        let want: Vec<(String, String)> = contract::runtime_env(&i.site);
        let got: Vec<(String, String)> = ctx
            .environment
            .iter()
            .map(|v| (v.key.clone(), v.value.clone()))
            .collect();
        assert_eq!(&got[..want.len()], &want[..]);
        assert_eq!(
            got[want.len()..],
            [("SENTRY_ENVIRONMENT".to_string(), "blue".to_string())]
        );
        assert_eq!(ctx.static_url, "/static/");
        assert_eq!(ctx.wsgi_callable, "demo.wsgi:application");
        assert_eq!(ctx.health_path, "/health/");
        let mut j = i.clone();
        j.health_url = Some("/ping/".into());
        assert_eq!(site_context(&j).unwrap().health_path, "/ping/");
        // The warm-up path is the health path unless the variant names one.
        assert_eq!(site_context(&j).unwrap().warm_path, "/ping/");
        j.warm_url = Some("/".into());
        let k = site_context(&j).unwrap();
        assert_eq!(
            (k.health_path.as_str(), k.warm_path.as_str()),
            ("/ping/", "/")
        );
        assert_eq!(ctx.health_timeout, 30);
        assert_eq!(ctx.gunicorn_args, contract::gunicorn_args(&i.site));
        assert!(ctx.celery_args.is_empty() && ctx.celery_app.is_none());
        assert!(ctx.broker.is_none());
    }

    #[test]
    fn secrets_follow_the_contract() {
        let i = input(true);
        let ctx = site_context(&i).unwrap();
        // Every secret variable of the contract, nothing else.
        let mut keys: Vec<&str> = ctx.secrets.iter().map(|s| s.key.as_str()).collect();
        keys.sort();
        let mut want: Vec<String> = contract::secret_env_parts(&i.site)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        want.sort();
        assert_eq!(keys, want);
        for s in contract::secrets_needed(&i.site) {
            let got = ctx.secrets.iter().find(|x| x.key == s.variable()).unwrap();
            assert_eq!(
                got.value,
                SecretValue::Generated {
                    bytes: s.bytes() as u32
                }
            );
        }
        // The composed ones expand, with known passwords, to the contract's values.
        let fake = contract::Secrets::fake();
        let value_of = |k: &str| match k {
            "SECRET_KEY" => fake.secret_key.clone(),
            "DATABASE_PASSWORD" => fake.database_password.clone(),
            "BROKER_PASSWORD" => fake.broker_password.clone(),
            "REDIS_PASSWORD" => fake.redis_password.clone(),
            _ => panic!("{k}"),
        };
        for (name, value) in contract::secret_env(&i.site, &fake) {
            let s = ctx.secrets.iter().find(|s| s.key == name).unwrap();
            let got = match &s.value {
                SecretValue::Generated { .. } => value_of(&s.key),
                SecretValue::Composed { pieces } => pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Text(t) => t.clone(),
                        Piece::Secret(k) => value_of(k),
                    })
                    .collect(),
            };
            assert_eq!(got, value, "{name}");
        }
        let db = ctx.database.as_ref().unwrap();
        assert_eq!(
            (db.name.as_str(), db.user.as_str()),
            ("demo-blue", "demo-blue")
        );
        let b = ctx.broker.as_ref().unwrap();
        assert_eq!(b.password_secret, "BROKER_PASSWORD");
        assert_eq!(ctx.celery_args, contract::celery_args("demo.celery:app"));
    }

    #[test]
    fn redis_as_broker_replaces_rabbitmq() {
        let mut i = input(true);
        i.site.redis = true;
        i.site.redis_broker = true;
        let ctx = site_context(&i).unwrap();
        assert!(ctx.broker.is_none(), "no RabbitMQ user for a Redis broker");
        let r = ctx.redis.as_ref().unwrap();
        assert_eq!(
            (
                r.maxmemory.as_str(),
                r.policy.as_str(),
                r.password_secret.as_str()
            ),
            ("128mb", "noeviction", "REDIS_PASSWORD")
        );
        let broker = ctx
            .secrets
            .iter()
            .find(|s| s.key == "CELERY_BROKER_URL")
            .unwrap();
        assert_eq!(
            broker.value,
            SecretValue::Composed {
                pieces: vec![
                    Piece::Text("redis+socket://:".into()),
                    Piece::Secret("REDIS_PASSWORD".into()),
                    Piece::Text("@/run/redis-demo-blue/redis.sock?virtual_host=1".into()),
                ]
            }
        );
        assert!(!ctx.secrets.iter().any(|s| s.key == "BROKER_PASSWORD"));
        i.redis_policy = "lru".into();
        assert!(site_context(&i).unwrap_err().to_string().contains("policy"));
    }

    #[test]
    fn reserved_extra_variables_are_refused() {
        for key in [
            "SECRET_KEY",
            "DATABASE_URL",
            "STATIC_ROOT",
            "PYTHONPATH",
            "DJDD_X",
        ] {
            let mut i = input(false);
            i.extra_env.push((key.into(), "x".into()));
            let e = site_context(&i).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("deploy contract"), "{e}");
        }
    }

    #[test]
    fn celery_without_an_app_is_refused() {
        let mut i = input(true);
        i.project.celery = None;
        let e = site_context(&i).unwrap_err().to_string();
        assert!(e.contains("celery app"), "{e}");
    }

    #[test]
    fn wsgi_defaults_from_the_sites_settings() {
        let mut i = input(false);
        i.project.wsgi = None;
        i.site.settings = "other.settings.prod".into();
        let ctx = site_context(&i).unwrap();
        assert_eq!(ctx.wsgi_callable, "other.wsgi:application");
        assert_eq!(ctx.settings_module, "other.settings.prod");
    }
}
