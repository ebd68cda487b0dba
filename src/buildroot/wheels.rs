//! The build dir's cache of the wheels djdd built from sdists, keyed by
//! the sha256 of the sdist: `D/cache/wheels/env-format-N/SHA256/*.whl`
//! (inside the root `/djdd/cache/wheels/...`, the cache dir's bind mount).
//!
//! Each was built at the sdist's fixed path ([`super::sdists`]); an env
//! install offers it to pip (`--find-links`, and, installing from a lock,
//! the wheel's sha256 as a second allowed hash of that lock line), so pip
//! never builds that sdist itself, in its random directory. One env format
//! a directory: a wheel built under another format's compiler flags is
//! never offered, nor one built for another Python (a test cache or a
//! build dir shared between suites).
//!
//! Host-side file operations only (no process runs); every file is
//! written to a temp name and renamed.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `wheels/env-format-N/pythonX.Y`, below the cache dir (`python`: `3.X`).
pub fn subdir(python: &str) -> String {
    format!(
        "wheels/env-format-{}/python{python}",
        crate::plan::ENV_FORMAT
    )
}

/// `CACHE/wheels/env-format-N/pythonX.Y` (CACHE: the build dir's cache
/// dir).
pub fn format_dir(cache: &Path, python: &str) -> PathBuf {
    cache.join(subdir(python))
}

/// The sha256 (hex) of a file.
fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(crate::digest::sha256_hex(&bytes))
}

/// Keeps `wheel` (a file) as a wheel built from the sdist with sha256
/// `sha`, under its own file name; a wheel of that name kept before stays.
pub fn keep(cache: &Path, python: &str, sha: &str, wheel: &Path) -> Result<()> {
    let name = wheel
        .file_name()
        .ok_or_else(|| Error::invalid(format!("wheel {}", wheel.display()), "has no file name"))?;
    let dest_dir = format_dir(cache, python).join(sha);
    let dest = dest_dir.join(name);
    if dest.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(&dest_dir).map_err(|e| Error::io(&dest_dir, e))?;
    let tmp = dest_dir.join(format!(".{}.tmp", name.to_string_lossy()));
    // A copy cut short (a full disk) leaves no partial temp file behind.
    if let Err(e) = std::fs::copy(wheel, &tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&tmp, e));
    }
    std::fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
    Ok(())
}

/// The cached wheels built for Python `python` from the archive with
/// sha256 `sha`: each
/// wheel's file name and sha256, sorted by name.
pub fn cached(cache: &Path, python: &str, sha: &str) -> Result<Vec<(String, String)>> {
    let dir = format_dir(cache, python).join(sha);
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
    fn a_kept_wheel_is_found_by_its_sdists_sha256_only() {
        let t = tempfile::tempdir().unwrap();
        let cache = t.path().join("cache");
        let sdist = "d36784fc2dae69523ba4b79c7d1d1b4d6e83e87836874f111262f4db940b16a6";
        let other = "1".repeat(64);
        let built = t
            .path()
            .join("psycopg2-2.9.13-cp311-cp311-linux_x86_64.whl");
        std::fs::write(&built, b"wheel bytes").unwrap();
        keep(&cache, "3.11", sdist, &built).unwrap();
        // Kept once: a second keep leaves the first file as it is.
        std::fs::write(&built, b"other bytes").unwrap();
        keep(&cache, "3.11", sdist, &built).unwrap();
        let got = cached(&cache, "3.11", sdist).unwrap();
        assert_eq!(
            got,
            [(
                "psycopg2-2.9.13-cp311-cp311-linux_x86_64.whl".to_string(),
                crate::digest::sha256_hex(b"wheel bytes")
            )]
        );
        assert!(cached(&cache, "3.11", &other).unwrap().is_empty());
        assert!(
            cached(&cache, "3.13", sdist).unwrap().is_empty(),
            "another Python"
        );
        let dir = format_dir(&cache, "3.11").join(sdist);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temp file left: {names:?}");
    }
}
