//! Which requirement lines pin their version, and which leave it to pip.
//!
//! Responsible for telling a pinned requirement (`==`/`===` one version, a
//! `--hash`, a URL with a sha256) from one whose version pip resolves, over
//! the root file and its `-r` includes, a pin in any file of the tree
//! (constraint files too) counting for its name: `djdd check` warns about
//! the rest with file and line. It must never refuse a line (unpinned
//! requirements are allowed; the lock records what pip chose) and never
//! touch the disk: file bytes come through the caller's [`ReadFile`]. It
//! follows pip's "Requirements File Format" (what `-c` means) and PEP 440's
//! version matching (`==` with `.*` is a range, `===` is exact).

use std::collections::BTreeMap;

use super::include::IncludeKind;
use super::lines::{LogicalLine, logical_lines};
use super::pep508::requirement_name;
use super::walk::{ReadFile, Requirements};
use crate::error::Result;

/// A requirement line that does not pin its distribution (no `==` or
/// `===` version, no `--hash`) when no other line of the requirements or
/// their constraint files pins that name either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpinned {
    /// The file, relative to the repository root.
    pub path: String,
    /// Its line (the first of a continued line).
    pub line: usize,
    /// The logical line as written (comments stripped).
    pub text: String,
}

/// Whether requirement line `text` pins exactly one version: `NAME==V`
/// (not `V.*`) or `NAME===V` before any marker, or a `--hash` option, or a
/// URL with a sha256 fragment.
pub fn is_pinned(text: &str) -> bool {
    if text.contains("--hash=") || text.contains("--hash ") || text.contains("#sha256=") {
        return true;
    }
    let spec = text.split(';').next().unwrap_or(text);
    if let Some(i) = spec.find("==") {
        let version = spec[i..].trim_start_matches('=').trim();
        let version = version.split([',', ' ']).next().unwrap_or("");
        return !version.is_empty() && !version.ends_with(".*");
    }
    false
}

/// The requirement lines of `req` (the root file and its `-r` includes)
/// that leave their version to pip's resolution: see [`Unpinned`]. `read`
/// gives each file's bytes (as for
/// [`load_requirements`](super::load_requirements)), for the line numbers.
pub fn unpinned_lines(req: &Requirements, read: &mut ReadFile<'_>) -> Result<Vec<Unpinned>> {
    // Files reached through -c are constraints (they install nothing).
    let mut constraint: BTreeMap<&str, bool> = BTreeMap::new();
    let mut todo = vec![(req.root.as_str(), false)];
    while let Some((path, is_c)) = todo.pop() {
        let known = constraint.get(path).copied();
        if known == Some(is_c) || known == Some(false) {
            continue;
        }
        constraint.insert(path, is_c);
        if let Some(f) = req.files.get(path) {
            for inc in &f.includes {
                todo.push((&inc.path, is_c || inc.kind == IncludeKind::Constraint));
            }
        }
    }
    let mut lines: Vec<(&str, bool, LogicalLine)> = Vec::new();
    for (path, is_c) in &constraint {
        let Some(bytes) = read(path)? else { continue };
        for l in logical_lines(path, &bytes)? {
            lines.push((path, *is_c, l));
        }
    }
    let pinned: Vec<String> = lines
        .iter()
        .filter(|(_, _, l)| is_pinned(&l.text))
        .filter_map(|(_, _, l)| requirement_name(&l.text))
        .collect();
    Ok(lines
        .into_iter()
        .filter(|(_, is_c, l)| {
            !is_c
                && requirement_name(&l.text).is_some_and(|n| !pinned.contains(&n))
                && !is_pinned(&l.text)
        })
        .map(|(path, _, l)| Unpinned {
            path: path.to_string(),
            line: l.number,
            text: l.text,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::walk::tests::{load, tree};
    use super::*;

    #[test]
    fn unpinned_lines_name_file_and_line_unless_a_constraint_pins_them() {
        let files = [
            (
                "requirements.txt",
                "-r base.txt\n-c constraints.txt\nuwsgi>=2.0\ngunicorn==27.0.1\n",
            ),
            (
                "base.txt",
                "# app\nDjango>=6.0,<6.1\ncelery[redis]>=5.4\nredis==5.*\nrequests==2.32.3 ; python_version >= \"3\"\nsix --hash=sha256:abc\n",
            ),
            ("constraints.txt", "celery==5.5.3\nkombu>=5\n"),
        ];
        let req = load(&files).unwrap();
        let mut read = tree(&files);
        let u = unpinned_lines(&req, &mut read).unwrap();
        let got: Vec<(&str, usize, &str)> = u
            .iter()
            .map(|x| (x.path.as_str(), x.line, x.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("base.txt", 2, "Django>=6.0,<6.1"),
                ("base.txt", 4, "redis==5.*"),
                ("requirements.txt", 3, "uwsgi>=2.0"),
            ]
        );
        assert!(is_pinned("Django==5.2.19"));
        assert!(is_pinned("x===1.0"));
        assert!(is_pinned("pkg @ https://e.org/p-1.tar.gz#sha256=ab"));
        assert!(!is_pinned("Django"));
        assert!(!is_pinned("Django!=5.0"));
        assert!(!is_pinned("Django>=5 ; python_version == \"3.11\""));
    }
}
