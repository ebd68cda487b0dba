//! `djdd init`: make or finish the build root of the build dir, then say
//! what it is. The work is in `buildroot::init`.

use std::path::Path;
use std::process::ExitCode;

use crate::buildroot::init::{InitOptions, init};
use crate::buildroot::python_version_of;
use crate::cli::init::InitArgs;

pub fn run(args: &InitArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    let opts = InitOptions {
        suite: args.suite.clone(),
        arch: args.arch.clone(),
        mirror: args.mirror.clone(),
    };
    let repo = match &args.repo {
        Some(r) if !r.is_absolute() || r.as_os_str().is_empty() => {
            return Err(crate::error::Error::invalid_hint(
                format!("--repo {}", r.display()),
                "must be an absolute path",
                "give the directory `djdd publish --repo` writes, e.g. /srv/apt",
            )
            .into());
        }
        r => r.clone(),
    };
    let report = init(dir, &opts)?;
    if repo.is_some() || args.no_repo {
        let bd = crate::builddir::BuildDir::open(dir)?;
        let mut settings = bd.read_settings()?;
        settings.repo = repo;
        bd.write_settings(&settings)?;
    }
    let s = &report.state;
    let root = dir.join("buildroot");
    let python = python_version_of(&root.canonicalize().unwrap_or(root.clone()))
        .map(|v| format!("Python {v}"))
        .unwrap_or_else(|e| format!("no Python ({e})"));
    if report.ran.is_empty() {
        println!("build root ready (nothing to do): {}", root.display());
    } else {
        println!("build root ready: {}", root.display());
        for step in &report.ran {
            println!("  done: {step}");
        }
    }
    println!(
        "  {} {}, {python}, mirror {}, schroot {}",
        s.suite, s.arch, s.mirror, s.schroot
    );
    let settings = crate::builddir::BuildDir::open(dir)?.read_settings()?;
    match &settings.repo {
        Some(r) if !r.join("dists").is_dir() => println!(
            "  repository {} (envs published there are reused; nothing published yet)",
            r.display()
        ),
        Some(r) => println!(
            "  repository {} (envs published there are reused)",
            r.display()
        ),
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}
