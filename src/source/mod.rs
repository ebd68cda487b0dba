//! The application's source repository: the bare mirror `D/src/NAME.git`
//! that `djdd src` keeps, and the git helpers every command uses to read it
//! (its branches, its default branch, fetching it; resolving a revision,
//! reading a file of a commit and exporting its tree: [`commit`]). Below
//! `ops`, so that no command reaches into a sibling command for them.
//!
//! git runs through `buildroot::runner` with argument arrays only (never a
//! shell), `--` or `--end-of-options` before every value it was handed, no
//! terminal prompt, and only the file, git, http(s) and ssh transports.

use std::path::{Path, PathBuf};

use crate::builddir::BuildDir;
use crate::buildroot::runner::{Cmd, RealRunner, Runner};
use crate::error::{Error, Result};
use crate::rules::names::shown;

pub mod commit;

pub use commit::{archive, check_rev, read_file, resolve, tree_id};

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
        if let Some(rest) = url.strip_prefix("file://") {
            if !Path::new(rest).exists() {
                return Err(Error::invalid(what, "does not exist"));
            }
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
