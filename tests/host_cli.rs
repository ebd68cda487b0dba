//! `djdd src`, `djdd variant` and `djdd status` against real git
//! repositories in temp dirs, and their refusals of bad input: each asserts
//! the message, the exit code, and that the build dir is exactly as before.
//! These need no build root (the build dir's layout is made with the
//! library's `BuildDir::create`, as `djdd init` makes it).

mod common;

use common::{TestBuildDir, git, snapshot, upstream_repo};

/// Runs `djdd --dir D ARGS`, asserting success; returns (stdout, stderr).
fn ok(d: &TestBuildDir, args: &[&str]) -> (String, String) {
    let out = d.djdd(args).output().unwrap();
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{args:?} failed:\n{e}");
    (o, e)
}

fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
}

fn clone(d: &TestBuildDir, name: &str, url: &str) {
    d.djdd(&["src", name, "--clone", url]).assert().success();
}

/// Runs `djdd --dir D ARGS` expecting failure with exit code 1 and a
/// message containing every `needles`; asserts nothing in D changed.
fn refused(d: &TestBuildDir, args: &[&str], needles: &[&str]) {
    let before = snapshot(d.path());
    let out = d.djdd(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.contains("djdd: error: "), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: missing {n:?} in:\n{err}");
    }
    assert_eq!(snapshot(d.path()), before, "{args:?} changed the build dir");
}

#[test]
fn clone_then_fetch_sees_a_new_upstream_commit() {
    let d = TestBuildDir::layout();
    let up = upstream_repo();
    let first = git(up.path(), &["rev-parse", "HEAD"]);
    let out = d
        .djdd(&["src", "demo", "--clone", up.path().to_str().unwrap()])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains(&format!("main {first}")), "{stdout}");
    let mirror = d.path().join("src/demo.git");
    assert_eq!(git(&mirror, &["rev-parse", "refs/heads/main"]), first);
    assert_eq!(git(&mirror, &["config", "remote.origin.mirror"]), "true");
    // No temp clone is left beside it.
    assert_eq!(common::list_dir(&d.path().join("src")), ["demo.git"]);

    // Upstream moves on: a new commit and a new branch, an old branch gone.
    std::fs::write(up.path().join("README"), "v2\n").unwrap();
    git(up.path(), &["commit", "--quiet", "-am", "second"]);
    git(up.path(), &["branch", "feature/x"]);
    let second = git(up.path(), &["rev-parse", "HEAD"]);
    assert_ne!(first, second);
    d.djdd(&["src", "demo"]).assert().success();
    assert_eq!(git(&mirror, &["rev-parse", "refs/heads/main"]), second);
    assert_eq!(git(&mirror, &["rev-parse", "refs/heads/feature/x"]), second);
    git(up.path(), &["branch", "-D", "feature/x"]);
    // A rerun with the same --clone URL fetches too (and prunes).
    d.djdd(&["src", "demo", "--clone", up.path().to_str().unwrap()])
        .assert()
        .success();
    assert!(
        !git(&mirror, &["for-each-ref", "--format=%(refname)"]).contains("feature/x"),
        "pruned"
    );

    // status shows the source and the commit of its branch.
    let (status, _) = ok(&d, &["status"]);
    has(&status, &format!("branch main {second}"));
    has(&status, "source demo: ");
    has(&status, "build root: none; run `djdd init");
}

#[test]
fn file_urls_clone_too() {
    let d = TestBuildDir::layout();
    let up = upstream_repo();
    let url = format!("file://{}", up.path().display());
    clone(&d, "demo", &url);
    assert_eq!(
        git(
            &d.path().join("src/demo.git"),
            &["rev-parse", "refs/heads/main"]
        ),
        git(up.path(), &["rev-parse", "HEAD"])
    );
}

#[test]
fn identity_is_kept_quoted_in_the_mirror_config() {
    let d = TestBuildDir::layout();
    let up = upstream_repo();
    let keydir = common::tempdir();
    let key = keydir.path().join("deploy key's");
    std::fs::write(&key, "not really a key\n").unwrap();
    d.djdd(&[
        "src",
        "demo",
        "--clone",
        up.path().to_str().unwrap(),
        "--identity",
        key.to_str().unwrap(),
    ])
    .assert()
    .success();
    let cmd = git(
        &d.path().join("src/demo.git"),
        &["config", "core.sshCommand"],
    );
    let quoted = format!("'{}'", key.display().to_string().replace('\'', "'\\''"));
    assert_eq!(
        cmd,
        format!(
            "ssh -i {quoted} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new"
        )
    );
    // The shell git runs it with reads the key path back unchanged.
    let back = std::process::Command::new("sh")
        .args(["-c", &format!("set -- {cmd}; printf %s \"$3\"")])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&back.stdout),
        key.display().to_string()
    );
}

#[test]
fn bad_names_are_refused_with_the_rule() {
    let d = TestBuildDir::layout();
    let up = upstream_repo();
    let url = up.path().to_str().unwrap();
    let long = "a".repeat(64);
    const RULE: &str = "^[a-z][a-z0-9-]*$";
    for (name, needles) in [
        ("Demo", vec!["starts with 'D'", RULE, "hint: try 'demo'"]),
        ("de_mo", vec!["contains '_'", RULE, "hint: try 'de-mo'"]),
        ("de.mo", vec!["contains '.'", RULE]),
        ("de+mo", vec!["contains '+'", RULE]),
        ("de;mo", vec!["contains ';'", RULE]),
        ("de mo", vec!["contains ' '", RULE]),
        ("démo", vec!["contains 'é'", RULE]),
        ("-demo", vec!["starts with '-'", RULE]),
        ("", vec!["is empty", RULE]),
        (long.as_str(), vec!["64 characters long", "at most 32"]),
    ] {
        let mut all = vec!["NAME"];
        all.extend(needles);
        refused(&d, &["src", name, "--clone", url], &all);
    }
    assert!(common::list_dir(&d.path().join("src")).is_empty());

    clone(&d, "demo", url);
    let long_variant = "b".repeat(28);
    for (variant, needles) in [
        (
            "Blue",
            vec!["VARIANT 'Blue'", "starts with 'B'", "hint: try 'blue'"],
        ),
        ("bl_ue", vec!["VARIANT 'bl_ue'", "contains '_'"]),
        ("bl;ue", vec!["contains ';'"]),
        ("", vec!["VARIANT ''", "is empty"]),
        ("-blue", vec!["starts with '-'"]),
        (
            long_variant.as_str(),
            vec!["NAME-VARIANT", "33 characters long", "at most 32"],
        ),
    ] {
        refused(&d, &["variant", "demo", variant], &needles);
    }
    // www-data is a system user already.
    clone(&d, "www", url);
    refused(
        &d,
        &["variant", "www", "data"],
        &["NAME-VARIANT 'www-data'", "system user"],
    );
    assert!(common::list_dir(&d.path().join("variants")).is_empty());
}

#[test]
fn unknown_names_and_urls_are_refused() {
    let d = TestBuildDir::layout();
    refused(
        &d,
        &["src", "demo"],
        &["unknown NAME 'demo'", "djdd src demo --clone URL"],
    );
    refused(
        &d,
        &["variant", "demo", "blue"],
        &["unknown NAME 'demo'", "hint: add it with"],
    );
    refused(&d, &["status", "demo"], &["unknown NAME 'demo'"]);
    refused(
        &d,
        &["src", "demo", "--clone", "/nonexistent/repo.git"],
        &["--clone '/nonexistent/repo.git': does not exist"],
    );
    // A directory that is not a repository: git's own words, nothing left.
    let empty = common::tempdir();
    refused(
        &d,
        &["src", "demo", "--clone", empty.path().to_str().unwrap()],
        &["git could not clone it", "does not exist"],
    );
    refused(
        &d,
        &["src", "demo", "--clone", "file:///nonexistent/repo.git"],
        &["does not exist"],
    );
    refused(
        &d,
        &["src", "demo", "--clone", "--upload-pack=touch /tmp/pwned"],
        &["starts with '-'"],
    );
    refused(
        &d,
        &["src", "demo", "--clone", "ext::sh -c touch% /tmp/pwned"],
        &["remote helper"],
    );
    // A build dir that does not exist.
    let out = common::djdd()
        .args(["--dir", "/nonexistent/djdd", "status"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("build directory /nonexistent/djdd: does not exist"),
        "{err}"
    );
    assert!(
        err.contains("hint: run `djdd init --dir /nonexistent/djdd` first"),
        "{err}"
    );
    assert!(!std::path::Path::new("/nonexistent/djdd").exists());
}

#[test]
fn variant_is_created_updated_and_listed() {
    let d = TestBuildDir::layout();
    let up = upstream_repo();
    clone(&d, "demo", up.path().to_str().unwrap());
    has(
        &ok(&d, &["variant", "demo", "blue", "--branch", "demo:main"]).0,
        "created",
    );
    let file = d.path().join("variants/demo/blue.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    // The file records only what was chosen: here nothing differs from
    // djdd's defaults. Without options, `djdd variant` shows every
    // effective value and where it comes from.
    for key in [
        "branch",
        "domain",
        "workers",
        "celery",
        "migrate",
        "health_url",
        "graceful_timeout",
    ] {
        assert!(
            !text.lines().any(|l| l.starts_with(&format!("{key} ="))),
            "{key} in\n{text}"
        );
    }
    let (shown, _) = ok(&d, &["variant", "demo", "blue"]);
    for (key, value) in [
        ("branch", "main"),
        ("domain", "demo-blue.localhost"),
        ("workers", "3"),
        ("celery", "no"),
        ("health_url", "/"),
        ("graceful_timeout", "30"),
    ] {
        assert!(
            shown.lines().any(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w == [key, value, "default"]
            }),
            "{key} {value} default in\n{shown}"
        );
    }
    // New flags change only themselves.
    let (o, _) = ok(
        &d,
        &[
            "variant",
            "demo",
            "blue",
            "--workers",
            "5",
            "--celery",
            "--env",
            "FEATURE=on $HOME \"q\"",
            "--domain",
            "blue.example.org",
            "--graceful-timeout",
            "90",
        ],
    );
    has(&o, "updated");
    let v = djdd::config::variant::Variant::parse(
        "demo",
        "blue",
        &std::fs::read_to_string(&file).unwrap(),
        "f",
        &[],
    )
    .unwrap();
    assert_eq!(v.workers, 5);
    assert_eq!(v.graceful_timeout, 90);
    assert!(v.celery && !v.migrate);
    assert_eq!(v.branch, "main");
    assert_eq!(v.domain, "blue.example.org");
    assert_eq!(v.env["FEATURE"], "on $HOME \"q\"");
    d.djdd(&[
        "variant",
        "demo",
        "blue",
        "--no-celery",
        "--unset-env",
        "FEATURE",
    ])
    .assert()
    .success();
    let v2 = djdd::config::variant::Variant::parse(
        "demo",
        "blue",
        &std::fs::read_to_string(&file).unwrap(),
        "f",
        &[],
    )
    .unwrap();
    assert!(!v2.celery && v2.env.is_empty() && v2.workers == 5);
    // Same flags again: unchanged, not rewritten.
    let before = snapshot(d.path());
    has(&ok(&d, &["variant", "demo", "blue"]).0, "unchanged");
    assert_eq!(snapshot(d.path()), before);

    let (_, e) = ok(
        &d,
        &["variant", "demo", "red", "--branch", "release", "--migrate"],
    );
    has(&e, "has no branch release yet");
    let (list, _) = ok(&d, &["variant", "demo", "--list"]);
    has(&list, "blue: branch main, domain blue.example.org");
    has(&list, "red: branch release");
    has(&list, "migrate yes");
    let (status, _) = ok(&d, &["status"]);
    has(&status, "variant red: branch release");
    has(&status, "last build: never");
}

#[test]
fn hostile_variant_values_are_refused_and_nothing_changes() {
    let d = TestBuildDir::layout();
    let up = upstream_repo();
    clone(&d, "demo", up.path().to_str().unwrap());
    d.djdd(&["variant", "demo", "blue"]).assert().success();
    for (args, needles) in [
        (
            vec!["--branch", "$(touch /tmp/pwned)"],
            vec!["--branch", "contains '$'"],
        ),
        (vec!["--branch", "a`id`"], vec!["contains '`'"]),
        (vec!["--branch", "a\"b"], vec!["contains '\"'"]),
        (vec!["--branch", "a'b"], vec!["contains '\\''"]),
        (vec!["--branch", "a b"], vec!["contains ' '"]),
        (vec!["--branch", "a..b"], vec!["contains '..'"]),
        (vec!["--branch", "--upload-pack=x"], vec!["starts with '-'"]),
        (
            vec!["--branch", "other:main"],
            vec!["names the remote 'other'"],
        ),
        (
            vec!["--domain", "a b.org"],
            vec!["--domain", "contains ' '"],
        ),
        (vec!["--domain", "a;b.org"], vec!["contains ';'"]),
        (vec!["--domain", "a{b.org"], vec!["contains '{'"]),
        (vec!["--settings", "a/b"], vec!["--settings", "module path"]),
        (vec!["--settings", "a.'b'"], vec!["module path"]),
        (vec!["--workers", "0"], vec!["--workers", "out of range"]),
        (
            vec!["--workers", "-1"],
            vec!["workers = -1 is out of range"],
        ),
        (vec!["--workers", "1000000"], vec!["1 to 64"]),
        (vec!["--health-url", "x"], vec!["start with one '/'"]),
        (
            vec!["--env", "lower=1"],
            vec!["--env lower", "[A-Z_][A-Z0-9_]*"],
        ),
        (vec!["--env", "NOEQUALS"], vec!["has no '='"]),
        (
            vec!["--env", "DJANGO_SETTINGS_MODULE=x"],
            vec!["set by djdd"],
        ),
        (vec!["--env", "A=x\ny"], vec!["control character"]),
    ] {
        let mut full = vec!["variant", "demo", "blue"];
        full.extend(args.iter());
        refused(&d, &full, &needles);
    }
    assert!(!std::path::Path::new("/tmp/pwned").exists());
}

#[test]
fn a_broken_variant_file_names_file_key_and_rule() {
    let d = TestBuildDir::layout();
    let up = upstream_repo();
    clone(&d, "demo", up.path().to_str().unwrap());
    d.djdd(&["variant", "demo", "blue"]).assert().success();
    let file = d.path().join("variants/demo/blue.toml");
    // A file as an older djdd wrote it, every key written out (and the
    // values this test breaks).
    let good = format!(
        "{}workers = 3\ndomain = \"demo-blue.localhost\"\ncelery = false\n",
        std::fs::read_to_string(&file).unwrap()
    );
    let shown = file.display().to_string();
    for (broken, needles) in [
        (
            good.replace("workers = 3", "workers = 0"),
            vec!["key `workers`", "workers = 0 is out of range"],
        ),
        (
            good.replace(
                "domain = \"demo-blue.localhost\"",
                "domain = \"x; rm -rf /\"",
            ),
            vec!["key `domain`", "contains ';'"],
        ),
        (
            format!("{good}colour = \"blue\"\n"),
            vec!["unknown field `colour`"],
        ),
        (
            good.replace("celery = false", "celery = maybe"),
            vec!["line "],
        ),
        (
            good[..good.find("demo-blue").unwrap() + 4].to_string(),
            vec!["not a valid variant file"],
        ),
    ] {
        std::fs::write(&file, &broken).unwrap();
        // Loading it for an update refuses, and leaves it as it was.
        refused(&d, &["variant", "demo", "blue", "--workers", "4"], &needles);
        refused(
            &d,
            &["variant", "demo", "blue", "--workers", "4"],
            &[&shown],
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), broken);
        // --list and status report it and exit 1.
        let out = d.djdd(&["variant", "demo", "--list"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains(&shown));
        let out = d.djdd(&["status"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stdout).contains("variant blue: BROKEN"));
    }
}

#[test]
fn status_lists_cached_env_packages_and_last_builds() {
    let d = TestBuildDir::layout();
    let up = upstream_repo();
    clone(&d, "demo", up.path().to_str().unwrap());
    d.djdd(&["variant", "demo", "blue"]).assert().success();
    std::fs::write(
        d.path().join("packages/demo-env-0123abcd_1_amd64.deb"),
        vec![0u8; 10],
    )
    .unwrap();
    std::fs::write(d.path().join("packages/other-env-1_1_amd64.deb"), "x").unwrap();
    let bd = djdd::builddir::BuildDir::open(d.path()).unwrap();
    bd.write_last_build(
        "demo",
        "blue",
        &djdd::builddir::LastBuild {
            commit: "c".repeat(40),
            version: "1.0+3".into(),
            env_hash: "0123abcd".into(),
            src_hash: "c".repeat(12),
            time: 1_747_699_200,
            packages: vec!["demo-site-blue_1.0+3_amd64.deb".into()],
            inputs: String::new(),
        },
    )
    .unwrap();
    let (status, _) = ok(&d, &["status", "demo"]);
    has(&status, "env package demo-env-0123abcd_1_amd64.deb");
    assert!(!status.contains("other-env"), "{status}");
    has(&status, "last build 2025-05-20 00:00:00 UTC: commit cccc");
    has(&status, "version 1.0+3");
}
