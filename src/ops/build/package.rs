//! The three packages of a build as values (control paragraph, control
//! files, entries), the build-root steps that feed the site package
//! (compilemessages, collectstatic), and the one place packages are written:
//! members checked against the package's allowed prefixes, then a temp file
//! in `packages/` renamed into place.

use std::io::Write as _;
use std::path::Path;

use super::Inputs;
use crate::builddir::BuildDir;
use crate::buildroot::env::ENV_EPOCH;
use crate::buildroot::runner::{Cmd, RealRunner, Runner};
use crate::buildroot::{BUILD_USER, BuildRoot, steps};
use crate::config::project::Compilemessages;
use crate::contract;
use crate::deb::control::Paragraph;
use crate::deb::{ControlFile, Entry, EntryKind, Package, WriteOptions};
use crate::error::{Error, Result};
use crate::render;

/// Maintainer of the packages djdd writes (Debian Policy 5.6.2 wants one).
/// A machine builds them, so the address is in the reserved `.invalid`
/// domain (RFC 2606): lintian accepts it (it has a dot and no `root`), and
/// nobody's mailbox or host name leaks into the package.
pub const MAINTAINER: &str = "djdd <djdd@build-host.invalid>";

/// The contract's view of this variant's build.
pub fn contract_site(name: &str, variant: &str, inputs: &Inputs) -> contract::Site {
    contract::Site {
        name: name.to_string(),
        variant: variant.to_string(),
        domain: inputs.variant.domain.clone(),
        settings: inputs.settings.clone(),
        workers: inputs.variant.workers,
        celery: inputs.variant.celery,
        redis_broker: inputs.variant.celery && inputs.variant.redis_broker(),
        redis: inputs.variant.site_redis(inputs.project.redis),
        asgi: inputs.project.asgi.is_some(),
        https_only: false,
        version: inputs.plan.site.version.clone(),
        commit: inputs.plan.commit.id.clone(),
        external: contract::External::of(&inputs.variant.external),
        uid: inputs.variant.uid,
    }
}

/// Entries for every file, directory and symlink below `host` (a directory
/// of the build root), installed below `dest` (`/usr/lib/...`). Modes are
/// normalised (0755 for directories and executables, 0644 otherwise);
/// owners are root.
pub fn entries_from_dir(host: &Path, dest: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let dest = dest.trim_matches('/');
    for item in walkdir::WalkDir::new(host)
        .follow_links(false)
        .sort_by_file_name()
    {
        let item = item.map_err(|e| Error::io(host, std::io::Error::other(e.to_string())))?;
        let rel = item
            .path()
            .strip_prefix(host)
            .expect("below the walk's root");
        let rel = rel.to_string_lossy();
        let path = if rel.is_empty() {
            dest.to_string()
        } else {
            format!("{dest}/{rel}")
        };
        let ft = item.file_type();
        if ft.is_dir() {
            out.push(Entry::dir(path, 0o755));
        } else if ft.is_symlink() {
            let target = std::fs::read_link(item.path()).map_err(|e| Error::io(item.path(), e))?;
            out.push(Entry::symlink(path, target.to_string_lossy().into_owned()));
        } else if ft.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let meta = item
                .metadata()
                .map_err(|e| Error::io(item.path(), std::io::Error::other(e.to_string())))?;
            // Executable only when the kernel could run it: a script (#!)
            // or an ELF file. Distributions from PyPI ship modules with an
            // execute bit and no #! line (redis-py's client.py); lintian:
            // executable-not-elf-or-script.
            let mode = if meta.permissions().mode() & 0o111 != 0 && runnable(item.path()) {
                0o755
            } else {
                0o644
            };
            out.push(Entry::file_from_path(path, mode, item.path()));
        } else {
            return Err(Error::invalid(
                item.path().display().to_string(),
                "is not a file, directory or symlink; a package cannot hold it",
            ));
        }
    }
    Ok(out)
}

/// Whether a file starts with `#!` or is an ELF file.
fn runnable(path: &Path) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 4];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    head[..n].starts_with(b"#!") || head[..n] == *b"\x7fELF"
}

fn control(package: &str, version: &str, arch: &str, section: &str) -> Paragraph {
    let mut c = Paragraph::new();
    c.set("Package", package);
    c.set("Version", version);
    c.set("Architecture", arch);
    c.set("Maintainer", MAINTAINER);
    c.set("Section", section);
    c.set("Priority", "optional");
    c
}

/// `/usr/share/doc/PKG/changelog.gz`: Debian Policy 12.7 wants one in
/// every binary package (lintian: no-changelog); one entry for this build,
/// dated `epoch`, compressed as `gzip -9n` (no name, no time).
fn changelog(pkg: &str, version: &str, what: &str, epoch: u64) -> Result<Entry> {
    let date = crate::repo::release::rfc2822(epoch as i64).replace(" UTC", " +0000");
    let text = format!(
        "{pkg} ({version}) unstable; urgency=medium\n\n  * {what}\n\n -- {MAINTAINER}  {date}\n"
    );
    Ok(Entry::file_from_bytes(
        format!("usr/share/doc/{pkg}/changelog.gz"),
        0o644,
        gzip_reproducibly(text.as_bytes(), &format!("changelog of {pkg}"))?,
    ))
}

/// `data` gzipped as Debian's tools do for documentation: best
/// compression, no name, mtime 0 (the same bytes on every build).
fn gzip_reproducibly(data: &[u8], what: &str) -> Result<Vec<u8>> {
    let mut gz = Vec::new();
    let mut w = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(3)
        .write(&mut gz, flate2::Compression::best());
    w.write_all(data)
        .and_then(|()| w.try_finish())
        .map_err(|e| Error::io(what.to_string(), e))?;
    drop(w);
    Ok(gz)
}

/// `/usr/share/lintian/overrides/PKG`: the lintian tags a package of this
/// kind cannot avoid, each with the reason (docs/build.md lists them).
fn lintian_overrides(pkg: &str, tags: &[(&str, &str)]) -> Entry {
    let mut text = String::new();
    let built_for = format!("unknown-field {}", crate::repo::BUILT_FOR_FIELD);
    for (tag, why) in tags
        .iter()
        .chain([(built_for.as_str(), BUILT_FOR_WHY)].iter())
    {
        text.push_str(&format!("# {why}\n{pkg}: {tag}\n"));
    }
    Entry::file_from_bytes(format!("usr/share/lintian/overrides/{pkg}"), 0o644, text)
}

/// Why every djdd package overrides `unknown-field X-Djdd-Suite`.
const BUILT_FOR_WHY: &str = "djdd records the Debian release of the build root the package was built on, so that `djdd publish` never puts it into another release's suite";

/// Records the build root's Debian suite (codename) in a package's control
/// ([`crate::repo::BUILT_FOR_FIELD`], after `Priority`): `djdd publish`
/// puts the package only into a suite of that codename.
pub fn mark_built_for(pkg: &mut Package, suite: &str) {
    pkg.control
        .insert_after("Priority", crate::repo::BUILT_FOR_FIELD, suite);
}

/// Why every djdd package overrides `copyright-without-copyright-notice`.
const COPYRIGHT_WHY: &str = "djdd cannot know the project's copyright holders and years: the copyright file says so and points to the project's repository (and, for the env, to each installed distribution's licence files in its .dist-info)";

/// The lintian tags every site package overrides (see docs/build.md).
pub const SITE_LINTIAN_OVERRIDES: &[(&str, &str)] =
    &[("copyright-without-copyright-notice", COPYRIGHT_WHY)];

/// The lintian tag a site package with processes overrides (see
/// docs/build.md): each process's template is `WantedBy=` the process's
/// own target, which the same package ships.
pub const PROCESS_LINTIAN_OVERRIDE: (&str, &str) = (
    "systemd-service-file-refers-to-unusual-wantedby-target",
    "each process is a template NAME-VARIANT-P@.service whose instances are wanted by the process's own target NAME-VARIANT-P.target, shipped in this package: a host runs N of them with links in that target's .wants (NAME-VARIANT scale)",
);

/// The lintian tags every src package overrides (see docs/build.md).
pub const SRC_LINTIAN_OVERRIDES: &[(&str, &str)] = &[
    (
        "package-contains-vcs-control-file",
        "the package is the project's tree at one commit as `git archive` gives it (.gitignore included); mark files `export-ignore` in .gitattributes to leave them out",
    ),
    ("copyright-without-copyright-notice", COPYRIGHT_WHY),
];

/// The lintian tags every env package overrides (see docs/build.md).
pub const ENV_LINTIAN_OVERRIDES: &[(&str, &str)] = &[
    (
        "package-installs-python-pycache-dir",
        "the virtualenv ships its bytecode, compiled once at build time (checked-hash .pyc, byte-identical on every build) for the exact python3.X it depends on, so nothing is written below /usr/lib at run time",
    ),
    (
        "unusual-interpreter",
        "the virtualenv's scripts run the virtualenv's own python (bin/python3.X), which is the point of a virtualenv; files inside installed distributions keep the #! lines their authors wrote",
    ),
    (
        "absolute-symlink-in-top-level-folder",
        "bin/python3.X -> /usr/bin/python3.X is the link `python3 -m venv` makes to the interpreter the package depends on",
    ),
    (
        "embedded-javascript-library",
        "the virtualenv holds the distributions from PyPI as they are (Django's admin ships its own jQuery); the site serves them through collectstatic, not from Debian's libjs packages",
    ),
    (
        "package-contains-timestamped-gzip",
        "a .gz file inside a distribution from PyPI (e.g. Django's common-passwords.txt.gz), shipped as its wheel has it",
    ),
    (
        "custom-library-search-path RUNPATH /usr/lib/*-linux-gnu [*]",
        "a program compiled from its sdist (uWSGI's bin/uwsgi) links with a RUNPATH of the system's multiarch library directory, which the dynamic linker searches anyway; any other RUNPATH is still reported",
    ),
    ("copyright-without-copyright-notice", COPYRIGHT_WHY),
];

fn copyright(pkg: &str, what: &str) -> Entry {
    Entry::file_from_bytes(
        format!("usr/share/doc/{pkg}/copyright"),
        0o644,
        format!(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
             Upstream-Name: {pkg}\n\
             Comment: {what}, packaged by djdd. The licences are those of the\n project and of the Python packages it contains.\n\n\
             Files: *\nCopyright: the project's authors\nLicense: other\n See the project's repository.\n"
        ),
    )
}

/// NAME-env-HASH: the virtualenv and its requirement files.
pub fn env_package(
    root: &BuildRoot,
    inputs: &Inputs,
    env_dir: &str,
    share_dir: &str,
    shlibs: &[(String, String)],
) -> Result<Package> {
    let p = &inputs.plan.env;
    let mut c = control(&p.name, &p.version, &p.arch, "python");
    let mut depends = p.depends.clone();
    for (pkg, _) in shlibs {
        if !depends.contains(pkg) {
            depends.push(pkg.clone());
        }
    }
    c.set("Depends", depends.join(", "));
    let libs: Vec<String> = shlibs
        .iter()
        .map(|(pkg, lib)| format!(" {lib} ({pkg})"))
        .collect();
    let libs = if libs.is_empty() {
        " No compiled module links to a shared library outside the virtualenv.".to_string()
    } else {
        format!(
            " Shared libraries its compiled modules link to:\n{}",
            libs.join("\n")
        )
    };
    c.set(
        "Description",
        format!(
            "virtualenv of {} ({} requirement lines in {} files)\n Python {} virtualenv at {env_dir}, built by djdd.\n Requirements: {share_dir}.\n .\n{libs}",
            inputs.plan.name,
            inputs.plan.requirement_lines,
            inputs.plan.requirement_files,
            inputs.plan.python_version,
        ),
    );
    let mut pkg = Package::new(c);
    for e in entries_from_dir(&steps::host_path(root, env_dir), env_dir)? {
        pkg.add(e);
    }
    for e in entries_from_dir(&steps::host_path(root, share_dir), share_dir)? {
        pkg.add(e);
    }
    pkg.add(copyright(&p.name, "A Python virtualenv"));
    pkg.add(changelog(
        &p.name,
        &p.version,
        &format!("Virtualenv built by djdd (env HASH {}).", p.id),
        ENV_EPOCH,
    )?);
    pkg.add(lintian_overrides(&p.name, ENV_LINTIAN_OVERRIDES));
    Ok(pkg)
}

/// NAME-src-HASH: the commit's tree. Bytecode is compiled by its postinst
/// and removed by its prerm (as dh_python's py3compile/py3clean do), so
/// the package's content does not depend on the build root's Python.
pub fn src_package(root: &BuildRoot, inputs: &Inputs, src_dir: &str) -> Result<Package> {
    let p = &inputs.plan.src;
    let mut c = control(&p.name, &p.version, &p.arch, "web");
    let mut depends = vec!["python3".to_string()];
    depends.extend(p.depends.iter().cloned());
    c.set("Depends", depends.join(", "));
    c.set(
        "Description",
        format!(
            "source of {} at commit {}\n The project's tree at {src_dir}, built by djdd.",
            inputs.plan.name, inputs.plan.commit.id
        ),
    );
    let mut pkg = Package::new(c);
    let host = steps::host_path(root, src_dir);
    steps::remove_bytecode(&host)?;
    for e in entries_from_dir(&host, src_dir)? {
        pkg.add(e);
    }
    pkg.add(copyright(&p.name, "The source of a Django project"));
    pkg.add(lintian_overrides(&p.name, SRC_LINTIAN_OVERRIDES));
    pkg.add(changelog(
        &p.name,
        &p.version,
        &format!("Built by djdd from commit {}.", inputs.plan.commit.id),
        inputs.plan.commit.time.max(0) as u64,
    )?);
    let q = render::filters::shell_quote(src_dir);
    pkg.add_control_file(
        ControlFile::new(
            "postinst",
            format!(
                "#!/bin/sh\nset -e\n# Compile the source's bytecode (removed again by prerm).\nif [ \"$1\" = configure ] && command -v python3 >/dev/null; then\n    python3 -m compileall -q {q} >/dev/null || true\nfi\n"
            ),
        )
        .with_mode(0o755),
    );
    pkg.add_control_file(
        ControlFile::new(
            "prerm",
            format!(
                "#!/bin/sh\nset -e\n# Remove the bytecode postinst compiled.\nif [ -d {q} ]; then\n    find {q} -type d -name __pycache__ -prune -exec rm -rf {{}} +\nfi\n"
            ),
        )
        .with_mode(0o755),
    );
    Ok(pkg)
}

/// The site's HTTPS settings from its variant (None: tls off).
pub fn tls_of(v: &crate::config::variant::Variant) -> Option<render::Tls> {
    use crate::config::variant::TlsMode;
    match v.tls {
        TlsMode::Off => None,
        mode => Some(render::Tls {
            mode,
            acme_server: if mode == TlsMode::Acme {
                v.acme_server.clone()
            } else {
                String::new()
            },
            acme_email: if mode == TlsMode::Acme {
                v.acme_email.clone().unwrap_or_default()
            } else {
                String::new()
            },
        }),
    }
}

/// NAME-site-VARIANT: the rendered files and the collected static files.
pub fn site_package(
    inputs: &Inputs,
    site: &contract::Site,
    static_host: &Path,
    suite: &str,
) -> Result<Package> {
    let p = &inputs.plan.site;
    let ctx = render::site_context(&render::SiteInput {
        site: site.clone(),
        project: inputs.project.clone(),
        env_hash: inputs.plan.env.id.clone(),
        src_hash: inputs.plan.src.id.clone(),
        python_version: inputs.plan.python_version.clone(),
        migrate: inputs.variant.migrate,
        // The variant's health URL wins when its admin set one; the
        // default "/" leaves the project's djdd.toml `health.url` in force.
        health_url: inputs.variant.chosen_health_url().map(str::to_string),
        warm_url: inputs.variant.warm_url.clone(),
        graceful_timeout: inputs.variant.graceful_timeout,
        extra_env: inputs
            .variant
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        copies: inputs.variant.processes.clone(),
        redis_maxmemory: inputs.variant.redis_maxmemory.clone(),
        redis_policy: inputs.variant.redis_policy.clone(),
        tls: tls_of(&inputs.variant),
        suite: suite.to_string(),
        allow: inputs.variant.allow.clone(),
        backup: inputs
            .variant
            .backup
            .clone()
            .map(|c| (c, inputs.variant.backup_keep)),
    })?;
    let files = render::site_files(&ctx, None)?;
    let mut c = control(&p.name, &p.version, &p.arch, "web");
    let mut depends: Vec<String> = p.depends.clone();
    for d in render::script_depends(&ctx) {
        if !depends
            .iter()
            .any(|x| x == d || x.starts_with(&format!("{d} ")))
        {
            depends.push(d.to_string());
        }
    }
    c.set("Depends", depends.join(", "));
    // The servers postinst sets up for the site: none of an external
    // service (`djdd variant --external`), which another host runs.
    let mut recommends = Vec::new();
    if ctx.database.is_some() {
        recommends.push("postgresql");
    }
    if inputs.variant.memcached {
        recommends.push("memcached");
    }
    if ctx.broker.is_some() {
        recommends.push("rabbitmq-server");
    }
    if ctx.redis.is_some() {
        recommends.push("redis-server");
    }
    if !recommends.is_empty() {
        c.set("Recommends", recommends.join(", "));
    }
    c.set(
        "Description",
        format!(
            "{} site {} ({})\n Site package built by djdd: nginx site for {}, systemd units,\n collected static files and the control utility /usr/bin/{}-{}.\n Commit {}.",
            inputs.plan.name,
            inputs.plan.variant,
            site.domain,
            site.domain,
            inputs.plan.name,
            inputs.plan.variant,
            inputs.plan.commit.id,
        ),
    );
    let mut pkg = Package::new(c);
    let mut conffiles = String::new();
    for f in files {
        if let Some(member) = f.path.strip_prefix("DEBIAN/") {
            pkg.add_control_file(ControlFile::new(member, f.contents).with_mode(f.mode));
        } else if f.path.starts_with(render::MAN_DIR) {
            pkg.add(Entry::file_from_bytes(
                format!("{}.gz", f.path.trim_start_matches('/')),
                f.mode,
                gzip_reproducibly(f.contents.as_bytes(), &f.path)?,
            ));
        } else {
            if f.is_conffile {
                conffiles.push_str(&f.path);
                conffiles.push('\n');
            }
            pkg.add(Entry::file_from_bytes(
                f.path.trim_start_matches('/').to_string(),
                f.mode,
                f.contents,
            ));
        }
    }
    if !conffiles.is_empty() {
        pkg.add_control_file(ControlFile::new("conffiles", conffiles).with_mode(0o644));
    }
    let static_dest = contract::Layout::new(&site.name, &site.variant).static_dir;
    for e in entries_from_dir(static_host, &static_dest)? {
        pkg.add(e);
    }
    pkg.add(copyright(&p.name, "A Django site's configuration"));
    pkg.add(changelog(
        &p.name,
        &p.version,
        &format!("Built by djdd from commit {}.", inputs.plan.commit.id),
        inputs.plan.commit.time.max(0) as u64,
    )?);
    let mut overrides = SITE_LINTIAN_OVERRIDES.to_vec();
    if ctx.jobs.iter().any(|j| j.kind == render::JobKind::Process) {
        overrides.push(PROCESS_LINTIAN_OVERRIDE);
    }
    pkg.add(lintian_overrides(&p.name, &overrides));
    Ok(pkg)
}

/// Checks every member against `allowed` (plan's prefixes), then writes the
/// package to a temp file beside `dest` and renames it into place. `point`
/// names the test pause point ([`crate::testpause`]) reached as soon as the
/// temp file holds its first bytes (`pack-env`, `pack-src`, `pack-site`).
pub fn write_package(
    pkg: &Package,
    allowed: &[String],
    opts: &WriteOptions,
    epoch: Option<u64>,
    dest: &Path,
    point: &str,
) -> Result<()> {
    for e in &pkg.entries {
        let mut path = format!(
            "/{}",
            String::from_utf8_lossy(&e.path)
                .trim_start_matches("./")
                .trim_start_matches('/')
        );
        if matches!(e.kind, EntryKind::Dir) && !path.ends_with('/') {
            path.push('/');
        }
        crate::plan::check_path(&path, allowed).map_err(|err| {
            Error::invalid(
                format!("package {}", pkg.name()),
                format!("refusing to write it: {err}"),
            )
        })?;
    }
    let opts = WriteOptions {
        source_date_epoch: epoch,
        ..opts.clone()
    };
    crate::deb::write_deb_to_path_with(pkg, &opts, dest, &mut || crate::testpause::point(point))?;
    Ok(())
}

/// Reads a package's whole data archive (`dpkg-deb --fsys-tarfile`, the
/// tar thrown away): a truncated or damaged package fails here, before
/// anything in the build root is removed to unpack it.
pub fn check_deb_data(deb: &Path) -> Result<()> {
    let cmd = Cmd::new("dpkg-deb").arg("--fsys-tarfile").arg(deb);
    RealRunner
        .run_io(&cmd, None, Some(&mut std::io::sink()))?
        .check(&cmd)?;
    Ok(())
}

/// Unpacks a package's data into the build root (`dpkg-deb -x`).
pub fn unpack_deb(deb: &Path, root: &Path) -> Result<()> {
    RealRunner.check(&Cmd::new("dpkg-deb").arg("-x").arg(deb).arg(root))?;
    Ok(())
}

/// Whether the tree holds translations to compile (a `locale` directory
/// with a `.po` file below it).
fn has_translations(tree: &Path) -> bool {
    walkdir::WalkDir::new(tree)
        .into_iter()
        .filter_map(|e| e.ok())
        .any(|e| {
            e.file_type().is_file()
                && e.path().extension().is_some_and(|x| x == "po")
                && e.path().components().any(|c| c.as_os_str() == "locale")
        })
}

/// The directory manage.py runs in, inside the root.
pub(super) fn project_cwd(inputs: &Inputs, src_dir: &str) -> String {
    if inputs.project.project_dir.is_empty() {
        src_dir.to_string()
    } else {
        format!("{src_dir}/{}", inputs.project.project_dir)
    }
}

pub(super) fn manage_name(inputs: &Inputs) -> String {
    inputs
        .project
        .manage
        .rsplit('/')
        .next()
        .unwrap_or("manage.py")
        .to_string()
}

/// `manage.py compilemessages` in the source tree when it has translations
/// (djdd.toml `build.compilemessages`: auto, always, never).
pub fn compilemessages(
    root: &BuildRoot,
    inputs: &Inputs,
    site: &contract::Site,
    env_dir: &str,
    src_dir: &str,
    scratch: &str,
    log: &mut BuildLog,
) -> Result<()> {
    let host = steps::host_path(root, src_dir);
    let run = match inputs.project.build.compilemessages {
        Compilemessages::Never => false,
        Compilemessages::Always => true,
        Compilemessages::Auto => has_translations(&host),
    };
    if !run {
        return Ok(());
    }
    if !steps::host_path(root, "/usr/bin/msgfmt").exists() {
        return Err(Error::invalid_hint(
            "compilemessages",
            "needs msgfmt, which the build root lacks",
            "add the line `gettext build` to src-debian-requirements.txt",
        ));
    }
    let env = build_env(root, site, env_dir, scratch)?;
    let python = format!("{env_dir}/bin/python");
    let manage = manage_name(inputs);
    tracing::info!("manage.py compilemessages");
    let out = steps::run_step(
        root,
        Some(BUILD_USER),
        &project_cwd(inputs, src_dir),
        &env,
        inputs.timeout,
        &[&python, &manage, "compilemessages"],
    )
    .map_err(|e| step_error("manage.py compilemessages", inputs, e))?;
    log.output("compilemessages", &out.tail);
    Ok(())
}

/// A project command's failure, naming the settings module it ran with;
/// a timeout points at `--timeout`, an exit without output at the code
/// the command imports (a settings module calling `sys.exit()`).
pub(super) fn step_error(what: &str, inputs: &Inputs, e: Error) -> Error {
    match e {
        Error::Command { status, output, .. } => {
            let timed_out = status.starts_with("did not finish");
            let status = if timed_out {
                format!("{status} (raise the limit with `djdd build --timeout SECONDS`)")
            } else {
                status
            };
            let output = if output.trim().is_empty() && !timed_out {
                format!(
                    "(no output: an exit without a message usually comes from code run at import, e.g. sys.exit() in the settings module {} or a module it imports)",
                    inputs.settings
                )
            } else {
                output
            };
            Error::Command {
                command: format!(
                    "{what} (DJANGO_SETTINGS_MODULE={}, in the build root)",
                    inputs.settings
                ),
                status,
                output,
            }
        }
        other => other,
    }
}

/// The contract's build-time environment, with a scratch directory made
/// for it in the root (owned by the build user).
pub(super) fn build_env(
    root: &BuildRoot,
    site: &contract::Site,
    env_dir: &str,
    scratch: &str,
) -> Result<Vec<(String, String)>> {
    // The directories the contract's build-time values point into.
    for sub in ["", "static", "media", "log", "home"] {
        let inside = if sub.is_empty() {
            scratch.to_string()
        } else {
            format!("{scratch}/{sub}")
        };
        steps::make_build_dir(root, &inside)?;
    }
    Ok(contract::build_env(&contract::BuildContext {
        site,
        env_dir: env_dir.to_string(),
        static_root: format!("{scratch}/static"),
        scratch: scratch.to_string(),
    }))
}

/// The log of one build: `D/logs/NAME-VARIANT-TIME.log`.
pub struct BuildLog {
    file: std::fs::File,
}

impl BuildLog {
    pub fn open(bd: &BuildDir, name: &str, variant: &str) -> Result<BuildLog> {
        let dir = bd.logs_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let path = dir.join(format!(
            "build-{name}-{variant}-{}.log",
            crate::builddir::now_secs()
        ));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        tracing::info!("build log: {}", path.display());
        Ok(BuildLog { file })
    }

    pub fn line(&mut self, text: &str) {
        let _ = writeln!(self.file, "{text}");
    }

    pub fn output(&mut self, step: &str, tail: &str) {
        let _ = writeln!(self.file, "--- {step}\n{tail}");
    }
}
