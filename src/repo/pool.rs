//! Where a package lives in an apt repository's pool.
//!
//! Follows the Debian archive layout (as dak and reprepro lay it out) with
//! one pool per suite: `pool/SUITE/COMPONENT/PREFIX/SOURCE/NAME_VERSION_ARCH.deb`,
//! PREFIX being the source name's first letter, or `lib` and the next letter
//! for `lib*` sources; the file name drops the epoch, as dpkg-name does.
//! The suite is part of the path because djdd counts site versions per build
//! directory: the build hosts of two Debian releases both make
//! `demo-site-blue_1+g..._all.deb`, with other bytes (another env, another
//! Python), and one repository serves both suites only if those files never
//! meet. Pure: computes strings, never touches the disk.

use crate::deb::control::Paragraph;

/// The pool directory prefix of a source package: `libf` for `libfoo`,
/// `f` for `foo` (and `l` for a source named just `lib`).
pub fn pool_prefix(source: &str) -> &str {
    if source.starts_with("lib") && source.len() > 3 {
        &source[..source
            .char_indices()
            .nth(4)
            .map_or(source.len(), |(i, _)| i)]
    } else {
        &source[..source.chars().next().map_or(0, char::len_utf8)]
    }
}

/// The source package name of a binary package: the `Source` field without
/// its `(version)`, or the package name when there is no such field.
pub fn source_name(control: &Paragraph) -> &str {
    control
        .get("Source")
        .and_then(|s| s.split_whitespace().next())
        .or_else(|| control.get("Package"))
        .unwrap_or("")
}

/// The canonical file name of a package, `NAME_VERSION_ARCH.deb`, with the
/// epoch dropped (`1:2.0` -> `2.0`), as dpkg-name and the archive do.
pub fn deb_filename(name: &str, version: &str, arch: &str) -> String {
    let version = version.split_once(':').map_or(version, |(_, v)| v);
    format!("{name}_{version}_{arch}.deb")
}

/// The path of a package in the pool of `suite`, relative to the
/// repository root: `pool/trixie/main/f/foo/foo_1.0_all.deb`.
pub fn pool_path(suite: &str, component: &str, control: &Paragraph) -> String {
    let source = source_name(control);
    let name = control.get("Package").unwrap_or("");
    let version = control.get("Version").unwrap_or("");
    let arch = control.get("Architecture").unwrap_or("");
    format!(
        "pool/{suite}/{component}/{}/{source}/{}",
        pool_prefix(source),
        deb_filename(name, version, arch)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_rule() {
        assert_eq!(pool_prefix("foo"), "f");
        assert_eq!(pool_prefix("libfoo"), "libf");
        assert_eq!(pool_prefix("lib"), "l");
        assert_eq!(pool_prefix("lib3ds"), "lib3");
        assert_eq!(pool_prefix("demo-site-blue"), "d");
    }

    #[test]
    fn paths_use_source_and_drop_epoch() {
        let p = Paragraph::parse(
            "Package: libbar1\nSource: bar (1.0-1)\nVersion: 2:1.0-1\nArchitecture: amd64\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            pool_path("trixie", "main", &p),
            "pool/trixie/main/b/bar/libbar1_1.0-1_amd64.deb"
        );
        let p = Paragraph::parse("Package: libbaz\nVersion: 1\nArchitecture: all\n", "t").unwrap();
        assert_eq!(
            pool_path("bookworm", "contrib", &p),
            "pool/bookworm/contrib/libb/libbaz/libbaz_1_all.deb"
        );
    }
}
