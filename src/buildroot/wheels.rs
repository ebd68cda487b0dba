//! The build dir's cache of the wheels pip built from sdists, keyed by the
//! sha256 of the sdist: `D/cache/wheels/env-format-N/SHA256/*.whl` (inside
//! the root `/djdd/cache/wheels/...`, the cache dir's bind mount).
//!
//! pip keeps the wheels it builds in its own cache, but the pip of
//! Debian 12 (23.0.1) does not use that cache in hash-checking mode, so an
//! env installed from its resolution lock (`--require-hashes`) would
//! compile every sdist again (uWSGI: most of a minute). After each env
//! build djdd copies, from pip's cache, the wheels whose `origin.json`
//! names the archive hash of a distribution of the env's lock; an install
//! from a lock offers them to pip (`--find-links`, and the wheel's sha256
//! as a second allowed hash of that lock line). One env format a
//! directory: a wheel built under another format's compiler flags is never
//! offered.
//!
//! Host-side file operations only (no process runs); every file is
//! written to a temp name and renamed.

use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::error::{Error, Result};

/// `CACHE/wheels/env-format-N` (CACHE: the build dir's cache dir).
pub fn format_dir(cache: &Path) -> PathBuf {
    cache
        .join("wheels")
        .join(format!("env-format-{}", crate::plan::ENV_FORMAT))
}

/// The sha256 (hex) of a file.
fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(crate::builddir::hex(&sha2::Sha256::digest(&bytes)))
}

/// The sdist sha256 an `origin.json` of pip's wheel cache names
/// (`"archive_info": {"hash": "sha256=HEX", ...}`), if any.
fn origin_sha256(text: &str) -> Option<String> {
    let i = text.find("\"sha256=")? + "\"sha256=".len();
    let hex = text.get(i..i + 64)?;
    hex.bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        .then(|| hex.to_string())
}

/// Copies into the cache every wheel of pip's wheel cache (`pip_cache`,
/// the env format's `PIP_CACHE_DIR` on the host) built from an archive
/// whose sha256 is in `wanted`. Returns the `(sha256, wheel file name)`
/// newly kept.
pub fn keep_built(
    cache: &Path,
    pip_cache: &Path,
    wanted: &[String],
) -> Result<Vec<(String, String)>> {
    let mut kept = Vec::new();
    let origins = walkdir::WalkDir::new(pip_cache.join("wheels"))
        .sort_by_file_name()
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file() && e.file_name() == "origin.json");
    for origin in origins {
        let Ok(text) = std::fs::read_to_string(origin.path()) else {
            continue;
        };
        let Some(sha) = origin_sha256(&text).filter(|h| wanted.contains(h)) else {
            continue;
        };
        let dir = origin.path().parent().expect("a file in a directory");
        let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".whl") || name.starts_with('.') {
                continue;
            }
            let dest_dir = format_dir(cache).join(&sha);
            let dest = dest_dir.join(&name);
            if dest.exists() {
                continue;
            }
            std::fs::create_dir_all(&dest_dir).map_err(|e| Error::io(&dest_dir, e))?;
            let tmp = dest_dir.join(format!(".{name}.tmp"));
            std::fs::copy(e.path(), &tmp).map_err(|e| Error::io(&tmp, e))?;
            std::fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
            kept.push((sha.clone(), name));
        }
    }
    Ok(kept)
}

/// The cached wheels built from the archive with sha256 `sha`: each
/// wheel's file name and sha256, sorted by name.
pub fn cached(cache: &Path, sha: &str) -> Result<Vec<(String, String)>> {
    let dir = format_dir(cache).join(sha);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io(&dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".whl") && !name.starts_with('.') {
            out.push((name, sha256_file(&e.path())?));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheels_of_locked_sdists_are_kept_by_the_sdists_sha256() {
        let t = tempfile::tempdir().unwrap();
        let (cache, pip) = (t.path().join("cache"), t.path().join("pip"));
        let sdist = "d36784fc2dae69523ba4b79c7d1d1b4d6e83e87836874f111262f4db940b16a6";
        let other = "1".repeat(64);
        for (dir, sha, wheel) in [
            (
                "c0/20/4a",
                sdist,
                "psycopg2-2.9.13-cp311-cp311-linux_x86_64.whl",
            ),
            (
                "aa/bb/cc",
                other.as_str(),
                "x-1-cp311-cp311-linux_x86_64.whl",
            ),
        ] {
            let d = pip.join("wheels").join(dir);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("origin.json"),
                format!(
                    "{{\"archive_info\": {{\"hash\": \"sha256={sha}\", \"hashes\": {{\"sha256\": \"{sha}\"}}}}, \"url\": \"https://e.org/p.tar.gz\"}}"
                ),
            )
            .unwrap();
            std::fs::write(d.join(wheel), b"wheel bytes").unwrap();
        }
        let kept = keep_built(&cache, &pip, &[sdist.to_string()]).unwrap();
        assert_eq!(
            kept,
            [(
                sdist.to_string(),
                "psycopg2-2.9.13-cp311-cp311-linux_x86_64.whl".to_string()
            )]
        );
        assert!(
            keep_built(&cache, &pip, &[sdist.to_string()])
                .unwrap()
                .is_empty(),
            "kept once"
        );
        let got = cached(&cache, sdist).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].1,
            crate::builddir::hex(&sha2::Sha256::digest(b"wheel bytes"))
        );
        assert!(format_dir(&cache).join(sdist).join(&got[0].0).is_file());
        assert!(cached(&cache, &other).unwrap().is_empty());
        assert_eq!(origin_sha256("{\"hash\": \"md5=abc\"}"), None);
    }
}
