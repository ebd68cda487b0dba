//! The one error type of djdd's library modules.
//!
//! Every message names the thing to fix: the file, field or value at fault,
//! what is wrong with it, and where useful a `hint:` line saying what to do.
//! Library code returns these; only `main` prints them (with their cause
//! chain) and picks the exit code. `ops` may wrap them in `anyhow` context.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value given by the user (argument, file, field) breaks a rule.
    #[error("{what}: {problem}{}", hint_line(.hint))]
    Invalid {
        /// The thing at fault, e.g. `DEBIAN/control: field Package` or `NAME 'Foo'`.
        what: String,
        /// What is wrong, stating the rule.
        problem: String,
        hint: Option<String>,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An external program failed; `output` is the tail of what it printed.
    #[error("`{command}` failed: {status}{}", tail_block(.output))]
    Command {
        command: String,
        status: String,
        output: String,
    },
    /// A required program is not installed.
    #[error("`{program}` is not installed\n  hint: apt-get install {package}")]
    MissingProgram { program: String, package: String },
}

impl Error {
    /// Shorthand for [`Error::Invalid`] without a hint.
    pub fn invalid(what: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            problem: problem.into(),
            hint: None,
        }
    }

    /// Shorthand for [`Error::Invalid`] with a hint line.
    pub fn invalid_hint(
        what: impl Into<String>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            what: what.into(),
            problem: problem.into(),
            hint: Some(hint.into()),
        }
    }

    /// The same error with a hint line: an [`Error::Invalid`] keeps its
    /// what and problem and gets HINT; any other error is returned as is.
    pub fn with_hint(self, hint: impl Into<String>) -> Self {
        match self {
            Error::Invalid { what, problem, .. } => Error::Invalid {
                what,
                problem,
                hint: Some(hint.into()),
            },
            other => other,
        }
    }

    /// The same error with `context` before the command of an
    /// [`Error::Command`] (`CONTEXT: COMMAND`: what it was run for); any
    /// other error is returned as is.
    pub fn in_step(self, context: &str) -> Self {
        match self {
            Error::Command {
                command,
                status,
                output,
            } => Error::Command {
                command: format!("{context}: {command}"),
                status,
                output,
            },
            other => other,
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

fn hint_line(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!("\n  hint: {h}"),
        None => String::new(),
    }
}

fn tail_block(output: &str) -> String {
    let t = output.trim_end();
    if t.is_empty() {
        String::new()
    } else {
        let mut s = String::from("\n");
        for line in t.lines() {
            s.push_str("  | ");
            s.push_str(line);
            s.push('\n');
        }
        s.pop();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_with_hint_names_thing_and_hint() {
        let e = Error::invalid_hint("NAME 'Foo'", "must match ^[a-z][a-z0-9-]*$", "use 'foo'");
        assert_eq!(
            e.to_string(),
            "NAME 'Foo': must match ^[a-z][a-z0-9-]*$\n  hint: use 'foo'"
        );
    }

    #[test]
    fn command_error_indents_output_tail() {
        let e = Error::Command {
            command: "pip install".into(),
            status: "exit status 1".into(),
            output: "a\nb\n".into(),
        };
        assert_eq!(
            e.to_string(),
            "`pip install` failed: exit status 1\n  | a\n  | b"
        );
    }
}
