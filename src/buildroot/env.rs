//! The env's virtualenv, built inside the build root: created at its final
//! path with the root's own `/usr/bin/python3.X`; its distributions
//! installed by uv ([`super::uv`]) or pip ([`super::pip`]); its compiled
//! objects stripped and bytecode compiled once, deterministically; and the
//! Debian packages of the shared libraries its compiled modules link to.
//!
//! Effects only: what to build comes from `plan`. Every process runs
//! through [`super::steps`] (an argument array under `env -i` with exactly the
//! variables given, bounded by `timeout`). Never writes outside the build
//! root.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::buildroot::install::EnvBuild;
use crate::buildroot::steps::{
    PIP_CACHE_IN_ROOT, PIP_TIMEOUT, discard_in_root, give_cache_dir, host_ca, host_path,
    make_build_dir, remove_bytecode, run_step,
};
use crate::buildroot::{BUILD_USER, BuildRoot};
use crate::error::{Error, Result};

/// mtime and SOURCE_DATE_EPOCH of everything in an env package: the env's
/// content depends on its requirements only, not on the commit it was first
/// built for, so its time is fixed too (2024-01-01; zip, which pip uses for
/// wheels, cannot store times before 1980).
pub const ENV_EPOCH: u64 = 1_704_067_200;

/// The environment of every command an env build runs in the root: a
/// fixed PATH, locale and time, pip's cache and flags, the compiler flags
/// that keep what it builds reproducible, and the host's CA.
pub fn base_env(root: &BuildRoot) -> Result<Vec<(String, String)>> {
    let epoch = ENV_EPOCH.to_string();
    let mut env = vec![
        ("PATH".to_string(), "/usr/bin:/bin".to_string()),
        ("HOME".into(), "/tmp".into()),
        ("LC_ALL".into(), "C.UTF-8".into()),
        ("SOURCE_DATE_EPOCH".into(), epoch),
        ("PYTHONHASHSEED".into(), "0".into()),
        // One cache a env format: a wheel pip built from an sdist under
        // another format's flags (debug info, build ID) is never reused.
        (
            "PIP_CACHE_DIR".into(),
            format!("{PIP_CACHE_IN_ROOT}/env-format-{}", crate::plan::ENV_FORMAT),
        ),
        ("PIP_NO_INPUT".into(), "1".into()),
        ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
        ("PIP_ROOT_USER_ACTION".into(), "ignore".into()),
        // No debug info: it embeds pip's random build directory.
        ("CFLAGS".into(), "-g0".into()),
        ("CXXFLAGS".into(), "-g0".into()),
        // No GNU build ID either: the linker computes it over the file,
        // debug info included, and some builds add `-g` after CFLAGS
        // (uWSGI), so it would name that directory too, in effect.
        ("LDFLAGS".into(), "-Wl,--build-id=none".into()),
    ];
    if let Some(ca) = host_ca(root)? {
        env.push(("PIP_CERT".into(), ca.into()));
    }
    Ok(env)
}

/// Builds the virtualenv at its final path inside the root, as the build
/// user (no project code runs as root). Any earlier, unfinished tree at
/// that path is removed first.
pub fn build_env(root: &BuildRoot, b: &EnvBuild<'_>) -> Result<()> {
    discard_in_root(root, b.env_dir)?;
    discard_in_root(root, b.share_dir)?;
    make_build_dir(root, b.env_dir)?;
    for (rel, bytes) in &b.files {
        let dest = host_path(root, &format!("{}/{rel}", b.share_dir));
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::write(&dest, bytes).map_err(|e| Error::io(&dest, e))?;
    }
    make_build_dir(root, b.share_dir)?;
    let python = format!("/usr/bin/python{}", b.python_version);
    let env = base_env(root)?;
    let user = Some(BUILD_USER);
    tracing::info!("creating the virtualenv {} with {python}", b.env_dir);
    let mut venv: Vec<&str> = vec![&python, "-m", "venv"];
    if b.installer == crate::plan::Installer::Uv {
        // uv puts in what ensurepip would, from the same wheels, at a
        // tenth of the time ([`super::uv::seed`]).
        venv.push("--without-pip");
    }
    venv.push(b.env_dir);
    run_step(root, user, "/", &env, 300, &venv)?;
    // Python >= 3.13's venv (trixie) writes ENV/.gitignore ("*") so that git
    // ignores the virtualenv: in a package it is a stray VCS file (lintian:
    // package-contains-vcs-control-file), and the env of every suite is
    // laid out alike without it.
    let gitignore = host_path(root, &format!("{}/.gitignore", b.env_dir));
    match std::fs::remove_file(&gitignore) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&gitignore, e)),
    }
    let installed = match b.installer {
        crate::plan::Installer::Uv => Some(super::uv::install_env(root, b, &env)?),
        crate::plan::Installer::Pip => {
            super::pip::install_env(root, b, &env)?;
            None
        }
    };
    if let Some(tar) = b.project {
        super::project::install_project(root, b, &env, tar)?;
    }
    // The bytecode is compiled (most of it copied from the pyc cache:
    // creating files) while the installed files are checked against their
    // RECORD and the compiled objects stripped (reading them): on two
    // cores, the two take about as long as the longer one. Neither touches
    // what the other reads or writes. A damaged install is repaired only
    // once the compile is over (uv removes and installs again what the
    // compile walks), and its bytecode compiled again.
    remove_bytecode(&host_path(root, b.env_dir))?;
    let (compiled, repair) = std::thread::scope(|s| {
        let compiling = s.spawn(|| compile_bytecode(root, b, &env));
        let repair = (|| -> Result<Option<_>> {
            if let Some(installed) = installed {
                let damaged = super::uv::check_and_finish(root, b, &env, &installed)?;
                if !damaged.is_empty() {
                    return Ok(Some((installed, damaged)));
                }
            }
            strip_objects(root, b.env_dir)?;
            Ok(None)
        })();
        let compiled = compiling.join().unwrap_or_else(|_| {
            Err(Error::invalid(
                format!("the env {}", b.env_dir),
                "compiling its bytecode panicked",
            ))
        });
        (compiled, repair)
    });
    let Some((installed, damaged)) = repair? else {
        return compiled;
    };
    super::uv::finish_env(root, b, &env, installed, damaged)?;
    strip_objects(root, b.env_dir)?;
    remove_bytecode(&host_path(root, b.env_dir))?;
    compile_bytecode(root, b, &env)
}

/// Compiles the env's bytecode once, deterministically, as `python -m
/// compileall -q -f -j 0 --invalidation-mode checked-hash ENV` would
/// (checked-hash .pyc files because SOURCE_DATE_EPOCH is set; one worker a
/// CPU: a .pyc depends on its source and path only, not on the order or
/// the worker; checked: every .pyc of `-j 2` equals `-j 1`'s, Python 3.11
/// and 3.13), byte for byte, taking what it can from the build dir's pyc
/// cache ([`PYC_SCRIPT`]). Whatever pip compiled, package by package,
/// must be removed first.
fn compile_bytecode(root: &BuildRoot, b: &EnvBuild<'_>, env: &[(String, String)]) -> Result<()> {
    let host = pyc_cache_dir(b.cache_dir, b.python_version, root.arch());
    give_cache_dir(root, b.cache_dir, &host)?;
    let inside = format!(
        "{}/{}",
        crate::buildroot::CACHE_INSIDE,
        host.strip_prefix(b.cache_dir)
            .expect("below the cache dir")
            .to_string_lossy()
    );
    let python = format!("{}/bin/python", b.env_dir);
    // `-c`, not a file: the workers' interpreter then holds what
    // compileall's do, nothing of the script (a .pyc's bytes depend on it).
    let out = run_step(
        root,
        Some(BUILD_USER),
        "/",
        env,
        PIP_TIMEOUT,
        &[&python, "-I", "-c", PYC_SCRIPT, b.env_dir, &inside],
    )?;
    let said = String::from_utf8_lossy(&out.stdout);
    if let Some(line) = said.lines().rev().find(|l| l.starts_with("pyc: ")) {
        tracing::info!("compiled bytecode ({})", &line["pyc: ".len()..]);
    }
    Ok(())
}

/// Compiles an env's bytecode with a cache (see the script's header).
const PYC_SCRIPT: &str = include_str!("scripts/pyc.py");

/// `D/cache/pyc/env-format-N/pythonX.Y-ARCH` on the host: .pyc files by
/// their source, for the next env of this Python.
pub fn pyc_cache_dir(cache: &Path, python: &str, arch: &str) -> PathBuf {
    cache
        .join("pyc")
        .join(format!("env-format-{}", crate::plan::ENV_FORMAT))
        .join(format!("python{python}-{arch}"))
}

/// Strips the ELF files below `env_dir` as dh_strip does, with the root's
/// own `strip`, as the build user: shared objects (`*.so*`) with
/// `--strip-unneeded`, executables (a program compiled from an sdist, such
/// as uWSGI's `bin/uwsgi`) of all symbols; both without `.comment` and
/// `.note` sections. Debian ships stripped objects (Policy 10.1; lintian:
/// unstripped-binary-or-object), and the symbol tables are smaller
/// without. A root without binutils (nothing was compiled) leaves the
/// files as pip installed them.
pub fn strip_objects(root: &BuildRoot, env_dir: &str) -> Result<()> {
    let host = host_path(root, env_dir);
    let mut shared: Vec<String> = Vec::new();
    let mut programs: Vec<String> = Vec::new();
    for e in walkdir::WalkDir::new(&host)
        .follow_links(false)
        .sort_by_file_name()
    {
        let e = e.map_err(|e| Error::io(&host, std::io::Error::other(e.to_string())))?;
        if !e.file_type().is_file() {
            continue;
        }
        let mut magic = [0u8; 4];
        let is_elf = std::fs::File::open(e.path())
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
            && magic == *b"\x7fELF";
        if !is_elf {
            continue;
        }
        let name = e.file_name().to_string_lossy();
        let rel = e.path().strip_prefix(&host).expect("below the walk's root");
        let inside = format!("{env_dir}/{}", rel.to_string_lossy());
        if name.ends_with(".so") || name.contains(".so.") {
            shared.push(inside);
        } else if name.ends_with(".o") || name.ends_with(".a") {
            // Objects and archives for linking: left as they are.
        } else {
            programs.push(inside);
        }
    }
    if (shared.is_empty() && programs.is_empty()) || !host_path(root, "/usr/bin/strip").exists() {
        return Ok(());
    }
    tracing::info!(
        "stripping {} shared objects and {} programs",
        shared.len(),
        programs.len()
    );
    let path = [("PATH".to_string(), "/usr/bin:/bin".to_string())];
    for (files, how) in [(&shared, Some("--strip-unneeded")), (&programs, None)] {
        if files.is_empty() {
            continue;
        }
        let mut argv: Vec<&str> = vec![
            "/usr/bin/strip",
            "--remove-section=.comment",
            "--remove-section=.note",
        ];
        argv.extend(how);
        argv.push("--");
        argv.extend(files.iter().map(String::as_str));
        run_step(root, Some(BUILD_USER), "/", &path, 600, &argv)?;
    }
    // Their distributions' RECORD still carries the hashes of the files as
    // pip installed them (with debug info naming pip's random build
    // directory: different on every build).
    let python = format!("{env_dir}/bin/python");
    let mut argv: Vec<&str> = vec![&python, "-I", "-c", RECORD_SCRIPT, env_dir];
    argv.extend(shared.iter().chain(&programs).map(String::as_str));
    run_step(root, Some(BUILD_USER), "/", &path, 600, &argv)?;
    Ok(())
}

/// Rewrites the RECORD rows of stripped files (see the script's header).
const RECORD_SCRIPT: &str = include_str!("scripts/record.py");

/// The Debian packages providing the shared libraries the env's compiled
/// modules link to: (package, library) pairs, sorted; libraries dpkg knows
/// no owner of are an error naming them.
pub fn shlib_packages(root: &BuildRoot, env_dir: &str) -> Result<Vec<(String, String)>> {
    let script = include_str!("scripts/shlibdeps.py");
    let out = run_step(
        root,
        None,
        "/",
        &[("PATH".into(), "/usr/bin:/bin:/usr/sbin:/sbin".into())],
        600,
        &["/usr/bin/python3", "-c", script, env_dir],
    )?;
    let mut pairs = Vec::new();
    let mut unowned = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((pkg, lib)) = line.split_once('\t') {
            if pkg == "unowned" {
                unowned.push(lib.to_string());
            } else {
                pairs.push((pkg.to_string(), lib.to_string()));
            }
        }
    }
    if !unowned.is_empty() {
        return Err(Error::invalid_hint(
            format!("virtualenv {env_dir}"),
            format!(
                "its compiled modules link to libraries no Debian package owns: {}",
                unowned.join(", ")
            ),
            "build those libraries as part of a wheel, or install them from a Debian package listed in venv-debian-requirements.txt",
        ));
    }
    Ok(pairs)
}
