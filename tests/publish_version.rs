//! `djdd::repo::compare_versions` agrees with `dpkg --compare-versions`
//! (deb-version(7)) on hand-picked edge cases and on generated versions.

mod common;

use std::cmp::Ordering;
use std::process::Command;

use djdd::repo::compare_versions;
use proptest::prelude::*;

fn dpkg_order(a: &str, b: &str) -> Ordering {
    let rel = |op: &str| {
        Command::new("dpkg")
            .args(["--compare-versions", a, op, b])
            .stderr(std::process::Stdio::null())
            .status()
            .expect("dpkg")
            .success()
    };
    if rel("lt") {
        Ordering::Less
    } else if rel("eq") {
        Ordering::Equal
    } else {
        assert!(rel("gt"), "dpkg says neither lt, eq nor gt for {a} {b}");
        Ordering::Greater
    }
}

const VERSIONS: &[&str] = &[
    "0",
    "1",
    "1.0",
    "1.00",
    "1.0-0",
    "1.0-1",
    "1.0-1.1",
    "1.0-1~bpo1",
    "1.0~rc1",
    "1.0~~",
    "1.0~",
    "1.0+b1",
    "1.0a",
    "1.0A",
    "1.0.",
    "1.0-a",
    "1.0+",
    "1.01",
    "1.1",
    "1.10",
    "1.9",
    "1:0.1",
    "0:1.0",
    "2:1.0-1",
    "10",
    "9",
    "0.20240101.abc",
    "0.20240102.aaa",
    "1.2.3-a-b",
    "1.2.3-a-c",
    "2.0-1+deb12u1",
    "2.0-1+deb12u10",
    "2.0-1+deb11u9",
    "a",
    "a1",
    "1a~",
    "1-1-1",
];

#[test]
fn edge_cases_agree_with_dpkg() {
    assert!(common::have("dpkg"));
    let mut n = 0;
    for a in VERSIONS {
        for b in VERSIONS {
            assert_eq!(compare_versions(a, b), dpkg_order(a, b), "{a} vs {b}");
            n += 1;
        }
    }
    assert_eq!(n, VERSIONS.len() * VERSIONS.len());
}

fn version() -> impl Strategy<Value = String> {
    (
        prop::option::of(0u8..3),
        "[0-9][0-9a-z.+~]{0,6}",
        prop::option::of("[0-9a-z.+~]{1,4}"),
    )
        .prop_map(|(e, up, rev)| {
            let mut v = String::new();
            if let Some(e) = e {
                v.push_str(&format!("{e}:"));
            }
            v.push_str(&up);
            if let Some(r) = rev {
                v.push('-');
                v.push_str(&r);
            }
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]
    #[test]
    fn generated_versions_agree_with_dpkg(a in version(), b in version()) {
        prop_assert_eq!(compare_versions(&a, &b), dpkg_order(&a, &b), "{} vs {}", a, b);
    }
}
