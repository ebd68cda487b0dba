//! The compressors of a .deb's tar members (deb(5): gzip, xz, zstd, or
//! none), set up so the output depends only on the input, the compressor
//! and the level, never on the thread count: xz always through liblzma's
//! multithreaded encoder with its fixed block size (3 x the dictionary),
//! zstd always through the zstdmt path (at least one worker), gzip through
//! flate2 with header mtime 0, no file name and OS 3 (Unix), as `gzip -n`.
//!
//! Bytes only: wraps any `impl Write`; never opens files.

use std::io::{self, Write};

use crate::error::{Error, Result};

/// A member compressor, as `dpkg-deb -Z` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    Zstd,
    Xz,
    Gzip,
    None,
}

impl Compression {
    /// The member name suffix: `control.tar.xz`, `data.tar` for none.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Zstd => ".zst",
            Compression::Xz => ".xz",
            Compression::Gzip => ".gz",
            Compression::None => "",
        }
    }

    /// dpkg-deb's default level: zstd 3, xz 6, gzip 9.
    pub fn default_level(self) -> u32 {
        match self {
            Compression::Zstd => 3,
            Compression::Xz => 6,
            Compression::Gzip => 9,
            Compression::None => 0,
        }
    }

    /// The valid levels.
    pub fn levels(self) -> std::ops::RangeInclusive<u32> {
        match self {
            Compression::Zstd => 1..=22,
            Compression::Xz => 0..=9,
            Compression::Gzip => 1..=9,
            Compression::None => 0..=9,
        }
    }

    /// Parses a `-Z` value.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "zstd" => Ok(Compression::Zstd),
            "xz" => Ok(Compression::Xz),
            "gzip" => Ok(Compression::Gzip),
            "none" => Ok(Compression::None),
            _ => Err(Error::invalid_hint(
                format!("compression '{s}'"),
                "is not one of zstd, xz, gzip, none",
                "use -Z xz (dpkg-deb's default), -Z zstd, -Z gzip or -Z none",
            )),
        }
    }

    /// Checks a level against [`Compression::levels`].
    pub fn check_level(self, level: u32) -> Result<()> {
        let r = self.levels();
        if r.contains(&level) {
            Ok(())
        } else {
            Err(Error::invalid(
                format!("compression level {level} for {self}"),
                format!("must be between {} and {}", r.start(), r.end()),
            ))
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Gzip => "gzip",
            Compression::None => "none",
        })
    }
}

/// A running compressor over `W`; `finish` flushes it and returns `W`.
pub enum Encoder<W: Write> {
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Xz(liblzma::write::XzEncoder<W>),
    Gzip(flate2::write::GzEncoder<W>),
    None(W),
}

impl<W: Write> Encoder<W> {
    /// Starts a compressor. `threads` (at least 1) changes speed only.
    pub fn new(out: W, compression: Compression, level: u32, threads: u32) -> io::Result<Self> {
        let threads = threads.max(1);
        Ok(match compression {
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(out, level as i32)?;
                e.multithread(threads)?;
                Encoder::Zstd(e)
            }
            Compression::Xz => {
                let stream = liblzma::stream::MtStreamBuilder::new()
                    .threads(threads)
                    .block_size(0)
                    .preset(level)
                    .check(liblzma::stream::Check::Crc64)
                    .encoder()
                    .map_err(io::Error::other)?;
                Encoder::Xz(liblzma::write::XzEncoder::new_stream(out, stream))
            }
            Compression::Gzip => Encoder::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .operating_system(3)
                    .write(out, flate2::Compression::new(level)),
            ),
            Compression::None => Encoder::None(out),
        })
    }

    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Zstd(e) => e.finish(),
            Encoder::Xz(e) => e.finish(),
            Encoder::Gzip(e) => e.finish(),
            Encoder::None(mut w) => {
                w.flush()?;
                Ok(w)
            }
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Xz(e) => e.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::None(w) => w.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Zstd(e) => e.write_all(buf),
            Encoder::Xz(e) => e.write_all(buf),
            Encoder::Gzip(e) => e.write_all(buf),
            Encoder::None(w) => w.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Zstd(e) => e.flush(),
            Encoder::Xz(e) => e.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::None(w) => w.flush(),
        }
    }
}

/// Compresses `data` into a new buffer.
pub fn compress(
    data: &[u8],
    compression: Compression,
    level: u32,
    threads: u32,
) -> io::Result<Vec<u8>> {
    let mut e = Encoder::new(Vec::new(), compression, level, threads)?;
    e.write_all(data)?;
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        // 3 MiB of compressible, not trivial data
        (0..3u32 << 20)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 % 17)
            .collect()
    }

    #[test]
    fn output_does_not_depend_on_threads() {
        let data = sample();
        for c in [Compression::Zstd, Compression::Xz, Compression::Gzip] {
            let lvl = if c == Compression::Xz {
                1
            } else {
                c.default_level()
            };
            let one = compress(&data, c, lvl, 1).unwrap();
            let two = compress(&data, c, lvl, 2).unwrap();
            let four = compress(&data, c, lvl, 4).unwrap();
            assert!(
                one == two && two == four,
                "{c}: output differs by thread count"
            );
            assert!(one.len() < data.len() / 2, "{c} did not compress");
        }
    }

    #[test]
    fn gzip_header_has_no_mtime_or_name() {
        let out = compress(b"hello", Compression::Gzip, 9, 1).unwrap();
        assert_eq!(&out[..4], &[0x1f, 0x8b, 8, 0]); // FLG 0: no FNAME
        assert_eq!(&out[4..8], &[0, 0, 0, 0]); // MTIME 0
        assert_eq!(out[9], 3); // OS Unix
    }

    #[test]
    fn round_trips() {
        let data = sample();
        let z = compress(&data, Compression::Zstd, 3, 2).unwrap();
        assert_eq!(zstd::decode_all(&z[..]).unwrap(), data);
        let x = compress(&data, Compression::Xz, 1, 2).unwrap();
        let mut d = Vec::new();
        std::io::copy(&mut liblzma::read::XzDecoder::new(&x[..]), &mut d).unwrap();
        assert_eq!(d, data);
    }

    #[test]
    fn parses_names_and_levels() {
        assert_eq!(Compression::parse("xz").unwrap(), Compression::Xz);
        assert!(Compression::parse("bzip2").is_err());
        assert!(Compression::Gzip.check_level(0).is_err());
        assert!(Compression::Xz.check_level(9).is_ok());
    }
}
