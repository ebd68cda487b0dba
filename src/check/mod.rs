//! `djdd check`'s checks, a stage of its own above `plan` and `render`:
//! each is one function that looks at the project (through [`Tree`], a
//! read-only view of its files) or at what the Python probe reported, and
//! returns every problem it finds, each with the fix. It reads the deploy
//! contract (`contract`), the project file's rules (`config`) and the
//! requirements parser (`plan`); no stage below reads it. `ops::check`
//! reads the tree, runs the probe (`probe.py`, embedded) and prints the
//! report.
//!
//! Pure: never touches the disk or runs a process; the `Tree` and the
//! probe's output are handed in. Follows docs/contract.md (the project's
//! side of the contract) and Debian Policy §5.6.1 for package names.
//!
//! The checks live by concern: [`files`] (the static checks of the tree:
//! djdd.toml, required files, requirements, modules), [`settings`] (the
//! text checks of the settings sources) and [`probe`] (the Python probe's
//! records and what they mean). This file holds what they share.

use std::fmt;

mod files;
mod probe;
mod settings;

pub use files::{
    SettingsOverride, StaticReport, requirements_files, static_checks, static_checks_with,
};
pub use probe::{
    Interpreter, Outcome, PROBE, Phase, Record, check_runtime_env, check_site, interpret_build,
    interpret_requirements, interpret_run, outcome_records, parse_records, settings_imported,
};
pub use settings::{settings_hardcoded, settings_read_variables};

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Breaks the contract: the build or the site would fail.
    Error,
    /// Best effort: probably wrong, possibly not (`djdd check` still exits 0).
    Warning,
}

/// One thing wrong with the project, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    /// The check's id, e.g. `requirements-include`.
    pub check: &'static str,
    /// The file, line, key or module at fault.
    pub what: String,
    pub problem: String,
    pub fix: String,
    /// Supporting output (a traceback's tail), if any.
    pub detail: Option<String>,
}

impl Problem {
    pub fn error(
        check: &'static str,
        what: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Problem {
        Problem {
            severity: Severity::Error,
            check,
            what: what.into(),
            problem: problem.into(),
            fix: fix.into(),
            detail: None,
        }
    }

    pub fn warning(
        check: &'static str,
        what: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Problem {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(check, what, problem, fix)
        }
    }

    fn with_detail(mut self, detail: &str) -> Problem {
        let d = detail.trim_end();
        if !d.is_empty() {
            self.detail = Some(d.to_string());
        }
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{sev}[{}]: {}: {}\n  fix: {}",
            self.check, self.what, self.problem, self.fix
        )?;
        if let Some(d) = &self.detail {
            let lines: Vec<&str> = d.lines().collect();
            let tail = &lines[lines.len().saturating_sub(12)..];
            for l in tail {
                write!(f, "\n  | {l}")?;
            }
        }
        Ok(())
    }
}

/// A read-only view of the project's files, by repository-relative,
/// `/`-separated path.
pub trait Tree {
    /// A regular file's bytes; `None` when missing or not a regular file.
    fn read(&self, path: &str) -> Option<Vec<u8>>;
    /// Whether a directory exists.
    fn is_dir(&self, path: &str) -> bool;
    /// Every regular file below `dir` (recursively), sorted.
    fn files_under(&self, dir: &str) -> Vec<String>;
}

/// A tree in memory (path -> text), for tests.
#[cfg(test)]
pub(crate) struct MapTree(pub std::collections::BTreeMap<String, String>);

#[cfg(test)]
impl Tree for MapTree {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.0.get(path).map(|s| s.as_bytes().to_vec())
    }
    fn is_dir(&self, path: &str) -> bool {
        self.0.keys().any(|k| k.starts_with(&format!("{path}/")))
    }
    fn files_under(&self, dir: &str) -> Vec<String> {
        self.0
            .keys()
            .filter(|k| dir.is_empty() || k.starts_with(&format!("{dir}/")))
            .cloned()
            .collect()
    }
}

fn read_text(tree: &dyn Tree, path: &str) -> Option<String> {
    tree.read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Drops the reports that repeat a static finding: a hard-coded DEBUG
/// also shows as `security.W018`, a hard-coded SECRET_KEY as a wrong
/// `settings.SECRET_KEY`, `security.W009` and an unread variable.
pub fn dedupe(problems: Vec<Problem>) -> Vec<Problem> {
    let hard = |word: &str| {
        problems
            .iter()
            .any(|p| p.check == "settings-hardcoded" && p.problem.starts_with(word))
    };
    let (debug, key) = (hard("DEBUG"), hard("SECRET_KEY"));
    problems
        .into_iter()
        .filter(|p| {
            let repeats_debug =
                debug && p.check == "deploy-check" && p.problem.starts_with("security.W018");
            let repeats_key = key
                && ((p.check == "deploy-check" && p.problem.starts_with("security.W009"))
                    || (p.check == "settings-value" && p.what == "settings.SECRET_KEY")
                    || (p.check == "settings-reads" && p.problem.contains(" SECRET_KEY ")));
            !repeats_debug && !repeats_key
        })
        .collect()
}
/// Where a module's source is in the tree: `dir/a/b.py` or
/// `dir/a/b/__init__.py`.
pub fn module_file(tree: &dyn Tree, project_dir: &str, module: &str) -> Option<String> {
    let base = if project_dir.is_empty() {
        module.replace('.', "/")
    } else {
        format!("{project_dir}/{}", module.replace('.', "/"))
    };
    [format!("{base}.py"), format!("{base}/__init__.py")]
        .into_iter()
        .find(|p| tree.read(p).is_some())
}
