//! `djdd build --repo R`: a build dir that never built an env reuses the
//! env package published in the apt repository R instead of building it,
//! so a second build host (or a CI runner that lost its cache) makes the
//! env that is deployed, byte for byte, even when pip would now resolve
//! the requirements differently.
//!
//! Needs root, the cached base tarball and PyPI (for the first build).

mod build_support;
mod common;

use build_support::*;

#[test]
fn a_new_build_dir_reuses_the_published_env() {
    let repo = demo_repo();
    let a = demo_build_dir(repo.path(), true);
    ok(&a, &["build", "demo", "blue", "--version", "v1"]);
    let apt = common::tempdir();
    let apt_dir = apt.path().join("apt");
    let apt_arg = apt_dir.to_str().unwrap();
    ok(&a, &["publish", "--unsigned", "--repo", apt_arg]);
    let env_a = one_package(&a, "demo-env-", &[]);
    let env_name = env_a.file_name().unwrap().to_owned();

    // A fresh build dir: the plan says the env comes from the repository.
    let b = demo_build_dir(repo.path(), false);
    let build = [
        "build",
        "demo",
        "blue",
        "--version",
        "v1",
        "--repo",
        apt_arg,
    ];
    let (plan, _) = ok(&b, &[&build[..], &["--plan"]].concat());
    assert!(env_line(&plan).contains("from repo"), "{plan}");
    assert!(plan.contains("env from the repository: "), "{plan}");
    assert!(plan.contains("2 packages to build, 1 reused"), "{plan}");
    assert!(package_files(&b).is_empty(), "--plan wrote nothing");

    // The build copies it and builds no env: no virtualenv made, no pip.
    let (_, err) = ok(&b, &build);
    assert!(err.contains("copied demo-env-"), "{err}");
    assert!(!err.contains("creating the virtualenv"), "{err}");
    assert!(!err.contains("pip install"), "{err}");
    let env_b = b.path().join("packages").join(&env_name);
    assert_eq!(
        std::fs::read(&env_a).unwrap(),
        std::fs::read(&env_b).unwrap(),
        "the env in the new build dir is the published one"
    );
    // Its lock is now the new build dir's lock of this env (a later build
    // whose package is gone installs it: tests/build_lock.rs).
    let locks = |d: &common::TestBuildDir| -> Vec<(std::ffi::OsString, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(d.path().join("state/env-locks"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name(), std::fs::read(e.path()).unwrap())
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(locks(&b).len(), 1);
    let (status, _) = ok(&b, &["status"]);
    assert!(status.contains("  env locks kept: 1 "), "{status}");
    assert_eq!(
        locks(&b),
        locks(&a),
        "the recorded lock is the published one's"
    );
    // The site package was built against it (collectstatic ran with the
    // unpacked env): the same as the first build dir's.
    assert_eq!(package_files(&b).len(), 3, "{:?}", package_files(&b));
    assert_eq!(
        std::fs::read(one_package(&a, "demo-site-blue_", &[])).unwrap(),
        std::fs::read(one_package(&b, "demo-site-blue_", &[])).unwrap()
    );
    assert!(
        !std::fs::read_dir(b.path().join("packages"))
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().starts_with('.')),
        "no temp file left in packages/"
    );

    // Not a repository: the option is named, nothing is built.
    let c = demo_build_dir(repo.path(), false);
    let out = run(
        &c,
        &[
            "build",
            "demo",
            "blue",
            "--version",
            "v1",
            "--repo",
            "/nonexistent",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--repo /nonexistent") && err.contains("not an apt repository"),
        "{err}"
    );
    assert!(package_files(&c).is_empty());

    // The repository set once for the build dir (`djdd init --repo`):
    // used without --repo, which still wins.
    let (out, _) = ok(&c, &["init", "--repo", apt_arg]);
    assert!(
        out.contains(&format!(
            "repository {apt_arg} (envs published there are reused)"
        )),
        "{out}"
    );
    let (status, _) = ok(&c, &["status"]);
    assert!(
        status.contains(&format!(
            "repository: {apt_arg} (`djdd init --repo`): builds reuse the envs published there\n"
        )),
        "{status}"
    );
    let plan_c = ["build", "demo", "blue", "--version", "v1", "--plan"];
    let (plan, _) = ok(&c, &plan_c);
    assert!(env_line(&plan).contains("from repo"), "{plan}");
    assert!(
        plan.contains(&format!("env from the repository: {apt_arg}/pool/")),
        "{plan}"
    );
    let err = fails(&c, &[&plan_c[..], &["--repo", "/nonexistent"]].concat());
    assert!(err.contains("--repo /nonexistent"), "{err}");
    // A repository nothing was published to yet: the env is built.
    let later = c.path().join("not-yet");
    let (out, _) = ok(&c, &["init", "--repo", later.to_str().unwrap()]);
    assert!(out.contains("nothing published yet"), "{out}");
    let (plan, _) = ok(&c, &plan_c);
    assert!(env_line(&plan).contains(" build "), "{plan}");
    // Only absolute paths; --no-repo forgets it.
    let err = fails(&c, &["init", "--repo", "apt"]);
    assert!(
        err.contains("--repo apt: must be an absolute path"),
        "{err}"
    );
    ok(&c, &["init", "--no-repo"]);
    let settings = std::fs::read_to_string(c.path().join("state/settings.toml")).unwrap();
    assert!(!settings.contains("repo"), "{settings}");
    assert!(package_files(&c).is_empty(), "--plan wrote nothing");
}

/// The plan's line of the env package.
fn env_line(plan: &str) -> &str {
    plan.lines()
        .find(|l| l.starts_with("  env  "))
        .unwrap_or_else(|| panic!("no env package line in:\n{plan}"))
}
