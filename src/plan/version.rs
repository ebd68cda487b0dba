//! Package versions: comparing them as dpkg does, and choosing them.
//!
//! Responsible for Debian version ordering (deb-version(7): epoch, then
//! upstream version, then Debian revision, each compared by dpkg's
//! `verrevcmp` with `~` sorting before everything), the fixed versions of env
//! and src packages, and the site version scheme `BUILDNO+gHASH`, which
//! increases with every build of a variant. Never touches the disk or runs
//! dpkg (tests/plan_versions.rs checks against the real `dpkg`).

use std::cmp::Ordering;

use super::hash::src_hash;
use crate::deb::control::check_version;
use crate::error::{Error, Result};

/// Version of every env package. Its name carries the HASH of everything that
/// shapes it (including [`super::hash::ENV_FORMAT`]), so one name has one
/// content and the version never needs to move.
pub const ENV_VERSION: &str = "1";

/// Version of every src package: bump when djdd changes how a src package
/// is laid out (its name is only the commit, so a new layout of the same
/// commit needs a higher version for apt to replace the old one).
pub const SRC_VERSION: &str = "1";

/// The commit a build is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// Full commit id, lower-case hex (40 or 64 digits).
    pub id: String,
    /// Committer time, seconds since the epoch (SOURCE_DATE_EPOCH of the build).
    pub time: i64,
}

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

/// Adds one to a decimal digit string (any length).
fn increment(digits: &str) -> String {
    let mut d: Vec<u8> = digits.trim_start_matches('0').bytes().collect();
    let mut k = d.len();
    loop {
        if k == 0 {
            d.insert(0, b'1');
            break;
        }
        k -= 1;
        if d[k] == b'9' {
            d[k] = b'0';
        } else {
            d[k] += 1;
            break;
        }
    }
    String::from_utf8(d).expect("digits")
}

/// The next version of a site package: `BUILDNO+gHASH`, where HASH is the
/// commit's short hash and BUILDNO is one more than the leading number of
/// `previous` (the highest version of this variant's site package ever
/// built or published; `None` for the first build, which gets `1+g...`).
/// An epoch on `previous` is kept. The result is always greater than
/// `previous` (`dpkg --compare-versions` agrees), whatever commit is built:
/// rebuilding an older commit still moves forward.
pub fn next_site_version(previous: Option<&str>, commit: &CommitInfo) -> Result<String> {
    let short = src_hash(&commit.id)?.short;
    let Some(prev) = previous else {
        return Ok(format!("1+g{short}"));
    };
    check_version(prev).map_err(|e| match e {
        Error::Invalid { what, problem, .. } => Error::invalid_hint(
            format!("previous site {what}"),
            problem,
            "the state file of this variant is damaged; remove it to start again from version 1",
        ),
        e => e,
    })?;
    let (epoch, upstream) = match prev.split_once(':') {
        Some((e, u)) => (Some(e), u),
        None => (None, prev),
    };
    let lead: String = upstream
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let next = format!("{}+g{short}", increment(&lead));
    Ok(match epoch {
        Some(e) if e.trim_start_matches('0').is_empty() => next,
        Some(e) => format!("{e}:{next}"),
        None => next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str) -> CommitInfo {
        CommitInfo {
            id: id.repeat(40 / id.len()),
            time: 0,
        }
    }

    #[test]
    fn orders_as_deb_version_7_says() {
        use Ordering::*;
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

    #[test]
    fn site_versions_count_up_and_carry_the_commit() {
        let v1 = next_site_version(None, &c("ab")).unwrap();
        assert_eq!(v1, "1+gabababababab");
        let v2 = next_site_version(Some(&v1), &c("01")).unwrap();
        assert_eq!(v2, "2+g010101010101");
        assert_eq!(compare_versions(&v2, &v1), Ordering::Greater);
        let v = next_site_version(Some("9+gffffffffffff"), &c("00")).unwrap();
        assert_eq!(v, "10+g000000000000");
        let v = next_site_version(Some("3:41.2~x-7"), &c("00")).unwrap();
        assert_eq!(v, "3:42+g000000000000");
        let v = next_site_version(Some("0:099"), &c("00")).unwrap();
        assert_eq!(v, "100+g000000000000");
    }

    #[test]
    fn site_version_refuses_a_damaged_previous_version() {
        let e = next_site_version(Some("x1"), &c("00"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("previous site version 'x1'"), "{e}");
        assert!(
            next_site_version(
                None,
                &CommitInfo {
                    id: "zz".into(),
                    time: 0
                }
            )
            .is_err()
        );
    }

    #[test]
    fn increment_handles_any_length() {
        assert_eq!(increment(""), "1");
        assert_eq!(increment("0"), "1");
        assert_eq!(increment("199"), "200");
        assert_eq!(increment("99999999999999999999"), "100000000000000000000");
    }
}
