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
    let report = init(dir, &opts)?;
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
    Ok(ExitCode::SUCCESS)
}
