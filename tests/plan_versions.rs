//! djdd's Debian version ordering checked against the real
//! `dpkg --compare-versions`, on a table of edge cases and on 200 random
//! pairs, and the site version scheme checked to increase as dpkg sees it.

use std::cmp::Ordering;
use std::process::Command;

use djdd::plan::{CommitInfo, compare_versions, next_site_version};

/// dpkg's verdict: Less, Equal or Greater.
fn dpkg_cmp(a: &str, b: &str) -> Ordering {
    let run = |op: &str| {
        let out = Command::new("dpkg")
            .args(["--compare-versions", a, op, b])
            .output()
            .expect("run dpkg");
        assert!(
            out.stderr.is_empty(),
            "dpkg complained about {a} {op} {b}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.status.success()
    };
    if run("lt") {
        Ordering::Less
    } else if run("eq") {
        Ordering::Equal
    } else {
        Ordering::Greater
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
    fn chars(&mut self, alphabet: &[u8], max: usize) -> String {
        let n = self.next(max + 1);
        (0..n)
            .map(|_| alphabet[self.next(alphabet.len())] as char)
            .collect()
    }
}

/// A random valid Debian version, biased towards the tricky parts.
fn random_version(r: &mut Rng) -> String {
    let mut v = String::new();
    if r.next(5) == 0 {
        v.push_str(&format!("{}:", r.next(3)));
    }
    v.push((b'0' + r.next(10) as u8) as char);
    v.push_str(&r.chars(b"0123456789.+~aZz0", 6));
    if r.next(2) == 0 {
        v.push('-');
        v.push((b'0' + r.next(3) as u8) as char);
        v.push_str(&r.chars(b"0123456789.+~a", 4));
    }
    v
}

#[test]
fn table_agrees_with_dpkg() {
    let table = [
        ("1.0", "1.0-0"),
        ("1.0~rc1", "1.0"),
        ("1.0~~", "1.0~"),
        ("1.0~", "1.0"),
        ("1.0a", "1.0+"),
        ("1.0.", "1.0+"),
        ("1:0.1", "2.0"),
        ("0:2.0", "2.0"),
        ("007", "7"),
        ("10+g0", "9+gffffffffffff"),
        ("1.2-3", "1.2-10"),
        ("1.2-a", "1.2"),
        ("2.30", "2.4"),
        ("1.0-1~bpo1", "1.0-1"),
        ("1.0+dfsg-1", "1.0-1"),
        ("99999999999999999999999", "99999999999999999999998"),
        ("1-2-3", "1-2"),
        ("1A", "1a"),
        ("1Z", "1a"),
    ];
    for (a, b) in table {
        assert_eq!(compare_versions(a, b), dpkg_cmp(a, b), "{a} vs {b}");
        assert_eq!(compare_versions(b, a), dpkg_cmp(b, a), "{b} vs {a}");
    }
}

#[test]
fn two_hundred_random_pairs_agree_with_dpkg() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut orders = [0usize; 3];
    for _ in 0..200 {
        let a = random_version(&mut r);
        // Half the pairs share a prefix so that they differ late.
        let b = if r.next(2) == 0 {
            let keep = r.next(a.len() + 1);
            let mut b = a[..keep].to_string();
            b.push_str(&r.chars(b"0123456789.+~a", 3));
            if djdd::deb::control::check_version(&b).is_err() {
                random_version(&mut r)
            } else {
                b
            }
        } else {
            random_version(&mut r)
        };
        djdd::deb::control::check_version(&a).unwrap();
        djdd::deb::control::check_version(&b).unwrap();
        let want = dpkg_cmp(&a, &b);
        orders[(want as i8 + 1) as usize] += 1;
        assert_eq!(compare_versions(&a, &b), want, "{a} vs {b}");
    }
    // The sample exercises all three outcomes.
    assert!(orders.iter().all(|&n| n > 5), "{orders:?}");
}

#[test]
fn site_versions_increase_as_dpkg_sees_them() {
    let commits = ["ff", "00", "7a", "00"];
    let mut prev: Option<String> = None;
    for (i, c) in commits.iter().cycle().take(25).enumerate() {
        let commit = CommitInfo {
            id: c.repeat(20),
            time: i as i64,
        };
        let next = next_site_version(prev.as_deref(), &commit).unwrap();
        if let Some(p) = &prev {
            assert_eq!(dpkg_cmp(&next, p), Ordering::Greater, "{next} vs {p}");
        }
        prev = Some(next);
    }
    // From foreign previous versions too, epoch kept.
    for p in ["1:0~x", "3.2-1", "0:9~~", "41+gaaaaaaaaaaaa"] {
        let next = next_site_version(
            Some(p),
            &CommitInfo {
                id: "00".repeat(20),
                time: 0,
            },
        )
        .unwrap();
        assert_eq!(dpkg_cmp(&next, p), Ordering::Greater, "{next} vs {p}");
    }
}
