//! Comparing Debian versions, as `dpkg --compare-versions` does.
//!
//! Follows deb-version(7): `[epoch:]upstream_version[-debian_revision]`;
//! epochs compare as numbers (of any length), the other parts by dpkg's
//! `verrevcmp` (lib/dpkg/version.c): alternating runs of non-digits
//! (letters sort before non-letters, `~` before everything, even the end
//! of the string) and digits (compared as numbers). Pure: no I/O; the tests
//! in tests/plan_versions.rs and tests/publish_version.rs check it against
//! the real `dpkg`.

use std::cmp::Ordering;

/// Compares two Debian versions as `dpkg --compare-versions` does
/// (deb-version(7)). Callers should validate with `check_version` first;
/// on malformed input this still returns an ordering and never panics.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_version(a);
    let (eb, ub, rb) = split_version(b);
    cmp_numeric(ea, eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

/// `(epoch, upstream, revision)`; epoch "0" and revision "" when absent.
fn split_version(v: &str) -> (&str, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => (e, r),
        _ => ("0", v),
    };
    match rest.rfind('-') {
        Some(i) => (epoch, &rest[..i], &rest[i + 1..]),
        None => (epoch, rest, ""),
    }
}

/// Compares decimal digit strings by value, of any length.
fn cmp_numeric(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// dpkg's `order()`: digits 0, letters themselves, `~` before everything
/// (even the end), other characters after all letters.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(b'~') => -1,
        Some(c) => c as i32 + 256,
    }
}

/// dpkg's `verrevcmp` (lib/dpkg/version.c).
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
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
        let o = cmp_numeric(
            std::str::from_utf8(&a[si..i]).expect("digits"),
            std::str::from_utf8(&b[sj..j]).expect("digits"),
        );
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
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

    #[test]
    fn orders_as_deb_version_7_says() {
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "1.0-0", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~", "1.0~~", Greater),
            ("1.0a", "1.0", Greater),
            ("1.0+b", "1.0a", Greater),
            ("1:0.1", "2.0", Greater),
            ("0:2.0", "2.0", Equal),
            ("10", "9", Greater),
            ("007", "7", Equal),
            ("2+gabc", "10+gaaa", Less),
            ("1.2-3", "1.2-10", Less),
            ("1.2-a", "1.2", Greater),
            (
                "99999999999999999999999",
                "99999999999999999999998",
                Greater,
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }
}
