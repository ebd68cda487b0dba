//! The environment files: quoting a value so that systemd
//! (`EnvironmentFile=`) and POSIX sh read it the same way, and writing a
//! file of variables, refusing a value the two would read differently.
//!
//! Never writes to the disk: the file's text is returned. Imports nothing
//! of the crate; pure.

use std::fmt;

/// A value an environment file cannot carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFileError {
    pub name: String,
    pub value: String,
}

impl fmt::Display for EnvFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "environment variable {:?}: a name must match [A-Za-z_][A-Za-z0-9_]* and a value may hold no line break or other control character but tab (value {:?})",
            self.name, self.value
        )
    }
}

impl std::error::Error for EnvFileError {}

/// A value as an environment file writes it: `"…"` with each of
/// `\`, `"`, `$` and `` ` `` backslash-escaped. systemd's `EnvironmentFile=` (systemd.exec(5))
/// unescapes exactly these four inside double quotes, and so does POSIX
/// sh, so the line means the same to both. `None` for a value with a line
/// break or another control character (tab is allowed).
pub fn env_quote(value: &str) -> Option<String> {
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return None;
    }
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    Some(s)
}

/// Writes variables as an environment file that systemd's
/// `EnvironmentFile=` and sh's `set -a; . FILE` read identically: one
/// `NAME="value"` a line, the value quoted by [`env_quote`].
pub fn env_file(vars: &[(String, String)]) -> Result<String, EnvFileError> {
    let mut out = String::new();
    for (name, value) in vars {
        let name_ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let quoted = env_quote(value).filter(|_| name_ok);
        let Some(quoted) = quoted else {
            return Err(EnvFileError {
                name: name.clone(),
                value: value.clone(),
            });
        };
        out.push_str(&format!("{name}={quoted}\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_quotes_what_sh_and_systemd_would_read_differently() {
        assert!(env_file(&[("X".into(), "a\nb".into())]).is_err());
        assert!(env_file(&[("1X".into(), "v".into())]).is_err());
        assert!(env_file(&[("A-B".into(), "v".into())]).is_err());
        assert_eq!(
            env_file(&[("A".into(), r#"it's "x" $z \ `id`"#.into())]).unwrap(),
            "A=\"it's \\\"x\\\" \\$z \\\\ \\`id\\`\"\n"
        );
        assert_eq!(env_quote("a\tb").unwrap(), "\"a\tb\"");
    }
}
