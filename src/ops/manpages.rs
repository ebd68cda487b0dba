//! `djdd completions SHELL` and `djdd manpages DIR`: shell completion
//! scripts (clap_complete) and man pages in section 1 (clap_mangen), both
//! generated from the clap definitions in `cli`, so they never drift from
//! the real options. `scripts/make-deb.sh` ships them in djdd's own .deb.
//!
//! The pages are byte-identical on every run (no date): reproducible
//! packages. Writes only into the directory it is given, each page to a
//! temporary name renamed into place; never prints anything but the paths
//! it wrote (or the script). Follows Debian Policy §12.1 (a manual page
//! for every program, section 1 for user commands) and the
//! bash-completion, zsh and fish vendor directories Debian packages use.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;

use crate::error::{Error, Result};

/// Prints the completion script of `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(shell, &mut cmd, "djdd", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// Writes the man pages into `dir` and names them on stdout.
pub fn run(dir: &Path) -> anyhow::Result<ExitCode> {
    for p in write_pages(dir)? {
        println!("{}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The man pages: (file name, roff text) for djdd and each visible
/// subcommand (`djdd-build.1`, ...).
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let mut top = crate::cli::Cli::command().disable_help_subcommand(true);
    top.build();
    let version = top.get_version().unwrap_or_default().to_string();
    let mut out = Vec::new();
    let mut cmds = vec![top.clone()];
    cmds.extend(top.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    let names: Vec<String> = cmds
        .iter()
        .map(|c| c.get_display_name().unwrap_or(c.get_name()).to_string())
        .collect();
    for cmd in cmds {
        let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
        let man = clap_mangen::Man::new(cmd)
            .source(format!("djdd {version}"))
            .manual("djdd manual");
        let mut text = Vec::new();
        man.render(&mut text).expect("rendering into memory");
        // SEE ALSO: the other pages, so `man djdd` leads to every command.
        text.extend_from_slice(b".SH \"SEE ALSO\"\n");
        let others: Vec<String> = names
            .iter()
            .filter(|n| **n != name)
            .map(|n| format!("\\fB{}\\fR(1)", n.replace('-', "\\-")))
            .collect();
        text.extend_from_slice(others.join(", ").as_bytes());
        text.extend_from_slice(b"\n");
        out.push((format!("{name}.1"), text));
    }
    out
}

/// Writes [`pages`] into `dir` (made if missing); returns their paths.
pub fn write_pages(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut written = Vec::new();
    for (name, text) in pages() {
        let path = dir.join(name);
        crate::builddir::write_atomic(&path, &text)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_command_with_its_options() {
        let pages = pages();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        for want in ["djdd.1", "djdd-build.1", "djdd-publish.1", "djdd-pack.1"] {
            assert!(names.contains(&want), "{names:?}");
        }
        assert!(!names.contains(&"djdd-manpages.1"), "hidden: {names:?}");
        let build = &pages.iter().find(|(n, _)| n == "djdd-build.1").unwrap().1;
        let build = String::from_utf8_lossy(build);
        assert!(build.starts_with(".ie"), "{build}");
        assert!(build.contains(".TH djdd-build 1"), "{build}");
        assert!(build.contains("\\-\\-plan"), "{build}");
        assert!(build.contains("\\fBdjdd\\-status\\fR(1)"), "{build}");
        // Deterministic: no date.
        assert_eq!(pages, super::pages());
    }
}
