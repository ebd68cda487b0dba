//! Writes a [`Package`] as a .deb (deb(5)) into any `impl Write`:
//! `debian-binary`, `control.tar.EXT`, `data.tar.EXT`.
//!
//! The data tar is produced in one streaming pass: a loader thread reads
//! and md5-hashes files in parallel (rayon) in batches, the calling thread
//! lays them out as GNU tar members and feeds the multithreaded compressor,
//! whose output is spooled (memory, then a temp file) because the control
//! member, which holds `md5sums` and `Installed-Size`, comes first. Member
//! order is dpkg-deb's: each directory's entries sorted by raw bytes,
//! parents before children, symlinks after everything else; uid, gid and
//! names are the entries' own; the root `./` is always present and missing
//! parent directories are added (0755, root).
//!
//! Deterministic: the bytes depend only on the package and the options
//! (never on the thread count, the clock or the order of `entries`). With
//! `source_date_epoch` every tar and ar mtime equals it; without, entries
//! keep their mtimes and generated members get the newest entry mtime.
//!
//! Reports the data tar's progress (members, bytes, rate) to a
//! [`crate::report`] task; never prints, never walks a directory (ops::pack
//! does) and never runs a process.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use md5::{Digest, Md5};
use rayon::prelude::*;

use crate::deb::ar::ArWriter;
use crate::deb::compress::{self, Compression, Encoder};
use crate::deb::entry::{ControlFile, Entry, EntryKind, Owner, Package, Source, normalize_path};
use crate::deb::tar::{self, Counting, Header};
use crate::digest::hex;
use crate::error::{Error, Result};
use crate::flock;

/// How to write a .deb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    pub compression: Compression,
    /// None: the compressor's dpkg-deb default (xz 6, zstd 3, gzip 9).
    pub level: Option<u32>,
    /// Compressor and reader threads; 0: the number of CPUs. Changes speed only.
    pub threads: u32,
    /// When set, every mtime in the archive (ar and tar) is this.
    pub source_date_epoch: Option<u64>,
}

impl Default for WriteOptions {
    /// dpkg-deb's defaults: xz at level 6.
    fn default() -> Self {
        WriteOptions {
            compression: Compression::Xz,
            level: None,
            threads: 0,
            source_date_epoch: None,
        }
    }
}

impl WriteOptions {
    pub fn level(&self) -> u32 {
        self.level
            .unwrap_or_else(|| self.compression.default_level())
    }

    fn threads(&self) -> u32 {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1)
        }
    }
}

/// Reads `SOURCE_DATE_EPOCH` from the environment: None when unset or
/// empty, an error naming the variable when it is not a number.
pub fn source_date_epoch_from_env() -> Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
            Error::invalid_hint(
                format!("SOURCE_DATE_EPOCH '{v}'"),
                "is not a number of seconds since 1970-01-01",
                "set it to e.g. $(git log -1 --format=%ct), or unset it",
            )
        }),
        Err(_) => Ok(None),
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The `Installed-Size` of the package (given or computed), in KiB.
    pub installed_size: u64,
    /// Regular files (hard links included) listed in md5sums.
    pub files: usize,
    /// Bytes of the uncompressed data tar.
    pub data_tar_bytes: u64,
    /// Bytes of the whole .deb.
    pub deb_bytes: u64,
}

/// Files up to this size are read whole by the parallel loader; larger
/// ones are streamed by the writer thread.
const LARGE: u64 = 1 << 20;
/// Files per loader batch.
const BATCH: usize = 256;
/// Compressed data kept in memory before spilling to a temp file.
const SPOOL_MEMORY: usize = 128 << 20;

/// Writes `pkg` as a .deb into `out`. Checks the package first
/// ([`Package::check`] and every entry path); adds `md5sums` (unless a
/// control file of that name is given) and `Installed-Size` (unless the
/// control paragraph has it). On error, `out` may hold a partial archive:
/// write to a temporary file (see [`write_deb_to_path`]).
pub fn write_deb<W: Write>(pkg: &Package, opts: &WriteOptions, out: W) -> Result<Written> {
    pkg.check()?;
    let level = opts.level();
    opts.compression.check_level(level)?;
    let threads = opts.threads();
    let root = Owner::root();
    let plan = plan(pkg, &root, opts.source_date_epoch)?;
    let pkg_time = opts
        .source_date_epoch
        .unwrap_or_else(|| pkg.entries.iter().map(|e| e.mtime).max().unwrap_or(0));

    let spool = tempfile::SpooledTempFile::new(SPOOL_MEMORY);
    let task = crate::report::bytes_task(format!("packing {}", pkg.name()), plan.len() as u64);
    let (mut spool, digests, data_tar_bytes) =
        write_data(&plan, opts.compression, level, threads, spool, &task)?;
    task.finish();

    // md5sums, as dh_md5sums writes it: every regular file, sorted by path.
    let mut sums: Vec<(&[u8], [u8; 16])> = Vec::new();
    for (p, d) in plan.iter().zip(&digests) {
        if let Some((_, md5)) = d {
            sums.push((&p.path, *md5));
        }
    }
    let by_name: HashMap<&[u8], [u8; 16]> = sums.iter().map(|(p, m)| (*p, *m)).collect();
    let mut links = Vec::new();
    for p in &plan {
        if let PKind::HardLink(target) = &p.kind {
            if let Some(md5) = by_name.get(&target[2..]) {
                links.push((p.path.as_slice(), *md5));
            }
        }
    }
    sums.extend(links);
    sums.sort_by(|a, b| a.0.cmp(b.0));
    let files = sums.len();
    let mut md5sums = Vec::with_capacity(files * 80);
    for (path, md5) in &sums {
        md5sums.extend_from_slice(hex(md5).as_bytes());
        md5sums.extend_from_slice(b"  ");
        md5sums.extend_from_slice(path);
        md5sums.push(b'\n');
    }

    let mut control = pkg.control.clone();
    let installed_size = match control.get("Installed-Size") {
        Some(v) => v.trim().parse::<u64>().map_err(|_| {
            Error::invalid_hint(
                "DEBIAN/control: field Installed-Size",
                format!("'{v}' is not a number of KiB"),
                "remove the field and it is computed",
            )
        })?,
        None => {
            let n = installed_size(&plan, &digests, &pkg.control_files);
            control.insert_after("Maintainer", "Installed-Size", n.to_string());
            n
        }
    };

    let mut members: Vec<(&str, u32, &[u8])> = Vec::new();
    let control_text = control.to_string();
    members.push(("control", 0o644, control_text.as_bytes()));
    if pkg.control_file("md5sums").is_none() && !md5sums.is_empty() {
        members.push(("md5sums", 0o644, &md5sums));
    }
    for f in &pkg.control_files {
        members.push((&f.name, f.mode, &f.data));
    }
    members.sort_by(|a, b| a.0.cmp(b.0));
    let control_tar = control_tar(&members, pkg_time);
    let control_tar =
        compress::compress(&control_tar, opts.compression, level, threads).map_err(out_err)?;

    let data_len = spool.seek(SeekFrom::End(0)).map_err(out_err)?;
    spool.seek(SeekFrom::Start(0)).map_err(out_err)?;
    let ext = opts.compression.extension();
    let mut counted = Counting {
        inner: out,
        count: 0,
    };
    let mut ar = ArWriter::new(&mut counted, pkg_time).map_err(out_err)?;
    ar.append("debian-binary", b"2.0\n").map_err(out_err)?;
    ar.append(&format!("control.tar{ext}"), &control_tar)
        .map_err(out_err)?;
    ar.append_reader(&format!("data.tar{ext}"), data_len, &mut spool)
        .map_err(out_err)?;
    counted.flush().map_err(out_err)?;
    Ok(Written {
        installed_size,
        files,
        data_tar_bytes,
        deb_bytes: counted.count,
    })
}

/// Temporary files of [`write_deb_to_path`] are named
/// `.djdd-pack-XXXXXX.deb.tmp` (hidden, and not `*.deb`: nothing that lists
/// packages takes one for a package); [`remove_stale_temps`] removes those a
/// killed writer left.
pub const TEMP_PREFIX: &str = ".djdd-pack-";
/// See [`TEMP_PREFIX`].
pub const TEMP_SUFFIX: &str = ".deb.tmp";

/// Writes `pkg` to the file `path` atomically: into a temporary file in the
/// same directory, renamed over `path` (mode 0644) only when complete.
pub fn write_deb_to_path(pkg: &Package, opts: &WriteOptions, path: &Path) -> Result<Written> {
    write_deb_to_path_with(pkg, opts, path, &mut || {})
}

/// As [`write_deb_to_path`]; `first_bytes` is called once, as soon as the
/// first bytes are in the temporary file (a test pause point: a process
/// killed there leaves a partial temp file, never a partial `path`).
///
/// The writer holds a flock(2) lock on its temp file until it is renamed,
/// so [`remove_stale_temps`] can tell a killed writer's file (unlocked)
/// from one being written.
pub fn write_deb_to_path_with(
    pkg: &Package,
    opts: &WriteOptions,
    path: &Path,
    first_bytes: &mut dyn FnMut(),
) -> Result<Written> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = locked_temp(&dir)?;
    let mut w = BufWriter::with_capacity(
        1 << 20,
        FirstBytes {
            inner: tmp.as_file(),
            hook: Some(first_bytes),
        },
    );
    let written = write_deb(pkg, opts, &mut w)?;
    w.flush().map_err(|e| Error::io(path, e))?;
    drop(w);
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(written)
}

/// A new temp file in `dir`, locked. Retries when a concurrent
/// [`remove_stale_temps`] removed it between its creation and the lock.
fn locked_temp(dir: &Path) -> Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::MetadataExt;
    for _ in 0..10 {
        let tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .suffix(TEMP_SUFFIX)
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        flock::lock(tmp.as_file()).map_err(|e| Error::io(tmp.path(), e))?;
        let mine = tmp
            .as_file()
            .metadata()
            .map_err(|e| Error::io(tmp.path(), e))?;
        match std::fs::symlink_metadata(tmp.path()) {
            Ok(m) if m.ino() == mine.ino() && m.dev() == mine.dev() => return Ok(tmp),
            _ => continue,
        }
    }
    Err(Error::io(
        dir,
        io::Error::other("temp files keep disappearing"),
    ))
}

/// Removes the temp files of [`write_deb_to_path`] in `dir` that no live
/// writer holds (left by a killed one); returns how many. Files being
/// written (their writer holds the lock) are left alone.
pub fn remove_stale_temps(dir: &Path) -> Result<usize> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut removed = 0;
    for e in rd {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)) {
            continue;
        }
        let p = e.path();
        let Ok(f) = File::open(&p) else {
            continue; // gone meanwhile
        };
        if flock::try_lock(&f).unwrap_or(false) {
            match std::fs::remove_file(&p) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&p, e)),
            }
        }
    }
    Ok(removed)
}

/// A writer that calls its hook once, after its first successful write.
struct FirstBytes<'a, W: Write> {
    inner: W,
    hook: Option<&'a mut dyn FnMut()>,
}

impl<W: Write> Write for FirstBytes<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if n > 0 {
            if let Some(hook) = self.hook.take() {
                hook();
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn out_err(e: io::Error) -> Error {
    Error::io("(the .deb being written)", e)
}

/// One data member in archive order, with links resolved.
#[derive(Debug)]
struct Planned<'a> {
    /// Normalized path, `""` for the root.
    path: Vec<u8>,
    kind: PKind<'a>,
    mode: u32,
    owner: &'a Owner,
    mtime: u64,
}

#[derive(Debug)]
enum PKind<'a> {
    Dir,
    File(&'a Source),
    Symlink(&'a [u8]),
    /// The tar name (`./...`) of the member holding the data.
    HardLink(Vec<u8>),
}

impl Planned<'_> {
    /// The member name: `./` + path, `/` after directories.
    fn tar_name(&self) -> Vec<u8> {
        tar_name(&self.path, matches!(self.kind, PKind::Dir))
    }
}

fn tar_name(path: &[u8], dir: bool) -> Vec<u8> {
    let mut n = Vec::with_capacity(path.len() + 3);
    n.extend_from_slice(b"./");
    n.extend_from_slice(path);
    if dir && !path.is_empty() {
        n.push(b'/');
    }
    n
}

/// dpkg-deb's order: depth first, each directory's entries sorted by raw
/// bytes (so `a/` and its contents come before `a-b`).
/// Same as comparing the `/`-separated components: `/` sorts below every
/// other byte (paths hold no NUL).
fn cmp_paths(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let key = |c: u8| if c == b'/' { 0 } else { c };
    match a.iter().zip(b).find(|(x, y)| x != y) {
        Some((x, y)) => key(*x).cmp(&key(*y)),
        None => a.len().cmp(&b.len()),
    }
}

/// Normalizes, checks and orders the entries; adds the root and missing
/// parents; resolves hard links so the first member of each group holds
/// the data.
fn plan<'a>(pkg: &'a Package, root: &'a Owner, sde: Option<u64>) -> Result<Vec<Planned<'a>>> {
    let newest = pkg.entries.iter().map(|e| e.mtime).max().unwrap_or(0);
    let dir_time = sde.unwrap_or(newest);
    let mut by_path: HashMap<Vec<u8>, &'a Entry> = HashMap::with_capacity(pkg.entries.len());
    for e in &pkg.entries {
        let p = normalize_path(&e.path)?;
        if let Some(user_err) = owner_problem(&e.owner) {
            return Err(Error::invalid(
                format!("package path {}", e.display_path()),
                user_err,
            ));
        }
        if p.is_empty() && !matches!(e.kind, EntryKind::Dir) {
            return Err(Error::invalid(
                "package path /",
                "the root must be a directory",
            ));
        }
        if by_path.insert(p, e).is_some() {
            return Err(Error::invalid(
                format!("package path {}", e.display_path()),
                "is given twice",
            ));
        }
    }
    let mut plan: Vec<Planned<'a>> = Vec::with_capacity(by_path.len() + 8);
    let mut missing: Vec<Vec<u8>> = Vec::new();
    for (p, e) in &by_path {
        // every ancestor must be a directory; missing ones are added
        let mut i = p.len();
        while let Some(slash) = p[..i].iter().rposition(|b| *b == b'/') {
            let parent = &p[..slash];
            match by_path.get(parent) {
                Some(pe) if matches!(pe.kind, EntryKind::Dir) => {}
                Some(_) => {
                    return Err(Error::invalid(
                        format!("package path {}", e.display_path()),
                        format!(
                            "lies below {}, which is not a directory",
                            crate::deb::entry::display_path(parent)
                        ),
                    ));
                }
                None => missing.push(parent.to_vec()),
            }
            i = slash;
        }
        plan.push(Planned {
            path: p.clone(),
            kind: match &e.kind {
                EntryKind::Dir => PKind::Dir,
                EntryKind::File(s) => PKind::File(s),
                EntryKind::Symlink(t) => {
                    if t.is_empty() || t.contains(&0) {
                        return Err(Error::invalid(
                            format!("symlink {}", e.display_path()),
                            "has an empty target or one holding NUL",
                        ));
                    }
                    PKind::Symlink(t)
                }
                EntryKind::HardLink(_) => PKind::HardLink(Vec::new()),
            },
            mode: e.mode & 0o7777,
            owner: &e.owner,
            mtime: sde.unwrap_or(e.mtime),
        });
    }
    if !by_path.contains_key(b"".as_slice()) {
        missing.push(Vec::new());
    }
    missing.sort();
    missing.dedup();
    for p in missing {
        plan.push(Planned {
            path: p,
            kind: PKind::Dir,
            mode: 0o755,
            owner: root,
            mtime: dir_time,
        });
    }
    // non-symlinks first, then symlinks, each in depth-first sorted order
    plan.sort_by(|a, b| {
        let la = matches!(a.kind, PKind::Symlink(_));
        let lb = matches!(b.kind, PKind::Symlink(_));
        la.cmp(&lb).then_with(|| cmp_paths(&a.path, &b.path))
    });
    resolve_hard_links(&mut plan, &by_path)?;
    Ok(plan)
}

fn owner_problem(o: &Owner) -> Option<String> {
    let bad = |s: &str| s.len() > 31 || s.bytes().any(|b| b == 0);
    if bad(&o.user) || bad(&o.group) {
        Some(format!(
            "owner names '{}'/'{}' must be at most 31 bytes",
            o.user, o.group
        ))
    } else {
        None
    }
}

fn resolve_hard_links(plan: &mut [Planned], by_path: &HashMap<Vec<u8>, &Entry>) -> Result<()> {
    let index: HashMap<Vec<u8>, usize> = plan
        .iter()
        .enumerate()
        .map(|(i, p)| (p.path.clone(), i))
        .collect();
    // group: index of the entry holding the data -> members in plan order
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, item) in plan.iter().enumerate() {
        if !matches!(item.kind, PKind::HardLink(_)) {
            continue;
        }
        let mut cur = item.path.clone();
        let mut steps = 0;
        let data = loop {
            let e = by_path[&cur];
            let EntryKind::HardLink(t) = &e.kind else {
                unreachable!("only hard links are followed")
            };
            let t = normalize_path(t)?;
            let bad = |why: &str| {
                Error::invalid(
                    format!(
                        "hard link {}",
                        crate::deb::entry::display_path(&plan[i].path)
                    ),
                    format!("points to {}, {why}", crate::deb::entry::display_path(&t)),
                )
            };
            let Some(te) = by_path.get(&t) else {
                return Err(bad("which is not in the package"));
            };
            match &te.kind {
                EntryKind::File(_) => break index[&t],
                EntryKind::HardLink(_) if steps < by_path.len() => {
                    cur = t;
                    steps += 1;
                }
                EntryKind::HardLink(_) => return Err(bad("a hard link cycle")),
                _ => return Err(bad("which is not a regular file")),
            }
        };
        groups.entry(data).or_default().push(i);
    }
    let mut keys: Vec<usize> = groups.keys().copied().collect();
    keys.sort_unstable();
    for data in keys {
        let mut members = groups.remove(&data).unwrap_or_default();
        members.push(data);
        members.sort_unstable();
        let first = members[0];
        if first != data {
            let source = std::mem::replace(&mut plan[data].kind, PKind::Dir);
            plan[first].kind = source;
        }
        let name = plan[first].tar_name();
        for &m in &members[1..] {
            plan[m].kind = PKind::HardLink(name.clone());
        }
    }
    Ok(())
}

/// A file's content as the loader hands it over.
enum Loaded {
    /// Read whole (from disk), with its md5.
    Mem(Vec<u8>, [u8; 16]),
    /// In-memory source: only the md5 was computed.
    Hashed([u8; 16]),
    /// Too big to hold: streamed by the writer thread.
    Large(File, u64, PathBuf),
}

type Digests = Vec<Option<(u64, [u8; 16])>>;

fn md5_of(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

fn load(source: &Source) -> Result<Loaded> {
    match source {
        Source::Bytes(b) => Ok(Loaded::Hashed(md5_of(b))),
        Source::Path(p) => {
            let mut f = File::open(p).map_err(|e| Error::io(p, e))?;
            let len = f.metadata().map_err(|e| Error::io(p, e))?.len();
            if len > LARGE {
                return Ok(Loaded::Large(f, len, p.clone()));
            }
            let mut buf = Vec::with_capacity(len as usize + 1);
            f.read_to_end(&mut buf).map_err(|e| Error::io(p, e))?;
            let md5 = md5_of(&buf);
            Ok(Loaded::Mem(buf, md5))
        }
    }
}

/// Writes the compressed data tar into `out`; returns it with each
/// member's (size, md5) (files holding data only) and the tar's length.
fn write_data<W: Write + Send>(
    plan: &[Planned],
    compression: Compression,
    level: u32,
    threads: u32,
    out: W,
    task: &crate::report::Task,
) -> Result<(W, Digests, u64)> {
    let files: Vec<(usize, &Source)> = plan
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match p.kind {
            PKind::File(s) => Some((i, s)),
            _ => None,
        })
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads as usize)
        .thread_name(|i| format!("djdd-read-{i}"))
        .build()
        .map_err(|e| Error::io("(reader threads)", io::Error::other(e)))?;
    let (tx, rx) = mpsc::sync_channel::<Result<Vec<Loaded>>>(4);

    std::thread::scope(|s| {
        let files = &files;
        s.spawn(move || {
            for batch in files.chunks(BATCH) {
                let loaded: Result<Vec<Loaded>> =
                    pool.install(|| batch.par_iter().map(|(_, src)| load(src)).collect());
                let failed = loaded.is_err();
                if tx.send(loaded).is_err() || failed {
                    return;
                }
            }
        });

        // The compressor's output is counted too: the multithreaded
        // encoders take input well ahead of what they have compressed.
        let out = Compressed {
            inner: out,
            count: 0,
            task,
        };
        let enc = Encoder::new(out, compression, level, threads).map_err(out_err)?;
        let mut w = Counting {
            inner: BufWriter::with_capacity(1 << 20, enc),
            count: 0,
        };
        let mut digests: Digests = vec![None; plan.len()];
        let mut batch = Vec::new().into_iter();
        let mut hdr = Vec::with_capacity(2048);
        for (i, p) in plan.iter().enumerate() {
            let name = p.tar_name();
            let mut h = Header {
                name: &name,
                typeflag: tar::DIRECTORY,
                mode: p.mode,
                uid: u64::from(p.owner.uid),
                gid: u64::from(p.owner.gid),
                user: &p.owner.user,
                group: &p.owner.group,
                size: 0,
                mtime: p.mtime,
                link: b"",
            };
            hdr.clear();
            match &p.kind {
                PKind::Dir => tar::append_header(&mut hdr, &h),
                PKind::Symlink(t) => {
                    h.typeflag = tar::SYMLINK;
                    h.link = t;
                    tar::append_header(&mut hdr, &h);
                }
                PKind::HardLink(t) => {
                    h.typeflag = tar::HARDLINK;
                    h.link = t;
                    tar::append_header(&mut hdr, &h);
                }
                PKind::File(src) => {
                    let loaded = match batch.next() {
                        Some(l) => l,
                        None => {
                            let next = rx.recv().map_err(|_| {
                                Error::io("(reader threads)", io::Error::other("stopped early"))
                            })??;
                            batch = next.into_iter();
                            batch.next().expect("a batch is never empty")
                        }
                    };
                    h.typeflag = tar::REGULAR;
                    let (data, md5): (&[u8], [u8; 16]) = match (&loaded, src) {
                        (Loaded::Mem(b, m), _) => (b, *m),
                        (Loaded::Hashed(m), Source::Bytes(b)) => (b, *m),
                        (Loaded::Hashed(_), Source::Path(_)) => unreachable!(),
                        (Loaded::Large(f, len, path), _) => {
                            h.size = *len;
                            tar::append_header(&mut hdr, &h);
                            w.write_all(&hdr).map_err(out_err)?;
                            let md5 = stream_file(f, *len, path, &mut w)?;
                            w.write_all(&vec![0u8; tar::padding(*len)])
                                .map_err(out_err)?;
                            digests[i] = Some((*len, md5));
                            task.written(i as u64 + 1, w.count);
                            continue;
                        }
                    };
                    h.size = data.len() as u64;
                    tar::append_header(&mut hdr, &h);
                    w.write_all(&hdr).map_err(out_err)?;
                    w.write_all(data).map_err(out_err)?;
                    hdr.clear();
                    hdr.resize(tar::padding(h.size), 0);
                    digests[i] = Some((h.size, md5));
                }
            }
            w.write_all(&hdr).map_err(out_err)?;
            task.written(i as u64 + 1, w.count);
        }
        drop(rx);
        let trailer = tar::trailer(w.count);
        w.write_all(&trailer).map_err(out_err)?;
        let tar_len = w.count;
        let enc = w.inner.into_inner().map_err(|e| out_err(e.into_error()))?;
        let out = enc.finish().map_err(out_err)?.inner;
        Ok((out, digests, tar_len))
    })
}

/// The compressor's output, counted for the progress task.
struct Compressed<'t, W> {
    inner: W,
    count: u64,
    task: &'t crate::report::Task,
}

impl<W: Write> Write for Compressed<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        self.task.compressed(self.count);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Copies exactly `len` bytes of `f` into `w`, hashing them; fails when
/// the file is shorter or longer than when it was opened.
fn stream_file(f: &File, len: u64, path: &Path, w: &mut impl Write) -> Result<[u8; 16]> {
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut left = len;
    let mut r = f;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let n = r.read(&mut buf[..want]).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Err(Error::invalid(
                path.display().to_string(),
                "shrank while being packed",
            ));
        }
        md5.update(&buf[..n]);
        w.write_all(&buf[..n]).map_err(out_err)?;
        left -= n as u64;
    }
    if r.read(&mut buf[..1]).map_err(|e| Error::io(path, e))? != 0 {
        return Err(Error::invalid(
            path.display().to_string(),
            "grew while being packed",
        ));
    }
    Ok(md5.finalize().into())
}

/// `Installed-Size` as dpkg-gencontrol computes it over a debhelper build
/// tree, in KiB: each regular file ceil(size / 1024) (a hard-linked inode
/// once), each symlink ceil(len(target) / 1024), each directory (the root
/// included) 1; plus the `DEBIAN` directory (1) and the control files
/// present when dpkg-gencontrol runs (all but `control` and `md5sums`).
pub fn installed_size_kib(pkg_entries: &[(u64, bool)], control_files: &[ControlFile]) -> u64 {
    let data: u64 = pkg_entries
        .iter()
        .map(|&(size, is_dir)| if is_dir { 1 } else { size.div_ceil(1024) })
        .sum();
    let control: u64 = control_files
        .iter()
        .filter(|f| f.name != "md5sums")
        .map(|f| (f.data.len() as u64).div_ceil(1024))
        .sum();
    data + 1 + control
}

fn installed_size(plan: &[Planned], digests: &Digests, control_files: &[ControlFile]) -> u64 {
    let items: Vec<(u64, bool)> = plan
        .iter()
        .zip(digests)
        .filter_map(|(p, d)| match &p.kind {
            PKind::Dir => Some((0, true)),
            PKind::File(_) => Some((d.map_or(0, |(s, _)| s), false)),
            PKind::Symlink(t) => Some((t.len() as u64, false)),
            PKind::HardLink(_) => None,
        })
        .collect();
    installed_size_kib(&items, control_files)
}

/// The control tar: `./` then the members (sorted), modes as dpkg-deb's
/// `--mode u+rw,go=rX`, root/root, one mtime.
fn control_tar(members: &[(&str, u32, &[u8])], mtime: u64) -> Vec<u8> {
    let mut buf = Vec::with_capacity(16 << 10);
    let h = Header {
        name: b"./",
        typeflag: tar::DIRECTORY,
        mode: 0o755,
        uid: 0,
        gid: 0,
        user: "root",
        group: "root",
        size: 0,
        mtime,
        link: b"",
    };
    tar::append_header(&mut buf, &h);
    for (name, mode, data) in members {
        let full = format!("./{name}");
        let f = Header {
            name: full.as_bytes(),
            typeflag: tar::REGULAR,
            mode: if mode & 0o111 != 0 { 0o755 } else { 0o644 },
            size: data.len() as u64,
            ..h
        };
        tar::append_header(&mut buf, &f);
        buf.extend_from_slice(data);
        buf.resize(buf.len() + tar::padding(f.size), 0);
    }
    let t = tar::trailer(buf.len() as u64);
    buf.extend_from_slice(&t);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::control::Paragraph;

    fn control() -> Paragraph {
        Paragraph::parse(
            "Package: foo\nVersion: 1.0\nArchitecture: all\nMaintainer: A <a@b.c>\nDescription: x\n",
            "control",
        )
        .unwrap()
    }

    #[test]
    fn path_order_is_component_order() {
        let paths: [&[u8]; 8] = [b"", b"a", b"a/b", b"a-b", b"a.b", b"a/b/c", b"ab", b"B"];
        for x in paths {
            for y in paths {
                let by_components = x.split(|c| *c == b'/').cmp(y.split(|c| *c == b'/'));
                assert_eq!(cmp_paths(x, y), by_components, "{x:?} {y:?}");
            }
        }
    }

    #[test]
    fn installed_size_counts_as_dpkg_gencontrol() {
        // root dir, usr dir, a 1-byte file, a 1024-byte file, a 1025-byte
        // file, a symlink; plus DEBIAN (1) and a 2000-byte postinst (2)
        let items = [
            (0, true),
            (0, true),
            (1, false),
            (1024, false),
            (1025, false),
            (3, false),
        ];
        let cf = [
            ControlFile::new("postinst", vec![b'x'; 2000]),
            ControlFile::new("md5sums", vec![b'x'; 5000]),
        ];
        assert_eq!(
            installed_size_kib(&items, &cf),
            1 + 1 + 1 + 1 + 2 + 1 + 1 + 2
        );
        assert_eq!(
            installed_size_kib(&[(0, false)], &[]),
            1,
            "empty file is 0 KiB"
        );
    }

    #[test]
    fn order_is_depth_first_with_symlinks_last_and_parents_added() {
        let mut pkg = Package::new(control());
        pkg.add(Entry::symlink("usr/share/link", "a/f"))
            .add(Entry::dir("usr/share/a-b", 0o755))
            .add(Entry::file_from_bytes("usr/share/a/f", 0o644, "x"))
            .add(Entry::hard_link("usr/share/0hl", 0o644, "usr/share/a/f"));
        let root = Owner::root();
        let plan = plan(&pkg, &root, None).unwrap();
        let names: Vec<String> = plan
            .iter()
            .map(|p| String::from_utf8(p.tar_name()).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "./",
                "./usr/",
                "./usr/share/",
                "./usr/share/0hl",
                "./usr/share/a/",
                "./usr/share/a/f",
                "./usr/share/a-b/",
                "./usr/share/link"
            ]
        );
        // the hard link sorts first, so it holds the data and f links to it
        assert!(matches!(plan[3].kind, PKind::File(_)));
        assert!(matches!(&plan[5].kind, PKind::HardLink(t) if t == b"./usr/share/0hl"));
    }

    #[test]
    fn rejects_duplicates_bad_links_and_files_as_parents() {
        let mut pkg = Package::new(control());
        pkg.add(Entry::dir("a", 0o755))
            .add(Entry::dir("/a/", 0o755));
        let root = Owner::root();
        assert!(
            plan(&pkg, &root, None)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let mut pkg = Package::new(control());
        pkg.add(Entry::hard_link("a", 0o644, "b"));
        assert!(
            plan(&pkg, &root, None)
                .unwrap_err()
                .to_string()
                .contains("not in the package")
        );
        let mut pkg = Package::new(control());
        pkg.add(Entry::file_from_bytes("a", 0o644, ""))
            .add(Entry::file_from_bytes("a/b", 0o644, ""));
        assert!(
            plan(&pkg, &root, None)
                .unwrap_err()
                .to_string()
                .contains("not a directory")
        );
    }

    #[test]
    fn writes_ar_with_three_members_and_md5sums() {
        let mut pkg = Package::new(control());
        pkg.add(Entry::file_from_bytes("usr/share/foo/a", 0o644, "hello\n").with_mtime(5))
            .add(Entry::hard_link(
                "usr/share/foo/b",
                0o644,
                "usr/share/foo/a",
            ));
        let opts = WriteOptions {
            compression: Compression::None,
            ..Default::default()
        };
        let mut out = Vec::new();
        let w = write_deb(&pkg, &opts, &mut out).unwrap();
        assert_eq!(w.files, 2);
        assert_eq!(w.deb_bytes, out.len() as u64);
        // root, usr, share, foo dirs (4) + 1 KiB file + DEBIAN (1)
        assert_eq!(w.installed_size, 6);
        assert!(out.starts_with(b"!<arch>\ndebian-binary   5 "));
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("b1946ac92492d2347c6235b4d2611184  usr/share/foo/a\nb1946ac92492d2347c6235b4d2611184  usr/share/foo/b\n"));
        assert!(text.contains("Maintainer: A <a@b.c>\nInstalled-Size: 6\nDescription"));
        let c = text.find("control.tar ").unwrap();
        let d = text.find("data.tar ").unwrap();
        assert!(c < d);
    }

    #[test]
    fn temp_files_of_killed_writers_are_removed_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let live = locked_temp(dir.path()).unwrap();
        let stale = dir.path().join(format!("{TEMP_PREFIX}dead01{TEMP_SUFFIX}"));
        std::fs::write(&stale, b"!<arch>\npartial").unwrap();
        let other = dir.path().join("demo-env-x_1_amd64.deb");
        std::fs::write(&other, b"x").unwrap();
        assert_eq!(remove_stale_temps(dir.path()).unwrap(), 1);
        assert!(!stale.exists());
        assert!(live.path().exists() && other.exists());
        drop(live);
        assert_eq!(remove_stale_temps(dir.path()).unwrap(), 0);
        assert_eq!(remove_stale_temps(&dir.path().join("none")).unwrap(), 0);
    }

    #[test]
    fn first_bytes_hook_sees_a_partial_temp_file_then_the_deb_appears() {
        let dir = tempfile::tempdir().unwrap();
        let mut pkg = Package::new(control());
        pkg.add(Entry::file_from_bytes("usr/share/foo/a", 0o644, "hello\n"));
        let dest = dir.path().join("foo_1.0_all.deb");
        let mut calls = 0;
        let mut seen = Vec::new();
        write_deb_to_path_with(&pkg, &WriteOptions::default(), &dest, &mut || {
            calls += 1;
            seen = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
        })
        .unwrap();
        assert_eq!(calls, 1);
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(
            seen[0].starts_with(TEMP_PREFIX) && seen[0].ends_with(TEMP_SUFFIX),
            "{seen:?}"
        );
        assert!(dest.is_file());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
