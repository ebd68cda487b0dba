//! pip's path stays (`DJDD_INSTALLER=pip`): the demo's env is resolved and
//! installed by the env's own pip, its lock comes from pip's report, the
//! env's HASH is the one without an installer line (what it was before uv),
//! every distribution says pip installed it, and an env whose package is
//! gone is built again from its lock byte for byte the same. The rest of
//! pip's path (errors, sdists at fixed paths) is what the other build tests
//! check when run with `DJDD_INSTALLER=pip`.
//!
//! Needs root, the cached base tarball and PyPI.

mod build_support;
mod common;

use build_support::*;

const BUILD: [&str; 5] = ["build", "demo", "blue", "--version", "v1"];

#[test]
fn pip_still_builds_the_env_and_rebuilds_it_from_its_lock() {
    // The only test of this binary: the variable reaches every djdd it runs.
    // SAFETY: set before any other thread of this process reads the
    // environment (this binary has one test, and it starts here).
    unsafe { std::env::set_var("DJDD_INSTALLER", "pip") };
    assert_eq!(installer(), "pip");
    let repo = demo_repo();
    let d = demo_build_dir(repo.path(), true);
    let (plan, _) = ok(&d, &[&BUILD[..], &["--plan"]].concat());
    let (_, err) = ok(&d, &BUILD);
    save_pip_cache(&d);
    assert!(err.contains("pip install -r "), "{err}");
    assert!(!err.contains("uv pip"), "{err}");
    let env = one_package(&d, "demo-env-", &[]);
    let env_bytes = std::fs::read(&env).unwrap();

    // The HASH: the canonical inputs have no installer line.
    let hash = env_hash_of(&env);
    assert!(plan.contains(&format!("env HASH     {hash}")), "{plan}");
    let lock = std::fs::read_to_string(recorded_lock(&d)).unwrap();
    assert!(lock.starts_with("# What pip installed into "), "{lock}");
    assert!(lock.contains("\nsqlparse==0.6.1 --hash=sha256:"), "{lock}");
    let tree = d.path().join(format!("buildroot/usr/lib/demo-env/{hash}"));
    let installers: Vec<String> = walkdir::WalkDir::new(&tree)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() == "INSTALLER")
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(installers.len() > 10, "{installers:?}");
    assert!(
        installers.iter().all(|i| i.trim() == "pip"),
        "{installers:?}"
    );
    assert!(
        !d.path().join("buildroot/opt/djdd").exists(),
        "pip's path installs no uv"
    );

    // Lost, rebuilt from the lock by pip: the same bytes.
    lose_env(&d, &env);
    let (_, err) = ok(&d, &BUILD);
    assert!(
        err.contains("pip install --no-deps --require-hashes -r /usr/share/demo-env/")
            && !err.contains("uv pip"),
        "{err}"
    );
    assert_same_package(&env_bytes, &env, "pip's env rebuilt from its lock differs");

    // uv's env of the same requirements is another env (another HASH).
    let args = [&BUILD[..], &["--plan"]].concat();
    let out = d.djdd(&args).env("DJDD_INSTALLER", "uv").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let uv_plan = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(uv_plan.contains("env HASH     "), "{uv_plan}");
    assert!(
        !uv_plan.contains(&format!("env HASH     {hash}")),
        "{uv_plan}"
    );
}
