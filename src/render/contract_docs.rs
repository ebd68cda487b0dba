//! The generated parts of `docs/contract.md`: tables of the variables, the
//! placeholders, the paths and the command lines, made from the contract's
//! definition in code, and the function that puts them between the
//! document's `<!-- BEGIN x -->` / `<!-- END x -->` markers.
//!
//! Part of `render` (not of `contract`, the ground floor): it also reads
//! the project file's key table (`config::project::KEYS`) and renders
//! command lines with render's own shell quoting.
//!
//! Pure: takes and returns text. The test `tests/contract_docs.rs` compares
//! the committed document with a regenerated one (`DJDD_UPDATE_DOCS=1`
//! rewrites it).

use crate::contract::{
    Layout, PLACEHOLDERS, Reads, Site, VARIABLES, VERSION, Variable, When, celery_args,
    gunicorn_args,
};

/// The generated blocks, by marker name, in document order.
pub const BLOCKS: &[&str] = &[
    "contract-version",
    "contract-project-keys",
    "contract-variables",
    "contract-placeholders",
    "contract-env-files",
    "contract-paths",
    "contract-commands",
    "contract-external",
];

/// The text of one generated block (without markers).
pub fn block(name: &str, vars: &[Variable]) -> Option<String> {
    Some(match name {
        "contract-version" => format!(
            "This is version **{VERSION}** of the contract. A project declares it with `contract = {VERSION}` in `djdd.toml`.\n"
        ),
        "contract-project-keys" => project_keys_table(),
        "contract-variables" => variables_table(vars),
        "contract-placeholders" => placeholders_table(),
        "contract-env-files" => env_files_list(),
        "contract-paths" => paths_table(),
        "contract-commands" => commands_block(),
        "contract-external" => external_table(),
        _ => return None,
    })
}

/// The values a site with an external service gets from its secrets
/// (`djdd variant --external`).
fn external_table() -> String {
    let mut out = String::from("| `--external` | Variable | Looks like |\n|---|---|---|\n");
    for e in crate::contract::EXTERNAL_VALUES {
        out.push_str(&format!(
            "| `{}` | `{}` | {} |\n",
            e.service.as_str(),
            e.name,
            e.looks_like
                .split(" or ")
                .map(|p| match p.split_once(' ') {
                    Some((url, note)) => format!("`{url}` {note}"),
                    None => code(p),
                })
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    out
}

fn code(s: &str) -> String {
    format!("`{s}`")
}

/// The table of variables: name, build-time value, run-time value, whether
/// settings must read it, meaning.
pub fn variables_table(vars: &[Variable]) -> String {
    let mut out = String::from(
        "| Variable | Build time | Run time | Settings | Meaning |\n|---|---|---|---|---|\n",
    );
    for v in vars {
        let build = v.build.map(code).unwrap_or_else(|| "unset".into());
        let mut run = v.run.map(code).unwrap_or_else(|| "unset".into());
        if v.secret {
            run.push_str(" (secret)");
        }
        match v.when {
            When::Celery => run.push_str(" (celery with RabbitMQ)"),
            When::CeleryRedis => run.push_str(" (celery with `--broker redis`)"),
            When::Redis => run.push_str(" (sites with Redis)"),
            When::Always => {}
        }
        let reads = match v.reads {
            Reads::Must => "must read",
            Reads::May => "may read",
            Reads::No => "-",
        };
        out.push_str(&format!(
            "| `{}` | {build} | {run} | {reads} | {} |\n",
            v.name, v.meaning
        ));
    }
    out
}

fn project_keys_table() -> String {
    let mut out = String::from("| Key | Default | Meaning |\n|---|---|---|\n");
    for k in crate::config::project::KEYS {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            k.name, k.default, k.meaning
        ));
    }
    out
}

fn placeholders_table() -> String {
    let mut out = String::from("| Placeholder | Stands for |\n|---|---|\n");
    for (p, meaning) in PLACEHOLDERS {
        out.push_str(&format!("| `{{{p}}}` | {meaning} |\n"));
    }
    out
}

/// The environment files in the order the processes read them.
fn env_files_list() -> String {
    let l = Layout::new("NAME", "VARIANT");
    let what = |path: &str| {
        if path == l.current_site_env {
            format!(
                "the non-secret variables (the running release's copy of `{}`, generated at build time and shipped in the site package, not a conffile)",
                l.site_env
            )
        } else if path == l.secrets_env {
            "the *secret* variables, written by postinst on the target (generated secrets are made when missing and kept across upgrades, composed ones rebuilt from them; only root and the site user can read it)".to_string()
        } else {
            "the administrator's overrides (section 4)".to_string()
        }
    };
    let mut out = String::new();
    for (i, (path, optional)) in l.env_files().into_iter().enumerate() {
        let when = if optional { ", if it exists" } else { "" };
        out.push_str(&format!("{}. `{path}`{when}: {}.\n", i + 1, what(path)));
    }
    out
}

fn paths_table() -> String {
    let l = Layout::new("NAME", "VARIANT");
    let links: Vec<String> = l
        .srv_links()
        .iter()
        .map(|(link, target)| {
            let name = link.rsplit('/').next().unwrap_or(link);
            format!("`{name}` -> `{target}`")
        })
        .collect();
    let links = format!("convenience links: {}", links.join(", "));
    let units = format!(
        "{}/{{{}, {}, {}, {}, {}, NAME-VARIANT-P.target, NAME-VARIANT-P@.service, NAME-VARIANT-T.timer, NAME-VARIANT-T.service}}",
        l.unit_dir,
        l.socket_unit,
        l.service_unit,
        l.next_socket_unit,
        l.next_service_unit,
        l.celery_unit
    );
    let rows: Vec<(&str, &str, &str)> = vec![
        (
            &l.lib_dir,
            "root:root, read-only",
            "the site package's files",
        ),
        (
            &l.static_dir,
            "root:root, read-only",
            "STATIC_ROOT: collected at build time, served by nginx",
        ),
        (
            &l.site_env,
            "root:root 0644",
            "the non-secret run-time variables (generated, shipped, not a conffile)",
        ),
        (
            &l.launcher,
            "root:root 0755",
            "starts gunicorn, the celery worker, manage.py and the shell from a release",
        ),
        (
            &l.state_dir,
            "root:root 0711",
            "state; the site user's HOME (not writable by it); others may pass through (nginx reaches media and the offline flag) but list nothing",
        ),
        (
            &l.releases_dir,
            "root:NAME-VARIANT 0750",
            "one directory a version: `env` and `src` links to the env and src trees, a copy of site.env",
        ),
        (
            &l.current,
            "root:root",
            "link to the running release, switched atomically by postinst",
        ),
        (
            &l.offline_flag,
            "root:root",
            "while it exists, nginx answers 503 with the maintenance page",
        ),
        (
            &l.release_record,
            "root:root",
            "how the last run of the release commands went (`VERSION EPOCH ok|failed:N`), shown by `status`",
        ),
        (
            &l.migration_record,
            "root:root 0644",
            "the running release's unapplied migrations (`VERSION EPOCH COUNT`, then one `APP.NAME` a line), written at each configure and `manage migrate`, read by `status`",
        ),
        (
            &l.media_dir,
            "NAME-VARIANT:www-data 2750 (setgid: uploads get nginx's group)",
            "MEDIA_ROOT: uploads, served by nginx, readable by no other site; never removed",
        ),
        (&l.etc_dir, "root:NAME-VARIANT 0750", "configuration"),
        (
            &l.secrets_env,
            "root:NAME-VARIANT 0640",
            "the secret variables (made by postinst, kept on upgrade, removed on purge)",
        ),
        (
            &l.local_env,
            "root:NAME-VARIANT 0640",
            "the admin's overrides, read last (made from the package's example when missing, never overwritten)",
        ),
        (
            &l.scale_env,
            "root:root 0644",
            "this host's counts of the processes and timers, `NAME=N` lines (`NAME-VARIANT scale` writes it; it may be placed before install; kept on upgrade, removed on purge)",
        ),
        (
            &l.nginx_dropins,
            "root:root 0750",
            "the admin's nginx additions, included in the site's server block",
        ),
        (
            &l.data_dir,
            "NAME-VARIANT 0750",
            "DATA_DIR: the site's own files that are not uploads (celery beat's schedule); kept on purge",
        ),
        (
            &l.units_file,
            "root:root 0644",
            "the units the last configure enabled (the next one stops those a new version dropped)",
        ),
        (
            &l.log_dir,
            "NAME-VARIANT 0750",
            "LOG_DIR: the project's log files",
        ),
        (
            &l.logrotate_conf,
            "root:root 0644 (a conffile)",
            "LOG_DIR's `*.log` rotated weekly, 8 kept, compressed; `copytruncate`, so the application keeps writing to the same (emptied) file",
        ),
        (&l.srv_dir, "root:root", &links),
        (
            &l.run_dir,
            "root 0755 (made by the socket unit)",
            "runtime files; `gunicorn/` below it is the site user's (systemd RuntimeDirectory)",
        ),
        (
            &l.socket,
            "www-data 0660 (the socket unit's)",
            "gunicorn's socket, nginx proxies to it",
        ),
        (
            &units,
            "root:root 0644",
            "the systemd units: gunicorn's socket and service, the celery worker (with --celery), each process P (a target and a template service: instances `P@1` ... `P@N`, N the host's count) and each timer T",
        ),
        (&l.control, "root:root 0755", "the control utility"),
        (
            &l.man_page,
            "root:root 0644",
            "the control utility's manual page, NAME-VARIANT(8)",
        ),
        (&l.nginx_link, "root:root", "link to the site's nginx.conf"),
        (
            "/usr/lib/NAME-env/HASH, /usr/lib/NAME-src/HASH",
            "root:root, read-only",
            "the virtualenv and the source (separate packages)",
        ),
    ];
    let mut out = String::from("| Path | Owner, mode | What |\n|---|---|---|\n");
    for (path, owner, what) in rows {
        out.push_str(&format!("| `{path}` | {owner} | {what} |\n"));
    }
    out
}

/// The command lines as the launcher runs them (the same functions give
/// launch.sh its arguments).
fn commands_block() -> String {
    let site = Site {
        name: "NAME".into(),
        variant: "VARIANT".into(),
        domain: "DOMAIN".into(),
        settings: "SETTINGS".into(),
        workers: 1,
        celery: true,
        redis_broker: false,
        redis: false,
        asgi: false,
        https_only: false,
        version: "VERSION".into(),
        commit: "COMMIT".into(),
        external: crate::contract::External::default(),
        uid: None,
    };
    let words = |args: Vec<String>| {
        args.iter()
            .map(|a| super::filters::shell_word(a))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let asgi = Site {
        redis_broker: false,
        redis: false,
        asgi: true,
        ..site.clone()
    };
    format!(
        "```\nENV_DIR/bin/gunicorn --chdir PROJECT_DIR {} WSGI\nENV_DIR/bin/gunicorn --chdir PROJECT_DIR {} ASGI\nENV_DIR/bin/celery {}\nENV_DIR/bin/python SRC_DIR/MANAGE_PY CMD ARG...      # a process or timer [\"manage.py\", CMD, ARG...]\nPROGRAM ARG...                                      # a process or timer [PROGRAM, ARG...], PATH=ENV_DIR/bin:/usr/bin:/bin\n```\n\ngunicorn comes from the project's requirements when they name it; otherwise djdd adds `{}` to the env (and `{}` for an ASGI project), as one more input of the env HASH.\n",
        words(gunicorn_args(&site)),
        words(gunicorn_args(&asgi)),
        words(celery_args("CELERY_APP")),
        crate::contract::GUNICORN_PIN,
        crate::contract::UVICORN_WORKER_PIN,
    )
}

/// A document whose generated blocks are wrong or missing markers.
#[derive(Debug, PartialEq, Eq)]
pub struct MarkerError(pub String);

impl std::fmt::Display for MarkerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "docs/contract.md: {}", self.0)
    }
}

impl std::error::Error for MarkerError {}

/// Returns `doc` with every generated block replaced by what the given
/// variables (normally [`VARIABLES`]) produce. Errors when a marker pair
/// is missing or out of order.
pub fn update_with(doc: &str, vars: &[Variable]) -> Result<String, MarkerError> {
    let mut out = doc.to_string();
    for name in BLOCKS {
        let begin = format!("<!-- BEGIN {name} -->\n");
        let end = format!("<!-- END {name} -->");
        let b = out
            .find(&begin)
            .ok_or_else(|| MarkerError(format!("missing the line `<!-- BEGIN {name} -->`")))?;
        let start = b + begin.len();
        let e = out[start..]
            .find(&end)
            .map(|i| i + start)
            .ok_or_else(|| MarkerError(format!("missing `{end}` after its BEGIN line")))?;
        let text = block(name, vars).expect("known block");
        out.replace_range(start..e, &text);
    }
    Ok(out)
}

/// [`update_with`] the contract's own variables.
pub fn update(doc: &str) -> Result<String, MarkerError> {
    update_with(doc, VARIABLES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_fills_blocks_and_is_idempotent() {
        let mut doc = String::from("# title\n");
        for b in BLOCKS {
            doc.push_str(&format!("<!-- BEGIN {b} -->\nstale\n<!-- END {b} -->\n"));
        }
        let once = update(&doc).unwrap();
        assert!(!once.contains("stale"));
        assert!(once.contains("| `SECRET_KEY` |"));
        assert_eq!(update(&once).unwrap(), once);
    }

    #[test]
    fn missing_marker_is_named() {
        let e = update("# nothing\n").unwrap_err();
        assert!(e.0.contains("contract-version"), "{e}");
    }

    #[test]
    fn secret_and_celery_marked() {
        let t = variables_table(VARIABLES);
        let line = t
            .lines()
            .find(|l| l.starts_with("| `CELERY_BROKER_URL`"))
            .unwrap();
        assert!(
            line.contains("(secret)") && line.contains("(celery with RabbitMQ)"),
            "{line}"
        );
    }
}
