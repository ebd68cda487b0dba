//! `djdd src NAME --clone URL [--identity KEY]`: keep a mirror clone of a
//! project's repository in `D/src/NAME.git` (git-clone(1) `--mirror`, then
//! `git fetch --prune`). The git helpers every command uses to read a
//! mirror are `crate::source`'s.
//!
//! A clone is made under a temp name and renamed, so a failed or killed
//! clone leaves nothing that looks like a source.

use std::path::Path;
use std::process::ExitCode;

use crate::builddir::BuildDir;
use crate::buildroot::runner::{RealRunner, Runner};
use crate::cli::src::SrcArgs;
use crate::error::{Error, Result};
use crate::rules::names::{check_name, shown};
use crate::source::{
    UrlKind, branches, check_url, fetch, git_cmd, remote_url, ssh_command, unknown_name,
};

pub fn run(args: &SrcArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    let name = args.name.as_str();
    check_name("NAME", name)?;
    let kind = args.clone.as_deref().map(check_url).transpose()?;
    let identity = match &args.identity {
        Some(k) => {
            if !k.is_file() {
                return Err(Error::invalid(
                    format!("--identity {}", k.display()),
                    "is not a file (give the private key of the deploy key)",
                )
                .into());
            }
            Some(k.canonicalize().map_err(|e| Error::io(k, e))?)
        }
        None => None,
    };
    let bd = BuildDir::open(dir)?;
    if kind.is_none() && !bd.source_repo(name).is_dir() {
        return Err(unknown_name(&bd, name).into());
    }
    let _shared = bd.lock_shared()?;
    let _src = bd.lock_named(
        &format!("src-{name}"),
        &format!("another djdd cloning or fetching {name}"),
    )?;
    let repo = bd.source_repo(name);
    remove_partial_clones(&bd, name);
    if repo.is_dir() {
        if let Some(k) = &kind {
            let want = match k {
                UrlKind::Path(p) => p.display().to_string(),
                UrlKind::Remote(u) => u.clone(),
            };
            let have = remote_url(&repo)?.unwrap_or_default();
            if have != want {
                return Err(Error::invalid_hint(
                    format!("--clone {}", shown(&want)),
                    format!("{name} is already cloned from {have} ({})", repo.display()),
                    format!("remove {} to clone from another URL", repo.display()),
                )
                .into());
            }
        }
        if let Some(key) = &identity {
            set_ssh_command(&repo, key)?;
        }
        tracing::info!("fetching {name}");
        fetch(&repo)
            .map_err(|e| with_what(e, &format!("fetching {name} into {}", repo.display())))?;
    } else {
        let Some(kind) = kind else {
            return Err(unknown_name(&bd, name).into());
        };
        let url = match &kind {
            UrlKind::Path(p) => p.display().to_string(),
            UrlKind::Remote(u) => u.clone(),
        };
        let tmp = bd
            .src_dir()
            .join(format!(".tmp-{name}-{}.git", std::process::id()));
        tracing::info!("cloning {url} into {}", repo.display());
        let mut cmd = git_cmd()
            .args(["clone", "--mirror", "--quiet", "--"])
            .arg(&url)
            .arg(&tmp);
        if let Some(key) = &identity {
            cmd = cmd.env("GIT_SSH_COMMAND", ssh_command(key));
        }
        let cloned = RealRunner.check(&cmd).and_then(|_| match &identity {
            Some(key) => set_ssh_command(&tmp, key),
            None => Ok(()),
        });
        if let Err(e) = cloned {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(with_what(
                e,
                &format!("--clone {}: git could not clone it", shown(&url)),
            )
            .into());
        }
        std::fs::rename(&tmp, &repo).map_err(|e| Error::io(&repo, e))?;
    }
    let b = branches(&repo)?;
    println!("{name}: {} ({} branches)", repo.display(), b.len());
    for (branch, commit) in b {
        println!("  {branch} {commit}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Keeps a deploy key in the mirror's config, so every later fetch (by
/// `djdd src` or `djdd build`) uses it.
fn set_ssh_command(repo: &Path, key: &Path) -> Result<()> {
    let cmd = git_cmd()
        .arg("--git-dir")
        .arg(repo)
        .args(["config", "core.sshCommand"])
        .arg(ssh_command(key));
    RealRunner.check(&cmd).map(|_| ())
}

/// Removes temp clones of NAME left by a killed djdd (the caller holds
/// NAME's source lock, so none is in progress).
fn remove_partial_clones(bd: &BuildDir, name: &str) {
    let prefix = format!(".tmp-{name}-");
    if let Ok(rd) = std::fs::read_dir(bd.src_dir()) {
        for e in rd.filter_map(|e| e.ok()) {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(rest) = n.strip_prefix(&prefix) {
                if rest
                    .strip_suffix(".git")
                    .is_some_and(|pid| pid.chars().all(|c| c.is_ascii_digit()))
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
}

/// Rewords a git failure as "WHAT: git's message".
fn with_what(e: Error, what: &str) -> Error {
    match e {
        Error::Command { output, status, .. } => Error::invalid(
            what.to_string(),
            if output.trim().is_empty() {
                status
            } else {
                output.trim().to_string()
            },
        ),
        e => e,
    }
}
