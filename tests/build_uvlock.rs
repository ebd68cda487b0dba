//! The project's own lock as the env's input, for real: fixtures/uvlock
//! (the demo with pyproject.toml and uv.lock, no requirements.txt) builds
//! its env from the lock, offline from what uv.lock records: what the
//! root's Python and architecture need (no dev group, no Windows-only
//! package, not the project itself), psycopg2 compiled from its sdist by
//! djdd; the lock ships in the env package; a lock change that installs
//! the same set keeps the env HASH; a second build dir makes the same
//! bytes. Bad locks are refused naming the line or the Python, and leave
//! packages/ as it was.
//!
//! Needs root, the cached base tarball and PyPI.

mod build_support;
mod common;

use std::path::Path;
use std::process::Command;

use build_support::*;
use common::{TestBuildDir, git};

fn uvlock_repo() -> tempfile::TempDir {
    need_root();
    let t = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .arg(common::fixtures().join("make-repo.sh"))
        .arg(t.path())
        .arg("uvlock")
        .output()
        .unwrap();
    assert!(out.status.success(), "make-repo.sh uvlock: {out:?}");
    t
}

fn lock_build_dir(repo: &Path) -> TestBuildDir {
    let d = TestBuildDir::new();
    ok(&d, &["init"]);
    seed_pip_cache(&d);
    ok(&d, &["src", "lockdemo", "--clone", repo.to_str().unwrap()]);
    ok(
        &d,
        &[
            "variant",
            "lockdemo",
            "blue",
            "--domain",
            "lock.example.org",
        ],
    );
    d
}

const ASGIREF: &str = "https://files.pythonhosted.org/packages/2e/b0/ec211e1f7966247cb6469158d856bac9aa4c2fe13621bd6a352e4f850453/asgiref-3.13.0-py3-none-any.whl";
const ASGIREF_SHA: &str = "f9596a2434512686473d50f96ff6207fbba49ae1a785dfac614df4aeb085674d";

const SQLPARSE_WHEEL_SHA: &str = "3be5a72d04c873d690d7c6dedd33d6fae2ef82759881ceec02fc2efd0cba564f";

/// What makes the demo a distribution setuptools builds (for
/// `env.install_project`): a build system, its one package, an entry point
/// and a console script.
const PACKAGED: &str = "
[build-system]
requires = [\"setuptools>=61\"]
build-backend = \"setuptools.build_meta\"

[tool.setuptools]
packages = [\"demo\"]

[project.scripts]
demo-wsgi = \"demo.wsgi:application\"

[project.entry-points.\"djdd.test\"]
demo = \"demo.settings\"
";

/// The file name of the package at `p`.
fn package_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn blue(rev: &str) -> [&str; 5] {
    ["build", "lockdemo", "blue", "--version", rev]
}

/// A branch `name` on top of v1 with the changes `edit` makes, fetched
/// into the build dir's copy of the repository.
fn defect(d: &TestBuildDir, repo: &Path, name: &str, edit: impl FnOnce(&Path)) {
    git(repo, &["checkout", "--quiet", "-B", name, "v1"]);
    edit(repo);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "--allow-empty", "-m", name]);
    git(repo, &["checkout", "--quiet", "main"]);
    ok(d, &["src", "lockdemo"]);
}

/// `djdd build` of branch `rev` fails naming each of `needles`, and
/// leaves packages/ as it was.
fn refused(d: &TestBuildDir, rev: &str, needles: &[&str]) {
    let before = package_files(d);
    let err = fails(d, &blue(rev));
    for n in needles {
        assert!(err.contains(n), "building {rev}: no {n:?} in:\n{err}");
    }
    assert_eq!(
        package_files(d),
        before,
        "building {rev} left files:\n{err}"
    );
}

#[test]
fn the_env_is_built_from_uv_lock_and_bad_locks_are_refused() {
    let repo = uvlock_repo();
    let d = lock_build_dir(repo.path());

    let (plan, _) = ok(&d, &[&blue("v1")[..], &["--plan"]].concat());
    assert!(
        plan.contains(
            "installs exactly the 22 distributions the project's uv.lock selects for python3."
        ),
        "{plan}"
    );
    ok(&d, &blue("v1"));
    save_pip_cache(&d);
    let env = one_package(&d, "lockdemo-env-", &[]);
    let lock = member_text(&env, "/requirements.lock").expect("the env ships requirements.lock");
    for want in [
        "\ndjango==5.2.19 --hash=sha256:",
        "\ngunicorn==27.0.1 --hash=sha256:",
        "\npsycopg2==2.9.13 --hash=sha256:",
        "the project's\n# uv.lock selects",
    ] {
        assert!(
            lock.contains(want),
            "no {want:?} in the env's lock:\n{lock}"
        );
    }
    let shipped = member_text(&env, "/uv.lock").expect("the env ships uv.lock");
    assert_eq!(
        shipped.as_bytes(),
        std::fs::read(common::fixtures().join("uvlock/uv.lock")).unwrap(),
        "the shipped uv.lock is the project's"
    );
    assert!(member_text(&env, "/pyproject.toml").is_some());
    let files = contents(&env);
    let dists: Vec<&String> = files
        .iter()
        .filter(|f| f.ends_with(".dist-info/"))
        .collect();
    for gone in ["pytest-", "colorama-", "pluggy-", "demo-1.0", "humanize-"] {
        assert!(
            !dists
                .iter()
                .any(|f| f.contains(&format!("site-packages/{gone}"))),
            "{gone} is in the env: {dists:?}"
        );
    }
    assert!(
        files
            .iter()
            .any(|f| f.contains("site-packages/psycopg2/_psycopg.")),
        "psycopg2's C extension is missing"
    );
    let env_bytes = std::fs::read(&env).unwrap();

    // v2 adds a dev dependency: uv.lock changes, the env's set does not.
    let (plan, _) = ok(&d, &[&blue("v2")[..], &["--plan"]].concat());
    let env_line = plan.lines().find(|l| l.starts_with("  env  ")).unwrap();
    assert!(
        env_line.contains(&env_hash_of(&env)) && env_line.contains("reuse"),
        "{plan}"
    );

    // The project itself in the env, when djdd.toml asks: a wheel of the
    // commit's tree, built by its own backend, on top of the same lock.
    defect(&d, repo.path(), "package", |r| {
        let t = std::fs::read_to_string(r.join("djdd.toml")).unwrap();
        std::fs::write(r.join("djdd.toml"), t + "\n[env]\ninstall_project = true\n").unwrap();
        let t = std::fs::read_to_string(r.join("pyproject.toml")).unwrap();
        std::fs::write(r.join("pyproject.toml"), t + PACKAGED).unwrap();
    });
    let (plan, _) = ok(&d, &[&blue("package")[..], &["--plan"]].concat());
    assert!(
        plan.contains("then the project itself (djdd.toml's env.install_project), a wheel built from the commit's tree "),
        "{plan}"
    );
    let v1_envs = package_files(&d);
    ok(&d, &blue("package"));
    let packaged = one_package(&d, "lockdemo-env-", &v1_envs);
    assert_ne!(env_hash_of(&packaged), env_hash_of(&env), "a new env");
    let files = contents(&packaged);
    let info = "site-packages/demo-1.0.dist-info/";
    for want in [
        "site-packages/demo/settings.py",
        "site-packages/demo/__pycache__/settings.cpython-3",
        "bin/demo-wsgi",
        &format!("{info}METADATA"),
        &format!("{info}entry_points.txt"),
        &format!("{info}REQUESTED"),
    ] {
        assert!(
            files.iter().any(|f| f.contains(want)),
            "the env with the project has no {want}"
        );
    }
    assert!(
        !files
            .iter()
            .any(|f| f.contains(&format!("{info}direct_url.json"))),
        "the project's direct_url.json names a path of the build root"
    );
    let record = member_text(&packaged, &format!("{info}RECORD")).unwrap();
    assert!(!record.contains("direct_url.json"), "{record}");
    assert!(record.contains("demo/settings.py,sha256="), "{record}");
    let packaged_bytes = std::fs::read(&packaged).unwrap();
    // Another commit of the tree is another env; its dependencies the same.
    defect(&d, repo.path(), "package2", |r| {
        let t = std::fs::read_to_string(r.join("djdd.toml")).unwrap();
        std::fs::write(r.join("djdd.toml"), t + "\n[env]\ninstall_project = true\n").unwrap();
        let t = std::fs::read_to_string(r.join("pyproject.toml")).unwrap();
        std::fs::write(r.join("pyproject.toml"), t + PACKAGED).unwrap();
        std::fs::write(r.join("demo/version.py"), "VERSION = 2\n").unwrap();
    });
    let (plan, _) = ok(&d, &[&blue("package2")[..], &["--plan"]].concat());
    let env_line = plan.lines().find(|l| l.starts_with("  env  ")).unwrap();
    assert!(
        !env_line.contains(&env_hash_of(&packaged)) && env_line.contains("build"),
        "{plan}"
    );

    // The same lock in another build dir: the same bytes, with the
    // project too.
    let d2 = lock_build_dir(repo.path());
    ok(&d2, &blue("v1"));
    let env2 = one_package(&d2, "lockdemo-env-", &[]);
    assert_same_package(
        &env_bytes,
        &env2,
        "the env built from uv.lock in a second build dir",
    );
    ok(&d2, &blue("package"));
    let packaged2 = one_package(&d2, "lockdemo-env-", &[package_name(&env2)]);
    assert_same_package(
        &packaged_bytes,
        &packaged2,
        "the env with the project, built in a second build dir",
    );
    drop(d2);

    // An extra the project declares: installed when djdd.toml names it.
    defect(&d, repo.path(), "extra", |r| {
        let t = std::fs::read_to_string(r.join("djdd.toml")).unwrap();
        std::fs::write(
            r.join("djdd.toml"),
            t + "\n[env]\nextras = [\"humanize\"]\n",
        )
        .unwrap();
    });
    let (plan, _) = ok(&d, &[&blue("extra")[..], &["--plan"]].concat());
    assert!(
        plan.contains("installs exactly the 23 distributions"),
        "{plan}"
    );

    // A uv.lock that does not parse: refused, naming the line.
    defect(&d, repo.path(), "broken", |r| {
        let t = std::fs::read_to_string(r.join("uv.lock")).unwrap();
        let mut lines: Vec<&str> = t.lines().collect();
        lines[2] = "requires-python = = \">=3.11\"";
        std::fs::write(r.join("uv.lock"), lines.join("\n")).unwrap();
    });
    refused(&d, "broken", &["uv.lock (commit ", "line 3"]);

    // Locked for a Python no build root has.
    defect(&d, repo.path(), "python", |r| {
        let t = std::fs::read_to_string(r.join("uv.lock")).unwrap();
        let t = t.replacen(
            "requires-python = \">=3.11\"",
            "requires-python = \">=3.99\"",
            1,
        );
        std::fs::write(r.join("uv.lock"), t).unwrap();
    });
    refused(
        &d,
        "python",
        &[
            "has no entry for this build root's Python 3.",
            "requires-python >=3.99",
        ],
    );

    // A pylock.toml without the app server (djdd never adds to a lock),
    // whose other package is for Windows only.
    defect(&d, repo.path(), "noserver", |r| {
        let t = std::fs::read_to_string(r.join("djdd.toml")).unwrap();
        std::fs::write(
            r.join("djdd.toml"),
            t + "\n[env]\nrequirements = \"pylock.toml\"\n",
        )
        .unwrap();
        std::fs::write(
            r.join("pylock.toml"),
            format!(
                "lock-version = \"1.0\"\ncreated-by = \"hand\"\n\n\
                 [[packages]]\nname = \"asgiref\"\nversion = \"3.13.0\"\n\
                 wheels = [{{ url = \"{ASGIREF}\", hashes = {{ sha256 = \"{ASGIREF_SHA}\" }} }}]\n\n\
                 [[packages]]\nname = \"colorama\"\nversion = \"0.4.6\"\nmarker = \"sys_platform == 'win32'\"\n\
                 wheels = [{{ url = \"{ASGIREF}\", hashes = {{ sha256 = \"{ASGIREF_SHA}\" }} }}]\n"
            ),
        )
        .unwrap();
    });
    refused(
        &d,
        "noserver",
        &[
            "pylock.toml (commit ",
            "does not lock gunicorn",
            "never adds to a lock",
        ],
    );

    // A hash the index does not serve (sqlparse's wheel): refused naming
    // the distribution and the project's lock, nothing written.
    defect(&d, repo.path(), "badhash", |r| {
        let t = std::fs::read_to_string(r.join("uv.lock")).unwrap();
        assert!(t.contains(SQLPARSE_WHEEL_SHA));
        std::fs::write(
            r.join("uv.lock"),
            t.replace(SQLPARSE_WHEEL_SHA, &"0".repeat(64)),
        )
        .unwrap();
    });
    refused(
        &d,
        "badhash",
        &[
            "the project's uv.lock",
            "sqlparse==0.6.1 (its archive's sha256 is not the one the lock records)",
            "uv lock --upgrade-package",
        ],
    );

    // The project itself asked for, and nothing to build it with.
    defect(&d, repo.path(), "noproject", |r| {
        let t = std::fs::read_to_string(r.join("djdd.toml")).unwrap();
        std::fs::write(r.join("djdd.toml"), t + "\n[env]\ninstall_project = true\n").unwrap();
        std::fs::remove_file(r.join("pyproject.toml")).unwrap();
    });
    refused(
        &d,
        "noproject",
        &[
            "`env.install_project`",
            "neither pyproject.toml nor setup.py",
        ],
    );

    // requirements.txt with extras: refused by djdd.toml's check.
    defect(&d, repo.path(), "txt-extras", |r| {
        let t = std::fs::read_to_string(r.join("djdd.toml")).unwrap();
        std::fs::write(
            r.join("djdd.toml"),
            t + "\n[env]\nrequirements = \"requirements.txt\"\nextras = [\"humanize\"]\n",
        )
        .unwrap();
    });
    refused(&d, "txt-extras", &["env.extras", "requirements.txt"]);
}
