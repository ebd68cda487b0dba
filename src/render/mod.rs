//! Renders the generated files of the site package NAME-site-VARIANT (nginx
//! site, systemd units, control utility, launcher, environment file,
//! maintenance page, maintainer scripts) from embedded templates and a
//! [`SiteContext`].
//!
//! Pure: templates are embedded at compile time (`include_str!` of
//! `debian-templates/` and `maintainer-scripts/`); a user's override
//! templates are handed in as a name -> text map by `ops`, which reads them.
//! Never touches the disk, never runs a process. minijinja is set up with
//! strict undefined behaviour, no auto-escaping (each value goes through the
//! filter for its target syntax: see [`filters`]), and trailing newlines
//! kept. Follows Debian Policy ch. 6 (maintainer scripts and the arguments
//! dpkg passes), ch. 9.3 (services), and the deploy contract.

mod context;
pub mod contract_docs;
pub mod filters;
mod site;

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior, syntax::SyntaxConfig};
use serde::Serialize;

pub use context::{
    BACKUP_JOB, Broker, Database, EnvVar, ExternalValue, Job, JobKind, Piece, Redis,
    ReleaseCommand, Sandbox, Secret, SecretValue, SiteContext, Tls,
};
pub use site::{SiteInput, site_context};

/// The site's paths: the deploy contract's definition.
pub use crate::contract::Layout;

use crate::error::{Error, Result};

/// One generated file of the site package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Absolute install path (`/usr/bin/blog-blue`), or a control member
    /// (`DEBIAN/postinst`).
    pub path: String,
    /// Permission bits (0o644 or 0o755).
    pub mode: u32,
    pub contents: String,
    /// Whether the path belongs in DEBIAN/conffiles. Only the logrotate
    /// file is one (the Debian way to change a rotation); everything else
    /// is overridden through local.env, systemd drop-ins and nginx.d/ (see
    /// docs/site-package.md).
    pub is_conffile: bool,
}

/// Where manual pages go: the site package gzips the files rendered
/// below it (`NAME.8` becomes `NAME.8.gz`, Debian Policy 12.1).
pub const MAN_DIR: &str = "/usr/share/man/";

/// The embedded templates: (name, text). A user override directory may
/// replace any of them by holding a file of the same name.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "nginx.conf",
        include_str!("../../debian-templates/nginx.conf"),
    ),
    (
        "nginx-tls.conf",
        include_str!("../../debian-templates/nginx-tls.conf"),
    ),
    (
        "nginx-upstream.inc",
        include_str!("../../debian-templates/nginx-upstream.inc"),
    ),
    (
        "nginx-site.inc",
        include_str!("../../debian-templates/nginx-site.inc"),
    ),
    (
        "gunicorn.socket",
        include_str!("../../debian-templates/gunicorn.socket"),
    ),
    (
        "gunicorn.service",
        include_str!("../../debian-templates/gunicorn.service"),
    ),
    (
        "celery.service",
        include_str!("../../debian-templates/celery.service"),
    ),
    (
        "process.service",
        include_str!("../../debian-templates/process.service"),
    ),
    (
        "process.target",
        include_str!("../../debian-templates/process.target"),
    ),
    (
        "timer.service",
        include_str!("../../debian-templates/timer.service"),
    ),
    (
        "timer.timer",
        include_str!("../../debian-templates/timer.timer"),
    ),
    (
        "backup.service",
        include_str!("../../debian-templates/backup.service"),
    ),
    (
        "backup.inc",
        include_str!("../../debian-templates/backup.inc"),
    ),
    (
        "redis.dropin",
        include_str!("../../debian-templates/redis.dropin"),
    ),
    (
        "hardening.inc",
        include_str!("../../debian-templates/hardening.inc"),
    ),
    (
        "upstream.inc",
        include_str!("../../debian-templates/upstream.inc"),
    ),
    (
        "serving.inc",
        include_str!("../../debian-templates/serving.inc"),
    ),
    (
        "siteuser.inc",
        include_str!("../../debian-templates/siteuser.inc"),
    ),
    (
        "switch.inc",
        include_str!("../../debian-templates/switch.inc"),
    ),
    (
        "scale.inc",
        include_str!("../../debian-templates/scale.inc"),
    ),
    (
        "rollback.inc",
        include_str!("../../debian-templates/rollback.inc"),
    ),
    (
        "control.sh",
        include_str!("../../debian-templates/control.sh"),
    ),
    (
        "launch.sh",
        include_str!("../../debian-templates/launch.sh"),
    ),
    (
        "envfile.py",
        include_str!("../../debian-templates/envfile.py"),
    ),
    ("site.env", include_str!("../../debian-templates/site.env")),
    (
        "local.env.example",
        include_str!("../../debian-templates/local.env.example"),
    ),
    (
        "maintenance.html",
        include_str!("../../debian-templates/maintenance.html"),
    ),
    (
        "migrations.inc",
        include_str!("../../debian-templates/migrations.inc"),
    ),
    (
        "status.inc",
        include_str!("../../debian-templates/status.inc"),
    ),
    (
        "secrets.inc",
        include_str!("../../debian-templates/secrets.inc"),
    ),
    ("tls.inc", include_str!("../../debian-templates/tls.inc")),
    (
        "logrotate.conf",
        include_str!("../../debian-templates/logrotate.conf"),
    ),
    (
        "control.8",
        include_str!("../../debian-templates/control.8"),
    ),
    (
        "constants.sh",
        include_str!("../../maintainer-scripts/constants.sh"),
    ),
    ("preinst", include_str!("../../maintainer-scripts/preinst")),
    (
        "postinst",
        include_str!("../../maintainer-scripts/postinst"),
    ),
    ("prerm", include_str!("../../maintainer-scripts/prerm")),
    ("postrm", include_str!("../../maintainer-scripts/postrm")),
];

/// The names a user override directory may hold.
pub fn template_names() -> impl Iterator<Item = &'static str> {
    TEMPLATES.iter().map(|(n, _)| *n)
}

/// What the templates see: the context, its derived values and the layout.
#[derive(Serialize)]
struct View<'a> {
    #[serde(flatten)]
    ctx: &'a SiteContext,
    user: String,
    package: String,
    env_package: String,
    src_package: String,
    env_path: String,
    src_path: String,
    server_names: Vec<String>,
    celery: bool,
    app_subdir: String,
    python: String,
    layout: Layout,
    srv_links: Vec<(String, String)>,
    layout_env_files: Vec<(String, bool)>,
    writable: Vec<(String, bool)>,
    /// The units postinst enables and starts for the processes
    /// (`NAME-VARIANT-P.target`), and for the timers.
    process_units: Vec<String>,
    timer_units: Vec<String>,
    /// The most copies of a process a host may run (`scale`).
    max_copies: i64,
    /// The process or timer a per-job template is rendered for.
    job: Option<Job>,
    /// The gunicorn a gunicorn.socket or gunicorn.service is rendered for.
    slot: Option<Slot>,
}

/// One of the site's two gunicorn units: `main` serves; `next` runs the
/// release a switch moves to, beside main, until main runs it too
/// (docs/site-package.md, The switch).
#[derive(Clone, Debug, serde::Serialize)]
struct Slot {
    name: &'static str,
    socket: String,
    socket_unit: String,
    service_unit: String,
    /// gunicorn's control directory in the run directory.
    runtime: &'static str,
}

impl Slot {
    fn main(l: &crate::contract::Layout) -> Slot {
        Slot {
            name: "main",
            socket: l.socket.clone(),
            socket_unit: l.socket_unit.clone(),
            service_unit: l.service_unit.clone(),
            runtime: "gunicorn",
        }
    }

    fn next(l: &crate::contract::Layout) -> Slot {
        Slot {
            name: "next",
            socket: l.next_socket.clone(),
            socket_unit: l.next_socket_unit.clone(),
            service_unit: l.next_service_unit.clone(),
            runtime: "gunicorn-next",
        }
    }
}

fn environment(overrides: Option<&BTreeMap<String, String>>) -> Result<Environment<'static>> {
    if let Some(o) = overrides {
        if let Some(unknown) = o.keys().find(|k| !TEMPLATES.iter().any(|(n, _)| n == k)) {
            return Err(Error::invalid_hint(
                format!("template override '{unknown}'"),
                "is not a template of the site package",
                format!(
                    "override one of: {}",
                    template_names().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| Error::invalid("template syntax", e.to_string()))?,
    );
    let user: BTreeMap<String, String> = overrides.cloned().unwrap_or_default();
    env.set_loader(move |name| {
        if let Some(text) = user.get(name) {
            return Ok(Some(text.clone()));
        }
        Ok(TEMPLATES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t.to_string()))
    });
    env.add_filter("shell_quote", |v: String| filters::shell_quote(&v));
    env.add_filter("shell_word", |v: String| filters::shell_word(&v));
    env.add_filter("env_quote", |v: String| filters::env_quote(&v));
    env.add_filter("unit_word", |v: String| filters::unit_word(&v));
    env.add_filter("nginx_token", |v: String| filters::nginx_token(&v));
    env.add_filter("command_word", |v: String| filters::command_word(&v));
    Ok(env)
}

fn view(ctx: &SiteContext) -> View<'_> {
    let layout = ctx.layout();
    let mains = |kind: JobKind| -> Vec<String> {
        ctx.jobs
            .iter()
            .filter(|j| j.kind == kind)
            .map(|j| j.units.main.clone())
            .collect()
    };
    View {
        ctx,
        user: ctx.user(),
        package: ctx.package(),
        env_package: ctx.env_package(),
        src_package: ctx.src_package(),
        env_path: ctx.env_path(),
        src_path: ctx.src_path(),
        server_names: ctx.server_names(),
        celery: ctx.celery(),
        app_subdir: ctx.app_subdir(),
        python: format!("/usr/bin/python{}", ctx.python_version),
        layout: layout.clone(),
        srv_links: layout.srv_links(),
        layout_env_files: layout
            .env_files()
            .iter()
            .map(|(f, o)| (f.to_string(), *o))
            .collect(),
        writable: layout.writable(),
        process_units: mains(JobKind::Process),
        timer_units: mains(JobKind::Timer),
        max_copies: crate::rules::values::MAX_COPIES,
        job: None,
        slot: None,
    }
}

/// Renders one template by name (used by `site_files`; public so that tests
/// and `djdd` diagnostics can show a single file).
pub fn render_template(
    ctx: &SiteContext,
    name: &str,
    overrides: Option<&BTreeMap<String, String>>,
) -> Result<String> {
    ctx.validate()?;
    let env = environment(overrides)?;
    render_with(&env, ctx, name)
}

fn render_with(env: &Environment<'_>, ctx: &SiteContext, name: &str) -> Result<String> {
    let slot = name
        .starts_with("gunicorn.")
        .then(|| Slot::main(&ctx.layout()));
    render_view(env, ctx, name, None, slot)
}

/// Renders template `name`, for the process or timer `job` when given.
fn render_job(
    env: &Environment<'_>,
    ctx: &SiteContext,
    name: &str,
    job: Option<&Job>,
) -> Result<String> {
    render_view(env, ctx, name, job, None)
}

fn render_view(
    env: &Environment<'_>,
    ctx: &SiteContext,
    name: &str,
    job: Option<&Job>,
    slot: Option<Slot>,
) -> Result<String> {
    let tmpl = env
        .get_template(name)
        .map_err(|e| template_error(name, e))?;
    let mut v = view(ctx);
    v.job = job.cloned();
    v.slot = slot;
    tmpl.render(minijinja::value::Serde(v))
        .map_err(|e| template_error(name, e))
}

/// A minijinja error with its chain of causes, on one line.
pub fn error_chain(e: &minijinja::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

fn template_error(name: &str, e: minijinja::Error) -> Error {
    let msg = error_chain(&e);
    Error::invalid_hint(
        format!("template '{name}'"),
        msg,
        "check the template (or your override of it) and the values it uses",
    )
}

/// Renders every generated file of NAME-site-VARIANT, in a fixed order.
/// `overrides` maps template names (see [`template_names`]) to replacement
/// text, as read from the user's override directory.
pub fn site_files(
    ctx: &SiteContext,
    overrides: Option<&BTreeMap<String, String>>,
) -> Result<Vec<RenderedFile>> {
    ctx.validate()?;
    let env = environment(overrides)?;
    let l = ctx.layout();
    let mut plan: Vec<(String, &str, u32)> = vec![(l.nginx_conf.clone(), "nginx.conf", 0o644)];
    if ctx.tls.is_some() {
        plan.push((l.nginx_tls_conf.clone(), "nginx-tls.conf", 0o644));
    }
    plan.extend([
        (
            format!("{}/{}", l.unit_dir, l.socket_unit),
            "gunicorn.socket",
            0o644,
        ),
        (
            format!("{}/{}", l.unit_dir, l.service_unit),
            "gunicorn.service",
            0o644,
        ),
    ]);
    if ctx.celery() {
        plan.push((
            format!("{}/{}", l.unit_dir, l.celery_unit),
            "celery.service",
            0o644,
        ));
    }
    if ctx.redis.is_some() {
        plan.push((l.redis_dropin.clone(), "redis.dropin", 0o644));
    }
    plan.extend([
        (l.control.clone(), "control.sh", 0o755),
        // Uncompressed here (the goldens show it): the site package gzips
        // every file under /usr/share/man/ ([`MAN_DIR`]).
        (
            l.man_page.trim_end_matches(".gz").to_string(),
            "control.8",
            0o644,
        ),
        (l.logrotate_conf.clone(), "logrotate.conf", 0o644),
        (l.launcher.clone(), "launch.sh", 0o755),
        (l.envfile.clone(), "envfile.py", 0o644),
        (l.site_env.clone(), "site.env", 0o644),
        (l.local_env_example.clone(), "local.env.example", 0o644),
        (
            format!("{}/index.html", l.maintenance_dir),
            "maintenance.html",
            0o644,
        ),
        ("DEBIAN/preinst".to_string(), "preinst", 0o755),
        ("DEBIAN/postinst".to_string(), "postinst", 0o755),
        ("DEBIAN/prerm".to_string(), "prerm", 0o755),
        ("DEBIAN/postrm".to_string(), "postrm", 0o755),
    ]);
    let mut files: Vec<RenderedFile> = plan
        .into_iter()
        .map(|(path, name, mode)| {
            Ok(RenderedFile {
                is_conffile: name == "logrotate.conf",
                path,
                mode,
                contents: render_with(&env, ctx, name)?,
            })
        })
        .collect::<Result<_>>()?;
    // The next gunicorn's units: the same templates, for the next slot.
    for (unit, template) in [
        (&l.next_socket_unit, "gunicorn.socket"),
        (&l.next_service_unit, "gunicorn.service"),
    ] {
        files.push(RenderedFile {
            path: format!("{}/{unit}", l.unit_dir),
            mode: 0o644,
            contents: render_view(&env, ctx, template, None, Some(Slot::next(&l)))?,
            is_conffile: false,
        });
    }
    // Each process's and timer's units, after the fixed files.
    for job in &ctx.jobs {
        for unit in &job.units.files {
            let template = match (job.kind, unit.rsplit('.').next()) {
                (JobKind::Timer, Some("timer")) => "timer.timer",
                (JobKind::Timer, _) if job.keep > 0 => "backup.service",
                (JobKind::Timer, _) => "timer.service",
                (_, Some("target")) => "process.target",
                _ => "process.service",
            };
            files.push(RenderedFile {
                path: format!("{}/{unit}", l.unit_dir),
                mode: 0o644,
                contents: render_job(&env, ctx, template, Some(job))?,
                is_conffile: false,
            });
        }
    }
    Ok(files)
}

/// Debian packages the rendered scripts call at run time, beyond the env
/// and src packages: the site package's Depends must include them.
pub fn script_depends(ctx: &SiteContext) -> Vec<&'static str> {
    let mut d = vec![
        "adduser", // postinst: adduser --system
        "nginx",   // the site; `nginx -t` in postinst (any nginx flavour)
        "curl",    // postinst health check through gunicorn's unix socket
        "systemd", // the units; systemctl in the control utility
    ];
    if ctx.database.is_some() {
        d.push("postgresql-client"); // psql in postinst
    }
    if let Some(t) = &ctx.tls {
        d.push("openssl"); // the control utility checks certificate and key
        if t.mode == crate::config::variant::TlsMode::Acme {
            d.push("certbot"); // gets and renews the certificate
        }
    }
    d
}
