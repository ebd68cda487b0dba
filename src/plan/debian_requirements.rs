//! The project's Debian requirement files: `venv-debian-requirements.txt`
//! and `src-debian-requirements.txt`.
//!
//! Responsible for turning them into the Debian packages needed at build
//! time (installed into the build root before pip or collectstatic run) and
//! at run time (the env or src package's `Depends`). The syntax and its
//! parser are the project's (`config::project::parse_debian_requirements`,
//! documented in docs/contract.md). It never touches the disk: `ops` hands
//! in the bytes. Package names follow Debian Policy §5.6.1.

use crate::config::project::{self, DebianRequirement};
use crate::error::{Error, Result};

/// The packages a Debian requirements file names, each list sorted and
/// without duplicates. A `both` line appears in both lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DebianRequirements {
    /// Installed into the build root before building.
    pub build: Vec<String>,
    /// Added to the package's `Depends`.
    pub run: Vec<String>,
}

impl DebianRequirements {
    /// Parses a Debian requirements file with the project's parser
    /// ([`project::parse_debian_requirements`]); `path` names the file in
    /// errors, which list every bad line.
    pub fn parse(path: &str, bytes: &[u8]) -> Result<DebianRequirements> {
        let text = std::str::from_utf8(bytes).map_err(|_| {
            Error::invalid_hint(path, "is not valid UTF-8", "save the file as UTF-8")
        })?;
        match project::parse_debian_requirements(path, text) {
            Ok(lines) => Ok(DebianRequirements::from_lines(&lines)),
            Err(mut errors) if errors.len() == 1 => Err(errors.remove(0)),
            Err(errors) => Err(Error::invalid(
                path,
                format!(
                    "{} lines are wrong:\n  {}",
                    errors.len(),
                    errors
                        .iter()
                        .map(|e| e.to_string().replace('\n', "\n    "))
                        .collect::<Vec<_>>()
                        .join("\n  ")
                ),
            )),
        }
    }

    /// The build and run lists of parsed lines, sorted.
    pub fn from_lines(lines: &[DebianRequirement]) -> DebianRequirements {
        let mut out = DebianRequirements::default();
        for l in lines {
            if l.build {
                out.build.push(l.package.clone());
            }
            if l.run {
                out.run.push(l.package.clone());
            }
        }
        for v in [&mut out.build, &mut out.run] {
            v.sort();
            v.dedup();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_build_and_run_with_both_by_default() {
        let d = DebianRequirements::parse(
            "venv-debian-requirements.txt",
            b"# for psycopg2\r\nlibpq-dev build # headers\nlibpq5 run\n\n  gettext  \nmake both\n",
        )
        .unwrap();
        assert_eq!(d.build, ["gettext", "libpq-dev", "make"]);
        assert_eq!(d.run, ["gettext", "libpq5", "make"]);
    }

    #[test]
    fn bad_lines_name_file_line_and_rule() {
        let cases = [
            ("LibPQ5\n", "x:1: \"LibPQ5\" is not a Debian package name"),
            (
                "ok\nlibpq5 sometimes\n",
                "x:2: `sometimes` after libpq5 is not `build` or `run`",
            ),
            (
                "libpq5 (>= 15)\n",
                "x:1: \"libpq5 (>= 15)\": version relations",
            ),
            ("libpq5 | libpq4\n", "alternatives are not supported"),
            ("libpq5 run extra\n", "`extra` after libpq5"),
            ("libpq5\nlibpq5 run\n", "listed again"),
            (
                "$(touch /tmp/x)\n",
                "x:1: \"$(touch\" is not a Debian package name",
            ),
        ];
        for (text, want) in cases {
            let e = DebianRequirements::parse("x", text.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        let e = DebianRequirements::parse("x", b"A\nB\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("x: 2 lines are wrong:") && e.contains("x:1:") && e.contains("x:2:"),
            "{e}"
        );
        assert!(DebianRequirements::parse("x", b"\xff\n").is_err());
    }

    #[test]
    fn empty_file_is_empty() {
        assert_eq!(
            DebianRequirements::parse("x", b"# nothing\n").unwrap(),
            DebianRequirements::default()
        );
    }
}
