//! Which Python installer fills the env: pip (the env's own, as venv
//! installs it) or uv (one pinned version, installed into a tool
//! directory of the build root, never into the env).
//!
//! The one place uv's version and its wheels' sha256 are written. A uv
//! env's HASH has the line `installer uv VERSION` ([`Installer::hash_line`]),
//! so a uv bump rebuilds every uv env; a pip env's canonical text is what
//! it was before djdd knew another installer. Pure values: the choice is
//! read from `DJDD_INSTALLER` by the caller ([`Installer::from_setting`]).

use crate::error::{Error, Result};

/// The uv djdd installs into a build root (`uv==UV_VERSION` from the index
/// pip uses, its wheel checked against [`UV_WHEELS`]). Bump rarely: every
/// uv env's HASH changes with it.
pub const UV_VERSION: &str = "0.13.9";

/// The wheel of [`UV_VERSION`] pip picks on each Debian architecture djdd
/// builds for (a glibc >= 2.28 root), and its sha256 on PyPI.
pub const UV_WHEELS: &[(&str, &str, &str)] = &[
    (
        "amd64",
        "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19",
    ),
    (
        "arm64",
        "uv-0.13.9-py3-none-manylinux_2_28_aarch64.whl",
        "ecb6028d79dc96fbeafffe5c8af62a7099487ebc05a701e76714eebcffd06375",
    ),
];

/// The environment variable that chooses the installer.
pub const INSTALLER_VAR: &str = "DJDD_INSTALLER";

/// The installer of an env build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Installer {
    /// The env's pip: resolves with `pip install --report`, installs a lock
    /// with `--require-hashes`.
    Pip,
    /// uv [`UV_VERSION`]: resolves with `uv pip compile`, installs from the
    /// lock with `--require-hashes`, offline when its cache has every wheel.
    #[default]
    Uv,
}

impl Installer {
    /// The installer `DJDD_INSTALLER` names (`pip` or `uv`; unset or empty:
    /// the default). Anything else is refused, naming the variable.
    pub fn from_setting(value: Option<&str>) -> Result<Installer> {
        match value.map(str::trim) {
            None | Some("") => Ok(Installer::default()),
            Some("pip") => Ok(Installer::Pip),
            Some("uv") => Ok(Installer::Uv),
            Some(other) => Err(Error::invalid(
                format!("{INSTALLER_VAR}={other:?}"),
                "names no installer djdd knows: use `pip` or `uv`",
            )),
        }
    }

    /// `pip` or `uv`.
    pub fn name(self) -> &'static str {
        match self {
            Installer::Pip => "pip",
            Installer::Uv => "uv",
        }
    }

    /// The line of the env's canonical inputs that names the installer:
    /// `installer uv VERSION`; none for pip (the only installer before).
    pub fn hash_line(self) -> Option<String> {
        match self {
            Installer::Pip => None,
            Installer::Uv => Some(format!("installer uv {UV_VERSION}")),
        }
    }
}

/// The sha256 of the uv wheel for Debian architecture `arch`, or an error
/// naming the architectures djdd has a pinned uv for.
pub fn uv_wheel_sha256(arch: &str) -> Result<&'static str> {
    UV_WHEELS
        .iter()
        .find(|(a, _, _)| *a == arch)
        .map(|(_, _, sha)| *sha)
        .ok_or_else(|| {
            Error::invalid_hint(
                format!("{INSTALLER_VAR}=uv on {arch}"),
                format!(
                    "djdd pins uv {UV_VERSION} for {} only",
                    UV_WHEELS
                        .iter()
                        .map(|(a, _, _)| *a)
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
                format!("build with {INSTALLER_VAR}=pip on this architecture"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_names_pip_or_uv_and_nothing_else() {
        assert_eq!(Installer::from_setting(None).unwrap(), Installer::Uv);
        assert_eq!(Installer::from_setting(Some("")).unwrap(), Installer::Uv);
        assert_eq!(Installer::from_setting(Some("uv")).unwrap(), Installer::Uv);
        assert_eq!(
            Installer::from_setting(Some(" pip ")).unwrap(),
            Installer::Pip
        );
        let err = Installer::from_setting(Some("poetry")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("DJDD_INSTALLER") && msg.contains("poetry") && msg.contains("`uv`"),
            "{msg}"
        );
    }

    #[test]
    fn only_uv_adds_a_hash_line_and_it_carries_the_version() {
        assert_eq!(Installer::Pip.hash_line(), None);
        assert_eq!(
            Installer::Uv.hash_line().unwrap(),
            format!("installer uv {UV_VERSION}")
        );
    }

    #[test]
    fn each_pinned_wheel_is_this_version_with_a_sha256() {
        for (arch, wheel, sha) in UV_WHEELS {
            assert!(
                wheel.starts_with(&format!("uv-{UV_VERSION}-")) && wheel.ends_with(".whl"),
                "{arch}: {wheel}"
            );
            assert_eq!(sha.len(), 64);
            assert!(sha.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(uv_wheel_sha256(arch).unwrap(), *sha);
        }
        let err = uv_wheel_sha256("riscv64").unwrap_err().to_string();
        assert!(
            err.contains("amd64 and arm64") && err.contains("DJDD_INSTALLER=pip"),
            "{err}"
        );
    }
}
