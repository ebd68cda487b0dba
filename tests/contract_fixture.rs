//! The fixture repository `fixtures/make-repo.sh` makes: deterministic
//! (the same commit hashes from any directory, into any path), three
//! tagged commits whose changes are what the build tests rely on, and the
//! hashes fixtures/README.md publishes.

mod common;

use std::path::Path;
use std::process::Command;

fn make(dest: &Path, cwd: &Path) -> Vec<String> {
    let out = Command::new("sh")
        .arg(common::fixtures().join("make-repo.sh"))
        .arg(dest)
        .current_dir(cwd)
        .env("GIT_AUTHOR_NAME", "someone else")
        .env("TZ", "Pacific/Auckland")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn changed(repo: &Path, range: &str) -> Vec<String> {
    git(repo, &["diff", "--name-status", range])
        .lines()
        .map(|l| l.replace('\t', " "))
        .collect()
}

#[test]
fn hashes_are_deterministic_and_published() {
    let a = common::tempdir();
    let b = common::tempdir();
    let first = make(&a.path().join("repo"), a.path());
    let second = make(&b.path().join("with space/repo"), Path::new("/"));
    assert_eq!(first.len(), 3);
    assert_eq!(first, second, "make-repo.sh is not deterministic");

    let readme = std::fs::read_to_string(common::fixtures().join("README.md")).unwrap();
    for (tag, hash) in ["v1", "v2", "v3"].iter().zip(&first) {
        assert!(
            readme.contains(&format!("| {tag} | `{hash}` |")),
            "fixtures/README.md does not list {tag} = {hash}: update its table"
        );
    }
}

#[test]
fn history_has_the_promised_shape() {
    let t = common::tempdir();
    let repo = t.path().join("repo");
    let hashes = make(&repo, t.path());
    assert_eq!(
        git(&repo, &["rev-parse", "v1", "v2", "v3"])
            .lines()
            .collect::<Vec<_>>(),
        hashes
    );
    assert_eq!(git(&repo, &["rev-parse", "main"]).trim(), hashes[2]);
    assert_eq!(git(&repo, &["rev-list", "--count", "v3"]).trim(), "3");

    // v2 changes only code and a template: no requirement file.
    let v2 = changed(&repo, "v1..v2");
    assert!(!v2.is_empty());
    for line in &v2 {
        let path = line.split(' ').nth(1).unwrap();
        assert!(
            path.ends_with(".py") || path.ends_with(".html"),
            "v2 changed {line}"
        );
        assert!(
            !path.contains("requirements") && !path.contains("migrations"),
            "v2 changed {line}"
        );
    }

    // v3 changes requirements and adds a migration.
    let v3 = changed(&repo, "v2..v3");
    assert!(
        v3.contains(&"M requirements/base.txt".to_string()),
        "{v3:?}"
    );
    assert!(
        v3.contains(&"A notes/migrations/0002_note_pinned.py".to_string()),
        "{v3:?}"
    );

    // manage.py is executable, nothing else is; no caches are committed.
    let tree = git(&repo, &["ls-tree", "-r", "v3"]);
    for line in tree.lines() {
        let (mode, path) = (
            line.split(' ').next().unwrap(),
            line.split('\t').nth(1).unwrap(),
        );
        let expected = if path == "manage.py" {
            "100755"
        } else {
            "100644"
        };
        assert_eq!(mode, expected, "{path}");
        assert!(
            !path.contains("__pycache__") && !path.ends_with(".pyc"),
            "{path}"
        );
    }
}

#[test]
fn refuses_a_non_empty_destination_and_bad_usage() {
    let t = common::tempdir();
    std::fs::write(t.path().join("file"), "x").unwrap();
    let out = Command::new("sh")
        .arg(common::fixtures().join("make-repo.sh"))
        .arg(t.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists and is not empty"));
    let out = Command::new("sh")
        .arg(common::fixtures().join("make-repo.sh"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn debian_requirement_files_of_the_fixture_parse() {
    use djdd::config::project::parse_debian_requirements;
    let demo = common::fixtures().join("demo");
    let venv = std::fs::read_to_string(demo.join("venv-debian-requirements.txt")).unwrap();
    let r = parse_debian_requirements("venv-debian-requirements.txt", &venv).unwrap();
    let libpq_dev = r.iter().find(|r| r.package == "libpq-dev").unwrap();
    let libpq5 = r.iter().find(|r| r.package == "libpq5").unwrap();
    assert!(libpq_dev.build && !libpq_dev.run);
    assert!(libpq5.run && !libpq5.build);
    let src = std::fs::read_to_string(demo.join("src-debian-requirements.txt")).unwrap();
    assert!(parse_debian_requirements("src-debian-requirements.txt", &src).is_ok());
}
