//! The build plan: what one `djdd build` makes or reuses, as a value.
//!
//! Responsible for turning a build's inputs (names, the commit, the
//! project's requirement files as bytes, the build root's Python and
//! architecture, what already exists in `packages/`, the state of the last
//! build) into package names, hashes, versions, `Depends`, allowed install
//! paths and the decision to build, reuse or do nothing. `djdd build --plan`
//! prints it. It must never touch the disk or run a process: `ops` reads the
//! files and git and hands in bytes. Package names and versions follow
//! Debian Policy §5.6.1 and §5.6.12, versions compare as deb-version(7);
//! the rules are written down in docs/build-plan.md.

pub mod debian_requirements;
pub mod hash;
pub mod installer;
pub mod lock;
pub mod prefixes;
pub mod requirements;
pub mod version;

use std::collections::BTreeMap;
use std::fmt;

pub use crate::contract::AppServer;
use crate::deb::control::check_package_name;
use crate::error::{Error, Result};
pub use debian_requirements::DebianRequirements;
pub use hash::{ENV_FORMAT, EnvInputs, HASH_LEN, Hash, env_canonical, env_hash, src_hash};
pub use installer::{INSTALLER_VAR, Installer, UV_VERSION};
pub use lock::{Locked, installable, lock_changes, lock_failures, parse_lock};
pub use prefixes::{allowed_prefixes, check_path};
pub use requirements::{
    ReadFile, Requirements, Unpinned, check_requirements, load_requirements, requirement_name,
    unpinned_lines,
};
pub use version::{CommitInfo, ENV_VERSION, SRC_VERSION, compare_versions, next_site_version};

/// The project's pip requirements file, at the top of the repository.
pub const REQUIREMENTS: &str = "requirements.txt";
/// Debian packages the virtualenv needs (optional file).
pub const VENV_DEBIAN_REQUIREMENTS: &str = "venv-debian-requirements.txt";
/// Debian packages the source needs (optional file).
pub const SRC_DEBIAN_REQUIREMENTS: &str = "src-debian-requirements.txt";

/// The three kinds of package djdd makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PackageKind {
    /// `NAME-env-HASH`: the virtualenv.
    Env,
    /// `NAME-src-HASH`: the source tree of one commit.
    Src,
    /// `NAME-site-VARIANT`: configuration, static files, services.
    Site,
}

impl PackageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PackageKind::Env => "env",
            PackageKind::Src => "src",
            PackageKind::Site => "site",
        }
    }

    /// `NAME-KIND-ID`: ID is the env HASH, the src HASH or the VARIANT.
    pub fn package_name(self, name: &str, id: &str) -> String {
        format!("{name}-{}-{id}", self.as_str())
    }
}

impl fmt::Display for PackageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The project's requirement files, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectInputs {
    pub requirements: Requirements,
    pub venv_debian: DebianRequirements,
    pub src_debian: DebianRequirements,
    /// The commit's git tree id, when djdd.toml's `env.install_project`
    /// installs the project itself into the env: an input of the env HASH.
    pub project_tree: Option<String>,
}

impl ProjectInputs {
    /// What the env HASH is computed from, on a root with Python
    /// `python_version` and `arch`, with djdd's `provided` lines.
    pub fn env_inputs<'a>(
        &'a self,
        python_version: &'a str,
        arch: &'a str,
        provided: &'a [String],
        installer: Installer,
    ) -> EnvInputs<'a> {
        EnvInputs {
            requirements: &self.requirements,
            venv_debian: &self.venv_debian,
            python_version,
            arch,
            provided,
            installer,
            project_tree: self.project_tree.as_deref(),
        }
    }
}

/// Reads `requirements.txt` (required, with its includes) and the two Debian
/// requirement files (optional: missing means none) through `read`, which
/// gets repository-relative paths (see [`ReadFile`]).
pub fn load_project(read: &mut ReadFile<'_>) -> Result<ProjectInputs> {
    let requirements = load_requirements(REQUIREMENTS, read)?;
    with_debian(requirements, read)
}

/// The project's inputs with `requirements` as given (from the project's
/// lock: [`Requirements::from_lock`]) and the two Debian requirement files
/// read through `read`.
pub fn with_debian(requirements: Requirements, read: &mut ReadFile<'_>) -> Result<ProjectInputs> {
    let mut debian = |path: &str| -> Result<DebianRequirements> {
        match read(path)? {
            Some(bytes) => DebianRequirements::parse(path, &bytes),
            None => Ok(DebianRequirements::default()),
        }
    };
    Ok(ProjectInputs {
        venv_debian: debian(VENV_DEBIAN_REQUIREMENTS)?,
        src_debian: debian(SRC_DEBIAN_REQUIREMENTS)?,
        requirements,
        project_tree: None,
    })
}

/// What the env is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvSourceFile {
    /// `requirements.txt`, resolved at build time.
    Requirements,
    /// `uv.lock`, with the pyproject.toml beside it.
    UvLock,
    /// A PEP 751 lock, `pylock.toml` or `pylock.NAME.toml`.
    Pylock(String),
}

impl EnvSourceFile {
    /// Its path in the repository.
    pub fn path(&self) -> &str {
        match self {
            EnvSourceFile::Requirements => REQUIREMENTS,
            EnvSourceFile::UvLock => crate::config::project::UV_LOCK,
            EnvSourceFile::Pylock(p) => p,
        }
    }

    /// The files a build reads it from, by repository path.
    pub fn files(&self) -> Vec<&str> {
        match self {
            EnvSourceFile::UvLock => vec![
                crate::config::project::UV_LOCK,
                crate::config::project::PYPROJECT,
            ],
            other => vec![other.path()],
        }
    }
}

/// The file the env is built from: the one djdd.toml's `env.requirements`
/// names, otherwise the first of requirements.txt, uv.lock and
/// pylock.toml that `exists` (requirements.txt when none does, so that
/// reading it says it is missing). Extras or groups with requirements.txt
/// are refused.
pub fn env_source_file(
    env: &crate::config::project::EnvSource,
    exists: &mut dyn FnMut(&str) -> Result<bool>,
) -> Result<EnvSourceFile> {
    use crate::config::project::UV_LOCK;
    let source = match env.requirements.as_deref() {
        Some(r) if r == REQUIREMENTS => EnvSourceFile::Requirements,
        Some(r) if r == UV_LOCK => EnvSourceFile::UvLock,
        Some(r) => EnvSourceFile::Pylock(r.to_string()),
        None if exists(REQUIREMENTS)? => EnvSourceFile::Requirements,
        None if exists(UV_LOCK)? => EnvSourceFile::UvLock,
        None if exists("pylock.toml")? => EnvSourceFile::Pylock("pylock.toml".into()),
        None => EnvSourceFile::Requirements,
    };
    let chosen = !(env.extras.is_empty() && env.groups.is_empty());
    if chosen && source != EnvSourceFile::UvLock {
        return Err(Error::invalid_hint(
            format!(
                "{}: keys `env.extras` and `env.groups`",
                crate::config::project::FILE
            ),
            format!(
                "apply to uv.lock only, and the env is built from {}",
                source.path()
            ),
            "set `env.requirements = \"uv.lock\"`, or drop the extras and groups",
        ));
    }
    Ok(source)
}

/// Every problem in the project's requirement files (for `djdd check`).
pub fn check_project(read: &mut ReadFile<'_>) -> Vec<Error> {
    let mut problems = check_requirements(REQUIREMENTS, read);
    for path in [VENV_DEBIAN_REQUIREMENTS, SRC_DEBIAN_REQUIREMENTS] {
        match read(path) {
            Ok(Some(bytes)) => match std::str::from_utf8(&bytes) {
                Ok(text) => {
                    if let Err(errors) =
                        crate::config::project::parse_debian_requirements(path, text)
                    {
                        problems.extend(errors);
                    }
                }
                Err(_) => problems.push(Error::invalid_hint(
                    path,
                    "is not valid UTF-8",
                    "save the file as UTF-8",
                )),
            },
            Ok(None) => {}
            Err(e) => problems.push(e),
        }
    }
    problems
}

/// A package file already in `packages/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub version: String,
    /// Its file name in `packages/`.
    pub file: String,
    /// The full env hash or commit id it was built from, when the caller
    /// knows it (e.g. from a control field the packager writes): a different
    /// one under the same name is a hash collision and stops the build.
    pub full_id: Option<String>,
    pub file_count: Option<usize>,
}

/// What the caller's state remembers of the last build of this variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastBuild {
    pub version: String,
    /// [`BuildPlan::fingerprint`] of that build.
    pub fingerprint: String,
}

/// Everything one build's plan depends on. Plain data: `ops` fills it from
/// the configuration, git, the build root and the build dir.
#[derive(Debug, Clone)]
pub struct BuildInputs {
    pub name: String,
    pub variant: String,
    pub commit: CommitInfo,
    pub project: ProjectInputs,
    /// The build root's `/usr/bin/python3.X` as `3.X`.
    pub python_version: String,
    /// The build root's Debian architecture (`dpkg --print-architecture`).
    pub arch: String,
    /// The variant's settings as the configuration serialises them
    /// (canonically: same settings, same text). Part of the fingerprint.
    pub variant_settings: String,
    /// djdd's own version (`CARGO_PKG_VERSION`). Part of the fingerprint.
    pub djdd_version: String,
    /// Package files in `packages/`, by package name.
    pub existing: BTreeMap<String, Existing>,
    /// The highest site version of this variant known elsewhere (e.g. in
    /// the apt repository), if any; the next version is above it too.
    pub published_site_version: Option<String>,
    pub last_build: Option<LastBuild>,
    /// Files in the commit's tree, when the caller counted them.
    pub src_file_count: Option<usize>,
    /// `--force`: build the site package even when up to date.
    pub force: bool,
    /// `--rebuild-env`: build the env again with a new resolution (a new
    /// lock), even when its package exists; the site package is then
    /// built too.
    pub rebuild_env: bool,
    /// Whether the project is served as ASGI (`asgi` in djdd.toml): its
    /// app server then needs uvicorn's worker.
    pub asgi: bool,
    /// The units' sandbox as the variant sets it (`strict`, or the
    /// relaxations of `djdd variant --allow`), for the plan's summary.
    pub sandbox: String,
    /// The project's build steps, one line each (`WHEN in DIR: WORDS`),
    /// and its release commands (the words), for the plan's summary.
    pub steps: Vec<String>,
    pub release: Vec<String>,
    /// What installs the env (`DJDD_INSTALLER`).
    pub installer: Installer,
}

/// What happens to a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Built and written to `packages/`.
    Build,
    /// A package with this name and version exists: not rebuilt, not rewritten.
    Reuse,
    /// The site package of the last build, whose inputs were the same.
    UpToDate,
    /// Not in `packages/`, but published in the repository `--repo` names:
    /// copied from there, not built (env packages only).
    FromRepository,
    /// Not in `packages/` (nor in the repository), but the build dir has
    /// the lock an earlier build of this env recorded: built by installing
    /// exactly that lock, not by resolving the requirements (env only).
    RebuildFromLock,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Build => "build",
            Action::Reuse => "reuse",
            Action::UpToDate => "up to date",
            Action::FromRepository => "from repo",
            Action::RebuildFromLock => "rebuild from lock",
        }
    }
}

/// One package of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPackage {
    pub kind: PackageKind,
    /// The package name, e.g. `shop-env-0123456789ab`.
    pub name: String,
    pub version: String,
    /// `Architecture`: the build root's for env and site, `all` for src.
    pub arch: String,
    /// The env HASH, src HASH or VARIANT in the name.
    pub id: String,
    /// The full env hash, full commit id, or the VARIANT.
    pub full_id: String,
    pub action: Action,
    pub file_count: Option<usize>,
    /// `Depends` known before building (the env package adds the shared
    /// library packages found after pip has run).
    pub depends: Vec<String>,
    /// Paths its members may have (see [`check_path`]).
    pub allowed: Vec<String>,
}

impl PlannedPackage {
    /// `NAME_VERSION_ARCH.deb` (the epoch, if any, left out as dpkg-name does).
    pub fn file_name(&self) -> String {
        let v = match self.version.split_once(':') {
            Some((_, v)) => v,
            None => &self.version,
        };
        format!("{}_{}_{}.deb", self.name, v, self.arch)
    }
}

/// The plan of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPlan {
    /// What installs the env (`DJDD_INSTALLER`).
    pub installer: Installer,
    pub name: String,
    pub variant: String,
    pub commit: CommitInfo,
    pub python_version: String,
    pub arch: String,
    pub env: PlannedPackage,
    pub src: PlannedPackage,
    pub site: PlannedPackage,
    /// The text the env HASH is the sha256 of ([`env_canonical`]).
    pub env_inputs: String,
    /// Debian packages the build root needs (build packages of both Debian
    /// requirement files), sorted, unique.
    pub build_packages: Vec<String>,
    /// sha256 (hex) of [`BuildPlan::fingerprint_text`]: same fingerprint as
    /// the last build means nothing to do.
    pub fingerprint: String,
    pub fingerprint_text: String,
    /// Requirement files and lines, for the summary.
    pub requirement_files: usize,
    pub requirement_lines: usize,
    /// What serves the site, and what djdd adds to the env for it.
    pub app_server: AppServer,
    /// The units' sandbox: `strict`, or `relaxed: ...`.
    pub sandbox: String,
    /// The build steps and the release commands, as in [`BuildInputs`].
    pub steps: Vec<String>,
    pub release: Vec<String>,
    /// How the env is made when it is built, when that needs saying
    /// (`--rebuild-env`, from the recorded lock, or why not from it).
    pub env_note: Option<String>,
    /// The commit's tree, when the project itself is installed into the
    /// env (djdd.toml's `env.install_project`).
    pub project_tree: Option<String>,
}

impl BuildPlan {
    pub fn packages(&self) -> [&PlannedPackage; 3] {
        [&self.env, &self.src, &self.site]
    }

    /// Nothing to build: the inputs are those of the last build and its
    /// packages are all still there.
    pub fn up_to_date(&self) -> bool {
        self.site.action == Action::UpToDate
    }

    /// The packages to build.
    pub fn to_build(&self) -> Vec<&PlannedPackage> {
        self.packages()
            .into_iter()
            .filter(|p| matches!(p.action, Action::Build | Action::RebuildFromLock))
            .collect()
    }

    /// Given the lock the build dir recorded for this env (`lock`, its
    /// text), an env to be built (not `--rebuild-env`) is built from it
    /// when it can be installed on its own ([`installable`]); the note
    /// says which, or why not. `where_` names where the lock is kept.
    pub fn use_project_lock(&mut self, requirements: &Requirements) {
        if self.env.action != Action::Build {
            return;
        }
        let n = requirements.line_count();
        self.env_note = Some(format!(
            "installs exactly the {n} distribution{} the project's {} selects for python{} {}, with {}; no resolution",
            plural(n),
            requirements.root,
            self.python_version,
            self.arch,
            match self.installer {
                Installer::Pip => "pip --no-deps --require-hashes",
                Installer::Uv =>
                    "uv pip install --no-deps --require-hashes, offline when uv's cache has every wheel",
            }
        ));
    }

    /// Builds the env from the lock an earlier build recorded (`lock`, at
    /// `where_`) when its package is gone.
    pub fn use_env_lock(&mut self, lock: Option<&str>, where_: &str) {
        if self.env.action != Action::Build || self.env_note.is_some() {
            return;
        }
        let Some(lock) = lock else { return };
        match installable(lock) {
            Ok(n) => {
                self.env.action = Action::RebuildFromLock;
                self.env_note = Some(format!(
                    "installs exactly the {n} distribution{} of the lock this build dir recorded ({where_}) with {}; no resolution",
                    plural(n),
                    match self.installer {
                        Installer::Pip => "pip --no-deps --require-hashes",
                        Installer::Uv =>
                            "uv pip install --no-deps --require-hashes, offline when uv's cache has every wheel",
                    }
                ));
            }
            Err(why) => {
                self.env_note = Some(format!(
                    "{} resolves the requirements: the recorded lock ({where_}) cannot be installed on its own: {why}",
                    self.installer.name()
                ));
            }
        }
    }
}

/// Checks NAME or VARIANT: it becomes part of package names, of paths
/// (`/usr/lib/NAME-site/VARIANT/`), user names and unit names.
fn check_part(what: &str, v: &str) -> Result<()> {
    let ok = v
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("{what} '{v}'"),
            "must be lower-case letters, digits and '-', starting with a letter or digit",
        ))
    }
}

/// Computes the plan of one build. Fails on invalid names, a malformed
/// commit id, Python version or architecture, or a hash collision with an
/// existing package.
pub fn plan_build(inputs: &BuildInputs) -> Result<BuildPlan> {
    let name = &inputs.name;
    check_part("NAME", name)?;
    check_part("VARIANT", &inputs.variant)?;
    let app_server = app_server(&inputs.project, inputs.asgi);
    let env_in = inputs.project.env_inputs(
        &inputs.python_version,
        &inputs.arch,
        &app_server.provided,
        inputs.installer,
    );
    let env_inputs = env_canonical(&env_in)?;
    let env_h = env_hash(&env_in)?;
    let src_h = src_hash(&inputs.commit.id)?;

    let reuse = |kind: PackageKind,
                 id: &Hash,
                 version: &str|
     -> Result<(String, Action, Option<usize>)> {
        let pkg = kind.package_name(name, &id.short);
        check_package_name(&pkg)?;
        match inputs.existing.get(&pkg) {
            Some(e) if e.version == version => {
                if let Some(full) = &e.full_id {
                    if full != &id.full {
                        return Err(Error::invalid_hint(
                            format!("packages/{}", e.file),
                            format!(
                                "was built from {full}, but this build's {kind} is {}: the {HASH_LEN}-digit names collide",
                                id.full
                            ),
                            "move the old package file away; it cannot be reused",
                        ));
                    }
                }
                Ok((pkg, Action::Reuse, e.file_count))
            }
            _ => Ok((pkg, Action::Build, None)),
        }
    };

    let (env_name, mut env_action, mut env_count) = reuse(PackageKind::Env, &env_h, ENV_VERSION)?;
    let mut env_note = None;
    if inputs.rebuild_env {
        env_action = Action::Build;
        env_count = None;
        env_note = Some(format!(
            "--rebuild-env: {} resolves the requirements again and writes a new lock; the env's content may change under the same HASH",
            inputs.installer.name()
        ));
    }
    let mut env_depends = vec![format!("python{}", inputs.python_version)];
    env_depends.extend(inputs.project.venv_debian.run.iter().cloned());
    let env = PlannedPackage {
        kind: PackageKind::Env,
        name: env_name.clone(),
        version: ENV_VERSION.to_string(),
        arch: inputs.arch.clone(),
        id: env_h.short.clone(),
        full_id: env_h.full.clone(),
        action: env_action,
        file_count: env_count,
        depends: env_depends,
        allowed: allowed_prefixes(PackageKind::Env, name, &env_h.short),
    };

    let (src_name, src_action, src_count) = reuse(PackageKind::Src, &src_h, SRC_VERSION)?;
    let src = PlannedPackage {
        kind: PackageKind::Src,
        name: src_name.clone(),
        version: SRC_VERSION.to_string(),
        arch: "all".to_string(),
        id: src_h.short.clone(),
        full_id: src_h.full.clone(),
        action: src_action,
        file_count: src_count.or(inputs.src_file_count),
        depends: inputs.project.src_debian.run.clone(),
        allowed: allowed_prefixes(PackageKind::Src, name, &src_h.short),
    };

    let fingerprint_text = format!(
        "djdd-site-inputs\ndjdd {}\nname {name}\nvariant {}\ncommit {}\nenv {}\nsettings {}\n",
        inputs.djdd_version.escape_debug(),
        inputs.variant,
        src_h.full,
        env_h.full,
        crate::digest::sha256_hex(inputs.variant_settings.as_bytes()),
    );
    let fingerprint = crate::digest::sha256_hex(fingerprint_text.as_bytes());

    let site_name = PackageKind::Site.package_name(name, &inputs.variant);
    check_package_name(&site_name)?;
    let site_existing = inputs.existing.get(&site_name);
    let up_to_date = !inputs.force
        && env.action == Action::Reuse
        && src.action == Action::Reuse
        && inputs.last_build.as_ref().is_some_and(|l| {
            l.fingerprint == fingerprint && site_existing.is_some_and(|e| e.version == l.version)
        });
    let (site_version, site_action, site_count) = if up_to_date {
        let e = site_existing.expect("checked");
        (e.version.clone(), Action::UpToDate, e.file_count)
    } else {
        let mut highest: Option<&str> = None;
        let known = [
            inputs.last_build.as_ref().map(|l| l.version.as_str()),
            site_existing.map(|e| e.version.as_str()),
            inputs.published_site_version.as_deref(),
        ];
        for v in known.into_iter().flatten() {
            if highest.is_none_or(|h| compare_versions(v, h).is_gt()) {
                highest = Some(v);
            }
        }
        (
            next_site_version(highest, &inputs.commit)?,
            Action::Build,
            None,
        )
    };
    let site = PlannedPackage {
        kind: PackageKind::Site,
        name: site_name,
        version: site_version,
        arch: inputs.arch.clone(),
        id: inputs.variant.clone(),
        full_id: inputs.variant.clone(),
        action: site_action,
        file_count: site_count,
        depends: vec![
            format!("{env_name} (= {ENV_VERSION})"),
            format!("{src_name} (= {SRC_VERSION})"),
            "nginx".to_string(),
            "adduser".to_string(),
            "postgresql-client".to_string(),
        ],
        allowed: allowed_prefixes(PackageKind::Site, name, &inputs.variant),
    };

    let mut build_packages: Vec<String> = inputs
        .project
        .venv_debian
        .build
        .iter()
        .chain(&inputs.project.src_debian.build)
        .cloned()
        .collect();
    build_packages.sort();
    build_packages.dedup();

    Ok(BuildPlan {
        name: name.clone(),
        variant: inputs.variant.clone(),
        commit: inputs.commit.clone(),
        python_version: inputs.python_version.clone(),
        arch: inputs.arch.clone(),
        env,
        src,
        site,
        env_inputs,
        build_packages,
        fingerprint,
        fingerprint_text,
        requirement_files: inputs.project.requirements.files.len(),
        requirement_lines: inputs.project.requirements.line_count(),
        app_server,
        sandbox: inputs.sandbox.clone(),
        steps: inputs.steps.clone(),
        release: inputs.release.clone(),
        env_note,
        project_tree: inputs.project.project_tree.clone(),
        installer: inputs.installer,
    })
}

/// The app server of a project: gunicorn from its requirements, or the
/// one djdd pins (`contract::GUNICORN_PIN`), plus uvicorn's worker for an
/// ASGI project. `djdd build` and `djdd check` both decide it here.
pub fn app_server(project: &ProjectInputs, asgi: bool) -> AppServer {
    AppServer::for_project(&project.requirements.installed_names(), asgi)
}

/// What `djdd build --plan` prints: stable, one package a line.
impl fmt::Display for BuildPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "build plan for {} {}", self.name, self.variant)?;
        writeln!(
            f,
            "  commit       {} ({})",
            self.commit.id,
            crate::time::utc(self.commit.time)
        )?;
        writeln!(
            f,
            "  build root   python{} {}",
            self.python_version, self.arch
        )?;
        writeln!(
            f,
            "  env HASH     {} from {} requirement line{} in {} file{}, env format {}",
            self.env.id,
            self.requirement_lines,
            plural(self.requirement_lines),
            self.requirement_files,
            plural(self.requirement_files),
            ENV_FORMAT
        )?;
        writeln!(f, "  app server   {}", self.app_server.describe())?;
        writeln!(f, "  sandbox      {}", self.sandbox)?;
        writeln!(f, "  src HASH     {}", self.src.id)?;
        writeln!(f, "  fingerprint  {}", &self.fingerprint[..HASH_LEN])?;
        let build_packages = if self.build_packages.is_empty() {
            "(none)".to_string()
        } else {
            self.build_packages.join(" ")
        };
        writeln!(f, "  build root needs  {build_packages}")?;
        for (i, s) in self.steps.iter().enumerate() {
            let head = if i == 0 { "build steps " } else { "" };
            writeln!(f, "  {head:<12} {}. {s}", i + 1)?;
        }
        for (i, c) in self.release.iter().enumerate() {
            let head = if i == 0 { "on release" } else { "" };
            writeln!(f, "  {head:<12} {}. {c}", i + 1)?;
        }
        writeln!(f)?;
        let pk = self.packages();
        let wn = pk.iter().map(|p| p.name.len()).max().unwrap_or(0);
        let wv = pk.iter().map(|p| p.version.len()).max().unwrap_or(0);
        let wa = pk
            .iter()
            .map(|p| p.action.as_str().len())
            .max()
            .unwrap_or(0);
        for p in pk {
            let count = match p.file_count {
                Some(n) => format!(" ({n} file{})", plural(n)),
                None => String::new(),
            };
            writeln!(
                f,
                "  {:<4} {:<wn$}  {:<wv$}  {:<wa$}  {}{count}",
                p.kind.as_str(),
                p.name,
                p.version,
                p.action.as_str(),
                p.file_name(),
            )?;
        }
        writeln!(f)?;
        if let Some(note) = &self.env_note {
            writeln!(f, "env {}: {note}", self.env.action.as_str())?;
        }
        if let (Some(tree), Action::Build | Action::RebuildFromLock) =
            (&self.project_tree, &self.env.action)
        {
            writeln!(
                f,
                "env {}: then the project itself (djdd.toml's env.install_project), a wheel built from the commit's tree {tree}",
                self.env.action.as_str()
            )?;
        }
        if self.up_to_date() {
            writeln!(
                f,
                "up to date: the last build ({}) had the same inputs; nothing to build (--force rebuilds the site package)",
                self.site.version
            )
        } else {
            let n = self.to_build().len();
            writeln!(f, "{n} package{} to build, {} reused", plural(n), 3 - n)
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    fn project() -> ProjectInputs {
        let files: BTreeMap<&str, &str> = [
            (
                "requirements.txt",
                "Django==4.2.7\n-r base.txt\npsycopg2==2.9.9\n",
            ),
            ("base.txt", "gunicorn==21.2.0\n"),
            (
                "venv-debian-requirements.txt",
                "libpq-dev build\nlibpq5 run\n",
            ),
            ("src-debian-requirements.txt", "gettext build\n"),
        ]
        .into();
        load_project(&mut |p: &str| Ok(files.get(p).map(|s| s.as_bytes().to_vec()))).unwrap()
    }

    fn inputs() -> BuildInputs {
        BuildInputs {
            installer: Installer::Pip,
            name: "shop".into(),
            variant: "blue".into(),
            commit: CommitInfo {
                id: COMMIT.into(),
                time: 1_700_000_000,
            },
            project: project(),
            python_version: "3.11".into(),
            arch: "amd64".into(),
            variant_settings: "domain = \"shop.example\"\n".into(),
            djdd_version: "0.1.0".into(),
            existing: BTreeMap::new(),
            published_site_version: None,
            last_build: None,
            src_file_count: Some(42),
            force: false,
            rebuild_env: false,
            asgi: false,
            sandbox: "strict".into(),
            steps: Vec::new(),
            release: Vec::new(),
        }
    }

    fn existing(version: &str, file: &str) -> Existing {
        Existing {
            version: version.into(),
            file: file.into(),
            full_id: None,
            file_count: Some(7),
        }
    }

    #[test]
    fn first_build_builds_three_packages() {
        let p = plan_build(&inputs()).unwrap();
        assert_eq!(p.to_build().len(), 3);
        assert_eq!(p.src.name, "shop-src-0123456789ab");
        assert_eq!(p.src.file_name(), "shop-src-0123456789ab_1_all.deb");
        assert!(p.env.name.starts_with("shop-env-") && p.env.name.len() == 9 + HASH_LEN);
        assert_eq!(p.site.name, "shop-site-blue");
        assert_eq!(p.site.version, "1+g0123456789ab");
        assert_eq!(p.env.depends, ["python3.11", "libpq5"]);
        assert!(p.src.depends.is_empty());
        assert_eq!(p.build_packages, ["gettext", "libpq-dev"]);
        assert_eq!(
            p.site.depends[..2],
            [
                format!("{} (= 1)", p.env.name),
                "shop-src-0123456789ab (= 1)".to_string()
            ]
        );
    }

    /// `i` with the env and src packages of `first` in `packages/`, and
    /// with `site` its site package too, recorded as the last build.
    fn with_packages_of(i: &mut BuildInputs, first: &BuildPlan, site: bool) {
        i.existing.insert(
            first.env.name.clone(),
            existing("1", &first.env.file_name()),
        );
        i.existing.insert(
            first.src.name.clone(),
            existing("1", &first.src.file_name()),
        );
        if site {
            i.existing.insert(
                first.site.name.clone(),
                existing(&first.site.version, "x.deb"),
            );
            i.last_build = Some(LastBuild {
                version: first.site.version.clone(),
                fingerprint: first.fingerprint.clone(),
            });
        }
    }

    #[test]
    fn existing_env_and_src_are_reused_and_same_inputs_are_up_to_date() {
        let first = plan_build(&inputs()).unwrap();
        let mut i = inputs();
        with_packages_of(&mut i, &first, false);
        let p = plan_build(&i).unwrap();
        assert_eq!(p.env.action, Action::Reuse);
        assert_eq!(p.src.action, Action::Reuse);
        assert_eq!(p.site.action, Action::Build);

        with_packages_of(&mut i, &first, true);
        let p = plan_build(&i).unwrap();
        assert!(p.up_to_date());
        assert_eq!(p.site.version, first.site.version);
        assert!(p.to_string().contains("up to date"));

        i.force = true;
        let p = plan_build(&i).unwrap();
        assert!(!p.up_to_date());
        assert_eq!(p.site.version, "2+g0123456789ab");
        assert_eq!(
            p.env.action,
            Action::Reuse,
            "--force does not rewrite an env"
        );

        i.force = false;
        i.variant_settings.push_str("workers = 3\n");
        let p = plan_build(&i).unwrap();
        assert!(!p.up_to_date(), "changed settings make a new site package");
        i.variant_settings = inputs().variant_settings;
        i.djdd_version = "0.2.0".into();
        assert!(!plan_build(&i).unwrap().up_to_date(), "a new djdd rebuilds");
    }

    #[test]
    fn a_recorded_lock_rebuilds_the_env_and_rebuild_env_resolves_again() {
        let h = "a".repeat(64);
        let lock =
            format!("# lock\ndjango==5.2.8 --hash=sha256:{h}\nsqlparse==0.5.3 --hash=sha256:{h}\n");
        // No env package: built from the lock, and the plan says so.
        let mut p = plan_build(&inputs()).unwrap();
        p.use_env_lock(Some(&lock), "state/env-locks/x.lock");
        assert_eq!(p.env.action, Action::RebuildFromLock);
        assert_eq!(p.to_build().len(), 3);
        let text = p.to_string();
        assert!(text.contains("  rebuild from lock  "), "{text}");
        assert!(
            text.contains("env rebuild from lock: installs exactly the 2 distributions of the lock this build dir recorded (state/env-locks/x.lock)"),
            "{text}"
        );
        // No lock: resolved as before, nothing said.
        let mut p = plan_build(&inputs()).unwrap();
        p.use_env_lock(None, "x");
        assert_eq!(p.env.action, Action::Build);
        assert_eq!(p.env_note, None);
        // A lock with a VCS distribution cannot be installed alone.
        let mut p = plan_build(&inputs()).unwrap();
        p.use_env_lock(
            Some("x==1  # no archive hash: from git+https://e.org/x\n"),
            "x",
        );
        assert_eq!(p.env.action, Action::Build);
        assert!(p.to_string().contains("env build: pip resolves the requirements: the recorded lock (x) cannot be installed on its own: x==1 has no archive hash"), "{p}");
        // An existing env package is reused, lock or not.
        let first = plan_build(&inputs()).unwrap();
        let mut i = inputs();
        with_packages_of(&mut i, &first, true);
        let mut p = plan_build(&i).unwrap();
        p.use_env_lock(Some(&lock), "x");
        assert!(p.up_to_date());
        assert_eq!(p.env.action, Action::Reuse);
        // --rebuild-env: the env is built again (resolved, not from the
        // lock), and the site package with it.
        i.rebuild_env = true;
        let mut p = plan_build(&i).unwrap();
        p.use_env_lock(Some(&lock), "x");
        assert_eq!(p.env.action, Action::Build);
        assert_eq!(p.src.action, Action::Reuse);
        assert_eq!(p.site.action, Action::Build);
        assert_eq!(p.site.version, "2+g0123456789ab");
        assert!(
            p.to_string().contains("env build: --rebuild-env: pip resolves the requirements again and writes a new lock; the env's content may change under the same HASH"),
            "{p}"
        );
    }

    #[test]
    fn djdd_provides_gunicorn_when_the_requirements_do_not_name_it() {
        let own = plan_build(&inputs()).unwrap();
        assert!(own.app_server.provided.is_empty());
        let mut i = inputs();
        let files: BTreeMap<&str, &str> =
            [("requirements.txt", "Django==4.2.7\nuWSGI==2.0.31\n")].into();
        i.project =
            load_project(&mut |p: &str| Ok(files.get(p).map(|s| s.as_bytes().to_vec()))).unwrap();
        let p = plan_build(&i).unwrap();
        assert_eq!(p.app_server.provided, [crate::contract::GUNICORN_PIN]);
        assert!(p.env_inputs.ends_with(&format!(
            "provided 1\n  {}\n",
            crate::contract::GUNICORN_PIN
        )));
        assert!(p.to_string().contains("djdd adds gunicorn=="), "{p}");
        assert!(p.to_string().contains("  sandbox      strict\n"), "{p}");
        i.asgi = true;
        let q = plan_build(&i).unwrap();
        assert_eq!(
            q.app_server.provided,
            [
                crate::contract::GUNICORN_PIN,
                crate::contract::UVICORN_WORKER_PIN
            ]
        );
        assert_ne!(q.env.id, p.env.id, "ASGI adds an input");
        // The project's own pin wins, and adds nothing.
        let mut o = inputs();
        o.asgi = true;
        let r = plan_build(&o).unwrap();
        assert_eq!(r.app_server.provided, [crate::contract::UVICORN_WORKER_PIN]);
    }

    #[test]
    fn a_deleted_site_package_is_rebuilt() {
        let first = plan_build(&inputs()).unwrap();
        let mut i = inputs();
        i.existing
            .insert(first.env.name.clone(), existing("1", "e"));
        i.existing
            .insert(first.src.name.clone(), existing("1", "s"));
        i.last_build = Some(LastBuild {
            version: first.site.version.clone(),
            fingerprint: first.fingerprint.clone(),
        });
        let p = plan_build(&i).unwrap();
        assert_eq!(p.site.action, Action::Build);
        assert_eq!(p.site.version, "2+g0123456789ab");
    }

    #[test]
    fn the_site_version_passes_every_known_version() {
        let mut i = inputs();
        i.last_build = Some(LastBuild {
            version: "4+gaaaaaaaaaaaa".into(),
            fingerprint: "x".into(),
        });
        i.existing
            .insert("shop-site-blue".into(), existing("6+gbbbbbbbbbbbb", "x"));
        i.published_site_version = Some("5+gcccccccccccc".into());
        assert_eq!(plan_build(&i).unwrap().site.version, "7+g0123456789ab");
    }

    #[test]
    fn an_existing_package_from_another_commit_is_a_collision() {
        let mut i = inputs();
        let mut e = existing("1", "shop-src-0123456789ab_1_all.deb");
        e.full_id = Some("0123456789ab".to_string() + &"f".repeat(28));
        i.existing.insert("shop-src-0123456789ab".into(), e);
        let err = plan_build(&i).unwrap_err().to_string();
        assert!(
            err.starts_with("packages/shop-src-0123456789ab_1_all.deb: was built from"),
            "{err}"
        );
        assert!(err.contains("collide"), "{err}");
    }

    #[test]
    fn an_older_src_version_is_not_reused() {
        let mut i = inputs();
        i.existing
            .insert("shop-src-0123456789ab".into(), existing("0", "old"));
        assert_eq!(plan_build(&i).unwrap().src.action, Action::Build);
    }

    #[test]
    fn bad_names_are_refused() {
        for (name, variant) in [
            ("Shop", "blue"),
            ("shop", ".."),
            ("shop", "a/b"),
            ("-x", "blue"),
            ("shop", ""),
        ] {
            let mut i = inputs();
            i.name = name.into();
            i.variant = variant.into();
            assert!(plan_build(&i).is_err(), "{name} {variant}");
        }
    }

    #[test]
    fn display_is_stable() {
        let mut i = inputs();
        let first = plan_build(&i).unwrap();
        i.existing
            .insert(first.env.name.clone(), existing("1", "e"));
        let p = plan_build(&i).unwrap();
        let env = &p.env.name;
        let envh = &p.env.id;
        let fp = &p.fingerprint[..12];
        let want = format!(
            "build plan for shop blue
  commit       {COMMIT} (2023-11-14 22:13:20 UTC)
  build root   python3.11 amd64
  env HASH     {envh} from 4 requirement lines in 2 files, env format 4
  app server   gunicorn (WSGI), from the project's requirements
  sandbox      strict
  src HASH     0123456789ab
  fingerprint  {fp}
  build root needs  gettext libpq-dev

  env  {env}  1                reuse  {env}_1_amd64.deb (7 files)
  src  shop-src-0123456789ab  1                build  shop-src-0123456789ab_1_all.deb (42 files)
  site shop-site-blue         1+g0123456789ab  build  shop-site-blue_1+g0123456789ab_amd64.deb

2 packages to build, 1 reused
"
        );
        assert_eq!(p.to_string(), want);

        // The build steps and the release commands, in order.
        i.steps = vec![
            "before-collectstatic in frontend: npm ci".into(),
            "after-collectstatic in .: manage.py compress".into(),
        ];
        i.release = vec!["manage.py clearsessions".into()];
        let text = plan_build(&i).unwrap().to_string();
        assert!(
            text.contains(
                "  build root needs  gettext libpq-dev
  build steps  1. before-collectstatic in frontend: npm ci
               2. after-collectstatic in .: manage.py compress
  on release   1. manage.py clearsessions
"
            ),
            "{text}"
        );
    }

    #[test]
    fn utc_formats_dates() {
        assert_eq!(crate::time::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(crate::time::utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(crate::time::utc(-1), "1969-12-31 23:59:59 UTC");
    }
}
