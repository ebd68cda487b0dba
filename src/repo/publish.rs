//! The publish procedure: add .debs to (and prune) one suite and component
//! of an apt repository, in an order that keeps it valid for apt throughout.
//!
//! The repository describes itself: the current contents are read back from
//! its own `dists/SUITE/COMPONENT/binary-*/Packages` files, so adding three
//! packages to hundreds reads no pool file. Order of writes (each atomic,
//! through [`RepoStore`]): new pool files; then the indices' by-hash copies
//! (`Acquire-By-Hash`, Debian repository format) and the indices; then
//! `Release`, `Release.gpg` and last `InRelease`; then removal of by-hash
//! files no Release (new or previous) lists, and last of pool files no index
//! lists. A client mid-update thus never sees a Release listing a missing
//! file or one with another hash, and a publish killed at any point leaves a
//! repository apt accepts and a rerun completes. It never runs processes:
//! signing goes through [`Signer`], implemented in `ops` with gpg.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::deb::control::{check_package_name, check_version};
use crate::deb::read::{DebInfo, FileHashes, hash_bytes};
use crate::deb::version::compare_versions;
use crate::error::{Error, Result};
use crate::repo::index::{Entry, Key, gzip, parse_packages, render_packages, xz};
use crate::repo::pool::{pool_path, source_name};
use crate::repo::prune::prune;
use crate::repo::release::{
    ParsedRelease, ReleaseFields, by_hash_path, clearsigned_body, parse_release, release_text,
};
use crate::repo::store::{RepoStore, TEMP_PREFIX};

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub suite: String,
    pub component: String,
    /// Defaults to the suite.
    pub codename: Option<String>,
    pub origin: String,
    pub label: String,
    pub description: Option<String>,
    /// Architectures to index besides those of the packages (so a
    /// repository of `all` packages still has `binary-amd64`).
    pub architectures: Vec<String>,
    /// The Release Date, seconds since the epoch.
    pub date: i64,
    pub valid_until: Option<i64>,
    /// `--prune --keep N`: keep the newest N versions of each site package.
    pub prune_keep: Option<usize>,
}

/// A .deb to publish: where it is and what it holds.
#[derive(Debug, Clone)]
pub struct NewPackage {
    pub path: PathBuf,
    pub info: DebInfo,
}

/// OpenPGP signatures of a Release file.
pub trait Signer: Sync {
    /// The clearsigned message (InRelease).
    fn clearsign(&self, text: &[u8]) -> Result<Vec<u8>>;
    /// An armored detached signature (Release.gpg).
    fn detach_sign(&self, text: &[u8]) -> Result<Vec<u8>>;
}

/// What a publish did.
#[derive(Debug, Default, Clone)]
pub struct PublishReport {
    /// Packages new to the index.
    pub added: Vec<Key>,
    /// Packages given that the index already held with the same bytes.
    pub already: Vec<Key>,
    /// Packages pruned from the index.
    pub removed: Vec<Key>,
    /// Pool files written and removed (paths relative to the repository).
    pub pool_written: Vec<String>,
    pub pool_removed: Vec<String>,
    /// False when the repository was already up to date (nothing written).
    pub indices_written: bool,
    /// Number of packages in the component's index afterwards.
    pub total: usize,
}

/// Checks a suite or component name: it becomes a directory under `dists/`.
pub fn check_dist_name(what: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value != "."
        && value != ".."
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'~'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("{what} {}", crate::rules::names::shown(value)),
            "must be letters, digits and - _ . + ~ (it names a directory under dists/)",
        ))
    }
}

/// Checks a value written as one Release field (Origin, Label,
/// Description): one line of printable text, not empty, no surrounding
/// spaces. A newline would end the field and start another one (a forged
/// `SHA256:` section, say) in the file apt trusts.
pub fn check_release_field(what: &str, value: &str) -> Result<()> {
    let shown = crate::rules::names::shown(value);
    let problem = if value.trim().is_empty() {
        Some("is empty")
    } else if value.chars().any(char::is_control) {
        Some("contains a control character (a newline would start another Release field)")
    } else if value.trim() != value {
        Some("starts or ends with a space")
    } else if value.len() > 1024 {
        Some("is longer than 1024 characters")
    } else {
        None
    };
    match problem {
        Some(p) => Err(Error::invalid(
            format!("{what} {shown}"),
            format!("{p}: a Release field is one line of printable text"),
        )),
        None => Ok(()),
    }
}

/// Checks every value of `opts` that names a directory or becomes a
/// Release field, before anything is read or written.
pub fn check_options(opts: &PublishOptions) -> Result<()> {
    check_dist_name("--suite", &opts.suite)?;
    check_dist_name("--component", &opts.component)?;
    if let Some(c) = &opts.codename {
        check_dist_name("--codename", c)?;
    }
    check_release_field("--origin", &opts.origin)?;
    check_release_field("--label", &opts.label)?;
    if let Some(d) = &opts.description {
        check_release_field("--description", d)?;
    }
    for a in &opts.architectures {
        check_arch("--arch", a)?;
    }
    Ok(())
}

fn check_arch(what: &str, arch: &str) -> Result<()> {
    if !arch.is_empty()
        && arch
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("{what}: architecture '{arch}'"),
            "must be lower-case letters, digits and '-' (dpkg-architecture(1))",
        ))
    }
}

fn read_text(store: &dyn RepoStore, rel: &str) -> Result<Option<String>> {
    match store.read(rel)? {
        None => Ok(None),
        Some(b) => String::from_utf8(b).map(Some).map_err(|_| {
            Error::invalid_hint(
                rel,
                "is not UTF-8 text",
                "the repository file is damaged; restore it or publish into a new repository",
            )
        }),
    }
}

fn conflict(key: &Key, pool_file: &str, old: &str, new_file: &str, new: &str) -> Error {
    Error::invalid_hint(
        format!("package {key} from {new_file}"),
        format!(
            "the repository already holds {pool_file} for this name, version and \
             architecture with other bytes (SHA256 {old} there, {new} here); apt would \
             reject the file on its hash"
        ),
        "a published version is immutable: bump the version and build again",
    )
}

/// The error for a package built on a root of another Debian release than
/// the suite's codename: its env is that release's Python, its Depends that
/// release's packages.
pub fn wrong_suite(origin: &str, built: &str, opts: &PublishOptions) -> Error {
    let codename = opts.codename.as_deref().unwrap_or(&opts.suite);
    let named = if codename == opts.suite {
        format!("suite {}", opts.suite)
    } else {
        format!("suite {} (codename {codename})", opts.suite)
    };
    Error::invalid_hint(
        format!("package {origin}"),
        format!(
            "was built on a {built} build root ({}: {built}) and cannot go into {named}: \
             its virtualenv and Depends are {built}'s",
            crate::repo::BUILT_FOR_FIELD
        ),
        format!(
            "publish it with --suite {built} (or, for a suite named otherwise, \
             --suite NAME --codename {built}, e.g. --suite stable --codename {built})"
        ),
    )
}

/// Adds `new` to `opts.suite`/`opts.component` of the repository behind
/// `store` (and prunes when asked), then rewrites its indices and Release,
/// signed when `signer` is given.
pub fn publish(
    store: &mut dyn RepoStore,
    new: &[NewPackage],
    opts: &PublishOptions,
    signer: Option<&dyn Signer>,
) -> Result<PublishReport> {
    check_options(opts)?;
    let comp = opts.component.as_str();
    let dists = format!("dists/{}", opts.suite);
    let mut report = PublishReport::default();

    // Everything is read and checked before anything is written.
    let prev = read_previous(store, &dists)?;
    let components = suite_components(&prev, opts);
    let mut archs = suite_architectures(store, &dists, &prev, &components, opts)?;
    let mut current = read_current(store, &dists, comp)?;
    let to_copy = check_new_packages(store, new, opts, &mut current, &mut archs, &mut report)?;
    require_an_architecture(&archs, opts)?;
    let pool_removals = prune_current(opts, &mut current, &mut report);
    report.total = current.len();

    // 1. Pool files.
    copy_pool_files(store, &to_copy, &mut report)?;

    // 2. The component's indices, for every architecture of the suite.
    let indices = render_indices(&current, &archs, comp);
    let files = index_hashes(store, &dists, &components, comp, &indices)?;
    let release = new_release(opts, &archs, &components, &files);
    // Up to date already? Then nothing is written.
    let release_current = release_is_current(store, &dists, comp, &files, &prev, &release, signer)?;
    if release_current && nothing_new(&report, &to_copy, opts) {
        return Ok(report);
    }
    write_indices(store, &dists, &indices, &files)?;

    // 3. Release, its signatures, InRelease last.
    write_release(store, &dists, &release, signer)?;
    report.indices_written = true;
    store.checkpoint("after-release");

    // 4. By-hash files neither the new nor the previous Release lists.
    remove_unlisted_by_hash(store, &dists, comp, &files, &prev)?;

    // 5. Pool files no index of any suite lists any more.
    remove_unreferenced_pool_files(store, opts, &current, pool_removals, &mut report)?;
    Ok(report)
}

/// What apt may hold now: the previous Release and InRelease.
struct Previous {
    release_text: Option<String>,
    release: Option<ParsedRelease>,
    /// The signed text of InRelease.
    inrelease_body: Option<String>,
    inrelease: Option<ParsedRelease>,
    has_release_gpg: bool,
}

impl Previous {
    /// The previous Release, then the previous InRelease, those there are.
    fn releases(&self) -> impl Iterator<Item = &ParsedRelease> {
        self.release.iter().chain(self.inrelease.iter())
    }
}

fn read_previous(store: &dyn RepoStore, dists: &str) -> Result<Previous> {
    let release_text = read_text(store, &format!("{dists}/Release"))?;
    let release = match &release_text {
        Some(t) => Some(parse_release(t, &format!("{dists}/Release"))?),
        None => None,
    };
    let inrelease_body =
        read_text(store, &format!("{dists}/InRelease"))?.and_then(|t| clearsigned_body(&t));
    let inrelease = match &inrelease_body {
        Some(body) => Some(parse_release(body, &format!("{dists}/InRelease"))?),
        None => None,
    };
    let has_release_gpg = store.exists(&format!("{dists}/Release.gpg"))?;
    Ok(Previous {
        release_text,
        release,
        inrelease_body,
        inrelease,
        has_release_gpg,
    })
}

/// The suite's components: those the previous Release files list, then
/// `opts.component` if new.
fn suite_components(prev: &Previous, opts: &PublishOptions) -> Vec<String> {
    let mut components: Vec<String> = Vec::new();
    for c in prev
        .releases()
        .flat_map(|r| r.components.iter())
        .chain(std::iter::once(&opts.component))
    {
        if !components.contains(c) {
            components.push(c.clone());
        }
    }
    components
}

/// The suite's architectures (never `all`): those asked for, those the
/// previous Release files list, and those of a `binary-*` directory of any
/// of its components.
fn suite_architectures(
    store: &dyn RepoStore,
    dists: &str,
    prev: &Previous,
    components: &[String],
    opts: &PublishOptions,
) -> Result<BTreeSet<String>> {
    let mut archs: BTreeSet<String> = opts.architectures.iter().cloned().collect();
    for r in prev.releases() {
        archs.extend(r.architectures.iter().cloned());
    }
    for c in components {
        for d in store.list(&format!("{dists}/{c}"))? {
            if let Some(a) = d.strip_prefix("binary-") {
                archs.insert(a.to_string());
            }
        }
    }
    archs.remove("all");
    Ok(archs)
}

/// The component's current contents, from its own indices.
fn read_current(store: &dyn RepoStore, dists: &str, comp: &str) -> Result<BTreeMap<Key, Entry>> {
    let mut current: BTreeMap<Key, Entry> = BTreeMap::new();
    for d in store.list(&format!("{dists}/{comp}"))? {
        if !d.starts_with("binary-") {
            continue;
        }
        let rel = format!("{dists}/{comp}/{d}/Packages");
        let Some(text) = read_text(store, &rel)? else {
            continue;
        };
        for e in parse_packages(&text, &rel)? {
            match current.get(&e.key) {
                Some(old) if old.sha256 != e.sha256 => {
                    return Err(Error::invalid_hint(
                        rel,
                        format!(
                            "lists {} with SHA256 {}, another index of {comp} lists it with {}",
                            e.key, e.sha256, old.sha256
                        ),
                        "the repository is inconsistent; restore it from a backup",
                    ));
                }
                Some(_) => {}
                None => {
                    current.insert(e.key.clone(), e);
                }
            }
        }
    }
    Ok(current)
}

/// New packages: check them all before writing anything. Each goes into
/// `current` (and its architecture into `archs`) and into the report as
/// added or already there; returns the pool files to copy in, each with the
/// .deb it comes from.
fn check_new_packages(
    store: &dyn RepoStore,
    new: &[NewPackage],
    opts: &PublishOptions,
    current: &mut BTreeMap<Key, Entry>,
    archs: &mut BTreeSet<String>,
    report: &mut PublishReport,
) -> Result<Vec<(String, PathBuf)>> {
    let comp = opts.component.as_str();
    let mut to_copy: Vec<(String, PathBuf)> = Vec::new();
    for p in new {
        let origin = p.path.display().to_string();
        let c = &p.info.control;
        let key = Key {
            name: c.get("Package").unwrap_or("").trim().to_string(),
            version: c.get("Version").unwrap_or("").trim().to_string(),
            arch: c.get("Architecture").unwrap_or("").trim().to_string(),
        };
        let in_file = |e: Error| Error::invalid(origin.clone(), e.to_string());
        check_package_name(&key.name).map_err(in_file)?;
        check_version(&key.version).map_err(in_file)?;
        check_package_name(source_name(c)).map_err(in_file)?;
        check_arch(&origin, &key.arch)?;
        if let Some(built) = crate::repo::built_for(c) {
            if built != opts.codename.as_deref().unwrap_or(&opts.suite) {
                return Err(wrong_suite(&origin, built, opts));
            }
        }
        let h = FileHashes {
            size: p.info.size,
            md5: p.info.md5.clone(),
            sha256: p.info.sha256.clone(),
        };
        if let Some(e) = current.get(&key) {
            if e.sha256 != h.sha256 {
                return Err(conflict(&key, &e.filename, &e.sha256, &origin, &h.sha256));
            }
            if !store.exists(&e.filename)? && !to_copy.iter().any(|(r, _)| r == &e.filename) {
                to_copy.push((e.filename.clone(), p.path.clone()));
            }
            report.already.push(key);
            continue;
        }
        let rel = pool_path(&opts.suite, comp, c);
        match store.hash_file(&rel)? {
            Some(ph) if ph.sha256 != h.sha256 => {
                return Err(conflict(&key, &rel, &ph.sha256, &origin, &h.sha256));
            }
            Some(_) => {}
            None => to_copy.push((rel.clone(), p.path.clone())),
        }
        if key.arch != "all" {
            archs.insert(key.arch.clone());
        }
        current.insert(key.clone(), Entry::for_deb(c, &rel, &h));
        report.added.push(key);
    }
    Ok(to_copy)
}

fn require_an_architecture(archs: &BTreeSet<String>, opts: &PublishOptions) -> Result<()> {
    if archs.is_empty() {
        return Err(Error::invalid_hint(
            format!("suite {}", opts.suite),
            "has no architecture to index (the packages are all `Architecture: all`)",
            "pass --arch, e.g. --arch amd64",
        ));
    }
    Ok(())
}

/// `--prune --keep N`: drops from `current` what [`prune`] lets go, and
/// returns their pool files (removed in step 5, if no index lists them).
fn prune_current(
    opts: &PublishOptions,
    current: &mut BTreeMap<Key, Entry>,
    report: &mut PublishReport,
) -> Vec<String> {
    let mut pool_removals = Vec::new();
    if let Some(keep) = opts.prune_keep {
        let entries: Vec<Entry> = current.values().cloned().collect();
        for k in prune(&entries, keep) {
            if let Some(e) = current.remove(&k) {
                pool_removals.push(e.filename);
                report.removed.push(k);
            }
        }
    }
    pool_removals
}

/// 1. Pool files.
fn copy_pool_files(
    store: &mut dyn RepoStore,
    to_copy: &[(String, PathBuf)],
    report: &mut PublishReport,
) -> Result<()> {
    for (rel, src) in to_copy {
        store.copy_in(rel, src)?;
        report.pool_written.push(rel.clone());
    }
    store.checkpoint("after-pool");
    Ok(())
}

/// The component's `Packages`, `Packages.gz` and `Packages.xz` for every
/// architecture of the suite (paths relative to `dists/SUITE/`).
fn render_indices(
    current: &BTreeMap<Key, Entry>,
    archs: &BTreeSet<String>,
    comp: &str,
) -> Vec<(String, Vec<u8>)> {
    let mut sorted: Vec<&Entry> = current.values().collect();
    sorted.sort_by(|a, b| {
        a.key
            .name
            .cmp(&b.key.name)
            .then_with(|| compare_versions(&a.key.version, &b.key.version))
            .then_with(|| a.key.arch.cmp(&b.key.arch))
    });
    let mut ours: Vec<(String, Vec<u8>)> = Vec::new();
    for arch in archs {
        let text = render_packages(
            sorted
                .iter()
                .copied()
                .filter(|e| e.key.arch == *arch || e.key.arch == "all"),
        )
        .into_bytes();
        let (gz, x) = rayon::join(|| gzip(&text), || xz(&text));
        let base = format!("{comp}/binary-{arch}/Packages");
        ours.push((format!("{base}.gz"), gz));
        ours.push((format!("{base}.xz"), x));
        ours.push((base, text));
    }
    ours
}

/// The files the new Release lists with their hashes: `ours`, and the
/// indices of the suite's other components as they are.
fn index_hashes(
    store: &dyn RepoStore,
    dists: &str,
    components: &[String],
    comp: &str,
    ours: &[(String, Vec<u8>)],
) -> Result<BTreeMap<String, FileHashes>> {
    let mut files: BTreeMap<String, FileHashes> = ours
        .iter()
        .map(|(rel, b)| (rel.clone(), hash_bytes(b)))
        .collect();
    for c in components.iter().filter(|c| *c != comp) {
        for d in store.list(&format!("{dists}/{c}"))? {
            if !d.starts_with("binary-") {
                continue;
            }
            for f in ["Packages", "Packages.gz", "Packages.xz"] {
                let rel = format!("{c}/{d}/{f}");
                if let Some(h) = store.hash_file(&format!("{dists}/{rel}"))? {
                    files.insert(rel, h);
                }
            }
        }
    }
    Ok(files)
}

/// The new Release.
fn new_release(
    opts: &PublishOptions,
    archs: &BTreeSet<String>,
    components: &[String],
    files: &BTreeMap<String, FileHashes>,
) -> String {
    let fields = ReleaseFields {
        origin: opts.origin.clone(),
        label: opts.label.clone(),
        suite: opts.suite.clone(),
        codename: opts.codename.clone().unwrap_or_else(|| opts.suite.clone()),
        description: opts.description.clone(),
        date: opts.date,
        valid_until: opts.valid_until,
        architectures: archs.iter().cloned().collect(),
        components: components.to_vec(),
    };
    release_text(&fields, files)
}

/// Up to date already? (A rerun with nothing new, or a finished
/// publish.) The same Release but for its Date, the same signatures
/// state, and every by-hash file there.
fn release_is_current(
    store: &dyn RepoStore,
    dists: &str,
    comp: &str,
    files: &BTreeMap<String, FileHashes>,
    prev: &Previous,
    release: &str,
    signer: Option<&dyn Signer>,
) -> Result<bool> {
    let undated = |t: &str| -> String {
        t.lines()
            .filter(|l| !l.starts_with("Date:"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let same = |t: &Option<String>| t.as_deref().is_some_and(|t| undated(t) == undated(release));
    let signatures_match = match signer {
        Some(_) => same(&prev.inrelease_body) && prev.has_release_gpg,
        None => prev.inrelease_body.is_none() && !prev.has_release_gpg,
    };
    let mut by_hash_present = true;
    for (rel, h) in files {
        if rel.starts_with(&format!("{comp}/"))
            && !store.exists(&format!("{dists}/{}", by_hash_path(rel, &h.sha256)))?
        {
            by_hash_present = false;
            break;
        }
    }
    Ok(same(&prev.release_text) && signatures_match && by_hash_present)
}

/// Nothing added, pruned or missing from the pool, and no Valid-Until to
/// move on.
fn nothing_new(
    report: &PublishReport,
    to_copy: &[(String, PathBuf)],
    opts: &PublishOptions,
) -> bool {
    report.added.is_empty()
        && report.removed.is_empty()
        && to_copy.is_empty()
        && opts.valid_until.is_none()
}

/// The indices' by-hash copies, then the indices.
fn write_indices(
    store: &mut dyn RepoStore,
    dists: &str,
    ours: &[(String, Vec<u8>)],
    files: &BTreeMap<String, FileHashes>,
) -> Result<()> {
    for (rel, bytes) in ours {
        let bh = format!("{dists}/{}", by_hash_path(rel, &files[rel].sha256));
        if !store.exists(&bh)? {
            store.write(&bh, bytes)?;
        }
    }
    for (rel, bytes) in ours {
        store.write(&format!("{dists}/{rel}"), bytes)?;
    }
    store.checkpoint("after-indices");
    Ok(())
}

/// 3. Release, its signatures, InRelease last.
fn write_release(
    store: &mut dyn RepoStore,
    dists: &str,
    release: &str,
    signer: Option<&dyn Signer>,
) -> Result<()> {
    match signer {
        Some(s) => {
            // One after the other: gpg-agent 2.2.40 handed two signings at
            // once with a key just imported fails about one time in 30
            // ("Unmatched parentheses in S-expression"; CI saw it).
            let detached = s.detach_sign(release.as_bytes())?;
            let clear = s.clearsign(release.as_bytes())?;
            store.write(&format!("{dists}/Release"), release.as_bytes())?;
            store.write(&format!("{dists}/Release.gpg"), &detached)?;
            store.write(&format!("{dists}/InRelease"), &clear)?;
        }
        None => {
            // A stale signature would make apt reject the new Release.
            store.remove(&format!("{dists}/InRelease"))?;
            store.remove(&format!("{dists}/Release.gpg"))?;
            store.write(&format!("{dists}/Release"), release.as_bytes())?;
        }
    }
    Ok(())
}

/// 4. By-hash files neither the new nor the previous Release lists.
fn remove_unlisted_by_hash(
    store: &mut dyn RepoStore,
    dists: &str,
    comp: &str,
    files: &BTreeMap<String, FileHashes>,
    prev: &Previous,
) -> Result<()> {
    let keep: BTreeSet<&str> = files
        .values()
        .map(|h| h.sha256.as_str())
        .chain(
            prev.releases()
                .flat_map(|r| r.sha256.values().map(|(_, h)| h.as_str())),
        )
        .collect();
    for d in store.list(&format!("{dists}/{comp}"))? {
        if !d.starts_with("binary-") {
            continue;
        }
        let dir = format!("{dists}/{comp}/{d}/by-hash/SHA256");
        for name in store.list(&dir)? {
            if !keep.contains(name.as_str()) && !name.starts_with(TEMP_PREFIX) {
                store.remove(&format!("{dir}/{name}"))?;
            }
        }
    }
    Ok(())
}

/// 5. Pool files no index of any suite lists any more.
fn remove_unreferenced_pool_files(
    store: &mut dyn RepoStore,
    opts: &PublishOptions,
    current: &BTreeMap<Key, Entry>,
    mut pool_removals: Vec<String>,
    report: &mut PublishReport,
) -> Result<()> {
    if pool_removals.is_empty() {
        return Ok(());
    }
    let comp = opts.component.as_str();
    // Ours from `current`; other suites and components from their indices.
    let mut referenced: BTreeSet<String> = current.values().map(|e| e.filename.clone()).collect();
    for suite in store.list("dists")? {
        for c in store.list(&format!("dists/{suite}"))? {
            if suite == opts.suite && c == comp {
                continue;
            }
            for d in store.list(&format!("dists/{suite}/{c}"))? {
                if !d.starts_with("binary-") {
                    continue;
                }
                let rel = format!("dists/{suite}/{c}/{d}/Packages");
                if let Some(text) = read_text(store, &rel)? {
                    for e in parse_packages(&text, &rel)? {
                        referenced.insert(e.filename);
                    }
                }
            }
        }
    }
    pool_removals.sort();
    pool_removals.dedup();
    for f in pool_removals {
        if !referenced.contains(&f) {
            store.remove(&f)?;
            report.pool_removed.push(f);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::control::Paragraph;
    use std::cell::RefCell;
    use std::path::Path;

    /// A repository in memory that logs every change in order.
    #[derive(Default)]
    struct MemStore {
        files: BTreeMap<String, Vec<u8>>,
        log: RefCell<Vec<String>>,
    }

    impl RepoStore for MemStore {
        fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
            Ok(self.files.get(rel).cloned())
        }
        fn exists(&self, rel: &str) -> Result<bool> {
            Ok(self.files.contains_key(rel))
        }
        fn list(&self, rel_dir: &str) -> Result<Vec<String>> {
            let prefix = format!("{rel_dir}/");
            let mut names: Vec<String> = self
                .files
                .keys()
                .filter_map(|k| k.strip_prefix(&prefix))
                .map(|rest| rest.split('/').next().unwrap().to_string())
                .collect();
            names.dedup();
            Ok(names)
        }
        fn hash_file(&self, rel: &str) -> Result<Option<FileHashes>> {
            Ok(self.files.get(rel).map(|b| hash_bytes(b)))
        }
        fn copy_in(&mut self, rel: &str, src: &Path) -> Result<()> {
            self.log.borrow_mut().push(format!("copy {rel}"));
            self.files
                .insert(rel.into(), src.display().to_string().into_bytes());
            Ok(())
        }
        fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
            self.log.borrow_mut().push(format!("write {rel}"));
            self.files.insert(rel.into(), bytes.to_vec());
            Ok(())
        }
        fn remove(&mut self, rel: &str) -> Result<()> {
            if self.files.remove(rel).is_some() {
                self.log.borrow_mut().push(format!("remove {rel}"));
            }
            Ok(())
        }
        fn checkpoint(&mut self, point: &str) {
            self.log.borrow_mut().push(format!("-- {point}"));
        }
    }

    struct FakeSigner;
    impl Signer for FakeSigner {
        fn clearsign(&self, text: &[u8]) -> Result<Vec<u8>> {
            let mut v = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n".to_vec();
            v.extend_from_slice(text);
            v.extend_from_slice(b"-----BEGIN PGP SIGNATURE-----\nx\n-----END PGP SIGNATURE-----\n");
            Ok(v)
        }
        fn detach_sign(&self, _: &[u8]) -> Result<Vec<u8>> {
            Ok(b"sig".to_vec())
        }
    }

    /// Fails a signing that starts while another one runs.
    #[derive(Default)]
    struct OneAtATime(std::sync::atomic::AtomicBool);
    impl OneAtATime {
        fn sign(&self, text: &[u8]) -> Result<Vec<u8>> {
            use std::sync::atomic::Ordering::SeqCst;
            assert!(!self.0.swap(true, SeqCst), "two signings at once");
            std::thread::sleep(std::time::Duration::from_millis(50));
            self.0.store(false, SeqCst);
            FakeSigner.clearsign(text)
        }
    }
    impl Signer for OneAtATime {
        fn clearsign(&self, text: &[u8]) -> Result<Vec<u8>> {
            self.sign(text)
        }
        fn detach_sign(&self, text: &[u8]) -> Result<Vec<u8>> {
            self.sign(text)
        }
    }

    #[test]
    fn signs_release_and_inrelease_one_after_the_other() {
        let mut s = MemStore::default();
        let signer = OneAtATime::default();
        let r = publish(
            &mut s,
            &[pkg("demo-env-a", "1", "")],
            &opts(),
            Some(&signer),
        )
        .unwrap();
        assert!(r.indices_written);
        assert!(s.files.contains_key("dists/stable/Release.gpg"));
        assert!(s.files.contains_key("dists/stable/InRelease"));
    }

    /// A package whose "file" is its path: MemStore copies the path text.
    fn pkg(name: &str, version: &str, depends: &str) -> NewPackage {
        let path = PathBuf::from(format!("/b/{name}_{version}.deb"));
        let mut text = format!("Package: {name}\nVersion: {version}\nArchitecture: all\n");
        if !depends.is_empty() {
            text.push_str(&format!("Depends: {depends}\n"));
        }
        let h = hash_bytes(path.display().to_string().as_bytes());
        NewPackage {
            info: DebInfo {
                control: Paragraph::parse(&text, "t").unwrap(),
                size: h.size,
                md5: h.md5,
                sha256: h.sha256,
            },
            path,
        }
    }

    fn opts() -> PublishOptions {
        PublishOptions {
            suite: "stable".into(),
            component: "main".into(),
            codename: None,
            origin: "djdd".into(),
            label: "djdd".into(),
            description: None,
            architectures: vec!["amd64".into()],
            date: 0,
            valid_until: None,
            prune_keep: None,
        }
    }

    fn position(log: &[String], prefix: &str) -> Vec<usize> {
        log.iter()
            .enumerate()
            .filter(|(_, l)| l.starts_with(prefix))
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn writes_pool_then_indices_then_release_inrelease_last() {
        let mut s = MemStore::default();
        let new = [
            pkg("demo-env-a", "1", ""),
            pkg("demo-site-x", "1", "demo-env-a"),
        ];
        let r = publish(&mut s, &new, &opts(), Some(&FakeSigner)).unwrap();
        assert_eq!(r.added.len(), 2);
        let log = s.log.borrow().clone();
        let pool = position(&log, "copy pool/");
        let by_hash = position(&log, "write dists/stable/main/binary-amd64/by-hash/");
        let plain = position(&log, "write dists/stable/main/binary-amd64/Packages");
        let release = position(&log, "write dists/stable/Release");
        let inrelease = position(&log, "write dists/stable/InRelease");
        assert_eq!((pool.len(), by_hash.len(), plain.len()), (2, 3, 3));
        assert!(pool.iter().max() < by_hash.iter().min(), "{log:#?}");
        assert!(by_hash.iter().max() < plain.iter().min(), "{log:#?}");
        assert!(plain.iter().max() < release.iter().min(), "{log:#?}");
        assert_eq!(inrelease, [log.len() - 2], "{log:#?}"); // then `-- after-release`
        assert!(
            s.files
                .contains_key("pool/stable/main/d/demo-env-a/demo-env-a_1_all.deb")
        );

        // Nothing new: nothing written.
        s.log.borrow_mut().clear();
        let r = publish(&mut s, &new[..1], &opts(), Some(&FakeSigner)).unwrap();
        assert!(!r.indices_written && r.already.len() == 1);
        assert_eq!(s.log.borrow().as_slice(), ["-- after-pool"]);

        // A changed Release field (or a tampered Release) is rewritten.
        let o = PublishOptions {
            label: "other".into(),
            ..opts()
        };
        assert!(
            publish(&mut s, &[], &o, Some(&FakeSigner))
                .unwrap()
                .indices_written
        );
        let release = String::from_utf8(s.files["dists/stable/Release"].clone()).unwrap();
        assert!(release.contains("\nLabel: other\n"));
        s.files
            .insert("dists/stable/InRelease".into(), b"garbage".to_vec());
        assert!(
            publish(&mut s, &[], &o, Some(&FakeSigner))
                .unwrap()
                .indices_written
        );
        assert!(
            !publish(&mut s, &[], &o, Some(&FakeSigner))
                .unwrap()
                .indices_written
        );
    }

    #[test]
    fn prune_removes_pool_files_after_release_and_old_by_hash_files() {
        let mut s = MemStore::default();
        let v1 = [
            pkg("demo-src-a", "1", ""),
            pkg("demo-site-x", "1", "demo-src-a"),
        ];
        publish(&mut s, &v1, &opts(), None).unwrap();
        let v2 = [
            pkg("demo-src-b", "1", ""),
            pkg("demo-site-x", "2", "demo-src-b"),
        ];
        publish(&mut s, &v2, &opts(), None).unwrap();
        let v3 = [
            pkg("demo-src-c", "1", ""),
            pkg("demo-site-x", "3", "demo-src-c"),
        ];
        publish(&mut s, &v3, &opts(), None).unwrap();
        // Three Releases so far: by-hash keeps the current and previous ones.
        let by_hash = s
            .list("dists/stable/main/binary-amd64/by-hash/SHA256")
            .unwrap();
        assert_eq!(by_hash.len(), 6);

        s.log.borrow_mut().clear();
        let o = PublishOptions {
            prune_keep: Some(1),
            ..opts()
        };
        let r = publish(&mut s, &[], &o, None).unwrap();
        let removed: Vec<String> = r.removed.iter().map(|k| k.to_string()).collect();
        assert_eq!(
            removed,
            [
                "demo-site-x 1 (all)",
                "demo-site-x 2 (all)",
                "demo-src-a 1 (all)",
                "demo-src-b 1 (all)"
            ]
        );
        let log = s.log.borrow().clone();
        let release = position(&log, "write dists/stable/Release")[0];
        let pool_rm = position(&log, "remove pool/");
        assert_eq!(pool_rm.len(), 4);
        assert!(pool_rm.iter().all(|&i| i > release), "{log:#?}");
        assert_eq!(r.total, 2);
    }

    #[test]
    fn packages_built_for_another_release_are_refused_before_anything_is_written() {
        let mut s = MemStore::default();
        let mut trixie = pkg("demo-site-x", "1", "");
        trixie
            .info
            .control
            .set(crate::repo::BUILT_FOR_FIELD, "trixie");
        let bookworm = |suite: &str, codename: Option<&str>| PublishOptions {
            suite: suite.into(),
            codename: codename.map(str::to_string),
            ..opts()
        };
        for o in [bookworm("bookworm", None), bookworm("stable", None)] {
            let e = publish(&mut s, std::slice::from_ref(&trixie), &o, None)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("package /b/demo-site-x_1.deb: was built on a trixie build root (X-Djdd-Suite: trixie) and cannot go into suite "),
                "{e}"
            );
            assert!(e.contains("--suite trixie"), "{e}");
            assert!(s.log.borrow().is_empty(), "{:?}", s.log.borrow());
        }
        // The suite of that codename, under its own name or another one.
        publish(
            &mut s,
            std::slice::from_ref(&trixie),
            &bookworm("trixie", None),
            None,
        )
        .unwrap();
        publish(&mut s, &[trixie], &bookworm("stable", Some("trixie")), None).unwrap();
        assert!(
            s.files
                .contains_key("pool/trixie/main/d/demo-site-x/demo-site-x_1_all.deb")
        );
        assert!(
            s.files
                .contains_key("pool/stable/main/d/demo-site-x/demo-site-x_1_all.deb")
        );
    }

    #[test]
    fn conflicting_bytes_are_refused_before_anything_is_written() {
        let mut s = MemStore::default();
        publish(&mut s, &[pkg("demo-env-a", "1", "")], &opts(), None).unwrap();
        s.log.borrow_mut().clear();
        let mut other = pkg("demo-env-a", "1", "");
        other.info.sha256 = "00".repeat(32);
        let fresh = pkg("demo-env-b", "1", "");
        let e = publish(&mut s, &[fresh, other], &opts(), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("demo-env-a 1 (all)") && e.contains(&"00".repeat(32)),
            "{e}"
        );
        assert!(s.log.borrow().is_empty(), "{:?}", s.log.borrow());
    }

    #[test]
    fn bad_names_are_refused() {
        let mut s = MemStore::default();
        let mut p = pkg("demo-env-a", "1", "");
        p.info.control.set("Source", "../../etc");
        let e = publish(&mut s, &[p], &opts(), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("package name '../../etc'"), "{e}");
        let e = publish(
            &mut s,
            &[],
            &PublishOptions {
                suite: "a/b".into(),
                ..opts()
            },
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("suite 'a/b'"), "{e}");
    }

    #[test]
    fn release_fields_are_one_line_of_text() {
        for (o, needle) in [
            (
                PublishOptions {
                    origin: "x\nSHA256: y".into(),
                    ..opts()
                },
                "--origin 'x\\nSHA256: y': contains a control character",
            ),
            (
                PublishOptions {
                    label: "".into(),
                    ..opts()
                },
                "--label '': is empty",
            ),
            (
                PublishOptions {
                    description: Some("x\n y".into()),
                    ..opts()
                },
                "--description",
            ),
            (
                PublishOptions {
                    origin: " x".into(),
                    ..opts()
                },
                "starts or ends with a space",
            ),
            (
                PublishOptions {
                    codename: Some("a/b".into()),
                    ..opts()
                },
                "--codename 'a/b'",
            ),
        ] {
            let mut s = MemStore::default();
            let e = publish(&mut s, &[], &o, None).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
            assert!(s.files.is_empty(), "{needle}: something was written");
        }
        check_options(&PublishOptions {
            description: Some("Our packages: Django sites (test)".into()),
            ..opts()
        })
        .unwrap();
    }
}
