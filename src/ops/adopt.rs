//! `djdd adopt [PATH]`: writes djdd.toml and `PKG/djdd_settings.py` for
//! a project checkout, from what `adopt` decides, and prints what it
//! found, what it could not decide and the next commands.
//!
//! Glue only: lists the checkout's files (not below `.git`, hidden
//! directories, virtualenvs, `node_modules`; no symlink followed), hands
//! them to the pure `adopt` stage and writes its files. Never overwrites:
//! a file already there is left alone, and when one differs from what
//! adopt would write, nothing is written (exit 1) and adopt prints what it
//! would have written. The writing is all or nothing: each file goes to a
//! temporary name beside its place, then is linked into place only if
//! nothing is there yet; if one cannot be placed, those placed are
//! removed again. `--dry-run` prints the files instead.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::adopt::{self, Adoption, Choices, Input, NewFile};
use crate::cli::adopt::AdoptArgs;
use crate::ops::check::DirTree;

/// How deep the file list goes (manage.py at most three directories
/// deep, then the project's packages below it).
const MAX_DEPTH: usize = 8;
/// Most files listed: a checkout with more is cut there.
const MAX_FILES: usize = 50_000;

pub fn run(args: &AdoptArgs) -> anyhow::Result<ExitCode> {
    let given = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let root = given
        .canonicalize()
        .with_context(|| format!("{}: not a directory to adopt", given.display()))?;
    if !root.is_dir() {
        anyhow::bail!("{}: not a directory", given.display());
    }
    // djdd.toml belongs at the repository's root (docs/contract.md): a
    // directory below one (that is not a repository of its own) is not
    // the checkout.
    if !root.join(".git").exists() {
        if let Some(top) = root.ancestors().skip(1).find(|a| a.join(".git").exists()) {
            return Err(crate::ops::Usage(format!(
                "{} is inside the git repository {}: djdd.toml belongs at its root (djdd.toml's `manage` names a manage.py below it)\n  hint: djdd adopt {}",
                given.display(),
                top.display(),
                crate::render::filters::shell_word(&top.to_string_lossy())
            ))
            .into());
        }
    }
    let files = list_files(&root);
    let name = match &args.name {
        Some(n) => {
            crate::rules::names::check_name("NAME", n)?;
            n.clone()
        }
        None => default_name(&root),
    };
    let tree = DirTree { root: root.clone() };
    let input = Input {
        tree: &tree,
        files: &files,
        choices: Choices {
            manage: args.manage.clone(),
            settings: args.settings.clone(),
        },
        name,
        clone: root.to_string_lossy().into_owned(),
    };
    let adoption = adopt::adopt(&input)?;
    let mut out = std::io::stdout().lock();
    report(&mut out, &adoption)?;

    // What is there already.
    let mut missing = Vec::new();
    let mut same = Vec::new();
    let mut differ = Vec::new();
    for f in &adoption.files {
        let at = root.join(&f.path);
        match std::fs::symlink_metadata(&at) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(f),
            Err(e) => return Err(e).with_context(|| format!("reading {}", at.display())),
            Ok(_) => match std::fs::read(&at) {
                Ok(bytes) if bytes == f.text.as_bytes() => same.push(f),
                _ => differ.push(f),
            },
        }
    }
    if args.dry_run {
        writeln!(out, "\n--dry-run: nothing written; the files:")?;
        for f in &adoption.files {
            show(&mut out, f)?;
        }
        for f in &differ {
            writeln!(
                out,
                "\n{} is there and differs: djdd adopt would write nothing (exit 1)",
                f.path
            )?;
        }
        for f in &same {
            writeln!(out, "\n{} is there already, as above", f.path)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !differ.is_empty() {
        writeln!(out, "\nwhat djdd adopt would have written:")?;
        for f in &differ {
            show(&mut out, f)?;
        }
        out.flush()?;
        let names: Vec<&str> = differ.iter().map(|f| f.path.as_str()).collect();
        anyhow::bail!(
            "{} in {} {} from what djdd adopt would write (printed above): nothing was written\n  hint: merge the printed text by hand, or move the file{} away and run djdd adopt again",
            names.join(" and "),
            root.display(),
            if names.len() == 1 {
                "differs"
            } else {
                "differ"
            },
            if names.len() == 1 { "" } else { "s" },
        );
    }
    if missing.is_empty() {
        writeln!(
            out,
            "\n{} already as djdd adopt writes {}: nothing to do",
            same.iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>()
                .join(" and "),
            if same.len() == 1 { "it" } else { "them" }
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    write_all(&root, &missing)?;
    writeln!(out)?;
    for f in &missing {
        writeln!(out, "wrote {}", f.path)?;
    }
    for f in &same {
        writeln!(out, "kept {} (already as djdd adopt writes it)", f.path)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn show(out: &mut impl Write, f: &NewFile) -> std::io::Result<()> {
    writeln!(out, "\n==> {} <==", f.path)?;
    write!(out, "{}", f.text)
}

/// What adopt found, could not decide, and the next commands.
fn report(out: &mut impl Write, a: &Adoption) -> std::io::Result<()> {
    writeln!(out, "found:")?;
    for f in &a.found {
        writeln!(out, "  {f}")?;
    }
    if !a.undecided.is_empty() {
        writeln!(out, "\nnot decided (what decides it after the arrow):")?;
        for u in &a.undecided {
            writeln!(out, "  {}\n    -> {}", u.what, u.key)?;
        }
    }
    writeln!(out, "\nfiles:")?;
    for f in &a.files {
        writeln!(out, "  {}", f.path)?;
    }
    writeln!(out, "\nnext (VARIANT and DOMAIN are yours to choose):")?;
    for n in &a.next {
        writeln!(out, "  {n}")?;
    }
    Ok(())
}

/// Every regular file below `root`, repository-relative and sorted, at
/// most [`MAX_DEPTH`] deep, skipping `.git` and other hidden directories,
/// `__pycache__`, `node_modules` and virtualenvs (a `pyvenv.cfg`).
fn list_files(root: &Path) -> Vec<String> {
    let skip = |e: &walkdir::DirEntry| {
        if e.depth() == 0 || !e.file_type().is_dir() {
            return false;
        }
        let name = e.file_name().to_string_lossy();
        name.starts_with('.')
            || name == "__pycache__"
            || name == "node_modules"
            || e.path().join("pyvenv.cfg").exists()
    };
    let mut files: Vec<String> = walkdir::WalkDir::new(root)
        .max_depth(MAX_DEPTH)
        .into_iter()
        .filter_entry(|e| !skip(e))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            let rel = e.path().strip_prefix(root).ok()?.to_str()?.to_string();
            Some(rel)
        })
        .take(MAX_FILES)
        .collect();
    files.sort();
    files
}

/// A source name from the checkout's directory name
/// (`My_Shop` -> `my-shop`), or `NAME` when none fits.
fn default_name(root: &Path) -> String {
    let dir = root
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let mut name = String::new();
    for c in dir.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-').to_string();
    if crate::rules::names::check_name("NAME", &name).is_ok() {
        name
    } else {
        "NAME".into()
    }
}

/// Writes every file or none: each to a temporary name in its directory,
/// then linked to its place only if nothing is there; on a failure the
/// ones placed are removed again.
fn write_all(root: &Path, files: &[&NewFile]) -> anyhow::Result<()> {
    let mut temps = Vec::new();
    for f in files {
        let dest = root.join(&f.path);
        let dir = dest.parent().unwrap_or(root);
        let mut t = tempfile::Builder::new()
            .prefix(".djdd-adopt-")
            .tempfile_in(dir)
            .with_context(|| format!("writing into {}", dir.display()))?;
        t.write_all(f.text.as_bytes())
            .and_then(|()| t.as_file().sync_all())
            .with_context(|| format!("writing {}", t.path().display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o644))?;
        temps.push((t, dest));
    }
    let mut placed: Vec<PathBuf> = Vec::new();
    for (t, dest) in temps {
        if let Err(e) = t.persist_noclobber(&dest) {
            for p in &placed {
                let _ = std::fs::remove_file(p);
            }
            return Err(e.error)
                .with_context(|| format!("placing {} (nothing was written)", dest.display()));
        }
        placed.push(dest);
    }
    Ok(())
}
