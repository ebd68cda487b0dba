//! The Release file of a suite, its by-hash paths, and reading it back.
//!
//! Follows the Debian repository format (wiki.debian.org/DebianRepository/
//! Format, "Release files"): Origin, Label, Suite, Codename, Date (RFC 2822,
//! UTC), optional Valid-Until, Acquire-By-Hash, Architectures, Components,
//! then MD5Sum and SHA256 sections listing every index with its size, paths
//! relative to `dists/SUITE/`. With `Acquire-By-Hash: yes`, apt fetches
//! `DIR/by-hash/SHA256/HASH` instead of `DIR/Packages`, so an index replaced
//! mid-update never mismatches the Release a client already holds. Pure:
//! never touches the disk.

use std::collections::BTreeMap;

use crate::deb::control::parse_paragraphs;
use crate::deb::read::FileHashes;
use crate::error::{Error, Result};

/// The fields of a Release file other than the file lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFields {
    pub origin: String,
    pub label: String,
    pub suite: String,
    pub codename: String,
    pub description: Option<String>,
    /// Seconds since the epoch, UTC.
    pub date: i64,
    pub valid_until: Option<i64>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
}

/// The text of `dists/SUITE/Release`; `files` maps paths relative to
/// `dists/SUITE/` to their size and hashes.
pub fn release_text(f: &ReleaseFields, files: &BTreeMap<String, FileHashes>) -> String {
    let mut s = String::new();
    s.push_str(&format!("Origin: {}\n", f.origin));
    s.push_str(&format!("Label: {}\n", f.label));
    s.push_str(&format!("Suite: {}\n", f.suite));
    s.push_str(&format!("Codename: {}\n", f.codename));
    s.push_str(&format!("Date: {}\n", rfc2822(f.date)));
    if let Some(v) = f.valid_until {
        s.push_str(&format!("Valid-Until: {}\n", rfc2822(v)));
    }
    s.push_str("Acquire-By-Hash: yes\n");
    s.push_str(&format!("Architectures: {}\n", f.architectures.join(" ")));
    s.push_str(&format!("Components: {}\n", f.components.join(" ")));
    if let Some(d) = &f.description {
        s.push_str(&format!("Description: {d}\n"));
    }
    let width = files
        .values()
        .map(|h| h.size.to_string().len())
        .max()
        .unwrap_or(1);
    s.push_str("MD5Sum:\n");
    for (path, h) in files {
        s.push_str(&format!(" {} {:>width$} {path}\n", h.md5, h.size));
    }
    s.push_str("SHA256:\n");
    for (path, h) in files {
        s.push_str(&format!(" {} {:>width$} {path}\n", h.sha256, h.size));
    }
    s
}

/// Where apt fetches an index by its SHA-256: `main/binary-amd64/Packages.xz`
/// -> `main/binary-amd64/by-hash/SHA256/<hash>`.
pub fn by_hash_path(index_path: &str, sha256: &str) -> String {
    match index_path.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/by-hash/SHA256/{sha256}"),
        None => format!("by-hash/SHA256/{sha256}"),
    }
}

/// A date as RFC 2822 in UTC, the way apt-ftparchive writes it:
/// `Sat, 01 Jun 2024 12:00:00 UTC`.
pub fn rfc2822(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = crate::time::civil_from_days(days);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} UTC",
        WD[days.rem_euclid(7) as usize],
        d,
        MON[(m - 1) as usize],
        y,
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

/// What djdd reads back from an existing Release file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedRelease {
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    /// Path (relative to `dists/SUITE/`) -> (size, sha256).
    pub sha256: BTreeMap<String, (u64, String)>,
    pub valid_until: Option<String>,
}

/// Parses a Release file (or the body of an InRelease file).
pub fn parse_release(text: &str, origin: &str) -> Result<ParsedRelease> {
    let paras = parse_paragraphs(text, origin)?;
    let Some(p) = paras.first() else {
        return Err(Error::invalid(origin, "is empty"));
    };
    let words = |f: &str| -> Vec<String> {
        p.get(f)
            .map(|v| v.split_whitespace().map(String::from).collect())
            .unwrap_or_default()
    };
    let mut sha256 = BTreeMap::new();
    for line in p.get("SHA256").unwrap_or("").lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts[..] {
            [] => {}
            [hash, size, path] => {
                let size = size.parse().map_err(|_| {
                    Error::invalid(
                        format!("{origin}: SHA256 entry '{}'", line.trim()),
                        "the size is not a number",
                    )
                })?;
                sha256.insert(path.to_string(), (size, hash.to_string()));
            }
            _ => {
                return Err(Error::invalid(
                    format!("{origin}: SHA256 entry '{}'", line.trim()),
                    "expected `HASH SIZE PATH`",
                ));
            }
        }
    }
    Ok(ParsedRelease {
        architectures: words("Architectures"),
        components: words("Components"),
        sha256,
        valid_until: p.get("Valid-Until").map(String::from),
    })
}

/// The signed text of a clearsigned message (an InRelease file), with
/// dash-escaping undone; None when it is not a clearsigned message.
pub fn clearsigned_body(text: &str) -> Option<String> {
    let mut lines = text.lines();
    lines.find(|l| l.trim_end() == "-----BEGIN PGP SIGNED MESSAGE-----")?;
    // Armor headers (Hash: ...) up to the first empty line.
    for l in lines.by_ref() {
        if l.trim().is_empty() {
            break;
        }
    }
    let mut body = String::new();
    for l in lines {
        if l.trim_end() == "-----BEGIN PGP SIGNATURE-----" {
            return Some(body);
        }
        body.push_str(l.strip_prefix("- ").unwrap_or(l));
        body.push('\n');
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::read::hash_bytes;

    #[test]
    fn dates_are_rfc2822_utc() {
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 UTC");
        assert_eq!(rfc2822(1_717_243_200), "Sat, 01 Jun 2024 12:00:00 UTC");
        assert_eq!(rfc2822(951_782_400), "Tue, 29 Feb 2000 00:00:00 UTC");
        assert_eq!(rfc2822(4_102_444_799), "Thu, 31 Dec 2099 23:59:59 UTC");
    }

    #[test]
    fn release_round_trips() {
        let mut files = BTreeMap::new();
        files.insert("main/binary-amd64/Packages".to_string(), hash_bytes(b"abc"));
        files.insert(
            "main/binary-amd64/Packages.gz".to_string(),
            hash_bytes(b"abcdefghijkl"),
        );
        let f = ReleaseFields {
            origin: "djdd".into(),
            label: "djdd".into(),
            suite: "stable".into(),
            codename: "stable".into(),
            description: None,
            date: 0,
            valid_until: Some(86_400),
            architectures: vec!["amd64".into()],
            components: vec!["main".into()],
        };
        let text = release_text(&f, &files);
        assert!(
            text.contains("Date: Thu, 01 Jan 1970 00:00:00 UTC\nValid-Until: Fri, 02 Jan 1970")
        );
        assert!(text.contains("Acquire-By-Hash: yes\n"));
        assert!(text.contains(" 900150983cd24fb0d6963f7d28e17f72  3 main/binary-amd64/Packages\n"));
        let back = parse_release(&text, "Release").unwrap();
        assert_eq!(back.architectures, ["amd64"]);
        assert_eq!(back.components, ["main"]);
        assert_eq!(
            back.sha256["main/binary-amd64/Packages.gz"],
            (12, hash_bytes(b"abcdefghijkl").sha256)
        );
    }

    #[test]
    fn by_hash_and_clearsigned() {
        assert_eq!(
            by_hash_path("main/binary-all/Packages.xz", "ab"),
            "main/binary-all/by-hash/SHA256/ab"
        );
        let signed = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: x\n- -dash\n-----BEGIN PGP SIGNATURE-----\nxx\n-----END PGP SIGNATURE-----\n";
        assert_eq!(clearsigned_body(signed).unwrap(), "Origin: x\n-dash\n");
        assert_eq!(clearsigned_body("Origin: x\n"), None);
    }
}
