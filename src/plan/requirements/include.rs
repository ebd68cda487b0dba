//! The `-r` and `-c` lines of a requirements file: which kind, where the
//! included file is (relative to the including file, inside the
//! repository, normalised), and the repository path rule both the walk and
//! the line check use. Never follows an include or reads a file: the walk
//! (`walk`) does that. Follows pip's requirements file format.

use super::lines::{LogicalLine, line_error_hint};
use crate::error::Result;

/// Whether an include was `-r` (requirements) or `-c` (constraints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IncludeKind {
    Requirement,
    Constraint,
}

/// One `-r`/`-c` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    pub kind: IncludeKind,
    /// The line it is on (1-based; the first line of a continued line).
    pub line: usize,
    /// The argument as written.
    pub written: String,
    /// The included file, relative to the repository root, normalised.
    pub path: String,
}

/// Resolves an include relative to the including file's directory.
pub(super) fn resolve_include(
    path: &str,
    l: &LogicalLine,
    kind: IncludeKind,
    value: &str,
) -> Result<Include> {
    if value.contains("://") || value.starts_with("file:") {
        return Err(line_error_hint(
            path,
            l,
            "djdd cannot honour an include from a URL: its content would not be part of the env HASH",
            "copy the file into the repository and include it by relative path",
        ));
    }
    if value.starts_with('/') || value.starts_with('\\') || value.as_bytes().get(1) == Some(&b':') {
        return Err(line_error_hint(
            path,
            l,
            "an include must be a path inside the repository, not an absolute path",
            "write the path relative to this file",
        ));
    }
    let dir = match path.rfind('/') {
        Some(i) => &path[..i],
        None => "",
    };
    let joined = if dir.is_empty() {
        value.to_string()
    } else {
        format!("{dir}/{value}")
    };
    let resolved = normalise_repo_path(&joined).ok_or_else(|| {
        line_error_hint(
            path,
            l,
            "the include leaves the repository (too many '..')",
            "keep requirements files inside the repository",
        )
    })?;
    Ok(Include {
        kind,
        line: l.number,
        written: value.to_string(),
        path: resolved,
    })
}

/// Normalises a relative `/`-separated path: drops `.` and empty components,
/// resolves `..`. `None` when it is absolute, empty, or climbs above the root.
pub fn normalise_repo_path(p: &str) -> Option<String> {
    if p.starts_with('/') || p.contains('\0') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}
