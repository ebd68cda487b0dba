//! A build whose cache is on a full disk (issue 30): D/cache is a small
//! tmpfs, empty, so the uv wheel fits and the env's downloads do not. The
//! build fails with exit 1 and the kernel's "No space left on device", and
//! leaves nothing half-written: no package, no temp file in D/packages, no
//! env marked built. What was written to the cache before the disk filled
//! up is kept, and with room again the next build uses it and succeeds.
//!
//! Needs root (mount), the cached base tarball and PyPI.

mod build_support;
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use build_support::*;
use common::list_dir;

const BUILD: [&str; 5] = ["build", "demo", "blue", "--version", "v1"];

/// A tmpfs of `mib` MiB mounted on `dir` while it lives.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, mib: u32) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m,mode=0755")])
            .arg("djdd-test-full")
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", dir.display());
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_cache_on_a_full_disk_fails_the_build_cleanly_and_the_next_build_recovers() {
    let repo = demo_repo();
    // Not seeded: the env's wheels must be downloaded into the cache.
    let d = demo_build_dir(repo.path(), false);
    let cache = d.path().join("cache");
    let before = list_dir(&cache);
    let saved = common::tempdir();
    // The uv wheel (~17 MiB, into cache/tools), the pip wheel uv seeds
    // the venv with and the resolution fit; Django's download does not.
    let full = Tmpfs::mount(&cache, 40);
    let err = fails(&d, &BUILD);
    assert!(err.contains("No space left on device"), "{err}");
    // It failed in uv's install (the resolution fitted), and says so.
    assert!(
        err.contains("`uv pip install -r requirements.txt (in the build root)` failed"),
        "{err}"
    );
    assert!(package_files(&d).is_empty(), "{:?}", package_files(&d));
    assert!(list_dir(&d.path().join("state/envs")).is_empty());
    // What the cache holds when the disk filled up goes back onto the
    // real disk, so that the next build starts from it.
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", cache.display()))
        .arg(saved.path())
        .status()
        .unwrap();
    assert!(st.success());
    drop(full);
    assert_eq!(list_dir(&cache), before, "the tmpfs is gone");
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", saved.path().display()))
        .arg(&cache)
        .status()
        .unwrap();
    assert!(st.success());

    // Room again: the next build succeeds, from what the cache kept.
    let (_, err) = ok(&d, &BUILD);
    assert!(
        !err.contains("installing uv"),
        "the uv install was kept:\n{err}"
    );
    let env = one_package(&d, "demo-env-", &[]);
    assert_eq!(
        field(&env, "Package"),
        format!("demo-env-{}", env_hash_of(&env))
    );
    assert_eq!(list_dir(&d.path().join("state/envs")).len(), 1);
    one_package(&d, "demo-site-blue_", &[]);
}
