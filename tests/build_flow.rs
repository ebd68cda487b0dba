//! `djdd build` for real, from the fixture repository (fixtures/make-repo.sh)
//! through the build root: v1 for blue and red (one env, one src, two
//! sites), `--plan`, an up-to-date rebuild, `--force`, then v2 (code only:
//! new src and sites, the env file untouched) and v3 (new requirements: a
//! new env). Every package is read back with dpkg-deb (info, fields,
//! contents) and each kind passes lintian without an error or a warning.
//!
//! Needs root, the cached base tarball (or Debian's mirror) and PyPI. The
//! first env build of a machine compiles psycopg2 (a minute under load);
//! later runs take its wheel from /var/cache/djdd/test-pip.

mod build_support;
mod common;

use build_support::*;

#[test]
fn v1_v2_v3_for_blue_and_red() {
    let repo = demo_repo();
    let v1 = rev_parse(repo.path(), "v1");
    let v2 = rev_parse(repo.path(), "v2");
    let v3 = rev_parse(repo.path(), "v3");
    let d = demo_build_dir(repo.path(), true);

    // --plan: prints both variants' plans, builds nothing.
    let (plan, _) = ok(&d, &["build", "demo", "--version", "v1", "--plan"]);
    assert!(plan.contains("build plan for demo blue"), "{plan}");
    assert!(plan.contains("build plan for demo red"), "{plan}");
    assert!(plan.contains(&v1), "{plan}");
    assert!(plan.contains(&format!("demo-src-{}", &v1[..12])), "{plan}");
    assert!(plan.contains("3 packages to build"), "{plan}");
    assert_eq!(package_files(&d), Vec::<String>::new(), "--plan built");

    // v1, blue then red; xz so that bookworm's lintian can read them.
    ok(
        &d,
        &["build", "demo", "blue", "--version", "v1", "-Z", "xz"],
    );
    save_pip_cache(&d);
    let (_, red_err) = ok(&d, &["build", "demo", "red", "--version", "v1", "-Z", "xz"]);
    assert!(red_err.contains("reusing demo-env-"), "{red_err}");
    let files = package_files(&d);
    assert_eq!(files.len(), 4, "one env, one src, two sites: {files:?}");
    let env1 = one_package(&d, "demo-env-", &[]);
    let src1 = one_package(&d, &format!("demo-src-{}_1_all.deb", &v1[..12]), &[]);
    let blue1 = one_package(&d, &format!("demo-site-blue_1+g{}_", &v1[..12]), &[]);
    let red1 = one_package(&d, &format!("demo-site-red_1+g{}_", &v1[..12]), &[]);
    let env_pkg = field(&env1, "Package");
    let env_hash = env_pkg.strip_prefix("demo-env-").unwrap().to_string();
    assert_eq!(env_hash.len(), 12, "{env_pkg}");
    // Each package records its build root's release: djdd publish puts it
    // only into a suite of that codename (the root here is bookworm's).
    for deb in [&env1, &src1, &blue1, &red1] {
        assert_eq!(field(deb, "X-Djdd-Suite"), "bookworm", "{}", deb.display());
    }

    // lintian, once per kind, in parallel (each takes a while).
    let lint: Vec<_> = [env1.clone(), src1.clone(), red1.clone()]
        .into_iter()
        .map(|p| std::thread::spawn(move || (p.clone(), lintian_problems(&p))))
        .collect();

    // The env: the virtualenv, its requirement files, its Depends.
    info(&env1);
    let c = contents(&env1);
    let lib = format!("/usr/lib/demo-env/{env_hash}");
    let share = format!("/usr/share/demo-env/{env_hash}");
    has(&c, &format!("{lib}/bin/python"), "env");
    has(&c, &format!("{lib}/pyvenv.cfg"), "env");
    has(
        &c,
        &format!("{lib}/lib/python3.11/site-packages/django/"),
        "env",
    );
    has(&c, &format!("{share}/requirements.txt"), "env");
    has(&c, &format!("{share}/requirements/base.txt"), "env");
    has(&c, &format!("{share}/requirements/constraints.txt"), "env");
    // The resolution lock: every distribution pip installed, pinned with
    // the sha256 of its archive, Django and psycopg2 (built from its sdist)
    // among them, sorted by name.
    has(&c, &format!("{share}/requirements.lock"), "env");
    let lock = std::process::Command::new("sh")
        .arg("-c")
        .arg("dpkg-deb --fsys-tarfile \"$1\" | tar -xOf - \"$2\"")
        .arg("sh")
        .arg(&env1)
        .arg(format!(".{share}/requirements.lock"))
        .output()
        .unwrap();
    let lock = String::from_utf8(lock.stdout).unwrap();
    let pins: Vec<&str> = lock.lines().filter(|l| !l.starts_with('#')).collect();
    for name in ["django", "gunicorn", "psycopg2"] {
        let line = pins
            .iter()
            .find(|l| l.starts_with(&format!("{name}==")))
            .unwrap_or_else(|| panic!("{name} is not in the lock:\n{lock}"));
        let hex = line.split("--hash=sha256:").nth(1).unwrap_or("");
        assert!(
            hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()),
            "{line}"
        );
    }
    let names: Vec<&str> = pins.iter().map(|l| l.split("==").next().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "the lock is sorted by name");
    has(&c, &format!("/usr/share/doc/{env_pkg}/changelog.gz"), "env");
    has(
        &c,
        &format!("/usr/share/lintian/overrides/{env_pkg}"),
        "env",
    );
    assert!(
        c.iter().any(|p| p.starts_with(&format!(
            "{lib}/lib/python3.11/site-packages/psycopg2/_psycopg"
        ))),
        "psycopg2's compiled module missing"
    );
    assert!(
        c.iter().all(|p| p.starts_with("/usr/lib/demo-env/")
            || p.starts_with("/usr/share/")
            || ["/", "/usr/", "/usr/lib/"].contains(&p.as_str())),
        "env installs outside its directories"
    );
    assert_eq!(field(&env1, "Version"), "1");
    let depends = field(&env1, "Depends");
    let deps: Vec<&str> = depends.split(", ").collect();
    assert!(deps.contains(&"python3.11"), "{depends}");
    assert!(deps.contains(&"libpq5"), "{depends}");
    assert!(
        field(&env1, "Description").contains("libpq.so.5"),
        "the env should say which libraries it links to"
    );

    // The src: the commit's tree with the compiled German catalogue.
    info(&src1);
    let c = contents(&src1);
    let tree = format!("/usr/lib/demo-src/{}", &v1[..12]);
    has(&c, &format!("{tree}/manage.py"), "src");
    has(&c, &format!("{tree}/demo/settings.py"), "src");
    has(
        &c,
        &format!("{tree}/locale/de/LC_MESSAGES/django.po"),
        "src",
    );
    has(
        &c,
        &format!("{tree}/locale/de/LC_MESSAGES/django.mo"),
        "src",
    );
    assert!(
        !c.iter()
            .any(|p| p.contains("/.git/") || p.contains("__pycache__")),
        "src carries .git or bytecode"
    );
    assert_eq!(field(&src1, "Version"), "1");
    assert_eq!(field(&src1, "Architecture"), "all");
    assert!(field(&src1, "Depends").contains("postgresql-client"));

    // The sites: units, nginx, control utility, static files; exact Depends.
    for (variant, deb) in [("blue", &blue1), ("red", &red1)] {
        info(deb);
        let c = contents(deb);
        let what = format!("site {variant}");
        let unit = format!("demo-{variant}");
        has(&c, &format!("/lib/systemd/system/{unit}.service"), &what);
        has(&c, &format!("/lib/systemd/system/{unit}.socket"), &what);
        has(&c, &format!("/usr/bin/{unit}"), &what);
        let site = format!("/usr/lib/demo-site/{variant}");
        has(&c, &format!("{site}/nginx.conf"), &what);
        has(
            &c,
            &format!("/usr/share/lintian/overrides/demo-site-{variant}"),
            &what,
        );
        has(
            &c,
            &format!("/usr/share/doc/demo-site-{variant}/changelog.gz"),
            &what,
        );
        has(&c, &format!("{site}/static/notes/style.css"), &what);
        has(&c, &format!("{site}/static/notes/logo.png"), &what);
        let celery = format!("/lib/systemd/system/{unit}-celery.service");
        assert_eq!(
            c.contains(&celery),
            variant == "red",
            "celery unit only for red"
        );
        let depends = field(deb, "Depends");
        let deps: Vec<&str> = depends.split(", ").collect();
        assert!(
            deps.contains(&format!("demo-env-{env_hash} (= 1)").as_str()),
            "{depends}"
        );
        assert!(
            deps.contains(&format!("demo-src-{} (= 1)", &v1[..12]).as_str()),
            "{depends}"
        );
        for d in ["nginx", "adduser", "postgresql-client"] {
            assert!(deps.contains(&d), "{what} Depends lacks {d}: {depends}");
        }
        let info = info(deb);
        for script in ["postinst", "prerm", "postrm"] {
            assert!(info.contains(script), "{what} has no {script}:\n{info}");
        }
    }
    assert!(field(&red1, "Recommends").contains("rabbitmq-server"));
    assert!(!field(&blue1, "Recommends").contains("rabbitmq-server"));

    // Up to date: nothing built, nothing written, and it says so.
    let before = common::snapshot(&d.path().join("packages"));
    let (_, err) = ok(&d, &["build", "demo", "blue", "--version", "v1"]);
    assert!(err.contains("up to date"), "{err}");
    assert_eq!(common::snapshot(&d.path().join("packages")), before);

    // --force: the site again (a new version), env and src untouched.
    let (env_id, src_id) = (identity(&env1), identity(&src1));
    ok(&d, &["build", "demo", "blue", "--version", "v1", "--force"]);
    assert_eq!(identity(&env1), env_id, "--force rewrote the env");
    assert_eq!(identity(&src1), src_id, "--force rewrote the src");
    let blue1b = one_package(&d, &format!("demo-site-blue_2+g{}_", &v1[..12]), &[]);
    info(&blue1b);
    assert_eq!(package_files(&d).len(), 5, "{:?}", package_files(&d));

    // v2 (code and a template): new src and sites; the env file untouched.
    let old = package_files(&d);
    ok(&d, &["build", "demo", "--version", "v2"]);
    assert_eq!(identity(&env1), env_id, "v2 rewrote the env package");
    let new: Vec<String> = package_files(&d)
        .into_iter()
        .filter(|f| !old.contains(f))
        .collect();
    assert_eq!(new.len(), 3, "v2 should add src and two sites: {new:?}");
    let src2 = one_package(&d, &format!("demo-src-{}_1_all.deb", &v2[..12]), &[]);
    let blue2 = one_package(&d, &format!("demo-site-blue_3+g{}_", &v2[..12]), &[]);
    let red2 = one_package(&d, &format!("demo-site-red_2+g{}_", &v2[..12]), &[]);
    for deb in [&blue2, &red2] {
        let depends = field(deb, "Depends");
        assert!(
            depends.contains(&format!("demo-env-{env_hash} (= 1)")),
            "{depends}"
        );
        assert!(
            depends.contains(&format!("demo-src-{} (= 1)", &v2[..12])),
            "{depends}"
        );
    }
    info(&src2);
    // The site versions increase, as dpkg compares them.
    let st = std::process::Command::new("dpkg")
        .args(["--compare-versions"])
        .arg(field(&blue2, "Version"))
        .arg("gt")
        .arg(field(&blue1b, "Version"))
        .status()
        .unwrap();
    assert!(st.success());

    // v3 (requirements changed): a new env, src and site.
    let old = package_files(&d);
    ok(&d, &["build", "demo", "blue", "--version", "v3"]);
    save_pip_cache(&d);
    let env3 = one_package(&d, "demo-env-", &old);
    assert_ne!(env3, env1);
    let env3_pkg = field(&env3, "Package");
    let src3 = one_package(&d, &format!("demo-src-{}_1_all.deb", &v3[..12]), &[]);
    let blue3 = one_package(&d, &format!("demo-site-blue_4+g{}_", &v3[..12]), &[]);
    let depends = field(&blue3, "Depends");
    assert!(depends.contains(&format!("{env3_pkg} (= 1)")), "{depends}");
    info(&src3);
    assert_eq!(identity(&env1), env_id, "v3 touched the v1 env");
    assert_eq!(package_files(&d).len(), 11, "{:?}", package_files(&d));

    // lintian ran alongside the builds above.
    for t in lint {
        let (p, (errors, text)) = t.join().unwrap();
        assert!(
            errors.is_empty(),
            "lintian errors or warnings (overrides: docs/build.md) in {}:\n{}\n(full output:\n{text})",
            p.display(),
            errors.join("\n")
        );
    }
}
