//! `djdd check` on broken copies of the demo fixture: one defect each,
//! each reported with the right message and exit 1; every defect of one
//! copy reported together; usage errors exit 2.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

struct Copy {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

fn copy() -> Copy {
    let tmp = common::tempdir();
    let root = tmp.path().join("demo");
    common::copy_tree(&common::fixtures().join("demo"), &root);
    Copy { _tmp: tmp, root }
}

/// Replaces `from` (which must occur) by `to` in a file of the copy.
fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let p = root.join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{file} lacks {from:?}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

fn check(root: &Path, extra: &[&str]) -> (i32, String) {
    let out: Output = common::djdd()
        .arg("check")
        .arg(root)
        .arg("--python")
        .arg(common::demo_venv_python())
        .args(extra)
        .output()
        .unwrap();
    let text = common::all_output(&out);
    (out.status.code().unwrap_or(-1), text)
}

fn assert_reports(text: &str, expected: &[&str]) {
    for e in expected {
        assert!(text.contains(e), "expected {e:?} in:\n{text}");
    }
}

fn error_count(text: &str) -> usize {
    text.lines().filter(|l| l.starts_with("error[")).count()
}

// The defects, each as an edit of a fresh copy.

fn no_requirements(root: &Path) {
    std::fs::remove_file(root.join("requirements.txt")).unwrap();
}
const NO_REQUIREMENTS: &str = "error[required-file]: requirements.txt: missing (or a symlink leaving the repository): djdd builds the virtualenv from it";

fn missing_include(root: &Path) {
    edit(
        root,
        "requirements.txt",
        "-r requirements/base.txt",
        "-r requirements/common.txt",
    );
}
const MISSING_INCLUDE: &str = "error[requirements-include]: requirements.txt:5: '-r requirements/common.txt': the included file requirements/common.txt does not exist in the project tree";

fn settings_syntax_error(root: &Path) {
    edit(
        root,
        "demo/settings.py",
        "ROOT_URLCONF = \"demo.urls\"",
        "ROOT_URLCONF = (\"demo.urls\"",
    );
}
const SETTINGS_SYNTAX: &str = "error[settings-import]: settings module demo.settings: does not import under the build-time environment: SyntaxError:";

fn wrong_wsgi(root: &Path) {
    edit(
        root,
        "djdd.toml",
        "wsgi = \"demo.wsgi:application\"",
        "wsgi = \"demo.wsgy:application\"",
    );
}
const WRONG_WSGI: &str =
    "error[wsgi]: WSGI callable demo.wsgy:application: module demo.wsgy not found";

fn debug_on(root: &Path) {
    edit(
        root,
        "demo/settings.py",
        "DEBUG = env_bool(\"DJANGO_DEBUG\", False)",
        "DEBUG = True",
    );
}
const DEBUG_ON: &str = "error[settings-hardcoded]: demo/settings.py:32: DEBUG = True";

fn secret_key_hardcoded(root: &Path) {
    edit(
        root,
        "demo/settings.py",
        "if DEBUG:\n    SECRET_KEY = os.environ.get(\"SECRET_KEY\", \"local-development-only-\" + \"x\" * 40)\nelse:\n    SECRET_KEY = os.environ[\"SECRET_KEY\"]",
        "SECRET_KEY = \"k3y-0f-th3-d3m0-pr0j3ct-that-everyb0dy-kn0ws-n0w-123456\"",
    );
}
const SECRET_KEY_HARDCODED: &str =
    "error[settings-hardcoded]: demo/settings.py:35: SECRET_KEY is a string literal";

#[test]
fn no_requirements_txt() {
    let c = copy();
    no_requirements(&c.root);
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(&text, &[NO_REQUIREMENTS, "fix: add requirements.txt"]);
    assert_eq!(error_count(&text), 1, "{text}");
}

/// The copy with uv's lock instead of requirements.txt (fixtures/uvlock).
fn with_uv_lock(root: &Path) {
    no_requirements(root);
    std::fs::remove_dir_all(root.join("requirements")).unwrap();
    for f in ["pyproject.toml", "uv.lock"] {
        std::fs::copy(common::fixtures().join("uvlock").join(f), root.join(f)).unwrap();
    }
}

#[test]
fn a_uv_lock_stands_for_requirements_txt() {
    let c = copy();
    with_uv_lock(&c.root);
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 0, "{text}");
    assert_reports(
        &text,
        &[
            "note: env: from uv.lock (extras: none; groups: none): it locks 28 distributions",
            "gunicorn==27.0.1",
        ],
    );
    assert!(!text.contains("requirements.txt: missing"), "{text}");
}

#[test]
fn a_broken_uv_lock_is_named_with_its_line_and_needs_its_pyproject() {
    let c = copy();
    with_uv_lock(&c.root);
    edit(
        &c.root,
        "uv.lock",
        "requires-python = \">=3.11\"",
        "requires-python = = \">=3.11\"",
    );
    std::fs::remove_file(c.root.join("pyproject.toml")).unwrap();
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            "error[lock-file]: uv.lock: does not parse: TOML parse error at line 3",
            "error[required-file]: pyproject.toml: missing",
            "fix: commit the pyproject.toml that uv.lock locks",
        ],
    );
    assert_eq!(error_count(&text), 2, "{text}");
}

#[test]
fn missing_r_include() {
    let c = copy();
    missing_include(&c.root);
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[MISSING_INCLUDE, "fix: create requirements/common.txt"],
    );
    assert_eq!(error_count(&text), 1, "{text}");
}

#[test]
fn syntax_error_in_settings() {
    let c = copy();
    settings_syntax_error(&c.root);
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            SETTINGS_SYNTAX,
            "(demo/settings.py, line 60)",
            "run-time checks were skipped",
        ],
    );
    assert_eq!(error_count(&text), 1, "{text}");
}

#[test]
fn wrong_wsgi_path() {
    let c = copy();
    wrong_wsgi(&c.root);
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            WRONG_WSGI,
            "fix: set `wsgi = \"MODULE:CALLABLE\"` in djdd.toml",
        ],
    );
    assert_eq!(error_count(&text), 1, "{text}");
}

#[test]
fn wsgi_attribute_missing_is_found_by_import() {
    let c = copy();
    edit(
        &c.root,
        "djdd.toml",
        "wsgi = \"demo.wsgi:application\"",
        "wsgi = \"demo.wsgi:app\"",
    );
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            "error[wsgi]: WSGI callable demo.wsgi:app: does not import: AttributeError: module 'demo.wsgi' has no attribute 'app'",
        ],
    );
}

#[test]
fn debug_forced_on() {
    let c = copy();
    debug_on(&c.root);
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(&text, &[DEBUG_ON, "fix: turn DEBUG off at run time"]);
    // One defect, one report: check --deploy's security.W018 is folded in.
    assert!(!text.contains("security.W018"), "{text}");
    assert_eq!(error_count(&text), 1, "{text}");
}

#[test]
fn debug_turned_on_indirectly_is_caught_by_check_deploy() {
    let c = copy();
    edit(
        &c.root,
        "demo/settings.py",
        "DEBUG = env_bool(\"DJANGO_DEBUG\", False)",
        "DEBUG = env_bool(\"DJANGO_DEBUG\", True)",
    );
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            "error[deploy-check]: manage.py check --deploy: security.W018 (WARNING): You should not have DEBUG set to True in deployment.",
        ],
    );
}

#[test]
fn secret_key_hard_coded() {
    let c = copy();
    secret_key_hardcoded(&c.root);
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            SECRET_KEY_HARDCODED,
            "fix: SECRET_KEY = os.environ[\"SECRET_KEY\"]",
        ],
    );
    assert_eq!(error_count(&text), 1, "{text}");
}

#[test]
fn secret_key_ignored_indirectly_is_caught_at_run_time() {
    let c = copy();
    // Not a literal, so only the run-time comparison can see it.
    edit(
        &c.root,
        "demo/settings.py",
        "    SECRET_KEY = os.environ[\"SECRET_KEY\"]",
        "    SECRET_KEY = \"-\".join([\"fixed\"] * 20)",
    );
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            "error[settings-value]: settings.SECRET_KEY: is not the value of the SECRET_KEY environment variable (hard-coded?)",
        ],
    );
}

#[test]
fn every_defect_together() {
    // "No requirements.txt" and "a missing include in requirements.txt"
    // cannot both hold, so the copy keeps requirements.txt with the broken
    // include and loses manage.py, another required file.
    let c = copy();
    missing_include(&c.root);
    settings_syntax_error(&c.root);
    wrong_wsgi(&c.root);
    debug_on(&c.root);
    secret_key_hardcoded(&c.root);
    std::fs::remove_file(c.root.join("manage.py")).unwrap();
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            "error[required-file]: manage.py: missing",
            MISSING_INCLUDE,
            SETTINGS_SYNTAX,
            WRONG_WSGI,
            DEBUG_ON,
            SECRET_KEY_HARDCODED,
        ],
    );
    assert_eq!(error_count(&text), 6, "{text}");
    assert!(text.contains("6 error(s)"), "{text}");
}

#[test]
fn every_defect_together_without_requirements() {
    // The other combination: no requirements.txt at all, and the rest.
    let c = copy();
    no_requirements(&c.root);
    settings_syntax_error(&c.root);
    wrong_wsgi(&c.root);
    debug_on(&c.root);
    secret_key_hardcoded(&c.root);
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            NO_REQUIREMENTS,
            SETTINGS_SYNTAX,
            WRONG_WSGI,
            DEBUG_ON,
            SECRET_KEY_HARDCODED,
        ],
    );
    assert_eq!(error_count(&text), 5, "{text}");
}

/// A line pip cannot parse: djdd's own parser (the build's) names the
/// included file and the line.
#[test]
fn requirement_line_that_cannot_be_parsed() {
    let c = copy();
    edit(
        &c.root,
        "requirements/base.txt",
        "pymemcache==4.0.0",
        "pymemcache==4.0.0 extra words",
    );
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            "error[requirements-line]: requirements/base.txt:8: 'pymemcache==4.0.0 extra words': not a valid requirement",
            "fix: fix the line",
        ],
    );
}

/// Every requirements problem at once, each with its file and line: a
/// line no parser accepts, an include leaving the repository, an include
/// loop, a missing include.
#[test]
fn every_requirements_problem_at_once() {
    let c = copy();
    edit(
        &c.root,
        "requirements/base.txt",
        "Django==5.2.19",
        "Django==5.2.19\n-r ../../outside.txt\n-r ../requirements.txt\n-c missing.txt\nnot a requirement!",
    );
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            "error[requirements-include]: requirements/base.txt:3: '-r ../../outside.txt'",
            "error[requirements-include]: requirements/base.txt:4: '-r ../requirements.txt': includes itself: requirements.txt -> requirements/base.txt -> requirements.txt",
            "error[requirements-include]: requirements/base.txt:5: '-c missing.txt': the included file requirements/missing.txt does not exist",
            "error[requirements-line]: requirements/base.txt:6: 'not a requirement!'",
        ],
    );
    assert_eq!(error_count(&text), 4, "{text}");
}

#[test]
fn settings_that_loop_at_import_are_killed() {
    let c = copy();
    edit(
        &c.root,
        "demo/settings.py",
        "import os\n",
        "import os\nimport time\nwhile True:\n    time.sleep(0.1)\n",
    );
    let start = std::time::Instant::now();
    let (code, text) = check(&c.root, &["--timeout", "3"]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            "error[timeout]: python under the build-time environment: did not finish within 3 s and was killed",
        ],
    );
    // Bounded: the build phase is killed and the run phase skipped.
    assert!(start.elapsed().as_secs() < 30, "took {:?}", start.elapsed());
}

#[test]
fn settings_that_exit_at_import() {
    let c = copy();
    edit(
        &c.root,
        "demo/settings.py",
        "import os\n",
        "import os\nimport sys\nsys.exit(3)\n",
    );
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            "error[settings-import]",
            "SystemExit: the module called sys.exit(3)",
        ],
    );
}

#[test]
fn settings_that_need_a_database_url_at_build_time() {
    let c = copy();
    edit(
        &c.root,
        "demo/settings.py",
        "if os.environ.get(\"DATABASE_URL\"):",
        "if os.environ[\"DATABASE_URL\"]:",
    );
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            "error[settings-import]: settings module demo.settings: does not import under the build-time environment: KeyError: 'DATABASE_URL'",
        ],
    );
}

#[test]
fn static_root_not_from_the_environment() {
    let c = copy();
    edit(
        &c.root,
        "demo/settings.py",
        "STATIC_ROOT = os.environ.get(\"STATIC_ROOT\")",
        "STATIC_ROOT = \"/srv/static\"",
    );
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            "error[settings-value]: settings.STATIC_ROOT: is \"/srv/static\", not the STATIC_ROOT environment variable",
            "warning[settings-reads]: demo/settings.py: the settings never mention the contract variable STATIC_ROOT",
        ],
    );
}

#[test]
fn invalid_djdd_toml_names_the_key() {
    let c = copy();
    edit(
        &c.root,
        "djdd.toml",
        "[health]\n",
        "[health]\npath = \"/x\"\n",
    );
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &["error[djdd-toml]: djdd.toml:", "unknown field `path`"],
    );
}

#[test]
fn bad_debian_requirement_line() {
    let c = copy();
    edit(
        &c.root,
        "venv-debian-requirements.txt",
        "libpq5     run",
        "libpq5     runtime",
    );
    let (code, text) = check(&c.root, &[]);
    assert_eq!(code, 1, "{text}");
    assert_reports(
        &text,
        &[
            "error[debian-requirements]: venv-debian-requirements.txt:5: `runtime` after libpq5 is not `build` or `run`",
        ],
    );
}

#[test]
fn usage_errors_exit_2() {
    let c = copy();
    let out = common::djdd()
        .args(["check"])
        .arg(&c.root)
        .args(["--python", "/nonexistent/python"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--python /nonexistent/python: no such file")
    );

    let d = common::tempdir();
    let out = common::djdd()
        .args(["check", "nosuchname"])
        .arg("--dir")
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown NAME 'nosuchname'")
            && err.contains("djdd src nosuchname --clone URL"),
        "{err}"
    );

    let out = common::djdd()
        .arg("check")
        .arg(&c.root)
        .arg("blue")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = common::djdd()
        .args(["check", "--timeout", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "clap range");
}

#[test]
fn a_symlink_leaving_the_tree_is_not_followed() {
    let c = copy();
    let outside = c._tmp.path().join("outside.txt");
    std::fs::write(&outside, "Django==5.2.19\n").unwrap();
    std::fs::remove_file(c.root.join("requirements.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, c.root.join("requirements.txt")).unwrap();
    let out = common::djdd().arg("check").arg(&c.root).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(NO_REQUIREMENTS), "{text}");
}
