//! Packages indices: one stanza per .deb, as apt-ftparchive writes them.
//!
//! Follows the Debian repository format (wiki.debian.org/DebianRepository/
//! Format, "Binary Packages Indices"): the package's control fields in
//! apt's canonical order (apt-pkg/tagfile-order.c, which apt-ftparchive
//! uses; unknown fields keep their order after the known ones) plus
//! `Filename`, `Size`, `MD5sum` and `SHA256`; stanzas separated by blank
//! lines; `Packages.gz` and `Packages.xz` beside the plain file. Pure:
//! text and bytes in, text and bytes out; never touches the disk.

use std::io::Write;

use crate::deb::control::{Paragraph, parse_paragraphs};
use crate::deb::read::FileHashes;
use crate::error::{Error, Result};

/// apt's field order for binary package stanzas (apt-pkg/tagfile-order.c).
pub const PACKAGE_FIELD_ORDER: &[&str] = &[
    "Package",
    "Package-Type",
    "Architecture",
    "Subarchitecture",
    "Version",
    "Kernel-Version",
    "Built-Using",
    "Static-Built-Using",
    "Built-For-Profiles",
    "Auto-Built-Package",
    "Multi-Arch",
    "Status",
    "Priority",
    "Build-Essential",
    "Protected",
    "Important",
    "Essential",
    "Installer-Menu-Item",
    "Section",
    "Source",
    "Origin",
    "Phased-Update-Percentage",
    "Maintainer",
    "Original-Maintainer",
    "Bugs",
    "Config-Version",
    "Conffiles",
    "Triggers-Awaited",
    "Triggers-Pending",
    "Installed-Size",
    "Provides",
    "Pre-Depends",
    "Depends",
    "Recommends",
    "Suggests",
    "Conflicts",
    "Breaks",
    "Replaces",
    "Enhances",
    "Filename",
    "MSDOS-Filename",
    "Size",
    "MD5sum",
    "SHA1",
    "SHA256",
    "SHA512",
    "Homepage",
    "Description",
    "Description-md5",
    "Tag",
    "Task",
];

/// Fields a Packages stanza gets from the repository, never from the .deb.
const REPO_FIELDS: &[&str] = &["Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512"];

/// A package's identity in a repository: apt keeps one (name, version,
/// architecture) per file hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub name: String,
    pub version: String,
    pub arch: String,
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.name, self.version, self.arch)
    }
}

/// One package of an index: its full stanza and the fields read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub stanza: Paragraph,
    pub key: Key,
    /// Path of the .deb relative to the repository root.
    pub filename: String,
    pub size: u64,
    pub sha256: String,
}

impl Entry {
    /// Reads an index stanza, checking the fields apt needs are present.
    pub fn from_stanza(stanza: Paragraph, origin: &str) -> Result<Entry> {
        let field = |name: &str| -> Result<String> {
            match stanza.get(name).map(str::trim) {
                Some(v) if !v.is_empty() => Ok(v.to_string()),
                _ => Err(Error::invalid_hint(
                    format!(
                        "{origin}: stanza of {}",
                        stanza.get("Package").unwrap_or("(no Package field)")
                    ),
                    format!("has no {name} field"),
                    "the index was not written by djdd or apt-ftparchive; restore it or publish into a new repository",
                )),
            }
        };
        let key = Key {
            name: field("Package")?,
            version: field("Version")?,
            arch: field("Architecture")?,
        };
        let filename = field("Filename")?;
        let size_txt = field("Size")?;
        let size = size_txt.parse().map_err(|_| {
            Error::invalid(
                format!("{origin}: stanza of {}", key.name),
                format!("Size '{size_txt}' is not a number"),
            )
        })?;
        let sha256 = field("SHA256")?;
        Ok(Entry {
            stanza,
            key,
            filename,
            size,
            sha256,
        })
    }

    /// The entry for a .deb placed at `filename` in the pool.
    pub fn for_deb(control: &Paragraph, filename: &str, h: &FileHashes) -> Entry {
        let stanza = packages_stanza(control, filename, h);
        Entry::from_stanza(stanza, filename).expect("a stanza built from a checked control")
    }
}

/// The Packages stanza of a .deb: its control fields in apt's order, plus
/// where it is and its size and hashes.
pub fn packages_stanza(control: &Paragraph, filename: &str, h: &FileHashes) -> Paragraph {
    let mut fields: Vec<(String, String)> = control
        .fields()
        .filter(|(k, _)| !REPO_FIELDS.iter().any(|r| r.eq_ignore_ascii_case(k)))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    fields.push(("Filename".into(), filename.into()));
    fields.push(("Size".into(), h.size.to_string()));
    fields.push(("MD5sum".into(), h.md5.clone()));
    fields.push(("SHA256".into(), h.sha256.clone()));
    let rank = |k: &str| {
        PACKAGE_FIELD_ORDER
            .iter()
            .position(|o| o.eq_ignore_ascii_case(k))
            .unwrap_or(PACKAGE_FIELD_ORDER.len())
    };
    // A stable sort keeps unknown fields in their original order, after
    // the known ones, as apt's pkgTagSection::Write does.
    fields.sort_by_key(|(k, _)| rank(k));
    let mut p = Paragraph::new();
    for (k, v) in fields {
        let name = PACKAGE_FIELD_ORDER
            .iter()
            .find(|o| o.eq_ignore_ascii_case(&k))
            .map_or(k.clone(), |o| o.to_string());
        p.set(&name, v);
    }
    p
}

/// Parses a Packages file into entries.
pub fn parse_packages(text: &str, origin: &str) -> Result<Vec<Entry>> {
    parse_paragraphs(text, origin)?
        .into_iter()
        .map(|p| Entry::from_stanza(p, origin))
        .collect()
}

/// The text of a Packages file listing `entries` in the given order.
pub fn render_packages<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> String {
    let mut out = String::new();
    for e in entries {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&e.stanza.to_string());
    }
    out
}

/// gzip with a zero header mtime, so the same index gives the same bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).expect("writing to a Vec");
    e.finish().expect("writing to a Vec")
}

/// xz (preset 6, CRC64) through the multithreaded encoder, whose output does
/// not depend on the number of threads.
pub fn xz(bytes: &[u8]) -> Vec<u8> {
    let stream = liblzma::stream::MtStreamBuilder::new()
        .preset(6)
        .threads(2)
        .check(liblzma::stream::Check::Crc64)
        .encoder()
        .expect("xz encoder options are valid");
    let mut e = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    e.write_all(bytes).expect("writing to a Vec");
    e.finish().expect("writing to a Vec")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::read::hash_bytes;

    #[test]
    fn stanza_follows_apt_order_and_keeps_unknown_fields_last() {
        let control = Paragraph::parse(
            "Package: demo\nVersion: 1.0\nArchitecture: all\nMaintainer: M <m@x>\n\
             Installed-Size: 3\nDepends: a, b\nX-Custom: yes\nSection: web\n\
             Priority: optional\nDescription: short\n long\n",
            "c",
        )
        .unwrap();
        let h = hash_bytes(b"deb");
        let p = packages_stanza(&control, "pool/main/d/demo/demo_1.0_all.deb", &h);
        let names: Vec<_> = p.fields().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            [
                "Package",
                "Architecture",
                "Version",
                "Priority",
                "Section",
                "Maintainer",
                "Installed-Size",
                "Depends",
                "Filename",
                "Size",
                "MD5sum",
                "SHA256",
                "Description",
                "X-Custom"
            ]
        );
        assert_eq!(p.get("Size"), Some("3"));
        assert_eq!(p.get("SHA256"), Some(h.sha256.as_str()));
    }

    #[test]
    fn index_round_trips() {
        let h = hash_bytes(b"x");
        let a = Entry::for_deb(
            &Paragraph::parse("Package: a\nVersion: 1\nArchitecture: all\n", "c").unwrap(),
            "pool/main/a/a/a_1_all.deb",
            &h,
        );
        let b = Entry::for_deb(
            &Paragraph::parse("Package: b\nVersion: 2\nArchitecture: amd64\n", "c").unwrap(),
            "pool/main/b/b/b_2_amd64.deb",
            &h,
        );
        let text = render_packages([&a, &b]);
        assert!(text.contains("\n\nPackage: b\n"));
        let back = parse_packages(&text, "Packages").unwrap();
        assert_eq!(back, vec![a, b]);
        let e = parse_packages("Package: a\nVersion: 1\n", "P").unwrap_err();
        assert!(e.to_string().contains("has no Architecture field"), "{e}");
    }

    #[test]
    fn compression_is_deterministic_and_decodes() {
        use std::io::Read;
        let text = "Package: a\n".repeat(100);
        assert_eq!(gzip(text.as_bytes()), gzip(text.as_bytes()));
        let mut s = String::new();
        flate2::read::GzDecoder::new(&gzip(text.as_bytes())[..])
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, text);
        let mut s = String::new();
        liblzma::read::XzDecoder::new(&xz(text.as_bytes())[..])
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, text);
    }
}
