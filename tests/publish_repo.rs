//! `djdd publish` on a local repository: indices checked against the pool,
//! Packages stanzas against apt-ftparchive, signatures with gpgv,
//! incremental publishing, refusals, pruning, locking, and killed publishes.
//! (tests/publish_apt.rs runs the real apt against such repositories.)

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

fn t(name: &str, version: &str, arch: &str) -> (String, String, String) {
    (name.into(), version.into(), arch.into())
}

/// A build dir D (packages in D/packages) and a repository R in one temp dir.
struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    repo: PathBuf,
    _agent: GpgAgentGuard,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempdir();
        let dir = tmp.path().join("d");
        let repo = tmp.path().join("repo");
        Fixture {
            _agent: GpgAgentGuard(dir.join("gnupg")),
            dir,
            repo,
            _tmp: tmp,
        }
    }
    fn packages(&self) -> PathBuf {
        self.dir.join("packages")
    }
    fn deb(&self, name: &str, version: &str, extra: &str) -> PathBuf {
        make_deb(
            &self.packages(),
            name,
            version,
            "all",
            extra,
            &format!("{name} {version}"),
        )
    }
    fn publish(&self) -> assert_cmd::Command {
        let mut c = djdd();
        c.arg("--dir")
            .arg(&self.dir)
            .arg("publish")
            .args(["--suite", "stable"])
            .arg("--repo")
            .arg(&self.repo);
        c
    }
}

#[test]
fn indices_list_every_pool_file_with_its_size_and_hashes_and_are_signed() {
    if !have("dpkg-deb") || !have("gpg") || !have("gpgv") {
        panic!("needs dpkg-deb, gpg and gpgv (.ci/apt-packages)");
    }
    let f = Fixture::new();
    f.deb("demo-env-1a2b3c", "1", "");
    f.deb("demo-src-abc123", "1", "Depends: demo-env-1a2b3c\n");
    f.deb(
        "demo-site-blue",
        "0.20240101.1",
        "Depends: demo-src-abc123, demo-env-1a2b3c\n",
    );
    make_deb(
        &f.packages(),
        "libdemo1",
        "2:1.0-1",
        "amd64",
        "Source: libdemo (1.0-1)\n",
        "x",
    );
    let out = f.publish().arg("--init-key").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("created signing key"), "{stdout}");
    assert!(
        stdout.contains("added demo-site-blue 0.20240101.1 (all)"),
        "{stdout}"
    );

    let listed = check_repo(&f.repo, "stable");
    assert_eq!(
        listed,
        BTreeSet::from([
            t("demo-env-1a2b3c", "1", "all"),
            t("demo-src-abc123", "1", "all"),
            t("demo-site-blue", "0.20240101.1", "all"),
            t("libdemo1", "2:1.0-1", "amd64"),
        ])
    );
    // Pool layout: pool/SUITE/C/PREFIX/SOURCE/FILE, lib prefix, epoch dropped.
    assert!(
        f.repo
            .join("pool/stable/main/libd/libdemo/libdemo1_1.0-1_amd64.deb")
            .is_file()
    );
    assert!(
        f.repo
            .join("pool/stable/main/d/demo-site-blue/demo-site-blue_0.20240101.1_all.deb")
            .is_file()
    );

    let release = std::fs::read_to_string(f.repo.join("dists/stable/Release")).unwrap();
    let rel = &deb822(&release)[0];
    assert_eq!(field(rel, "Architectures"), Some("amd64"));
    assert_eq!(field(rel, "Components"), Some("main"));
    let date = field(rel, "Date").unwrap();
    assert!(date.ends_with(" UTC") && date.len() == 29, "{date}");

    // Both signatures verify with the exported public key (as apt's gpgv does).
    for (args, what) in [
        (vec!["dists/stable/InRelease"], "InRelease"),
        (
            vec!["dists/stable/Release.gpg", "dists/stable/Release"],
            "Release.gpg",
        ),
    ] {
        let st = Command::new("gpgv")
            .arg("--keyring")
            .arg(f.repo.join("KEY.gpg"))
            .args(&args)
            .current_dir(&f.repo)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
    let asc = std::fs::read_to_string(f.repo.join("KEY.asc")).unwrap();
    assert!(asc.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));

    // A second run with nothing new changes nothing.
    let before = std::fs::read(f.repo.join("dists/stable/InRelease")).unwrap();
    let out = f.publish().assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("is up to date"));
    assert_eq!(
        std::fs::read(f.repo.join("dists/stable/InRelease")).unwrap(),
        before
    );
}

#[test]
fn stanzas_match_apt_ftparchive() {
    if !have("apt-ftparchive") {
        panic!("needs apt-ftparchive (apt-utils)");
    }
    let f = Fixture::new();
    f.deb(
        "demo-env-aaa",
        "1",
        "Section: web\nPriority: optional\nInstalled-Size: 12\n",
    );
    f.deb(
        "demo-site-red",
        "1:2.0~rc1-3",
        "Depends: demo-env-aaa (= 1), python3 | python3.11\nHomepage: https://example.org\nX-Djdd-Variant: red\nMulti-Arch: foreign\nPre-Depends: adduser\nConflicts: x\n",
    );
    make_deb(
        &f.packages(),
        "libdemo-x",
        "3",
        "amd64",
        "Source: demo\nProvides: demo-x\n",
        "y",
    );
    f.publish().arg("--unsigned").assert().success();

    let ours =
        std::fs::read_to_string(f.repo.join("dists/stable/main/binary-amd64/Packages")).unwrap();
    let out = Command::new("apt-ftparchive")
        .args([
            "-o",
            "APT::FTPArchive::SHA1=false",
            "-o",
            "APT::FTPArchive::SHA512=false",
            "packages",
            "pool",
        ])
        .current_dir(&f.repo)
        .output()
        .unwrap();
    assert!(out.status.success());
    let theirs = String::from_utf8(out.stdout).unwrap();
    let key = |p: &Vec<(String, String)>| field(p, "Package").unwrap().to_string();
    let mut a = deb822(&ours);
    let mut b = deb822(&theirs);
    a.sort_by_key(key);
    b.sort_by_key(key);
    assert_eq!(a.len(), 3);
    // Same fields, same values, same order.
    assert_eq!(a, b);
}

#[test]
fn adding_three_packages_rewrites_indices_not_the_pool() {
    let f = Fixture::new();
    for i in 0..120 {
        f.deb(&format!("demo-src-{i:04x}"), "1", "");
    }
    f.publish().arg("--unsigned").assert().success();
    let pool_files: Vec<PathBuf> = walkdir::WalkDir::new(f.repo.join("pool"))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    assert_eq!(pool_files.len(), 120);
    let stamp = |p: &Path| {
        let m = std::fs::metadata(p).unwrap();
        (m.ino(), m.mtime(), m.mtime_nsec())
    };
    let before: Vec<_> = pool_files.iter().map(|p| stamp(p)).collect();
    let index = f.repo.join("dists/stable/main/binary-amd64/Packages");
    let index_before = stamp(&index);
    std::thread::sleep(std::time::Duration::from_millis(20));

    for name in ["demo-site-a", "demo-site-b", "demo-site-c"] {
        f.deb(name, "1", "");
    }
    let out = f.publish().arg("--unsigned").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    // Only the three new files were published: the others are recorded.
    assert_eq!(stdout.matches("added ").count(), 3, "{stdout}");
    assert!(!stdout.contains("already published"), "{stdout}");
    let after: Vec<_> = pool_files.iter().map(|p| stamp(p)).collect();
    assert_eq!(before, after, "existing pool files were touched");
    assert_ne!(stamp(&index), index_before, "the index was not rewritten");
    assert_eq!(check_repo(&f.repo, "stable").len(), 123);
}

#[test]
fn same_bytes_again_is_a_noop_other_bytes_are_refused() {
    let f = Fixture::new();
    let deb = f.deb("demo-site-blue", "1.0", "");
    f.publish().arg("--unsigned").assert().success();
    let release = std::fs::read(f.repo.join("dists/stable/Release")).unwrap();

    // The same file named explicitly: nothing to do.
    let out = f.publish().arg("--unsigned").arg(&deb).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("already published demo-site-blue 1.0 (all)"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(f.repo.join("dists/stable/Release")).unwrap(),
        release
    );

    // Other bytes, same name, version and architecture.
    let other_dir = f.dir.join("other");
    let other = make_deb(&other_dir, "demo-site-blue", "1.0", "all", "", "changed");
    let (new_sha, _) = sums(&std::fs::read(&other).unwrap());
    let (old_sha, _) = sums(&std::fs::read(&deb).unwrap());
    let out = f.publish().arg("--unsigned").arg(&other).assert().failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("demo-site-blue 1.0 (all)"), "{stderr}");
    assert!(
        stderr.contains(&new_sha) && stderr.contains(&old_sha),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: a published version is immutable: bump the version"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(f.repo.join("dists/stable/Release")).unwrap(),
        release
    );
    assert_eq!(
        std::fs::read(
            f.repo
                .join("pool/stable/main/d/demo-site-blue/demo-site-blue_1.0_all.deb")
        )
        .unwrap(),
        std::fs::read(&deb).unwrap()
    );

    // Another suite has a pool of its own: the same name and version with
    // other bytes live there side by side (two build hosts for two Debian
    // releases both count their site versions from 1).
    djdd()
        .arg("--dir")
        .arg(&f.dir)
        .args(["publish", "--unsigned", "--suite", "testing", "--repo"])
        .arg(&f.repo)
        .arg(&other)
        .assert()
        .success();
    assert_eq!(
        check_repo(&f.repo, "testing"),
        BTreeSet::from([t("demo-site-blue", "1.0", "all")])
    );
    assert_eq!(
        std::fs::read(
            f.repo
                .join("pool/testing/main/d/demo-site-blue/demo-site-blue_1.0_all.deb")
        )
        .unwrap(),
        std::fs::read(&other).unwrap()
    );
    assert_eq!(
        std::fs::read(f.repo.join("dists/stable/Release")).unwrap(),
        release
    );
}

/// DIR/state/init.toml as `djdd init --suite SUITE` writes it (publish
/// reads only the suite: no root is needed).
fn fake_root(dir: &Path, suite: &str) {
    std::fs::create_dir_all(dir.join("state")).unwrap();
    std::fs::write(
        dir.join("state/init.toml"),
        format!(
            "suite = \"{suite}\"\narch = \"amd64\"\nmirror = \"http://deb.debian.org/debian\"\n\
             packages = []\nschroot = \"djdd-test\"\nsteps = []\ndone = true\n"
        ),
    )
    .unwrap();
}

fn publish_from(dir: &Path, repo: &Path, extra: &[&Path]) -> assert_cmd::assert::Assert {
    djdd()
        .arg("--dir")
        .arg(dir)
        .args(["publish", "--unsigned", "--repo"])
        .arg(repo)
        .args(extra)
        .assert()
}

fn out_of(a: &assert_cmd::assert::Assert) -> String {
    let o = a.get_output();
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_suite_is_the_build_roots_codename_and_one_repository_serves_two_releases() {
    let tmp = tempdir();
    let repo = tmp.path().join("repo");
    for suite in ["bookworm", "trixie"] {
        let d = tmp.path().join(suite);
        fake_root(&d, suite);
        // The same site name and version on both hosts, with other bytes.
        let marked = format!("X-Djdd-Suite: {suite}\n");
        make_deb(
            &d.join("packages"),
            "demo-site-blue",
            "1+gabc",
            "all",
            &format!("{marked}Depends: demo-env-{suite}\n"),
            suite,
        );
        make_deb(
            &d.join("packages"),
            &format!("demo-env-{suite}"),
            "1",
            "all",
            &marked,
            suite,
        );
        let a = publish_from(&d, &repo, &[]).success();
        assert!(
            out_of(&a).contains(&format!("updated {suite}/main, which lists 2 package(s)")),
            "{}",
            out_of(&a)
        );
        assert_eq!(
            check_repo(&repo, suite),
            BTreeSet::from([
                t("demo-site-blue", "1+gabc", "all"),
                t(&format!("demo-env-{suite}"), "1", "all"),
            ])
        );
        assert!(
            repo.join(format!(
                "pool/{suite}/main/d/demo-site-blue/demo-site-blue_1+gabc_all.deb"
            ))
            .is_file()
        );
    }
    assert!(!repo.join("dists/stable").exists());
    let release = std::fs::read(repo.join("dists/bookworm/Release")).unwrap();

    // A package built on the trixie root, named on the bookworm host: refused.
    let bookworm = tmp.path().join("bookworm");
    let trixie_env = tmp.path().join("trixie/packages/demo-env-trixie_1_all.deb");
    let a = publish_from(&bookworm, &repo, &[&trixie_env]).failure();
    let text = out_of(&a);
    assert!(
        text.contains(&format!(
            "djdd: error: package {}: was built on a trixie build root (X-Djdd-Suite: trixie) and cannot go into suite bookworm",
            trixie_env.display()
        )),
        "{text}"
    );
    assert!(text.contains("publish it with --suite trixie"), "{text}");
    assert_eq!(
        std::fs::read(repo.join("dists/bookworm/Release")).unwrap(),
        release
    );

    // One in the build dir's own packages/ (left there before its root was
    // made again for another release) waits for its own suite.
    std::fs::copy(
        &trixie_env,
        bookworm.join("packages/demo-env-trixie_1_all.deb"),
    )
    .unwrap();
    let a = publish_from(&bookworm, &repo, &[]).success();
    let text = out_of(&a);
    assert!(
        text.contains("demo-env-trixie_1_all.deb (built on a trixie build root: publish it with --suite trixie)"),
        "{text}"
    );
    assert_eq!(check_repo(&repo, "bookworm").len(), 2);

    // No build root and no --suite: the packages say which suite, or the
    // error asks for --suite.
    let bare = tmp.path().join("bare");
    let a = publish_from(&bare, &repo, &[&trixie_env]).success();
    assert!(
        out_of(&a).contains("already published demo-env-trixie 1 (all)"),
        "{}",
        out_of(&a)
    );
    let unmarked = make_deb(&bare.join("packages"), "demo-x", "1", "all", "", "x");
    let a = publish_from(&bare, &repo, &[&unmarked]).failure();
    let text = out_of(&a);
    assert!(
        text.contains("--suite: is not given") && text.contains("has no build root"),
        "{text}"
    );
    assert!(text.contains("hint: pass --suite"), "{text}");
    assert_eq!(
        std::fs::read(repo.join("dists/bookworm/Release")).unwrap(),
        release
    );
}

#[test]
fn refuses_files_that_are_not_debs() {
    let f = Fixture::new();
    let bad = f.dir.join("bad.deb");
    std::fs::create_dir_all(&f.dir).unwrap();
    std::fs::write(&bad, "not an archive").unwrap();
    let out = f.publish().arg("--unsigned").arg(&bad).assert().failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("bad.deb: is not a valid .deb"), "{stderr}");
    assert!(stderr.contains("ar magic"), "{stderr}");
    // A truncated package is refused too, and nothing is written.
    let good = f.deb("demo-env-aaa", "1", "");
    let bytes = std::fs::read(&good).unwrap();
    let cut = f.dir.join("cut.deb");
    std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
    let out = f.publish().arg("--unsigned").arg(&cut).assert().failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("cut.deb: is not a valid .deb") && stderr.contains("truncated"),
        "{stderr}"
    );
    assert!(!f.repo.join("dists").exists());
    assert!(list_dir(&f.repo.join("pool")).is_empty());
}

#[test]
fn signing_needs_a_key_or_unsigned() {
    let f = Fixture::new();
    f.deb("demo-env-aaa", "1", "");
    let out = f.publish().assert().failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("no signing key"), "{stderr}");
    assert!(
        stderr.contains("--init-key") && stderr.contains("--unsigned"),
        "{stderr}"
    );
    assert!(!f.repo.join("dists").exists());

    // An armored secret key file: imported into D/state/gnupg and used.
    let home = f.dir.join("userhome");
    std::fs::create_dir_all(&home).unwrap();
    let _agent = GpgAgentGuard(home.clone());
    let _agent2 = GpgAgentGuard(f.dir.join("state/gnupg"));
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--passphrase", ""])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    gpg(&["--quick-gen-key", "test key", "rsa3072", "sign", "never"]);
    let secret = gpg(&["--armor", "--export-secret-keys"]);
    let key_file = f.dir.join("secret.asc");
    std::fs::write(&key_file, secret).unwrap();
    f.publish()
        .arg("--sign-key")
        .arg(&key_file)
        .assert()
        .success();
    let public = gpg(&["--export"]);
    assert_eq!(std::fs::read(f.repo.join("KEY.gpg")).unwrap(), public);
    let st = Command::new("gpgv")
        .arg("--keyring")
        .arg(f.repo.join("KEY.gpg"))
        .arg(f.repo.join("dists/stable/InRelease"))
        .output()
        .unwrap();
    assert!(st.status.success());

    // Going unsigned removes the signatures (stale ones would break apt).
    f.deb("demo-env-bbb", "1", "");
    f.publish().arg("--unsigned").assert().success();
    assert!(!f.repo.join("dists/stable/InRelease").exists());
    assert!(!f.repo.join("dists/stable/Release.gpg").exists());
    check_repo(&f.repo, "stable");
}

#[test]
fn architectures_all_in_every_index_and_extra_arches() {
    let f = Fixture::new();
    f.deb("demo-env-aaa", "1", "");
    make_deb(&f.packages(), "demo-native", "1", "arm64", "", "z");
    f.publish()
        .args(["--unsigned", "--arch", "amd64"])
        .assert()
        .success();
    let listed = |arch: &str| -> Vec<String> {
        let text = std::fs::read_to_string(
            f.repo
                .join(format!("dists/stable/main/binary-{arch}/Packages")),
        )
        .unwrap();
        deb822(&text)
            .iter()
            .map(|p| field(p, "Package").unwrap().to_string())
            .collect()
    };
    assert_eq!(listed("amd64"), ["demo-env-aaa"]);
    assert_eq!(listed("arm64"), ["demo-env-aaa", "demo-native"]);
    let release = std::fs::read_to_string(f.repo.join("dists/stable/Release")).unwrap();
    assert!(
        release.contains("\nArchitectures: amd64 arm64\n"),
        "{release}"
    );
    check_repo(&f.repo, "stable");
}

#[test]
fn default_publishes_only_what_is_new_since_the_last_publish() {
    let f = Fixture::new();
    f.deb("demo-env-aaa", "1", "");
    f.publish().arg("--unsigned").assert().success();
    let out = f.publish().arg("--unsigned").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(!stdout.contains("added"), "{stdout}");
    f.deb("demo-src-bbb", "1", "");
    let out = f.publish().arg("--unsigned").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_eq!(stdout.matches("added ").count(), 1, "{stdout}");
    assert!(stdout.contains("added demo-src-bbb 1 (all)"), "{stdout}");
    // The record is per repository: another one gets everything.
    let out = djdd()
        .arg("--dir")
        .arg(&f.dir)
        .args(["publish", "--suite", "stable", "--unsigned", "--repo"])
        .arg(f.dir.join("repo2"))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_eq!(stdout.matches("added ").count(), 2, "{stdout}");
    assert_eq!(list_dir(&f.dir.join("state/published")).len(), 2);
}

#[test]
fn init_key_before_any_build_makes_an_empty_signed_repository() {
    let f = Fixture::new();
    let out = f.publish().arg("--init-key").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("lists 0 package(s)"), "{stdout}");
    assert!(f.repo.join("KEY.gpg").is_file());
    assert!(check_repo(&f.repo, "stable").is_empty());
    // Without --init-key a missing DIR/packages is an error that says why.
    let out = f.publish().assert().failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("packages: does not exist"), "{stderr}");
    assert!(stderr.contains("hint: run `djdd build` first"), "{stderr}");
}

#[test]
fn dry_run_changes_nothing() {
    let f = Fixture::new();
    f.deb("demo-env-aaa", "1", "");
    let out = f
        .publish()
        .args(["--unsigned", "--dry-run"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("would copy   pool/stable/main/d/demo-env-aaa/demo-env-aaa_1_all.deb"),
        "{stdout}"
    );
    assert!(
        stdout.contains("would write  dists/stable/Release"),
        "{stdout}"
    );
    assert!(!f.repo.exists());
    assert!(!f.dir.join("state").exists());
}

#[test]
fn prune_keeps_newest_sites_and_what_they_depend_on() {
    let f = Fixture::new();
    // Three builds of blue (each with its own src), one of red; env shared.
    f.deb("demo-env-e1", "1", "");
    f.deb("demo-env-e2", "1", "");
    for (v, src, env) in [
        ("1.9", "s1", "e1"),
        ("1.10~rc1", "s2", "e1"),
        ("1.10", "s3", "e2"),
    ] {
        f.deb(&format!("demo-src-{src}"), "1", "");
        f.deb(
            "demo-site-blue",
            v,
            &format!("Depends: demo-src-{src}, demo-env-{env}\n"),
        );
    }
    f.deb("demo-src-s4", "1", "");
    f.deb("demo-site-red", "7", "Depends: demo-src-s1, demo-env-e1\n");
    f.deb("unrelated", "1", "");
    f.publish().arg("--init-key").assert().success();
    assert_eq!(check_repo(&f.repo, "stable").len(), 11);

    let out = f
        .publish()
        .args(["--prune", "--keep", "1"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let listed = check_repo(&f.repo, "stable");
    assert_eq!(
        listed,
        BTreeSet::from([
            t("demo-env-e1", "1", "all"),
            t("demo-env-e2", "1", "all"),
            t("demo-site-blue", "1.10", "all"),
            t("demo-site-red", "7", "all"),
            t("demo-src-s1", "1", "all"),
            t("demo-src-s3", "1", "all"),
            t("unrelated", "1", "all"),
        ]),
        "{stdout}"
    );
    for gone in [
        "pool/stable/main/d/demo-site-blue/demo-site-blue_1.9_all.deb",
        "pool/stable/main/d/demo-site-blue/demo-site-blue_1.10~rc1_all.deb",
        "pool/stable/main/d/demo-src-s2/demo-src-s2_1_all.deb",
        "pool/stable/main/d/demo-src-s4/demo-src-s4_1_all.deb",
    ] {
        assert!(!f.repo.join(gone).exists(), "{gone} still in the pool");
        assert!(stdout.contains(&format!("removed {gone}")), "{stdout}");
    }
    assert!(
        f.repo
            .join("pool/stable/main/d/demo-src-s3/demo-src-s3_1_all.deb")
            .is_file()
    );

    // Keeping 2 of blue would have kept s2 as well; now prune with keep 1
    // again is a no-op.
    let out = f
        .publish()
        .args(["--prune", "--keep", "1"])
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("is up to date"));
}

#[test]
fn two_publishes_at_once_keep_both_sets() {
    let f = Fixture::new();
    let a: Vec<PathBuf> = (0..3)
        .map(|i| {
            make_deb(
                &f.dir.join("a"),
                &format!("demo-src-a{i}"),
                "1",
                "all",
                "",
                "a",
            )
        })
        .collect();
    let b: Vec<PathBuf> = (0..3)
        .map(|i| {
            make_deb(
                &f.dir.join("b"),
                &format!("demo-src-b{i}"),
                "1",
                "all",
                "",
                "b",
            )
        })
        .collect();
    // A holds the lock, paused after writing its pool files; B starts then.
    let a_args: Vec<String> = std::iter::once("--unsigned".to_string())
        .chain(a.iter().map(|p| p.display().to_string()))
        .collect();
    let a_refs: Vec<&str> = a_args.iter().map(String::as_str).collect();
    let mut first = spawn_paused(&f.dir, &f.repo, "after-pool:2", &a_refs);
    let out = f.publish().arg("--unsigned").args(&b).assert().success();
    assert!(first.wait().unwrap().success());
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("waiting for another publish"), "{stderr}");
    let listed: BTreeSet<String> = check_repo(&f.repo, "stable")
        .into_iter()
        .map(|t| t.0)
        .collect();
    assert_eq!(listed.len(), 6, "{listed:?}");

    // And four at once, without pauses.
    let sets: Vec<Vec<PathBuf>> = (0..4)
        .map(|s| {
            (0..5)
                .map(|i| {
                    make_deb(
                        &f.dir.join(format!("c{s}")),
                        &format!("demo-env-c{s}x{i}"),
                        "1",
                        "all",
                        "",
                        "c",
                    )
                })
                .collect()
        })
        .collect();
    let children: Vec<_> = sets
        .iter()
        .map(|set| {
            Command::new(assert_cmd::cargo::cargo_bin("djdd"))
                .arg("--dir")
                .arg(&f.dir)
                .args(["publish", "--suite", "stable", "--unsigned", "--repo"])
                .arg(&f.repo)
                .args(set)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(check_repo(&f.repo, "stable").len(), 26);
}

#[test]
fn killed_publish_leaves_a_valid_repository_and_a_rerun_completes() {
    let f = Fixture::new();
    f.deb("demo-env-aaa", "1", "");
    f.publish().arg("--init-key").assert().success();
    let first = check_repo(&f.repo, "stable");
    for (n, point) in ["after-pool", "after-indices", "after-release"]
        .iter()
        .enumerate()
    {
        f.deb(&format!("demo-src-k{n}"), "1", "");
        let mut child = spawn_paused(&f.dir, &f.repo, point, &[]);
        child.kill().unwrap();
        child.wait().unwrap();
        // Whatever apt holds (the old InRelease or the new one), every file
        // it lists is there with its hash.
        let listed = check_repo_as_apt(&f.repo, "stable");
        assert!(listed.is_superset(&first), "{point}");
    }
    // A publish killed while copying demo-env-zzz left its temp file; the
    // rerun, copying into the same directory, removes it.
    let stray = f
        .repo
        .join("pool/stable/main/d/demo-env-zzz/.djdd-tmp-stray");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, "x").unwrap();
    f.deb("demo-env-zzz", "1", "");
    f.publish().assert().success();
    let listed = check_repo(&f.repo, "stable");
    let names: BTreeSet<String> = listed.into_iter().map(|t| t.0).collect();
    assert_eq!(
        names,
        BTreeSet::from(
            [
                "demo-env-aaa",
                "demo-src-k0",
                "demo-src-k1",
                "demo-src-k2",
                "demo-env-zzz"
            ]
            .map(String::from)
        )
    );
    assert!(!stray.exists());
    // Old by-hash files are dropped once no Release lists them.
    let by_hash = list_dir(&f.repo.join("dists/stable/main/binary-amd64/by-hash/SHA256"));
    assert!(by_hash.len() <= 6, "{by_hash:?}");
}
