//! The static checks of the project's tree, the ones that need no Python:
//! djdd.toml, the required files, requirements.txt and its includes, the
//! Debian requirements, and that the named modules exist; then
//! [`static_checks_with`] runs them with the settings checks in order.
//!
//! Reads the tree only through [`Tree`]: never touches the disk, runs a
//! process or the probe.

use crate::config::project::{
    self, FILE as DJDD_TOML, Project, REQUIREMENTS, SRC_DEBIAN_REQUIREMENTS,
    VENV_DEBIAN_REQUIREMENTS,
};
use crate::contract;
use crate::error::Error;
use crate::plan::EnvSourceFile;

use super::settings::{settings_hardcoded, settings_read_variables};
use super::{Problem, Tree, module_file, read_text};

/// Everything the checks that need no Python found.
#[derive(Clone, Debug)]
pub struct StaticReport {
    /// The project as djdd will deploy it (with defaults; when djdd.toml
    /// is invalid, the defaults alone, so the other checks still run).
    pub project: Project,
    pub problems: Vec<Problem>,
    pub notes: Vec<String>,
    /// Whether the WSGI module's file exists in the tree (the probe then
    /// imports it; when it does not, the probe skips it, so one defect is
    /// reported once).
    pub wsgi_file_found: bool,
    /// Whether djdd's parser read requirements.txt and its includes without
    /// a problem (pip's own parser then checks them too; after a problem it
    /// would only repeat it).
    pub includes_complete: bool,
}

/// Runs every check that needs no Python, in order.
pub fn static_checks(tree: &dyn Tree) -> StaticReport {
    static_checks_with(tree, None)
}

/// A settings module named outside the tree (a variant's `--settings`,
/// which wins over djdd.toml and manage.py, as in `djdd build`).
#[derive(Clone, Debug)]
pub struct SettingsOverride {
    pub module: String,
    /// How to change it, for the fix of a problem with the module.
    pub fix: String,
}

/// [`static_checks`] with the settings module `settings` names: the module
/// checks and every later one use it.
pub fn static_checks_with(tree: &dyn Tree, settings: Option<&SettingsOverride>) -> StaticReport {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut project = djdd_toml(tree, &mut problems, &mut notes);
    if let Some(s) = settings {
        project.settings = Some(s.module.clone());
    }
    let source =
        match crate::plan::env_source_file(&project.env, &mut |p: &str| Ok(tree.read(p).is_some()))
        {
            Ok(s) => s,
            Err(e) => {
                problems.push(error_to_problem(
                    "djdd-toml",
                    DJDD_TOML,
                    e,
                    "fix [env] (docs/contract.md lists every key of djdd.toml)",
                ));
                EnvSourceFile::Requirements
            }
        };
    problems.extend(required_files(tree, &project, &source));
    let mut includes_complete = false;
    if source == EnvSourceFile::Requirements {
        let requirement_problems = requirements_files(tree);
        includes_complete = requirement_problems.is_empty() && tree.read(REQUIREMENTS).is_some();
        problems.extend(requirement_problems);
        if includes_complete {
            problems.extend(requirements_unpinned(tree));
        }
    } else {
        problems.extend(lock_files(tree, &source, &project, &mut notes));
    }
    problems.extend(debian_requirements(tree));
    let settings_fix = settings.map(|s| s.fix.as_str());
    let (module_problems, wsgi_file_found) = modules_exist(tree, &project, settings_fix);
    problems.extend(module_problems);
    problems.extend(settings_read_variables(tree, &project));
    problems.extend(settings_hardcoded(tree, &project));
    StaticReport {
        project,
        problems,
        notes,
        wsgi_file_found,
        includes_complete,
    }
}

/// `djdd.toml`: valid (known keys, valid values) and written for a
/// contract version this djdd implements. Returns the project, with
/// defaults when the file is missing or invalid.
fn djdd_toml(tree: &dyn Tree, problems: &mut Vec<Problem>, notes: &mut Vec<String>) -> Project {
    let manage_default = read_text(tree, "manage.py");
    let fallback =
        |manage: Option<&str>| project::resolve(None, manage).expect("the defaults are valid");
    let Some(text) = read_text(tree, DJDD_TOML) else {
        notes.push(format!(
            "no {DJDD_TOML}: checked with every default, against contract version {}",
            contract::VERSION
        ));
        return fallback(manage_default.as_deref());
    };
    let file = match project::parse(&text) {
        Ok(f) => f,
        Err(e) => {
            problems.push(error_to_problem(
                "djdd-toml",
                DJDD_TOML,
                e,
                "fix the key (docs/contract.md lists every key of djdd.toml and its default)",
            ));
            return fallback(manage_default.as_deref());
        }
    };
    let manage_path = file.manage.clone().unwrap_or_else(|| "manage.py".into());
    let manage = read_text(tree, &manage_path);
    match project::resolve(Some(&file), manage.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            problems.push(error_to_problem(
                "djdd-toml",
                DJDD_TOML,
                e,
                "fix the value (docs/contract.md lists every key of djdd.toml and its default)",
            ));
            fallback(manage_default.as_deref())
        }
    }
}

fn error_to_problem(
    check: &'static str,
    fallback_what: &str,
    e: Error,
    fallback_fix: &str,
) -> Problem {
    match e {
        Error::Invalid {
            what,
            problem,
            hint,
        } => Problem::error(
            check,
            what,
            problem,
            hint.unwrap_or_else(|| fallback_fix.into()),
        ),
        other => Problem::error(check, fallback_what, other.to_string(), fallback_fix),
    }
}

/// The files every project must have: requirements.txt (unless the env is
/// built from a lock) and manage.py.
fn required_files(tree: &dyn Tree, project: &Project, source: &EnvSourceFile) -> Vec<Problem> {
    let mut out = Vec::new();
    if *source == EnvSourceFile::Requirements && tree.read(REQUIREMENTS).is_none() {
        out.push(Problem::error(
            "required-file",
            REQUIREMENTS,
            "missing (or a symlink leaving the repository): djdd builds the virtualenv from it",
            "add requirements.txt at the repository root, listing the project's Python packages with pinned versions (pip's -r syntax), or commit the project's uv.lock or pylock.toml (djdd.toml's `env.requirements`)",
        ));
    }
    if tree.read(&project.manage).is_none() {
        out.push(Problem::error(
            "required-file",
            project.manage.clone(),
            "missing (or a symlink leaving the repository): djdd runs collectstatic, migrate and the control utility's `manage` through it",
            format!("add {} or set `manage = \"PATH\"` in {DJDD_TOML}", project.manage),
        ));
    }
    out
}

/// The project's lock, when the env is built from one: its files are
/// there and parse (a TOML error names the line); a note says what it
/// locks. Which of those a build installs depends on the root's Python
/// and architecture: the in-root check and `djdd build --plan` say.
fn lock_files(
    tree: &dyn Tree,
    source: &EnvSourceFile,
    project: &Project,
    notes: &mut Vec<String>,
) -> Vec<Problem> {
    let mut out = Vec::new();
    for f in source.files() {
        if tree.read(f).is_none() {
            out.push(Problem::error(
                "required-file",
                f,
                format!("missing (or a symlink leaving the repository): djdd builds the virtualenv from {}", source.path()),
                if f == project::PYPROJECT {
                    "commit the pyproject.toml that uv.lock locks, beside it".to_string()
                } else {
                    format!("commit {f} at the repository root, or name what the env is built from in {DJDD_TOML}'s `env.requirements`")
                },
            ));
        }
    }
    let path = source.path();
    let Some(text) = read_text(tree, path) else {
        return out;
    };
    let table: toml::Table = match toml::from_str(&text) {
        Ok(t) => t,
        Err(e) => {
            out.push(Problem::error(
                "lock-file",
                path,
                format!(
                    "does not parse: {}",
                    crate::rules::names::printable(e.to_string().trim_end())
                ),
                "write it again with `uv lock` (or `uv export --format pylock.toml`) and commit it",
            ));
            return out;
        }
    };
    let key = if *source == EnvSourceFile::UvLock {
        "package"
    } else {
        "packages"
    };
    // uv.lock lists the project itself too (a virtual or editable source).
    let mut names: Vec<String> = table
        .get(key)
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter(|p| {
            !p.get("source")
                .and_then(|s| s.as_table())
                .is_some_and(|s| s.contains_key("virtual") || s.contains_key("editable"))
        })
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?;
            let version = p.get("version").and_then(|v| v.as_str()).unwrap_or("?");
            Some(format!("{name}=={version}"))
        })
        .collect();
    names.sort();
    let list = |l: &[String]| {
        if l.is_empty() {
            "none".to_string()
        } else {
            l.join(", ")
        }
    };
    notes.push(format!(
        "env: from {path} (extras: {}; groups: {}): it locks {} distributions for every platform, extra and group: {}; a build installs what the chosen extras and groups need on the build root's Python and architecture (`djdd build --plan` counts them), {}",
        list(&project.env.extras),
        list(&project.env.groups),
        names.len(),
        names.join(" "),
        if project.env.install_project {
            "then the project itself, a wheel of the commit's tree (env.install_project)"
        } else {
            "never the project itself"
        }
    ));
    out
}

/// A warning for each requirement line that leaves its version to pip's
/// resolution (no `==`, no hash, and no constraint pins the name): two
/// builds of the same env HASH may then install different versions.
fn requirements_unpinned(tree: &dyn Tree) -> Vec<Problem> {
    let mut read = |path: &str| Ok(tree.read(path));
    let Ok(req) = crate::plan::load_requirements(REQUIREMENTS, &mut read) else {
        return Vec::new();
    };
    let Ok(lines) = crate::plan::unpinned_lines(&req, &mut read) else {
        return Vec::new();
    };
    lines
        .into_iter()
        .map(|u| {
            Problem::warning(
                "requirements-unpinned",
                format!("{}:{}", u.path, u.line),
                format!(
                    "`{}` is not pinned (`==` or a hash): the env HASH names the requirement files, not what they resolve to, so a later build of the same HASH may install another version",
                    u.text
                ),
                "pin it with `==` here or in a constraints file (-c); each env package records what its build resolved in /usr/share/NAME-env/HASH/requirements.lock, whose pins can be copied",
            )
        })
        .collect()
}

/// `requirements.txt` and every file it includes, read with djdd's own
/// requirements parser (`plan::check_requirements`, the one the build
/// uses): every line it cannot parse, and every include that is missing,
/// leaves the repository or closes a loop, each with file:line. Nothing
/// when requirements.txt itself is missing ([`required_files`] says so).
pub fn requirements_files(tree: &dyn Tree) -> Vec<Problem> {
    if tree.read(REQUIREMENTS).is_none() {
        return Vec::new();
    }
    let mut read = |path: &str| Ok(tree.read(path));
    crate::plan::check_requirements(REQUIREMENTS, &mut read)
        .into_iter()
        .map(|e| {
            let check = if is_include_problem(&e) {
                "requirements-include"
            } else {
                "requirements-line"
            };
            error_to_problem(
                check,
                REQUIREMENTS,
                e,
                "fix the line (one requirement specifier or pip option a line)",
            )
        })
        .collect()
}

/// Whether the parser's error is about a `-r`/`-c` line (its `what` is
/// `FILE:LINE: 'LINE TEXT'`).
fn is_include_problem(e: &Error) -> bool {
    let Error::Invalid { what, .. } = e else {
        return false;
    };
    let Some((_, text)) = what.split_once(": '") else {
        return false;
    };
    ["-r", "-c", "--requirement", "--constraint"]
        .iter()
        .any(|o| text.starts_with(o))
}

/// `venv-debian-requirements.txt` and `src-debian-requirements.txt`
/// (optional): every line a package name and `build`/`run`.
fn debian_requirements(tree: &dyn Tree) -> Vec<Problem> {
    let mut out = Vec::new();
    for file in [VENV_DEBIAN_REQUIREMENTS, SRC_DEBIAN_REQUIREMENTS] {
        let Some(text) = read_text(tree, file) else {
            continue;
        };
        if let Err(errors) = project::parse_debian_requirements(file, &text) {
            for e in errors {
                out.push(error_to_problem(
                    "debian-requirements",
                    file,
                    e,
                    "write one package a line, then `build`, `run` or both",
                ));
            }
        }
    }
    out
}

/// The settings, WSGI and celery modules exist in the project tree.
/// `settings_fix`: how to change the settings module when it was named
/// outside djdd.toml (default: set it in djdd.toml).
fn modules_exist(
    tree: &dyn Tree,
    project: &Project,
    settings_fix: Option<&str>,
) -> (Vec<Problem>, bool) {
    let mut out = Vec::new();
    let dir = &project.project_dir;
    let shown_dir = if dir.is_empty() {
        "the repository root".to_string()
    } else {
        format!("{dir}/")
    };
    match &project.settings {
        None => out.push(Problem::error(
            "settings-module",
            DJDD_TOML,
            format!("no settings module: {DJDD_TOML} does not set `settings` and {} does not name one with os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", ...)", project.manage),
            format!("set `settings = \"PKG.settings\"` in {DJDD_TOML}"),
        )),
        Some(s) => {
            if module_file(tree, dir, s).is_none() {
                let base = s.replace('.', "/");
                out.push(Problem::error(
                    "settings-module",
                    format!("settings module {s}"),
                    format!("neither {base}.py nor {base}/__init__.py exists (relative to {shown_dir})"),
                    settings_fix.map_or_else(
                        || format!("set `settings` in {DJDD_TOML} to the settings module's dotted name"),
                        str::to_string,
                    ),
                ));
            }
        }
    }
    let mut wsgi_found = false;
    if let Some(w) = &project.wsgi {
        let module = w.split(':').next().unwrap_or(w);
        wsgi_found = module_file(tree, dir, module).is_some();
        if !wsgi_found {
            let base = module.replace('.', "/");
            out.push(Problem::error(
                "wsgi",
                format!("WSGI callable {w}"),
                format!("module {module} not found: neither {base}.py nor {base}/__init__.py exists (relative to {shown_dir})"),
                format!("set `wsgi = \"MODULE:CALLABLE\"` in {DJDD_TOML} (the default is PKG.wsgi:application, PKG the settings' package)"),
            ));
        }
    }
    if let Some(c) = &project.celery {
        let module = c.split(':').next().unwrap_or(c);
        if module_file(tree, dir, module).is_none() {
            out.push(Problem::error(
                "celery",
                format!("celery app {c}"),
                format!("module {module} not found in the project"),
                format!("set `celery = \"MODULE:APP\"` in {DJDD_TOML}, or remove it if the project has no celery app"),
            ));
        }
    }
    (out, wsgi_found)
}

#[cfg(test)]
mod tests {
    use super::super::{MapTree, Severity};
    use super::*;

    fn tree(files: &[(&str, &str)]) -> MapTree {
        MapTree(
            files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    const SETTINGS: &str = "import os\nSECRET_KEY = os.environ['SECRET_KEY']\nALLOWED_HOSTS = os.environ['ALLOWED_HOSTS'].split(',')\nDATABASES = {'default': dj_database_url.config()}\nSTATIC_ROOT = os.environ.get('STATIC_ROOT')\nMEDIA_ROOT = os.environ.get('MEDIA_ROOT')\nCACHE = os.environ['CACHE_URL']\nLOG = os.environ['LOG_DIR']\n";

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "requirements.txt",
                "-r req/base.txt\n--constraint=req/c.txt\ngunicorn==23.0.0\n",
            ),
            ("req/base.txt", "Django==5.2\n-r ../more.txt  # more\n"),
            ("req/c.txt", "sqlparse==0.5\n"),
            ("more.txt", "celery==5.5\n"),
            (
                "manage.py",
                "os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"site1.settings\")\n",
            ),
            ("site1/__init__.py", ""),
            ("site1/settings.py", SETTINGS),
            ("site1/wsgi.py", ""),
        ]
    }

    #[test]
    fn good_tree_is_clean() {
        let r = static_checks(&tree(&good()));
        assert_eq!(r.problems, vec![]);
        assert!(r.wsgi_file_found && r.includes_complete);
        assert_eq!(r.project.settings.as_deref(), Some("site1.settings"));
        assert_eq!(r.notes.len(), 1, "no djdd.toml note");
    }

    #[test]
    fn a_settings_override_is_the_module_checked() {
        let fix = "djdd variant demo blue --settings MODULE".to_string();
        let good_override = SettingsOverride {
            module: "site1.settings".into(),
            fix: fix.clone(),
        };
        let r = static_checks_with(&tree(&good()), Some(&good_override));
        assert_eq!(r.problems, vec![]);

        let missing = SettingsOverride {
            module: "site1.production".into(),
            fix: fix.clone(),
        };
        let r = static_checks_with(&tree(&good()), Some(&missing));
        assert_eq!(r.project.settings.as_deref(), Some("site1.production"));
        let p: Vec<_> = r
            .problems
            .iter()
            .filter(|p| p.check == "settings-module")
            .collect();
        assert_eq!(p.len(), 1, "{:?}", r.problems);
        assert_eq!(p[0].what, "settings module site1.production");
        assert_eq!(p[0].fix, fix);
    }

    #[test]
    fn requirement_problems_are_all_reported_with_file_and_line() {
        let mut files = good();
        files.retain(|(k, _)| *k != "more.txt");
        files.push((
            "req/c.txt",
            "-c ../../outside.txt\n-r/etc/passwd\nnot a requirement!\n-r ../req/c.txt\n",
        ));
        let t = MapTree(
            files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let p = requirements_files(&t);
        let msgs: Vec<String> = p
            .iter()
            .map(|p| format!("{} {}: {}", p.check, p.what, p.problem))
            .collect();
        assert_eq!(msgs.len(), 5, "{msgs:#?}");
        let has = |check: &str, prefix: &str| {
            assert!(
                msgs.iter()
                    .any(|m| m.starts_with(&format!("{check} {prefix}"))),
                "no {check} {prefix} in {msgs:#?}"
            )
        };
        has("requirements-include", "req/base.txt:2: '-r ../more.txt'");
        has(
            "requirements-include",
            "req/c.txt:1: '-c ../../outside.txt'",
        );
        has("requirements-include", "req/c.txt:2: '-r/etc/passwd'");
        has("requirements-line", "req/c.txt:3: 'not a requirement!'");
        has("requirements-include", "req/c.txt:4: '-r ../req/c.txt'");
        let r = static_checks(&t);
        assert!(!r.includes_complete);
    }

    #[test]
    fn unpinned_requirements_are_warnings_naming_file_and_line() {
        let mut files = good();
        files[1] = ("req/base.txt", "Django>=5.2,<6\n-r ../more.txt\n");
        files[3] = ("more.txt", "# celery\ncelery[redis]>=5.4\nsqlparse\n");
        let r = static_checks(&tree(&files));
        let w: Vec<(&str, Severity)> = r
            .problems
            .iter()
            .filter(|p| p.check == "requirements-unpinned")
            .map(|p| (p.what.as_str(), p.severity))
            .collect();
        // sqlparse is pinned by the constraints file.
        assert_eq!(
            w,
            [
                ("more.txt:2", Severity::Warning),
                ("req/base.txt:1", Severity::Warning)
            ],
            "{:#?}",
            r.problems
        );
        let p = r
            .problems
            .iter()
            .find(|p| p.what == "req/base.txt:1")
            .unwrap();
        assert!(
            p.problem.contains("`Django>=5.2,<6` is not pinned"),
            "{p:?}"
        );
        assert!(p.fix.contains("requirements.lock"), "{p:?}");
        // The pinned tree has none.
        assert!(
            !static_checks(&tree(&good()))
                .problems
                .iter()
                .any(|p| p.check == "requirements-unpinned")
        );
    }

    #[test]
    fn no_requirements_file_is_reported_once() {
        let t = tree(&[("manage.py", "")]);
        assert_eq!(requirements_files(&t), vec![]);
        let r = static_checks(&t);
        assert_eq!(
            r.problems
                .iter()
                .filter(|p| p.what == "requirements.txt")
                .count(),
            1,
            "{:#?}",
            r.problems
        );
    }

    #[test]
    fn every_static_problem_at_once() {
        let t = tree(&[
            (
                "djdd.toml",
                "settings = \"site1.settings\"\nwsgi = \"site1.wsgx:application\"\ncelery = \"site1.celery:app\"\n",
            ),
            ("venv-debian-requirements.txt", "libpq5 runtime\n"),
            ("site1/settings.py", "SECRET_KEY = 'x'\n"),
        ]);
        let r = static_checks(&t);
        let checks: Vec<&str> = r.problems.iter().map(|p| p.check).collect();
        for c in [
            "required-file",
            "debian-requirements",
            "wsgi",
            "celery",
            "settings-reads",
        ] {
            assert!(checks.contains(&c), "{c} missing from {checks:?}");
        }
        assert_eq!(checks.iter().filter(|c| **c == "required-file").count(), 2);
        let reads: Vec<&Problem> = r
            .problems
            .iter()
            .filter(|p| p.check == "settings-reads")
            .collect();
        assert!(reads.iter().all(|p| p.severity == Severity::Warning));
        assert!(reads.iter().any(|p| p.problem.contains("SECRET_KEY")));
        assert!(
            reads
                .iter()
                .any(|p| p.problem.contains("CELERY_BROKER_URL"))
        );
    }

    #[test]
    fn invalid_djdd_toml_falls_back_to_defaults() {
        let mut files = good();
        files.push(("djdd.toml", "wsgi_app = \"x:y\"\n"));
        let t = MapTree(
            files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let r = static_checks(&t);
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert_eq!(r.problems[0].check, "djdd-toml");
        assert!(
            r.problems[0].problem.contains("wsgi_app"),
            "{}",
            r.problems[0]
        );
        assert_eq!(r.project.settings.as_deref(), Some("site1.settings"));
    }
}
