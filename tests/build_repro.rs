//! Reproducibility of `djdd build`: the same commit built in two fresh build
//! dirs (different paths, different build roots, different times) gives
//! byte-identical env, src and site packages.
//!
//! The first build dir starts with the test wheel cache (a psycopg2 wheel
//! an earlier run compiled), the second with an empty one, so psycopg2's C
//! extension is compiled twice, independently. On a difference the test
//! shows diffoscope's report when diffoscope is installed
//! (`apt-get install diffoscope-minimal`).
//!
//! Needs root, the cached base tarball and PyPI.

mod build_support;
mod common;

use std::process::Command;

use build_support::*;

#[test]
fn same_commit_twice_gives_identical_packages() {
    let repo = demo_repo();
    let a = demo_build_dir(repo.path(), true);
    let b = demo_build_dir(repo.path(), false);
    ok(&a, &["build", "demo", "blue", "--version", "v1"]);
    save_pip_cache(&a);
    // A second apart at least, so that a leaked build time would show.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ok(&b, &["build", "demo", "blue", "--version", "v1"]);

    let fa = package_files(&a);
    let fb = package_files(&b);
    assert_eq!(fa.len(), 3, "{fa:?}");
    assert_eq!(fa, fb, "the two builds named their packages differently");
    let mut differ = Vec::new();
    for f in &fa {
        let pa = a.path().join("packages").join(f);
        let pb = b.path().join("packages").join(f);
        if std::fs::read(&pa).unwrap() != std::fs::read(&pb).unwrap() {
            let report = Command::new("diffoscope")
                .args(["--text", "-", "--max-report-size", "20000"])
                .arg(&pa)
                .arg(&pb)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_else(|_| "(diffoscope is not installed)".into());
            differ.push(format!("{f}:\n{report}"));
        }
    }
    assert!(
        differ.is_empty(),
        "packages differ between two builds of one commit:\n{}",
        differ.join("\n")
    );
}
