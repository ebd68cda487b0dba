//! What runs the site: the app server (gunicorn, djdd's pins, uvicorn's
//! worker for ASGI), the units of a process or timer, and the gunicorn and
//! celery command lines the site's launcher runs.
//!
//! Never runs a process: command lines are only built here. Imports
//! nothing of the crate outside the contract; pure.

use super::Site;

/// The units of one process or timer of a site (`[processes.P]`,
/// `[timers.T]` in djdd.toml): `NAME-VARIANT-P`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProcessUnits {
    /// `NAME-VARIANT-P`.
    pub base: String,
    /// The unit postinst enables and starts, prerm stops, and `restart`
    /// restarts: `BASE.target` for a process (its instances
    /// `BASE@1.service` ... `BASE@N.service`, N the host's count, are
    /// `PartOf=` it and wanted by it through links), `BASE.timer` for a
    /// timer.
    pub main: String,
    /// The unit files the site package ships, by name.
    pub files: Vec<String>,
}

impl ProcessUnits {
    /// A process: whatever its copies, a target and a template service, so
    /// that each host may run any count of it (`NAME-VARIANT scale`).
    pub fn process(unit: &str, process: &str) -> ProcessUnits {
        let base = format!("{unit}-{process}");
        ProcessUnits {
            main: format!("{base}.target"),
            files: vec![format!("{base}.target"), format!("{base}@.service")],
            base,
        }
    }

    /// A timer: `BASE.timer` and the oneshot `BASE.service` it starts.
    pub fn timer(unit: &str, timer: &str) -> ProcessUnits {
        let base = format!("{unit}-{timer}");
        ProcessUnits {
            main: format!("{base}.timer"),
            files: vec![format!("{base}.timer"), format!("{base}.service")],
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
    use crate::contract::tests::blue;

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
}
