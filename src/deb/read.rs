//! Reading a .deb: its control paragraph and the size and hashes of the file.
//!
//! Follows deb(5): an ar archive whose first member is `debian-binary`
//! (`2.x`), then `control.tar[.gz|.xz|.zst]`, then `data.tar[...]`. Streams
//! the archive once, hashing every byte (MD5 and SHA-256, what apt's
//! Packages index lists) and keeping only the control member in memory, so a
//! large env package costs one read. Bytes only: takes any `impl Read`,
//! never opens files or runs processes. Errors name the file and what is
//! wrong with it.

use std::io::{self, Read};

use md5::{Digest, Md5};
use sha2::Sha256;

use crate::deb::control::Paragraph;
use crate::digest::{hex, sha256_hex};
use crate::error::{Error, Result};

/// What apt's index needs to know about one .deb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebInfo {
    /// The `control` file of the package, fields in their order.
    pub control: Paragraph,
    pub size: u64,
    /// Lower-case hex MD5 of the whole file.
    pub md5: String,
    /// Lower-case hex SHA-256 of the whole file.
    pub sha256: String,
}

/// Size and hashes of a byte stream (what Packages and Release list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHashes {
    pub size: u64,
    pub md5: String,
    pub sha256: String,
}

/// Size, MD5 and SHA-256 of everything `r` yields.
pub fn hash_reader(mut r: impl Read) -> io::Result<FileHashes> {
    let mut h = HashingReader::new(&mut r);
    io::copy(&mut h, &mut io::sink())?;
    Ok(h.finish())
}

/// Size, MD5 and SHA-256 of a byte slice.
pub fn hash_bytes(bytes: &[u8]) -> FileHashes {
    FileHashes {
        size: bytes.len() as u64,
        md5: hex(&Md5::digest(bytes)),
        sha256: sha256_hex(bytes),
    }
}

struct HashingReader<R> {
    inner: R,
    md5: Md5,
    sha: Sha256,
    n: u64,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            md5: Md5::new(),
            sha: Sha256::new(),
            n: 0,
        }
    }
    fn finish(self) -> FileHashes {
        FileHashes {
            size: self.n,
            md5: hex(&self.md5.finalize()),
            sha256: hex(&self.sha.finalize()),
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.md5.update(&buf[..k]);
        self.sha.update(&buf[..k]);
        self.n += k as u64;
        Ok(k)
    }
}

/// Reads a .deb from `r`; `origin` (usually the file's path) names it in errors.
pub fn read_deb(r: impl Read, origin: &str) -> Result<DebInfo> {
    let mut h = HashingReader::new(r);
    let control = read_members(&mut h, origin)?;
    // Hash whatever follows the members we read (the rest of data.tar, any
    // trailing members): the hashes cover the whole file.
    io::copy(&mut h, &mut io::sink()).map_err(|e| io_err(origin, e))?;
    let sums = h.finish();
    Ok(DebInfo {
        control,
        size: sums.size,
        md5: sums.md5,
        sha256: sums.sha256,
    })
}

fn io_err(origin: &str, e: io::Error) -> Error {
    Error::io(origin, e)
}

fn bad(origin: &str, problem: impl Into<String>) -> Error {
    Error::invalid_hint(
        origin.to_string(),
        format!("is not a valid .deb: {}", problem.into()),
        "give a package built by `djdd build` or `dpkg-deb --build`",
    )
}

/// Fills `buf` completely; Ok(false) when the stream ended before any byte.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        let k = r.read(&mut buf[got..])?;
        if k == 0 {
            if got == 0 {
                return Ok(false);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "truncated in the middle of an ar header",
            ));
        }
        got += k;
    }
    Ok(true)
}

struct Member {
    name: String,
    size: u64,
}

fn read_header(r: &mut impl Read, origin: &str) -> Result<Option<Member>> {
    let mut hdr = [0u8; 60];
    if !read_full(r, &mut hdr).map_err(|e| bad(origin, e.to_string()))? {
        return Ok(None);
    }
    if &hdr[58..60] != b"`\n" {
        return Err(bad(origin, "an ar member header lacks its end marker"));
    }
    let name = String::from_utf8_lossy(&hdr[0..16])
        .trim_end()
        .trim_end_matches('/')
        .to_string();
    let size_txt = String::from_utf8_lossy(&hdr[48..58]).trim().to_string();
    let size: u64 = size_txt
        .parse()
        .map_err(|_| bad(origin, format!("ar member '{name}' has size '{size_txt}'")))?;
    Ok(Some(Member { name, size }))
}

/// Reads a member's body plus the padding byte that aligns members to 2.
fn read_body(r: &mut impl Read, m: &Member, origin: &str) -> Result<Vec<u8>> {
    let mut body = Vec::with_capacity(m.size.min(1 << 24) as usize);
    r.take(m.size)
        .read_to_end(&mut body)
        .map_err(|e| io_err(origin, e))?;
    if (body.len() as u64) < m.size {
        return Err(bad(origin, format!("member '{}' is truncated", m.name)));
    }
    skip_padding(r, m, origin)?;
    Ok(body)
}

fn skip_padding(r: &mut impl Read, m: &Member, origin: &str) -> Result<()> {
    if m.size % 2 == 1 {
        let mut pad = [0u8; 1];
        let _ = r.read(&mut pad).map_err(|e| io_err(origin, e))?;
    }
    Ok(())
}

fn read_members(r: &mut impl Read, origin: &str) -> Result<Paragraph> {
    let mut magic = [0u8; 8];
    match read_full(r, &mut magic) {
        Ok(true) if &magic == b"!<arch>\n" => {}
        Ok(false) => return Err(bad(origin, "the file is empty")),
        _ => {
            return Err(bad(
                origin,
                "it does not start with the ar magic `!<arch>` (deb(5))",
            ));
        }
    }
    let Some(first) = read_header(r, origin)? else {
        return Err(bad(origin, "the ar archive has no members"));
    };
    if first.name != "debian-binary" {
        return Err(bad(
            origin,
            format!(
                "the first member is '{}', deb(5) requires 'debian-binary'",
                first.name
            ),
        ));
    }
    let version = read_body(r, &first, origin)?;
    if !version.starts_with(b"2.") {
        return Err(bad(
            origin,
            format!(
                "debian-binary holds '{}', expected format 2.x",
                String::from_utf8_lossy(&version).trim()
            ),
        ));
    }
    // Members starting with '_' are reserved for extensions and skipped (deb(5)).
    loop {
        let Some(m) = read_header(r, origin)? else {
            return Err(bad(origin, "it has no control.tar member"));
        };
        if m.name.starts_with('_') {
            read_body(r, &m, origin)?;
            continue;
        }
        let comp = match m.name.as_str() {
            "control.tar" => Comp::None,
            "control.tar.gz" => Comp::Gz,
            "control.tar.xz" => Comp::Xz,
            "control.tar.zst" => Comp::Zst,
            other => {
                return Err(bad(
                    origin,
                    format!(
                        "the second member is '{other}', expected control.tar, control.tar.gz, .xz or .zst"
                    ),
                ));
            }
        };
        let body = read_body(r, &m, origin)?;
        let control = control_from_tar(&body, comp, &m.name, origin)?;
        // deb(5): data.tar must follow; check its header so a truncated
        // file is refused here rather than by apt on the target.
        let Some(data) = read_header(r, origin)? else {
            return Err(bad(origin, "it has no data.tar member"));
        };
        if !data.name.starts_with("data.tar") {
            return Err(bad(
                origin,
                format!("the third member is '{}', expected data.tar.*", data.name),
            ));
        }
        let n = io::copy(&mut r.take(data.size), &mut io::sink()).map_err(|e| io_err(origin, e))?;
        if n < data.size {
            return Err(bad(
                origin,
                format!(
                    "member '{}' is truncated: {n} of {} bytes",
                    data.name, data.size
                ),
            ));
        }
        skip_padding(r, &data, origin)?;
        return Ok(control);
    }
}

#[derive(Clone, Copy)]
enum Comp {
    None,
    Gz,
    Xz,
    Zst,
}

fn control_from_tar(body: &[u8], comp: Comp, member: &str, origin: &str) -> Result<Paragraph> {
    let reader: Box<dyn Read + '_> = match comp {
        Comp::None => Box::new(body),
        Comp::Gz => Box::new(flate2::read::GzDecoder::new(body)),
        Comp::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(body)),
        Comp::Zst => Box::new(
            zstd::stream::read::Decoder::with_buffer(body)
                .map_err(|e| bad(origin, format!("{member}: {e}")))?,
        ),
    };
    let mut ar = tar::Archive::new(reader);
    let entries = ar
        .entries()
        .map_err(|e| bad(origin, format!("{member}: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(origin, format!("{member}: {e}")))?;
        let path = entry.path_bytes().into_owned();
        let name = path.strip_prefix(b"./").unwrap_or(&path);
        if name == b"control" {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| bad(origin, format!("{member}: control: {e}")))?;
            let what = format!("{origin}: control");
            let p = Paragraph::parse(&text, &what)?;
            for field in ["Package", "Version", "Architecture"] {
                if p.get(field).is_none_or(|v| v.trim().is_empty()) {
                    return Err(bad(
                        origin,
                        format!("its control file has no {field} field"),
                    ));
                }
            }
            return Ok(p);
        }
    }
    Err(bad(origin, format!("{member} holds no ./control file")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ar_member(out: &mut Vec<u8>, name: &str, body: &[u8]) {
        out.extend_from_slice(
            format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                name,
                0,
                0,
                0,
                "100644",
                body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(body);
        if body.len() % 2 == 1 {
            out.push(b'\n');
        }
    }

    fn control_tar(control: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(control.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "./control", control.as_bytes())
            .unwrap();
        b.into_inner().unwrap()
    }

    fn deb(control_member: &str, control_body: &[u8]) -> Vec<u8> {
        let mut out = b"!<arch>\n".to_vec();
        ar_member(&mut out, "debian-binary", b"2.0\n");
        ar_member(&mut out, control_member, control_body);
        ar_member(&mut out, "data.tar", &control_tar("x"));
        out
    }

    const CONTROL: &str = "Package: demo\nVersion: 1.0\nArchitecture: all\nDescription: d\n";

    #[test]
    fn reads_control_and_hashes_whole_file() {
        let tar = control_tar(CONTROL);
        let gz = {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&tar).unwrap();
            e.finish().unwrap()
        };
        let zst = zstd::encode_all(&tar[..], 3).unwrap();
        for (name, body) in [
            ("control.tar", tar.clone()),
            ("control.tar.gz", gz),
            ("control.tar.zst", zst),
        ] {
            let bytes = deb(name, &body);
            let info = read_deb(&bytes[..], "x.deb").unwrap();
            assert_eq!(info.control.get("Package"), Some("demo"), "{name}");
            assert_eq!(info.size, bytes.len() as u64);
            assert_eq!(info.sha256, hash_bytes(&bytes).sha256);
            assert_eq!(info.md5, hash_bytes(&bytes).md5);
        }
    }

    #[test]
    fn known_hashes() {
        let h = hash_bytes(b"abc");
        assert_eq!(h.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            h.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn refuses_what_is_not_a_deb() {
        let e = read_deb(&b"hello"[..], "f.deb").unwrap_err().to_string();
        assert!(e.contains("f.deb") && e.contains("ar magic"), "{e}");
        let e = read_deb(&b""[..], "f.deb").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let mut bytes = deb("control.tar", &control_tar(CONTROL));
        bytes.truncate(bytes.len() - 100);
        let e = read_deb(&bytes[..], "f.deb").unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        let bytes = deb("control.tar.bz2", b"xx");
        let e = read_deb(&bytes[..], "f.deb").unwrap_err().to_string();
        assert!(e.contains("control.tar.bz2"), "{e}");
        let bytes = deb("control.tar", &control_tar("Package: x\n"));
        let e = read_deb(&bytes[..], "f.deb").unwrap_err().to_string();
        assert!(e.contains("no Version field"), "{e}");
    }
}
