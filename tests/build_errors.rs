//! `djdd build` refusing bad input, for real: each case exits 1 with an
//! error that names the thing to fix, and leaves D/packages/ as it was (no
//! package, no temp file). The broken repositories are the fixture's
//! history (fixtures/make-repo.sh) plus one commit with one defect each, on
//! its own branch; one build dir (and its env, built once by a good build)
//! serves every case of a test function.
//!
//! Needs root, the cached base tarball and PyPI (the good build and the
//! uninstallable requirement).

mod build_support;
mod common;

use std::path::Path;

use build_support::*;
use common::git;

const PWNED: &str = "/tmp/pwned";

/// A branch `name` on top of v1 with the changes `edit` makes.
fn defect(repo: &Path, name: &str, edit: impl FnOnce(&Path)) {
    git(repo, &["checkout", "--quiet", "-B", name, "v1"]);
    edit(repo);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "--allow-empty", "-m", name]);
    git(repo, &["checkout", "--quiet", "main"]);
}

/// `build demo blue --version REV`.
fn blue(rev: &str) -> [&str; 5] {
    ["build", "demo", "blue", "--version", rev]
}

/// Runs `djdd build ARGS`, expecting failure with every `needles` in its
/// stderr and D/packages/ unchanged; returns stderr.
fn refused(d: &common::TestBuildDir, args: &[&str], needles: &[&str]) -> String {
    let before = package_files(d);
    let err = fails(d, args);
    for n in needles {
        assert!(
            err.contains(n),
            "djdd {args:?}: the error should mention {n:?}:\n{err}"
        );
    }
    assert_eq!(
        package_files(d),
        before,
        "djdd {args:?} left files in packages/:\n{err}"
    );
    err
}

#[test]
fn unknown_names_and_bad_revisions() {
    let _ = std::fs::remove_file(PWNED);
    let repo = demo_repo();
    let d = demo_build_dir(repo.path(), false);

    refused(&d, &["build", "nosuch", "blue"], &["nosuch"]);
    refused(
        &d,
        &["build", "demo", "green"],
        &["variant 'green'", "does not exist"],
    );
    refused(
        &d,
        &["build", "demo", "blue", "--version", "v9"],
        &["revision 'v9'", "does not name a commit"],
    );
    refused(
        &d,
        &["build", "demo", "blue", "--version", "0123456789abcdef"],
        &["does not name a commit"],
    );
    for rev in [
        "$(touch /tmp/pwned)",
        "`touch /tmp/pwned`",
        "--upload-pack=touch /tmp/pwned",
        "-c core.pager=touch /tmp/pwned",
        "v1;touch /tmp/pwned",
        "v1\ntouch /tmp/pwned",
        "HEAD:manage.py",
    ] {
        let flag = format!("--version={rev}");
        let err = refused(&d, &["build", "demo", "blue", &flag], &["--version"]);
        assert!(err.contains("a revision is a commit id"), "{rev:?}:\n{err}");
        assert!(!Path::new(PWNED).exists(), "{rev:?} ran a command");
    }
    // A name djdd refuses before touching the disk.
    refused(&d, &["build", "../demo", "blue"], &["NAME"]);
    assert_eq!(package_files(&d), Vec::<String>::new());
}

#[test]
fn broken_projects() {
    let repo = demo_repo();
    let r = repo.path();
    defect(r, "no-requirements", |r| {
        std::fs::remove_file(r.join("requirements.txt")).unwrap();
    });
    defect(r, "broken-include", |r| {
        let p = r.join("requirements.txt");
        let mut t = std::fs::read_to_string(&p).unwrap();
        t.push_str("-r requirements/missing.txt\n");
        std::fs::write(p, t).unwrap();
    });
    defect(r, "no-such-package", |r| {
        let p = r.join("requirements/base.txt");
        let mut t = std::fs::read_to_string(&p).unwrap();
        t.push_str("djdd-no-such-package==1.0\n");
        std::fs::write(p, t).unwrap();
    });
    defect(r, "needs-newer-python", |r| {
        // Django 6 needs Python >= 3.12; the test's root is bookworm (3.11).
        let p = r.join("requirements/base.txt");
        let t = std::fs::read_to_string(&p).unwrap();
        std::fs::write(p, t.replace("Django==5.2.19", "Django>=6.0,<6.1")).unwrap();
    });
    defect(r, "bad-finder", |r| {
        let p = r.join("demo/settings.py");
        let mut t = std::fs::read_to_string(&p).unwrap();
        t.push_str("\nSTATICFILES_FINDERS = [\"notes.no_such_finders.Finder\"]\n");
        std::fs::write(p, t).unwrap();
    });
    defect(r, "absolute-link", |r| {
        std::os::unix::fs::symlink("/etc/passwd", r.join("notes/static/notes/passwd")).unwrap();
    });
    defect(r, "escaping-link", |r| {
        std::os::unix::fs::symlink("../../../../etc/shadow", r.join("notes/static/shadow"))
            .unwrap();
    });
    defect(r, "newline-name", |r| {
        std::fs::write(r.join("notes/static/notes/a\nb.css"), "a {}\n").unwrap();
    });
    // Build steps: a program in neither the env nor the root; one that
    // fails; a directory it says it makes that is not there after it.
    let steps = |r: &Path, steps: &str| {
        let p = r.join("djdd.toml");
        let mut t = std::fs::read_to_string(&p).unwrap();
        t.push_str(steps);
        std::fs::write(p, t).unwrap();
    };
    defect(r, "step-no-program", |r| {
        steps(
            r,
            "\n[[build.steps]]\ncommand = [\"python\", \"-c\", \"open('/tmp/djdd-step-ran', 'w')\"]\n[[build.steps]]\ncommand = [\"djdd-no-such-program\", \"build\"]\n",
        );
    });
    defect(r, "step-fails", |r| {
        steps(
            r,
            "\n[[build.steps]]\ncommand = [\"python\", \"-c\", \"import sys; print('step output'); sys.exit(3)\"]\ncwd = \".\"\n",
        );
    });
    defect(r, "step-makes-nothing", |r| {
        steps(
            r,
            "\n[[build.steps]]\ncommand = [\"python\", \"-c\", \"pass\"]\nmakes = [\"project-static/docs\"]\n",
        );
    });
    let d = demo_build_dir(r, true);

    // Found while planning, before anything is built.
    refused(
        &d,
        &blue("no-requirements"),
        &["requirements.txt", "does not exist"],
    );
    refused(&d, &blue("broken-include"), &["requirements/missing.txt"]);

    // pip cannot install a requirement: the tail of pip's error is shown.
    let err = refused(
        &d,
        &blue("no-such-package"),
        &[resolving().trim_end(), "djdd-no-such-package"],
    );
    let own = if installer() == "pip" {
        "No matching distribution found for djdd-no-such-package==1.0"
    } else {
        "djdd-no-such-package was not found in the package registry"
    };
    assert!(
        err.contains(own),
        "the installer's own error should be shown:\n{err}"
    );

    // A requirement that needs a newer Python: one sentence before pip's
    // pages says which, what this root has, and the suite that has one.
    let err = refused(
        &d,
        &blue("needs-newer-python"),
        &[
            if installer() == "pip" {
                "Django<6.1,>=6.0 needs Python >=3.12"
            } else {
                "django>=6.0,<6.1 needs Python >=3.12"
            },
            "this build root has Python 3.11",
            "djdd init --suite trixie",
        ],
    );
    let hint = err.find("needs Python").unwrap();
    let pip = err
        .find(if installer() == "pip" {
            "No matching distribution"
        } else {
            "No solution found"
        })
        .unwrap();
    assert!(
        hint < pip,
        "the sentence comes before pip's output:
{err}"
    );

    // A good build, so the env exists for the cases found later.
    ok(&d, &blue("v1"));
    save_pip_cache(&d);
    assert_eq!(package_files(&d).len(), 3, "{:?}", package_files(&d));

    // collectstatic fails: its error is shown; neither the src nor the
    // site package of that commit is left behind.
    let err = refused(
        &d,
        &blue("bad-finder"),
        &["collectstatic", "notes.no_such_finders"],
    );
    assert!(
        err.contains("ModuleNotFoundError") || err.contains("ImportError"),
        "{err}"
    );

    // Build steps: every program is looked up before the first runs.
    let _ = std::fs::remove_file(d.path().join("buildroot/tmp/djdd-step-ran"));
    refused(
        &d,
        &blue("step-no-program"),
        &[
            "key `build.steps[2].command`",
            "djdd-no-such-program",
            "src-debian-requirements.txt",
        ],
    );
    assert!(
        !d.path().join("buildroot/tmp/djdd-step-ran").exists(),
        "step 1 ran although step 2's program is missing"
    );
    refused(
        &d,
        &blue("step-fails"),
        &["build step 1", "build.steps[1]", "step output", "exit"],
    );
    refused(
        &d,
        &blue("step-makes-nothing"),
        &["key `build.steps[1].makes`", "project-static/docs"],
    );

    // Trees a package must not carry.
    refused(
        &d,
        &blue("absolute-link"),
        &["notes/static/notes/passwd", "/etc/passwd", "absolute"],
    );
    refused(
        &d,
        &blue("escaping-link"),
        &["notes/static/shadow", "outside the source tree"],
    );
    refused(&d, &blue("newline-name"), &["a\\nb.css", "newline"]);

    // And the build dir still builds.
    ok(&d, &blue("v2"));
    assert_eq!(package_files(&d).len(), 5, "{:?}", package_files(&d));
}
