//! Reproducibility of `djdd build`: the same commit built in two fresh build
//! dirs (different paths, different build roots, different times) gives
//! byte-identical env, src and site packages, the second one built with
//! another umask, time zone and host name.
//!
//! The second build dir builds v3 first (other requirements): v1's env
//! then takes most of its .pyc files from the pyc cache v3's env filled,
//! compiled at v3's env path, and must still be the bytes the first build
//! dir compiled for v1's path.
//!
//! The first build dir starts with the test wheel cache (a psycopg2 wheel
//! an earlier run compiled), the second with an empty one, so psycopg2's C
//! extension is compiled twice, independently. On a difference the test
//! shows diffoscope's report when diffoscope is installed
//! (`apt-get install diffoscope-minimal`).
//!
//! The second test does the same for `fixtures/pulse`, a project shaped
//! like real ones: requirements with ranges, and uWSGI compiled from its
//! sdist, which djdd builds at a fixed path (`/build/uwsgi-VERSION`, not
//! pip's random build directory, which uWSGI would embed).
//! Both builds start with an empty pip cache. In both tests the second
//! build runs with another umask, time zone and host name. Then the first
//! build dir, its env package deleted, builds the env again from the lock
//! its first build recorded, with the wheels it kept (nothing compiled):
//! the same bytes (tests/build_lock.rs has the lock's other cases).
//!
//! Needs root, the cached base tarball and PyPI.

mod build_support;
mod common;

use std::process::Command;

use build_support::*;

#[test]
fn same_commit_twice_gives_identical_packages() {
    let repo = demo_repo();
    let a = demo_build_dir(repo.path(), true);
    let b = demo_build_dir(repo.path(), false);
    ok(&a, &["build", "demo", "blue", "--version", "v1"]);
    save_pip_cache(&a);
    // B builds v3 first (variant red, so that blue's counter stays):
    // another env (other requirements, another HASH and path), whose .pyc
    // files fill B's pyc cache. Then one entry in 50 is damaged (its last
    // byte flipped): those must be compiled again, not copied.
    build_elsewhere(&b, &["build", "demo", "red", "--version", "v3"]);
    for f in package_files(&b) {
        std::fs::remove_file(b.path().join("packages").join(f)).unwrap();
    }
    let mut damaged = 0;
    for e in walkdir::WalkDir::new(b.path().join("cache/pyc"))
        .sort_by_file_name()
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .step_by(50)
    {
        let mut bytes = std::fs::read(e.path()).unwrap();
        *bytes.last_mut().unwrap() ^= 0xff;
        std::fs::write(e.path(), bytes).unwrap();
        damaged += 1;
    }
    assert!(damaged > 20, "B's pyc cache has few entries: {damaged}");
    // A second apart at least, so that a leaked build time would show.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let err = build_elsewhere(&b, &["build", "demo", "blue", "--version", "v1"]);
    // v1's env took the .pyc files of the modules it shares with v3's
    // from that cache, compiled under v3's path: the bytes must still be
    // those A compiled for v1's path (compared below).
    let compiled = err
        .lines()
        .find(|l| l.contains("compiled bytecode ("))
        .unwrap_or_else(|| panic!("no bytecode line:\n{err}"));
    let counts: Vec<usize> = compiled
        .split("compiled bytecode (")
        .nth(1)
        .unwrap_or_default()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [from_cache, fresh] = counts[..] else {
        panic!("{compiled}")
    };
    assert!(
        from_cache > 1000,
        "v1's env took few .pyc from v3's: {compiled}"
    );
    // Most damaged entries are of modules v1 shares with v3 (Django's): a
    // damaged one copied would differ from A's bytes below.
    assert!(fresh > 0, "{compiled}");

    let fa = package_files(&a);
    let fb = package_files(&b);
    assert_eq!(fa.len(), 3, "{fa:?}");
    assert_eq!(fa, fb, "the two builds named their packages differently");
    let differ = differing_packages(&a, &b, &fa);
    assert!(
        differ.is_empty(),
        "packages differ between two builds of one commit:\n{}",
        differ.join("\n")
    );
}

#[test]
fn a_compiled_sdist_with_ranges_twice_gives_identical_packages() {
    let repo = pulse_repo();
    let a = pulse_build_dir(repo.path());
    let b = pulse_build_dir(repo.path());
    let build = ["build", "pulse", "blue", "--version", "v1"];
    let (_, err) = ok(&a, &build);
    // djdd built both sdists itself, at their fixed paths, and kept the
    // wheels by the sdists' hashes, which the lock names.
    let built = err
        .lines()
        .find(|l| l.contains("built from sdists at /build/NAME-VERSION: "))
        .unwrap_or_else(|| panic!("no sdist built at a fixed path:\n{err}"));
    assert!(
        built.contains("psycopg2==2.9.") && built.contains("uwsgi==2.0."),
        "{built}"
    );
    let lock = std::fs::read_to_string(recorded_lock(&a)).unwrap();
    assert!(lock.contains("\nuwsgi==2.0."), "{lock}");
    for dist in ["psycopg2", "uwsgi"] {
        let sha = lock
            .lines()
            .find(|l| l.starts_with(&format!("{dist}==")))
            .and_then(|l| l.split_once("--hash=sha256:"))
            .map(|(_, h)| h.to_string())
            .unwrap_or_else(|| panic!("no {dist} line in {lock}"));
        let kept = kept_wheels(&a, &sha);
        assert!(
            kept.len() == 1 && kept[0].starts_with(&format!("{dist}-2.")),
            "{dist}: {kept:?}"
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    build_elsewhere(&b, &build);

    let fa = package_files(&a);
    assert_eq!(fa, package_files(&b));
    assert_eq!(fa.len(), 3, "{fa:?}");
    let env = fa.iter().find(|f| f.starts_with("pulse-env-")).unwrap();
    // uWSGI was compiled (not a wheel from PyPI): its program is there.
    let listing = Command::new("dpkg-deb")
        .arg("-c")
        .arg(a.path().join("packages").join(env))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&listing.stdout).contains("/bin/uwsgi"),
        "no bin/uwsgi in {env}"
    );
    // It was built at its fixed path: uWSGI records its compiler flags in
    // the program (hex-encoded; `uwsgi --cflags` prints them), and they
    // name /build/uwsgi-VERSION, mapped to `.`, not pip's random directory.
    let unpacked = common::tempdir();
    let st = Command::new("dpkg-deb")
        .arg("-x")
        .arg(a.path().join("packages").join(env))
        .arg(unpacked.path())
        .status()
        .unwrap();
    assert!(st.success());
    let uwsgi = walkdir::WalkDir::new(unpacked.path())
        .into_iter()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name() == "uwsgi" && e.path().parent().unwrap().ends_with("bin"))
        .expect("bin/uwsgi");
    let program = std::fs::read(uwsgi.path()).unwrap();
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let has = |needle: &str| {
        program
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    };
    assert!(
        has(&hex("-ffile-prefix-map=/build/uwsgi-2.0.")),
        "bin/uwsgi's recorded flags do not name its fixed build path"
    );
    assert!(
        !has(&hex("pip-")) && !has("/tmp/pip-"),
        "bin/uwsgi names a pip build directory"
    );
    let differ = differing_packages(&a, &b, &fa);
    assert!(
        differ.is_empty(),
        "packages differ between two builds of one commit:\n{}",
        differ.join("\n")
    );

    // The env's package lost, A builds it again from its lock (the
    // requirements' ranges are not resolved again): psycopg2 and uWSGI
    // from the wheels A kept, built at their fixed paths (bookworm's pip
    // too, which would install uWSGI's sdist with `setup.py install` and
    // keep no wheel), nothing compiled, and the env is the same.
    let env_path = a.path().join("packages").join(env);
    let env_bytes = std::fs::read(&env_path).unwrap();
    lose_env(&a, &env_path);
    let (_, err) = ok(&a, &build);
    assert!(
        err.contains("pip install --no-deps --require-hashes"),
        "{err}"
    );
    let from_cache = err
        .lines()
        .find(|l| l.contains("2 wheels built before from their sdists (the build dir's cache): "))
        .unwrap_or_else(|| panic!("not both from the kept wheels:\n{err}"));
    assert!(
        from_cache.contains("psycopg2==2.9.") && from_cache.contains("uwsgi==2.0."),
        "{from_cache}"
    );
    assert!(!err.contains("built from sdist"), "compiled again:\n{err}");
    assert_same_package(
        &env_bytes,
        &env_path,
        "the env of fixtures/pulse rebuilt from its lock differs",
    );
}

/// `djdd --dir D ARGS` as another machine would run it: another umask
/// (0002), time zone (Pacific/Auckland) and host name (its own UTS
/// namespace, `unshare --uts`).
fn build_elsewhere(d: &common::TestBuildDir, args: &[&str]) -> String {
    let exe = assert_cmd::cargo::cargo_bin("djdd");
    let out = Command::new("unshare")
        .args(["--uts", "sh", "-c"])
        .arg("hostname djdd-repro-elsewhere && [ \"$(hostname)\" = djdd-repro-elsewhere ] && umask 0002 && exec \"$@\"")
        .arg("sh")
        .arg(&exe)
        .arg("--dir")
        .arg(d.path())
        .args(args)
        .env("TZ", "Pacific/Auckland")
        .env_remove("DJDD_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the second build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The packages `files` whose bytes differ between build dirs `a` and
/// `b`, each with diffoscope's report (when diffoscope is installed).
fn differing_packages(
    a: &common::TestBuildDir,
    b: &common::TestBuildDir,
    files: &[String],
) -> Vec<String> {
    let mut differ = Vec::new();
    for f in files {
        let pa = a.path().join("packages").join(f);
        let pb = b.path().join("packages").join(f);
        if std::fs::read(&pa).unwrap() != std::fs::read(&pb).unwrap() {
            let report = Command::new("diffoscope")
                .args(["--text", "-", "--max-report-size", "20000"])
                .arg(&pa)
                .arg(&pb)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_else(|_| "(diffoscope is not installed)".into());
            differ.push(format!("{f}:\n{report}"));
        }
    }
    differ
}
