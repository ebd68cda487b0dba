//! `djdd check NAME [VARIANT]`: a source added with `djdd src` (a mirror in
//! D/src/NAME.git, made here with `git clone --mirror` of the fixture
//! repository) is exported with `git archive` and checked.

mod common;

use std::path::{Path, PathBuf};

const V2: &str = "85e8f3f00635689ce05ae3c6ee1c6242284b8032";
const V3: &str = "0e3dc41ca0f5d73553a70f99681144d696d45365";

fn build_dir(tmp: &Path) -> PathBuf {
    let repo = tmp.join("repo");
    let out = std::process::Command::new("sh")
        .arg(common::fixtures().join("make-repo.sh"))
        .arg(&repo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = tmp.join("d");
    std::fs::create_dir_all(d.join("src")).unwrap();
    let out = std::process::Command::new("git")
        .args(["clone", "-q", "--mirror"])
        .arg(&repo)
        .arg(d.join("src/demo.git"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

/// `djdd variant demo blue ARGS` in build dir `d`.
fn set_blue(d: &Path, args: &[&str]) {
    common::djdd()
        .arg("--dir")
        .arg(d)
        .args(["variant", "demo", "blue"])
        .args(args)
        .assert()
        .success();
}

fn run(d: &Path, args: &[&str]) -> (i32, String) {
    let out = common::djdd()
        .arg("--dir")
        .arg(d)
        .arg("check")
        .args(args)
        .output()
        .unwrap();
    let text = common::all_output(&out);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_source_at_a_tag_is_checked_with_python() {
    if !common::have("git") {
        panic!("git is required (apt-get install git)");
    }
    let tmp = common::tempdir();
    let d = build_dir(tmp.path());
    let python = common::demo_venv_python();
    let py = python.to_str().unwrap();
    let (code, text) = run(&d, &["demo", "blue", "--rev", "v2", "--python", py]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("checked demo at commit {V2} (v2)")),
        "{text}"
    );
    assert!(text.contains("site demo-blue"), "{text}");

    // v3 needs humanize, which the v1 virtualenv lacks: the import fails.
    let (code, text) = run(&d, &["demo", "--rev", "v3", "--python", py]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("No module named 'humanize'"), "{text}");
}

#[test]
fn a_source_defaults_to_head_and_says_so_for_a_variant() {
    let tmp = common::tempdir();
    let d = build_dir(tmp.path());
    let (code, text) = run(&d, &["demo", "blue"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("checked demo at commit {V3} (HEAD)")),
        "{text}"
    );
    assert!(
        text.contains("variant blue is not recorded in this build dir"),
        "{text}"
    );
    assert!(text.contains("were skipped"), "{text}");
}

#[test]
fn a_variant_is_checked_at_its_branch() {
    let tmp = common::tempdir();
    let d = build_dir(tmp.path());
    djdd::builddir::BuildDir::create(&d).unwrap();
    common::git(&d.join("src/demo.git"), &["branch", "release", "v2"]);
    set_blue(&d, &["--branch", "release"]);
    let (code, text) = run(&d, &["demo", "blue"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("checked demo at commit {V2} (refs/heads/release)")),
        "{text}"
    );

    // The variant's settings module is the one checked (as djdd build
    // uses it), and a missing one is an error whose fix names the variant.
    set_blue(&d, &["--settings", "demo.production"]);
    let (code, text) = run(&d, &["demo", "blue"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("settings module demo.production: from variant blue"),
        "{text}"
    );
    assert!(
        text.contains("neither demo/production.py nor demo/production/__init__.py exists"),
        "{text}"
    );
    assert!(
        text.contains("djdd variant demo blue --settings MODULE"),
        "{text}"
    );
    // Without VARIANT the project's own module is checked.
    let (code, text) = run(&d, &["demo", "--rev", "release"]);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("demo.production"), "{text}");
}

#[test]
fn the_run_time_checks_use_the_variants_domain() {
    let tmp = common::tempdir();
    let d = build_dir(tmp.path());
    djdd::builddir::BuildDir::create(&d).unwrap();
    // Branch `pinned`: v2 plus settings that allow one host only.
    let repo = tmp.path().join("repo");
    common::git(&repo, &["checkout", "-q", "-b", "pinned", "v2"]);
    std::fs::write(
        repo.join("demo/settings_pinned.py"),
        "from .settings import *  # noqa\nALLOWED_HOSTS = [\"blue.example.org\"]\n",
    )
    .unwrap();
    common::git(&repo, &["add", "demo/settings_pinned.py"]);
    common::git(
        &repo,
        &["-c", "commit.gpgSign=false", "commit", "-q", "-m", "pinned"],
    );
    common::git(&d.join("src/demo.git"), &["fetch", "-q", "origin"]);
    let python = common::demo_venv_python();
    let py = python.to_str().unwrap();
    let variant = |domain: &str| {
        set_blue(
            &d,
            &[
                "--branch",
                "pinned",
                "--settings",
                "demo.settings_pinned",
                "--domain",
                domain,
            ],
        );
    };

    variant("blue.example.org");
    let (code, text) = run(&d, &["demo", "blue", "--python", py]);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("settings.ALLOWED_HOSTS"), "{text}");

    variant("red.example.org");
    let (code, text) = run(&d, &["demo", "blue", "--python", py]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("settings.ALLOWED_HOSTS"), "{text}");
    assert!(
        text.contains("does not allow the site's domain (red.example.org)"),
        "{text}"
    );
}

#[test]
fn bad_names_and_revisions_are_usage_errors() {
    let tmp = common::tempdir();
    let d = build_dir(tmp.path());
    for (args, expected) in [
        (
            vec!["demo", "--rev", "nope"],
            "--rev \"nope\": not a commit, tag or branch",
        ),
        (
            vec!["demo", "--rev=--output=/tmp/djdd-pwned"],
            "not a commit, tag or branch",
        ),
        (vec!["Demo"], "NAME 'Demo': must match"),
        (vec!["demo", "Blue"], "VARIANT 'Blue': must match"),
        (vec!["other"], "unknown NAME 'other'"),
    ] {
        let (code, text) = run(&d, &args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(text.contains(expected), "{args:?}: {text}");
    }
}
