//! Determinism of `djdd pack` and the writer: the same tree gives the same
//! bytes (twice, across thread counts, whatever the order the tree was
//! created or the entries listed in), and with SOURCE_DATE_EPOCH every ar
//! and tar mtime in the output equals it, even for files older than it.

mod common;

use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::*;
use djdd::deb::{Compression, ControlFile, Entry, Package, WriteOptions, write_deb};

/// About 12 MB over 40 files (several xz blocks at -z1 and zstd jobs),
/// plus links and an old mtime. `reverse` creates everything in the
/// opposite order, so directory order and inode numbers differ.
fn tree(root: &Path, reverse: bool) {
    let mut steps: Vec<Box<dyn Fn()>> = Vec::new();
    let r = root.to_path_buf();
    steps.push(Box::new(move || {
        write_mode(
            &r.join("DEBIAN/control"),
            control_text("djdd-test-det", "1.0"),
            0o644,
        );
        write_mode(&r.join("DEBIAN/postinst"), "#!/bin/sh\nexit 0\n", 0o755);
    }));
    for i in 0..40u32 {
        let r = root.to_path_buf();
        steps.push(Box::new(move || {
            let data: Vec<u8> = (0..300_000u32)
                .map(|j| ((j ^ i).wrapping_mul(2_654_435_761) >> 26) as u8 + b'a')
                .collect();
            write_mode(
                &r.join(format!("usr/share/det/d{}/f{i:02}", i % 4)),
                data,
                0o644,
            );
        }));
    }
    let r = root.to_path_buf();
    steps.push(Box::new(move || {
        write_mode(&r.join("usr/share/det/old"), "old file\n", 0o644);
        let f = std::fs::File::options()
            .write(true)
            .open(r.join("usr/share/det/old"))
            .unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000))
            .unwrap();
        std::os::unix::fs::symlink("old", r.join("usr/share/det/link")).unwrap();
    }));
    if reverse {
        steps.reverse();
    }
    for s in steps {
        s();
    }
}

fn pack(tree: &Path, out: &Path, args: &[&str], sde: Option<&str>) -> Vec<u8> {
    let mut c = djdd();
    c.arg("pack").args(args).arg(tree).arg(out);
    match sde {
        Some(v) => c.env("SOURCE_DATE_EPOCH", v),
        None => c.env_remove("SOURCE_DATE_EPOCH"),
    };
    c.assert().success();
    std::fs::read(out).unwrap()
}

#[test]
fn two_packs_are_byte_identical() {
    let tmp = tempdir();
    let t = tmp.path().join("t");
    tree(&t, false);
    for z in ["xz", "zstd", "gzip"] {
        let a = pack(&t, &tmp.path().join("a.deb"), &["-Z", z], None);
        let b = pack(&t, &tmp.path().join("b.deb"), &["-Z", z], None);
        assert!(a == b, "-Z {z}: two packs differ");
    }
}

#[test]
fn same_tree_created_in_another_order_gives_same_bytes() {
    let tmp = tempdir();
    let (t1, t2) = (tmp.path().join("t1"), tmp.path().join("t2"));
    tree(&t1, false);
    tree(&t2, true);
    let a = pack(
        &t1,
        &tmp.path().join("a.deb"),
        &["-Zzstd"],
        Some("1700000000"),
    );
    let b = pack(
        &t2,
        &tmp.path().join("b.deb"),
        &["-Zzstd"],
        Some("1700000000"),
    );
    assert!(a == b, "trees created in different orders pack differently");
}

#[test]
fn thread_count_does_not_change_bytes() {
    let tmp = tempdir();
    let t = tmp.path().join("t");
    tree(&t, false);
    for (z, level) in [("xz", "1"), ("zstd", "3"), ("gzip", "6")] {
        let one = pack(
            &t,
            &tmp.path().join("1.deb"),
            &["-Z", z, "-z", level, "--threads", "1"],
            None,
        );
        let two = pack(
            &t,
            &tmp.path().join("2.deb"),
            &["-Z", z, "-z", level, "--threads", "2"],
            None,
        );
        let four = pack(
            &t,
            &tmp.path().join("4.deb"),
            &["-Z", z, "-z", level, "--threads", "4"],
            None,
        );
        assert!(one == two, "-Z {z}: 1 vs 2 threads differ");
        assert!(one == four, "-Z {z}: 1 vs 4 threads differ");
    }
}

/// (name, mtime, data) of each ar member.
fn ar_members(deb: &[u8]) -> Vec<(String, u64, Vec<u8>)> {
    assert_eq!(&deb[..8], b"!<arch>\n");
    let mut out = Vec::new();
    let mut pos = 8;
    while pos < deb.len() {
        let h = &deb[pos..pos + 60];
        assert_eq!(&h[58..60], b"`\n");
        let field = |r: std::ops::Range<usize>| String::from_utf8_lossy(&h[r]).trim().to_string();
        let name = field(0..16);
        let mtime: u64 = field(16..28).parse().unwrap();
        assert_eq!(field(28..34), "0", "uid of {name}");
        assert_eq!(field(34..40), "0", "gid of {name}");
        assert_eq!(field(40..48), "100644", "mode of {name}");
        let size: usize = field(48..58).parse().unwrap();
        out.push((name, mtime, deb[pos + 60..pos + 60 + size].to_vec()));
        pos += 60 + size + size % 2;
    }
    out
}

fn decompress(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if name.ends_with(".xz") {
        liblzma::read::XzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
    } else if name.ends_with(".zst") {
        out = zstd::decode_all(data).unwrap();
    } else if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
    } else {
        out = data.to_vec();
    }
    out
}

/// (path, mtime, uid, gid, user, group) of each tar member.
fn tar_members(tar: &[u8]) -> Vec<(String, u64, u64, u64, String, String)> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                h.mtime().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.username().unwrap().unwrap_or("").to_string(),
                h.groupname().unwrap().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn source_date_epoch_sets_every_mtime() {
    let tmp = tempdir();
    let t = tmp.path().join("t");
    tree(&t, false);
    for z in ["xz", "zstd", "gzip", "none"] {
        let deb = pack(
            &t,
            &tmp.path().join("e.deb"),
            &["-Z", z],
            Some("1700000000"),
        );
        let members = ar_members(&deb);
        let names: Vec<&str> = members.iter().map(|m| m.0.as_str()).collect();
        let ext = match z {
            "xz" => ".xz",
            "zstd" => ".zst",
            "gzip" => ".gz",
            _ => "",
        };
        assert_eq!(
            names,
            [
                "debian-binary",
                &format!("control.tar{ext}"),
                &format!("data.tar{ext}")
            ]
        );
        assert_eq!(members[0].2, b"2.0\n");
        let mut seen_old = false;
        for (name, mtime, data) in &members {
            assert_eq!(*mtime, 1_700_000_000, "ar member {name} mtime");
            if name == "debian-binary" {
                continue;
            }
            if name.ends_with(".gz") {
                assert_eq!(&data[4..8], &[0, 0, 0, 0], "gzip header mtime of {name}");
            }
            let entries = tar_members(&decompress(name, data));
            assert!(entries.len() > 2, "{name} has entries");
            for (path, mtime, uid, gid, user, group) in entries {
                assert_eq!(mtime, 1_700_000_000, "{name}: {path} mtime");
                assert_eq!((uid, gid), (0, 0), "{name}: {path} ids");
                assert_eq!(
                    (user.as_str(), group.as_str()),
                    ("root", "root"),
                    "{name}: {path}"
                );
                assert!(path.starts_with("./"), "{name}: {path} lacks ./");
                seen_old |= path == "./usr/share/det/old";
            }
        }
        assert!(
            seen_old,
            "the file older than SOURCE_DATE_EPOCH is in data.tar"
        );
    }
    // without it, the old file keeps its own mtime (no clock involved)
    let deb = pack(&t, &tmp.path().join("n.deb"), &["-Znone"], None);
    let members = ar_members(&deb);
    let data = tar_members(&members[2].2);
    let old = data.iter().find(|e| e.0 == "./usr/share/det/old").unwrap();
    assert_eq!(old.1, 1_000_000_000);
}

#[test]
fn invalid_source_date_epoch_is_an_error() {
    let tmp = tempdir();
    let t = tmp.path().join("t");
    tree(&t, false);
    let out = tmp.path().join("x.deb");
    let o = djdd()
        .arg("pack")
        .arg(&t)
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("SOURCE_DATE_EPOCH 'yesterday': is not a number"),
        "{err}"
    );
    assert!(!out.exists());
}

/// The library writer: the order of `entries` and the thread count do not
/// matter.
#[test]
fn library_output_ignores_entry_order() {
    let control =
        djdd::deb::control::Paragraph::parse(&control_text("djdd-test-lib", "1.0"), "control")
            .unwrap();
    let mut pkg = Package::new(control);
    for i in 0..500u32 {
        pkg.add(
            Entry::file_from_bytes(
                format!("usr/share/lib/{}/{i}", i % 7),
                0o644,
                format!("{i}\n").repeat(i as usize),
            )
            .with_mtime(u64::from(i)),
        );
    }
    pkg.add(Entry::symlink("usr/share/lib/l", "0/0"))
        .add(Entry::hard_link(
            "usr/share/lib/h",
            0o644,
            "usr/share/lib/3/3",
        ))
        .add_control_file(ControlFile::new("postinst", "#!/bin/sh\n"));
    let mut reversed = pkg.clone();
    reversed.entries.reverse();
    for c in [Compression::Zstd, Compression::Xz, Compression::Gzip] {
        let opts = |threads| WriteOptions {
            compression: c,
            level: Some(if c == Compression::Xz { 1 } else { 3 }),
            threads,
            source_date_epoch: None,
        };
        let mut a = Vec::new();
        let mut b = Vec::new();
        write_deb(&pkg, &opts(1), &mut a).unwrap();
        write_deb(&reversed, &opts(3), &mut b).unwrap();
        assert!(a == b, "{c}: entry order or threads changed the bytes");
        // no SOURCE_DATE_EPOCH: the ar members carry the newest entry mtime
        assert_eq!(ar_members(&a)[0].1, 499);
    }
}
