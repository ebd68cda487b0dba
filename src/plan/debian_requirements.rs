//! The project's Debian requirement files: `venv-debian-requirements.txt`
//! and `src-debian-requirements.txt`.
//!
//! Responsible for parsing them into the Debian packages needed at build
//! time (installed into the build root before pip or collectstatic run) and
//! at run time (the env or src package's `Depends`). It never touches the
//! disk: `ops` hands in the bytes. Package names follow Debian Policy §5.6.1
//! (checked by `deb::control::check_package_name`).
//!
//! Syntax, one package a line:
//!
//! ```text
//! # comment (a '#' anywhere starts one)
//! libpq-dev build     # needed to compile psycopg2
//! libpq5 run          # needed by the compiled module
//! gettext             # no qualifier: both
//! ```

use crate::deb::control::check_package_name;
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

/// Parses a Debian requirements file. `path` only names the file in errors.
pub fn parse_debian_requirements(path: &str, bytes: &[u8]) -> Result<DebianRequirements> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::invalid_hint(path, "is not valid UTF-8", "save the file as UTF-8"))?;
    let mut out = DebianRequirements::default();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let what = || format!("{path}:{}: '{line}'", i + 1);
        let mut words = line.split_whitespace();
        let name = words.next().expect("non-empty line");
        let when = words.next().unwrap_or("both");
        check_package_name(name).map_err(|e| match e {
            Error::Invalid { problem, .. } => Error::invalid(what(), problem),
            e => e,
        })?;
        if line[name.len()..].contains(['(', ')', '|', ',', '[', '<', '>', '=']) {
            return Err(Error::invalid_hint(
                what(),
                "version relations and alternatives are not supported: a line is PACKAGE [build|run|both]",
                "name one package a line; the versions come from the build root's Debian release",
            ));
        }
        if let Some(extra) = words.next() {
            return Err(Error::invalid_hint(
                what(),
                format!("unexpected '{extra}': a line is PACKAGE [build|run|both]"),
                "one package a line",
            ));
        }
        let (build, run) = match when {
            "build" => (true, false),
            "run" => (false, true),
            "both" => (true, true),
            other => {
                return Err(Error::invalid(
                    what(),
                    format!("'{other}' must be build, run or both (the default)"),
                ));
            }
        };
        if build {
            out.build.push(name.to_string());
        }
        if run {
            out.run.push(name.to_string());
        }
    }
    for v in [&mut out.build, &mut out.run] {
        v.sort();
        v.dedup();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_build_and_run_with_both_by_default() {
        let d = parse_debian_requirements(
            "venv-debian-requirements.txt",
            b"# for psycopg2\r\nlibpq-dev build # headers\nlibpq5 run\n\n  gettext  \nlibpq5\n",
        )
        .unwrap();
        assert_eq!(d.build, ["gettext", "libpq-dev", "libpq5"]);
        assert_eq!(d.run, ["gettext", "libpq5"]);
    }

    #[test]
    fn bad_lines_name_file_line_and_rule() {
        let cases = [
            ("LibPQ5\n", "x:1: 'LibPQ5': package names"),
            (
                "ok\nlibpq5 sometimes\n",
                "x:2: 'libpq5 sometimes': 'sometimes' must be build, run or both",
            ),
            (
                "libpq5 (>= 15)\n",
                "x:1: 'libpq5 (>= 15)': version relations",
            ),
            ("libpq5 | libpq4\n", "alternatives are not supported"),
            ("libpq5 run extra\n", "unexpected 'extra'"),
            ("a\n", "x:1: 'a': package names"),
            ("$(touch /tmp/x)\n", "x:1: '$(touch /tmp/x)': package names"),
        ];
        for (text, want) in cases {
            let e = parse_debian_requirements("x", text.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn empty_file_is_empty() {
        assert_eq!(
            parse_debian_requirements("x", b"# nothing\n").unwrap(),
            DebianRequirements::default()
        );
    }
}
