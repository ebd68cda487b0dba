//! `djdd src NAME --clone URL [--identity KEY]`: keep a mirror clone of a
//! project's repository in `D/src/NAME.git` (git-clone(1) `--mirror`, then
//! `git fetch --prune`), and the git helpers other commands use to read it.
//!
//! git runs with argument arrays only (never a shell), `--` before every
//! value it was handed, no terminal prompt, and only the file, git, http(s)
//! and ssh transports. A clone is made under a temp name and renamed, so a
//! failed or killed clone leaves nothing that looks like a source.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::builddir::BuildDir;
use crate::buildroot::runner::{Cmd, RealRunner, Runner};
use crate::cli::src::SrcArgs;
use crate::error::{Error, Result};
use crate::rules::names::{check_name, shown};

/// Transports git may use (GIT_ALLOW_PROTOCOL): no `ext::`, which runs
/// commands.
const ALLOWED_PROTOCOLS: &str = "file:git:http:https:ssh";

/// A git command with djdd's safe environment.
pub fn git_cmd() -> Cmd {
    Cmd::new("git")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ALLOW_PROTOCOL", ALLOWED_PROTOCOLS)
}

/// Quotes a value for the shell that git runs `core.sshCommand` with.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The ssh command for a deploy key: only that key, never a prompt, and
/// a new host's key accepted on first use.
pub fn ssh_command(key: &Path) -> String {
    format!(
        "ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
        sh_quote(&key.to_string_lossy())
    )
}

/// What kind of URL `--clone` got.
#[derive(Debug, PartialEq, Eq)]
pub enum UrlKind {
    /// A local path (made absolute).
    Path(PathBuf),
    /// Anything git takes as a URL (scheme://, or scp-like user@host:path).
    Remote(String),
}

/// Checks a `--clone` URL: not empty, no leading '-', no control
/// characters; a local path must exist.
pub fn check_url(url: &str) -> Result<UrlKind> {
    let what = format!("--clone {}", shown(url));
    if url.is_empty() {
        return Err(Error::invalid(what, "is empty: give a path or URL"));
    }
    if url.starts_with('-') {
        return Err(Error::invalid(
            what,
            "starts with '-': it would read as a git option",
        ));
    }
    if url.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(what, "contains a control character"));
    }
    if url.contains("::") {
        return Err(Error::invalid(
            what,
            "uses a git remote helper (TRANSPORT::ADDRESS), which djdd does not allow",
        ));
    }
    let scp_like = url
        .split_once(':')
        .is_some_and(|(host, _)| !host.is_empty() && !host.contains('/'));
    if url.contains("://") || scp_like {
        if let Some(rest) = url.strip_prefix("file://")
            && !Path::new(rest).exists()
        {
            return Err(Error::invalid(what, "does not exist"));
        }
        return Ok(UrlKind::Remote(url.to_string()));
    }
    let p = Path::new(url);
    if !p.exists() {
        return Err(Error::invalid(what, "does not exist"));
    }
    Ok(UrlKind::Path(
        p.canonicalize().map_err(|e| Error::io(p, e))?,
    ))
}

/// `(branch, commit)` of every branch of a mirror clone, sorted by name.
pub fn branches(repo: &Path) -> Result<Vec<(String, String)>> {
    let cmd = git_cmd().arg("--git-dir").arg(repo).args([
        "for-each-ref",
        "--format=%(refname:strip=2) %(objectname)",
        "refs/heads/",
    ]);
    let out = RealRunner.check(&cmd)?;
    Ok(out
        .text()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(b, c)| (b.to_string(), c.to_string()))
        .collect())
}

/// The default branch of a mirror clone: the branch its HEAD names (the
/// remote's default branch when it was cloned), if HEAD names one that
/// exists.
pub fn default_branch(repo: &Path) -> Result<Option<String>> {
    let cmd =
        git_cmd()
            .arg("--git-dir")
            .arg(repo)
            .args(["symbolic-ref", "--quiet", "--short", "HEAD"]);
    let out = RealRunner.run(&cmd)?;
    if !out.status.success() {
        return Ok(None);
    }
    let head = out.text();
    Ok(branches(repo)?
        .into_iter()
        .any(|(b, _)| b == head)
        .then_some(head))
}

/// The URL a mirror was cloned from.
pub fn remote_url(repo: &Path) -> Result<Option<String>> {
    let cmd = git_cmd()
        .arg("--git-dir")
        .arg(repo)
        .args(["config", "--get", "remote.origin.url"]);
    let out = RealRunner.run(&cmd)?;
    Ok(out.status.success().then(|| out.text()))
}

/// `git fetch --prune` in a mirror clone (uses its core.sshCommand).
pub fn fetch(repo: &Path) -> Result<()> {
    let cmd = git_cmd()
        .arg("--git-dir")
        .arg(repo)
        .args(["fetch", "--prune", "--quiet", "origin"]);
    RealRunner.check(&cmd).map(|_| ())
}

/// The error for a NAME with no source.
pub fn unknown_name(bd: &BuildDir, name: &str) -> Error {
    Error::invalid_hint(
        format!("unknown NAME {}", shown(name)),
        format!("there is no source {}", bd.source_repo(name).display()),
        format!(
            "add it with `djdd src {name} --clone URL --dir {}`",
            bd.path().display()
        ),
    )
}

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
            if let Some(rest) = n.strip_prefix(&prefix)
                && rest
                    .strip_suffix(".git")
                    .is_some_and(|pid| pid.chars().all(|c| c.is_ascii_digit()))
            {
                let _ = std::fs::remove_dir_all(e.path());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(matches!(
            check_url("https://example.org/x.git").unwrap(),
            UrlKind::Remote(_)
        ));
        assert!(matches!(
            check_url("git@example.org:x.git").unwrap(),
            UrlKind::Remote(_)
        ));
        assert!(matches!(
            check_url("ssh://git@example.org/x.git").unwrap(),
            UrlKind::Remote(_)
        ));
        assert_eq!(check_url("/").unwrap(), UrlKind::Path(PathBuf::from("/")));
        for (bad, needle) in [
            ("", "is empty"),
            ("-uhack", "starts with '-'"),
            ("--upload-pack=touch /tmp/x", "starts with '-'"),
            ("/nonexistent/repo", "does not exist"),
            ("file:///nonexistent/repo", "does not exist"),
            ("ext::sh -c touch% /tmp/pwned", "remote helper"),
            ("a\nb", "control character"),
        ] {
            let e = check_url(bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad:?}: {e}");
        }
    }

    #[test]
    fn ssh_command_quotes_the_key() {
        assert_eq!(
            ssh_command(Path::new("/k/it's key")),
            "ssh -i '/k/it'\\''s key' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new"
        );
    }
}
