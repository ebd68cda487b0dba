//! The requirement part of a line: PEP 508 dependency specifiers.
//!
//! Responsible for checking `name[extras] specifiers ; marker`,
//! `name[extras] @ url ; marker` and bare URLs the way pip's `packaging`
//! parses them, with a small recursive-descent parser (versions go to
//! `pep440`); refusing local paths and archive file names, `file:` URLs and
//! URL schemes that do not reach the same content from every build host;
//! and naming the distribution a line installs, PEP 503-normalised. It must
//! never fetch a URL or look at the disk: a URL is checked as text only. It
//! follows PEP 508 (dependency specifiers, environment markers), PEP 503
//! (name normalisation) and pip's `parse_req_from_line` and
//! `utils/filetypes.py` for what pip reads as a URL or a local file.

use super::pep440::check_specifier;

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
    Some(crate::rules::names::python_name(name))
}

/// What is wrong with a requirement, and what to do, when djdd knows:
/// the line layer (`lines::line_error`) names the file and line.
#[derive(Debug)]
pub(super) struct ReqError {
    pub(super) problem: String,
    pub(super) hint: Option<String>,
}

impl ReqError {
    fn new(problem: impl Into<String>) -> Self {
        ReqError {
            problem: problem.into(),
            hint: None,
        }
    }

    fn hint(problem: impl Into<String>, hint: impl Into<String>) -> Self {
        ReqError {
            problem: problem.into(),
            hint: Some(hint.into()),
        }
    }
}

/// Checks the requirement part of a line: PEP 508 (`name[extras] specs ;
/// marker` or `name[extras] @ url ; marker`) or a bare URL. Local paths are
/// refused.
pub(super) fn check_requirement(args: &str) -> std::result::Result<(), ReqError> {
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
        p.marker()
            .map_err(|e| ReqError::new(format!("not a valid environment marker (PEP 508): {e}")))?;
        p.ws();
        if !p.at_end() {
            return Err(ReqError::new(p.unexpected("after the marker")));
        }
    }
    if url_scheme_end(req).is_some() {
        return check_url(req);
    }
    if let Some((_, url)) = req.split_once('@') {
        if let Some(url) = url.split_whitespace().next() {
            if url_scheme_end(url).is_some() {
                check_url(url)?;
            }
        }
    }
    let local =
        (req.contains('/') || req.contains('\\') || req.starts_with('.') || is_archive(req))
            && !req.contains('@');
    if local {
        return Err(ReqError::hint(
            "djdd cannot honour a local path: the env HASH would not see the files it points to, and they are not on the target",
            "publish the package to an index, or use `name @ https://...`",
        ));
    }
    Pep508::new(req).requirement().map_err(|e| {
        ReqError::new(format!(
            "not a valid requirement (PEP 508, PEP 440 as pip 24.1+ applies them): {e}"
        ))
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
        return Err(ReqError::new(format!(
            "'{url}' is not a URL (scheme://...)"
        )));
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
        return Err(ReqError::new(format!(
            "djdd cannot honour a {scheme}: URL: only http(s) and VCS URLs over the network (git+https://...) reach the same content from every build host"
        )));
    }
    let host = rest.trim_start_matches('/');
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ReqError::new(format!("'{url}' is not a valid URL")));
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
            check_url(url).map_err(|e| e.problem)?;
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
