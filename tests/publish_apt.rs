//! The real apt against a repository djdd publishes: a clean Debian 12
//! minbase root (debootstrap, cached as a tarball) per test, apt run in it
//! with `chroot`, the repository added by `file:` URI with `signed-by` the
//! key djdd exported. Covers install through Depends, upgrade to a newer
//! build, refusal of a tampered Release, and publishes killed part-way.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// A fresh Debian root with our repository (at /srv/repo) as its only source.
struct Root {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    dir: PathBuf,
    _agent: GpgAgentGuard,
}

impl Root {
    fn new() -> Root {
        for p in ["chroot", "tar", "dpkg-deb", "gpg", "debootstrap"] {
            assert!(have(p), "needs {p} (.ci/apt-packages)");
        }
        let tar = bookworm_minbase_tarball();
        let tmp = tempdir();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let st = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-xf")
            .arg(&tar)
            .status()
            .unwrap();
        assert!(st.success(), "extracting {}", tar.display());
        std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        // Only our repository: no network sources.
        std::fs::write(root.join("etc/apt/sources.list"), "").unwrap();
        let dir = tmp.path().join("d");
        Root {
            _agent: GpgAgentGuard(dir.join("gnupg")),
            dir,
            root,
            _tmp: tmp,
        }
    }

    fn repo(&self) -> PathBuf {
        self.root.join("srv/repo")
    }

    fn packages(&self) -> PathBuf {
        self.dir.join("packages")
    }

    fn publish(&self) -> assert_cmd::Command {
        let mut c = djdd();
        c.arg("--dir")
            .arg(&self.dir)
            .arg("publish")
            .args(["--suite", "stable"])
            .arg("--repo")
            .arg(self.repo());
        c
    }

    /// Adds the repository the way docs/publish.md tells a target host to.
    fn add_source(&self) {
        let keyrings = self.root.join("etc/apt/keyrings");
        std::fs::create_dir_all(&keyrings).unwrap();
        std::fs::copy(self.repo().join("KEY.gpg"), keyrings.join("djdd.gpg")).unwrap();
        std::fs::write(
            self.root.join("etc/apt/sources.list.d/djdd.sources"),
            "Types: deb\nURIs: file:/srv/repo\nSuites: stable\nComponents: main\n\
             Signed-By: /etc/apt/keyrings/djdd.gpg\n",
        )
        .unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("chroot")
            .arg(&self.root)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C.UTF-8")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .unwrap()
    }

    /// `apt-get update`, which must succeed without any warning.
    fn update_clean(&self) {
        let out = self.run(&["apt-get", "update"]);
        let text = both(&out);
        assert!(out.status.success(), "apt-get update failed:\n{text}");
        let bad: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("W:") || l.starts_with("E:"))
            .collect();
        assert!(bad.is_empty(), "apt-get update warned:\n{text}");
        assert!(text.contains("file:/srv/repo stable InRelease"), "{text}");
    }

    /// apt-get update refuses the repository: it keeps the previous
    /// indices (and says so), fails with `--error-on=any`, and a host that
    /// has no previous indices gets none.
    fn assert_refused(&self, what: &str) {
        let out = self.run(&["apt-get", "update"]);
        let text = both(&out);
        assert!(text.contains("BADSIG"), "{what} accepted:\n{text}");
        assert!(
            text.contains("The repository is not updated") || text.contains("is not signed"),
            "{what}:\n{text}"
        );
        let out = self.run(&["apt-get", "update", "--error-on=any"]);
        assert!(!out.status.success(), "{what} accepted:\n{}", both(&out));
        let lists = self.root.join("var/lib/apt/lists");
        for name in list_dir(&lists) {
            if name.contains("srv_repo") {
                std::fs::remove_file(lists.join(name)).unwrap();
            }
        }
        let out = self.run(&["apt-get", "update"]);
        let text = both(&out);
        assert!(
            !out.status.success(),
            "{what} accepted by a new host:\n{text}"
        );
        assert!(
            text.contains("E: The repository 'file:/srv/repo stable"),
            "{text}"
        );
        let out = self.run(&["apt-cache", "policy", "demo-site-blue"]);
        let policy = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(policy.contains("/var/lib/dpkg/status"), "{policy}");
        assert!(
            !policy.contains("file:/srv/repo"),
            "{what}: still offered:\n{policy}"
        );
    }

    fn install(&self, args: &[&str]) {
        let mut a = vec!["apt-get", "install", "-y", "--no-install-recommends"];
        a.extend_from_slice(args);
        let out = self.run(&a);
        assert!(out.status.success(), "{a:?}:\n{}", both(&out));
    }

    /// The installed version of a package, None when not installed.
    fn installed(&self, pkg: &str) -> Option<String> {
        let out = self.run(&["dpkg-query", "-W", "-f", "${Status} ${Version}", pkg]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.strip_prefix("install ok installed ")
            .map(|v| v.trim().to_string())
    }

    fn candidate(&self, pkg: &str) -> String {
        let out = self.run(&["apt-cache", "policy", pkg]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find_map(|l| l.trim().strip_prefix("Candidate: "))
            .unwrap_or_else(|| panic!("no candidate for {pkg}:\n{text}"))
            .to_string()
    }
}

fn both(out: &Output) -> String {
    common::all_output(out)
}

/// One build of the demo project: env, src and the blue site depending on
/// both (names as djdd's: NAME-env-HASH, NAME-src-HASH, NAME-site-VARIANT).
fn build(packages: &Path, env: &str, src: &str, site_version: &str) {
    // An env package is built once per requirements hash; a rebuild (with
    // new bytes from dpkg-deb's timestamps) would be refused, rightly.
    if !packages.join(format!("demo-env-{env}_1_all.deb")).exists() {
        make_deb(packages, &format!("demo-env-{env}"), "1", "all", "", env);
    }
    make_deb(
        packages,
        &format!("demo-src-{src}"),
        "1",
        "all",
        &format!("Depends: demo-env-{env}\n"),
        src,
    );
    make_deb(
        packages,
        "demo-site-blue",
        site_version,
        "all",
        &format!("Depends: demo-src-{src}, demo-env-{env}\n"),
        site_version,
    );
}

#[test]
fn apt_installs_through_depends_upgrades_and_refuses_a_tampered_release() {
    let r = Root::new();
    build(&r.packages(), "e1", "s1", "0.1");
    r.publish().arg("--init-key").assert().success();
    r.add_source();
    r.update_clean();
    r.install(&["demo-site-blue"]);
    assert_eq!(r.installed("demo-site-blue").as_deref(), Some("0.1"));
    assert_eq!(r.installed("demo-src-s1").as_deref(), Some("1"));
    assert_eq!(r.installed("demo-env-e1").as_deref(), Some("1"));

    // A newer build: new src, same env.
    build(&r.packages(), "e1", "s2", "0.2");
    let out = r.publish().assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_eq!(stdout.matches("added ").count(), 2, "{stdout}");
    r.update_clean();
    r.install(&["--only-upgrade", "demo-site-blue"]);
    assert_eq!(r.installed("demo-site-blue").as_deref(), Some("0.2"));
    assert_eq!(r.installed("demo-src-s2").as_deref(), Some("1"));

    // Tampered InRelease (the Release apt reads first): refused.
    let dists = r.repo().join("dists/stable");
    let inrelease = std::fs::read_to_string(dists.join("InRelease")).unwrap();
    std::fs::write(
        dists.join("InRelease"),
        inrelease.replace("Label: djdd", "Label: evil"),
    )
    .unwrap();
    r.assert_refused("tampered InRelease");

    // Without InRelease, a tampered Release (Release.gpg no longer matches).
    std::fs::remove_file(dists.join("InRelease")).unwrap();
    let release = std::fs::read_to_string(dists.join("Release")).unwrap();
    std::fs::write(
        dists.join("Release"),
        release.replace("Origin: djdd", "Origin: evil"),
    )
    .unwrap();
    r.assert_refused("tampered Release");

    // A publish repairs the repository (nothing new, but the Release no
    // longer matches what is signed) and apt accepts it again.
    r.publish().assert().success();
    r.update_clean();
}

#[test]
fn killed_publishes_leave_apt_working_and_a_rerun_completes() {
    let r = Root::new();
    build(&r.packages(), "e1", "s1", "0.1");
    r.publish().arg("--init-key").assert().success();
    r.add_source();
    r.update_clean();
    r.install(&["demo-site-blue"]);

    build(&r.packages(), "e2", "s2", "0.2");
    for point in ["after-pool", "after-indices", "after-release"] {
        let mut child = spawn_paused(&r.dir, &r.repo(), point, &[]);
        // While it is paused, apt sees a consistent repository...
        r.update_clean();
        child.kill().unwrap();
        child.wait().unwrap();
        // ...and after the kill too.
        r.update_clean();
        let want = if point == "after-release" {
            "0.2"
        } else {
            "0.1"
        };
        assert_eq!(r.candidate("demo-site-blue"), want, "killed {point}");
    }
    // Killed after the Release was written: the rerun has nothing left to
    // do but recording; killed earlier it would finish the indices.
    build(&r.packages(), "e2", "s3", "0.3");
    let mut child = spawn_paused(&r.dir, &r.repo(), "after-indices", &[]);
    child.kill().unwrap();
    child.wait().unwrap();
    r.update_clean();
    assert_eq!(r.candidate("demo-site-blue"), "0.2");
    r.publish().assert().success();
    r.update_clean();
    r.install(&["--only-upgrade", "demo-site-blue"]);
    assert_eq!(r.installed("demo-site-blue").as_deref(), Some("0.3"));
    assert_eq!(r.installed("demo-src-s3").as_deref(), Some("1"));
    assert_eq!(r.installed("demo-env-e2").as_deref(), Some("1"));
    check_repo(&r.repo(), "stable");
}
