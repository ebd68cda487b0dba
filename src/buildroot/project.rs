//! The project itself in the env (djdd.toml's `env.install_project`):
//! after its dependencies are installed, the commit's tree is unpacked at a
//! fixed path of the root, `/build/project-HASH` (HASH: the env's), a
//! wheel of it is built there by the project's own build backend (`pip
//! wheel --no-deps --use-pep517`, as an sdist is: the backend from the
//! index in an isolated environment, `-ffile-prefix-map` to `.`,
//! SOURCE_DATE_EPOCH the env's), and the env's pip installs that wheel
//! without dependencies or bytecode (the env's compile makes that). Its
//! `direct_url.json`, which names the wheel's path in the root, is
//! dropped; its `REQUESTED` mark stays (it is what was asked for).
//!
//! Effects only, through [`super::steps`]; never writes outside the build
//! root.

use crate::buildroot::install::{EnvBuild, drop_dist_file};
use crate::buildroot::sdists::{BUILD_DIR, only_file, prefix_map_flags, with_var};
use crate::buildroot::source_tree::unpack_tree;
use crate::buildroot::steps::{
    PIP_TIMEOUT, make_build_dir, remove_in_root, run_step, run_step_metered,
};
use crate::buildroot::{BUILD_USER, BuildRoot};
use crate::error::{Error, Result};

/// Where the project's tree is built inside the root, for the env at
/// `env_dir` (`/usr/lib/NAME-env/HASH`): `/build/project-HASH`.
pub fn build_path(env_dir: &str) -> String {
    let hash = env_dir.rsplit('/').next().unwrap_or_default();
    format!("{BUILD_DIR}/project-{hash}")
}

/// Builds the project's wheel from `tar` (the commit's `git archive`) and
/// installs it into `b`'s env; returns the distribution's PEP 503 name.
/// A failure names the project's build; what it built is removed either
/// way.
pub fn install_project(
    root: &BuildRoot,
    b: &EnvBuild<'_>,
    env: &[(String, String)],
    tar: &[u8],
) -> Result<String> {
    let src = build_path(b.env_dir);
    let wheel_dir = format!("{src}.wheel");
    make_build_dir(root, BUILD_DIR)?;
    let got = build_and_install(root, b, env, tar, &src, &wheel_dir);
    for d in [&src, &wheel_dir] {
        remove_in_root(root, d)?;
    }
    got
}

fn build_and_install(
    root: &BuildRoot,
    b: &EnvBuild<'_>,
    env: &[(String, String)],
    tar: &[u8],
    src: &str,
    wheel_dir: &str,
) -> Result<String> {
    remove_in_root(root, wheel_dir)?;
    unpack_tree(root, src, tar)?;
    make_build_dir(root, wheel_dir)?;
    let pip = format!("{}/bin/pip", b.env_dir);
    tracing::info!("building the project itself (env.install_project) at {src}");
    let flag = |var: &str| {
        let base = env
            .iter()
            .find(|(k, _)| k == var)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        prefix_map_flags(base, src)
    };
    let build_env = with_var(env, "CFLAGS", flag("CFLAGS"));
    let build_env = with_var(&build_env, "CXXFLAGS", flag("CXXFLAGS"));
    let named = |e: Error| {
        e.in_step(&format!(
            "building the project itself (djdd.toml's env.install_project) from the commit's tree at {src} in the build root"
        ))
    };
    run_step_metered(
        root,
        Some(BUILD_USER),
        src,
        &build_env,
        PIP_TIMEOUT,
        &[
            &pip,
            "wheel",
            "--no-deps",
            "--use-pep517",
            "--wheel-dir",
            wheel_dir,
            src,
        ],
        Some(("pip wheel", crate::report::Meter::Pip)),
    )
    .map_err(named)?;
    let wheel = only_file(root, wheel_dir, ".whl").ok_or_else(|| {
        Error::invalid(
            format!("pip wheel {src} (djdd.toml's env.install_project)"),
            "left no single .whl file in its wheel dir",
        )
    })?;
    let name = wheel_name(&wheel).ok_or_else(|| {
        Error::invalid(
            format!("the project's wheel {wheel}"),
            "its file name does not start with a distribution name (PEP 427)",
        )
    })?;
    let path = format!("{wheel_dir}/{wheel}");
    tracing::info!("installing {wheel} into {}", b.env_dir);
    run_step(
        root,
        Some(BUILD_USER),
        "/",
        env,
        PIP_TIMEOUT,
        &[
            &pip,
            "install",
            "--no-deps",
            "--no-index",
            "--no-compile",
            &path,
        ],
    )
    .map_err(named)?;
    // It names the wheel's path in the root, which no target has.
    drop_dist_file(
        root,
        b.env_dir,
        env,
        "direct_url.json",
        std::slice::from_ref(&name),
    )?;
    Ok(name)
}

/// The PEP 503 name of the distribution a wheel file `NAME-VERSION-...whl`
/// holds.
fn wheel_name(file: &str) -> Option<String> {
    let (name, _) = file.split_once('-')?;
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._".contains(&b));
    ok.then(|| crate::rules::names::python_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_is_built_at_a_path_named_by_the_env_hash() {
        assert_eq!(
            build_path("/usr/lib/demo-env/0123456789ab"),
            "/build/project-0123456789ab"
        );
    }

    #[test]
    fn a_wheel_file_names_its_distribution() {
        assert_eq!(
            wheel_name("My_App-1.0-py3-none-any.whl").as_deref(),
            Some("my-app")
        );
        assert_eq!(wheel_name("demo.whl"), None);
        assert_eq!(wheel_name("../x-1.0-py3-none-any.whl"), None);
    }
}
