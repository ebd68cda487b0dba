//! `djdd publish`: pick the .debs to publish, read them, sign with gpg, and
//! run `repo::publish` on the repository; remember what was published.
//!
//! The glue around the repository procedure: which packages (by default the
//! .debs in DIR/packages not yet recorded in DIR/state/published/ for this
//! repository, suite and component), which key (gpg CLI: a djdd-owned
//! GNUPGHOME in DIR/gnupg made by `--init-key`, a key of the user's gpg
//! home, or an imported key file), and the record of what was published
//! (written atomically, under the repository lock). It never decides what a
//! repository contains: that is `repo::publish`, following the Debian
//! repository format.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::buildroot::InitState;
use crate::buildroot::runner::{Cmd, RealRunner, Runner};
use crate::cli::publish::PublishArgs;
use crate::deb::read::{hash_bytes, read_deb};
use crate::error::Error;
use crate::repo::built_for;
use crate::repo::publish::{NewPackage, PublishOptions, PublishReport, Signer, publish};
use crate::repo::store::{DryRunStore, FsStore, RepoStore};

/// The build directory paths publish uses (kept small so the builddir
/// module can replace them).
struct Layout {
    packages: PathBuf,
    state: PathBuf,
    gnupg: PathBuf,
}

impl Layout {
    fn new(dir: &Path) -> Layout {
        Layout {
            packages: dir.join("packages"),
            state: dir.join("state"),
            gnupg: dir.join("gnupg"),
        }
    }
}

pub fn run(args: &PublishArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    let layout = Layout::new(dir);
    if args.init_key {
        let (fpr, created) = ensure_key(&layout.gnupg)?;
        if created {
            println!("created signing key {fpr} in {}", layout.gnupg.display());
        } else {
            println!(
                "signing key {fpr} already exists in {}",
                layout.gnupg.display()
            );
        }
    }
    let Some(repo) = args.repo.as_deref() else {
        return Ok(ExitCode::SUCCESS);
    };
    let repo = std::path::absolute(repo).with_context(|| format!("--repo {}", repo.display()))?;

    let signer = if args.unsigned {
        None
    } else {
        Some(pick_signer(args, &layout)?)
    };

    let architectures = if args.arch.is_empty() {
        vec![host_arch()?]
    } else {
        args.arch.clone()
    };
    // Packages named on the command line are read first: with neither
    // --suite nor a build root, they say which suite they are for.
    let named: Vec<NewPackage> = if args.prune {
        Vec::new()
    } else {
        read_debs(&args.packages)?
    };
    let suite = match (&args.suite, build_root_suite(dir)?) {
        (Some(s), _) => s.clone(),
        (None, Some(root)) => root,
        (None, None) => suite_of(&named, dir)?,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let opts = PublishOptions {
        suite,
        component: args.component.clone(),
        codename: args.codename.clone(),
        origin: args.origin.clone(),
        label: args.label.clone(),
        description: args.description.clone(),
        architectures,
        date: now,
        valid_until: args.valid_for.map(|d| now + i64::from(d) * 86_400),
        prune_keep: args.prune.then_some(args.keep as usize),
    };
    crate::repo::publish::check_options(&opts)?;

    let record_path = record_path(&layout, &repo, &opts.suite, &opts.component);
    let new: Vec<NewPackage> = if args.prune || !args.packages.is_empty() {
        named
    } else if args.init_key && !layout.packages.exists() {
        // Setting up before the first build: an empty, signed repository.
        tracing::info!(
            "{} does not exist yet: nothing to add",
            layout.packages.display()
        );
        Vec::new()
    } else {
        let record = Record::load(&record_path)?;
        let codename = opts.codename.as_deref().unwrap_or(&opts.suite);
        // Packages built on a root of another release (before the build
        // root was made again for another suite) wait for their own suite.
        let (ours, others): (Vec<NewPackage>, Vec<NewPackage>) =
            read_debs(&unpublished(&layout.packages, &record)?)?
                .into_iter()
                .partition(|p| built_for(&p.info.control).is_none_or(|b| b == codename));
        for p in &others {
            let b = built_for(&p.info.control).unwrap_or_default();
            println!(
                "skipped {} (built on a {b} build root: publish it with --suite {b})",
                p.path.display()
            );
        }
        ours
    };

    let signer_ref = signer.as_ref().map(|s| s as &dyn Signer);
    if args.dry_run {
        let mut store = DryRunStore::new(&repo);
        let dry = DrySigner;
        let report = publish(
            &mut store,
            &new,
            &opts,
            signer.as_ref().map(|_| &dry as &dyn Signer),
        )?;
        print_report(&report, &repo, &opts);
        for op in &store.ops {
            println!("would {op}");
        }
        return Ok(ExitCode::SUCCESS);
    }

    let mut store = FsStore::open(&repo)?;
    let report = publish(&mut store, &new, &opts, signer_ref)?;
    if let Some(s) = &signer {
        export_public_key(s, &mut store)?;
    }
    // Under the repository lock: re-read the record, add what we published.
    let mut record = Record::load(&record_path)?;
    record.repo = repo.display().to_string();
    record.suite = opts.suite.clone();
    record.component = opts.component.clone();
    let mut changed = false;
    for p in &new {
        if p.path.parent() == Some(layout.packages.as_path()) {
            if let Some(stamp) = Stamp::of(&p.path)? {
                let name = p.path.file_name().unwrap().to_string_lossy().into_owned();
                if record.files.get(&name) != Some(&stamp) {
                    record.files.insert(name, stamp);
                    changed = true;
                }
            }
        }
    }
    if changed {
        record.save(&record_path)?;
    }
    drop(store);
    print_report(&report, &repo, &opts);
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &PublishReport, repo: &Path, opts: &PublishOptions) {
    for k in &r.added {
        println!("added {k}");
    }
    for k in &r.already {
        println!("already published {k}");
    }
    for k in &r.removed {
        println!("pruned {k}");
    }
    for f in &r.pool_removed {
        println!("removed {f}");
    }
    if r.indices_written {
        println!(
            "{}: updated {}/{}, which lists {} package(s)",
            repo.display(),
            opts.suite,
            opts.component,
            r.total
        );
    } else {
        println!(
            "{}: {}/{} is up to date ({} package(s))",
            repo.display(),
            opts.suite,
            opts.component,
            r.total
        );
    }
}

/// Reads the .deb files (in parallel): control fields and hashes.
fn read_debs(files: &[PathBuf]) -> anyhow::Result<Vec<NewPackage>> {
    files
        .par_iter()
        .map(|p| -> anyhow::Result<NewPackage> {
            let f = std::fs::File::open(p).map_err(|e| Error::io(p, e))?;
            let info = read_deb(
                BufReader::with_capacity(1 << 16, f),
                &p.display().to_string(),
            )?;
            Ok(NewPackage {
                path: p.clone(),
                info,
            })
        })
        .collect()
}

/// The Debian suite (codename) of DIR's build root, as `djdd init`
/// recorded it; None when DIR has none.
fn build_root_suite(dir: &Path) -> anyhow::Result<Option<String>> {
    let path = dir.join("state/init.toml");
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(Some(
            InitState::parse(&t, &path.display().to_string())?.suite,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path, e).into()),
    }
}

/// The one suite the packages were built for (each says it in
/// [`crate::repo::BUILT_FOR_FIELD`]): the default suite when DIR has no
/// build root.
fn suite_of(packages: &[NewPackage], dir: &Path) -> anyhow::Result<String> {
    let said: std::collections::BTreeSet<&str> = packages
        .iter()
        .filter_map(|p| built_for(&p.info.control))
        .collect();
    let problem = match said.len() {
        1 if packages
            .iter()
            .all(|p| built_for(&p.info.control).is_some()) =>
        {
            return Ok(said.into_iter().next().unwrap().to_string());
        }
        0 | 1 => "the packages do not say which Debian release they were built for".to_string(),
        _ => format!(
            "the packages were built for several Debian releases ({}), which never share an index",
            said.into_iter().collect::<Vec<_>>().join(", ")
        ),
    };
    Err(Error::invalid_hint(
        "--suite",
        format!(
            "is not given, {} has no build root to take it from, and {problem}",
            dir.display()
        ),
        "pass --suite with the codename of the targets' Debian release, e.g. --suite trixie",
    )
    .into())
}

/// This host's Debian architecture: known Rust targets directly, else
/// `dpkg --print-architecture`.
fn host_arch() -> anyhow::Result<String> {
    let known = match (std::env::consts::ARCH, cfg!(target_endian = "little")) {
        ("x86_64", _) => Some("amd64"),
        ("aarch64", _) => Some("arm64"),
        ("x86", _) => Some("i386"),
        ("powerpc64", true) => Some("ppc64el"),
        ("s390x", _) => Some("s390x"),
        ("riscv64", _) => Some("riscv64"),
        _ => None,
    };
    if let Some(a) = known {
        return Ok(a.to_string());
    }
    let out = RealRunner.run(&Cmd::new("dpkg").arg("--print-architecture"))?;
    if !out.status.success() {
        bail!("`dpkg --print-architecture` failed; pass --arch");
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

// ---------------------------------------------------------------------
// What was published: DIR/state/published/<hash>.toml

/// A package file as it was when published: if either changes, it is new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime_ns: i128,
}

impl Stamp {
    fn of(p: &Path) -> anyhow::Result<Option<Stamp>> {
        let m = match std::fs::metadata(p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(p, e).into()),
        };
        let mtime_ns = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        Ok(Some(Stamp {
            size: m.len(),
            mtime_ns,
        }))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    #[serde(default)]
    repo: String,
    #[serde(default)]
    suite: String,
    #[serde(default)]
    component: String,
    /// File name in DIR/packages -> its stamp when published.
    #[serde(default)]
    files: BTreeMap<String, Stamp>,
}

impl Record {
    fn load(path: &Path) -> anyhow::Result<Record> {
        match std::fs::read_to_string(path) {
            Ok(t) => toml::from_str(&t).with_context(|| {
                format!(
                    "{}: the publish record is damaged (delete it to publish every package again)",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
            Err(e) => Err(Error::io(path, e).into()),
        }
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        let dir = path.parent().expect("record has a parent");
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        tmp.write_all(toml::to_string(self)?.as_bytes())
            .map_err(|e| Error::io(tmp.path(), e))?;
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
        Ok(())
    }
}

fn record_path(layout: &Layout, repo: &Path, suite: &str, component: &str) -> PathBuf {
    let key = format!("{}\n{suite}\n{component}", repo.display());
    let h = hash_bytes(key.as_bytes()).sha256;
    layout
        .state
        .join("published")
        .join(format!("{}.toml", &h[..16]))
}

/// The .debs in DIR/packages whose stamp is not in the record, sorted.
fn unpublished(packages: &Path, record: &Record) -> anyhow::Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(packages) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::invalid_hint(
                packages.display().to_string(),
                "does not exist: there are no built packages to publish",
                "run `djdd build` first, or name .deb files to publish",
            )
            .into());
        }
        Err(e) => return Err(Error::io(packages, e).into()),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io(packages, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".deb") || name.starts_with('.') {
            continue;
        }
        let p = e.path();
        let Some(stamp) = Stamp::of(&p)? else {
            continue;
        };
        if record.files.get(&name) != Some(&stamp) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

// ---------------------------------------------------------------------
// Signing with the gpg CLI.

/// A key in a gpg home (None: the user's default home).
pub struct Gpg {
    home: Option<PathBuf>,
    key: String,
}

fn gpg(home: Option<&Path>) -> Cmd {
    let c = Cmd::new("gpg");
    let c = match home {
        Some(h) => c.arg("--homedir").arg(h),
        None => c,
    };
    c.args(["--batch", "--no-tty", "--quiet"])
}

/// Runs gpg, feeding `input`, returning stdout; errors carry what gpg said.
fn run_gpg(c: Cmd, input: &[u8], what: &str) -> anyhow::Result<Vec<u8>> {
    // Through a writer: the runner's captured stdout is read line by line,
    // and gpg's output may be binary (`--export`).
    let mut stdout = Vec::new();
    let out = RealRunner.run_io(&c.stdin(input.to_vec()), None, Some(&mut stdout))?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("gpg {what}"),
            status: out.status.to_string(),
            output: out.tail,
        }
        .into());
    }
    Ok(stdout)
}

impl Gpg {
    fn sign(&self, text: &[u8], mode: &[&str]) -> crate::Result<Vec<u8>> {
        let c = gpg(self.home.as_deref())
            .args(["--local-user", &self.key, "--digest-algo", "SHA512"])
            .args(mode)
            .args(["--output", "-"]);
        run_gpg(
            c,
            text,
            &format!("{} --local-user {}", mode.join(" "), self.key),
        )
        .map_err(|e| {
            Error::invalid_hint(
                format!("signing key {}", self.key),
                format!("signing the Release failed: {e:#}"),
                "check the key exists and has no passphrase, or pass --unsigned",
            )
        })
    }
}

impl Signer for Gpg {
    fn clearsign(&self, text: &[u8]) -> crate::Result<Vec<u8>> {
        self.sign(text, &["--clearsign"])
    }

    fn detach_sign(&self, text: &[u8]) -> crate::Result<Vec<u8>> {
        self.sign(text, &["--armor", "--detach-sign"])
    }
}

/// Signs nothing: what a dry run hands the procedure.
struct DrySigner;

impl Signer for DrySigner {
    fn clearsign(&self, _: &[u8]) -> crate::Result<Vec<u8>> {
        Ok(Vec::new())
    }
    fn detach_sign(&self, _: &[u8]) -> crate::Result<Vec<u8>> {
        Ok(Vec::new())
    }
}

/// Fingerprints of the secret keys in a gpg home (`--with-colons` output).
fn secret_fingerprints(home: Option<&Path>, key: Option<&str>) -> Vec<String> {
    let mut c = gpg(home).args(["--with-colons", "--list-secret-keys"]);
    if let Some(k) = key {
        c = c.arg(k);
    }
    let Ok(out) = RealRunner.run(&c) else {
        return Vec::new();
    };
    if !out.status.success() {
        return Vec::new();
    }
    fingerprints_after(&String::from_utf8_lossy(&out.stdout), "sec")
}

/// The `fpr` records that follow each `kind` record in colon listings.
fn fingerprints_after(colons: &str, kind: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut want = false;
    for line in colons.lines() {
        let f: Vec<&str> = line.split(':').collect();
        match f.first().copied() {
            Some(k) if k == kind => want = true,
            Some("fpr") if want => {
                if let Some(fpr) = f.get(9) {
                    out.push(fpr.to_string());
                }
                want = false;
            }
            _ => {}
        }
    }
    out
}

fn private_dir(p: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(p, e))?;
    }
    Ok(())
}

/// The signing key in DIR/gnupg, created (ed25519, no passphrase) when
/// missing; returns its fingerprint and whether it was created.
fn ensure_key(home: &Path) -> anyhow::Result<(String, bool)> {
    private_dir(home)?;
    if let Some(fpr) = secret_fingerprints(Some(home), None).into_iter().next() {
        return Ok((fpr, false));
    }
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let uid = if host.is_empty() {
        "djdd repository signing key".to_string()
    } else {
        format!("djdd repository signing key ({host})")
    };
    let c = gpg(Some(home)).args([
        "--passphrase",
        "",
        "--quick-gen-key",
        &uid,
        "ed25519",
        "sign",
        "never",
    ]);
    run_gpg(c, b"", "--quick-gen-key")?;
    match secret_fingerprints(Some(home), None).into_iter().next() {
        Some(fpr) => Ok((fpr, true)),
        None => bail!("gpg made no key in {}", home.display()),
    }
}

fn pick_signer(args: &PublishArgs, layout: &Layout) -> anyhow::Result<Gpg> {
    if let Some(key) = &args.sign_key {
        let path = Path::new(key);
        if path.is_file() {
            // An armored secret key file: import into a private home.
            let home = layout.state.join("gnupg");
            private_dir(&home)?;
            let show = gpg(Some(&home))
                .args(["--with-colons", "--import-options", "show-only", "--import"])
                .arg(path);
            let listing = run_gpg(show, b"", "--import-options show-only")?;
            let Some(fpr) = fingerprints_after(&String::from_utf8_lossy(&listing), "sec")
                .into_iter()
                .next()
            else {
                return Err(Error::invalid_hint(
                    format!("--sign-key {key}"),
                    "the file holds no secret key",
                    "export one with `gpg --armor --export-secret-keys KEYID > FILE`",
                )
                .into());
            };
            let import = gpg(Some(&home)).arg("--import").arg(path);
            run_gpg(import, b"", "--import")?;
            return Ok(Gpg {
                home: Some(home),
                key: fpr,
            });
        }
        if layout.gnupg.is_dir() && !secret_fingerprints(Some(&layout.gnupg), Some(key)).is_empty()
        {
            return Ok(Gpg {
                home: Some(layout.gnupg.clone()),
                key: key.clone(),
            });
        }
        if !secret_fingerprints(None, Some(key)).is_empty() {
            return Ok(Gpg {
                home: None,
                key: key.clone(),
            });
        }
        return Err(Error::invalid_hint(
            format!("--sign-key {key}"),
            format!(
                "no such secret key in {} or the default gpg home, and no such file",
                layout.gnupg.display()
            ),
            "list keys with `gpg --list-secret-keys`, or pass --init-key to create one",
        )
        .into());
    }
    if layout.gnupg.is_dir() {
        if let Some(fpr) = secret_fingerprints(Some(&layout.gnupg), None)
            .into_iter()
            .next()
        {
            return Ok(Gpg {
                home: Some(layout.gnupg.clone()),
                key: fpr,
            });
        }
    }
    Err(Error::invalid_hint(
        "djdd publish",
        format!("no signing key: {} holds none", layout.gnupg.display()),
        "pass --init-key to create one (once), --sign-key KEY to use yours, or --unsigned",
    )
    .into())
}

/// Writes the signing key's public part to REPO/KEY.gpg (binary, for
/// `signed-by`) and REPO/KEY.asc (armored), when they differ.
fn export_public_key(g: &Gpg, store: &mut FsStore) -> anyhow::Result<()> {
    // Skip the two gpg runs when this key was exported last time.
    const MARK: &str = ".djdd/exported-key";
    if store.read(MARK)?.as_deref() == Some(g.key.as_bytes())
        && store.exists("KEY.gpg")?
        && store.exists("KEY.asc")?
    {
        return Ok(());
    }
    for (name, armor) in [("KEY.gpg", false), ("KEY.asc", true)] {
        let mut c = gpg(g.home.as_deref());
        if armor {
            c = c.arg("--armor");
        }
        let c = c.args(["--export", &g.key]);
        let bytes = run_gpg(c, b"", "--export")?;
        if bytes.is_empty() {
            bail!("gpg exported nothing for key {}", g.key);
        }
        if store.read(name)?.as_deref() != Some(&bytes[..]) {
            store.write(name, &bytes)?;
        }
    }
    store.write(MARK, g.key.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colon_listing_fingerprints() {
        let listing = "sec:u:255:22:AAAA:1:::u:::scESC:::+:::ed25519:::0:\n\
                       fpr:::::::::0123456789ABCDEF0123456789ABCDEF01234567:\n\
                       grp:::::::::X:\nuid:u::::1::H::djdd::::::::::0:\n\
                       ssb:u:255:18:BBBB:1::::::e:::+:::cv25519::\n\
                       fpr:::::::::FFFF:\n";
        assert_eq!(
            fingerprints_after(listing, "sec"),
            ["0123456789ABCDEF0123456789ABCDEF01234567"]
        );
    }

    #[test]
    fn record_is_per_repo_suite_component() {
        let l = Layout::new(Path::new("/d"));
        let a = record_path(&l, Path::new("/r"), "stable", "main");
        let b = record_path(&l, Path::new("/r"), "testing", "main");
        assert_ne!(a, b);
        assert!(a.starts_with("/d/state/published"));
    }
}
