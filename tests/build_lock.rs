//! The resolution lock kept in the build dir: an env whose package is gone
//! from packages/ is built again from the lock its first build recorded
//! (`pip install --no-deps --require-hashes`, no resolution) and comes out
//! byte for byte the same; a lock that no longer installs (an archive whose
//! hash is not the lock's, a version the index lacks) stops the build,
//! naming the distribution and `--rebuild-env`, and leaves nothing behind;
//! `--rebuild-env` resolves again, says what changed under the same HASH
//! and records the new lock. tests/build_repro.rs rebuilds fixtures/pulse
//! (ranges; psycopg2 and uWSGI compiled from their sdists, by djdd, at
//! fixed paths) from its lock: the env is the same, both coming from the
//! wheels the build dir kept.
//!
//! Needs root, the cached base tarball and PyPI.

mod build_support;
mod common;

use build_support::*;

const BUILD: [&str; 5] = ["build", "demo", "blue", "--version", "v1"];

/// Replaces the lock line of `dist` in `lock` by `line`.
fn with_line(lock: &str, dist: &str, line: &str) -> String {
    let prefix = format!("{dist}==");
    assert!(lock.lines().any(|l| l.starts_with(&prefix)), "{lock}");
    lock.lines()
        .map(|l| {
            if l.starts_with(&prefix) {
                line.to_string()
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect()
}

#[test]
fn a_lost_env_is_rebuilt_from_its_lock_and_a_broken_lock_stops_the_build() {
    let repo = demo_repo();
    let d = demo_build_dir(repo.path(), true);
    ok(&d, &BUILD);
    save_pip_cache(&d);
    let env = one_package(&d, "demo-env-", &[]);
    let env_bytes = std::fs::read(&env).unwrap();
    let lock_file = recorded_lock(&d);
    let lock = std::fs::read_to_string(&lock_file).unwrap();
    assert_eq!(
        Some(lock.clone()),
        member_text(&env, "/requirements.lock"),
        "the build dir keeps the shipped lock"
    );
    assert!(lock.contains("\nsqlparse==0.6.1 --hash=sha256:"), "{lock}");
    let hash = env_hash_of(&env);
    let env_tree = d.path().join("buildroot/usr/lib/demo-env").join(&hash);
    // The wheel djdd built from psycopg2's sdist is kept by the sdist's
    // hash, which the lock names.
    let psycopg2 = lock
        .lines()
        .find_map(|l| l.strip_prefix("psycopg2==2.9.13 --hash=sha256:"))
        .unwrap_or_else(|| panic!("no psycopg2 line in {lock}"));
    let kept = kept_wheels(&d, psycopg2);
    assert!(
        kept.len() == 1 && kept[0].starts_with("psycopg2-2.9.13-cp3"),
        "{kept:?}"
    );

    // The package is lost, its tree in the root is as it was packed:
    // packed again from the tree, the same bytes, nothing installed.
    std::fs::remove_file(&env).unwrap();
    let (_, err) = ok(&d, &BUILD);
    assert!(
        err.contains("is gone: packing it again from its tree in the build root"),
        "{err}"
    );
    assert!(!err.contains("--require-hashes"), "installed again:\n{err}");
    assert_same_package(
        &env_bytes,
        &env,
        "the env packed again from its tree differs from the first build's",
    );

    // The package is lost and a file of its tree changed since: the
    // plan says the env is rebuilt from the lock, and the build, finding
    // the tree is not what the package was made from, installs the lock
    // without resolving.
    std::fs::remove_file(&env).unwrap();
    let activate = env_tree.join("bin/activate");
    let mut changed = std::fs::read(&activate).unwrap();
    changed.extend_from_slice(b"# changed after packing\n");
    std::fs::write(&activate, changed).unwrap();
    let (plan, _) = ok(&d, &[&BUILD[..], &["--plan"]].concat());
    let env_line = plan.lines().find(|l| l.starts_with("  env  ")).unwrap();
    assert!(env_line.contains("rebuild from lock"), "{plan}");
    assert!(
        plan.contains("env rebuild from lock: installs exactly the ")
            && plan.contains(&lock_file.display().to_string()),
        "{plan}"
    );
    let (_, err) = ok(&d, &BUILD);
    assert!(
        err.contains("is not what its package was made from: building it again"),
        "{err}"
    );
    assert!(
        err.contains("pip install --no-deps --require-hashes -r /usr/share/demo-env/"),
        "{err}"
    );
    assert!(!err.contains(resolving()), "no resolution:\n{err}");
    // psycopg2 came from the kept wheel: nothing was compiled, neither by
    // djdd nor by the installer. (The installer's summary line is there
    // only when it took two seconds or more: uv from its cache is quicker.)
    assert!(
        err.contains(
            "1 wheel built before from its sdist (the build dir's cache): psycopg2==2.9.13"
        ),
        "{err}"
    );
    assert!(!err.contains("built from sdist"), "{err}");
    let installer_lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("pip install: "))
        .collect();
    assert!(
        installer_lines.iter().all(|l| !l.contains("built")),
        "{err}"
    );
    assert_same_package(
        &env_bytes,
        &env,
        "the env rebuilt from its lock differs from the first build's",
    );

    // A lock that no longer installs: an archive with another hash, or a
    // version the index does not have. The build stops naming it, and no
    // env package, temp file or env tree is left.
    let cases = [
        (
            with_line(
                &lock,
                "sqlparse",
                &format!("sqlparse==0.6.1 --hash=sha256:{}", "0".repeat(64)),
            ),
            "sqlparse==0.6.1 (its archive's sha256 is not the one the lock records)",
        ),
        (
            with_line(
                &lock,
                "vine",
                &format!("vine==0.0.424242 --hash=sha256:{}", "1".repeat(64)),
            ),
            "vine==0.0.424242 (the index has no such version)",
        ),
    ];
    for (broken, named) in &cases {
        lose_env(&d, &env);
        std::fs::write(&lock_file, broken).unwrap();
        let before = package_files(&d);
        let err = fails(&d, &BUILD);
        for needle in [
            "no longer installs: ",
            named,
            "djdd build --rebuild-env",
            "may then change under the same HASH",
        ] {
            assert!(err.contains(needle), "{needle:?} not in:\n{err}");
        }
        assert_eq!(package_files(&d), before, "{err}");
        assert!(!env_tree.exists(), "a half-made env stayed in the root");
        assert_eq!(std::fs::read_to_string(&lock_file).unwrap(), *broken);
        // Put the package back for the next case's `remove_file`.
        std::fs::write(&env, &env_bytes).unwrap();
    }

    // --rebuild-env resolves again, says what changed against the
    // (broken) recorded lock, and records the new one: the demo pins
    // every version, so it is the first build's lock and package again.
    // Both variants (blue and red) share the env: resolved once, and both
    // site packages built.
    let (_, err) = ok(&d, &["build", "demo", "--version", "v1", "--rebuild-env"]);
    assert_eq!(err.matches(resolving()).count(), 1, "{err}");
    assert_eq!(err.matches("was resolved again").count(), 1, "{err}");
    assert!(
        err.contains("was resolved again (--rebuild-env): the env's content changed under the same HASH: vine 0.0.424242 -> 5.1.0"),
        "{err}"
    );
    one_package(&d, "demo-site-red_", &[]);
    assert_eq!(std::fs::read_to_string(&lock_file).unwrap(), lock);
    assert_same_package(&env_bytes, &env, "the env resolved again differs");

    // uv: a damaged entry of its cache never reaches a package. One file
    // of sqlparse in uv's cache is changed; the rebuild from the lock,
    // offline from that cache, finds it against sqlparse's RECORD, drops
    // sqlparse from the cache, fetches it again and writes the same package.
    if installer() == "uv" {
        let cache = d
            .path()
            .join(format!("cache/uv/env-format-{}", djdd::plan::ENV_FORMAT));
        let damaged: Vec<std::path::PathBuf> = walkdir::WalkDir::new(&cache)
            .into_iter()
            .filter_map(|e| e.ok())
            .map(|e| e.into_path())
            .filter(|p| {
                p.ends_with("sqlparse/__init__.py") && p.to_string_lossy().contains("/archive-v0/")
            })
            .collect();
        assert!(!damaged.is_empty(), "no sqlparse in uv's cache {cache:?}");
        for f in &damaged {
            let mut bytes = std::fs::read(f).unwrap();
            bytes.extend_from_slice(b"\nraise SystemExit('damaged')\n");
            std::fs::write(f, bytes).unwrap();
        }
        lose_env(&d, &env);
        let (_, err) = ok(&d, &BUILD);
        assert!(
            err.contains("files differ from their RECORD") && err.contains("sqlparse/__init__.py"),
            "{err}"
        );
        assert_same_package(
            &env_bytes,
            &env,
            "the env rebuilt past a damaged cache entry differs",
        );
    }
}
