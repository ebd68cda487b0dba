//! The outer ar archive of a .deb, written as dpkg-deb writes it (deb(5),
//! ar(5) common format): the `!<arch>` magic, then per member a 60-byte
//! header (name padded with spaces and no `/`, one mtime, uid and gid 0,
//! mode 100644, decimal size) and the data padded to an even length.
//!
//! Bytes only: never opens files; the caller streams member data in.

use std::io::{self, Read, Write};

pub const MAGIC: &[u8; 8] = b"!<arch>\n";

/// Writes the header of one member. Names are at most 15 bytes (the deb
/// members are `debian-binary`, `control.tar.xz`, `data.tar.zst`...).
pub fn member_header(name: &str, mtime: u64, size: u64) -> io::Result<[u8; 60]> {
    if name.len() > 15 || name.contains('/') {
        return Err(io::Error::other(format!(
            "ar member name '{name}' is longer than 15 bytes or holds '/'"
        )));
    }
    if size > 9_999_999_999 || mtime > 999_999_999_999 {
        return Err(io::Error::other(format!(
            "ar member {name}: size {size} or mtime {mtime} does not fit its header field"
        )));
    }
    let s = format!(
        "{name:<16}{mtime:<12}{:<6}{:<6}{:<8o}{size:<10}`\n",
        0, 0, 0o100644
    );
    let mut h = [0u8; 60];
    h.copy_from_slice(s.as_bytes());
    Ok(h)
}

/// Writes ar members one after the other into `out`.
pub struct ArWriter<W: Write> {
    out: W,
    mtime: u64,
}

impl<W: Write> ArWriter<W> {
    /// Writes the magic; every member gets `mtime`.
    pub fn new(mut out: W, mtime: u64) -> io::Result<Self> {
        out.write_all(MAGIC)?;
        Ok(ArWriter { out, mtime })
    }

    /// Appends a member held in memory.
    pub fn append(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        self.append_reader(name, data.len() as u64, data)
    }

    /// Appends a member of `size` bytes read from `data`; fails if it holds
    /// fewer bytes.
    pub fn append_reader(&mut self, name: &str, size: u64, data: impl Read) -> io::Result<()> {
        self.out
            .write_all(&member_header(name, self.mtime, size)?)?;
        let copied = io::copy(&mut data.take(size), &mut self.out)?;
        if copied != size {
            return Err(io::Error::other(format!(
                "ar member {name}: expected {size} bytes, got {copied}"
            )));
        }
        if size % 2 == 1 {
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_matches_dpkg_deb() {
        let h = member_header("debian-binary", 1795315324, 4).unwrap();
        assert_eq!(
            &h[..],
            b"debian-binary   1795315324  0     0     100644  4         `\n"
        );
    }

    #[test]
    fn odd_members_are_padded() {
        let mut w = ArWriter::new(Vec::new(), 0).unwrap();
        w.append("a", b"xyz").unwrap();
        w.append("b", b"zz").unwrap();
        let out = w.into_inner();
        assert_eq!(out.len(), 8 + 60 + 4 + 60 + 2);
        assert_eq!(out[8 + 60 + 3], b'\n');
        assert!(member_header("control.tar.zst", 0, 1).is_ok());
        assert!(member_header("a-name-too-long-", 0, 1).is_err());
    }
}
