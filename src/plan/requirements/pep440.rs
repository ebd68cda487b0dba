//! Versions and version specifiers: PEP 440.
//!
//! Responsible for telling whether a version matches packaging's
//! `VERSION_PATTERN` (epoch, release, pre, post, dev and local parts,
//! case-insensitive) and for packaging's `Specifier` rules on one operator
//! and version (`.*` only after a release number with `==`/`!=`, a local
//! version only with `==`/`!=`, `~=` with two release numbers at least).
//! It must never compare or order versions (djdd compares Debian versions,
//! in `crate::deb::version`) and never accept a version or specifier that
//! pip 24.1+ refuses. It follows PEP 440 as `packaging` implements it.

/// The parts of a PEP 440 version that specifier rules look at.
#[derive(Debug, PartialEq, Eq)]
struct Pep440 {
    release_len: usize,
    suffixed: bool,
    local: bool,
}

/// Matches packaging's VERSION_PATTERN (case-insensitive).
fn pep440(v: &str) -> Option<Pep440> {
    let s = v.to_ascii_lowercase();
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > st
    };
    let sep = |i: &mut usize| {
        if *i < b.len() && matches!(b[*i], b'-' | b'_' | b'.') {
            *i += 1;
        }
    };
    let label = |i: &mut usize, labels: &[&str]| {
        for l in labels {
            if s[*i..].starts_with(l) {
                *i += l.len();
                return true;
            }
        }
        false
    };
    if b.first() == Some(&b'v') {
        i += 1;
    }
    // epoch
    let st = i;
    if digits(&mut i) && b.get(i) == Some(&b'!') {
        i += 1;
    } else {
        i = st;
    }
    // release
    if !digits(&mut i) {
        return None;
    }
    let mut release_len = 1;
    while b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
        i += 1;
        digits(&mut i);
        release_len += 1;
    }
    let mut suffixed = false;
    // pre
    let st = i;
    sep(&mut i);
    if label(
        &mut i,
        &["alpha", "beta", "preview", "pre", "rc", "a", "b", "c"],
    ) {
        sep(&mut i);
        digits(&mut i);
        suffixed = true;
    } else {
        i = st;
    }
    // post
    let st = i;
    if b.get(i) == Some(&b'-') && b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
        i += 1;
        digits(&mut i);
        suffixed = true;
    } else {
        sep(&mut i);
        if label(&mut i, &["post", "rev", "r"]) {
            sep(&mut i);
            digits(&mut i);
            suffixed = true;
        } else {
            i = st;
        }
    }
    // dev
    let st = i;
    sep(&mut i);
    if label(&mut i, &["dev"]) {
        sep(&mut i);
        digits(&mut i);
        suffixed = true;
    } else {
        i = st;
    }
    // local
    let mut local = false;
    if b.get(i) == Some(&b'+') {
        i += 1;
        loop {
            let st = i;
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            if i == st {
                return None;
            }
            if i < b.len() && matches!(b[i], b'-' | b'_' | b'.') {
                i += 1;
            } else {
                break;
            }
        }
        local = true;
    }
    (i == b.len()).then_some(Pep440 {
        release_len,
        suffixed,
        local,
    })
}

/// packaging's `Specifier` rules for one operator and version.
pub(super) fn check_specifier(op: &str, v: &str) -> std::result::Result<(), String> {
    let bad = |why: &str| Err(format!("'{op}{v}' is not a valid version specifier: {why}"));
    if v.is_empty() {
        return bad("the version is missing");
    }
    match op {
        "===" => Ok(()),
        "==" | "!=" => {
            if let Some(prefix) = v.strip_suffix(".*") {
                match pep440(prefix) {
                    Some(p) if !p.suffixed && !p.local => Ok(()),
                    _ => bad("'.*' may only follow a release number like 1.2"),
                }
            } else if pep440(v).is_some() {
                Ok(())
            } else {
                bad("not a PEP 440 version")
            }
        }
        _ => match pep440(v) {
            None => bad("not a PEP 440 version"),
            Some(p) if p.local => bad("a local version (+...) is allowed only with == and !="),
            Some(p) if op == "~=" && p.release_len < 2 => {
                bad("~= needs at least two release numbers (~=1.4)")
            }
            Some(_) => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep440_matches_packaging() {
        for v in [
            "1",
            "1.0",
            "v1.0",
            "1!2.0",
            "1.0a",
            "1.0a.",
            "1.0-1",
            "1.0.post",
            "1.0rc1.dev0+abc.1",
            "1.0_alpha_2",
        ] {
            assert!(pep440(v).is_some(), "{v}");
        }
        for v in ["", "1.", "a1", "1.0-", "1.0+", "1.0+a..b", "1..0", "1.0 a"] {
            assert!(pep440(v).is_none(), "{v}");
        }
    }
}
