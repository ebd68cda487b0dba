//! Package versions: comparing them as dpkg does, and choosing them.
//!
//! Responsible for the fixed versions of env and src packages and the site
//! version scheme `BUILDNO+gHASH`, which increases with every build of a
//! variant (ordered as deb-version(7) says: `crate::deb::version`). Never
//! touches the disk or runs dpkg (tests/plan_versions.rs checks against the
//! real `dpkg`).

use super::hash::src_hash;
use crate::deb::control::check_version;
use crate::error::{Error, Result};

/// Debian's version ordering (it lives with the other Debian formats).
pub use crate::deb::version::compare_versions;

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
    fn site_versions_count_up_and_carry_the_commit() {
        let v1 = next_site_version(None, &c("ab")).unwrap();
        assert_eq!(v1, "1+gabababababab");
        let v2 = next_site_version(Some(&v1), &c("01")).unwrap();
        assert_eq!(v2, "2+g010101010101");
        assert!(compare_versions(&v2, &v1).is_gt());
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
