//! One logical line of a requirements file, checked as pip reads it.
//!
//! Responsible for splitting a line into its requirement part and its
//! options (pip's `break_args_options`, `shlex.split`), parsing the options
//! with pip's own table and optparse's rules, and refusing what djdd cannot
//! honour: editable installs, `--find-links` to a local path, index URLs
//! that are not http(s) or carry credentials, `${VAR}` expansion, options
//! pip would ignore. The requirement part goes to `pep508`, an include's
//! path to `walk`. It must never follow an include or touch the disk. It
//! follows pip's "Requirements File Format" (`SUPPORTED_OPTIONS` and
//! `SUPPORTED_OPTIONS_REQ` in `pip/_internal/req/req_file.py`) and Python's
//! `shlex` (POSIX mode) and `optparse`.

use super::include::{Include, IncludeKind, resolve_include};
use super::lines::{LogicalLine, line_error, line_error_hint};
use super::pep508::check_requirement;
use crate::error::Result;

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
pub(super) fn check_line(path: &str, l: &LogicalLine) -> Result<Option<Include>> {
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
        check_requirement(args).map_err(|e| match e.hint {
            Some(h) => line_error_hint(path, l, e.problem, h),
            None => line_error(path, l, e.problem),
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

#[cfg(test)]
mod tests {
    use super::super::walk::normalise;
    use super::*;

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
    fn shlex_matches_python() {
        assert_eq!(
            shlex_split(r#"-r "a b.txt" 'c d' e\ f"#).unwrap(),
            ["-r", "a b.txt", "c d", "e f"]
        );
        assert!(shlex_split("\"x").is_err());
    }
}
