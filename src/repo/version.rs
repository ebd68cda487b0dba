//! Comparing Debian versions, as `dpkg --compare-versions` does.
//!
//! Follows deb-version(7): `[epoch:]upstream_version[-debian_revision]`;
//! epochs compare as numbers, the other parts by alternating runs of
//! non-digits (letters sort before non-letters, `~` before everything, even
//! the end of the string) and digits (compared as numbers). Pure: no I/O.

use std::cmp::Ordering;

/// Splits a version into (epoch, upstream, revision) the way dpkg does:
/// the epoch is before the first `:`, the revision after the last `-`.
fn split(v: &str) -> (u64, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), r)
        }
        _ => (0, v),
    };
    match rest.rfind('-') {
        Some(i) => (epoch, &rest[..i], &rest[i + 1..]),
        None => (epoch, rest, ""),
    }
}

/// dpkg's `order()`: the sort weight of one non-digit character.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

/// dpkg's `verrevcmp()` for one part (upstream or revision).
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit prefix, character by character.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let bc = order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        // Digit run: skip leading zeros, then the longer run is larger,
        // else the first differing digit decides.
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let si = i;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        let sj = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (da, db) = (&a[si..i], &b[sj..j]);
        let c = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
        if c != Ordering::Equal {
            return c;
        }
    }
    Ordering::Equal
}

/// Compares two Debian versions (deb-version(7)), like
/// `dpkg --compare-versions A lt|eq|gt B`.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| compare_part(ua, ub))
        .then_with(|| compare_part(ra, rb))
}

/// Whether `version` satisfies the relation `op` (`<<`, `<=`, `=`, `>=`,
/// `>>`, and the obsolete `<` / `>` meaning `<=` / `>=`) against `bound`.
pub fn satisfies(version: &str, op: &str, bound: &str) -> bool {
    let c = compare_versions(version, bound);
    match op {
        "<<" => c == Ordering::Less,
        "<=" | "<" => c != Ordering::Greater,
        "=" => c == Ordering::Equal,
        ">=" | ">" => c != Ordering::Less,
        ">>" => c == Ordering::Greater,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    /// Results of `dpkg --compare-versions`; tests/publish_version.rs
    /// checks many more pairs against dpkg itself.
    const CASES: &[(&str, &str, Ordering)] = &[
        ("1.0", "1.0", Equal),
        ("1.0", "1.1", Less),
        ("1.0~rc1", "1.0", Less),
        ("1.0", "1.0+b1", Less),
        ("1.0-1", "1.0-2", Less),
        ("1:0.1", "2.0", Greater),
        ("0:1.0", "1.0", Equal),
        ("1.01", "1.1", Equal),
        ("1.10", "1.9", Greater),
        ("1.0a", "1.0", Greater),
        ("1.0a", "1.0+", Less),
        ("1.0~~", "1.0~", Less),
        ("1.0~", "1.0", Less),
        ("2.0-1~bpo1", "2.0-1", Less),
        ("0.20240101.abc", "0.20240102.aaa", Less),
        ("1.2.3-a-b", "1.2.3-a-c", Less),
        ("1.0-0", "1.0", Equal),
        ("a", "b", Less),
        ("1.0.", "1.0", Greater),
        ("10", "9", Greater),
    ];

    #[test]
    fn matches_known_dpkg_results() {
        for &(a, b, want) in CASES {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn relations() {
        assert!(satisfies("1.0", ">=", "1.0"));
        assert!(!satisfies("1.0", ">>", "1.0"));
        assert!(satisfies("1.0~1", "<<", "1.0"));
        assert!(satisfies("2:1", "=", "2:1-0"));
    }
}
