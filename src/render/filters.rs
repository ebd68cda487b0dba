//! Quoting filters for the site templates: one per target syntax, so that a
//! value the templates did not write cannot change a generated file's meaning.
//!
//! Pure functions on strings. Never used to "clean" a value: a filter quotes
//! exactly, or fails the render (a validation bug upstream) rather than emit
//! something that parses differently. Syntaxes followed: POSIX sh (XCU 2.2
//! quoting), systemd's EnvironmentFile parser (systemd.exec(5); env-file.c
//! in systemd 252), systemd unit setting values (systemd.unit(5),
//! systemd.service(5) "Command lines"), and nginx's configuration tokens.

use minijinja::{Error, ErrorKind};

/// POSIX sh: `'…'` with each `'` written as `'\''`. Safe for any bytes.
pub fn shell_quote(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('\'');
    for c in value.chars() {
        if c == '\'' {
            s.push_str("'\\''");
        } else {
            s.push(c);
        }
    }
    s.push('\'');
    s
}

/// POSIX sh, for text people read: a word of plain characters stays as
/// it is, anything else goes through [`shell_quote`].
pub fn shell_word(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        value.to_string()
    } else {
        shell_quote(value)
    }
}

/// POSIX sh, a process's or timer's command word: `"…"` with `\ " $ \``
/// backslash-escaped, except each `${VAR}` reference (VAR a name of
/// `[A-Z_][A-Z0-9_]*`, checked against the contract by `config::project`),
/// which stays for the shell to expand. Control characters are refused.
pub fn command_word(value: &str) -> Result<String, Error> {
    use crate::config::project::{CommandPiece, command_pieces};
    if value.chars().any(|c| c.is_control()) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("command_word: {value:?} contains a control character"),
        ));
    }
    let mut s = String::from('"');
    for piece in command_pieces(value) {
        match piece {
            CommandPiece::Text(t) => {
                for c in t.chars() {
                    if matches!(c, '\\' | '"' | '$' | '`') {
                        s.push('\\');
                    }
                    s.push(c);
                }
            }
            CommandPiece::Var(v) => {
                s.push_str("${");
                s.push_str(&v);
                s.push('}');
            }
        }
    }
    s.push('"');
    Ok(s)
}

/// systemd EnvironmentFile value, as the deploy contract writes one
/// (`contract::env_quote`: `"…"` with `\ " $ \`` backslash-escaped, the
/// same to systemd and POSIX sh). Line breaks and other control characters
/// are refused.
pub fn env_quote(value: &str) -> Result<String, Error> {
    crate::contract::env_quote(value).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("env_quote: value {value:?} contains a control character"),
        )
    })
}

/// A word in a systemd unit setting (an ExecStart= argument, a path list
/// entry): `%` becomes `%%` (specifiers), `$` becomes `$$` (variable
/// expansion), and a word with whitespace, quotes or backslashes is
/// double-quoted with C escapes. Control characters are refused.
pub fn unit_word(value: &str) -> Result<String, Error> {
    if value.is_empty() || value.chars().any(|c| c.is_control()) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("unit_word: empty value or control character in {value:?}"),
        ));
    }
    let escaped = value.replace('%', "%%").replace('$', "$$");
    let needs_quotes = escaped
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';'));
    if !needs_quotes {
        return Ok(escaped);
    }
    let mut s = String::from("\"");
    for c in escaped.chars() {
        if matches!(c, '"' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    Ok(s)
}

/// An nginx token (server name, path, upstream name). nginx has no escape
/// for `$` inside strings, so instead of quoting, anything outside a plain
/// set fails the render.
pub fn nginx_token(value: &str) -> Result<String, Error> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/:~-".contains(c));
    if ok {
        Ok(value.to_string())
    } else {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("nginx_token: {value:?} holds characters nginx would interpret"),
        ))
    }
}

/// A Python string literal: `"…"` with `\\` and `"` backslash-escaped,
/// control characters as `\xNN` and every non-ASCII character as
/// `\uNNNN` or `\UNNNNNNNN`, so the literal is the value whatever the
/// file's encoding (Python's lexical analysis, "String and Bytes
/// literals"). Safe for any string.
pub fn python_str(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                s.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if (c as u32) < 0x80 => s.push(c),
            c if (c as u32) <= 0xffff => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_str_is_the_value_to_python() {
        assert_eq!(python_str("a"), "\"a\"");
        assert_eq!(
            python_str("a\"b\\c\n\u{e9}\u{1f600}"),
            r#""a\"b\\c\x0a\u00e9\U0001f600""#
        );
        let value = "x\"'\\\n\t\u{7f}\u{e9}\u{1f600}{}%s";
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import sys; sys.stdout.write({})",
                python_str(value)
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8(out.stdout).unwrap(), value);
    }

    #[test]
    fn command_words_keep_only_variable_references() {
        assert_eq!(
            command_word("${DATA_DIR}/beat $HOME `id` \"q\" \\").unwrap(),
            "\"${DATA_DIR}/beat \\$HOME \\`id\\` \\\"q\\\" \\\\\""
        );
        assert_eq!(command_word("").unwrap(), "\"\"");
        assert!(command_word("a\nb").is_err());
        // What sh makes of it: the variable expanded, the rest literal.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "DATA_DIR=/d; printf '%s' {}",
                command_word("${DATA_DIR}/x $(id) `id` \"'\\").unwrap()
            ))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "/d/x $(id) `id` \"'\\"
        );
    }

    #[test]
    fn shell_quote_escapes_single_quotes() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's $(x)"), r#"'it'\''s $(x)'"#);
    }

    #[test]
    fn shell_word_quotes_only_what_needs_it() {
        assert_eq!(shell_word("unix:/run/a-b/g.sock"), "unix:/run/a-b/g.sock");
        assert_eq!(shell_word("*"), "'*'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("~x"), "'~x'");
    }

    #[test]
    fn env_quote_escapes_the_four_specials() {
        assert_eq!(env_quote(r#"a"b\c$d`e'f"#).unwrap(), r#""a\"b\\c\$d\`e'f""#);
        assert!(env_quote("a\nb").is_err());
        assert_eq!(env_quote("a\tb").unwrap(), "\"a\tb\"");
    }

    #[test]
    fn unit_word_escapes_specifiers_and_quotes_spaces() {
        assert_eq!(unit_word("/usr/lib/x").unwrap(), "/usr/lib/x");
        assert_eq!(unit_word("50%").unwrap(), "50%%");
        assert_eq!(unit_word("$HOME").unwrap(), "$$HOME");
        assert_eq!(unit_word("a b\"c").unwrap(), r#""a b\"c""#);
        assert!(unit_word("a\nb").is_err());
    }

    #[test]
    fn nginx_token_refuses_syntax() {
        assert!(nginx_token("example.org").is_ok());
        for bad in ["a b", "a;b", "a{b", "$host", "a\"b", ""] {
            assert!(nginx_token(bad).is_err(), "{bad:?}");
        }
    }
}
