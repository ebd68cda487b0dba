//! `djdd status [NAME]`: what the build dir holds — the build root (ready?
//! suite, architecture, Python, size; a reminder when the host runs another
//! Debian release than the root), the sources and the commit of each
//! branch, the variants, the env packages cached in D/packages, and the
//! last build of each variant. Reads only (under the shared lock).

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::ExitCode;

use crate::builddir::{BuildDir, format_time};
use crate::buildroot::host::read_host_suite;
use crate::buildroot::{InitState, python_version_of};
use crate::cli::status::StatusArgs;
use crate::ops::variant::{list_names, load, summary};
use crate::rules::names::check_name;
use crate::source::{branches, remote_url, unknown_name};

/// Disk use of a tree (allocated blocks), not crossing into other mounts.
pub fn disk_usage(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .same_file_system(true)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.blocks() * 512)
        .sum()
}

/// Sources of the build dir: NAME of each D/src/NAME.git, sorted.
pub fn source_names(bd: &BuildDir) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(bd.src_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let stem = n.strip_suffix(".git")?;
                    (!stem.starts_with('.')).then(|| stem.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The reminder `status` prints when the host runs another Debian release
/// than the build root (`host`: the host's codename, if known). Not an
/// error: a bookworm host builds for trixie targets and the reverse; the
/// packages are the root's release, never the host's.
pub fn host_suite_reminder(host: Option<&str>, root: &str) -> Option<String> {
    let host = host?;
    (host != root).then(|| {
        format!(
            "warning: this host runs Debian {host}, the build root {root}: the packages built here are for {root} targets (Python and Depends of {root}), not for {host} (a reminder, not an error)"
        )
    })
}

fn mb(bytes: u64) -> String {
    format!("{} MB", bytes.div_ceil(1_000_000))
}

pub fn run(args: &StatusArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    if let Some(n) = &args.name {
        check_name("NAME", n)?;
    }
    let bd = BuildDir::open(dir)?;
    let _shared = bd.lock_shared()?;
    let mut out = String::new();
    let _ = writeln!(out, "build dir: {}", bd.path().display());
    let root = bd.buildroot();
    let mut bad_settings = None;
    let _ = match InitState::read(&bd)? {
        Some(s) if s.done && root.is_dir() => {
            let py = python_version_of(&root)
                .map(|v| format!("Python {v}"))
                .unwrap_or_else(|_| "no Python".to_string());
            let _ = writeln!(
                out,
                "build root: ready, {} {}, {py}, {}, schroot {}, mirror {}",
                s.suite,
                s.arch,
                mb(disk_usage(&root)),
                s.schroot,
                s.mirror
            );
            match host_suite_reminder(read_host_suite().as_deref(), &s.suite) {
                Some(r) => writeln!(out, "{r}"),
                None => Ok(()),
            }
        }
        Some(s) => writeln!(
            out,
            "build root: not finished (steps done: {}); run `djdd init --dir {}`",
            if s.steps.is_empty() {
                "none".to_string()
            } else {
                s.steps.join(", ")
            },
            bd.path().display()
        ),
        None => writeln!(
            out,
            "build root: none; run `djdd init --dir {}`",
            bd.path().display()
        ),
    };
    match bd.read_settings() {
        Ok(s) => {
            if let Some(r) = &s.repo {
                let _ = writeln!(
                    out,
                    "repository: {} (`djdd init --repo`): builds reuse the envs published there{}",
                    r.display(),
                    if r.join("dists").is_dir() {
                        ""
                    } else {
                        " (nothing published yet)"
                    }
                );
            }
        }
        Err(e) => {
            bad_settings = Some(e);
        }
    }
    let names = match &args.name {
        Some(n) => {
            if !bd.source_repo(n).is_dir() {
                return Err(unknown_name(&bd, n).into());
            }
            vec![n.clone()]
        }
        None => source_names(&bd),
    };
    if names.is_empty() {
        let _ = writeln!(
            out,
            "sources: none (add one with `djdd src NAME --clone URL`)"
        );
    }
    let mut bad = false;
    if let Some(e) = bad_settings {
        bad = true;
        let _ = writeln!(out, "settings: BROKEN: {e}");
    }
    for name in &names {
        let repo = bd.source_repo(name);
        let url = remote_url(&repo)?.unwrap_or_else(|| "?".to_string());
        let fetched = std::fs::metadata(repo.join("FETCH_HEAD"))
            .or_else(|_| std::fs::metadata(&repo))
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| format_time(d.as_secs()))
            .unwrap_or_else(|| "?".to_string());
        let _ = writeln!(out, "source {name}: {url}, fetched {fetched}");
        for (b, c) in branches(&repo)? {
            let _ = writeln!(out, "  branch {b} {c}");
        }
        let variants = list_names(&bd, name);
        if variants.is_empty() {
            let _ = writeln!(out, "  variants: none");
        }
        for v in variants {
            match load(&bd, name, &v) {
                Ok(Some(var)) => {
                    let _ = writeln!(out, "  variant {v}: {}", summary(&var));
                }
                Ok(None) => {}
                Err(e) => {
                    bad = true;
                    let _ = writeln!(out, "  variant {v}: BROKEN: {e}");
                }
            }
            match bd.read_last_build(name, &v) {
                Ok(Some(b)) => {
                    let _ = writeln!(
                        out,
                        "    last build {}: commit {}, version {}, env {}, src {}, packages {}",
                        format_time(b.time),
                        b.commit,
                        b.version,
                        b.env_hash,
                        b.src_hash,
                        b.packages.join(" ")
                    );
                }
                Ok(None) => {
                    let _ = writeln!(out, "    last build: never");
                }
                Err(e) => {
                    bad = true;
                    let _ = writeln!(out, "    last build: BROKEN: {e}");
                }
            }
        }
        let mut envs: Vec<(String, u64)> = std::fs::read_dir(bd.packages_dir())
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        (n.starts_with(&format!("{name}-env-")) && n.ends_with(".deb"))
                            .then(|| (n, e.metadata().map(|m| m.len()).unwrap_or(0)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        envs.sort();
        if envs.is_empty() {
            let _ = writeln!(out, "  env packages: none");
        }
        for (n, size) in envs {
            let _ = writeln!(out, "  env package {n} ({})", mb(size));
        }
        let locks = std::fs::read_dir(bd.state_dir().join("env-locks"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.strip_prefix(&format!("{name}-"))
                            .and_then(|rest| rest.strip_suffix(".lock"))
                            .is_some_and(|h| h.len() == 64 && !h.contains('-'))
                    })
                    .count()
            })
            .unwrap_or(0);
        if locks > 0 {
            let _ = writeln!(
                out,
                "  env locks kept: {locks} (an env whose package is gone is rebuilt from its lock)"
            );
        }
    }
    print!("{out}");
    Ok(if bad {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::host_suite_reminder;

    #[test]
    fn reminds_only_when_the_host_runs_another_release() {
        assert_eq!(host_suite_reminder(Some("trixie"), "trixie"), None);
        assert_eq!(host_suite_reminder(None, "trixie"), None);
        let r = host_suite_reminder(Some("bookworm"), "trixie").unwrap();
        assert!(
            r.starts_with("warning: this host runs Debian bookworm, the build root trixie: the packages built here are for trixie targets"),
            "{r}"
        );
        let r = host_suite_reminder(Some("trixie"), "bookworm").unwrap();
        assert!(r.contains("are for bookworm targets"), "{r}");
    }
}
