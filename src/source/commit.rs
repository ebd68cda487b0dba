//! One commit of the mirror: resolve a revision to a commit, read files of
//! that commit, and export its tree. Every call is an argument array (never
//! a shell), user values come after `--end-of-options` or as object names
//! djdd built itself, and the repository is the bare mirror `D/src/NAME.git`.

use std::path::Path;

use super::git_cmd;
use crate::buildroot::runner::{Cmd, RealRunner, Runner};
use crate::error::{Error, Result};
use crate::plan::CommitInfo;

fn git(repo: &Path) -> Cmd {
    git_cmd().arg("--git-dir").arg(repo)
}

fn run(cmd: Cmd) -> Result<Vec<u8>> {
    Ok(RealRunner.check(&cmd)?.stdout)
}

/// Checks a revision given on the command line before git sees it: no
/// leading `-` (an option), no control characters, no shell or revision
/// syntax djdd does not need (`^{`, `@{`, `..`, `:`).
pub fn check_rev(rev: &str) -> Result<()> {
    let rule = "a revision is a commit id, a tag or a branch name: no leading '-', no spaces, quotes, control characters, '..', ':', '^', '~', '@{', '$' or backticks";
    let bad = rev.is_empty()
        || rev.starts_with('-')
        || rev.contains("..")
        || rev.contains("@{")
        || rev
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "'\"`$\\:^~?*[;&|<>()".contains(c));
    if bad {
        return Err(Error::invalid(
            format!("--version '{}'", rev.escape_debug()),
            rule,
        ));
    }
    Ok(())
}

/// Resolves `rev` (a commit, tag or branch of the mirror) to its commit.
/// `branch` names the variant's branch when `rev` is None.
pub fn resolve(repo: &Path, rev: Option<&str>, branch: &str) -> Result<CommitInfo> {
    let spec = match rev {
        Some(r) => {
            check_rev(r)?;
            // A branch name is looked up among the branches first (as git
            // does for a tag/branch clash, djdd prefers the branch).
            let as_branch = format!("refs/heads/{r}");
            if ref_exists(repo, &as_branch) {
                as_branch
            } else {
                r.to_string()
            }
        }
        None => format!("refs/heads/{branch}"),
    };
    let out = RealRunner.run(
        &git(repo)
            .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
            .arg(format!("{spec}^{{commit}}")),
    )?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || id.is_empty() {
        let what = match rev {
            Some(r) => format!("revision '{}'", r.escape_debug()),
            None => format!("branch '{branch}'"),
        };
        return Err(Error::invalid_hint(
            what,
            format!("does not name a commit in {}", repo.display()),
            "give a commit id, tag or branch that `git ls-remote` shows for the source (djdd fetched it just now)",
        ));
    }
    let time = String::from_utf8_lossy(&run(git(repo).args(["show", "-s", "--format=%ct", &id]))?)
        .trim()
        .parse::<i64>()
        .map_err(|_| Error::invalid(format!("commit {id}"), "has no readable commit time"))?;
    Ok(CommitInfo { id, time })
}

/// The git tree id of `commit` (a full commit id djdd resolved).
pub fn tree_id(repo: &Path, commit: &str) -> Result<String> {
    let out = run(git(repo).args(["show", "-s", "--format=%T", "--end-of-options", commit]))?;
    let id = String::from_utf8_lossy(&out).trim().to_string();
    if !crate::plan::hash::is_object_id(&id) {
        return Err(Error::invalid(
            format!("commit {commit}"),
            format!("git names no tree for it ({id:?})"),
        ));
    }
    Ok(id)
}

fn ref_exists(repo: &Path, full_ref: &str) -> bool {
    RealRunner
        .run(
            &git(repo)
                .args(["show-ref", "--verify", "--quiet", "--end-of-options"])
                .arg(full_ref),
        )
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Reads the regular file `path` of `commit`; None when it does not exist.
/// A symlink, directory or submodule at `path` is an error naming it (a
/// symlink's "content" would be its target).
pub fn read_file(repo: &Path, commit: &str, path: &str) -> Result<Option<Vec<u8>>> {
    let out = run(git(repo).args(["ls-tree", "-z", commit, "--"]).arg(path))?;
    let entry = out.split(|b| *b == 0).find(|e| !e.is_empty());
    let Some(entry) = entry else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(entry);
    let (meta, _name) = text.split_once('\t').unwrap_or((&text, ""));
    let parts: Vec<&str> = meta.split(' ').collect();
    let (mode, kind, oid) = match parts.as_slice() {
        [m, k, o] => (*m, *k, *o),
        _ => return Ok(None),
    };
    if kind != "blob" || !(mode == "100644" || mode == "100755") {
        let what = if mode == "120000" {
            "a symlink"
        } else if kind == "tree" {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(Error::invalid(
            format!("{path} (commit {commit})"),
            format!("is {what}; djdd reads it as a regular file"),
        ));
    }
    Ok(Some(run(git(repo).args(["cat-file", "blob", oid]))?))
}

/// The tree of `commit` as an uncompressed tar (`git archive`): every
/// member's mtime is the commit time.
pub fn archive(repo: &Path, commit: &str) -> Result<Vec<u8>> {
    run(git(repo).args(["archive", "--format=tar", commit]))
}
