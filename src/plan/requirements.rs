//! pip requirements files: parsing, checking and normalising them.
//!
//! Responsible for reading `requirements.txt` and every file it pulls in with
//! `-r`/`-c` (recursively, by content, through a reader the caller supplies),
//! refusing what djdd cannot honour (editable installs, local paths, includes
//! that leave the repository, cycles, `${VAR}` expansion), checking every
//! requirement line against PEP 508 / PEP 440 the way pip's `packaging` does,
//! and producing the normalised, sorted lines the env HASH is computed from.
//! It must never touch the disk or run a process: `ops` hands in file bytes.
//! It follows pip's "Requirements File Format" (the pip user guide, and
//! `pip/_internal/req/req_file.py`: line joining, comment stripping, option
//! splitting), PEP 508 (dependency specifiers) and PEP 440 (versions).

use std::collections::BTreeMap;

use crate::digest::sha256_hex;
use crate::error::{Error, Result};

/// The reader `load_requirements` calls: given a repository-relative path
/// (normalised, `/`-separated, never absolute, never with `..`), the bytes of
/// that regular file at the commit being built, `Ok(None)` when no such file
/// exists, or an error (e.g. when the path is a symlink or a directory: the
/// caller must refuse those rather than follow them).
pub type ReadFile<'a> = dyn FnMut(&str) -> Result<Option<Vec<u8>>> + 'a;

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
/// gives each file's bytes (as for [`load_requirements`]), for the line
/// numbers.
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

/// The PEP 503-normalised distribution name a requirement line names
/// (`Django[argon2]>=5.2 ; python_version>"3"` -> `django`), or `None` for
/// an option line, a URL or a local path.
pub fn requirement_name(line: &str) -> Option<String> {
    let line = line.trim_start();
    if line.starts_with('-') || line.starts_with('.') || line.starts_with('/') {
        return None;
    }
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or(line.len());
    let name = &line[..end];
    // `name @ url` names a distribution; `scheme://...` does not.
    if name.is_empty() || line[end..].starts_with("://") || line[end..].starts_with(':') {
        return None;
    }
    let mut out = String::new();
    for c in name.chars() {
        if "-_.".contains(c) {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    Some(out)
}

/// Largest requirements file djdd reads (bytes).
pub const MAX_FILE_SIZE: usize = 1 << 20;
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

/// A logical line: its first physical line number and its text, with
/// comments stripped and surrounding whitespace trimmed (pip's `preprocess`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine {
    pub number: usize,
    pub text: String,
}

/// Decodes a requirements file (UTF-8, an optional BOM) and turns it into
/// logical lines exactly as pip's `join_lines` + `ignore_comments` do:
/// a line ending in `\` is joined with the next one unless it is a comment
/// line; `#` at the start or after whitespace starts a comment; the result
/// is trimmed and empty lines are dropped.
pub fn logical_lines(path: &str, bytes: &[u8]) -> Result<Vec<LogicalLine>> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if bytes.len() > MAX_FILE_SIZE {
        return Err(Error::invalid(
            path,
            format!("is larger than {MAX_FILE_SIZE} bytes; that is not a requirements file"),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        Error::invalid_hint(
            format!("{path}:{line}"),
            "is not valid UTF-8",
            "save the file as UTF-8",
        )
    })?;
    let mut joined: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in split_lines(text).into_iter().enumerate() {
        let number = i + 1;
        let is_comment = is_comment_line(line);
        if !line.ends_with('\\') || is_comment {
            let line = if is_comment {
                format!(" {line}")
            } else {
                line.to_string()
            };
            match pending.take() {
                Some((n, mut acc)) => {
                    acc.push_str(&line);
                    joined.push((n, acc));
                }
                None => joined.push((number, line)),
            }
        } else {
            let piece = line.trim_matches('\\');
            match &mut pending {
                Some((_, acc)) => acc.push_str(piece),
                None => pending = Some((number, piece.to_string())),
            }
        }
    }
    if let Some(p) = pending {
        joined.push(p);
    }
    Ok(joined
        .into_iter()
        .filter_map(|(number, line)| {
            let text = strip_comment(&line).trim();
            (!text.is_empty()).then(|| LogicalLine {
                number,
                text: text.to_string(),
            })
        })
        .collect())
}

/// Python's `str.splitlines()` (without keeping ends).
fn split_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut it = text.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let brk = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if brk {
            out.push(&text[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r'
                && let Some(&(_, '\n')) = it.peek()
            {
                it.next();
                end += 1;
            }
            start = end;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// pip's `COMMENT_RE.match(line)`: `^#` or `^\s+#`.
fn is_comment_line(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// pip's `COMMENT_RE.sub("", line)`: cut at the first `#` that starts the
/// line or follows whitespace.
fn strip_comment(line: &str) -> &str {
    let mut prev_ws = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_ws {
            return &line[..i];
        }
        prev_ws = c.is_whitespace();
    }
    line
}

/// Collapses runs of whitespace outside single or double quotes to one space.
fn collapse_ws(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quote: Option<char> = None;
    let mut in_ws = false;
    for c in text.chars() {
        if quote.is_none() && c.is_whitespace() {
            in_ws = true;
            continue;
        }
        if in_ws {
            out.push(' ');
            in_ws = false;
        }
        match quote {
            Some(q) if c == q => quote = None,
            None if c == '"' || c == '\'' => quote = Some(c),
            _ => {}
        }
        out.push(c);
    }
    out
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

fn line_error(path: &str, l: &LogicalLine, problem: impl Into<String>) -> Error {
    Error::invalid(format!("{path}:{}: '{}'", l.number, l.text), problem)
}

fn line_error_hint(
    path: &str,
    l: &LogicalLine,
    problem: impl Into<String>,
    hint: impl Into<String>,
) -> Error {
    Error::invalid_hint(format!("{path}:{}: '{}'", l.number, l.text), problem, hint)
}

/// What a requirements-file option takes and whether djdd honours it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Opt {
    Requirement,
    Constraint,
    Editable,
    FindLinks,
    /// A global option that takes a value and is passed to pip as written.
    GlobalValue,
    /// A global flag passed to pip as written.
    GlobalFlag,
    /// An index URL option (`-i`, `--extra-index-url`): the value is a URL.
    IndexUrl,
    /// A per-requirement option taking a value (`--hash`, ...).
    PerRequirement,
}

/// pip 23's requirements-file options (`SUPPORTED_OPTIONS` and
/// `SUPPORTED_OPTIONS_REQ` in req_file.py).
const LONG_OPTS: &[(&str, Opt)] = &[
    ("requirement", Opt::Requirement),
    ("constraint", Opt::Constraint),
    ("editable", Opt::Editable),
    ("find-links", Opt::FindLinks),
    ("index-url", Opt::IndexUrl),
    ("extra-index-url", Opt::IndexUrl),
    ("no-index", Opt::GlobalFlag),
    ("no-binary", Opt::GlobalValue),
    ("only-binary", Opt::GlobalValue),
    ("prefer-binary", Opt::GlobalFlag),
    ("require-hashes", Opt::GlobalFlag),
    ("pre", Opt::GlobalFlag),
    ("trusted-host", Opt::GlobalValue),
    ("use-feature", Opt::GlobalValue),
    ("hash", Opt::PerRequirement),
    ("global-option", Opt::PerRequirement),
    ("install-option", Opt::PerRequirement),
    ("config-settings", Opt::PerRequirement),
];

const SHORT_OPTS: &[(char, Opt)] = &[
    ('r', Opt::Requirement),
    ('c', Opt::Constraint),
    ('e', Opt::Editable),
    ('f', Opt::FindLinks),
    ('i', Opt::IndexUrl),
];

fn takes_value(o: Opt) -> bool {
    o != Opt::GlobalFlag
}

/// Checks one logical line: a requirement (with per-requirement options) or
/// an option line. Returns the include it makes, if any.
fn check_line(path: &str, l: &LogicalLine) -> Result<Option<Include>> {
    if let Some(var) = env_var_reference(&l.text) {
        return Err(line_error_hint(
            path,
            l,
            format!(
                "pip would expand ${{{var}}} from the build host's environment, which the env HASH cannot see"
            ),
            "write the value into the file",
        ));
    }
    // pip's break_args_options: tokens split on " " up to the first one
    // starting with "-" are the requirement; the rest are options.
    let tokens: Vec<&str> = l.text.split(' ').collect();
    let split = tokens
        .iter()
        .position(|t| t.starts_with('-'))
        .unwrap_or(tokens.len());
    let args = tokens[..split].join(" ");
    let options_str = tokens[split..].join(" ");
    let words = shlex_split(&options_str)
        .map_err(|p| line_error(path, l, format!("pip cannot split the options: {p}")))?;
    let opts = parse_options(&words).map_err(|p| line_error(path, l, p))?;
    let args = args.trim();
    if !args.is_empty() {
        for (o, _, name) in &opts {
            if *o != Opt::PerRequirement {
                return Err(line_error_hint(
                    path,
                    l,
                    format!("pip ignores the option {name} on a requirement line"),
                    "put the option on a line of its own",
                ));
            }
        }
        check_requirement(args).map_err(|(p, h)| match h {
            Some(h) => line_error_hint(path, l, p, h),
            None => line_error(path, l, p),
        })?;
        return Ok(None);
    }
    let mut include = None;
    let mut count = 0;
    for (o, value, name) in &opts {
        let value = value.as_deref().unwrap_or("");
        match o {
            Opt::PerRequirement => {
                return Err(line_error(
                    path,
                    l,
                    format!("{name} belongs after a requirement on the same line"),
                ));
            }
            Opt::Editable => {
                return Err(line_error_hint(
                    path,
                    l,
                    "djdd cannot honour editable installs (-e): the virtualenv would point at a source tree on the build host that does not exist on the target",
                    "install the package normally (a version from an index, or `name @ https://...`)",
                ));
            }
            Opt::FindLinks => {
                if !is_remote_url(value) {
                    return Err(line_error_hint(
                        path,
                        l,
                        "djdd cannot honour --find-links to a local path: the env HASH would not see the archives in it",
                        "use an http(s) URL, or an index",
                    ));
                }
            }
            Opt::IndexUrl => check_index_url(value).map_err(|p| line_error(path, l, p))?,
            Opt::GlobalValue | Opt::GlobalFlag => {}
            Opt::Requirement | Opt::Constraint => {
                count += 1;
                if count > 1 {
                    return Err(line_error_hint(
                        path,
                        l,
                        "pip reads only the first -r/-c of a line and silently drops the rest",
                        "put each include on a line of its own",
                    ));
                }
                let kind = if *o == Opt::Requirement {
                    IncludeKind::Requirement
                } else {
                    IncludeKind::Constraint
                };
                include = Some(resolve_include(path, l, kind, value)?);
            }
        }
    }
    Ok(include)
}

/// Finds `${NAME}` with NAME in `[A-Z0-9_]+` (what pip expands).
fn env_var_reference(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        if let Some(j) = after.find('}') {
            let name = &after[..j];
            if !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            {
                return Some(name);
            }
        }
        rest = after;
    }
    None
}

/// Resolves an include relative to the including file's directory.
fn resolve_include(path: &str, l: &LogicalLine, kind: IncludeKind, value: &str) -> Result<Include> {
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

/// Python's `shlex.split` (POSIX mode, no comments): whitespace separates
/// words, `'...'` is literal, `"..."` allows `\` before `\ " $ \``, and a
/// backslash outside quotes escapes the next character.
fn shlex_split(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            c if c.is_whitespace() => {
                if have {
                    words.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            '\'' => {
                have = true;
                loop {
                    match it.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            '"' => {
                have = true;
                loop {
                    match it.next() {
                        Some('"') => break,
                        Some('\\') => match it.peek() {
                            Some(&n) if matches!(n, '\\' | '"' | '$' | '`' | '\n') => {
                                cur.push(n);
                                it.next();
                            }
                            _ => cur.push('\\'),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            '\\' => {
                have = true;
                match it.next() {
                    Some(n) => cur.push(n),
                    None => return Err("no escaped character".into()),
                }
            }
            c => {
                have = true;
                cur.push(c);
            }
        }
    }
    if have {
        words.push(cur);
    }
    Ok(words)
}

/// optparse over pip's options: `--long`, `--long=value`, `--long value`,
/// unambiguous long prefixes, `-x value`, `-xvalue`. Leftover positional
/// words (which pip would silently ignore) are refused.
#[allow(clippy::type_complexity)]
fn parse_options(
    words: &[String],
) -> std::result::Result<Vec<(Opt, Option<String>, String)>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        i += 1;
        if let Some(long) = w.strip_prefix("--") {
            if long.is_empty() {
                return Err("'--' is not a requirements-file option".into());
            }
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let opt = match LONG_OPTS.iter().find(|(n, _)| *n == name) {
                Some((_, o)) => *o,
                None => {
                    let m: Vec<_> = LONG_OPTS
                        .iter()
                        .filter(|(n, _)| n.starts_with(name))
                        .collect();
                    match m.as_slice() {
                        [(_, o)] => *o,
                        [] => return Err(format!("pip has no requirements-file option --{name}")),
                        _ => return Err(format!("--{name} is ambiguous (pip would refuse it)")),
                    }
                }
            };
            let shown = format!("--{name}");
            if takes_value(opt) {
                let v = match inline {
                    Some(v) => v,
                    None => {
                        let v = words
                            .get(i)
                            .ok_or_else(|| format!("{shown} needs a value"))?;
                        i += 1;
                        v.clone()
                    }
                };
                out.push((opt, Some(v), shown));
            } else {
                if inline.is_some() {
                    return Err(format!("{shown} takes no value"));
                }
                out.push((opt, None, shown));
            }
        } else if let Some(short) = w.strip_prefix('-') {
            let mut chars = short.chars();
            let Some(c) = chars.next() else {
                return Err("'-' on its own is not an option".into());
            };
            let Some((_, opt)) = SHORT_OPTS.iter().find(|(s, _)| *s == c) else {
                return Err(format!("pip has no requirements-file option -{c}"));
            };
            let rest: String = chars.collect();
            let v = if !rest.is_empty() {
                rest
            } else {
                let v = words.get(i).ok_or_else(|| format!("-{c} needs a value"))?;
                i += 1;
                v.clone()
            };
            out.push((*opt, Some(v), format!("-{c}")));
        } else {
            return Err(format!(
                "'{w}' after the options would be silently ignored by pip"
            ));
        }
    }
    Ok(out)
}

/// http(s) URL with something after the scheme.
fn is_remote_url(v: &str) -> bool {
    ["http://", "https://"]
        .iter()
        .any(|s| v.len() > s.len() && v[..s.len()].eq_ignore_ascii_case(s))
}

/// Index URLs are honoured (pip passes them on; an unreachable host fails in
/// pip with pip's message) but must be http(s) and carry no credentials,
/// which would be copied into the env package and its HASH.
fn check_index_url(v: &str) -> std::result::Result<(), String> {
    if !is_remote_url(v) {
        return Err(format!(
            "index URL '{v}' must be an http:// or https:// URL (a local directory is not part of the env HASH)"
        ));
    }
    let after = &v[v.find("://").expect("checked") + 3..];
    let authority = after.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(format!(
            "index URL '{v}' carries credentials; they would be shipped in the env package (/usr/share/NAME-env/HASH/): put them in the build root's pip.conf or netrc instead"
        ));
    }
    Ok(())
}

type ReqError = (String, Option<String>);

/// Checks the requirement part of a line: PEP 508 (`name[extras] specs ;
/// marker` or `name[extras] @ url ; marker`) or a bare URL. Local paths are
/// refused.
fn check_requirement(args: &str) -> std::result::Result<(), ReqError> {
    // pip's parse_req_from_line: a URL's marker follows "; ", anything
    // else's the first ";".
    let sep = if url_scheme_end(args).is_some() {
        "; "
    } else {
        ";"
    };
    let (req, marker) = match args.find(sep) {
        Some(i) => (args[..i].trim(), Some(args[i + sep.len()..].trim())),
        None => (args.trim(), None),
    };
    if let Some(m) = marker.filter(|m| !m.is_empty()) {
        let mut p = Pep508::new(m);
        p.marker().map_err(|e| {
            (
                format!("not a valid environment marker (PEP 508): {e}"),
                None,
            )
        })?;
        p.ws();
        if !p.at_end() {
            return Err((p.unexpected("after the marker"), None));
        }
    }
    if url_scheme_end(req).is_some() {
        return check_url(req);
    }
    if let Some((_, url)) = req.split_once('@')
        && let Some(url) = url.split_whitespace().next()
        && url_scheme_end(url).is_some()
    {
        check_url(url)?;
    }
    let local =
        (req.contains('/') || req.contains('\\') || req.starts_with('.') || is_archive(req))
            && !req.contains('@');
    if local {
        return Err((
            "djdd cannot honour a local path: the env HASH would not see the files it points to, and they are not on the target".into(),
            Some("publish the package to an index, or use `name @ https://...`".into()),
        ));
    }
    Pep508::new(req).requirement().map_err(|e| {
        (
            format!("not a valid requirement (PEP 508, PEP 440 as pip 24.1+ applies them): {e}"),
            None,
        )
    })
}

/// Whether pip reads `s` as an archive file name (pip's
/// `utils/filetypes.py` ARCHIVE_EXTENSIONS, compared in lower case), and
/// so as a local path rather than a project name.
fn is_archive(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    [
        ".whl",
        ".zip",
        ".tar.gz",
        ".tgz",
        ".tar",
        ".tar.bz2",
        ".tbz",
        ".tar.xz",
        ".txz",
        ".tlz",
        ".tar.lz",
        ".tar.lzma",
    ]
    .iter()
    .any(|e| s.ends_with(e))
}

/// When `s` starts with `scheme:` followed by `//`, or is a `file:` URL.
fn url_scheme_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if !b.first()?.is_ascii_alphabetic() {
        return None;
    }
    let i = b
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'.' | b'-')))?;
    if b[i] == b':' && (s[i + 1..].starts_with("//") || s[..i].eq_ignore_ascii_case("file")) {
        Some(i)
    } else {
        None
    }
}

/// A URL djdd lets pip fetch: http(s), or a VCS URL over a network transport.
fn check_url(url: &str) -> std::result::Result<(), ReqError> {
    let Some(i) = url_scheme_end(url) else {
        return Err((format!("'{url}' is not a URL (scheme://...)"), None));
    };
    let scheme = url[..i].to_ascii_lowercase();
    let rest = &url[i + 1..];
    let ok_scheme = match scheme.split_once('+') {
        None => matches!(scheme.as_str(), "http" | "https"),
        Some((vcs, transport)) => {
            matches!(vcs, "git" | "hg" | "svn" | "bzr")
                && matches!(transport, "http" | "https" | "ssh" | "git" | "svn")
        }
    };
    if !ok_scheme {
        return Err((
            format!(
                "djdd cannot honour a {scheme}: URL: only http(s) and VCS URLs over the network (git+https://...) reach the same content from every build host"
            ),
            None,
        ));
    }
    let host = rest.trim_start_matches('/');
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err((format!("'{url}' is not a valid URL"), None));
    }
    Ok(())
}

/// A small recursive-descent parser for PEP 508 over bytes (all syntax is
/// ASCII; quoted strings may hold any UTF-8).
struct Pep508<'a> {
    s: &'a str,
    i: usize,
}

const MARKER_VARS: &[&str] = &[
    "implementation_version",
    "platform_python_implementation",
    "implementation_name",
    "python_full_version",
    "platform_release",
    "platform_version",
    "platform_machine",
    "platform_system",
    "python_version",
    "sys_platform",
    "os_name",
    "os.name",
    "sys.platform",
    "platform.version",
    "platform.machine",
    "platform.python_implementation",
    "python_implementation",
    "extra",
];

impl<'a> Pep508<'a> {
    fn new(s: &'a str) -> Self {
        Pep508 { s, i: 0 }
    }
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }
    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }
    fn ws(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i > start
    }
    fn eat(&mut self, t: &str) -> bool {
        if self.rest().starts_with(t) {
            self.i += t.len();
            true
        } else {
            false
        }
    }
    fn unexpected(&self, context: &str) -> String {
        match self.rest().chars().next() {
            None => format!("unexpected end {context}"),
            Some(c) => format!(
                "unexpected '{c}' at column {} {context}",
                self.s[..self.i].chars().count() + 1
            ),
        }
    }

    /// `name [extras] (versionspec | @ url)` (the marker is split off first).
    fn requirement(&mut self) -> std::result::Result<(), String> {
        self.ws();
        self.identifier()
            .ok_or_else(|| self.unexpected("where a project name was expected"))?;
        self.ws();
        if self.peek() == Some(b'[') {
            self.extras()?;
            self.ws();
        }
        if self.eat("@") {
            self.ws();
            let start = self.i;
            while self.peek().is_some_and(|b| !b.is_ascii_whitespace()) {
                self.i += 1;
            }
            let url = &self.s[start..self.i];
            if url.is_empty() {
                return Err("'@' must be followed by a URL".into());
            }
            check_url(url).map_err(|(e, _)| e)?;
            self.ws();
            if !self.at_end() {
                return Err(self.unexpected("after the URL"));
            }
            return Ok(());
        }
        if self.peek() == Some(b'(') {
            self.i += 1;
            self.ws();
            self.version_many()?;
            self.ws();
            if !self.eat(")") {
                return Err(self.unexpected("where ')' was expected"));
            }
        } else if matches!(self.peek(), Some(b'<' | b'>' | b'=' | b'!' | b'~')) {
            self.version_many()?;
        }
        self.ws();
        if !self.at_end() {
            return Err(self.unexpected("after the requirement"));
        }
        Ok(())
    }

    /// `[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?`
    fn identifier(&mut self) -> Option<&'a str> {
        let start = self.i;
        if !self.peek()?.is_ascii_alphanumeric() {
            return None;
        }
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            self.i += 1;
        }
        // Give back trailing punctuation: names end with a letter or digit.
        while !self.s.as_bytes()[self.i - 1].is_ascii_alphanumeric() {
            self.i -= 1;
        }
        Some(&self.s[start..self.i])
    }

    fn extras(&mut self) -> std::result::Result<(), String> {
        self.i += 1; // '['
        self.ws();
        if self.eat("]") {
            return Ok(());
        }
        loop {
            self.identifier()
                .ok_or_else(|| self.unexpected("where an extra name was expected"))?;
            self.ws();
            if self.eat("]") {
                return Ok(());
            }
            if !self.eat(",") {
                return Err(self.unexpected("in the extras (expected ',' or ']')"));
            }
            self.ws();
        }
    }

    fn version_many(&mut self) -> std::result::Result<(), String> {
        loop {
            self.version_one()?;
            self.ws();
            if !self.eat(",") {
                return Ok(());
            }
            self.ws();
        }
    }

    fn version_one(&mut self) -> std::result::Result<(), String> {
        let op = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"]
            .into_iter()
            .find(|op| self.rest().starts_with(op))
            .ok_or_else(|| {
                self.unexpected("where a version operator (== >= ~= ...) was expected")
            })?;
        self.i += op.len();
        self.ws();
        let start = self.i;
        while self
            .peek()
            .is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b',' | b';' | b')'))
        {
            self.i += 1;
        }
        let v = &self.s[start..self.i];
        check_specifier(op, v)
    }

    fn marker(&mut self) -> std::result::Result<(), String> {
        self.marker_and()?;
        loop {
            let save = self.i;
            self.ws();
            if self.keyword("or") {
                self.ws();
                self.marker_and()?;
            } else {
                self.i = save;
                return Ok(());
            }
        }
    }

    fn marker_and(&mut self) -> std::result::Result<(), String> {
        self.marker_atom()?;
        loop {
            let save = self.i;
            self.ws();
            if self.keyword("and") {
                self.ws();
                self.marker_atom()?;
            } else {
                self.i = save;
                return Ok(());
            }
        }
    }

    /// A keyword followed by whitespace, '(' or a quote.
    fn keyword(&mut self, k: &str) -> bool {
        if self.rest().starts_with(k)
            && self
                .s
                .as_bytes()
                .get(self.i + k.len())
                .is_some_and(|&b| matches!(b, b' ' | b'\t' | b'(' | b'"' | b'\''))
        {
            self.i += k.len();
            true
        } else {
            false
        }
    }

    fn marker_atom(&mut self) -> std::result::Result<(), String> {
        self.ws();
        if self.eat("(") {
            self.ws();
            self.marker()?;
            self.ws();
            if !self.eat(")") {
                return Err(self.unexpected("in the marker where ')' was expected"));
            }
            return Ok(());
        }
        self.marker_var()?;
        self.ws();
        let op = ["===", "==", "!=", "<=", ">=", "~=", "<", ">"]
            .into_iter()
            .find(|op| self.rest().starts_with(op));
        if let Some(op) = op {
            self.i += op.len();
        } else if self.keyword("in") {
        } else if self.keyword("not") {
            self.ws();
            if !self.keyword("in") {
                return Err(self.unexpected("in the marker where 'in' was expected after 'not'"));
            }
        } else {
            return Err(self.unexpected("in the marker where an operator was expected"));
        }
        self.ws();
        self.marker_var()
    }

    fn marker_var(&mut self) -> std::result::Result<(), String> {
        match self.peek() {
            Some(q @ (b'"' | b'\'')) => {
                let start = self.i + 1;
                match self.s[start..].find(q as char) {
                    Some(j) => {
                        self.i = start + j + 1;
                        Ok(())
                    }
                    None => Err("unterminated string in the marker".into()),
                }
            }
            _ => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.'))
                {
                    self.i += 1;
                }
                let name = &self.s[start..self.i];
                if MARKER_VARS.contains(&name) {
                    Ok(())
                } else if name.is_empty() {
                    Err(self.unexpected(
                        "in the marker where a variable or a quoted string was expected",
                    ))
                } else {
                    Err(format!(
                        "'{name}' is not a marker variable (python_version, sys_platform, ...)"
                    ))
                }
            }
        }
    }
}

/// The parts of a PEP 440 version that specifier rules look at.
#[derive(Debug, PartialEq, Eq)]
struct Pep440 {
    release_len: usize,
    suffixed: bool,
    local: bool,
}

/// Matches packaging's VERSION_PATTERN (case-insensitive).
fn pep440(v: &str) -> Option<Pep440> {
    let s = v.to_ascii_lowercase();
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > st
    };
    let sep = |i: &mut usize| {
        if *i < b.len() && matches!(b[*i], b'-' | b'_' | b'.') {
            *i += 1;
        }
    };
    let label = |i: &mut usize, labels: &[&str]| {
        for l in labels {
            if s[*i..].starts_with(l) {
                *i += l.len();
                return true;
            }
        }
        false
    };
    if b.first() == Some(&b'v') {
        i += 1;
    }
    // epoch
    let st = i;
    if digits(&mut i) && b.get(i) == Some(&b'!') {
        i += 1;
    } else {
        i = st;
    }
    // release
    if !digits(&mut i) {
        return None;
    }
    let mut release_len = 1;
    while b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
        i += 1;
        digits(&mut i);
        release_len += 1;
    }
    let mut suffixed = false;
    // pre
    let st = i;
    sep(&mut i);
    if label(
        &mut i,
        &["alpha", "beta", "preview", "pre", "rc", "a", "b", "c"],
    ) {
        sep(&mut i);
        digits(&mut i);
        suffixed = true;
    } else {
        i = st;
    }
    // post
    let st = i;
    if b.get(i) == Some(&b'-') && b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
        i += 1;
        digits(&mut i);
        suffixed = true;
    } else {
        sep(&mut i);
        if label(&mut i, &["post", "rev", "r"]) {
            sep(&mut i);
            digits(&mut i);
            suffixed = true;
        } else {
            i = st;
        }
    }
    // dev
    let st = i;
    sep(&mut i);
    if label(&mut i, &["dev"]) {
        sep(&mut i);
        digits(&mut i);
        suffixed = true;
    } else {
        i = st;
    }
    // local
    let mut local = false;
    if b.get(i) == Some(&b'+') {
        i += 1;
        loop {
            let st = i;
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            if i == st {
                return None;
            }
            if i < b.len() && matches!(b[i], b'-' | b'_' | b'.') {
                i += 1;
            } else {
                break;
            }
        }
        local = true;
    }
    (i == b.len()).then_some(Pep440 {
        release_len,
        suffixed,
        local,
    })
}

/// packaging's `Specifier` rules for one operator and version.
fn check_specifier(op: &str, v: &str) -> std::result::Result<(), String> {
    let bad = |why: &str| Err(format!("'{op}{v}' is not a valid version specifier: {why}"));
    if v.is_empty() {
        return bad("the version is missing");
    }
    match op {
        "===" => Ok(()),
        "==" | "!=" => {
            if let Some(prefix) = v.strip_suffix(".*") {
                match pep440(prefix) {
                    Some(p) if !p.suffixed && !p.local => Ok(()),
                    _ => bad("'.*' may only follow a release number like 1.2"),
                }
            } else if pep440(v).is_some() {
                Ok(())
            } else {
                bad("not a PEP 440 version")
            }
        }
        _ => match pep440(v) {
            None => bad("not a PEP 440 version"),
            Some(p) if p.local => bad("a local version (+...) is allowed only with == and !="),
            Some(p) if op == "~=" && p.release_len < 2 => {
                bad("~= needs at least two release numbers (~=1.4)")
            }
            Some(_) => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> impl FnMut(&str) -> Result<Option<Vec<u8>>> {
        let map: BTreeMap<String, Vec<u8>> = files
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        move |p: &str| Ok(map.get(p).cloned())
    }

    fn load(files: &[(&str, &str)]) -> Result<Requirements> {
        let mut r = tree(files);
        load_requirements("requirements.txt", &mut r)
    }

    fn err(files: &[(&str, &str)]) -> String {
        load(files).unwrap_err().to_string()
    }

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

    #[test]
    fn comments_continuations_and_crlf_follow_pip() {
        let lines = logical_lines(
            "r",
            b"# top\r\nDjango>=4.2 # web\r\ncelery\\\r\n==5.3\r\n  \r\nfoo#bar\n\\\n",
        )
        .unwrap();
        let got: Vec<_> = lines.iter().map(|l| (l.number, l.text.as_str())).collect();
        assert_eq!(
            got,
            [(2, "Django>=4.2"), (3, "celery==5.3"), (6, "foo#bar")]
        );
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
    fn a_comment_line_ends_a_continuation() {
        let lines = logical_lines("r", b"foo \\\n# c \\\nbar\n").unwrap();
        let got: Vec<_> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(got, ["foo", "bar"]);
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
    fn accepts_the_forms_pip_accepts() {
        let ok = [
            "Django",
            "django>=4.2,<5",
            "Django (>=4.2, <5.0)",
            "celery[redis,sqs]==5.3.4",
            "psycopg2==2.9.9 --hash=sha256:abc --hash=sha256:def",
            "foo===anything-goes",
            "foo==1.*",
            "foo!=2.0.*",
            "foo~=1.4.2",
            "foo>=1.0a1.post2.dev3",
            "foo==1.0+local.7",
            "foo==v1.0",
            "foo; python_version < \"3.12\" and (sys_platform == 'linux' or os_name != 'nt')",
            "foo ; extra == 'x'",
            "foo; 'linux' in sys_platform",
            "foo; platform_machine not in 'arm64 aarch64'",
            "pkg @ https://example.com/pkg-1.0.tar.gz",
            "pkg[x] @ git+https://github.com/a/b.git@v1.0 ; python_version >= '3'",
            "https://example.com/pkg-1.0-py3-none-any.whl",
            "git+https://github.com/a/b.git@abc123#egg=b",
            "-i https://pypi.org/simple",
            "--index-url=https://pypi.org/simple",
            "--extra-index-url https://example.com/simple",
            "--find-links https://example.com/wheels/",
            "--no-binary :all:",
            "--only-binary=psycopg2",
            "--pre",
            "--require-hashes",
            "--prefer-binary",
            "--trusted-host example.com",
        ];
        for line in ok {
            let r = normalise("requirements.txt", line.as_bytes());
            assert!(r.is_ok(), "{line}: {:?}", r.unwrap_err().to_string());
        }
    }

    #[test]
    fn refuses_what_pip_cannot_parse_with_file_and_line() {
        let bad = [
            ("Django>=", "version is missing"),
            ("Django>=abc", "not a PEP 440 version"),
            ("foo~=1", "at least two release numbers"),
            ("foo>=1.0+local", "local version"),
            ("foo==1.0a1.*", "'.*' may only follow"),
            ("foo[bar", "extras"),
            ("foo; python_version <", "variable or a quoted string"),
            ("foo; pyversion == '3'", "not a marker variable"),
            ("foo; python_version == '3", "unterminated"),
            ("foo bar", "unexpected 'b'"),
            ("-x", "no requirements-file option -x"),
            ("--nope", "no requirements-file option --nope"),
            ("--pre=1", "takes no value"),
            ("-r", "needs a value"),
            ("foo -r x.txt", "ignores the option -r"),
            ("--hash=sha256:abc", "belongs after a requirement"),
            ("-r 'a.txt", "no closing quotation"),
            ("-r a.txt b.txt", "silently ignored"),
            ("pkg @ https://x.org/p.tgz junk", "after the URL"),
            ("foo; python_version > '3' junk", "after the marker"),
        ];
        for (line, want) in bad {
            let e = normalise("requirements.txt", format!("ok\n{line}\n").as_bytes())
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("requirements.txt:2: '{line}': ")),
                "{line}: {e}"
            );
            assert!(e.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn refuses_options_djdd_cannot_honour_with_the_reason() {
        let cases = [
            ("-e git+https://x.org/a.git#egg=a", "editable installs"),
            ("--editable .", "editable installs"),
            ("-f ./wheels", "--find-links to a local path"),
            ("./libs/foo", "local path"),
            ("foo-1.0.whl", "local path"),
            // pip reads these as file names too, in any letter case.
            ("a.TAr", "local path"),
            ("foo.tbz", "local path"),
            ("foo.TLZ", "local path"),
            ("file:///srv/foo.whl", "file: URL"),
            ("foo @ file:///srv/foo.whl", "file: URL"),
            (
                "-i https://user:secret@example.com/simple",
                "carries credentials",
            ),
            ("-i ./index", "http:// or https://"),
            ("foo==${VERSION}", "${VERSION}"),
            ("-r https://example.com/r.txt", "include from a URL"),
        ];
        for (line, want) in cases {
            let e = normalise("requirements.txt", line.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains("requirements.txt:1:"), "{line}: {e}");
            assert!(e.contains(want), "{line}: {e}");
        }
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

    #[test]
    fn non_utf8_is_refused_with_the_line() {
        let e = normalise("r.txt", b"ok\n\xff\n").unwrap_err().to_string();
        assert!(e.starts_with("r.txt:2: is not valid UTF-8"), "{e}");
    }

    #[test]
    fn shlex_matches_python() {
        assert_eq!(
            shlex_split(r#"-r "a b.txt" 'c d' e\ f"#).unwrap(),
            ["-r", "a b.txt", "c d", "e f"]
        );
        assert!(shlex_split("\"x").is_err());
    }

    #[test]
    fn pep440_matches_packaging() {
        for v in [
            "1",
            "1.0",
            "v1.0",
            "1!2.0",
            "1.0a",
            "1.0a.",
            "1.0-1",
            "1.0.post",
            "1.0rc1.dev0+abc.1",
            "1.0_alpha_2",
        ] {
            assert!(pep440(v).is_some(), "{v}");
        }
        for v in ["", "1.", "a1", "1.0-", "1.0+", "1.0+a..b", "1..0", "1.0 a"] {
            assert!(pep440(v).is_none(), "{v}");
        }
    }
}
