//! Where each kind of package may install files.
//!
//! Responsible for the allowed-path lists of env, src and site packages and
//! for checking a package member's path against them, so that nothing in a
//! project can make a package that installs outside its own directories
//! (e.g. a symlink or a crafted file name in the repository). Never touches
//! the disk. Paths are those of a .deb's data archive (deb(5)); the
//! directories follow the FHS as Debian Policy ch. 9 applies it.

use super::PackageKind;
use crate::error::{Error, Result};

/// The allowed paths of a package, as strings of three forms:
/// - ending in `/`: that directory and anything beneath it;
/// - holding one `*` (in the last component): a file whose name matches,
///   the `*` standing for any run of `[a-z0-9@._-]` (possibly empty);
/// - otherwise: exactly that file.
///
/// `id` is the env HASH for env, the src HASH for src, the VARIANT for site.
/// `name` and `id` must already be valid (they are parts of package names).
pub fn allowed_prefixes(kind: PackageKind, name: &str, id: &str) -> Vec<String> {
    let pkg = kind.package_name(name, id);
    let mut v = match kind {
        PackageKind::Env => vec![
            format!("/usr/lib/{name}-env/{id}/"),
            format!("/usr/share/{name}-env/{id}/"),
        ],
        PackageKind::Src => vec![format!("/usr/lib/{name}-src/{id}/")],
        PackageKind::Site => {
            let unit = format!("{name}-{id}");
            vec![
                format!("/usr/lib/{name}-site/{id}/"),
                format!("/etc/{name}-site/{id}/"),
                format!("/srv/{name}-site/{id}/"),
                format!("/var/lib/{name}-site/{id}/"),
                format!("/var/log/{name}-site/{id}/"),
                format!("/usr/bin/{unit}"),
                format!("/etc/nginx/sites-available/{unit}"),
                format!("/etc/nginx/sites-enabled/{unit}"),
                format!("/etc/nginx/conf.d/{unit}.conf"),
                format!("/etc/logrotate.d/{name}-site-{id}"),
                format!("/usr/share/man/man8/{unit}.8.gz"),
                format!("/usr/lib/tmpfiles.d/{unit}.conf"),
                format!("/lib/systemd/system/{unit}*.service"),
                format!("/lib/systemd/system/{unit}*.socket"),
                format!("/lib/systemd/system/{unit}*.timer"),
                format!("/lib/systemd/system/{unit}*.target"),
                format!("/lib/systemd/system/redis-server@{unit}.service.d/"),
                format!("/usr/lib/systemd/system/{unit}*.service"),
                format!("/usr/lib/systemd/system/{unit}*.socket"),
                format!("/usr/lib/systemd/system/{unit}*.timer"),
                format!("/usr/lib/systemd/system/{unit}*.target"),
            ]
        }
    };
    v.push(format!("/usr/share/doc/{pkg}/"));
    v.push(format!("/usr/share/lintian/overrides/{pkg}"));
    v
}

/// Checks one member path of a package's data archive. `path` is absolute
/// (`/usr/...`) or in tar form (`./usr/...`); a trailing `/` marks a
/// directory. Refused: empty components, `.` or `..` components, control
/// characters (a newline would corrupt dpkg's file lists), anything not
/// covered by `prefixes`. A directory is also allowed when it is a parent of
/// an allowed path (`/usr/`, `/usr/lib/`, ...), as a .deb must list those.
pub fn check_path(path: &str, prefixes: &[String]) -> Result<()> {
    let what = || format!("package member '{}'", path.escape_debug());
    let rel = path
        .strip_prefix("./")
        .or_else(|| path.strip_prefix('/'))
        .ok_or_else(|| Error::invalid(what(), "must start with '/' or './'"))?;
    if path.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(
            what(),
            "holds a control character (a newline would corrupt dpkg's file list)",
        ));
    }
    if rel.starts_with('/') {
        return Err(Error::invalid(what(), "has an empty component ('//')"));
    }
    let is_dir = rel.is_empty() || rel.ends_with('/');
    let body = rel.strip_suffix('/').unwrap_or(rel);
    if !body.is_empty() {
        for c in body.split('/') {
            match c {
                "" => return Err(Error::invalid(what(), "has an empty component ('//')")),
                "." | ".." => {
                    return Err(Error::invalid(
                        what(),
                        format!("has a '{c}' component; paths must be normalised"),
                    ));
                }
                _ => {}
            }
        }
    }
    let abs = format!("/{body}");
    let allowed = prefixes.iter().any(|p| matches_allowed(&abs, is_dir, p));
    if allowed {
        Ok(())
    } else {
        Err(Error::invalid_hint(
            what(),
            "is outside the paths this package may install",
            format!("allowed: {}", prefixes.join(" ")),
        ))
    }
}

fn matches_allowed(abs: &str, is_dir: bool, allowed: &str) -> bool {
    if let Some(dir) = allowed.strip_suffix('/') {
        if abs == dir || abs.starts_with(allowed) {
            return true;
        }
    } else if let Some((before, after)) = allowed.split_once('*') {
        if !is_dir
            && abs.len() >= before.len() + after.len()
            && abs.starts_with(before)
            && abs.ends_with(after)
            && abs[before.len()..abs.len() - after.len()]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"@._-".contains(&b))
        {
            return true;
        }
    } else if !is_dir && abs == allowed {
        return true;
    }
    // A parent directory of an allowed path.
    is_dir && (abs == "/" || allowed.starts_with(&format!("{abs}/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_package_paths() {
        let p = allowed_prefixes(PackageKind::Env, "shop", "0123456789ab");
        for ok in [
            "./usr/lib/shop-env/0123456789ab/bin/python3",
            "/usr/share/shop-env/0123456789ab/requirements.txt",
            "./usr/share/doc/shop-env-0123456789ab/copyright",
            "./usr/lib/shop-env/0123456789ab/",
            "./usr/lib/shop-env/",
            "./usr/",
            "./",
            "./usr/share/lintian/overrides/shop-env-0123456789ab",
        ] {
            assert!(check_path(ok, &p).is_ok(), "{ok}: {:?}", check_path(ok, &p));
        }
        for bad in [
            "./usr/lib/shop-env/0123456789ac/x",
            "./usr/lib/shop-env/0123456789ab/../../../etc/passwd",
            "./usr/lib/shop-env/0123456789ab/./x",
            "./usr/lib/shop-env/0123456789ab//x",
            "./usr/lib/shop-env/0123456789ab/a\nb",
            "./etc/passwd",
            "./usr/lib/shop-env",
            "./usr/share/doc/shop-env-0123456789ab2/x",
            "usr/lib/shop-env/0123456789ab/x",
            ".//",
            "//usr/",
            "",
        ] {
            assert!(check_path(bad, &p).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn site_package_paths() {
        let p = allowed_prefixes(PackageKind::Site, "shop", "blue");
        for ok in [
            "/usr/lib/shop-site/blue/static/app.css",
            "/var/lib/shop-site/blue/media/",
            "/etc/shop-site/blue/",
            "/var/log/shop-site/blue/",
            "/srv/shop-site/blue/log",
            "/usr/bin/shop-blue",
            "/lib/systemd/system/shop-blue.service",
            "/lib/systemd/system/shop-blue.socket",
            "/lib/systemd/system/shop-blue-celery.service",
            "/etc/nginx/sites-available/shop-blue",
            "/etc/nginx/sites-enabled/shop-blue",
            "/usr/share/doc/shop-site-blue/changelog.gz",
            "/etc/nginx/",
            "/lib/systemd/system/",
        ] {
            assert!(check_path(ok, &p).is_ok(), "{ok}: {:?}", check_path(ok, &p));
        }
        for bad in [
            "/usr/lib/shop-site/red/x",
            "/usr/bin/shop-blue2/x",
            "/usr/bin/shop-red",
            "/usr/bin/shop-blue/",
            "/lib/systemd/system/shop-blue/x.service",
            "/lib/systemd/system/shop-blue.service.d/x.conf",
            "/lib/systemd/system/other.service",
            "/etc/nginx/nginx.conf",
            "/etc/cron.d/shop-blue",
        ] {
            assert!(check_path(bad, &p).is_err(), "{bad}");
        }
    }

    #[test]
    fn src_package_paths_and_the_error_names_what_is_allowed() {
        let p = allowed_prefixes(PackageKind::Src, "shop", "fedcba987654");
        assert!(check_path("./usr/lib/shop-src/fedcba987654/manage.py", &p).is_ok());
        let e = check_path("./usr/lib/shop-env/fedcba987654/x", &p)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("package member './usr/lib/shop-env/fedcba987654/x': is outside"),
            "{e}"
        );
        assert!(
            e.contains("allowed: /usr/lib/shop-src/fedcba987654/"),
            "{e}"
        );
    }
}
