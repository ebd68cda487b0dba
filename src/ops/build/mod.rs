//! `djdd build NAME [VARIANT]`: one commit of a Django project becomes the
//! packages `apt-get install NAME-site-VARIANT` needs, rebuilding only what
//! changed (see docs/build.md).
//!
//! The glue of config -> plan -> buildroot -> render -> deb: reads the
//! variant and the project's files at the commit, asks `plan` what to build
//! or reuse, runs the build steps in the build root, renders the site
//! package and writes each .deb to a temp name in `D/packages/` that is
//! renamed in only when complete. Every package's members are checked
//! against its allowed prefixes before it is written.

mod package;
mod static_files;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::builddir::{self, BuildDir, DirLock, NamedLock};
use crate::buildroot::env::{self, ENV_EPOCH};
use crate::buildroot::install::{self, EnvBuild};
use crate::buildroot::{BuildRoot, source_tree, steps};
use crate::cli::build::BuildArgs;
use crate::config::project::{self, Project};
use crate::config::variant::Variant;
use crate::contract;
use crate::deb::{Compression, WriteOptions};
use crate::error::Error;
use crate::plan::{self, BuildInputs, BuildPlan};
use crate::source;
use package::{
    BuildLog, check_deb_data, compilemessages, contract_site, env_package, mark_built_for,
    site_package, src_package, unpack_deb, write_package,
};

pub fn run(args: &BuildArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    // The env trees moved aside are gone when the build ends.
    let _discards = steps::DiscardGuard;
    crate::rules::names::check_name("NAME", &args.name)?;
    let bd = BuildDir::open(dir)?;
    let repo = bd.source_repo(&args.name);
    if !repo.is_dir() {
        return Err(source::unknown_name(&bd, &args.name).into());
    }
    let variants = match &args.variant {
        Some(v) => {
            crate::rules::names::check_pair(&args.name, v)?;
            vec![v.clone()]
        }
        None => {
            let all = crate::ops::variant::list_names(&bd, &args.name);
            if all.is_empty() {
                return Err(Error::invalid_hint(
                    format!("source '{}'", args.name),
                    "has no variant to build",
                    format!(
                        "add one: djdd variant {} blue --domain example.org",
                        args.name
                    ),
                )
                .into());
            }
            all
        }
    };
    let compression = Compression::parse(&args.compression)?;
    let mut lock = match bd.try_lock_exclusive("ending stale schroot sessions")? {
        // No other djdd uses D: end the sessions a killed one left open.
        Some(mut lock) => {
            BuildRoot::open(&bd)?.end_stale_sessions(&lock)?;
            lock.downgrade()?;
            lock
        }
        None => bd.lock_shared()?,
    };
    let packages_dir = bd.packages_dir();
    let stale = crate::deb::remove_stale_temps(&packages_dir)?;
    if stale > 0 {
        tracing::info!(
            "removed {stale} temp file(s) an interrupted build left in {}",
            packages_dir.display()
        );
    }
    let root = BuildRoot::open(&bd)?;
    {
        let _fetch = bd.lock_named(&format!("src-{}", args.name), "fetching the source")?;
        source::fetch(&repo).with_context(|| format!("fetching {}", repo.display()))?;
    }
    // `--rebuild-env` resolves each env once, whatever number of variants
    // share it (every variant's site package is built again).
    let mut rebuilt_envs: Vec<String> = Vec::new();
    for v in &variants {
        build_variant(
            &bd,
            &root,
            &mut lock,
            args,
            v,
            compression,
            &mut rebuilt_envs,
        )
        .with_context(|| format!("building {}-site-{v}", args.name))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Everything read about one variant's build before anything is built.
struct Inputs {
    variant: Variant,
    project_inputs: plan::ProjectInputs,
    project: Project,
    settings: String,
    plan: BuildPlan,
    files: BTreeMap<String, Vec<u8>>,
    /// Seconds a project command may run (`--timeout`).
    timeout: u32,
    /// The resolution lock the build dir recorded for this env, when the
    /// plan builds the env from it.
    env_lock: Option<Vec<u8>>,
}

fn load_inputs(
    bd: &BuildDir,
    root: &BuildRoot,
    args: &BuildArgs,
    variant_name: &str,
) -> anyhow::Result<Inputs> {
    let name = &args.name;
    let variant = crate::ops::variant::load(bd, name, variant_name)?.ok_or_else(|| {
        Error::invalid_hint(
            format!("variant '{variant_name}' of '{name}'"),
            format!(
                "does not exist (no {})",
                bd.variant_file(name, variant_name).display()
            ),
            format!("create it: djdd variant {name} {variant_name}"),
        )
    })?;
    let repo = bd.source_repo(name);
    let commit = source::resolve(&repo, args.rev.as_deref(), &variant.branch)?;

    // The project's files at that commit; every file plan reads is kept so
    // the env build copies exactly what was hashed.
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut read = |path: &str| -> crate::Result<Option<Vec<u8>>> {
        let got = source::read_file(&repo, &commit.id, path)?;
        if let Some(b) = &got {
            files.insert(path.to_string(), b.clone());
        }
        Ok(got)
    };
    let djdd_toml = read(project::FILE)?;
    let manage_py = read("manage.py")?;
    let project_file = match &djdd_toml {
        Some(b) => Some(project::parse(&String::from_utf8_lossy(b))?),
        None => None,
    };
    let mut project = project::resolve(
        project_file.as_ref(),
        manage_py
            .as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .as_deref(),
    )?;
    if project.manage != "manage.py" {
        let text = read(&project.manage)?.ok_or_else(|| {
            Error::invalid(
                format!("{} (key `manage` of djdd.toml)", project.manage),
                format!("does not exist in commit {}", commit.id),
            )
        })?;
        if project.settings.is_none() {
            project.settings = project::settings_from_manage_py(&String::from_utf8_lossy(&text));
        }
    } else if manage_py.is_none() {
        return Err(Error::invalid_hint(
            format!("manage.py (commit {})", commit.id),
            "does not exist",
            "put manage.py at the top of the repository, or name its path in djdd.toml's `manage`",
        )
        .into());
    }
    let settings = args
        .settings
        .clone()
        .or_else(|| variant.settings.clone())
        .or_else(|| project.settings.clone())
        .ok_or_else(|| {
            Error::invalid_hint(
                "settings module",
                "is not known: neither --settings, the variant, djdd.toml nor manage.py names it",
                format!("djdd variant {name} {variant_name} --settings PROJECT.settings"),
            )
        })?;
    if !project::is_module(&settings) {
        return Err(Error::invalid(
            format!("settings module '{}'", settings.escape_debug()),
            "must be a dotted Python module path (letters, digits, '_', '.')",
        )
        .into());
    }

    let project_inputs = crate::ops::env_input::project_inputs(
        bd,
        root,
        &project.env,
        project.asgi.is_some(),
        &commit.id,
        &source::tree_id(&repo, &commit.id)?,
        &mut read,
    )?;
    check_calendars(&project)?;
    if let Some(c) = &variant.backup {
        if let Some(why) =
            crate::buildroot::host::calendar_problem(&crate::buildroot::runner::RealRunner, c)?
        {
            return Err(Error::invalid_hint(
                format!("variant {name} {variant_name}: backup"),
                format!("systemd refuses {c:?}: {why}"),
                format!(
                    "djdd variant {name} {variant_name} --backup CALENDAR with a systemd calendar expression, e.g. daily or \"*-*-* 03:00:00\" (try it with `systemd-analyze calendar EXPR`)"
                ),
            )
            .into());
        }
    }
    let python_version = root.python_version()?;
    let existing = existing_packages(&bd.packages_dir(), name)?;
    let last = bd.read_last_build(name, variant_name)?;
    let installer = crate::ops::installer_setting()?;
    let inputs = BuildInputs {
        installer,
        name: name.clone(),
        variant: variant_name.to_string(),
        commit,
        project: project_inputs,
        python_version,
        arch: root.arch().to_string(),
        variant_settings: format!("{}settings-module = {settings:?}\n", variant.canonical()),
        djdd_version: env!("CARGO_PKG_VERSION").to_string(),
        existing,
        published_site_version: None,
        last_build: last.map(|l| plan::LastBuild {
            version: l.version,
            fingerprint: l.inputs,
        }),
        src_file_count: None,
        force: args.force,
        rebuild_env: args.rebuild_env,
        asgi: project.asgi.is_some(),
        sandbox: variant.sandbox(),
        steps: project
            .build
            .steps
            .iter()
            .map(|s| {
                let dir = if s.cwd.is_empty() {
                    "."
                } else {
                    s.cwd.as_str()
                };
                format!(
                    "{} in {dir}: {}",
                    s.when.as_str(),
                    s.command.words().join(" ")
                )
            })
            .collect(),
        release: project
            .release
            .iter()
            .map(|c| c.words().join(" "))
            .collect(),
    };
    let mut plan = plan::plan_build(&inputs)?;
    let env_lock = if inputs.project.requirements.root != plan::REQUIREMENTS {
        // The project's lock: the env is always installed from it.
        let text = crate::buildroot::uv::project_lock_text(
            &crate::contract::env_dir(name, &plan.env.id),
            &inputs.project.requirements,
        );
        plan.use_project_lock(&inputs.project.requirements);
        Some(text.into_bytes()).filter(|_| plan.env.action == plan::Action::Build)
    } else {
        // The lock an earlier build of this env recorded: the env is built
        // from it when its package is gone (and not `--rebuild-env`).
        let lock_file = bd.env_lock_file(name, &plan.env.full_id);
        let recorded = read_if_exists(&lock_file)?;
        plan.use_env_lock(
            recorded.as_deref().map(String::from_utf8_lossy).as_deref(),
            &lock_file.display().to_string(),
        );
        recorded.filter(|_| plan.env.action == plan::Action::RebuildFromLock)
    };
    Ok(Inputs {
        variant,
        project_inputs: inputs.project,
        project,
        settings,
        plan,
        files,
        timeout: args.timeout,
        env_lock,
    })
}

/// The bytes of `path`, or None when it does not exist.
fn read_if_exists(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e).into()),
    }
}

/// Every timer's calendar, as the target's systemd will read it (this
/// host's `systemd-analyze calendar`): the first it refuses is an error
/// naming the djdd.toml key.
pub fn check_calendars(project: &Project) -> anyhow::Result<()> {
    for t in &project.timers {
        if let Some(why) = crate::buildroot::host::calendar_problem(
            &crate::buildroot::runner::RealRunner,
            &t.calendar,
        )? {
            return Err(Error::invalid_hint(
                format!("{}: key `timers.{}.calendar`", project::FILE, t.name),
                format!("systemd refuses {:?}: {why}", t.calendar),
                "write a systemd calendar expression, e.g. \"daily\" or \"*-*-* 04:00:00\" (systemd.time(7); try it with `systemd-analyze calendar EXPR`)",
            )
            .into());
        }
    }
    Ok(())
}

/// The package files of NAME in `packages/`, newest version per package.
/// The env package `env` in the pool of `suite` of the apt repository
/// `repo` (`pool/SUITE/...`, as `djdd publish` lays it out), checked: its
/// control says the planned name, version and architecture, and that it
/// was built for `suite`. None when the pool does not hold it.
fn env_in_repository(
    repo: &Path,
    what: &str,
    suite: &str,
    env: &plan::PlannedPackage,
) -> anyhow::Result<Option<PathBuf>> {
    if !repo.join("dists").is_dir() {
        return Err(Error::invalid_hint(
            what.to_string(),
            "is not an apt repository (no dists/ directory)",
            "give the directory `djdd publish --repo` writes",
        )
        .into());
    }
    let pool = repo.join("pool").join(suite);
    let want = env.file_name();
    let Some(found) = walkdir::WalkDir::new(&pool)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|e| e.ok())
        .find(|e| e.file_type().is_file() && e.file_name().to_string_lossy() == want)
    else {
        return Ok(None);
    };
    let path = found.path().to_path_buf();
    let origin = path.display().to_string();
    let f = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
    let info = crate::deb::read::read_deb(std::io::BufReader::new(f), &origin)?;
    let c = &info.control;
    for (field, expected) in [
        ("Package", env.name.as_str()),
        ("Version", env.version.as_str()),
        ("Architecture", env.arch.as_str()),
        (crate::repo::BUILT_FOR_FIELD, suite),
    ] {
        if c.get(field) != Some(expected) {
            return Err(Error::invalid_hint(
                origin,
                format!(
                    "its {field} is {}, not {expected}",
                    c.get(field).unwrap_or("(none)")
                ),
                "the repository's pool holds a package under another's file name: fix the repository, or build without --repo",
            )
            .into());
        }
    }
    Ok(Some(path))
}

/// Copies `from` to `to` through a temp file in `to`'s directory and a
/// rename: `to` is whole or missing.
fn copy_atomic(from: &Path, to: &Path) -> anyhow::Result<()> {
    let dir = to.parent().expect("a file in packages/");
    // The package writer's temp name: a build after a crash removes it.
    let tmp = dir.join(format!(
        ".djdd-pack-{}.tmp",
        to.file_name().expect("a file name").to_string_lossy()
    ));
    std::fs::copy(from, &tmp).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, to).map_err(|e| Error::io(to, e))?;
    Ok(())
}

fn existing_packages(dir: &Path, name: &str) -> anyhow::Result<BTreeMap<String, plan::Existing>> {
    let mut out: BTreeMap<String, plan::Existing> = BTreeMap::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(dir, e).into()),
    };
    for e in rd {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = file.strip_suffix(".deb") else {
            continue;
        };
        let parts: Vec<&str> = stem.split('_').collect();
        let [pkg, version, _arch] = parts.as_slice() else {
            continue;
        };
        if !pkg.starts_with(&format!("{name}-")) {
            continue;
        }
        let newer = out
            .get(*pkg)
            .is_none_or(|old| crate::deb::version::compare_versions(version, &old.version).is_gt());
        if newer {
            out.insert(
                pkg.to_string(),
                plan::Existing {
                    version: version.to_string(),
                    file: file.clone(),
                    full_id: None,
                    file_count: None,
                },
            );
        }
    }
    Ok(out)
}

fn build_variant(
    bd: &BuildDir,
    root: &BuildRoot,
    lock: &mut DirLock,
    args: &BuildArgs,
    variant_name: &str,
    compression: Compression,
    rebuilt_envs: &mut Vec<String>,
) -> anyhow::Result<()> {
    // One build of a variant at a time, from its plan (which reads the last
    // build number) to its record: two at once would both take number N+1.
    let _build_lock = bd.lock_named(
        &format!("build-{}-{variant_name}", args.name),
        &format!("another build of {}-site-{variant_name}", args.name),
    )?;
    let mut inputs = load_inputs(bd, root, args, variant_name)?;
    let from_repo = env_from_repository(bd, root, args, &mut inputs)?;
    let plan = &inputs.plan;
    if args.plan {
        print!("{plan}");
        println!("variant {variant_name}, effective values:");
        print!(
            "{}",
            crate::config::variant::effective_table(
                &inputs.variant.effective(Some(&inputs.project))
            )
        );
        if let Some(deb) = &from_repo {
            println!("env from the repository: {}", deb.display());
        }
        return Ok(());
    }
    if plan.up_to_date() {
        tracing::info!(
            "{} {} is up to date (commit {}); nothing to build (--force rebuilds it)",
            plan.site.name,
            plan.site.version,
            plan.commit.id
        );
        return Ok(());
    }
    let mut log = BuildLog::open(bd, &args.name, variant_name)?;
    log.line(&format!("commit {}\n{plan}", plan.commit.id));
    install_build_packages(root, lock, plan, &mut log)?;
    let b = VariantBuild {
        bd,
        root,
        args,
        variant: variant_name,
        inputs: &inputs,
        opts: WriteOptions {
            compression,
            level: None,
            threads: 0,
            source_date_epoch: None,
        },
        packages_dir: bd.packages_dir(),
    };
    std::fs::create_dir_all(&b.packages_dir).map_err(|e| Error::io(&b.packages_dir, e))?;
    if let Some(deb) = &from_repo {
        b.copy_env(deb, &mut log)?;
    }

    // 1. env: built once per HASH (other builds wait on its lock), then its
    //    tree stays in the root for collectstatic of later builds.
    let env_dir = b.build_or_reuse_env(from_repo.is_some(), rebuilt_envs, &mut log)?;
    crate::testpause::point("after-env");

    let site = contract_site(&args.name, variant_name, &inputs);
    remove_stale_scratch(root, &args.name, variant_name);
    let scratch = Scratch::new(root, &args.name, variant_name);

    // 2. src: the commit's tree (and compiled messages), shared by variants.
    //    Its package is written only after collectstatic succeeded, so a
    //    commit whose build fails leaves no package behind.
    let src = b.src_tree(&site, &env_dir, &scratch.inside, &mut log)?;

    // 3. collectstatic, then the src package (when new) and the site package.
    b.write_packages(&site, &env_dir, &src, &scratch.inside, &mut log)?;
    drop(scratch);

    b.record_last_build()?;
    log.line("done");
    Ok(())
}

/// Whether the env is taken from an apt repository (`--repo`, or the build
/// dir's) instead of being built; if so, the plan says so. Returns its
/// package file in the repository.
fn env_from_repository(
    bd: &BuildDir,
    root: &BuildRoot,
    args: &BuildArgs,
    inputs: &mut Inputs,
) -> anyhow::Result<Option<PathBuf>> {
    // `--repo`/DJDD_REPO, or else the build dir's setting (`djdd init
    // --repo`), which may name a repository nothing was published to yet.
    let repo: Option<(PathBuf, String)> = match &args.repo {
        Some(r) => Some((r.clone(), format!("--repo {}", r.display()))),
        None => bd.read_settings()?.repo.map(|r| {
            let what = format!(
                "{} (the build dir's repository, {})",
                r.display(),
                bd.settings_file().display()
            );
            (r, what)
        }),
    };
    // The env, published already: reused from the repository.
    // It is preferred to a rebuild from the recorded lock: no pip run, and
    // the very bytes that are deployed.
    let from_repo = match &repo {
        Some((repo, what))
            if !args.rebuild_env
                && matches!(
                    inputs.plan.env.action,
                    plan::Action::Build | plan::Action::RebuildFromLock
                ) =>
        {
            if args.repo.is_none() && !repo.join("dists").is_dir() {
                tracing::info!("{what} holds no apt repository yet");
                None
            } else {
                env_in_repository(repo, what, root.suite(), &inputs.plan.env)?
            }
        }
        _ => None,
    };
    if from_repo.is_some() {
        inputs.plan.env.action = plan::Action::FromRepository;
        inputs.plan.env_note = None;
        inputs.env_lock = None;
    }
    Ok(from_repo)
}

/// Installs the Debian packages the plan's build needs into the root
/// (those missing), and logs them.
fn install_build_packages(
    root: &BuildRoot,
    lock: &mut DirLock,
    plan: &BuildPlan,
    log: &mut BuildLog,
) -> anyhow::Result<()> {
    if !plan.build_packages.is_empty() {
        let installed = root.install_packages(lock, &plan.build_packages)?;
        if !installed.is_empty() {
            log.line(&format!(
                "installed build packages: {}",
                installed.join(" ")
            ));
        }
    }
    Ok(())
}

/// One variant's build, once its plan says there is something to build:
/// what each of its steps reads.
struct VariantBuild<'a> {
    bd: &'a BuildDir,
    root: &'a BuildRoot,
    args: &'a BuildArgs,
    variant: &'a str,
    inputs: &'a Inputs,
    opts: WriteOptions,
    /// `D/packages`.
    packages_dir: PathBuf,
}

/// Where one env is: its trees in the root (`ENV` and `SHARE`), its
/// package, the marker of a complete tree, and the build dir's copy of its
/// lock.
struct EnvTree {
    dir: String,
    share_dir: String,
    file: PathBuf,
    marker: PathBuf,
    lock_file: PathBuf,
}

/// The src tree in the root: where it is, its package, the marker of a
/// complete tree, and its lock, held until the build ends.
struct SrcTree {
    dir: String,
    file: PathBuf,
    marker: PathBuf,
    _lock: NamedLock,
}

impl VariantBuild<'_> {
    /// The lock of the tree of package `p` in the root, `KIND-FULL_ID`
    /// (KIND: env or src): one build makes it, others wait.
    fn tree_lock(&self, kind: &str, p: &plan::PlannedPackage) -> anyhow::Result<NamedLock> {
        let lock = self.bd.lock_named(
            &format!("{kind}-{}", p.full_id),
            &format!("building {}", p.name),
        )?;
        Ok(lock)
    }

    /// Copies the env package found in the repository into `D/packages`.
    fn copy_env(&self, deb: &Path, log: &mut BuildLog) -> anyhow::Result<()> {
        let plan = &self.inputs.plan;
        let dest = self.packages_dir.join(plan.env.file_name());
        copy_atomic(deb, &dest)?;
        tracing::info!("copied {} from the repository", plan.env.file_name());
        log.line(&format!(
            "env {}: copied from {}",
            plan.env.name,
            deb.display()
        ));
        Ok(())
    }

    /// Step 1, under the env's lock: its package built (or reused, or
    /// copied from the repository, `from_repo`) and its tree in the root;
    /// then its lock recorded. Returns the env's directory in the root.
    fn build_or_reuse_env(
        &self,
        from_repo: bool,
        rebuilt_envs: &mut Vec<String>,
        log: &mut BuildLog,
    ) -> anyhow::Result<String> {
        let (bd, root, args, plan) = (self.bd, self.root, self.args, &self.inputs.plan);
        let env_lock = self.tree_lock("env", &plan.env)?;
        // The steps writing the env tree hold its lock too: if this djdd
        // is killed, the next build of the env waits until they are gone.
        let _hold = env_lock.hold_in_children();
        let lock_file = bd.env_lock_file(&args.name, &plan.env.full_id);
        let old_lock = read_if_exists(&lock_file)?;
        let tree = EnvTree {
            dir: contract::env_dir(&args.name, &plan.env.id),
            share_dir: format!("/usr/share/{}-env/{}", args.name, plan.env.id),
            file: self.packages_dir.join(plan.env.file_name()),
            marker: bd.state_dir().join("envs").join(&plan.env.full_id),
            lock_file,
        };
        let rebuild = args.rebuild_env && !rebuilt_envs.contains(&plan.env.full_id);
        if rebuild || !tree.file.exists() {
            // A package that is gone while its tree is complete is packed
            // again from the tree, when that gives the bytes it had.
            if rebuild || !self.repack_env(&tree, log)? {
                self.build_env_package(&tree, log)?;
            }
        } else if from_repo || !tree.marker.exists() || !steps::host_path(root, &tree.dir).is_dir()
        {
            // Reused package, tree missing from this root (or, for one
            // copied from the repository, maybe another build's): unpack it,
            // once it is known to unpack whole.
            self.unpack_env_package(&tree)?;
        } else {
            tracing::info!("reusing {}", plan.env.file_name());
        }
        record_lock(
            root,
            &tree.share_dir,
            &tree.lock_file,
            old_lock.as_deref(),
            rebuild,
            &plan.env.name,
            log,
        )?;
        if rebuild {
            rebuilt_envs.push(plan.env.full_id.clone());
        }
        Ok(tree.dir)
    }

    /// Writes the env package of the tree in the root to `dest` (its
    /// `Depends` from the shared libraries its compiled modules link to,
    /// which it returns).
    fn pack_env(&self, tree: &EnvTree, dest: &Path) -> anyhow::Result<Vec<(String, String)>> {
        let (root, plan) = (self.root, &self.inputs.plan);
        tracing::info!(
            "packing {} (its shared libraries' packages, then the .deb)",
            tree.dir
        );
        let shlibs = env::shlib_packages(root, &tree.dir)?;
        let mut pkg = env_package(root, self.inputs, &tree.dir, &tree.share_dir, &shlibs)?;
        mark_built_for(&mut pkg, root.suite());
        write_package(
            &pkg,
            &plan.env.allowed,
            &self.opts,
            Some(ENV_EPOCH),
            dest,
            "pack-env",
        )?;
        Ok(shlibs)
    }

    /// Packs the env again from its tree in the root, when its package is
    /// gone and the tree is complete: the marker records the sha256 of the
    /// package made from (or unpacked into) the tree, and the new package
    /// is kept only when it has that sha256, so the bytes are the ones
    /// built before (no install, no compile). `false`, with nothing left
    /// behind, when there is no such record or the tree changed since:
    /// then the env is built again.
    fn repack_env(&self, tree: &EnvTree, log: &mut BuildLog) -> anyhow::Result<bool> {
        let (root, plan) = (self.root, &self.inputs.plan);
        let Some(want) = std::fs::read_to_string(&tree.marker).ok().and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix(PACKAGE_SHA256).map(str::to_string))
        }) else {
            return Ok(false);
        };
        if !steps::host_path(root, &tree.dir).is_dir() {
            return Ok(false);
        }
        tracing::info!(
            "{} is gone: packing it again from its tree in the build root",
            plan.env.file_name()
        );
        let tmp = self.packages_dir.join(format!(
            "{}repack-{}{}",
            crate::deb::writer::TEMP_PREFIX,
            plan.env.full_id,
            crate::deb::writer::TEMP_SUFFIX
        ));
        let packed = || -> anyhow::Result<bool> {
            self.pack_env(tree, &tmp)?;
            let bytes = std::fs::read(&tmp).map_err(|e| Error::io(&tmp, e))?;
            Ok(crate::digest::sha256_hex(&bytes) == want)
        };
        let same = packed();
        if let Ok(true) = same {
            std::fs::rename(&tmp, &tree.file).map_err(|e| Error::io(&tree.file, e))?;
            log.line(&format!(
                "env {}: packed again from its tree in the build root (sha256 {want}, as built before)",
                plan.env.name
            ));
            tracing::info!("wrote {}", tree.file.display());
            return Ok(true);
        }
        let _ = std::fs::remove_file(&tmp);
        match same {
            Ok(_) => tracing::info!(
                "the env's tree in the build root is not what its package was made from: building it again"
            ),
            Err(e) => {
                tracing::info!("packing the env's tree again failed ({e:#}): building it again")
            }
        }
        Ok(false)
    }

    /// Builds the env's virtualenv in the root (from the recorded lock when
    /// the plan has one) and writes its package; a failure leaves no
    /// half-made tree in the root.
    fn build_env_package(&self, tree: &EnvTree, log: &mut BuildLog) -> anyhow::Result<()> {
        let (bd, root, inputs, plan) = (self.bd, self.root, self.inputs, &self.inputs.plan);
        let (env_dir, share_dir) = (&tree.dir, &tree.share_dir);
        let files: Vec<(String, Vec<u8>)> = requirement_files(inputs);
        let _ = std::fs::remove_file(&tree.marker);
        let requested = requested_names(inputs);
        let lock = inputs.env_lock.as_deref();
        let project_lock = &inputs.project_inputs.requirements.root;
        if lock.is_some() && project_lock != plan::REQUIREMENTS {
            log.line(&format!(
                "env {}: from the project's {project_lock}",
                plan.env.name
            ));
        } else if lock.is_some() {
            log.line(&format!(
                "env {}: from the lock {}",
                plan.env.name,
                tree.lock_file.display()
            ));
        }
        let project = match &inputs.project_inputs.project_tree {
            Some(tree) => {
                log.line(&format!(
                    "env {}: with the project itself, built from the commit's tree {tree}",
                    plan.env.name
                ));
                Some(source::archive(
                    &bd.source_repo(&self.args.name),
                    &plan.commit.id,
                )?)
            }
            None => None,
        };
        let built = || -> anyhow::Result<()> {
            env::build_env(
                root,
                &EnvBuild {
                    env_dir,
                    share_dir,
                    files,
                    // requirements.txt, or the project's lock.
                    root_file: &inputs.project_inputs.requirements.root,
                    python_version: &plan.python_version,
                    provided: &plan.app_server.provided,
                    lock,
                    requested: &requested,
                    cache_dir: &bd.cache_dir(),
                    installer: plan.installer,
                    project: project.as_deref(),
                },
            )?;
            let shlibs = self.pack_env(tree, &tree.file)?;
            log.line(&format!(
                "env {}: shared libraries {shlibs:?}",
                plan.env.name
            ));
            Ok(())
        };
        if let Err(e) = built() {
            // No half-made virtualenv stays in the root (pip failed,
            // or the package could not be written).
            let _ = steps::remove_in_root(root, env_dir);
            let _ = steps::remove_in_root(root, share_dir);
            return Err(e);
        }
        mark_env_complete(&tree.marker, &tree.file)?;
        tracing::info!("wrote {}", tree.file.display());
        Ok(())
    }

    /// Unpacks the env's package into the root, once it is known to unpack
    /// whole; a failure leaves no half-unpacked tree in the root.
    fn unpack_env_package(&self, tree: &EnvTree) -> anyhow::Result<()> {
        let (root, plan) = (self.root, &self.inputs.plan);
        check_deb_data(&tree.file)?;
        let _ = std::fs::remove_file(&tree.marker);
        steps::discard_in_root(root, &tree.dir)?;
        steps::discard_in_root(root, &tree.share_dir)?;
        tracing::info!("unpacking {} into the build root", plan.env.file_name());
        if let Err(e) = unpack_deb(&tree.file, &root.path()) {
            // No half-unpacked env stays in the root (a damaged
            // package stops dpkg-deb part of the way).
            let _ = steps::remove_in_root(root, &tree.dir);
            let _ = steps::remove_in_root(root, &tree.share_dir);
            return Err(e.into());
        }
        mark_env_complete(&tree.marker, &tree.file)?;
        Ok(())
    }

    /// Step 2, under the src's lock: the commit's tree unpacked into the
    /// root and its messages compiled, unless a complete tree is there
    /// already. The lock stays with the returned tree.
    fn src_tree(
        &self,
        site: &contract::Site,
        env_dir: &str,
        scratch_dir: &str,
        log: &mut BuildLog,
    ) -> anyhow::Result<SrcTree> {
        let (bd, root, args, plan) = (self.bd, self.root, self.args, &self.inputs.plan);
        let src_dir = contract::src_dir(&args.name, &plan.src.id);
        let src_lock = self.tree_lock("src", &plan.src)?;
        let src_file = self.packages_dir.join(plan.src.file_name());
        let src_marker = bd.state_dir().join("srcs").join(&plan.src.full_id);
        let src_tree_ok = src_marker.exists() && steps::host_path(root, &src_dir).is_dir();
        if !src_tree_ok {
            let _hold = src_lock.hold_in_children();
            let _ = std::fs::remove_file(&src_marker);
            let tar = source::archive(&bd.source_repo(&args.name), &plan.commit.id)?;
            let n = source_tree::unpack_tree(root, &src_dir, &tar)?;
            log.line(&format!("src {}: {n} members", plan.src.name));
            compilemessages(root, self.inputs, site, env_dir, &src_dir, scratch_dir, log)?;
        }
        Ok(SrcTree {
            dir: src_dir,
            file: src_file,
            marker: src_marker,
            _lock: src_lock,
        })
    }

    /// Step 3: collectstatic, then the src package (when new) and the site
    /// package written.
    fn write_packages(
        &self,
        site: &contract::Site,
        env_dir: &str,
        src: &SrcTree,
        scratch_dir: &str,
        log: &mut BuildLog,
    ) -> anyhow::Result<()> {
        let (root, inputs, plan) = (self.root, self.inputs, &self.inputs.plan);
        let cache_dir = self.bd.cache_dir();
        let static_host = static_files::collectstatic(
            root,
            inputs,
            &static_files::StaticBuild {
                site,
                env_dir,
                src_dir: &src.dir,
                scratch: scratch_dir,
                cache_dir: &cache_dir,
            },
            log,
        )?;
        let mut site_pkg = site_package(inputs, site, &static_host, root.suite())?;
        mark_built_for(&mut site_pkg, root.suite());
        if !src.file.exists() {
            let mut pkg = src_package(root, inputs, &src.dir)?;
            mark_built_for(&mut pkg, root.suite());
            write_package(
                &pkg,
                &plan.src.allowed,
                &self.opts,
                Some(plan.commit.time as u64),
                &src.file,
                "pack-src",
            )?;
            tracing::info!("wrote {}", src.file.display());
        } else {
            tracing::info!("reusing {}", plan.src.file_name());
        }
        mark_complete(&src.marker)?;
        let site_file = self.packages_dir.join(plan.site.file_name());
        write_package(
            &site_pkg,
            &plan.site.allowed,
            &self.opts,
            Some(plan.commit.time as u64),
            &site_file,
            "pack-site",
        )?;
        tracing::info!("wrote {}", site_file.display());
        Ok(())
    }

    /// The variant's last build, recorded (`D/state`): what `djdd status`
    /// shows and the next plan starts from.
    fn record_last_build(&self) -> anyhow::Result<()> {
        let plan = &self.inputs.plan;
        self.bd.write_last_build(
            &self.args.name,
            self.variant,
            &builddir::LastBuild {
                commit: plan.commit.id.clone(),
                version: plan.site.version.clone(),
                env_hash: plan.env.id.clone(),
                src_hash: plan.src.id.clone(),
                time: builddir::now_secs(),
                packages: [&plan.env, &plan.src, &plan.site]
                    .iter()
                    .map(|p| p.file_name())
                    .collect(),
                inputs: plan.fingerprint.clone(),
            },
        )?;
        Ok(())
    }
}

/// Where the scratch directories of builds are, inside the root:
/// `NAME-VARIANT-PID`.
const SCRATCH_DIR: &str = "/var/tmp/djdd-build";

/// Removes the scratch directories of NAME-VARIANT that killed builds left
/// (best effort). Only under the variant's build lock: then no other build
/// of NAME-VARIANT is running, so every one of them is stale.
fn remove_stale_scratch(root: &BuildRoot, name: &str, variant: &str) {
    let dir = steps::host_path(root, SCRATCH_DIR);
    let prefix = format!("{name}-{variant}-");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let file = e.file_name().to_string_lossy().into_owned();
        let is_pid = file
            .strip_prefix(&prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()));
        if is_pid {
            tracing::info!("removing {SCRATCH_DIR}/{file}, left by an interrupted build");
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A scratch directory in the build root, removed when the build ends
/// (successfully or not).
struct Scratch<'a> {
    root: &'a BuildRoot,
    inside: String,
}

impl<'a> Scratch<'a> {
    /// This build's: `SCRATCH_DIR/NAME-VARIANT-PID`.
    fn new(root: &'a BuildRoot, name: &str, variant: &str) -> Self {
        Scratch {
            root,
            inside: format!("{SCRATCH_DIR}/{name}-{variant}-{}", std::process::id()),
        }
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        let _ = steps::remove_in_root(self.root, &self.inside);
    }
}

/// The line of an env's marker that records its package's sha256.
const PACKAGE_SHA256: &str = "package sha256 ";

/// Records that an env's tree in the build root is complete, with the
/// sha256 of `deb`, the package made from it or unpacked into it
/// ([`VariantBuild::repack_env`] makes that package again).
fn mark_env_complete(marker: &Path, deb: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(deb).map_err(|e| Error::io(deb, e))?;
    if let Some(dir) = marker.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let text = format!(
        "complete\n{PACKAGE_SHA256}{}\n",
        crate::digest::sha256_hex(&bytes)
    );
    builddir::write_atomic(marker, text.as_bytes())?;
    Ok(())
}

/// Records that a tree in the build root is complete (its marker file).
fn mark_complete(marker: &Path) -> anyhow::Result<()> {
    if let Some(dir) = marker.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    builddir::write_atomic(marker, b"complete\n")?;
    Ok(())
}

/// Keeps the lock of the env tree now in the root (`SHARE/requirements.lock`,
/// that of the package just built, reused or copied) as the build dir's
/// lock of this env, `lock_file`. After `--rebuild-env` it says whether
/// the env's content changed under the same HASH, and how.
fn record_lock(
    root: &BuildRoot,
    share_dir: &str,
    lock_file: &Path,
    old: Option<&[u8]>,
    rebuilt: bool,
    env_name: &str,
    log: &mut BuildLog,
) -> anyhow::Result<()> {
    let in_root = steps::host_path(root, &format!("{share_dir}/{}", install::LOCK_FILE));
    // An env package from before the lock (env format < 3) has none.
    let Some(new) = read_if_exists(&in_root)? else {
        return Ok(());
    };
    if rebuilt {
        let changes = old.map(|o| {
            plan::lock_changes(&String::from_utf8_lossy(o), &String::from_utf8_lossy(&new))
        });
        let msg = match &changes {
            Some(c) if c.is_empty() => format!(
                "{env_name} was resolved again (--rebuild-env) to the same lock: its content did not change"
            ),
            Some(c) => format!(
                "{env_name} was resolved again (--rebuild-env): the env's content changed under the same HASH: {}",
                c.join(", ")
            ),
            None => format!(
                "{env_name} was resolved again (--rebuild-env) with no earlier lock to compare: the env's content may have changed under the same HASH"
            ),
        };
        if changes.as_ref().is_some_and(|c| c.is_empty()) {
            tracing::info!("{msg}");
        } else {
            tracing::warn!("{msg}");
        }
        log.line(&msg);
    }
    if old != Some(new.as_slice()) {
        if let Some(dir) = lock_file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        builddir::write_atomic(lock_file, &new)?;
    }
    Ok(())
}

/// The names the requirements ask for (the root file and its `-r`
/// includes, and what djdd adds), PEP 503-normalised: installed from a
/// lock, only these keep pip's REQUESTED mark.
fn requested_names(inputs: &Inputs) -> Vec<String> {
    let mut names = inputs.project_inputs.requirements.installed_names();
    names.extend(
        inputs
            .plan
            .app_server
            .provided
            .iter()
            .filter_map(|l| plan::requirement_name(l)),
    );
    names.sort();
    names.dedup();
    names
}

/// The requirement files plan hashed, with their bytes, for the env's
/// `/usr/share/NAME-env/HASH/` (pip reads them there, so includes resolve
/// as in the repository).
fn requirement_files(inputs: &Inputs) -> Vec<(String, Vec<u8>)> {
    inputs
        .project_inputs
        .requirements
        .files
        .keys()
        .filter_map(|p| inputs.files.get(p).map(|b| (p.clone(), b.clone())))
        .collect()
}
