//! `djdd check NAME [VARIANT]` in a build dir with a build root: once
//! `djdd build` has made the env of the checked commit's requirements, the
//! checks that import the project run inside the build root, as the build
//! user, with that env's python (no --python needed); before, the report
//! says which command builds it. Branches made here in the fixture
//! repository (like acceptance scenario 18): `release` (v1), `broken` (v1
//! with settings that import a module nobody has) and `loops` (v1 with
//! settings that never finish importing); all share v1's requirements, so
//! v1's env serves them all.
//!
//! Needs root, the cached base tarball (or Debian's mirror) and PyPI (the
//! wheels come from /var/cache/djdd/test-pip when an earlier run left them).

mod build_support;
mod common;

use std::path::{Path, PathBuf};

use build_support::*;
use common::TestBuildDir;

/// Branch `branch` of `repo` at `from`, plus one commit appending `text`
/// to demo/settings.py.
fn settings_branch(repo: &Path, branch: &str, from: &str, text: &str) {
    common::git(repo, &["checkout", "-q", "-b", branch, from]);
    let settings = repo.join("demo/settings.py");
    let mut s = std::fs::read_to_string(&settings).unwrap();
    s.push_str(text);
    std::fs::write(&settings, s).unwrap();
    common::git(
        repo,
        &[
            "-c",
            "commit.gpgSign=false",
            "commit",
            "-q",
            "-am",
            &format!("{branch}: settings changed"),
        ],
    );
    common::git(repo, &["checkout", "-q", "main"]);
}

/// `djdd --dir D check ARGS`: (exit code, stdout and stderr).
fn check(d: &TestBuildDir, args: &[&str]) -> (i32, String) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    let out = run(d, &all);
    let text = common::all_output(&out);
    (out.status.code().unwrap_or(-1), text)
}

/// The root's directory of check scratch dirs, on the host.
fn scratch_parent(d: &TestBuildDir) -> PathBuf {
    d.path().join("buildroot/var/tmp/djdd-check")
}

/// What is left in it (nothing after a check).
fn scratch_left(d: &TestBuildDir) -> Vec<String> {
    match std::fs::read_dir(scratch_parent(d)) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Processes whose working directory is (or was) below the scratch dirs.
fn processes_in_scratch(d: &TestBuildDir) -> Vec<String> {
    let parent = scratch_parent(d).to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| {
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            let cwd = cwd.to_string_lossy().into_owned();
            cwd.starts_with(&parent)
                .then(|| format!("{}: {cwd}", e.file_name().to_string_lossy()))
        })
        .collect()
}

fn assert_clean_afterwards(d: &TestBuildDir, what: &str) {
    assert_eq!(
        scratch_left(d),
        Vec::<String>::new(),
        "{what}: scratch dirs left in the build root"
    );
    assert_eq!(
        processes_in_scratch(d),
        Vec::<String>::new(),
        "{what}: processes left running"
    );
}

#[test]
fn import_checks_run_inside_the_build_root_with_the_built_env() {
    let started = std::time::Instant::now();
    let repo = demo_repo();
    let r = repo.path();
    common::git(r, &["branch", "release", "v1"]);
    settings_branch(
        r,
        "broken",
        "v1",
        "\nimport djdd_no_such_module  # broken on purpose (tests/check_root.rs)\n",
    );
    settings_branch(r, "loops", "v1", "\nwhile True:\n    pass\n");
    let v1 = rev_parse(r, "v1");
    let d = demo_build_dir(r, true);
    ok(
        &d,
        &[
            "variant",
            "demo",
            "blue",
            "--branch",
            "release",
            "--domain",
            "blue.example.org",
        ],
    );

    // No env yet: the files are checked, and the note names the command
    // that builds the env.
    let (code, text) = check(&d, &["demo", "blue"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("the checks that import the project were skipped"),
        "{text}"
    );
    assert!(text.contains("has not been built yet"), "{text}");
    assert!(
        text.contains(&format!("`djdd build demo blue --version {v1}`")),
        "{text}"
    );
    assert!(!text.contains("ran inside the build root"), "{text}");

    ok(&d, &["build", "demo", "blue", "--version", "v1"]);
    save_pip_cache(&d);
    let built = std::time::Instant::now();

    // A scratch dir left by a killed check (no such process) is removed.
    let stale = scratch_parent(&d).join("demo-999999999");
    std::fs::create_dir_all(stale.join("src")).unwrap();

    // v1 (the variant's branch): every import check runs in the root and
    // passes.
    let (code, text) = check(&d, &["demo", "blue"]);
    eprintln!("--- djdd check demo blue (v1, env built):\n{text}");
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("checked demo at commit {v1} (refs/heads/release)")),
        "{text}"
    );
    assert!(
        text.contains("the checks that import the project ran inside the build root"),
        "{text}"
    );
    assert!(
        text.contains("as user djdd, with /usr/lib/demo-env/"),
        "{text}"
    );
    assert!(text.contains("/bin/python (the env built"), "{text}");
    assert!(
        text.contains("the run-time checks used site demo-blue"),
        "{text}"
    );
    assert!(
        text.contains("ok: the project meets the deploy contract"),
        "{text}"
    );
    assert!(!text.contains("skipped"), "{text}");
    assert!(!stale.exists(), "the stale scratch dir was not removed");
    assert_clean_afterwards(&d, "v1");

    // Settings that fail at import: the error names the module, and the
    // traceback's paths are the project's, not the scratch dir's.
    let (code, text) = check(&d, &["demo", "blue", "--rev", "broken"]);
    eprintln!("--- djdd check demo blue --rev broken:\n{text}");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("error[settings-import]: settings module demo.settings: does not import under the build-time environment: ModuleNotFoundError: No module named 'djdd_no_such_module'"),
        "{text}"
    );
    assert!(text.contains("File \"demo/settings.py\""), "{text}");
    assert!(!text.contains("/var/tmp/djdd-check"), "{text}");
    assert!(
        text.contains("the run-time checks were skipped: the settings do not import"),
        "{text}"
    );
    assert_clean_afterwards(&d, "broken");

    // Settings that never finish importing: stopped by the timeout.
    let t = std::time::Instant::now();
    let (code, text) = check(&d, &["demo", "blue", "--rev", "loops", "--timeout", "4"]);
    eprintln!("--- djdd check demo blue --rev loops --timeout 4:\n{text}");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("error[timeout]: python under the build-time environment: did not finish within 4 s and was killed"),
        "{text}"
    );
    assert!(
        text.contains("does the settings module (or something it imports) loop"),
        "{text}"
    );
    assert!(t.elapsed().as_secs() < 60, "took {:?}", t.elapsed());
    assert_clean_afterwards(&d, "loops");

    // --python still runs on this host, even with a root and an env.
    let python = common::demo_venv_python();
    let (code, text) = check(&d, &["demo", "blue", "--python", python.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("inside the build root"), "{text}");
    assert!(
        text.contains("the run-time checks used site demo-blue"),
        "{text}"
    );
    assert_clean_afterwards(&d, "--python");

    eprintln!(
        "check_root: setup and build {:?}, checks {:?}",
        built - started,
        built.elapsed()
    );
}
