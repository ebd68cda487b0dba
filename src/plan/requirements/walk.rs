//! The include walk: `requirements.txt` and every file it pulls in.
//!
//! Responsible for following `-r` (requirements) and `-c` (constraints)
//! from the root file, depth first, each path relative to the including
//! file's directory; refusing includes that are URLs, absolute paths or
//! leave the repository, cycles (named as the chain of files) and trees of
//! more than [`MAX_FILES`] files; and holding the result: each file's
//! sha256 and its normalised, sorted lines, from which the env HASH is
//! computed. It must never touch the disk itself: every byte comes through
//! the [`ReadFile`] the caller hands in, and a missing file is a problem
//! reported with the line that includes it. It follows pip's "Requirements
//! File Format" (`-r`/`-c` are relative to the file that names them, as in
//! `pip/_internal/req/req_file.py`).

use std::collections::BTreeMap;

use crate::digest::sha256_hex;

use super::include::{Include, IncludeKind, normalise_repo_path};
use super::lines::{collapse_ws, logical_lines};
use super::options::check_line;
use super::pep508::requirement_name;
use crate::error::{Error, Result};

/// The reader `load_requirements` calls: given a repository-relative path
/// (normalised, `/`-separated, never absolute, never with `..`), the bytes of
/// that regular file at the commit being built, `Ok(None)` when no such file
/// exists, or an error (e.g. when the path is a symlink or a directory: the
/// caller must refuse those rather than follow them).
pub type ReadFile<'a> = dyn FnMut(&str) -> Result<Option<Vec<u8>>> + 'a;

/// One requirements file as read and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementsFile {
    /// Relative to the repository root, normalised (`requirements/base.txt`).
    pub path: String,
    /// sha256 (hex) of the file's bytes exactly as read.
    pub sha256: String,
    /// The logical lines with comments, blank lines, line continuations and
    /// surrounding whitespace removed, runs of whitespace outside quotes
    /// collapsed to one space, sorted by bytes. Duplicates are kept.
    pub lines: Vec<String>,
    /// The `-r`/`-c` lines of this file, in file order.
    pub includes: Vec<Include>,
}

/// `requirements.txt` and every file it includes, keyed by repository path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirements {
    /// The top file (normally `requirements.txt`).
    pub root: String,
    pub files: BTreeMap<String, RequirementsFile>,
}

impl Requirements {
    /// Number of requirement and option lines over all files.
    pub fn line_count(&self) -> usize {
        self.files.values().map(|f| f.lines.len()).sum()
    }

    /// The distributions the requirements name for installation (the root
    /// file and what it includes with `-r`; constraint files install
    /// nothing), PEP 503-normalised, sorted, unique. Option lines, URLs and
    /// local paths name none.
    pub fn installed_names(&self) -> Vec<String> {
        let mut seen: Vec<&str> = Vec::new();
        let mut todo = vec![self.root.as_str()];
        let mut names = Vec::new();
        while let Some(path) = todo.pop() {
            if seen.contains(&path) {
                continue;
            }
            seen.push(path);
            let Some(f) = self.files.get(path) else {
                continue;
            };
            for inc in &f.includes {
                if inc.kind == IncludeKind::Requirement {
                    todo.push(&inc.path);
                }
            }
            names.extend(f.lines.iter().filter_map(|l| requirement_name(l)));
        }
        names.sort();
        names.dedup();
        names
    }
}

impl Requirements {
    /// The requirements of an env built from the project's lock (`root`,
    /// `uv.lock` or a pylock.toml): `lines` are what it installs for the
    /// build root's Python and architecture, one `NAME==VERSION
    /// --hash=sha256:HEX` a distribution (the env's `requirements.lock`
    /// lines), sorted here. `shipped` are the files it was read from,
    /// by repository path with their bytes (the lock, and the
    /// pyproject.toml a uv.lock locks); only the root holds lines, so
    /// the env HASH depends on what is installed, not on how the lock
    /// spells it.
    pub fn from_lock(
        root: &str,
        shipped: &[(&str, &[u8])],
        mut lines: Vec<String>,
    ) -> Requirements {
        lines.sort();
        lines.dedup();
        let mut files = BTreeMap::new();
        for (path, bytes) in shipped {
            files.insert(
                path.to_string(),
                RequirementsFile {
                    path: path.to_string(),
                    sha256: sha256_hex(bytes),
                    lines: if *path == root {
                        lines.clone()
                    } else {
                        Vec::new()
                    },
                    includes: Vec::new(),
                },
            );
        }
        Requirements {
            root: root.to_string(),
            files,
        }
    }
}

/// Most files one requirements tree may pull in.
pub const MAX_FILES: usize = 256;

/// Reads `root` and everything it includes, recursively, and returns the
/// normalised result, or the first problem found. See [`check_requirements`]
/// for all problems at once.
pub fn load_requirements(root: &str, read: &mut ReadFile<'_>) -> Result<Requirements> {
    let mut problems = Vec::new();
    let reqs = walk(root, read, &mut problems)?;
    match problems.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(reqs),
    }
}

/// Like [`load_requirements`] but collects every problem (for `djdd check`):
/// an empty vector means the tree is fine. A reader error is returned as a
/// problem too.
pub fn check_requirements(root: &str, read: &mut ReadFile<'_>) -> Vec<Error> {
    let mut problems = Vec::new();
    if let Err(e) = walk(root, read, &mut problems) {
        problems.push(e);
    }
    problems
}

/// Walks the include tree. Line problems go to `problems`; a problem that
/// stops the walk (reader error, unreadable root) is returned as `Err`.
fn walk(root: &str, read: &mut ReadFile<'_>, problems: &mut Vec<Error>) -> Result<Requirements> {
    let root_path = normalise_repo_path(root).ok_or_else(|| {
        Error::invalid(
            format!("requirements file '{root}'"),
            "must be a relative path inside the repository",
        )
    })?;
    let bytes = read(&root_path)?.ok_or_else(|| {
        Error::invalid_hint(
            root_path.clone(),
            "does not exist in the project tree",
            "djdd builds the virtualenv from it; add it at the top of the repository (it may be empty)",
        )
    })?;
    let mut files = BTreeMap::new();
    // Explicit DFS stack: (file, next include index). The chain of open files
    // is the stack itself, which is what cycle detection needs.
    let first = parse_file(&root_path, &bytes, problems);
    let mut stack: Vec<(RequirementsFile, usize)> = vec![(first, 0)];
    while let Some((file, next)) = stack.last_mut() {
        let Some(inc) = file.includes.get(*next).cloned() else {
            let (done, _) = stack.pop().expect("non-empty");
            files.insert(done.path.clone(), done);
            continue;
        };
        *next += 1;
        let from = file.path.clone();
        if let Some(pos) = stack.iter().position(|(f, _)| f.path == inc.path) {
            let mut chain: Vec<&str> = stack[pos..].iter().map(|(f, _)| f.path.as_str()).collect();
            chain.push(&inc.path);
            problems.push(Error::invalid_hint(
                format!("{from}:{}: '{} {}'", inc.line, flag(inc.kind), inc.written),
                format!("includes itself: {}", chain.join(" -> ")),
                "remove the include that closes the loop",
            ));
            continue;
        }
        if files.contains_key(&inc.path) {
            continue; // already read through another path (a diamond, not a cycle)
        }
        if stack.len() + files.len() >= MAX_FILES {
            return Err(Error::invalid(
                format!("{from}:{}", inc.line),
                format!("more than {MAX_FILES} requirements files are included; djdd stops here"),
            ));
        }
        match read(&inc.path)? {
            None => problems.push(Error::invalid_hint(
                format!("{from}:{}: '{} {}'", inc.line, flag(inc.kind), inc.written),
                format!(
                    "the included file {} does not exist in the project tree",
                    inc.path
                ),
                format!(
                    "create {}, or correct the path (it is relative to {from}'s directory)",
                    inc.path
                ),
            )),
            Some(bytes) => {
                let parsed = parse_file(&inc.path, &bytes, problems);
                stack.push((parsed, 0));
            }
        }
    }
    Ok(Requirements {
        root: root_path,
        files,
    })
}

fn flag(kind: IncludeKind) -> &'static str {
    match kind {
        IncludeKind::Requirement => "-r",
        IncludeKind::Constraint => "-c",
    }
}

/// Parses one file's bytes (no recursion): problems go to `problems`, the
/// lines that are fine are kept.
fn parse_file(path: &str, bytes: &[u8], problems: &mut Vec<Error>) -> RequirementsFile {
    let sha256 = sha256_hex(bytes);
    let mut lines = Vec::new();
    let mut includes = Vec::new();
    match logical_lines(path, bytes) {
        Err(e) => problems.push(e),
        Ok(logical) => {
            for l in logical {
                match check_line(path, &l) {
                    Ok(inc) => {
                        if let Some(inc) = inc {
                            includes.push(inc);
                        }
                        lines.push(collapse_ws(&l.text));
                    }
                    Err(e) => problems.push(e),
                }
            }
        }
    }
    lines.sort();
    RequirementsFile {
        path: path.to_string(),
        sha256,
        lines,
        includes,
    }
}

/// Normalises one file's bytes on its own (no includes followed): the sorted
/// lines the hash uses, or the first problem. Useful for tests and `check`.
pub fn normalise(path: &str, bytes: &[u8]) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let f = parse_file(path, bytes, &mut problems);
    match problems.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(f.lines),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::plan::requirements) fn tree(
        files: &[(&str, &str)],
    ) -> impl FnMut(&str) -> Result<Option<Vec<u8>>> {
        let map: BTreeMap<String, Vec<u8>> = files
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        move |p: &str| Ok(map.get(p).cloned())
    }

    pub(in crate::plan::requirements) fn load(files: &[(&str, &str)]) -> Result<Requirements> {
        let mut r = tree(files);
        load_requirements("requirements.txt", &mut r)
    }

    fn err(files: &[(&str, &str)]) -> String {
        load(files).unwrap_err().to_string()
    }

    #[test]
    fn installed_names_follow_requirement_includes_only() {
        let r = load(&[
            (
                "requirements.txt",
                "-r requirements/prod.txt\n-c constraints.txt\nDjango[argon2]>=5.2,<6.1\n",
            ),
            (
                "requirements/prod.txt",
                "uWSGI==2.0.31 ; python_version >= \"3.8\"\nZope.Interface\n--prefer-binary\n",
            ),
            ("constraints.txt", "gunicorn==27.0.1\n"),
        ])
        .unwrap();
        assert_eq!(r.installed_names(), ["django", "uwsgi", "zope-interface"]);
        assert_eq!(
            requirement_name("psycopg2 @ https://x/p.tar.gz").as_deref(),
            Some("psycopg2")
        );
        assert_eq!(requirement_name("https://x/p.tar.gz"), None);
        assert_eq!(requirement_name("./vendor/x"), None);
        assert_eq!(requirement_name("--hash=sha256:00"), None);
    }

    #[test]
    fn normalise_sorts_and_collapses_whitespace() {
        let n = normalise(
            "requirements.txt",
            b"zope==1\n  Django >= 4.2  ;  python_version  >  '3.8'  \nabc\n",
        )
        .unwrap();
        assert_eq!(
            n,
            ["Django >= 4.2 ; python_version > '3.8'", "abc", "zope==1"]
        );
    }

    #[test]
    fn includes_resolve_relative_to_the_including_file() {
        let r = load(&[
            ("requirements.txt", "-r requirements/prod.txt\n"),
            (
                "requirements/prod.txt",
                "-r base.txt\n-c ../constraints.txt\ngunicorn\n",
            ),
            ("requirements/base.txt", "Django\n"),
            ("constraints.txt", "Django<5\n"),
        ])
        .unwrap();
        let keys: Vec<_> = r.files.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "constraints.txt",
                "requirements.txt",
                "requirements/base.txt",
                "requirements/prod.txt"
            ]
        );
        let prod = &r.files["requirements/prod.txt"];
        assert_eq!(prod.includes[1].kind, IncludeKind::Constraint);
        assert_eq!(prod.includes[1].path, "constraints.txt");
        assert_eq!(
            prod.lines,
            ["-c ../constraints.txt", "-r base.txt", "gunicorn"]
        );
        assert_eq!(
            r.files["requirements/base.txt"].sha256,
            sha256_hex(b"Django\n")
        );
    }

    #[test]
    fn diamond_includes_are_not_cycles() {
        let r = load(&[
            ("requirements.txt", "-r a.txt\n-r b.txt\n"),
            ("a.txt", "-r c.txt\n"),
            ("b.txt", "-r c.txt\n"),
            ("c.txt", "x\n"),
        ])
        .unwrap();
        assert_eq!(r.files.len(), 4);
    }

    #[test]
    fn a_file_that_includes_itself_names_the_chain() {
        let e = err(&[("requirements.txt", "x\n-r requirements.txt\n")]);
        assert!(
            e.contains("requirements.txt:2: '-r requirements.txt': includes itself: requirements.txt -> requirements.txt"),
            "{e}"
        );
        let e = err(&[
            ("requirements.txt", "-r a/b.txt\n"),
            ("a/b.txt", "\n\n-c ../requirements.txt\n"),
        ]);
        assert!(
            e.contains("a/b.txt:3: '-c ../requirements.txt': includes itself: requirements.txt -> a/b.txt -> requirements.txt"),
            "{e}"
        );
    }

    #[test]
    fn includes_that_escape_the_repository_are_refused() {
        let e = err(&[("requirements.txt", "-r ../../etc/passwd\n")]);
        assert!(
            e.contains("requirements.txt:1: '-r ../../etc/passwd'"),
            "{e}"
        );
        assert!(e.contains("leaves the repository"), "{e}");
        let e = err(&[("requirements.txt", "-r /etc/passwd\n")]);
        assert!(e.contains("not an absolute path"), "{e}");
        let e = err(&[("requirements.txt", "-r a/../../x.txt\n")]);
        assert!(e.contains("leaves the repository"), "{e}");
    }

    #[test]
    fn a_missing_include_or_root_is_named() {
        let e = err(&[("requirements.txt", "-r base.txt\n")]);
        assert!(
            e.contains(
                "requirements.txt:1: '-r base.txt': the included file base.txt does not exist"
            ),
            "{e}"
        );
        let e = err(&[]);
        assert!(e.starts_with("requirements.txt: does not exist"), "{e}");
    }

    #[test]
    fn check_reports_every_problem() {
        let mut r = tree(&[
            ("requirements.txt", "Django>=\n-e .\n-r a.txt\n"),
            ("a.txt", "foo[\n"),
        ]);
        let problems = check_requirements("requirements.txt", &mut r);
        let text: Vec<String> = problems.iter().map(|e| e.to_string()).collect();
        assert_eq!(problems.len(), 3, "{text:?}");
        assert!(text[2].starts_with("a.txt:1:"), "{text:?}");
    }
}
