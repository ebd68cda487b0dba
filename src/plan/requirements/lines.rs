//! The lexer of a requirements file: bytes to logical lines.
//!
//! Responsible for decoding a file (UTF-8, an optional BOM, at most
//! [`MAX_FILE_SIZE`] bytes), splitting it into physical lines the way
//! Python's `str.splitlines()` does, joining `\`-continued lines, stripping
//! comments and blank lines, collapsing whitespace outside quotes for the
//! normalised form, and naming a line in an error (`path:N: 'text'`). It must
//! never judge what a line says (options, requirements, includes: that is
//! `options`, `pep508` and `walk`) and never touch the disk. It follows
//! pip's "Requirements File Format" and its `preprocess` in
//! `pip/_internal/req/req_file.py` (`join_lines`, `ignore_comments`,
//! `COMMENT_RE`).

use crate::error::{Error, Result};

/// Largest requirements file djdd reads (bytes).
pub const MAX_FILE_SIZE: usize = 1 << 20;

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
            if c == '\r' {
                if let Some(&(_, '\n')) = it.peek() {
                    it.next();
                    end += 1;
                }
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
pub(super) fn collapse_ws(text: &str) -> String {
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

pub(super) fn line_error(path: &str, l: &LogicalLine, problem: impl Into<String>) -> Error {
    Error::invalid(format!("{path}:{}: '{}'", l.number, l.text), problem)
}

pub(super) fn line_error_hint(
    path: &str,
    l: &LogicalLine,
    problem: impl Into<String>,
    hint: impl Into<String>,
) -> Error {
    Error::invalid_hint(format!("{path}:{}: '{}'", l.number, l.text), problem, hint)
}

#[cfg(test)]
mod tests {
    use super::super::walk::normalise;
    use super::*;

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
    fn a_comment_line_ends_a_continuation() {
        let lines = logical_lines("r", b"foo \\\n# c \\\nbar\n").unwrap();
        let got: Vec<_> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(got, ["foo", "bar"]);
    }

    #[test]
    fn non_utf8_is_refused_with_the_line() {
        let e = normalise("r.txt", b"ok\n\xff\n").unwrap_err().to_string();
        assert!(e.starts_with("r.txt:2: is not valid UTF-8"), "{e}");
    }
}
