//! `djdd variant NAME VARIANT [flags]` and `djdd variant NAME --list`:
//! create, update or list the variant files `D/variants/NAME/VARIANT.toml`
//! (format in `config::variant`, documented in docs/host.md). Reads and
//! writes the files (atomically); the rules are the pure config module's.

use std::path::Path;
use std::process::ExitCode;

use crate::builddir::{BuildDir, write_atomic};
use crate::cli::variant::VariantArgs;
use crate::config::project::{self, Project};
use crate::config::variant::{
    TlsMode, Variant, VariantUpdate, effective_table, split_env, split_process,
};
use crate::error::{Error, Result};
use crate::rules::names::{check_name, check_pair, shown};
use crate::source::{branches, default_branch, unknown_name};

/// Environment names a variant may not set because djdd's deploy contract
/// sets them for every site (entries ending in `*` are prefixes). The
/// contract module's list replaces this one when it lands.
pub const RESERVED_ENV: &[&str] = &[
    "DJANGO_SETTINGS_MODULE",
    "PYTHONPATH",
    "PATH",
    "HOME",
    "DJDD_*",
];

/// Reads and validates one variant file. NAME and VARIANT are checked
/// first: they make the file's path, which must stay in `D/variants/`.
pub fn load(bd: &BuildDir, name: &str, variant: &str) -> Result<Option<Variant>> {
    check_pair(name, variant)?;
    let path = bd.variant_file(name, variant);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    Variant::parse(
        name,
        variant,
        &text,
        &path.display().to_string(),
        RESERVED_ENV,
    )
    .map(Some)
}

/// The variants of NAME (file stems of D/variants/NAME/*.toml), sorted.
pub fn list_names(bd: &BuildDir, name: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(bd.variants_dir().join(name))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let stem = n.strip_suffix(".toml")?;
                    (!stem.starts_with('.')).then(|| stem.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A one-line summary of a variant.
pub fn summary(v: &Variant) -> String {
    let yn = |b: bool| if b { "yes" } else { "no" };
    let processes = if v.processes.is_empty() {
        String::new()
    } else {
        format!(
            ", processes {}",
            v.processes
                .iter()
                .map(|(p, n)| format!("{p}={n}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    let redis = if v.site_redis(false) {
        format!(", redis yes ({}, {})", v.redis_maxmemory, v.redis_policy)
    } else {
        String::new()
    };
    let broker = if v.celery && v.redis_broker() {
        ", broker redis"
    } else {
        ""
    };
    let tls = match v.tls {
        TlsMode::Off => String::new(),
        TlsMode::Files => ", tls files".to_string(),
        TlsMode::Acme => format!(
            ", tls acme ({}{})",
            v.acme_server,
            v.acme_email
                .as_deref()
                .map(|m| format!(", {m}"))
                .unwrap_or_default()
        ),
    };
    let warm = v
        .warm_url
        .as_deref()
        .map(|w| format!(", warm-up {w}"))
        .unwrap_or_default();
    let sandbox = if v.allow.is_empty() {
        String::new()
    } else {
        format!(", sandbox {}", v.sandbox())
    };
    let external = if v.external.is_empty() {
        String::new()
    } else {
        format!(", external {}", v.external_list())
    };
    let uid = v.uid.map(|n| format!(", uid {n}")).unwrap_or_default();
    let backup = v
        .backup
        .as_deref()
        .map(|c| format!(", backup {c} (keep {})", v.backup_keep))
        .unwrap_or_default();
    format!(
        "branch {}, domain {}, settings {}, workers {}, celery {}, migrate {}, memcached {}, health {}{warm}, graceful timeout {} s{}{processes}{redis}{broker}{tls}{sandbox}{external}{uid}{backup}",
        v.branch,
        v.domain,
        v.settings.as_deref().unwrap_or("(djdd.toml)"),
        v.workers,
        yn(v.celery),
        yn(v.migrate),
        yn(v.memcached),
        v.health_url,
        v.graceful_timeout,
        if v.env.is_empty() {
            String::new()
        } else {
            format!(
                ", env {}",
                v.env.keys().cloned().collect::<Vec<_>>().join(" ")
            )
        }
    )
}

/// `--branch [REMOTE:]BRANCH` -> BRANCH; REMOTE must be NAME or origin.
pub fn parse_branch_arg(name: &str, arg: &str) -> Result<String> {
    match arg.split_once(':') {
        Some((remote, branch)) => {
            if remote != name && remote != "origin" {
                return Err(Error::invalid_hint(
                    format!("--branch {}", shown(arg)),
                    format!(
                        "names the remote {}, but the only remote of {name} is its source",
                        shown(remote)
                    ),
                    format!("write {name}:BRANCH, origin:BRANCH or just BRANCH"),
                ));
            }
            Ok(branch.to_string())
        }
        None => Ok(arg.to_string()),
    }
}

pub fn run(args: &VariantArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    let name = args.name.as_str();
    check_name("NAME", name)?;
    if let Some(v) = &args.variant {
        check_pair(name, v)?;
    }
    let bd = BuildDir::open(dir)?;
    let _shared = bd.lock_shared()?;
    if !bd.source_repo(name).is_dir() {
        return Err(unknown_name(&bd, name).into());
    }
    if args.list {
        let mut bad: Vec<Error> = Vec::new();
        let names = list_names(&bd, name);
        if names.is_empty() {
            println!("{name}: no variants (add one with `djdd variant {name} VARIANT`)");
        }
        for v in names {
            match load(&bd, name, &v) {
                Ok(Some(var)) => println!("{v}: {}", summary(&var)),
                Ok(None) => {}
                Err(e) => bad.push(e),
            }
        }
        // Every file that loads is listed; those that do not are the
        // command's error, printed by main.
        return match bad.len() {
            0 => Ok(ExitCode::SUCCESS),
            1 => Err(bad.remove(0).into()),
            n => Err(anyhow::anyhow!(
                "{n} variant files of {name} do not load:\n{}",
                bad.iter()
                    .map(|e| format!("  {e}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )),
        };
    }
    let variant = args
        .variant
        .as_deref()
        .expect("clap requires VARIANT without --list");
    let _lock = bd.lock_named(
        &format!("variant-{name}-{variant}"),
        &format!("another djdd changing variant {name} {variant}"),
    )?;
    let path = bd.variant_file(name, variant);
    let repo = bd.source_repo(name);
    let current = match load(&bd, name, variant)? {
        Some(v) => v,
        None => {
            // A new variant builds the source's default branch (its
            // mirror's HEAD: `master` for many projects), not `main`.
            let mut v = Variant::new(name, variant)?;
            if let Some(b) = default_branch(&repo)? {
                v.branch = b;
            }
            v
        }
    };
    let flag = |on: bool, off: bool| {
        if on {
            Some(true)
        } else if off {
            Some(false)
        } else {
            None
        }
    };
    let mut update = VariantUpdate {
        branch: args
            .branch
            .as_deref()
            .map(|b| parse_branch_arg(name, b))
            .transpose()?,
        domain: args.domain.clone(),
        settings: args.settings.clone(),
        clear_settings: args.project_settings,
        workers: args.workers,
        celery: flag(args.celery, args.no_celery),
        migrate: flag(args.migrate, args.no_migrate),
        memcached: flag(args.memcached, args.no_memcached),
        health_url: args.health_url.clone(),
        warm_url: args.warm_url.clone(),
        graceful_timeout: args.graceful_timeout,
        env_set: Vec::new(),
        env_unset: args.unset_env.clone(),
        processes: Vec::new(),
        redis: flag(args.redis, args.no_redis),
        redis_maxmemory: args.redis_maxmemory.clone(),
        redis_policy: args.redis_policy.clone(),
        broker: args.broker.clone(),
        tls: args.tls.clone(),
        acme_server: args.acme_server.clone(),
        acme_email: args.acme_email.clone(),
        allow: args.allow.clone(),
        strict: args.strict,
        external: args.external.clone(),
        clear_external: args.no_external,
        uid: args.uid,
        clear_uid: args.no_uid,
        backup: if args.no_backup {
            Some(String::new())
        } else {
            args.backup.clone()
        },
        backup_keep: args.backup_keep,
    };
    for e in &args.env {
        update.env_set.push(split_env(e)?);
    }
    for p in &args.process {
        update.processes.push(split_process(p)?);
    }
    let asked_nothing = update == VariantUpdate::default();
    let new = current.apply(&update, RESERVED_ENV)?;
    if !update.processes.is_empty() {
        check_processes_exist(&repo, name, &new, &update.processes)?;
    }
    if !update.env_set.is_empty() {
        if let Some(project) = project_at_head(&repo, name, &new.branch) {
            for (k, _) in &update.env_set {
                if let Some(e) = secret_in_env(&project, name, variant, k) {
                    return Err(e.into());
                }
            }
        }
    }
    let text = new.to_toml();
    let existed = path.is_file();
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        let parent = path.parent().expect("variant file has a directory");
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        write_atomic(&path, text.as_bytes())?;
        println!(
            "{} {}: {}",
            if existed { "updated" } else { "created" },
            path.display(),
            summary(&new)
        );
    } else {
        println!("unchanged {}: {}", path.display(), summary(&new));
    }
    if asked_nothing {
        // No options: every effective value and where it comes from.
        let project = project_at_head(&repo, name, &new.branch);
        print!("{}", effective_table(&new.effective(project.as_ref())));
    }
    let known = branches(&bd.source_repo(name))?;
    if !known.iter().any(|(b, _)| *b == new.branch) {
        tracing::warn!(
            "{name} has no branch {} yet (branches: {}); `djdd build` needs it or --version",
            new.branch,
            known
                .iter()
                .map(|(b, _)| b.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The project as its djdd.toml (and manage.py, for the default settings
/// module) at the head of BRANCH make it; None, with a warning, when they
/// cannot be read.
fn project_at_head(repo: &Path, name: &str, branch: &str) -> Option<Project> {
    let read = || -> Result<Project> {
        let commit = crate::source::resolve(repo, None, branch)?;
        let text = |path: &str| -> Result<Option<String>> {
            Ok(crate::source::read_file(repo, &commit.id, path)?
                .map(|b| String::from_utf8_lossy(&b).into_owned()))
        };
        let file = text(project::FILE)?
            .map(|t| project::parse(&t))
            .transpose()?;
        let manage = file
            .as_ref()
            .and_then(|f| f.manage.clone())
            .unwrap_or_else(|| "manage.py".into());
        let manage_py = text(&manage)?;
        project::resolve(file.as_ref(), manage_py.as_deref())
    };
    read()
        .map_err(|e| tracing::warn!("cannot read {name}'s djdd.toml at the head of {branch}: {e}"))
        .ok()
}

/// The error for an `--env KEY` that the project declares as a secret
/// (`[secrets]` in its djdd.toml): site.env is in the package, and so in
/// the apt repository; a secret belongs in each host's secrets.env.
pub fn secret_in_env(project: &Project, name: &str, variant: &str, key: &str) -> Option<Error> {
    let s = project.secrets.iter().find(|s| s.name == key)?;
    Some(Error::invalid_hint(
        format!("--env {key}"),
        format!(
            "{key} is a secret of {name} (djdd.toml [secrets]: {}); site.env is shipped in the package, readable by anyone who reads the apt repository",
            s.description
        ),
        format!("set it on each host instead: echo VALUE | {name}-{variant} secrets set {key}"),
    ))
}

/// `--process NAME=N` must name a process of the project: its djdd.toml
/// at the head of the variant's branch. Nothing is written otherwise.
fn check_processes_exist(
    repo: &Path,
    name: &str,
    v: &Variant,
    asked: &[(String, i64)],
) -> Result<()> {
    let commit = match crate::source::resolve(repo, None, &v.branch) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(
                "cannot read {name}'s djdd.toml to check --process ({e}); `djdd build` checks it"
            );
            return Ok(());
        }
    };
    let text = crate::source::read_file(repo, &commit.id, crate::config::project::FILE)?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let defined: Vec<String> = crate::config::project::parse(&text)
        .map(|f| f.processes.keys().cloned().collect())
        .unwrap_or_default();
    for (p, _) in asked {
        if !defined.contains(p) {
            return Err(Error::invalid_hint(
                format!("--process {}", shown(p)),
                format!(
                    "{name} defines no process {} in djdd.toml at {} (branch {}); its processes: {}",
                    shown(p),
                    &commit.id[..12],
                    v.branch,
                    if defined.is_empty() {
                        "none".to_string()
                    } else {
                        defined.join(", ")
                    }
                ),
                "name one of its [processes.NAME] tables, or add the table to the project's djdd.toml first",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_argument_forms() {
        assert_eq!(parse_branch_arg("demo", "main").unwrap(), "main");
        assert_eq!(
            parse_branch_arg("demo", "demo:release/1").unwrap(),
            "release/1"
        );
        assert_eq!(parse_branch_arg("demo", "origin:dev").unwrap(), "dev");
        let e = parse_branch_arg("demo", "other:main")
            .unwrap_err()
            .to_string();
        assert!(e.contains("names the remote 'other'"), "{e}");
    }
}
