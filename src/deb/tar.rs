//! GNU tar headers built by hand, byte for byte as GNU tar 1.34
//! `--format=gnu` writes them (which is what dpkg-deb runs): names written
//! verbatim with their `./` prefix, `././@LongLink` `K`/`L` records for link
//! targets and names longer than 100 bytes (never PAX headers, which
//! bookworm's dpkg rejects), octal numeric fields (base-256 when too big),
//! two zero blocks at the end and padding to a 10240-byte record.
//!
//! Bytes only: never reads files, never decides order or metadata (the
//! writer does). Follows the GNU tar manual's "Basic Tar Format" and the
//! POSIX ustar layout.

use std::io::{self, Write};

pub const BLOCK: usize = 512;
/// GNU tar's default record size (20 blocks): archives are padded to it.
pub const RECORD: u64 = 10240;

/// Typeflags used in a .deb.
pub const REGULAR: u8 = b'0';
pub const HARDLINK: u8 = b'1';
pub const SYMLINK: u8 = b'2';
pub const DIRECTORY: u8 = b'5';
const LONGNAME: u8 = b'L';
const LONGLINK: u8 = b'K';

/// The fields of one member header. `name` is the full member name as it
/// goes into the archive (`./usr/bin/foo`, directories ending in `/`).
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    pub name: &'a [u8],
    pub typeflag: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub user: &'a str,
    pub group: &'a str,
    pub size: u64,
    pub mtime: u64,
    pub link: &'a [u8],
}

/// Appends the header block(s) for `h` to `buf`: a `K` record when the
/// link target exceeds 100 bytes, an `L` record when the name does, then
/// the member's own header (with both fields cut to 100 bytes).
pub fn append_header(buf: &mut Vec<u8>, h: &Header) {
    if h.link.len() > 100 {
        append_long_record(buf, LONGLINK, h.link);
    }
    if h.name.len() > 100 {
        append_long_record(buf, LONGNAME, h.name);
    }
    let mut b = [0u8; BLOCK];
    put_bytes(&mut b[0..100], h.name);
    put_num(&mut b[100..108], u64::from(h.mode & 0o7777));
    put_num(&mut b[108..116], h.uid);
    put_num(&mut b[116..124], h.gid);
    put_num(&mut b[124..136], h.size);
    put_num(&mut b[136..148], h.mtime);
    b[156] = h.typeflag;
    put_bytes(&mut b[157..257], h.link);
    finish_block(&mut b, h.user, h.group);
    buf.extend_from_slice(&b);
}

/// A `././@LongLink` record as GNU tar writes it: mode 0644, ids 0, mtime
/// 0, owner root/root, size = the name plus its NUL, then the name in
/// data blocks.
fn append_long_record(buf: &mut Vec<u8>, typeflag: u8, name: &[u8]) {
    let mut b = [0u8; BLOCK];
    put_bytes(&mut b[0..100], b"././@LongLink");
    put_num(&mut b[100..108], 0o644);
    put_num(&mut b[108..116], 0);
    put_num(&mut b[116..124], 0);
    put_num(&mut b[124..136], name.len() as u64 + 1);
    put_num(&mut b[136..148], 0);
    b[156] = typeflag;
    finish_block(&mut b, "root", "root");
    buf.extend_from_slice(&b);
    buf.extend_from_slice(name);
    buf.push(0);
    buf.resize(buf.len() + padding(name.len() as u64 + 1), 0);
}

/// GNU magic (`ustar  \0`), owner names, then the checksum: the sum of all
/// header bytes with the checksum field read as spaces, written as six
/// octal digits, NUL, space.
fn finish_block(b: &mut [u8; BLOCK], user: &str, group: &str) {
    b[257..265].copy_from_slice(b"ustar  \0");
    put_bytes(&mut b[265..296], user.as_bytes());
    put_bytes(&mut b[297..328], group.as_bytes());
    b[148..156].fill(b' ');
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    let s = format!("{sum:06o}\0 ");
    b[148..156].copy_from_slice(s.as_bytes());
}

/// Copies `src` into the field, cut to its length (no NUL needed when full).
fn put_bytes(field: &mut [u8], src: &[u8]) {
    let n = src.len().min(field.len());
    field[..n].copy_from_slice(&src[..n]);
}

/// A numeric field: zero-padded octal and a NUL when it fits, otherwise
/// GNU base-256 (first byte 0x80, big-endian value in the rest).
fn put_num(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    if digits >= 22 || v < 1u64 << (3 * digits) {
        let s = format!("{v:0digits$o}");
        field[..digits].copy_from_slice(s.as_bytes());
        field[digits] = 0;
    } else {
        field.fill(0);
        field[0] = 0x80;
        let be = v.to_be_bytes();
        let n = field.len();
        field[n - 8..].copy_from_slice(&be);
    }
}

/// Bytes of zero padding after `size` bytes of member data.
pub fn padding(size: u64) -> usize {
    ((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64) as usize
}

/// The end of an archive of `written` bytes: two zero blocks, then zeros
/// up to the next multiple of [`RECORD`].
pub fn trailer(written: u64) -> Vec<u8> {
    let end = written + 2 * BLOCK as u64;
    let total = end.div_ceil(RECORD) * RECORD;
    vec![0u8; (total - written) as usize]
}

/// A writer that counts bytes, so the trailer can pad to the record size.
pub struct Counting<W> {
    pub inner: W,
    pub count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.count += buf.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr<'a>(name: &'a [u8], link: &'a [u8], typeflag: u8) -> Header<'a> {
        Header {
            name,
            typeflag,
            mode: 0o4755,
            uid: 0,
            gid: 0,
            user: "root",
            group: "root",
            size: 3,
            mtime: 1000,
            link,
        }
    }

    fn checksum_ok(b: &[u8]) -> bool {
        let stored = u32::from_str_radix(std::str::from_utf8(&b[148..154]).unwrap(), 8).unwrap();
        let sum: u32 = b[..148]
            .iter()
            .chain(&[b' '; 8])
            .chain(&b[156..512])
            .map(|&x| u32::from(x))
            .sum();
        stored == sum && b[154] == 0 && b[155] == b' '
    }

    #[test]
    fn short_header_fields() {
        let mut buf = Vec::new();
        append_header(&mut buf, &hdr(b"./usr/bin/x", b"", REGULAR));
        assert_eq!(buf.len(), 512);
        assert_eq!(&buf[..11], b"./usr/bin/x");
        assert_eq!(&buf[100..108], b"0004755\0");
        assert_eq!(&buf[108..116], b"0000000\0");
        assert_eq!(&buf[124..136], b"00000000003\0");
        assert_eq!(&buf[136..148], b"00000001750\0");
        assert_eq!(buf[156], b'0');
        assert_eq!(&buf[257..265], b"ustar  \0");
        assert_eq!(&buf[265..270], b"root\0");
        assert_eq!(&buf[297..302], b"root\0");
        assert!(checksum_ok(&buf));
        // devmajor/devminor and prefix stay empty, as GNU tar leaves them
        assert!(buf[329..512].iter().all(|&b| b == 0));
    }

    #[test]
    fn name_of_exactly_100_bytes_needs_no_long_record() {
        let name = [b'a'; 100];
        let mut buf = Vec::new();
        append_header(&mut buf, &hdr(&name, b"", REGULAR));
        assert_eq!(buf.len(), 512);
        assert_eq!(&buf[..100], &name[..]);
    }

    #[test]
    fn long_name_and_link_get_k_then_l_records() {
        let name: Vec<u8> = [b"./".as_slice(), &[b'c'; 120]].concat();
        let link = vec![b't'; 101];
        let mut buf = Vec::new();
        append_header(&mut buf, &hdr(&name, &link, SYMLINK));
        // K header + 1 data block, L header + 1 data block, own header
        assert_eq!(buf.len(), 5 * 512);
        let k = &buf[0..512];
        assert_eq!(&k[..14], b"././@LongLink\0");
        assert_eq!(k[156], b'K');
        assert_eq!(&k[124..136], b"00000000146\0"); // 101 + NUL = 0o146
        assert_eq!(&k[136..148], b"00000000000\0");
        assert_eq!(&k[100..108], b"0000644\0");
        assert!(checksum_ok(k));
        assert_eq!(&buf[512..613], &link[..]);
        assert_eq!(buf[613], 0);
        let l = &buf[1024..1536];
        assert_eq!(l[156], b'L');
        assert_eq!(&l[124..136], b"00000000173\0"); // 122 + NUL = 0o173
        assert_eq!(&buf[1536..1658], &name[..]);
        let own = &buf[2048..2560];
        assert_eq!(&own[..100], &name[..100]);
        assert_eq!(&own[157..257], &link[..100]);
        assert_eq!(own[156], b'2');
        assert!(checksum_ok(own));
    }

    #[test]
    fn huge_values_use_base_256() {
        let mut f = [0u8; 12];
        put_num(&mut f, 0o77777777777);
        assert_eq!(&f, b"77777777777\0");
        put_num(&mut f, 1 << 33);
        assert_eq!(f[0], 0x80);
        assert_eq!(&f[4..], &(1u64 << 33).to_be_bytes());
    }

    #[test]
    fn trailer_pads_to_record() {
        assert_eq!(trailer(512).len(), 10240 - 512);
        assert_eq!(trailer(9216).len(), 1024);
        assert_eq!(trailer(9728).len(), 512 + 10240);
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
    }
}
