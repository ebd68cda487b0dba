//! `djdd pack` against `dpkg-deb --build --root-owner-group` on a corpus of
//! generated trees: same control fields, same `dpkg-deb --contents` listing
//! (modes, owners, sizes, mtimes, link targets, order), same extracted
//! bytes, md5sums that match, an Installed-Size computed as
//! dpkg-gencontrol does; djdd's packages install with `dpkg --root` and
//! pass `dpkg --verify`; lintian finds nothing on them it does not find on
//! dpkg-deb's.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use djdd::deb::control::Paragraph;

fn long(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

/// Directories, files of many modes (setuid, setgid, sticky, 0600, 0444),
/// empty files and dirs, symlinks (relative, absolute, dangling, to a dir,
/// long targets), hard link groups, non-ASCII and non-UTF-8 names, paths
/// over 100 and 255 bytes, a name of exactly 100 bytes, sort-order traps,
/// and a file big enough to be streamed.
fn basic_tree(root: &Path, package: &str) {
    write_mode(
        &root.join("DEBIAN/control"),
        control_text(package, "1.0-1"),
        0o644,
    );
    mkdir_mode(&root.join("DEBIAN"), 0o755);
    let s = root.join("usr/share/djdd-test");
    write_mode(&root.join("usr/bin/tool"), "#!/bin/sh\necho tool\n", 0o755);
    write_mode(&root.join("usr/bin/suid"), "#!/bin/sh\n", 0o4755);
    write_mode(&root.join("usr/bin/sgid"), "#!/bin/sh\n", 0o2755);
    write_mode(
        &root.join(format!("usr/share/doc/{package}/copyright")),
        "Copyright: none\n",
        0o644,
    );
    mkdir_mode(&root.join("var/lib/djdd-test/empty"), 0o755);
    mkdir_mode(&root.join("var/lib/djdd-test/sticky"), 0o1777);
    mkdir_mode(&root.join("srv/djdd-test/setgid"), 0o2775);
    write_mode(&s.join("private"), "secret\n", 0o600);
    write_mode(&s.join("readonly"), "ro\n", 0o444);
    write_mode(&s.join("empty-file"), "", 0o644);
    std::os::unix::fs::symlink(format!("../doc/{package}/copyright"), s.join("rel-link")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", s.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("does-not-exist", s.join("dangling")).unwrap();
    std::os::unix::fs::symlink("../doc", s.join("dir-link")).unwrap();
    // hard links: the group's first member in archive order is 0first
    write_mode(&s.join("h/orig"), "hard linked\n", 0o644);
    std::fs::hard_link(s.join("h/orig"), s.join("h/0first")).unwrap();
    std::fs::hard_link(s.join("h/orig"), s.join("h/zlast")).unwrap();
    std::fs::hard_link(s.join("h/orig"), s.join("h/sub-then")).unwrap();
    // names
    write_mode(&s.join("unicode/café.txt"), "café\n", 0o644);
    write_mode(&s.join("unicode/日本語/ファイル"), "nihongo\n", 0o644);
    let latin1 = s.join(OsStr::from_bytes(b"unicode/latin1-\xe9"));
    write_mode(&latin1, "not utf-8\n", 0o644);
    write_mode(&s.join("unicode/with space & 'quote'"), "x\n", 0o644);
    // sort traps: a/ and its contents come before a-b and a.b
    write_mode(&s.join("order/a/x"), "x\n", 0o644);
    write_mode(&s.join("order/a-b"), "x\n", 0o644);
    write_mode(&s.join("order/a.b"), "x\n", 0o644);
    write_mode(&s.join("order/B"), "x\n", 0o644);
    write_mode(&s.join("order/_x"), "x\n", 0o644);
    // long paths
    let deep = s.join(long('d', 60)).join(long('e', 60));
    write_mode(&deep.join("file-over-100"), "deep\n", 0o644);
    let deeper = deep.join(long('f', 90)).join(long('g', 90));
    write_mode(&deeper.join("file-over-255"), "deeper\n", 0o755);
    std::os::unix::fs::symlink(
        format!("../../{}/{}/file-over-100", long('d', 60), long('e', 60)),
        deep.join(long('l', 80)),
    )
    .unwrap();
    std::fs::hard_link(deep.join("file-over-100"), deeper.join(long('k', 100))).unwrap();
    // "./usr/share/djdd-test/" is 22 bytes: a 78-byte name makes exactly 100
    write_mode(&s.join(long('x', 78)), "exactly 100\n", 0o644);
    write_mode(&s.join(long('y', 79)), "101\n", 0o644);
    // streamed (over 1 MiB), somewhat compressible
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 % 64 + b' ')
        .collect();
    write_mode(&s.join("big.bin"), big, 0o644);
}

/// Every maintainer script, conffiles (one flagged remove-on-upgrade),
/// triggers, shlibs, templates, symbols.
fn scripts_tree(root: &Path, package: &str) {
    write_mode(
        &root.join("DEBIAN/control"),
        control_text(package, "2:1.2.3-4"),
        0o644,
    );
    for script in ["preinst", "postinst", "prerm", "postrm"] {
        write_mode(
            &root.join("DEBIAN").join(script),
            format!(
                "#!/bin/sh\nset -e\necho \"{script} $*\" >> \"${{DPKG_ROOT:-}}/var/lib/{package}.log\"\nexit 0\n"
            ),
            0o755,
        );
    }
    write_mode(
        &root.join("DEBIAN/config"),
        "#!/bin/sh\nset -e\nexit 0\n",
        0o775,
    );
    write_mode(
        &root.join("DEBIAN/conffiles"),
        format!(
            "/etc/{package}/app.conf\n/etc/{package}/other.conf\nremove-on-upgrade /etc/{package}/old.conf\n"
        ),
        0o644,
    );
    write_mode(
        &root.join("DEBIAN/triggers"),
        format!("interest-noawait /usr/share/{package}-trig\n"),
        0o644,
    );
    write_mode(
        &root.join("DEBIAN/shlibs"),
        format!("libdjddtest 1 {package} (>= 1.2)\n"),
        0o644,
    );
    write_mode(
        &root.join("DEBIAN/templates"),
        format!(
            "Template: {package}/question\nType: boolean\nDefault: true\nDescription: A question?\n"
        ),
        0o644,
    );
    write_mode(
        &root.join(format!("etc/{package}/app.conf")),
        "key = value\n",
        0o644,
    );
    write_mode(
        &root.join(format!("etc/{package}/other.conf")),
        "other = 1\n",
        0o640,
    );
    write_mode(
        &root.join(format!("usr/share/{package}/data.txt")),
        "data\n",
        0o644,
    );
    write_mode(
        &root.join(format!("usr/share/doc/{package}/copyright")),
        "Copyright: none\n",
        0o644,
    );
}

/// 10,000 files in 100 directories, of varied sizes.
fn many_tree(root: &Path, package: &str) {
    write_mode(
        &root.join("DEBIAN/control"),
        control_text(package, "1.0"),
        0o644,
    );
    for d in 0..100 {
        let dir = root.join(format!("usr/lib/{package}/d{d:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            let n = d * 100 + f;
            let body = format!("file {n}\n").repeat(n % 300);
            std::fs::write(dir.join(format!("f{f:03}.py")), body).unwrap();
        }
    }
}

struct Built {
    _tmp: tempfile::TempDir,
    tree: PathBuf,
    ours: PathBuf,
    theirs: PathBuf,
    work: PathBuf,
}

/// Builds `tree` with djdd pack and dpkg-deb, the same compressor args.
fn build(make: impl Fn(&Path), compress: &[&str]) -> Built {
    assert!(
        have("dpkg-deb"),
        "dpkg-deb is needed (apt-get install dpkg)"
    );
    let tmp = tempdir();
    let tree = tmp.path().join("tree");
    make(&tree);
    let ours = tmp.path().join("ours.deb");
    let theirs = tmp.path().join("theirs.deb");
    djdd()
        .arg("pack")
        .args(compress)
        .arg(&tree)
        .arg(&ours)
        .env_remove("SOURCE_DATE_EPOCH")
        .assert()
        .success();
    run_ok(
        Command::new("dpkg-deb")
            .arg("--root-owner-group")
            .args(compress)
            .arg("--build")
            .arg(&tree)
            .arg(&theirs)
            .env_remove("SOURCE_DATE_EPOCH"),
    );
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    Built {
        tree,
        ours,
        theirs,
        work,
        _tmp: tmp,
    }
}

fn fields(deb: &Path) -> Paragraph {
    let out = run_ok(Command::new("dpkg-deb").arg("--field").arg(deb));
    Paragraph::parse(&String::from_utf8(out).unwrap(), &deb.display().to_string()).unwrap()
}

/// One file system object as seen after extraction.
#[derive(Debug, PartialEq, Eq)]
enum Obj {
    Dir(u32),
    File(u32, Vec<u8>),
    Link(Vec<u8>),
}

/// Objects by path, and the groups of paths sharing an inode.
type Snapshot = (BTreeMap<Vec<u8>, Obj>, BTreeSet<Vec<Vec<u8>>>);

fn snapshot(root: &Path) -> Snapshot {
    let mut objs = BTreeMap::new();
    let mut inodes: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
    for e in walkdir::WalkDir::new(root).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(root)
            .unwrap()
            .as_os_str()
            .as_bytes()
            .to_vec();
        let m = e.path().symlink_metadata().unwrap();
        let obj = if m.is_dir() {
            Obj::Dir(m.mode() & 0o7777)
        } else if m.file_type().is_symlink() {
            Obj::Link(
                std::fs::read_link(e.path())
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec(),
            )
        } else {
            if m.nlink() > 1 {
                inodes.entry(m.ino()).or_default().push(rel.clone());
            }
            Obj::File(m.mode() & 0o7777, std::fs::read(e.path()).unwrap())
        };
        objs.insert(rel, obj);
    }
    let groups = inodes.into_values().collect();
    (objs, groups)
}

/// dpkg-gencontrol's Installed-Size, computed independently from the tree.
fn expected_installed_size(tree: &Path) -> u64 {
    let mut kib = 0;
    let mut seen = BTreeSet::new();
    for e in walkdir::WalkDir::new(tree) {
        let e = e.unwrap();
        let name = e.file_name();
        if e.depth() == 2
            && e.path().parent().unwrap().file_name() == Some(OsStr::new("DEBIAN"))
            && (name == "control" || name == "md5sums")
        {
            continue;
        }
        let m = e.path().symlink_metadata().unwrap();
        if m.is_file() || m.file_type().is_symlink() {
            if seen.insert((m.dev(), m.ino())) || m.nlink() == 1 {
                kib += m.len().div_ceil(1024);
            }
        } else {
            kib += 1;
        }
    }
    kib
}

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The whole comparison.
fn assert_equivalent(b: &Built) {
    // 1. control fields: the same, in the same order, plus Installed-Size
    let mut ours = fields(&b.ours);
    let theirs = fields(&b.theirs);
    let size: u64 = ours
        .remove("Installed-Size")
        .expect("djdd adds Installed-Size")
        .parse()
        .unwrap();
    assert_eq!(size, expected_installed_size(&b.tree), "Installed-Size");
    assert_eq!(ours, theirs, "control fields differ");

    // 2. the full contents listing, byte for byte
    let lo = run_ok(Command::new("dpkg-deb").arg("--contents").arg(&b.ours));
    let lt = run_ok(Command::new("dpkg-deb").arg("--contents").arg(&b.theirs));
    if lo != lt {
        let o = String::from_utf8_lossy(&lo);
        let t = String::from_utf8_lossy(&lt);
        for (x, y) in o.lines().zip(t.lines()) {
            assert_eq!(x, y, "first differing --contents line (ours, dpkg-deb)");
        }
        panic!(
            "--contents lengths differ: {} vs {} lines",
            o.lines().count(),
            t.lines().count()
        );
    }

    // 3. extracted data: same objects, modes, bytes, link targets, hard link groups
    let xo = b.work.join("x-ours");
    let xt = b.work.join("x-theirs");
    run_ok(Command::new("dpkg-deb").arg("-x").arg(&b.ours).arg(&xo));
    run_ok(Command::new("dpkg-deb").arg("-x").arg(&b.theirs).arg(&xt));
    let (so, go) = snapshot(&xo);
    let (st, gt) = snapshot(&xt);
    assert_eq!(so.len(), st.len(), "number of extracted objects");
    for ((po, oo), (pt, ot)) in so.iter().zip(&st) {
        assert_eq!(po, pt, "extracted paths differ");
        assert_eq!(oo, ot, "extracted {} differs", String::from_utf8_lossy(po));
    }
    assert_eq!(go, gt, "hard link groups differ");

    // 4. control members: the same files with the same bytes and modes,
    //    plus md5sums, which lists every regular file with its real md5
    let co = b.work.join("c-ours");
    let ct = b.work.join("c-theirs");
    run_ok(Command::new("dpkg-deb").arg("-e").arg(&b.ours).arg(&co));
    run_ok(Command::new("dpkg-deb").arg("-e").arg(&b.theirs).arg(&ct));
    let (mut cso, _) = snapshot(&co);
    let (cst, _) = snapshot(&ct);
    let Some(Obj::File(mode, md5sums)) = cso.remove(b"md5sums".as_slice()) else {
        panic!("djdd wrote no md5sums");
    };
    assert_eq!(mode, 0o644);
    // dpkg-deb -e rewrites control; compare it as fields (done above)
    cso.remove(b"control".as_slice());
    let mut cst = cst;
    cst.remove(b"control".as_slice());
    assert_eq!(cso, cst, "control members differ");
    let mut expected = Vec::new();
    for (path, obj) in &so {
        if let Obj::File(_, data) = obj {
            expected.extend_from_slice(md5_hex(data).as_bytes());
            expected.extend_from_slice(b"  ");
            expected.extend_from_slice(path);
            expected.push(b'\n');
        }
    }
    let mut sorted: Vec<&[u8]> = md5sums.split_inclusive(|c| *c == b'\n').collect();
    sorted.sort_by_key(|l| &l[34..]);
    assert_eq!(
        String::from_utf8_lossy(&sorted.concat()),
        String::from_utf8_lossy(&expected),
        "md5sums"
    );
}

/// Installs djdd's package into an empty dpkg database with `dpkg --root`
/// (maintainer scripts run outside a chroot, with DPKG_ROOT set), checks
/// `dpkg --verify` (which checks md5sums) and the installed file list,
/// then purges it.
fn assert_installs(b: &Built, package: &str) {
    let root = b.work.join("root");
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    std::fs::write(root.join("var/lib/dpkg/available"), "").unwrap();
    let dpkg = || {
        let mut c = Command::new("dpkg");
        c.arg(format!("--root={}", root.display()))
            .arg("--force-script-chrootless")
            .arg("--force-not-root")
            .env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run_ok(dpkg().arg("--install").arg(&b.ours));
    let status = run_ok(dpkg().args(["--status", package]));
    assert!(
        String::from_utf8_lossy(&status).contains("Status: install ok installed"),
        "{}",
        String::from_utf8_lossy(&status)
    );
    let verify = run_ok(dpkg().args(["--verify", package]));
    assert!(
        verify.is_empty(),
        "dpkg --verify: {}",
        String::from_utf8_lossy(&verify)
    );
    let (tree, _) = snapshot(&b.tree);
    let (installed, _) = snapshot(&root);
    for (path, obj) in &tree {
        if path.starts_with(b"DEBIAN") || path.is_empty() {
            continue;
        }
        assert_eq!(
            installed.get(path),
            Some(obj),
            "installed {}",
            String::from_utf8_lossy(path)
        );
    }
    run_ok(dpkg().args(["--purge", package]));
}

fn lintian_tags(deb: &Path) -> BTreeSet<String> {
    let out = Command::new("lintian")
        .args([
            "--no-cfg",
            "--display-info",
            "--tag-display-limit",
            "0",
            "--allow-root",
        ])
        .arg(deb)
        .output()
        .expect("run lintian");
    assert!(
        out.status.code().is_some_and(|c| c <= 2),
        "lintian crashed: {out:?}"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.len() > 3 && &l[1..3] == ": ")
        .map(|l| {
            // "E: pkg: tag-name extra" -> "E tag-name extra"
            let mut parts = l.splitn(3, ": ");
            let sev = parts.next().unwrap_or("");
            let _pkg = parts.next();
            format!("{sev} {}", parts.next().unwrap_or(""))
        })
        .collect()
}

fn assert_lintian_no_worse(b: &Built) {
    assert!(
        have("lintian"),
        "lintian is needed (apt-get install lintian)"
    );
    let ours = lintian_tags(&b.ours);
    let theirs = lintian_tags(&b.theirs);
    let extra: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        extra.is_empty(),
        "lintian tags only on djdd's package: {extra:#?}"
    );
}

#[test]
fn basic_tree_xz_matches_dpkg_deb_and_installs() {
    let b = build(|t| basic_tree(t, "djdd-test-basic"), &[]);
    assert_equivalent(&b);
    assert_installs(&b, "djdd-test-basic");
}

#[test]
fn basic_tree_zstd_matches_dpkg_deb() {
    let b = build(|t| basic_tree(t, "djdd-test-basic"), &["-Zzstd"]);
    assert_equivalent(&b);
    let ar = run_ok(Command::new("ar").arg("t").arg(&b.ours));
    assert_eq!(
        String::from_utf8_lossy(&ar),
        "debian-binary\ncontrol.tar.zst\ndata.tar.zst\n"
    );
}

#[test]
fn basic_tree_gzip_matches_dpkg_deb() {
    let b = build(|t| basic_tree(t, "djdd-test-basic"), &["-Zgzip", "-z6"]);
    assert_equivalent(&b);
    let ar = run_ok(Command::new("ar").arg("t").arg(&b.ours));
    assert_eq!(
        String::from_utf8_lossy(&ar),
        "debian-binary\ncontrol.tar.gz\ndata.tar.gz\n"
    );
}

#[test]
fn basic_tree_uncompressed_matches_dpkg_deb() {
    let b = build(|t| basic_tree(t, "djdd-test-basic"), &["-Znone"]);
    assert_equivalent(&b);
    let ar = run_ok(Command::new("ar").arg("t").arg(&b.ours));
    assert_eq!(
        String::from_utf8_lossy(&ar),
        "debian-binary\ncontrol.tar\ndata.tar\n"
    );
}

#[test]
fn scripts_and_conffiles_match_dpkg_deb_and_install() {
    let b = build(|t| scripts_tree(t, "djdd-test-scripts"), &[]);
    assert_equivalent(&b);
    assert_installs(&b, "djdd-test-scripts");
    let log = b.work.join("root/var/lib/djdd-test-scripts.log");
    let log = std::fs::read_to_string(log).expect("maintainer scripts ran");
    assert!(
        log.contains("preinst install") && log.contains("postinst configure"),
        "{log}"
    );
    assert!(
        log.contains("prerm remove") && log.contains("postrm purge"),
        "{log}"
    );
}

#[test]
fn ten_thousand_files_match_dpkg_deb() {
    let b = build(|t| many_tree(t, "djdd-test-many"), &["-Zzstd"]);
    assert_equivalent(&b);
    let listing = run_ok(Command::new("dpkg-deb").arg("--contents").arg(&b.ours));
    let files = listing
        .split(|c| *c == b'\n')
        .filter(|l| l.starts_with(b"-"))
        .count();
    assert_eq!(files, 10_000);
    assert_installs(&b, "djdd-test-many");
}

#[test]
fn given_installed_size_is_kept() {
    let b = build(
        |t| {
            basic_tree(t, "djdd-test-basic");
            let c = control_text("djdd-test-basic", "1.0-1") + "Installed-Size: 4242\n";
            write_mode(&t.join("DEBIAN/control"), c, 0o644);
        },
        &["-Zzstd"],
    );
    assert_eq!(fields(&b.ours), fields(&b.theirs));
    assert_eq!(fields(&b.ours).get("Installed-Size"), Some("4242"));
}

#[test]
fn output_directory_gets_package_version_arch_name_without_epoch() {
    let tmp = tempdir();
    let tree = tmp.path().join("tree");
    scripts_tree(&tree, "djdd-test-scripts");
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    djdd().arg("pack").arg(&tree).arg(&out).assert().success();
    assert_eq!(list_dir(&out), ["djdd-test-scripts_1.2.3-4_all.deb"]);
    // the same name dpkg-deb picks
    let out2 = tmp.path().join("out2");
    std::fs::create_dir(&out2).unwrap();
    run_ok(
        Command::new("dpkg-deb")
            .arg("--root-owner-group")
            .arg("-b")
            .arg(&tree)
            .arg(&out2),
    );
    assert_eq!(list_dir(&out), list_dir(&out2));
    // no OUT: DIR.deb, as dpkg-deb
    djdd()
        .arg("pack")
        .arg(format!("{}/", tree.display()))
        .assert()
        .success();
    assert!(tmp.path().join("tree.deb").is_file());
}

#[test]
fn lintian_finds_nothing_more_on_djdd_packages() {
    let b = build(|t| scripts_tree(t, "djdd-test-scripts"), &[]);
    assert_lintian_no_worse(&b);
    let b = build(|t| basic_tree(t, "djdd-test-basic"), &["-Zzstd"]);
    assert_lintian_no_worse(&b);
}

/// With SOURCE_DATE_EPOCH older than every file (so dpkg-deb's clamp sets
/// every mtime to it, as djdd does), the uncompressed data.tar is the same
/// bytes as dpkg-deb's (which runs GNU tar): headers, long-name records,
/// order, padding.
#[test]
fn data_tar_is_byte_identical_to_dpkg_debs() {
    let tmp = tempdir();
    let tree = tmp.path().join("tree");
    basic_tree(&tree, "djdd-test-basic");
    let ours = tmp.path().join("ours.deb");
    let theirs = tmp.path().join("theirs.deb");
    djdd()
        .args(["pack", "-Znone"])
        .arg(&tree)
        .arg(&ours)
        .env("SOURCE_DATE_EPOCH", "1000000000")
        .assert()
        .success();
    run_ok(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Znone", "--build"])
            .arg(&tree)
            .arg(&theirs)
            .env("SOURCE_DATE_EPOCH", "1000000000"),
    );
    let data = |deb: &Path| run_ok(Command::new("dpkg-deb").arg("--fsys-tarfile").arg(deb));
    let (a, b) = (data(&ours), data(&theirs));
    assert!(a.len() > 3_000_000);
    if a != b {
        let at = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "data.tar differs at byte {at} (block {}); lengths {} and {}",
            at / 512,
            a.len(),
            b.len()
        );
    }
}
