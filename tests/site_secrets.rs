//! A site's secrets and external services (issue 26): what the package
//! carries (no external service's variables, no secret), and what the
//! generated shell does with the secrets on a host: the control
//! utility's `secrets set/list/export/import` and the postinst's
//! `ensure_secrets` and `check_external`, run for real (sh, python3's
//! envfile) on files in a temporary directory.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use djdd::config::project;
use djdd::contract::{External, Site};
use djdd::render::{self, SiteInput};

const SECRETS_TOML: &str = "[secrets]\nSMTP_PASSWORD = \"the SMTP relay's password\"\n";

/// The demo fixture's project with a declared secret, as variant blue
/// with Redis; `external`: the database and Redis on another host.
fn input(external: bool) -> SiteInput {
    let toml = fs::read_to_string(common::repo_root().join("fixtures/demo/djdd.toml")).unwrap();
    let file = project::parse(&format!("{toml}{SECRETS_TOML}")).expect("djdd.toml");
    let project = project::resolve(Some(&file), None).expect("project");
    SiteInput {
        site: Site {
            name: "demo".into(),
            variant: "blue".into(),
            domain: "blue.example.org".into(),
            settings: "demo.settings".into(),
            workers: 3,
            celery: false,
            redis_broker: false,
            redis: true,
            asgi: false,
            https_only: false,
            version: "1.20250101.3".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            external: External {
                database: external,
                redis: external,
                broker: false,
            },
            uid: Some(640),
        },
        project,
        env_hash: "0123456789abcdef".into(),
        src_hash: "a1b2c3d4e5f6".into(),
        python_version: "3.11".into(),
        migrate: true,
        health_url: None,
        warm_url: None,
        graceful_timeout: 30,
        extra_env: vec![],
        copies: BTreeMap::new(),
        redis_maxmemory: "128mb".into(),
        redis_policy: "noeviction".into(),
        tls: None,
        suite: "trixie".into(),
        allow: vec![],
        backup: None,
    }
}

fn files(external: bool) -> BTreeMap<String, String> {
    let ctx = render::site_context(&input(external)).unwrap();
    render::site_files(&ctx, None)
        .unwrap()
        .into_iter()
        .map(|f| (f.path, f.contents))
        .collect()
}

#[test]
fn external_services_leave_their_variables_and_set_up_out_of_the_package() {
    let local = files(false);
    let ext = files(true);
    let site_env = "/usr/lib/demo-site/blue/site.env";
    for name in [
        "DATABASE=",
        "DATABASE_HOST=",
        "DATABASE_PORT=",
        "DATABASE_USER=",
    ] {
        assert!(local[site_env].contains(name), "{name} local");
        assert!(
            !ext[site_env].contains(name),
            "{name} external: {}",
            ext[site_env]
        );
    }
    let post = &ext["DEBIAN/postinst"];
    // Nothing composes the external URLs or makes their passwords, and
    // no role, database or Redis instance is set up.
    for made in [
        "s_DATABASE_URL=",
        "s_DATABASE_PASSWORD=",
        "s_REDIS_URL=",
        "s_REDIS_PASSWORD=",
    ] {
        assert!(!post.contains(made), "{made}");
        assert!(local["DEBIAN/postinst"].contains(made), "{made} local");
    }
    assert!(post.contains("DB_NAME=''\n"), "no local database");
    assert!(post.contains("REDIS_UNIT=''\n"), "no local Redis");
    assert!(post.contains("EXTERNAL_KEYS='DATABASE_URL REDIS_URL'\n"));
    assert!(post.contains("DECLARED_SECRETS='SMTP_PASSWORD'\n"));
    assert!(post.contains("SITE_UID='640'\n"));
    assert!(ext["DEBIAN/preinst"].contains("    check_site_user\n"));
    // Nothing in the package points at a local database or Redis.
    for (path, text) in &ext {
        assert!(!text.contains("@127.0.0.1:5432"), "{path}");
        assert!(!text.contains("unix://:"), "{path}");
    }
    assert!(local["DEBIAN/postinst"].contains("@127.0.0.1:5432"));
    // The migration takes the site's lock.
    assert!(post.contains("in_release \"$rel\" 3600 migrate"), "{post}");
    assert!(ext["/usr/lib/demo-site/blue/launch"].contains("pg_advisory_lock"));
}

#[test]
fn a_declared_secret_is_refused_as_an_extra_variable() {
    let mut i = input(false);
    i.extra_env = vec![("SMTP_PASSWORD".into(), "x".into())];
    let e = render::site_context(&i).unwrap_err().to_string();
    assert!(e.contains("SMTP_PASSWORD"), "{e}");
    assert!(e.contains("secrets set SMTP_PASSWORD"), "{e}");
}

/// The rendered control utility and envfile in `t`, the site's files
/// moved into `t/etc` (secrets.env, local.env) and python3 as its Python.
fn control_in(t: &Path, external: bool) -> std::path::PathBuf {
    let f = files(external);
    fs::write(t.join("envfile"), &f["/usr/lib/demo-site/blue/envfile"]).unwrap();
    fs::create_dir_all(t.join("etc")).unwrap();
    let control = f["/usr/bin/demo-blue"]
        .replace(
            "SECRETS_ENV='/etc/demo-site/blue/secrets.env'",
            &format!("SECRETS_ENV='{}/etc/secrets.env'", t.display()),
        )
        .replace(
            "LOCAL_ENV='/etc/demo-site/blue/local.env'",
            &format!("LOCAL_ENV='{}/etc/local.env'", t.display()),
        )
        .replace(
            "ENVFILE='/usr/lib/demo-site/blue/envfile'",
            &format!("ENVFILE='{}/envfile'", t.display()),
        )
        .replace("PYTHON='/usr/bin/python3.11'", "PYTHON='python3'")
        // The tests run unprivileged too.
        .replace("need_root() {", "need_root() { return 0\n");
    let p = t.join("demo-blue");
    fs::write(&p, control).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Runs `control ARGS` with STDIN; (exit code, stdout + stderr).
fn run(control: &Path, args: &[&str], stdin: &str) -> (i32, String) {
    let mut child = Command::new("sh")
        .arg(control)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    // A call refused before it reads stdin may exit before this write: a
    // broken pipe is then expected, and only that error; the exit code and
    // the output below are still asserted.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), common::all_output(&out))
}

#[test]
fn control_utility_sets_lists_exports_and_imports_secrets() {
    let d = common::tempdir();
    let t = d.path();
    let c = control_in(t, true);
    let secrets = t.join("etc/secrets.env");

    // set: from stdin; the value never in the output.
    let (rc, out) = run(&c, &["secrets", "set", "SMTP_PASSWORD"], "s3cret \"$x`\n");
    assert_eq!(rc, 0, "{out}");
    assert!(!out.contains("s3cret"), "{out}");
    assert_eq!(
        fs::metadata(&secrets).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A line break, an unknown name, a composed-free unknown: refused,
    // nothing changed.
    let before = fs::read_to_string(&secrets).unwrap();
    for (args, stdin, want) in [
        (
            vec!["secrets", "set", "SMTP_PASSWORD"],
            "a\nb\n",
            "line break",
        ),
        (
            vec!["secrets", "set", "SMTP_PASWORD"],
            "x\n",
            "not a secret of this site",
        ),
        (vec!["secrets", "set", "SMTP_PASSWORD"], "", "empty"),
        (vec!["secrets", "set"], "x\n", "usage"),
    ] {
        let (rc, out) = run(&c, &args, stdin);
        assert_ne!(rc, 0, "{args:?}: {out}");
        assert!(out.contains(want), "{args:?}: {out}");
        assert_eq!(fs::read_to_string(&secrets).unwrap(), before, "{args:?}");
    }

    // list: names and set/missing, never values.
    let (rc, out) = run(&c, &["secrets", "list"], "");
    assert_eq!(rc, 0, "{out}");
    assert!(!out.contains("s3cret"), "{out}");
    let state = |name: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not listed: {out}"))
            .to_string()
    };
    assert!(state("SMTP_PASSWORD").contains(" set "), "{out}");
    assert!(state("SMTP_PASSWORD").contains("the SMTP relay's password"));
    assert!(state("DATABASE_URL").contains("missing"), "{out}");
    assert!(state("DATABASE_URL").contains("postgres://USER:PASSWORD@HOST:5432/DBNAME"));
    assert!(state("REDIS_URL").contains("missing"), "{out}");
    assert!(state("SECRET_KEY").contains("missing"), "{out}");

    // import: a bad line anywhere changes nothing.
    let bad = t.join("bad.env");
    fs::write(
        &bad,
        "DATABASE_URL=\"postgres://a:b@db:5432/x\"\nthis is not an assignment\n",
    )
    .unwrap();
    let (rc, out) = run(&c, &["secrets", "import", bad.to_str().unwrap()], "");
    assert_ne!(rc, 0, "{out}");
    assert!(out.contains("line 2"), "{out}");
    assert_eq!(fs::read_to_string(&secrets).unwrap(), before);
    let good = t.join("good.env");
    fs::write(
        &good,
        "# from the vault\nSECRET_KEY=\"k\"\nDATABASE_URL=\"postgres://a:b@db:5432/x\"\nREDIS_URL='redis://:p@db:6379/0'\n",
    )
    .unwrap();
    let (rc, out) = run(&c, &["secrets", "import", good.to_str().unwrap()], "");
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("3 imported, 3 changed"), "{out}");
    let (_, out) = run(&c, &["secrets", "import", good.to_str().unwrap()], "");
    assert!(out.contains("3 imported, 0 changed"), "{out}");

    // export: every value, a new file, 0600; then another host imports it.
    let exported = t.join("export.env");
    let (rc, out) = run(&c, &["secrets", "export", exported.to_str().unwrap()], "");
    assert_eq!(rc, 0, "{out}");
    assert_eq!(
        fs::metadata(&exported).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (rc, out) = run(&c, &["secrets", "export", exported.to_str().unwrap()], "");
    assert_ne!(rc, 0, "an existing file is not overwritten: {out}");
    let other = common::tempdir();
    let c2 = control_in(other.path(), true);
    let (rc, out) = run(&c2, &["secrets", "import", exported.to_str().unwrap()], "");
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("4 imported, 4 changed"), "{out}");
    let get = |file: &Path, key: &str| {
        let o = Command::new("python3")
            .arg("-I")
            .arg(t.join("envfile"))
            .args(["--get", key, "--file"])
            .arg(file)
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap()
    };
    let other_secrets = other.path().join("etc/secrets.env");
    for key in ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SMTP_PASSWORD"] {
        assert_eq!(get(&other_secrets, key), get(&secrets, key), "{key}");
    }
    assert_eq!(get(&other_secrets, "SMTP_PASSWORD"), "s3cret \"$x`");
}

/// The postinst's constants and functions with the site's files in `t`,
/// then SCRIPT.
fn postinst_run(t: &Path, external: bool, script: &str) -> (bool, String) {
    let f = files(external);
    fs::write(t.join("envfile"), &f["/usr/lib/demo-site/blue/envfile"]).unwrap();
    let post = &f["DEBIAN/postinst"];
    let start = post.find("# --- constants").unwrap();
    let end = post.find("# --- end of functions ---").unwrap();
    let body = format!(
        "set -e\n{}\nSECRETS_ENV={t}/secrets.env\nLOCAL_ENV={t}/local.env\nENVFILE={t}/envfile\nPYTHON=python3\n\
         install_file() {{ mv \"$1\" \"$2\"; }}\n{script}\n",
        &post[start..end],
        t = t.display(),
    );
    let out = Command::new("sh").arg("-c").arg(body).output().unwrap();
    (out.status.success(), common::all_output(&out))
}

#[test]
fn postinst_keeps_every_secret_and_refuses_a_missing_external_value() {
    let d = common::tempdir();
    let t = d.path();
    // A file placed before the install: the vault's values.
    fs::write(
        t.join("secrets.env"),
        "SECRET_KEY=\"from-the-vault\"\nSMTP_PASSWORD=\"smtp\"\nREDIS_URL=\"redis://:p@db:6379/0\"\n",
    )
    .unwrap();
    let (ok, out) = postinst_run(t, true, "check_external");
    assert!(!ok, "{out}");
    assert!(out.contains("DATABASE_URL is not set"), "{out}");
    assert!(out.contains("secrets set DATABASE_URL"), "{out}");
    assert!(!out.contains("REDIS_URL is not set"), "{out}");
    // local.env still wins and still counts.
    fs::write(
        t.join("local.env"),
        "DATABASE_URL=\"postgres://l:p@db/x\"\n",
    )
    .unwrap();
    let (ok, out) = postinst_run(t, true, "check_external && echo external-ok");
    assert!(ok && out.contains("external-ok"), "{out}");
    fs::remove_file(t.join("local.env")).unwrap();

    let (ok, out) = postinst_run(t, true, "ensure_secrets; warn_declared_secrets");
    assert!(ok, "{out}");
    let text = fs::read_to_string(t.join("secrets.env")).unwrap();
    assert!(text.contains("SECRET_KEY=\"from-the-vault\"\n"), "{text}");
    assert!(text.contains("SMTP_PASSWORD=\"smtp\"\n"), "{text}");
    assert!(
        text.contains("REDIS_URL=\"redis://:p@db:6379/0\"\n"),
        "{text}"
    );
    assert!(!out.contains("SMTP_PASSWORD is not set"), "{out}");
    // A rerun changes nothing.
    let (ok, _) = postinst_run(t, true, "ensure_secrets");
    assert!(ok);
    assert_eq!(fs::read_to_string(t.join("secrets.env")).unwrap(), text);

    // A local site: the generated and composed values are made, the
    // declared secret is named when missing.
    let d = common::tempdir();
    let t = d.path();
    let (ok, out) = postinst_run(t, false, "ensure_secrets; warn_declared_secrets");
    assert!(ok, "{out}");
    assert!(out.contains("secret SMTP_PASSWORD is not set"), "{out}");
    let text = fs::read_to_string(t.join("secrets.env")).unwrap();
    assert!(
        text.contains("DATABASE_URL=\"postgres://demo-blue:"),
        "{text}"
    );
}
