//! Debian control data (deb822 paragraphs) and the naming rules of policy.
//!
//! Parses and writes the `DEBIAN/control` format (Debian Policy §5.1: fields,
//! continuation lines, field names case-insensitive, order kept), and checks
//! package names (§5.6.1) and versions (§5.6.12). Pure: never touches the disk.

use crate::error::{Error, Result};

/// One control paragraph: fields in their original order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

impl Paragraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of a field (name compared case-insensitively). Multi-line
    /// values keep their continuation lines joined with `\n`, each line's
    /// leading space included, as in the source.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sets a field, replacing an existing one in place or appending it.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name.to_string(), value)),
        }
    }

    /// Inserts a field right after another one (or appends if `after` is absent).
    pub fn insert_after(&mut self, after: &str, name: &str, value: impl Into<String>) {
        let value = value.into();
        if self.get(name).is_some() {
            self.set(name, value);
            return;
        }
        match self
            .fields
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(after))
        {
            Some(i) => self.fields.insert(i + 1, (name.to_string(), value)),
            None => self.fields.push((name.to_string(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self
            .fields
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(name))?;
        Some(self.fields.remove(i).1)
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Parses exactly one paragraph. `origin` names the source in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Paragraph> {
        let mut paras = parse_paragraphs(text, origin)?;
        match paras.len() {
            1 => Ok(paras.remove(0)),
            0 => Err(Error::invalid(origin, "is empty: no control fields")),
            n => Err(Error::invalid(
                origin,
                format!("holds {n} paragraphs separated by blank lines; expected one"),
            )),
        }
    }
}

impl std::fmt::Display for Paragraph {
    /// Writes the paragraph as deb822 text, each field on its line, ending in `\n`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (k, v) in &self.fields {
            if v.starts_with('\n') || v.is_empty() {
                writeln!(f, "{k}:{v}")?;
            } else {
                writeln!(f, "{k}: {v}")?;
            }
        }
        Ok(())
    }
}

/// Parses a file of paragraphs separated by blank lines (a Packages file,
/// a Release file's body). `#` comment lines are skipped, as dpkg does in
/// control files.
pub fn parse_paragraphs(text: &str, origin: &str) -> Result<Vec<Paragraph>> {
    let mut out = Vec::new();
    let mut cur = Paragraph::new();
    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        // CRLF line ends (and stray CRs before the end of a line) are not
        // part of the value: Display writes LF only, and reading what it
        // wrote must give the same paragraph.
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            let Some(last) = cur.fields.last_mut() else {
                return Err(Error::invalid(
                    format!("{origin}: line {lineno}"),
                    "continuation line before any field",
                ));
            };
            last.1.push('\n');
            last.1.push_str(line);
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(Error::invalid_hint(
                format!("{origin}: line {lineno}"),
                format!("'{}' is not a field", line.escape_debug()),
                "each field is written `Name: value`",
            ));
        };
        if !valid_field_name(name) {
            return Err(Error::invalid(
                format!("{origin}: line {lineno}"),
                format!("'{}' is not a valid field name", name.escape_debug()),
            ));
        }
        if cur.get(name).is_some() {
            return Err(Error::invalid(
                format!("{origin}: line {lineno}"),
                format!("field {name} appears twice"),
            ));
        }
        cur.fields
            .push((name.to_string(), value.trim_start().trim_end().to_string()));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

fn valid_field_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.starts_with('#')
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

/// Checks a binary package name against Debian Policy §5.6.1: at least two
/// characters, lower case letters, digits and `+ - .`, starting with an
/// alphanumeric. (dpkg-deb accepts `Demo` and `a`; we do not.)
pub fn check_package_name(name: &str) -> Result<()> {
    let rule = "package names (Debian Policy 5.6.1) are at least two characters of [a-z0-9+.-], starting with a letter or digit";
    let ok = name.len() >= 2
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("package name '{name}'"), rule))
    }
}

/// Checks a version string against Debian Policy §5.6.12:
/// `[epoch:]upstream_version[-debian_revision]`.
pub fn check_version(version: &str) -> Result<()> {
    let what = || format!("version '{version}'");
    if version.is_empty() {
        return Err(Error::invalid(what(), "is empty"));
    }
    let (epoch, rest) = match version.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, version),
    };
    if let Some(e) = epoch {
        if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(
                what(),
                "the epoch (before ':') must be a number",
            ));
        }
    }
    let (upstream, revision) = match rest.rfind('-') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if !upstream.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(
            what(),
            "the upstream version must start with a digit",
        ));
    }
    let up_ok = upstream
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~' | b'-' | b':'));
    if !up_ok || (epoch.is_none() && upstream.contains(':')) {
        return Err(Error::invalid(
            what(),
            "the upstream version may hold only letters, digits and . + ~ - (and : after an epoch)",
        ));
    }
    if let Some(r) = revision {
        if r.is_empty()
            || !r
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~'))
        {
            return Err(Error::invalid(
                what(),
                "the Debian revision (after the last '-') may hold only letters, digits and . + ~",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_in_order_with_continuations() {
        let p = Paragraph::parse(
            "Package: foo\nVersion: 1.0\nDescription: short\n long line\n .\n more\n",
            "control",
        )
        .unwrap();
        assert_eq!(p.get("package"), Some("foo"));
        assert_eq!(p.get("Description"), Some("short\n long line\n .\n more"));
        let names: Vec<_> = p.fields().map(|(k, _)| k).collect();
        assert_eq!(names, ["Package", "Version", "Description"]);
        assert_eq!(
            p.to_string(),
            "Package: foo\nVersion: 1.0\nDescription: short\n long line\n .\n more\n"
        );
    }

    #[test]
    fn rejects_duplicate_and_bad_lines() {
        let e = Paragraph::parse("Package: a\nPackage: b\n", "c").unwrap_err();
        assert!(
            e.to_string()
                .contains("line 2: field Package appears twice")
        );
        let e = Paragraph::parse("Package foo\n", "c").unwrap_err();
        assert!(e.to_string().contains("is not a field"));
        let e = Paragraph::parse(" x\n", "c").unwrap_err();
        assert!(e.to_string().contains("continuation line"));
    }

    #[test]
    fn several_paragraphs() {
        let ps = parse_paragraphs("A: 1\n\n\nB: 2\nC: 3\n", "p").unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[1].get("c"), Some("3"));
        assert!(Paragraph::parse("A: 1\n\nB: 2\n", "p").is_err());
    }

    #[test]
    fn insert_after_and_set() {
        let mut p = Paragraph::parse("Package: a\nVersion: 1\nDepends: x\n", "c").unwrap();
        p.insert_after("Version", "Installed-Size", "12");
        p.set("Depends", "y");
        assert_eq!(
            p.to_string(),
            "Package: a\nVersion: 1\nInstalled-Size: 12\nDepends: y\n"
        );
    }

    #[test]
    fn package_names_follow_policy() {
        for ok in ["ab", "foo-env-1a2b", "libc6", "g++", "x.y", "0ad"] {
            check_package_name(ok).unwrap();
        }
        for bad in ["a", "Demo", "-x", "foo_bar", "foo bar", "", "föo", ".a"] {
            assert!(check_package_name(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn versions_follow_policy() {
        for ok in [
            "1",
            "1.0-1",
            "2:1.0~rc1-0+deb12u1",
            "1.2.3-a-b",
            "1:2:3-4",
            "0.20261122",
        ] {
            check_version(ok).unwrap();
        }
        for bad in ["", "a1", "1.0_1", ":1", "x:1", "1-", "1-a_b", "1:-1", "1 0"] {
            assert!(check_version(bad).is_err(), "{bad} accepted");
        }
    }
}
