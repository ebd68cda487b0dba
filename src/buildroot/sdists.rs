//! Distributions built from sdists, at a fixed path: before the env's pip
//! install, djdd asks pip what it would install (`pip install --dry-run
//! --report`, with the install's own arguments), and builds a wheel of
//! every distribution that would come from an sdist and that the build
//! dir has not built before: the sdist, downloaded by pip and checked
//! against its sha256, is unpacked to `/build/NAME-VERSION` in the root and
//! built there (`pip wheel --use-pep517`) with
//! `-ffile-prefix-map=/build/NAME-VERSION=.` in CFLAGS and CXXFLAGS and
//! SOURCE_DATE_EPOCH set. Left to itself, pip builds in a random directory
//! (`/tmp/pip-install-XXXXXXXX/NAME_UUID`), which a compiled program can
//! embed (debug info, `__FILE__`, its own record of its build flags).
//!
//! The wheel is kept in the build dir's cache by the sdist's sha256
//! ([`wheels`]), and the install is offered only that wheel for it: so the
//! first build of an env, a rebuild from its lock and a build in another
//! build dir all install what was built at the same path with the same
//! flags.
//!
//! Not built here: distributions without an archive hash (a VCS checkout,
//! a local directory), which pip builds itself as before.

use crate::buildroot::steps::{
    PIP_TIMEOUT, host_path, make_build_dir, read_report, remove_in_root, run_step, run_step_metered,
};
use crate::buildroot::{BUILD_USER, BuildRoot, wheels};
use crate::error::{Error, Result};

/// Where sdists are unpacked and built inside the root.
pub const BUILD_DIR: &str = "/build";

/// One distribution pip would build from an sdist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdist {
    /// PEP 503-normalised name.
    pub name: String,
    pub version: String,
    /// The sha256 (hex) of the sdist.
    pub sha256: String,
    /// What `pip download` is given before the hash: `NAME==VERSION`, or
    /// `NAME @ URL` for an archive the requirements named by its URL.
    pub requirement: String,
}

impl Sdist {
    /// `/build/NAME-VERSION`: where it is unpacked and built.
    pub fn build_path(&self) -> String {
        format!("{BUILD_DIR}/{}-{}", self.name, self.version)
    }
}

/// Reads the lines `scripts/sdists.py` prints (`NAME\tVERSION\tSHA256\t
/// REQUIREMENT`). Fails, naming the line, on a name, version or hash that
/// could not be part of a path or a requirement line.
pub fn parse_list(text: &str) -> std::result::Result<Vec<Sdist>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| format!("line {} ({line:?}): {why}", i + 1);
        let f: Vec<&str> = line.split('\t').collect();
        let [name, version, sha, requirement] = f[..] else {
            return Err(bad("not four tab-separated fields"));
        };
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let version_ok = !version.is_empty()
            && !version.starts_with('.')
            && version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+!-".contains(&b));
        let sha_ok = sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let req_ok = !requirement.is_empty()
            && !requirement
                .bytes()
                .any(|b| b.is_ascii_control() || b == b'\n');
        if !name_ok {
            return Err(bad("the name is not a normalised distribution name"));
        }
        if !version_ok {
            return Err(bad("the version has characters a version has not"));
        }
        if !sha_ok {
            return Err(bad("the hash is not a sha256"));
        }
        if !req_ok {
            return Err(bad("the requirement is empty or has control characters"));
        }
        out.push(Sdist {
            name: name.to_string(),
            version: version.to_string(),
            sha256: sha.to_string(),
            requirement: requirement.to_string(),
        });
    }
    Ok(out)
}

/// The dry run's report, in the share dir while it is read (removed after).
const DRY_RUN_REPORT: &str = ".pip-dry-run.json";

/// What building sdists needs: the root, the build dir's cache dir (on
/// the host), the root's Python (`3.X`, and its path), the env's pip and
/// the environment of the env's pip runs.
pub struct Builder<'a> {
    pub root: &'a BuildRoot,
    pub cache_dir: &'a std::path::Path,
    pub python_version: &'a str,
    /// `/usr/bin/python3.X`.
    pub python: &'a str,
    /// `ENV/bin/pip`.
    pub pip: &'a str,
    pub env: &'a [(String, String)],
}

impl Builder<'_> {
    /// `pip install --dry-run --report ... ARGS` in `cwd` (the share dir),
    /// then the sdists of its report ([`parse_list`]). A pip failure is
    /// returned as pip's error, for the caller to explain.
    pub fn planned(&self, cwd: &str, args: &[&str]) -> Result<Vec<Sdist>> {
        let (root, env) = (self.root, self.env);
        let report = format!("{cwd}/{DRY_RUN_REPORT}");
        let mut argv: Vec<&str> = vec![self.pip, "install", "--dry-run", "--report", &report];
        argv.extend(args);
        run_step_metered(
            root,
            Some(BUILD_USER),
            cwd,
            env,
            PIP_TIMEOUT,
            &argv,
            Some(("pip install --dry-run", crate::report::Meter::Pip)),
        )?;
        let out = read_report(root, env, self.python, SDISTS_SCRIPT, &report, &[])?;
        parse_list(&String::from_utf8_lossy(&out))
            .map_err(|why| Error::invalid(format!("pip's report {report}"), why))
    }

    /// Builds, at its fixed path, every sdist of `sdists` the cache has no
    /// wheel of, and keeps the wheel; returns the `NAME==VERSION` built.
    pub fn build_missing(&self, sdists: &[Sdist]) -> Result<Vec<String>> {
        let mut built = Vec::new();
        for s in sdists {
            if !wheels::cached(self.cache_dir, self.python_version, &s.sha256)?.is_empty() {
                continue;
            }
            // A failure names the distribution; its tree stays in the root
            // for a look, and the next build starts it afresh.
            self.build_one(s).map_err(|e| {
                e.in_step(&format!(
                    "building {}=={} from its sdist at {} in the build root",
                    s.name,
                    s.version,
                    s.build_path()
                ))
            })?;
            built.push(format!("{}=={}", s.name, s.version));
        }
        Ok(built)
    }

    /// Downloads, unpacks and builds one sdist at its fixed path, keeps its
    /// wheel, and removes what the build left in the root.
    fn build_one(&self, s: &Sdist) -> Result<()> {
        let (root, env, python, pip) = (self.root, self.env, self.python, self.pip);
        let src = s.build_path();
        let download = format!("{BUILD_DIR}/.download-{}", s.sha256);
        let wheel_dir = format!("{BUILD_DIR}/.wheel-{}", s.sha256);
        make_build_dir(root, BUILD_DIR)?;
        for d in [&src, &download, &wheel_dir] {
            remove_in_root(root, d)?;
        }
        tracing::info!("building {} {} from its sdist at {src}", s.name, s.version);
        make_build_dir(root, &download)?;
        let req = format!("{download}/requirement.txt");
        let p = host_path(root, &req);
        std::fs::write(
            &p,
            format!("{} --hash=sha256:{}\n", s.requirement, s.sha256),
        )
        .map_err(|e| Error::io(&p, e))?;
        run_step(
            root,
            Some(BUILD_USER),
            &download,
            env,
            PIP_TIMEOUT,
            &[
                pip,
                "download",
                "--no-deps",
                "--no-binary",
                &s.name,
                "--require-hashes",
                "--dest",
                &download,
                "--requirement",
                &req,
            ],
        )?;
        let archive = only_archive(root, &download, s)?;
        run_step(
            root,
            Some(BUILD_USER),
            BUILD_DIR,
            env,
            300,
            &[python, "-I", "-c", UNPACK_SCRIPT, &archive, &src],
        )?;
        let base = |var: &str| {
            env.iter()
                .find(|(k, _)| k == var)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let env = with_var(env, "CFLAGS", prefix_map_flags(&base("CFLAGS"), &src));
        let env = with_var(&env, "CXXFLAGS", prefix_map_flags(&base("CXXFLAGS"), &src));
        run_step_metered(
            root,
            Some(BUILD_USER),
            &src,
            &env,
            PIP_TIMEOUT,
            &[
                pip,
                "wheel",
                "--no-deps",
                // A project without pyproject.toml too is built by its
                // backend in an isolated environment: bookworm's pip would
                // otherwise want the `wheel` package in the env.
                "--use-pep517",
                "--wheel-dir",
                &wheel_dir,
                &src,
            ],
            Some(("pip wheel", crate::report::Meter::Pip)),
        )?;
        let wheel = only_file(root, &wheel_dir, ".whl").ok_or_else(|| {
            Error::invalid(
                format!("pip wheel {src}"),
                "left no single .whl file in its wheel dir",
            )
        })?;
        wheels::keep(
            self.cache_dir,
            self.python_version,
            &s.sha256,
            &host_path(root, &wheel_dir).join(&wheel),
        )?;
        tracing::info!(
            "kept {wheel} (built from the sdist with sha256 {}) in the build dir's wheel cache",
            s.sha256
        );
        for d in [&src, &download, &wheel_dir] {
            remove_in_root(root, d)?;
        }
        Ok(())
    }
}

/// `VAR=VALUE` in `env` instead of any earlier value of `VAR`.
pub(crate) fn with_var(
    env: &[(String, String)],
    var: &str,
    value: String,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = env.iter().filter(|(k, _)| k != var).cloned().collect();
    out.push((var.to_string(), value));
    out
}

/// The compiler flags of a build at `dir`: the env's (`-g0`), and every
/// path below `dir` written as relative to it.
pub fn prefix_map_flags(base: &str, dir: &str) -> String {
    format!("{base} -ffile-prefix-map={dir}=.")
        .trim()
        .to_string()
}

/// Lists the sdists of pip's report (see the script's header).
const SDISTS_SCRIPT: &str = include_str!("scripts/sdists.py");
/// Unpacks an sdist without its top directory (see the script's header).
const UNPACK_SCRIPT: &str = include_str!("scripts/unpack.py");

/// The one file of `dir` (in the root) whose name ends with `suffix`.
pub(crate) fn only_file(root: &BuildRoot, dir: &str, suffix: &str) -> Option<String> {
    let rd = std::fs::read_dir(host_path(root, dir)).ok()?;
    let names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix) && !n.starts_with('.'))
        .collect();
    match &names[..] {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// The sdist `pip download` left in `dir`: its path in the root.
fn only_archive(root: &BuildRoot, dir: &str, s: &Sdist) -> Result<String> {
    for suffix in [".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip"] {
        if let Some(f) = only_file(root, dir, suffix) {
            return Ok(format!("{dir}/{f}"));
        }
    }
    Err(Error::invalid(
        format!("the sdist of {}=={}", s.name, s.version),
        format!("pip download left no single sdist archive in {dir}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "d36784fc2dae69523ba4b79c7d1d1b4d6e83e87836874f111262f4db940b16a6";

    #[test]
    fn the_list_gives_each_sdist_its_fixed_build_path() {
        let text = format!(
            "uwsgi\t2.0.31\t{SHA}\tuwsgi==2.0.31\nprobe\t1.0\t{SHA}\tprobe @ https://e.org/probe-1.0.tar.gz\n"
        );
        let got = parse_list(&text).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].build_path(), "/build/uwsgi-2.0.31");
        assert_eq!(got[0].requirement, "uwsgi==2.0.31");
        assert_eq!(got[1].requirement, "probe @ https://e.org/probe-1.0.tar.gz");
        assert!(parse_list("").unwrap().is_empty());
    }

    #[test]
    fn a_list_line_that_could_escape_the_build_dir_is_refused() {
        for (line, why) in [
            (format!("../x\t1\t{SHA}\tx==1"), "name"),
            (format!("x\t../../etc\t{SHA}\tx==1"), "version"),
            (format!("x\t.\t{SHA}\tx==1"), "version"),
            (format!("x\t1/2\t{SHA}\tx==1"), "version"),
            ("x\t1\tabc\tx==1".to_string(), "sha256"),
            (format!("x\t1\t{SHA}"), "four"),
            (format!("x\t1\t{SHA}\t"), "requirement"),
        ] {
            let err = parse_list(&line).unwrap_err();
            assert!(
                err.contains("line 1") && err.contains(why),
                "{line:?}: {err}"
            );
        }
    }

    #[test]
    fn the_prefix_map_names_the_build_path() {
        assert_eq!(
            prefix_map_flags("-g0", "/build/uwsgi-2.0.31"),
            "-g0 -ffile-prefix-map=/build/uwsgi-2.0.31=."
        );
        assert_eq!(
            prefix_map_flags("", "/build/a-1"),
            "-ffile-prefix-map=/build/a-1=."
        );
    }
}
