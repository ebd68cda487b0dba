//! `make deb`: djdd's own Debian package, built by scripts/make-deb.sh with
//! `djdd pack` and checked by lintian (`--fail-on error,warning`, inside
//! the script), is reproducible, and installs with apt into a clean Debian
//! 12 minbase root (the cached debootstrap tarball, run with chroot; its
//! Depends come from Debian's mirror): `djdd --version` runs, `man
//! djdd-build` shows the build options, bash completion completes, the
//! Ansible roles are in /usr/share/djdd/ansible, and a purge leaves none of
//! its files.
//!
//! Uses the test build's binary (DJDD_BIN) so that `cargo test` does not
//! build a second, release, copy; `make deb` builds the release one.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Runs scripts/make-deb.sh into `out`; returns the .deb it names.
fn make_deb(out: &Path) -> PathBuf {
    let o = Command::new("bash")
        .arg(repo_root().join("scripts/make-deb.sh"))
        .env("OUT", out)
        .env("DJDD_BIN", assert_cmd::cargo::cargo_bin("djdd"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "make-deb.sh failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let deb = PathBuf::from(String::from_utf8(o.stdout).unwrap().trim());
    assert!(deb.is_file(), "{}", deb.display());
    deb
}

/// `chroot ROOT ARGS...` with a clean environment; (status ok, output).
fn chroot(root: &Path, args: &[&str]) -> (bool, String) {
    let o = Command::new("chroot")
        .arg(root)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C.UTF-8")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.success(), text)
}

#[test]
fn make_deb_is_lintian_clean_reproducible_and_installs_with_apt() {
    for p in ["chroot", "tar", "lintian", "dpkg-shlibdeps", "debootstrap"] {
        assert!(have(p), "needs {p} (.ci/apt-packages)");
    }
    let tmp = tempdir();
    let deb = make_deb(&tmp.path().join("a"));
    let again = make_deb(&tmp.path().join("b"));
    assert_eq!(
        std::fs::read(&deb).unwrap(),
        std::fs::read(&again).unwrap(),
        "two builds of the same commit differ"
    );

    // The control fields a Debian admin reads.
    let info = run_ok(Command::new("dpkg-deb").arg("-f").arg(&deb));
    let info = String::from_utf8(info).unwrap();
    for want in [
        "Package: djdd\n",
        "Section: admin\n",
        "libc6 (>= ",
        "debootstrap, schroot, git, gnupg",
    ] {
        assert!(info.contains(want), "{want:?} not in\n{info}");
    }

    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-xf")
            .arg(bookworm_minbase_tarball()),
    );
    std::fs::copy(&deb, root.join("tmp/djdd.deb")).unwrap();
    let (ok, out) = chroot(&root, &["apt-get", "update"]);
    assert!(ok, "apt-get update:\n{out}");
    let (ok, out) = chroot(
        &root,
        &[
            "apt-get",
            "install",
            "--yes",
            "--no-install-recommends",
            "/tmp/djdd.deb",
            "man-db",
            "bash-completion",
        ],
    );
    assert!(ok, "apt-get install ./djdd.deb:\n{out}");
    let (ok, out) = chroot(&root, &["djdd", "--version"]);
    assert!(ok && out.starts_with("djdd "), "{out}");
    for dep in ["debootstrap", "schroot", "git", "gpg"] {
        let (ok, out) = chroot(&root, &["sh", "-c", &format!("command -v {dep}")]);
        assert!(ok, "{dep} not installed by Depends: {out}");
    }
    let (ok, out) = chroot(&root, &["man", "-P", "cat", "djdd-build"]);
    assert!(ok, "man djdd-build:\n{out}");
    assert!(
        out.contains("djdd-build") && out.contains("--plan"),
        "{out}"
    );
    let (ok, out) = chroot(&root, &["man", "-w", "djdd"]);
    assert!(ok && out.contains("/usr/share/man/man1/djdd.1.gz"), "{out}");
    // bash-completion loads djdd's script on demand and completes commands.
    let (ok, out) = chroot(
        &root,
        &[
            "bash",
            "-c",
            ". /usr/share/bash-completion/bash_completion; \
             _completion_loader djdd; \
             COMP_WORDS=(djdd bu); COMP_CWORD=1; COMP_LINE='djdd bu'; COMP_POINT=7; \
             _djdd djdd bu djdd; echo \"${COMPREPLY[@]}\"",
        ],
    );
    assert!(ok && out.split_whitespace().any(|w| w == "build"), "{out}");
    for f in [
        "usr/share/zsh/vendor-completions/_djdd",
        "usr/share/fish/vendor_completions.d/djdd.fish",
        "usr/share/doc/djdd/copyright",
        "usr/share/doc/djdd/changelog.gz",
        "usr/share/djdd/ci-publish.sh",
        "usr/share/djdd/ansible/README.md",
        "usr/share/djdd/ansible/site.yml",
        "usr/share/djdd/ansible/rolling-upgrade.yml",
        "usr/share/djdd/ansible/roles/djdd_site/tasks/main.yml",
        "usr/share/djdd/ansible/roles/djdd_db/tasks/main.yml",
        "usr/share/djdd/ansible/roles/djdd_lb/templates/haproxy.cfg.j2",
        "usr/share/djdd/ansible/roles/djdd_common/filter_plugins/djdd_env.py",
        "usr/share/djdd/ansible/inventory.example/hosts.yml",
    ] {
        assert!(root.join(f).is_file(), "{f} missing");
    }
    // The installed roles are the repository's (docs/multi-host.md).
    assert_eq!(
        std::fs::read(root.join("usr/share/djdd/ansible/roles/djdd_site/tasks/main.yml")).unwrap(),
        std::fs::read(repo_root().join("contrib/ansible/roles/djdd_site/tasks/main.yml")).unwrap()
    );

    let (ok, out) = chroot(&root, &["dpkg", "--purge", "djdd"]);
    assert!(ok, "dpkg --purge djdd:\n{out}");
    assert!(!root.join("usr/bin/djdd").exists());
    assert!(!root.join("usr/share/doc/djdd").exists());
    assert!(!root.join("usr/share/djdd").exists());
}
