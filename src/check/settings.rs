//! The settings checks that need no Python: a best-effort text search of
//! the settings sources (the settings module's file and every .py file
//! beside it) for the contract variables they must read and for values
//! they must not hard-code.
//!
//! Reads the tree only through [`Tree`]: never imports the settings or
//! runs a process; what Python reports is [`super::probe`]'s.

use crate::config::project::Project;
use crate::contract::{self, Reads, VARIABLES};

use super::{Problem, Tree, module_file, read_text};

/// The settings module's file and the text of every .py file in its
/// directory (settings are often split: `from .base import *`).
fn settings_sources(tree: &dyn Tree, project: &Project) -> Option<(String, String)> {
    let settings = project.settings.as_ref()?;
    let file = module_file(tree, &project.project_dir, settings)?;
    let dir = match file.rfind('/') {
        Some(i) => file[..i].to_string(),
        None => String::new(),
    };
    let sources: Vec<String> = if dir.is_empty() {
        vec![file.clone()]
    } else {
        tree.files_under(&dir)
            .into_iter()
            .filter(|f| f.ends_with(".py"))
            .collect()
    };
    let text = sources
        .iter()
        .filter_map(|f| read_text(tree, f))
        .collect::<Vec<_>>()
        .join("\n");
    Some((file, text))
}

fn mentions(text: &str, name: &str) -> bool {
    text.contains(&format!("\"{name}\"")) || text.contains(&format!("'{name}'"))
}

/// Best effort, warnings only: the settings sources (every .py file in the
/// settings module's directory) mention each variable they must read, as
/// a quoted name or through a helper that reads it (see
/// `Variable::also_read_by`).
pub fn settings_read_variables(tree: &dyn Tree, project: &Project) -> Vec<Problem> {
    let Some((file, text)) = settings_sources(tree, project) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut warned: Vec<&str> = Vec::new();
    for v in VARIABLES.iter().filter(|v| v.reads == Reads::Must) {
        let applies = match v.when {
            contract::When::Celery | contract::When::CeleryRedis => project.celery.is_some(),
            contract::When::Redis => project.redis,
            contract::When::Always => true,
        };
        if !applies || warned.contains(&v.name) {
            continue;
        }
        warned.push(v.name);
        let read = mentions(&text, v.name) || v.also_read_by.iter().any(|s| text.contains(s));
        if !read {
            out.push(Problem::warning(
                "settings-reads",
                file.clone(),
                format!(
                    "the settings never mention the contract variable {} (best-effort text search)",
                    v.name
                ),
                format!(
                    "read it from the environment, e.g. os.environ[\"{}\"] ({})",
                    v.name, v.meaning
                ),
            ));
        }
    }
    out
}

/// Top-level assignments `NAME = ...` in a source (lines that start with
/// the name), with their line numbers and right-hand sides.
fn top_level_assignments<'a>(text: &'a str, name: &str) -> Vec<(usize, &'a str)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let rest = line.strip_prefix(name)?.trim_start();
            let rest = rest.strip_prefix('=')?;
            if rest.starts_with('=') {
                return None;
            }
            Some((i + 1, rest.trim()))
        })
        .collect()
}

/// Settings that hard-code what the contract provides, found in the
/// settings module's own file: `DEBUG = True` as the last top-level
/// assignment of DEBUG, and `SECRET_KEY = "..."` as the last assignment
/// of SECRET_KEY when no settings file reads the SECRET_KEY variable.
/// These need no Python, so they are reported even when the settings do
/// not import.
pub fn settings_hardcoded(tree: &dyn Tree, project: &Project) -> Vec<Problem> {
    let Some((file, all_text)) = settings_sources(tree, project) else {
        return Vec::new();
    };
    let Some(own) = read_text(tree, &file) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some((line, rhs)) = top_level_assignments(&own, "DEBUG").last() {
        if *rhs == "True" || rhs.starts_with("True ") || rhs.starts_with("True#") {
            out.push(Problem::error(
                "settings-hardcoded",
                format!("{file}:{line}"),
                "DEBUG = True: the site would run with DEBUG on (tracebacks to every visitor, memory growth)",
                "turn DEBUG off at run time: djdd never sets a variable that turns it on (e.g. DEBUG = os.environ.get(\"DJANGO_DEBUG\") == \"1\")",
            ));
        }
    }
    if !mentions(&all_text, "SECRET_KEY") {
        if let Some((line, rhs)) = top_level_assignments(&own, "SECRET_KEY").last() {
            if rhs
                .trim_start_matches(['r', 'b', 'u', 'f', 'R', 'B', 'U', 'F'])
                .starts_with(['"', '\''])
            {
                out.push(Problem::error(
                    "settings-hardcoded",
                    format!("{file}:{line}"),
                    "SECRET_KEY is a string literal: every site would share one key, and it is in the repository",
                    "SECRET_KEY = os.environ[\"SECRET_KEY\"]: djdd generates the site's key on the target and gives a fake one at build time",
                ));
            }
        }
    }
    out
}
