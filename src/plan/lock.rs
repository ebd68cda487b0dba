//! The resolution lock of an env (`requirements.lock`, written by the
//! build from `pip install --report`): reading it back to decide whether a
//! build can install exactly it (`pip install --no-deps --require-hashes
//! -r requirements.lock`) instead of resolving the requirements again.
//!
//! Pure: the caller hands in the lock's text. The format is the one
//! `src/buildroot/scripts/lock.py` writes (docs/build-plan.md, "The
//! resolution lock"): `#` comment lines, then one `NAME==VERSION
//! --hash=sha256:HEX` line a distribution, `NAME @ URL --hash=sha256:HEX
//! # VERSION` for an archive the requirements named by its URL, or
//! `NAME==VERSION  # no archive hash: from URL` for one installed from a
//! VCS or a local path.

/// One distribution of a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    /// PEP 503-normalised name.
    pub name: String,
    pub version: String,
    /// What pip is given before the hash: `NAME==VERSION`, or `NAME @ URL`.
    pub requirement: String,
    /// The sha256 (hex) of its archive; `None` for a distribution without
    /// one (its line says where it came from).
    pub sha256: Option<String>,
}

/// The distributions of a lock, in its order. Fails, saying which line, on
/// anything lock.py does not write.
pub fn parse_lock(text: &str) -> Result<Vec<Locked>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || format!("line {} is not `NAME==VERSION --hash=sha256:HEX`", i + 1);
        let (req, rest) = match line.split_once(' ') {
            Some((r, rest)) => (r, rest.trim()),
            None => (line, ""),
        };
        // `NAME @ URL --hash=sha256:HEX  # VERSION`.
        let (req, rest, url_version) = match rest.strip_prefix("@ ") {
            Some(after) => {
                let (url, tail) = after.split_once(' ').ok_or_else(bad)?;
                let (hash, version) = tail.split_once('#').ok_or_else(bad)?;
                let url_ok = (url.starts_with("https://") || url.starts_with("http://"))
                    && !url
                        .bytes()
                        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control());
                if !url_ok || !hash.trim().starts_with("--hash=") {
                    return Err(bad());
                }
                (
                    format!("{req} @ {url}"),
                    hash.trim(),
                    Some(version.trim().to_string()),
                )
            }
            None => (req.to_string(), rest, None),
        };
        let (name, version) = match &url_version {
            Some(v) => (req.split(" @ ").next().unwrap_or(""), v.as_str()),
            None => req.split_once("==").ok_or_else(bad)?,
        };
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let version_ok = !version.is_empty()
            && version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+!-".contains(&b));
        if !name_ok || !version_ok {
            return Err(bad());
        }
        let sha256 = if let Some(hex) = rest.strip_prefix("--hash=sha256:") {
            if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(bad());
            }
            Some(hex.to_string())
        } else if rest.starts_with('#') {
            None
        } else {
            return Err(bad());
        };
        out.push(Locked {
            name: name.to_string(),
            version: version.to_string(),
            requirement: req.clone(),
            sha256,
        });
    }
    Ok(out)
}

/// Whether `text` can be installed on its own (every distribution has its
/// archive hash): `Ok(count)`, or why not.
pub fn installable(text: &str) -> Result<usize, String> {
    let dists = parse_lock(text)?;
    if dists.is_empty() {
        return Err("it lists no distribution".into());
    }
    if let Some(d) = dists.iter().find(|d| d.sha256.is_none()) {
        return Err(format!(
            "{}=={} has no archive hash (installed from a VCS or a URL)",
            d.name, d.version
        ));
    }
    Ok(dists.len())
}

/// What changed from lock `old` to lock `new`: one `name OLD -> NEW` item a
/// distribution whose version or archive changed, came or went, sorted by
/// name (`name (new) 1.0`, `name 1.0 (gone)`, `name 1.0 (another archive)`).
pub fn lock_changes(old: &str, new: &str) -> Vec<String> {
    let map = |t: &str| -> std::collections::BTreeMap<String, (String, Option<String>)> {
        parse_lock(t)
            .unwrap_or_default()
            .into_iter()
            .map(|d| (d.name, (d.version, d.sha256)))
            .collect()
    };
    let (a, b) = (map(old), map(new));
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|n| match (a.get(n), b.get(n)) {
            (Some(x), Some(y)) if x == y => None,
            (Some((va, _)), Some((vb, _))) if va == vb => {
                Some(format!("{n} {va} (another archive)"))
            }
            (Some((va, _)), Some((vb, _))) => Some(format!("{n} {va} -> {vb}")),
            (None, Some((vb, _))) => Some(format!("{n} (new) {vb}")),
            (Some((va, _)), None) => Some(format!("{n} {va} (gone)")),
            (None, None) => None,
        })
        .collect()
}

/// The distributions pip or uv name in the output of a failed install of
/// `requirements.lock` (`--require-hashes`) or uv's resolution of it, with
/// what went wrong for each: an archive whose sha256 is not the lock's, or
/// a version the index does not have (any more). Empty when the installer
/// failed for another reason.
pub fn lock_failures(pip_output: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut in_hashes = false;
    for raw in pip_output.lines() {
        let line = raw.trim().trim_start_matches("ERROR: ");
        // uv: "cause: Because there is no version of vine==0.0.424242 and
        // you require ...", "cause: Hash mismatch for `sqlparse==0.6.1`".
        let cause = line.trim_start_matches("cause: ");
        if let Some(rest) = cause.strip_prefix("Because there is no version of ") {
            let req = rest.split([' ', ',']).next().unwrap_or(rest);
            out.push(format!("{req} (the index has no such version)"));
            continue;
        }
        if let Some(rest) = cause.strip_prefix("Hash mismatch for `") {
            let req = rest.split('`').next().unwrap_or(rest);
            out.push(format!(
                "{req} (its archive's sha256 is not the one the lock records)"
            ));
            continue;
        }
        if line.starts_with("THESE PACKAGES DO NOT MATCH THE HASHES") {
            in_hashes = true;
            continue;
        }
        if let Some(req) = line.strip_prefix("No matching distribution found for ") {
            out.push(format!("{} (the index has no such version)", req.trim()));
            in_hashes = false;
            continue;
        }
        if in_hashes {
            // `    NAME==VERSION from URL:` then `Expected sha256 ...`.
            let pinned = line
                .split_once(" from ")
                .map(|(req, _)| req)
                .filter(|req| req.contains("==") && !req.contains(' '));
            if let Some(req) = pinned {
                out.push(format!(
                    "{req} (its archive's sha256 is not the one the lock records)"
                ));
            } else if !(line.starts_with("Expected") || line.starts_with("Got") || line.is_empty())
            {
                in_hashes = false;
            }
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uv_failures_name_the_distribution_as_pips_do() {
        let out = "Using Python 3.13.5 environment at: /usr/lib/demo-env/abc\n\
error: No solution found when resolving dependencies\n\
  cause: Because there is no version of vine==0.0.424242 and you require vine==0.0.424242, we can conclude that your requirements are unsatisfiable.\n";
        assert_eq!(
            lock_failures(out),
            ["vine==0.0.424242 (the index has no such version)"]
        );
        let out = "error: Failed to download `sqlparse==0.6.1`\n  cause: Hash mismatch for `sqlparse==0.6.1`\n\n         Expected:\n           sha256:00\n";
        assert_eq!(
            lock_failures(out),
            ["sqlparse==0.6.1 (its archive's sha256 is not the one the lock records)"]
        );
    }

    const H1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const H2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn a_lock_from_lock_py_parses_and_installs() {
        let text = format!(
            "# What pip installed into /usr/lib/demo-env/abc: one distribution a line\n\
             # pip install --no-deps --require-hashes -r requirements.lock\n\
             asgiref==3.8.1 --hash=sha256:{H1}\ndjango==5.2.8 --hash=sha256:{H2}\n"
        );
        let d = parse_lock(&text).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].name, "django");
        assert_eq!(d[1].version, "5.2.8");
        assert_eq!(d[1].sha256.as_deref(), Some(H2));
        assert_eq!(installable(&text), Ok(2));
    }

    #[test]
    fn a_direct_url_archive_keeps_its_url() {
        let text = format!(
            "mylib @ https://e.org/dl/mylib-1.2-py3-none-any.whl --hash=sha256:{H1}  # 1.2\n"
        );
        let d = parse_lock(&text).unwrap();
        assert_eq!(d[0].name, "mylib");
        assert_eq!(d[0].version, "1.2");
        assert_eq!(
            d[0].requirement,
            "mylib @ https://e.org/dl/mylib-1.2-py3-none-any.whl"
        );
        assert_eq!(installable(&text), Ok(1));
        for bad in [
            format!("mylib @ file:///x.whl --hash=sha256:{H1}  # 1\n"),
            format!("mylib @ https://e.org/x.whl --hash=sha256:{H1}\n"),
        ] {
            assert!(parse_lock(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_distribution_without_archive_hash_makes_the_lock_not_installable() {
        let text = format!(
            "django==5.2.8 --hash=sha256:{H1}\nmylib==0.1  # no archive hash: from git+https://e.org/x\n"
        );
        assert_eq!(parse_lock(&text).unwrap()[1].sha256, None);
        let why = installable(&text).unwrap_err();
        assert!(why.contains("mylib==0.1 has no archive hash"), "{why}");
        assert!(installable("# nothing\n").is_err());
    }

    #[test]
    fn what_lock_py_never_writes_is_refused_naming_the_line() {
        for bad in [
            "Django>=5\n".to_string(),
            "django==5 --hash=sha256:abc\n".into(),
            format!("django==5 --hash=md5:{H1}\n"),
            format!("Django==5 --hash=sha256:{H1}\n"),
            format!("django==5 -r x --hash=sha256:{H1}\n"),
        ] {
            let e = parse_lock(&bad).unwrap_err();
            assert!(e.starts_with("line 1 "), "{bad}: {e}");
        }
    }

    #[test]
    fn changes_name_versions_archives_new_and_gone() {
        let old = format!(
            "a==1 --hash=sha256:{H1}\nb==1 --hash=sha256:{H1}\nc==1 --hash=sha256:{H1}\nd==1 --hash=sha256:{H1}\n"
        );
        let new = format!(
            "a==1 --hash=sha256:{H1}\nb==2 --hash=sha256:{H2}\nc==1 --hash=sha256:{H2}\ne==3 --hash=sha256:{H1}\n"
        );
        assert_eq!(
            lock_changes(&old, &new),
            [
                "b 1 -> 2",
                "c 1 (another archive)",
                "d 1 (gone)",
                "e (new) 3"
            ]
        );
        assert!(lock_changes(&old, &old).is_empty());
    }

    #[test]
    fn pip_failures_name_the_distribution() {
        let hashes = "Collecting asgiref==3.8.1\n  Using cached asgiref-3.8.1-py3-none-any.whl (23 kB)\n\
ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package versions, please update the hashes. Otherwise, examine the package contents carefully; someone may have tampered with them.\n\
    sqlparse==0.5.3 from https://files.pythonhosted.org/packages/sqlparse-0.5.3-py3-none-any.whl#sha256=cf2:\n\
        Expected sha256 0000000000000000000000000000000000000000000000000000000000000000\n\
             Got        cf2196ed3418f3ba5de6af7e82c694a9fbdbfecccdfc72e281548517081f16ca\n\n";
        assert_eq!(
            lock_failures(hashes),
            ["sqlparse==0.5.3 (its archive's sha256 is not the one the lock records)"]
        );
        let missing = "ERROR: Could not find a version that satisfies the requirement nosuch-dist==1.0 (from versions: none)\n\
ERROR: No matching distribution found for nosuch-dist==1.0\n";
        assert_eq!(
            lock_failures(missing),
            ["nosuch-dist==1.0 (the index has no such version)"]
        );
        assert!(lock_failures("ERROR: Could not install packages due to an OSError\n").is_empty());
    }
}
