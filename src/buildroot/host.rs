//! What the build host itself says: its Debian suite (os-release(5)), its
//! architecture, and the mirror its apt sources use (sources.list(5): the
//! one-line format and the deb822 `.sources` format), which are `djdd
//! init`'s defaults; and whether djdd runs as root.
//!
//! The parsers are pure functions of the files' text; only the small
//! `read_*` functions read the host's files. Never changes the host.

use std::path::Path;

use crate::deb::control::parse_paragraphs;

/// Debian's own mirror, used when the host's apt sources name none.
pub const FALLBACK_MIRROR: &str = "http://deb.debian.org/debian";

/// `VERSION_CODENAME` of an os-release file (quotes removed).
pub fn parse_os_release_codename(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix("VERSION_CODENAME=")?;
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// One apt source: its URI and suites (only `deb` sources, not `deb-src`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub uri: String,
    pub suites: Vec<String>,
}

/// The `deb` lines of a one-line sources.list.
pub fn parse_sources_list(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace().peekable();
        if words.next() != Some("deb") {
            continue;
        }
        // Options: `[arch=amd64 signed-by=...]`, possibly several words.
        if words.peek().is_some_and(|w| w.starts_with('[')) {
            for w in words.by_ref() {
                if w.ends_with(']') {
                    break;
                }
            }
        }
        if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
            out.push(AptSource {
                uri: uri.to_string(),
                suites: vec![suite.to_string()],
            });
        }
    }
    out
}

/// The enabled `deb` entries of a deb822 `.sources` file.
pub fn parse_deb822_sources(text: &str) -> Vec<AptSource> {
    // Comment lines are not deb822 fields.
    let clean: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let Ok(paras) = parse_paragraphs(&clean, "apt sources") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in paras {
        let types = p.get("Types").unwrap_or("");
        if !types.split_whitespace().any(|t| t == "deb") {
            continue;
        }
        if p.get("Enabled").is_some_and(|e| e.trim() == "no") {
            continue;
        }
        let suites: Vec<String> = p
            .get("Suites")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        for uri in p.get("URIs").unwrap_or("").split_whitespace() {
            out.push(AptSource {
                uri: uri.to_string(),
                suites: suites.clone(),
            });
        }
    }
    out
}

/// The mirror for `suite` among `sources`: the first source that carries
/// `suite` itself (not `suite-updates` or `suite-security`), then the first
/// whose URI ends in `/debian`, then [`FALLBACK_MIRROR`].
pub fn pick_mirror(sources: &[AptSource], suite: &str) -> String {
    let usable = |s: &&AptSource| s.uri.starts_with("http://") || s.uri.starts_with("https://");
    sources
        .iter()
        .filter(usable)
        .find(|s| s.suites.iter().any(|x| x == suite))
        .or_else(|| {
            sources
                .iter()
                .filter(usable)
                .find(|s| s.uri.trim_end_matches('/').ends_with("/debian"))
        })
        .map(|s| s.uri.trim_end_matches('/').to_string())
        .unwrap_or_else(|| FALLBACK_MIRROR.to_string())
}

/// The host's suite codename, from /etc/os-release.
pub fn read_host_suite() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .ok()?;
    parse_os_release_codename(&text)
}

/// Every `deb` source of the host: /etc/apt/sources.list and the
/// `*.list` and `*.sources` files of /etc/apt/sources.list.d/.
pub fn read_host_sources(etc_apt: &Path) -> Vec<AptSource> {
    let mut out = Vec::new();
    if let Ok(t) = std::fs::read_to_string(etc_apt.join("sources.list")) {
        out.extend(parse_sources_list(&t));
    }
    let mut files: Vec<_> = std::fs::read_dir(etc_apt.join("sources.list.d"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        let Ok(t) = std::fs::read_to_string(&f) else {
            continue;
        };
        match f.extension().and_then(|e| e.to_str()) {
            Some("list") => out.extend(parse_sources_list(&t)),
            Some("sources") => out.extend(parse_deb822_sources(&t)),
            _ => {}
        }
    }
    out
}

/// Whether djdd runs as root (effective user id 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// The full path of `program` on PATH, if any.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// What systemd says of a calendar expression (systemd.time(7)), asked of
/// this host's `systemd-analyze calendar`: `Ok(None)` when it accepts it,
/// `Ok(Some(why))` with systemd's message when it refuses it. The target
/// runs the same Debian suite's systemd, which reads it the same way.
pub fn calendar_problem(
    runner: &dyn crate::buildroot::runner::Runner,
    expr: &str,
) -> crate::error::Result<Option<String>> {
    let cmd = crate::buildroot::runner::Cmd::new("systemd-analyze")
        .args(["calendar", "--", expr])
        .env("SYSTEMD_COLORS", "0")
        .env("LC_ALL", "C");
    let out = runner.run(&cmd)?;
    if out.status.success() {
        return Ok(None);
    }
    let why = out.last_line().unwrap_or("refused").to_string();
    Ok(Some(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codename_from_os_release() {
        let t = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";
        assert_eq!(parse_os_release_codename(t).as_deref(), Some("bookworm"));
        assert_eq!(
            parse_os_release_codename("VERSION_CODENAME=\"trixie\"").as_deref(),
            Some("trixie")
        );
        assert_eq!(parse_os_release_codename("ID=debian"), None);
    }

    #[test]
    fn one_line_sources() {
        let t = "# comment\ndeb http://ftp.de.debian.org/debian bookworm main\n\
                 deb-src http://src.example/debian bookworm main\n\
                 deb [arch=amd64 signed-by=/k.gpg] https://m.example/debian/ bookworm-updates main # x\n";
        let s = parse_sources_list(t);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].uri, "http://ftp.de.debian.org/debian");
        assert_eq!(s[1].uri, "https://m.example/debian/");
        assert_eq!(s[1].suites, vec!["bookworm-updates"]);
    }

    #[test]
    fn deb822_sources() {
        let t = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
                 Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n\n\
                 Types: deb-src\nURIs: http://x/debian\nSuites: bookworm\n\n\
                 Types: deb\nURIs: http://off/debian\nSuites: bookworm\nEnabled: no\n";
        let s = parse_deb822_sources(t);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(pick_mirror(&s, "bookworm"), "http://deb.debian.org/debian");
    }

    #[test]
    fn mirror_choice() {
        let s = vec![
            AptSource {
                uri: "http://security.debian.org/debian-security".into(),
                suites: vec!["bookworm-security".into()],
            },
            AptSource {
                uri: "http://mirror.example/debian/".into(),
                suites: vec!["bookworm".into()],
            },
        ];
        assert_eq!(pick_mirror(&s, "bookworm"), "http://mirror.example/debian");
        // Another suite: a /debian mirror still serves it.
        assert_eq!(pick_mirror(&s, "trixie"), "http://mirror.example/debian");
        assert_eq!(pick_mirror(&[], "bookworm"), FALLBACK_MIRROR);
        let cdrom = vec![AptSource {
            uri: "cdrom:[Debian]/".into(),
            suites: vec!["bookworm".into()],
        }];
        assert_eq!(pick_mirror(&cdrom, "bookworm"), FALLBACK_MIRROR);
    }
}
