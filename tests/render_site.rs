//! The site package's generated files: golden copies for two variants
//! (DJDD_UPDATE_GOLDEN=1 rewrites tests/golden/), and the real parsers on
//! them: `sh -n`, shellcheck, python's compiler, `nginx -t`,
//! `systemd-analyze verify`; hostile values that must survive exactly.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use djdd::config::project;
use djdd::config::variant::TlsMode;
use djdd::contract::{self, Site};
use djdd::render::{self, EnvVar, Piece, RenderedFile, Secret, SiteContext, SiteInput};

/// The fixture's project as djdd.toml and manage.py describe it.
fn input(variant: &str, domain: &str, toml: &str, manage: &str) -> SiteInput {
    let file = project::parse(toml).expect("djdd.toml");
    let project = project::resolve(Some(&file), None).expect("project");
    let settings = project.settings.clone().expect("settings in djdd.toml");
    assert_eq!(project.manage, manage);
    SiteInput {
        site: Site {
            name: "demo".into(),
            variant: variant.into(),
            domain: domain.into(),
            settings,
            workers: 3,
            celery: false,
            redis_broker: false,
            redis: false,
            asgi: false,
            https_only: false,
            version: "1.20250101.3".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            external: djdd::contract::External::default(),
            uid: None,
        },
        project,
        env_hash: "0123456789abcdef".into(),
        src_hash: "a1b2c3d4e5f6".into(),
        python_version: "3.11".into(),
        migrate: false,
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

/// blue: the fixture's own djdd.toml; no celery, no migrate.
fn blue_input() -> SiteInput {
    let toml = fs::read_to_string(common::repo_root().join("fixtures/demo/djdd.toml")).unwrap();
    input("blue", "blue.example.org", &toml, "manage.py")
}

/// The processes and timers red's project defines: a manage.py command
/// in two copies, celery beat with its schedule in DATA_DIR, a process
/// the variant turns off, a daily job.
const RED_JOBS: &str = r#"
[processes.sendalerts]
command = ["manage.py", "sendalerts", "--loop", "it's $(x)"]
[processes.beat]
command = ["celery", "--app", "demo.celery:app", "beat", "--schedule", "${DATA_DIR}/celerybeat-schedule"]
[processes.unused]
command = ["manage.py", "unused"]
[timers.clearsessions]
command = ["manage.py", "clearsessions"]
calendar = "*-*-* 04:00:00"
random_delay = "10min"
[release]
commands = [["manage.py", "clearsessions"], ["reindex", "--lazy", "${DATA_DIR}/index", "it's $(x) `id`"]]
"#;

/// red: celery and migrate, another domain, manage.py in a subdirectory,
/// a health URL with a query, processes (one in two copies, one off) and
/// a timer.
fn red_input() -> SiteInput {
    let mut i = input(
        "red",
        "red.example.net",
        &format!(
            "manage = \"site/manage.py\"\nsettings = \"demo.settings\"\ncelery = \"demo.celery:app\"\n[health]\nurl = \"/health/?full=1\"\ntimeout = 60\n{RED_JOBS}"
        ),
        "site/manage.py",
    );
    i.site.celery = true;
    i.site.workers = 5;
    i.migrate = true;
    i.copies = [("sendalerts".to_string(), 2), ("unused".to_string(), 0)].into();
    i.site.redis = true;
    i.redis_maxmemory = "256mb".into();
    i.redis_policy = "allkeys-lru".into();
    i.tls = Some(render::Tls {
        mode: TlsMode::Acme,
        acme_server: "https://acme.example.net/directory".into(),
        acme_email: "ops@example.net".into(),
    });
    i.suite = "bookworm".into();
    // Both sandbox relaxations (djdd variant --allow).
    i.allow = vec!["wx-memory".into(), "address-family=AF_NETLINK".into()];
    i
}

fn blue() -> SiteContext {
    render::site_context(&blue_input()).expect("blue context")
}

fn red() -> SiteContext {
    render::site_context(&red_input()).expect("red context")
}

/// Values that must reach the scripts and site.env verbatim (no tab:
/// the one rule for environment values refuses control characters, tab
/// included, in config and render alike).
const HOSTILE: &str =
    "it's $(touch /tmp/djdd-pwned) `id` \"q\" \\n $HOME %i ; & | < > * ? [a] {b} ~ #x tab";

fn hostile() -> SiteContext {
    let mut i = red_input();
    i.extra_env = vec![
        ("HOSTILE".into(), HOSTILE.into()),
        ("TRAILING_SPACE".into(), "  spaced  ".into()),
        ("EMPTY".into(), "".into()),
    ];
    let mut c = render::site_context(&i).expect("hostile context");
    c.secrets.push(Secret::composed(
        "HOSTILE_SECRET",
        vec![
            Piece::Text(HOSTILE.into()),
            Piece::Secret("SECRET_KEY".into()),
            Piece::Text("'\"$x".into()),
        ],
    ));
    c
}

fn golden_dir(variant: &str) -> PathBuf {
    common::repo_root().join("tests/golden").join(variant)
}

fn rel(path: &str) -> &str {
    path.trim_start_matches('/')
}

fn check_golden(variant: &str, files: &[RenderedFile]) {
    let dir = golden_dir(variant);
    let update = std::env::var_os("DJDD_UPDATE_GOLDEN").is_some();
    let mut manifest = String::new();
    for f in files {
        manifest.push_str(&format!(
            "{:o} {} {}\n",
            f.mode,
            if f.is_conffile { "conffile" } else { "-" },
            f.path
        ));
    }
    let mut expected: Vec<(PathBuf, String)> = files
        .iter()
        .map(|f| (dir.join(rel(&f.path)), f.contents.clone()))
        .collect();
    expected.push((dir.join("MANIFEST"), manifest));
    if update {
        let _ = fs::remove_dir_all(&dir);
        for (p, text) in &expected {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        return;
    }
    let mut on_disk: Vec<PathBuf> = walkdir::WalkDir::new(&dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    on_disk.sort();
    let mut want: Vec<PathBuf> = expected.iter().map(|(p, _)| p.clone()).collect();
    want.sort();
    assert_eq!(
        on_disk, want,
        "golden files of {variant} differ in names (DJDD_UPDATE_GOLDEN=1 rewrites them)"
    );
    for (p, text) in &expected {
        let old = fs::read_to_string(p).unwrap();
        assert!(
            old == *text,
            "{} differs from the rendered file (DJDD_UPDATE_GOLDEN=1 rewrites it)\n--- rendered:\n{text}",
            p.display()
        );
    }
}

fn render(ctx: &SiteContext) -> Vec<RenderedFile> {
    render::site_files(ctx, None).expect("render")
}

#[test]
fn golden_blue() {
    let files = render(&blue());
    assert!(
        !files.iter().any(|f| f.path.contains("celery")),
        "blue has no celery unit"
    );
    check_golden("blue", &files);
}

#[test]
fn golden_red() {
    let files = render(&red());
    assert!(
        files
            .iter()
            .any(|f| f.path == "/lib/systemd/system/demo-red-celery.service")
    );
    check_golden("red", &files);
}

#[test]
fn every_file_has_its_place_and_mode() {
    let files = render(&red());
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for p in [
        "/usr/lib/demo-site/red/nginx.conf",
        "/lib/systemd/system/demo-red.socket",
        "/lib/systemd/system/demo-red.service",
        "/lib/systemd/system/demo-red-celery.service",
        "/usr/bin/demo-red",
        "/usr/lib/demo-site/red/launch",
        "/usr/lib/demo-site/red/envfile",
        "/usr/lib/demo-site/red/site.env",
        "/usr/lib/demo-site/red/local.env.example",
        "/usr/lib/demo-site/red/maintenance/index.html",
        "DEBIAN/postinst",
        "DEBIAN/prerm",
        "DEBIAN/postrm",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    for f in &files {
        let exec = f.contents.starts_with("#!");
        assert_eq!(f.mode == 0o755, exec, "{}: mode {:o}", f.path, f.mode);
        // Only the logrotate file is a conffile (an admin's rotation
        // changes are kept on upgrade).
        assert_eq!(
            f.is_conffile,
            f.path == "/etc/logrotate.d/demo-site-red",
            "{}: conffile {}",
            f.path,
            f.is_conffile
        );
        assert!(
            f.contents.ends_with('\n'),
            "{} lacks a final newline",
            f.path
        );
    }
    // Secrets are made by the postinst, never shipped.
    let all: String = files.iter().map(|f| f.contents.as_str()).collect();
    assert!(!all.contains("SECRET_KEY=\""), "no secret value is shipped");
}

fn scripts(files: &[RenderedFile]) -> Vec<&RenderedFile> {
    files
        .iter()
        .filter(|f| f.contents.starts_with("#!/bin/sh"))
        .collect()
}

fn write_all(dir: &Path, files: &[RenderedFile]) {
    for f in files {
        let p = dir.join(rel(&f.path));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, &f.contents).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(f.mode)).unwrap();
    }
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = common::all_output(&out);
    (out.status.success(), text)
}

fn shell_checks(ctx: &SiteContext) {
    let files = render(ctx);
    let tmp = common::tempdir();
    write_all(tmp.path(), &files);
    let scripts = scripts(&files);
    assert_eq!(
        scripts.len(),
        6,
        "control, launch, preinst, postinst, prerm, postrm"
    );
    for f in scripts {
        let p = tmp.path().join(rel(&f.path));
        let (ok, out) = run(Command::new("sh").arg("-n").arg(&p));
        assert!(ok, "sh -n {}: {out}", f.path);
        if common::have("dash") {
            let (ok, out) = run(Command::new("dash").arg("-n").arg(&p));
            assert!(ok, "dash -n {}: {out}", f.path);
        }
        assert!(common::have("shellcheck"), "apt-get install shellcheck");
        let (ok, out) = run(Command::new("shellcheck").arg("--shell=sh").arg(&p));
        assert!(ok, "shellcheck {}:\n{out}", f.path);
    }
    let envfile = tmp
        .path()
        .join("usr/lib/demo-site")
        .join(&ctx.variant)
        .join("envfile");
    let (ok, out) = run(Command::new("python3")
        .args(["-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())"])
        .arg(&envfile));
    assert!(ok, "envfile does not parse as Python: {out}");
}

#[test]
fn scripts_pass_sh_n_and_shellcheck() {
    shell_checks(&blue());
    shell_checks(&red());
}

#[test]
fn scripts_with_hostile_values_pass_sh_n_and_shellcheck() {
    shell_checks(&hostile());
}

fn nginx_test(ctx: &SiteContext, file: &str) {
    assert!(common::have("nginx"), "apt-get install nginx-light");
    let files = render(ctx);
    let conf = files
        .iter()
        .find(|f| f.path.ends_with(&format!("/{file}")))
        .unwrap_or_else(|| panic!("{} renders no {file}", ctx.variant));
    let tmp = common::tempdir();
    let t = tmp.path();
    // Logs go to the temp dir so the test writes nothing under /var/log;
    // the certificate links point at a fresh self-signed pair.
    let l = ctx.layout();
    let (cert, key) = (t.join("fullchain.pem"), t.join("privkey.pem"));
    // The upstream file as the postinst writes it (the main socket).
    let upstream = t.join("upstream.conf");
    fs::write(
        &upstream,
        format!("server unix:{} fail_timeout=0;\n", l.socket),
    )
    .unwrap();
    let site = conf
        .contents
        .replace(&l.upstream_conf, &upstream.display().to_string())
        .replace("/var/log/nginx/", &format!("{}/", t.display()))
        .replace(&l.tls_cert, &cert.display().to_string())
        .replace(&l.tls_key, &key.display().to_string());
    if site.contains("ssl_certificate") {
        let (ok, out) = run(Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .arg("ec_paramgen_curve:prime256v1")
            .args(["-nodes", "-days", "1", "-subj", "/CN=test", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        assert!(ok, "openssl req: {out}");
    }
    fs::write(t.join("site.conf"), site).unwrap();
    fs::write(
        t.join("nginx.conf"),
        format!(
            "pid {t}/nginx.pid;\nerror_log {t}/error.log;\nevents {{}}\nhttp {{\n  include /etc/nginx/mime.types;\n  access_log off;\n  client_body_temp_path {t}/body;\n  proxy_temp_path {t}/proxy;\n  fastcgi_temp_path {t}/fastcgi;\n  uwsgi_temp_path {t}/uwsgi;\n  scgi_temp_path {t}/scgi;\n  include {t}/site.conf;\n}}\n",
            t = t.display()
        ),
    )
    .unwrap();
    let (ok, out) = run(Command::new("nginx")
        .arg("-t")
        .arg("-c")
        .arg(t.join("nginx.conf"))
        .arg("-p")
        .arg(t));
    assert!(
        ok,
        "nginx -t failed for {} {file}:\n{out}\n{}",
        ctx.variant, conf.contents
    );
}

#[test]
fn nginx_accepts_the_site() {
    nginx_test(&blue(), "nginx.conf");
    nginx_test(&red(), "nginx.conf");
    nginx_test(&red(), "nginx-tls.conf");
}

/// tls acme: the HTTP site answers ACME challenges; the HTTPS site
/// redirects port 80 (challenges aside) and serves the application on
/// 443 with the certificate links. tls off ships no HTTPS site at all.
#[test]
fn tls_sites_serve_challenges_redirect_and_https() {
    let r = render(&red());
    let get = |name: &str| {
        r.iter()
            .find(|f| f.path.ends_with(name))
            .map(|f| f.contents.clone())
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let l = red().layout();
    let http = get("/nginx.conf");
    assert!(
        http.contains(&format!("root {};", l.acme_webroot)),
        "{http}"
    );
    assert!(!http.contains("listen 443"), "{http}");
    let https = get("/nginx-tls.conf");
    let (port80, port443) = https.split_at(https.find("listen 443").unwrap());
    assert!(
        port80.contains("return 301 https://$host$request_uri;"),
        "{port80}"
    );
    assert!(port80.contains("/.well-known/acme-challenge/"), "{port80}");
    assert!(
        !port80.contains("proxy_pass"),
        "port 80 proxies nothing: {port80}"
    );
    assert!(port443.contains(&format!("ssl_certificate {};", l.tls_cert)));
    assert!(port443.contains(&format!("ssl_certificate_key {};", l.tls_key)));
    assert!(port443.contains("proxy_pass http://demo-red-gunicorn;"));
    assert!(port443.contains("ssl_protocols TLSv1.2 TLSv1.3;"));
    // bookworm's nginx 1.22 wants http2 on the listen line; trixie's 1.26
    // the http2 directive.
    assert!(port443.contains("listen 443 ssl http2;"), "{port443}");
    let mut i = red_input();
    i.suite = "trixie".into();
    let trixie =
        render::render_template(&render::site_context(&i).unwrap(), "nginx-tls.conf", None)
            .unwrap();
    assert!(
        trixie.contains("http2 on;") && !trixie.contains("ssl http2"),
        "{trixie}"
    );
    // Certbot is a dependency of an acme site only; openssl of any TLS site.
    let deps = render::script_depends(&red());
    assert!(
        deps.contains(&"certbot") && deps.contains(&"openssl"),
        "{deps:?}"
    );
    let b = render(&blue());
    assert!(!b.iter().any(|f| f.path.ends_with("/nginx-tls.conf")));
    assert!(
        !b.iter()
            .any(|f| f.path.ends_with("/nginx.conf") && f.contents.contains("acme-challenge"))
    );
    assert!(!render::script_depends(&blue()).contains(&"certbot"));
    // files: no challenge location, the example local.env names the paths.
    let mut i = red_input();
    i.tls = Some(render::Tls {
        mode: TlsMode::Files,
        acme_server: String::new(),
        acme_email: String::new(),
    });
    let ctx = render::site_context(&i).unwrap();
    let f = render(&ctx);
    let conf = |n: &str| {
        f.iter()
            .find(|x| x.path.ends_with(n))
            .unwrap()
            .contents
            .clone()
    };
    assert!(!conf("/nginx-tls.conf").contains("acme-challenge"));
    assert!(conf("/local.env.example").contains("#TLS_CERTIFICATE="));
    assert!(!render::script_depends(&ctx).contains(&"certbot"));
    assert!(conf("/usr/bin/demo-red").contains("TLS_MODE='files'"));
}

fn systemd_verify(ctx: &SiteContext) {
    assert!(common::have("systemd-analyze"), "apt-get install systemd");
    let files = render(ctx);
    let tmp = common::tempdir();
    let root = tmp.path();
    write_all(root, &files);
    // Stubs for the binaries the units reference (verify checks they exist).
    {
        let p = root.join("bin/kill");
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The targets the units hang off, from the host's systemd.
    let unit_dir = root.join("lib/systemd/system");
    for e in fs::read_dir("/lib/systemd/system").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".target") && e.path().is_file() {
            fs::copy(e.path(), unit_dir.join(&name)).unwrap();
        }
    }
    let units: Vec<String> = files
        .iter()
        .filter(|f| f.path.starts_with("/lib/systemd/system/"))
        // A drop-in for redis-server's template is verified with it, on
        // a host that has redis-server (acceptance).
        .filter(|f| !f.path.contains(".service.d/"))
        .map(|f| root.join(rel(&f.path)).display().to_string())
        .collect();
    assert!(units.len() >= 2);
    let (ok, out) = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .args(&units)
        .env("SYSTEMD_LOG_LEVEL", "notice"));
    // verify prints problems but may still exit 0: any line naming our units is a failure.
    let ours: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(&ctx.user()) || l.contains("demo-"))
        .collect();
    assert!(ok && ours.is_empty(), "systemd-analyze verify:\n{out}");

    // The check has teeth: a missing launcher and an unknown setting fail.
    let launcher = root.join(rel(&ctx.layout().launcher));
    fs::remove_file(&launcher).unwrap();
    let (ok, out) = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg(&units[1]));
    assert!(
        !ok && out.contains("launch"),
        "missing launcher not noticed: {out}"
    );
}

#[test]
fn systemd_units_verify() {
    systemd_verify(&blue());
    systemd_verify(&red());
    systemd_verify(&hostile());
}

/// The exposure score `systemd-analyze security --offline` gives one unit
/// file (the "Overall exposure level" line), with the host's systemd.
fn exposure(unit: &Path) -> f64 {
    let (_, out) = run(Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit)
        .env("SYSTEMD_COLORS", "0"));
    let line = out
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no score for {}:\n{out}", unit.display()));
    let score = line
        .rsplit(':')
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    score
        .parse()
        .unwrap_or_else(|_| panic!("score in {line:?}"))
}

/// Every service the site runs scores OK (<= 2.0) in `systemd-analyze
/// security`, strict (blue) and with both relaxations (red); the strict
/// sandbox is the better one, and the check notices a weaker unit.
#[test]
fn every_service_scores_ok_in_systemd_analyze_security() {
    assert!(common::have("systemd-analyze"), "apt-get install systemd");
    let tmp = common::tempdir();
    let mut strict = 0.0;
    for (ctx, name) in [(blue(), "blue"), (red(), "red")] {
        let files = render(&ctx);
        let dir = tmp.path().join(name);
        let services: Vec<&RenderedFile> = files
            .iter()
            .filter(|f| f.path.starts_with("/lib/systemd/system/") && f.path.ends_with(".service"))
            .collect();
        assert!(!services.is_empty());
        for f in services {
            let p = dir.join(rel(&f.path).rsplit('/').next().unwrap());
            fs::create_dir_all(&dir).unwrap();
            fs::write(&p, &f.contents).unwrap();
            let score = exposure(&p);
            eprintln!("{}: {score}", f.path);
            assert!(score <= 2.0, "{} scores {score} (> 2.0 OK)", f.path);
            if name == "blue" {
                strict = score;
            } else {
                assert!(
                    score > strict,
                    "red's relaxed {} scores {score}, strict blue {strict}",
                    f.path
                );
            }
        }
    }
    // Teeth: the unit without its sandbox (the lines of hardening.inc
    // after the environment files) scores far worse.
    let blue_files = render(&blue());
    let unit = blue_files
        .iter()
        .find(|f| f.path.ends_with("/demo-blue.service"))
        .unwrap();
    let weak: String = unit
        .contents
        .lines()
        .filter(|l| {
            ![
                "UMask=",
                "Capability",
                "Ambient",
                "Private",
                "Protect",
                "ProcSubset",
                "Restrict",
                "Lock",
                "Memory",
                "RemoveIPC",
                "SystemCall",
                "NoNewPrivileges",
            ]
            .iter()
            .any(|k| l.starts_with(k))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let p = tmp.path().join("weak.service");
    fs::write(&p, weak).unwrap();
    let score = exposure(&p);
    assert!(score > 2.0, "a unit without the sandbox scores {score}");
}

/// site.env means the same to systemd's parser (envfile.py is a port of it)
/// and to POSIX sh, for every value, hostile ones included.
#[test]
fn hostile_environment_values_survive_exactly() {
    let ctx = hostile();
    let files = render(&ctx);
    let tmp = common::tempdir();
    write_all(tmp.path(), &files);
    let lib = tmp.path().join("usr/lib/demo-site/red");
    let site_env = lib.join("site.env");
    for var in &ctx.environment {
        let (ok, got) = run(Command::new("python3")
            .arg("-I")
            .arg(lib.join("envfile"))
            .args(["--get", &var.key, "--file"])
            .arg(&site_env));
        assert!(ok, "envfile --get {}: {got}", var.key);
        assert_eq!(got, var.value, "envfile reading {}", var.key);
        let (ok, got) = run(Command::new("sh")
            .arg("-c")
            .arg("set -eu; . \"$1\"; eval \"printf %s \\\"\\$$2\\\"\"")
            .arg("sh")
            .arg(&site_env)
            .arg(&var.key));
        assert!(ok, "sh reading {}: {got}", var.key);
        assert_eq!(got, var.value, "sh reading {}", var.key);
    }
    assert!(
        !Path::new("/tmp/djdd-pwned").exists(),
        "a value was executed"
    );
}

/// envfile runs a command with exactly the environment of the files, in
/// order, later files winning, optional files allowed to be missing.
#[test]
fn envfile_runs_a_command_with_the_files_environment() {
    let files = render(&blue());
    let tmp = common::tempdir();
    write_all(tmp.path(), &files);
    let envfile = tmp.path().join("usr/lib/demo-site/blue/envfile");
    let a = tmp.path().join("a.env");
    let b = tmp.path().join("b.env");
    fs::write(
        &a,
        "A=\"one\"\nB=two # not a comment\n# C=x\n; D=y\nE='single $x'\\\n",
    )
    .unwrap();
    fs::write(&b, "A=\"override\"\nexport BAD=1\n1X=2\n").unwrap();
    let (ok, out) = run(Command::new("python3")
        .arg("-I")
        .arg(&envfile)
        .arg("--file")
        .arg(&a)
        .arg("--file")
        .arg(&b)
        .arg("--optional")
        .arg(tmp.path().join("missing.env"))
        .args(["--", "env"])
        .env("SECRET_FROM_CALLER", "leak"));
    assert!(ok, "{out}");
    let vars: BTreeMap<&str, &str> = out.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(vars.get("A"), Some(&"override"));
    assert_eq!(vars.get("B"), Some(&"two # not a comment"));
    assert_eq!(vars.get("E"), Some(&"single $x"));
    assert!(!vars.contains_key("C") && !vars.contains_key("D"));
    assert!(
        !vars.contains_key("SECRET_FROM_CALLER"),
        "caller's environment leaked"
    );
    assert!(out.contains("ignoring invalid variable name"), "{out}");
    // A required file that is missing is an error, not an empty environment.
    let (ok, out) = run(Command::new("python3")
        .arg("-I")
        .arg(&envfile)
        .arg("--file")
        .arg(tmp.path().join("missing.env"))
        .args(["--", "true"]));
    assert!(!ok && out.contains("no such file"), "{out}");
}

/// The part of blue's control utility from `start` to `end`.
fn blue_control_section(start: &str, end: &str) -> String {
    let files = render(&blue());
    let ctl = &files
        .iter()
        .find(|f| f.path == "/usr/bin/demo-blue")
        .unwrap()
        .contents;
    section(ctl, start, end).to_string()
}

fn section<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let a = text.find(start).unwrap_or_else(|| panic!("no {start}"));
    let b = text.find(end).unwrap_or_else(|| panic!("no {end}"));
    &text[a..b]
}

/// The postinst's secrets step, run for real on a temp dir: composed
/// secrets with hostile text come out exactly, generated ones are kept on
/// a rerun, and a rerun changes nothing.
#[test]
fn postinst_secrets_are_exact_and_kept() {
    if unsafe_not_root() {
        eprintln!("skipped: needs root (chown root:GROUP)");
        return;
    }
    let ctx = hostile();
    let files = render(&ctx);
    let tmp = common::tempdir();
    let t = tmp.path();
    write_all(t, &files);
    let postinst = &files
        .iter()
        .find(|f| f.path == "DEBIAN/postinst")
        .unwrap()
        .contents;
    let constants = section(postinst, "# --- constants", "# --- end of constants");
    let functions = section(postinst, "# --- functions ---", "# --- end of functions");
    let envfile = t.join("usr/lib/demo-site/red/envfile");
    let script = format!(
        "set -e\n{constants}\nSECRETS_ENV=$T/secrets.env\nLOCAL_ENV=$T/local.env\nPYTHON=python3\nENVFILE=$T/envfile\nSITE_USER=root\n{functions}\nensure_secrets\n"
    );
    fs::copy(&envfile, t.join("envfile")).unwrap();
    let runit = || {
        let (ok, out) = run(Command::new("sh").arg("-c").arg(&script).env("T", t));
        assert!(ok, "ensure_secrets failed: {out}");
    };
    runit();
    let secrets = t.join("secrets.env");
    let first = fs::read(&secrets).unwrap();
    let mode = fs::metadata(&secrets).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    let get = |k: &str| {
        let (ok, v) = run(Command::new("python3")
            .arg("-I")
            .arg(t.join("envfile"))
            .args(["--get", k, "--file"])
            .arg(&secrets));
        assert!(ok, "{k} missing: {v}");
        v
    };
    let key = get("SECRET_KEY");
    assert_eq!(
        key.len(),
        contract::Secret::SecretKey.length(),
        "the contract's length, in hex"
    );
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    let pw = get("DATABASE_PASSWORD");
    assert_eq!(
        get("DATABASE_URL"),
        format!("postgres://demo-red:{pw}@127.0.0.1:5432/demo-red")
    );
    assert_eq!(get("HOSTILE_SECRET"), format!("{HOSTILE}{key}'\"$x"));
    let mtime = fs::metadata(&secrets).unwrap().modified().unwrap();
    runit();
    assert_eq!(
        fs::read(&secrets).unwrap(),
        first,
        "a rerun changed secrets.env"
    );
    assert_eq!(
        fs::metadata(&secrets).unwrap().modified().unwrap(),
        mtime,
        "a rerun rewrote secrets.env"
    );
    // An admin's edit of a generated secret is kept; composed values follow it.
    let edited = String::from_utf8(first)
        .unwrap()
        .replace(&pw, "admin's $pw");
    let edited = edited.replace(
        "DATABASE_PASSWORD=\"admin's $pw\"",
        "DATABASE_PASSWORD=\"admin's \\$pw\"",
    );
    fs::write(&secrets, edited).unwrap();
    runit();
    assert_eq!(get("DATABASE_PASSWORD"), "admin's $pw");
    assert_eq!(
        get("DATABASE_URL"),
        "postgres://demo-red:admin's $pw@127.0.0.1:5432/demo-red"
    );
    assert!(
        !Path::new("/tmp/djdd-pwned").exists(),
        "a value was executed"
    );
}

fn unsafe_not_root() -> bool {
    let (ok, out) = run(Command::new("id").arg("-u"));
    !(ok && out.trim() == "0")
}

/// The shell constants hold every value exactly (they are what all three
/// maintainer scripts act on).
#[test]
fn postinst_constants_hold_the_values() {
    let ctx = red();
    let files = render(&ctx);
    let postinst = &files
        .iter()
        .find(|f| f.path == "DEBIAN/postinst")
        .unwrap()
        .contents;
    let constants = section(postinst, "# --- constants", "# --- end of constants");
    let script = format!(
        "{constants}\nprintf '%s|' \"$SITE_USER\" \"$VERSION\" \"$ENV_PATH\" \"$SRC_PATH\" \"$HEALTH_PATH\" \"$CELERY_UNIT\" \"$MIGRATE\" \"$DB_NAME\" \"$BROKER_VHOST\""
    );
    let (ok, out) = run(Command::new("sh").arg("-c").arg(script));
    assert!(ok, "{out}");
    assert_eq!(
        out,
        "demo-red|1.20250101.3|/usr/lib/demo-env/0123456789abcdef|/usr/lib/demo-src/a1b2c3d4e5f6|/health/?full=1|demo-red-celery.service|yes|demo-red|demo-red|"
    );
}

/// Every maintainer script refuses an argument dpkg never passes, and
/// accepts (as a no-op) the ones that need no action.
#[test]
fn maintainer_scripts_handle_dpkg_arguments() {
    let files = render(&blue());
    let tmp = common::tempdir();
    write_all(tmp.path(), &files);
    let s = |name: &str| tmp.path().join("DEBIAN").join(name);
    for (script, arg, ok_expected) in [
        ("postinst", "bogus", false),
        ("postinst", "triggered", true),
        ("prerm", "bogus", false),
        ("prerm", "upgrade", true),
        ("prerm", "failed-upgrade", true),
        ("postrm", "bogus", false),
        ("postrm", "upgrade", true),
        ("postrm", "abort-install", true),
        ("postrm", "abort-upgrade", true),
        ("postrm", "failed-upgrade", true),
        ("postrm", "disappear", true),
    ] {
        let (ok, out) = run(Command::new("sh").arg(s(script)).arg(arg));
        assert_eq!(ok, ok_expected, "{script} {arg}: {out}");
        if !ok_expected {
            assert!(out.contains("unknown argument"), "{script} {arg}: {out}");
        }
    }
    // abort-upgrade with no release installed is a no-op.
    let postinst = fs::read_to_string(s("postinst")).unwrap();
    assert!(postinst.contains("abort-upgrade|abort-remove|abort-deconfigure)"));
}

#[test]
fn control_utility_usage_and_exit_codes() {
    let files = render(&red());
    let tmp = common::tempdir();
    write_all(tmp.path(), &files);
    let ctl = tmp.path().join("usr/bin/demo-red");
    let out = Command::new(&ctl).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for c in [
        "status", "start", "restart", "reload", "switch", "offline", "online", "manage", "shell",
    ] {
        assert!(help.contains(&format!("  {c}")), "help lacks {c}: {help}");
    }
    assert!(help.contains("celery"), "red's help mentions celery");
    let out = Command::new(&ctl).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no command is a usage error");
    let out = Command::new(&ctl).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command 'frobnicate'"));
    let out = Command::new(&ctl).arg("version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "none");
}

/// A fake release below `t`: a virtualenv whose python is the host's, and
/// a source tree with `site/manage.py` holding `manage_py`. Returns the
/// virtualenv and the release directory (`releases/1`, with `env` and `src`).
fn fake_release(t: &Path, manage_py: &str) -> (PathBuf, PathBuf) {
    let venv = t.join("venv");
    fs::create_dir_all(venv.join("bin")).unwrap();
    let host_python = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v python3"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::os::unix::fs::symlink(host_python.trim(), venv.join("bin/python")).unwrap();
    let src = t.join("src");
    fs::create_dir_all(src.join("site")).unwrap();
    fs::write(src.join("site/manage.py"), manage_py).unwrap();
    let release = t.join("releases/1");
    fs::create_dir_all(&release).unwrap();
    std::os::unix::fs::symlink(&venv, release.join("env")).unwrap();
    std::os::unix::fs::symlink(&src, release.join("src")).unwrap();
    (venv, release)
}

#[test]
fn launcher_resolves_a_release_and_runs_manage_py() {
    // A fake release: a virtualenv whose python is the host's, a source
    // tree with a manage.py that prints its argv, cwd and PYTHONPATH.
    let ctx = red();
    let files = render(&ctx);
    let tmp = common::tempdir();
    let t = tmp.path();
    write_all(t, &files);
    fake_release(
        t,
        "import os, sys\nprint(repr(sys.argv[1:]), os.getcwd(), os.environ['PYTHONPATH'])\n",
    );
    let src = t.join("src");
    let link = t.join("current");
    std::os::unix::fs::symlink("releases/1", &link).unwrap();
    let (ok, out) = run(Command::new(t.join("usr/lib/demo-site/red/launch"))
        .arg("--release")
        .arg(&link)
        .args(["manage", "migrate", "--noinput", "it's $(x)"]));
    assert!(ok, "{out}");
    let real_app = fs::canonicalize(src.join("site")).unwrap();
    assert_eq!(
        out.trim(),
        format!(
            "['migrate', '--noinput', \"it's $(x)\"] {} {}",
            real_app.display(),
            real_app.display()
        ),
        "arguments exact, cwd and PYTHONPATH the resolved source"
    );
    let (ok, out) = run(Command::new(t.join("usr/lib/demo-site/red/launch"))
        .arg("--release")
        .arg(t.join("nowhere"))
        .arg("manage"));
    assert!(!ok && out.contains("launch:"), "{out}");
}

/// red's files below a temp dir, with a fake release whose manage.py
/// prints its arguments and a program PROGRAM of the env that prints its
/// arguments as `<ARG>`; returns the dir and red's launcher.
fn red_release_printing_argv(program: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = common::tempdir();
    let t = tmp.path();
    write_all(t, &render(&red()));
    let (venv, _) = fake_release(t, "import sys\nprint(repr(sys.argv[1:]))\n");
    let bin = venv.join("bin").join(program);
    fs::write(
        &bin,
        "#!/bin/sh\nfor a in \"$@\"; do printf '<%s>' \"$a\"; done\n",
    )
    .unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    let launch = t.join("usr/lib/demo-site/red/launch");
    (tmp, launch)
}

/// `launch release-command N` runs the Nth release command from the
/// release, as `run` runs a process: it says which, then runs exactly its
/// words (`${VAR}` expanded, the rest literal); one that does not exist is
/// a usage error.
#[test]
fn launcher_runs_release_commands_one_by_one() {
    assert_eq!(red().release_commands.len(), 2);
    let (tmp, launch) = red_release_printing_argv("reindex");
    let t = tmp.path();
    let step = |n: &str| {
        run(Command::new(&launch)
            .arg("--release")
            .arg(t.join("releases/1"))
            .args(["release-command", n])
            .env("DATA_DIR", "/var/lib/demo-site/red/data")
            .env("PATH", "/usr/bin:/bin"))
    };
    let (ok, out) = step("1");
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        "release command 1/2: manage.py clearsessions\n['clearsessions']"
    );
    let (ok, out) = step("2");
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        "release command 2/2: reindex --lazy ${DATA_DIR}/index it's $(x) `id`\n<--lazy></var/lib/demo-site/red/data/index><it's $(x) `id`>"
    );
    let (ok, out) = step("3");
    assert!(!ok && out.contains("no release command '3'"), "{out}");
}

/// `launch run NAME` runs a process's or timer's command from the release:
/// manage.py commands with the env's python, programs from the env's bin
/// first, `${VAR}` expanded from the environment, every other character
/// literal, extra arguments appended.
#[test]
fn launcher_runs_processes_and_timers() {
    let (tmp, launch) = red_release_printing_argv("celery");
    let t = tmp.path();
    let files = render(&red());
    let run_job = |args: &[&str]| {
        run(Command::new(&launch)
            .arg("--release")
            .arg(t.join("releases/1"))
            .arg("run")
            .args(args)
            .env("DATA_DIR", "/var/lib/demo-site/red/data")
            .env("PATH", "/usr/bin:/bin"))
    };
    let (ok, out) = run_job(&["sendalerts", "--once"]);
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        "['sendalerts', '--loop', \"it's $(x)\", '--once']"
    );
    let (ok, out) = run_job(&["beat"]);
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        "<--app><demo.celery:app><beat><--schedule></var/lib/demo-site/red/data/celerybeat-schedule>"
    );
    let (ok, out) = run_job(&["clearsessions"]);
    assert!(ok && out.trim() == "['clearsessions']", "{out}");
    // A process off by the variant's default is shipped: a host may
    // scale it up.
    let (ok, out) = run_job(&["unused"]);
    assert!(ok && out.trim() == "['unused']", "{out}");
    let (ok, out) = run_job(&["nosuchjob"]);
    assert!(
        !ok && out.contains("no process or timer 'nosuchjob'"),
        "{out}"
    );
    // The units: a target and a template for every process, whatever its
    // copies; the timer with its service.
    let units: Vec<&str> = files
        .iter()
        .filter_map(|f| f.path.strip_prefix("/lib/systemd/system/"))
        .collect();
    for u in [
        "demo-red-sendalerts.target",
        "demo-red-sendalerts@.service",
        "demo-red-beat.target",
        "demo-red-beat@.service",
        "demo-red-unused.target",
        "demo-red-unused@.service",
        "demo-red-clearsessions.timer",
        "demo-red-clearsessions.service",
    ] {
        assert!(units.contains(&u), "{u} missing from {units:?}");
    }
    for gone in ["demo-red-beat.service", "demo-red-sendalerts.service"] {
        assert!(!units.contains(&gone), "{gone} in {units:?}");
    }
    let timer = files
        .iter()
        .find(|f| f.path.ends_with("/demo-red-clearsessions.timer"))
        .unwrap();
    for line in [
        "OnCalendar=*-*-* 04:00:00\n",
        "Persistent=true\n",
        "RandomizedDelaySec=10min\n",
    ] {
        assert!(timer.contents.contains(line), "{}", timer.contents);
    }
}

/// Every process is a target and a template, whatever its copies: the
/// instances are `PartOf=` the target and enabled into it (`WantedBy=`),
/// the target wants no fixed list; the package's counts reach the
/// control utility and the postinst.
#[test]
fn every_process_is_a_target_and_a_template() {
    let files = render(&red());
    let file = |name: &str| {
        &files
            .iter()
            .find(|f| f.path == format!("/lib/systemd/system/{name}"))
            .unwrap_or_else(|| panic!("{name} missing"))
            .contents
    };
    for p in ["beat", "sendalerts", "unused"] {
        let template = file(&format!("demo-red-{p}@.service"));
        for line in [
            format!("Description=demo-red process {p} %i (red.example.net)\n"),
            format!("PartOf=demo-red-{p}.target\n"),
            "Environment=DJDD_PROCESS_INSTANCE=%i\n".to_string(),
            format!("ExecStart=/usr/lib/demo-site/red/launch run {p}\n"),
            format!("[Install]\nWantedBy=demo-red-{p}.target\n"),
        ] {
            assert!(template.contains(&line), "{p}: {line:?} in\n{template}");
        }
        let target = file(&format!("demo-red-{p}.target"));
        assert!(
            target.contains("[Install]\nWantedBy=multi-user.target\n"),
            "{target}"
        );
        assert!(
            !target.lines().any(|l| l.starts_with("Wants=")),
            "a fixed list of instances: {target}"
        );
    }
    for script in ["/usr/bin/demo-red", "DEBIAN/postinst"] {
        let text = &files.iter().find(|f| f.path == script).unwrap().contents;
        for line in [
            "    'sendalerts') JOB_KIND=process JOB_DEFAULT=2 JOB_BASE='demo-red-sendalerts' ;;\n",
            "    'beat') JOB_KIND=process JOB_DEFAULT=1 JOB_BASE='demo-red-beat' ;;\n",
            "    'unused') JOB_KIND=process JOB_DEFAULT=0 JOB_BASE='demo-red-unused' ;;\n",
            "    'clearsessions') JOB_KIND=timer JOB_DEFAULT=1 JOB_BASE='demo-red-clearsessions' ;;\n",
            "SCALE_ENV='/etc/demo-site/red/scale.env'\n",
            "SCALE_MAX=16\n",
        ] {
            assert!(text.contains(line), "{script} lacks {line:?}");
        }
    }
}

/// The scale section of red's control utility, run for real with its
/// file and links below `t` and a fake systemctl (every unit active).
fn scale_sh(t: &Path, body: &str, args: &[&str]) -> (i32, String) {
    let files = render(&red());
    let ctl = &files
        .iter()
        .find(|f| f.path == "/usr/bin/demo-red")
        .unwrap()
        .contents;
    let scale = section(ctl, "# --- scale:", "# --- end of scale ---");
    let script = format!(
        "set -eu\n{scale}\nSCALE_ENV=$T/etc/scale.env\nSCALE_LINK_DIR=$T/systemd\n\
         scale_systemd_running() {{ false; }}\n\
         systemctl() {{ echo \"$*\" >>\"$T/systemctl\"; [ \"$1\" != is-active ] || echo active; }}\n{body}\n"
    );
    fs::create_dir_all(t.join("etc")).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg("sh")
        .args(args)
        .env("T", t)
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), common::all_output(&out))
}

/// `NAME-VARIANT scale`: shows the counts and where they come from;
/// NAME=N is checked (all before anything is written), written to
/// scale.env (other lines kept, a line replaced where it is), and the
/// enable links follow; refused arguments change nothing.
#[test]
fn scale_checks_writes_and_links() {
    let tmp = common::tempdir();
    let t = tmp.path();
    let env = t.join("etc/scale.env");
    let read = || fs::read_to_string(&env).unwrap_or_default();
    let cmd = |args: &[&str]| scale_sh(t, "scale_command \"$@\"", args);
    let (rc, out) = cmd(&[]);
    assert_eq!(rc, 0, "{out}");
    for line in [
        "  sendalerts               process    2  package default\n",
        "  unused                   process    0  package default\n",
        "  clearsessions            timer     on  package default\n",
    ] {
        assert!(out.contains(line), "{line:?} in\n{out}");
    }
    assert!(!env.exists(), "showing wrote the file");

    let (rc, out) = cmd(&["sendalerts=3", "unused=1"]);
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("  sendalerts               process    3  this host (package: 2)\n"),
        "{out}"
    );
    assert!(read().ends_with("\nsendalerts=3\nunused=1\n"), "{}", read());
    assert_eq!(
        fs::metadata(&env).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let link = |p: &str| {
        fs::read_link(t.join("systemd").join(p))
            .ok()
            .map(|l| l.display().to_string())
    };
    for k in 1..=3 {
        assert_eq!(
            link(&format!(
                "demo-red-sendalerts.target.wants/demo-red-sendalerts@{k}.service"
            ))
            .as_deref(),
            Some("/lib/systemd/system/demo-red-sendalerts@.service")
        );
    }
    assert_eq!(
        link("multi-user.target.wants/demo-red-sendalerts.target").as_deref(),
        Some("/lib/systemd/system/demo-red-sendalerts.target")
    );
    assert!(link("demo-red-sendalerts.target.wants/demo-red-sendalerts@4.service").is_none());
    assert!(link("demo-red-unused.target.wants/demo-red-unused@1.service").is_some());

    // Refused, whole: nothing is written, no link changes.
    let before = read();
    for (args, says) in [
        (&["nosuch=1"][..], "no process or timer 'nosuch'"),
        (&["clearsessions=2"][..], "a timer is 0 (off) or 1 (on)"),
        (&["sendalerts=17"][..], "0 to 16 copies"),
        (&["sendalerts=01"][..], "0 to 16 copies"),
        (&["sendalerts=-1"][..], "0 to 16 copies"),
        (&["sendalerts"][..], "is not NAME=N"),
        (&["sendalerts=1", "clearsessions=5"][..], "clearsessions=5"),
    ] {
        let (rc, out) = cmd(args);
        assert_eq!(rc, 2, "{args:?}: {out}");
        assert!(
            out.contains(says) && out.contains("demo-red"),
            "{args:?}: {out}"
        );
        assert_eq!(read(), before, "{args:?} changed the file");
    }
    assert!(link("demo-red-sendalerts.target.wants/demo-red-sendalerts@3.service").is_some());

    // Down to 1, the timer off: the links follow; the line is replaced in place.
    let (rc, out) = cmd(&["sendalerts=1", "clearsessions=0"]);
    assert_eq!(rc, 0, "{out}");
    assert!(
        read().ends_with("\nsendalerts=1\nunused=1\nclearsessions=0\n"),
        "{}",
        read()
    );
    assert!(link("demo-red-sendalerts.target.wants/demo-red-sendalerts@1.service").is_some());
    assert!(link("demo-red-sendalerts.target.wants/demo-red-sendalerts@2.service").is_none());
    assert!(link("timers.target.wants/demo-red-clearsessions.timer").is_none());
    let (rc, out) = cmd(&["clearsessions=1"]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(
        link("timers.target.wants/demo-red-clearsessions.timer").as_deref(),
        Some("/lib/systemd/system/demo-red-clearsessions.timer")
    );

    // An admin's file: comments and names this release lacks are kept.
    fs::write(&env, "# mine\n  sendalerts=2  \nold-job=4\nsendalerts=2\n").unwrap();
    let (rc, out) = cmd(&["sendalerts=0"]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(read(), "# mine\nsendalerts=0\nold-job=4\n");
    assert!(out.contains("old-job") && out.contains("ignored"), "{out}");
    assert!(link("multi-user.target.wants/demo-red-sendalerts.target").is_none());
    assert!(!t.join("systemd/demo-red-sendalerts.target.wants").exists());
    // Status: at 0 it is off, not a fault.
    let (rc, out) = scale_sh(t, "scale_load\nscale_status", &[]);
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("  demo-red-sendalerts.target               off (scaled to 0 on this host)\n"),
        "{out}"
    );
    assert!(
        out.contains("  demo-red-beat@1.service                  active\n"),
        "{out}"
    );
    // Back to the package's count: the line goes.
    let (rc, out) = cmd(&["sendalerts=default"]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(read(), "# mine\nold-job=4\n");
    assert!(link("demo-red-sendalerts.target.wants/demo-red-sendalerts@2.service").is_some());

    // A line that is not NAME=N: refused until fixed, nothing written.
    fs::write(&env, "sendalerts=x\n").unwrap();
    let (rc, out) = cmd(&["unused=1"]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("scale.env line 1: not NAME=N"), "{out}");
    assert_eq!(read(), "sendalerts=x\n");
    fs::write(&env, "clearsessions=3\n").unwrap();
    let (rc, out) = scale_sh(t, "scale_load", &[]);
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("line 1: clearsessions=3: a timer is 0 (off) or 1 (on)"),
        "{out}"
    );
}

/// The postinst reads scale.env before it changes anything: a bad line
/// fails the configure, a name the release lacks is a warning.
#[test]
fn postinst_checks_scale_env_first() {
    if unsafe_not_root() {
        eprintln!("skipped: needs root (chown root:root)");
        return;
    }
    let files = render(&red());
    let postinst = &files
        .iter()
        .find(|f| f.path == "DEBIAN/postinst")
        .unwrap()
        .contents;
    let configure = section(postinst, "configure() {", "    ensure_user\n");
    assert!(
        configure.contains("    check_packages\n    scale_check\n"),
        "{configure}"
    );
    let constants = section(postinst, "# --- constants", "# --- end of constants");
    let functions = section(postinst, "# --- functions ---", "# --- end of functions");
    let tmp = common::tempdir();
    let t = tmp.path();
    let run_check = |text: &str| {
        fs::write(t.join("scale.env"), text).unwrap();
        run(Command::new("sh")
            .arg("-c")
            .arg(format!(
                "set -e\n{constants}\n{functions}\nSCALE_ENV=$T/scale.env\nscale_check\necho \"on:$SCALE_ON_UNITS|off:$SCALE_OFF_UNITS\""
            ))
            .env("T", t))
    };
    let (ok, out) = run_check("beat=0\nold=1\n");
    assert!(ok, "{out}");
    assert!(
        out.contains("names old: release 1.20250101.3 has no such process or timer"),
        "{out}"
    );
    assert!(
        out.contains("on: demo-red-sendalerts.target demo-red-clearsessions.timer|off: demo-red-beat.target demo-red-unused.target"),
        "{out}"
    );
    let (ok, out) = run_check("beat=zero\n");
    assert!(
        !ok && out.contains("line 1") && out.contains("dpkg --configure -a"),
        "{out}"
    );
}

/// An upgrade from a version before per-host counts: the recorded single
/// `P.service` is stopped and forgotten, the target this version has is
/// left alone; a target a version dropped loses its instance links too.
#[test]
fn the_old_single_service_of_a_process_is_dropped() {
    let files = render(&red());
    let postinst = &files
        .iter()
        .find(|f| f.path == "DEBIAN/postinst")
        .unwrap()
        .contents;
    let constants = section(postinst, "# --- constants", "# --- end of constants");
    let functions = section(postinst, "# --- functions ---", "# --- end of functions");
    let tmp = common::tempdir();
    let t = tmp.path();
    let bin = t.join("bin");
    fs::create_dir_all(&bin).unwrap();
    for tool in ["deb-systemd-invoke", "deb-systemd-helper"] {
        let p = bin.join(tool);
        fs::write(
            &p,
            format!("#!/bin/sh\necho \"{tool} $*\" >>\"$T/calls\"\n"),
        )
        .unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    // What 1.x recorded: beat as a service; a process since dropped, as a
    // target with an instance link.
    fs::write(
        t.join("units"),
        "demo-red.socket\ndemo-red.service\ndemo-red-beat.service\ndemo-red-sendalerts.target\ndemo-red-gone.target\n",
    )
    .unwrap();
    let wants = t.join("systemd/demo-red-gone.target.wants");
    fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink(
        "/lib/systemd/system/demo-red-gone@.service",
        wants.join("demo-red-gone@1.service"),
    )
    .unwrap();
    let script = format!(
        "set -e\n{constants}\n{functions}\nUNITS_FILE=$T/units\nSCALE_LINK_DIR=$T/systemd\nsystemd_running() {{ true; }}\nstop_dropped_units\n"
    );
    let (ok, out) = run(Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("T", t)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display())));
    assert!(ok, "{out}");
    let calls = fs::read_to_string(t.join("calls")).unwrap();
    for want in [
        "deb-systemd-invoke stop demo-red-beat.service\n",
        "deb-systemd-helper purge demo-red-beat.service\n",
        "deb-systemd-invoke stop demo-red-gone.target\n",
        "deb-systemd-invoke stop demo-red-gone@*.service\n",
        "deb-systemd-helper purge demo-red-gone.target\n",
    ] {
        assert!(calls.contains(want), "{want:?} not in\n{calls}");
    }
    assert!(!calls.contains("sendalerts"), "{calls}");
    assert!(!calls.contains("demo-red.service"), "{calls}");
    assert!(!wants.exists(), "the dropped target's instance links stay");
    assert!(
        out.contains("stopping demo-red-beat.service: release 1.20250101.3 does not have it"),
        "{out}"
    );
}

/// A variant's copies for a process the project does not define are refused.
#[test]
fn copies_of_an_unknown_process_are_refused() {
    let mut i = red_input();
    i.copies.insert("sendreports".into(), 1);
    let e = render::site_context(&i).unwrap_err().to_string();
    assert!(
        e.contains("process sendreports") && e.contains("sendalerts"),
        "{e}"
    );
}

#[test]
fn user_override_replaces_a_template() {
    let mut o = BTreeMap::new();
    o.insert(
        "maintenance.html".to_string(),
        "<p>{{ domain }} is resting</p>\n".to_string(),
    );
    let files = render::site_files(&blue(), Some(&o)).unwrap();
    let page = files
        .iter()
        .find(|f| f.path.ends_with("maintenance/index.html"))
        .unwrap();
    assert_eq!(
        page.contents,
        "<p>blue.example.org</p>\n".replace("</p>", " is resting</p>")
    );
    // Other templates are the embedded ones.
    assert_eq!(
        files
            .iter()
            .find(|f| f.path == "DEBIAN/postinst")
            .unwrap()
            .contents,
        render(&blue())
            .iter()
            .find(|f| f.path == "DEBIAN/postinst")
            .unwrap()
            .contents
    );
}

#[test]
fn override_with_an_unknown_name_or_undefined_value_is_refused() {
    let mut o = BTreeMap::new();
    o.insert("nginx.cnf".to_string(), "x".to_string());
    let e = render::site_files(&blue(), Some(&o))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("template override 'nginx.cnf'") && e.contains("nginx.conf"),
        "{e}"
    );
    let mut o = BTreeMap::new();
    o.insert(
        "site.env".to_string(),
        "X={{ no_such_value }}\n".to_string(),
    );
    let e = render::site_files(&blue(), Some(&o))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("template 'site.env'") && e.contains("undefined"),
        "{e}"
    );
}

#[test]
fn an_override_cannot_smuggle_a_domain_into_nginx_unquoted() {
    // Validation refuses hostile domains before rendering; the nginx_token
    // filter is the second line of defence for values that reach nginx.
    let mut o = BTreeMap::new();
    o.insert(
        "nginx.conf".to_string(),
        "server_name {{ (domain ~ ' x; }') | nginx_token }};\n".to_string(),
    );
    let e = render::site_files(&blue(), Some(&o))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nginx_token"), "{e}");
}

type Mutation = Box<dyn Fn(&mut SiteContext)>;

#[test]
fn hostile_context_values_are_refused_with_the_field_named() {
    let cases: Vec<(Mutation, &str)> = vec![
        (Box::new(|c| c.domain = "a b.org".into()), "domain"),
        (Box::new(|c| c.domain = "a.org;".into()), "domain"),
        (Box::new(|c| c.domain = "a{.org".into()), "domain"),
        (Box::new(|c| c.domain = "Example.org".into()), "domain"),
        (Box::new(|c| c.domain = "localhost".into()), "domain"),
        (
            Box::new(|c| c.settings_module = "demo/settings".into()),
            "settings_module",
        ),
        (
            Box::new(|c| c.settings_module = "demo.settings'".into()),
            "settings_module",
        ),
        (
            Box::new(|c| c.wsgi_callable = "demo.wsgi:app; rm".into()),
            "wsgi_callable",
        ),
        (
            Box::new(|c| c.celery_app = Some("$(x)".into())),
            "celery_app",
        ),
        (Box::new(|c| c.workers = 0), "workers = 0"),
        (Box::new(|c| c.workers = 100_000), "workers = 100000"),
        (Box::new(|c| c.name = "Demo".into()), "name"),
        (Box::new(|c| c.name = "-demo".into()), "name"),
        (Box::new(|c| c.variant = "a_b".into()), "variant"),
        (Box::new(|c| c.variant = "".into()), "variant"),
        (Box::new(|c| c.version = "1.0 beta".into()), "version"),
        (Box::new(|c| c.env_hash = "../x".into()), "env_hash"),
        (
            Box::new(|c| c.python_version = "3.11; x".into()),
            "python_version",
        ),
        (
            Box::new(|c| c.health_path = "no-slash".into()),
            "health_path",
        ),
        (Box::new(|c| c.health_path = "/a b".into()), "health_path"),
        (Box::new(|c| c.health_path = "//x".into()), "health_path"),
        (Box::new(|c| c.warm_path = "/a#b".into()), "warm_path"),
        (
            Box::new(|c| c.manage_py = "../manage.py".into()),
            "manage_py",
        ),
        (
            Box::new(|c| c.manage_py = "/abs/manage.py".into()),
            "manage_py",
        ),
        (Box::new(|c| c.static_url = "/".into()), "static_url"),
        (
            Box::new(|c| c.static_url = "https://cdn.example/".into()),
            "static_url",
        ),
        (Box::new(|c| c.media_url = "/static/".into()), "static_url"),
        (
            Box::new(|c| c.environment.push(EnvVar::new("A-B", "x"))),
            "A-B",
        ),
        (
            Box::new(|c| c.environment.push(EnvVar::new("X", "a\nb"))),
            "value of X",
        ),
        (
            Box::new(|c| c.environment.push(EnvVar::new("ALLOWED_HOSTS", "x"))),
            "given twice",
        ),
        (
            Box::new(|c| {
                c.secrets
                    .push(Secret::composed("Z", vec![Piece::Secret("NOPE".into())]))
            }),
            "NOPE",
        ),
        (
            Box::new(|c| c.secrets.push(Secret::generated("W", 2))),
            "secret W",
        ),
    ];
    for (i, (mutate, needle)) in cases.iter().enumerate() {
        let mut c = blue();
        mutate(&mut c);
        let e = render::site_files(&c, None)
            .err()
            .unwrap_or_else(|| panic!("case {i} ({needle}) was accepted"))
            .to_string();
        assert!(e.contains(needle), "case {i}: {e:?} should name {needle:?}");
    }
}

/// The health and warm-up paths follow the variant's rule for URL paths:
/// what `djdd variant --health-url`/`--warm-url` accepts also renders (the
/// render check used to be narrower, refusing `,` `:` `@` `+` and `%` in
/// the path, so such a variant failed only at build time), quoted for the
/// shell.
#[test]
fn every_url_path_a_variant_accepts_renders() {
    for path in ["/health/?a=1,2&b=%20", "/x:y@z/", "/a%2Fb/", "/h+c/~u"] {
        djdd::rules::values::check_url_path("--health-url", "health_url", path)
            .unwrap_or_else(|e| panic!("the variant refuses {path}: {e}"));
        let mut c = blue();
        c.health_path = path.into();
        c.warm_path = path.into();
        let files = render::site_files(&c, None)
            .unwrap_or_else(|e| panic!("{path} was refused by render: {e}"));
        let control = &files
            .iter()
            .find(|f| f.path.ends_with("usr/bin/demo-blue"))
            .expect("the control utility")
            .contents;
        for var in ["HEALTH_PATH", "WARM_PATH"] {
            assert!(
                control.contains(&format!("{var}='{path}'")),
                "{var} of {path} in the control utility"
            );
        }
    }
}

#[test]
fn www_domain_gets_one_server_name() {
    let mut c = blue();
    c.domain = "www.example.org".into();
    let files = render(&c);
    let conf = &files
        .iter()
        .find(|f| f.path.ends_with("nginx.conf"))
        .unwrap()
        .contents;
    assert!(conf.contains("server_name www.example.org;"), "{conf}");
}

/// launch runs exactly the command lines docs/contract.md shows (both come
/// from `contract::gunicorn_args` / `celery_args`; this checks the template
/// puts them where the document says).
#[test]
fn launcher_runs_the_contracts_command_lines() {
    let ctx = red();
    let launch = render::render_template(&ctx, "launch.sh", None).unwrap();
    let joined = launch.replace(" \\\n        ", " ");
    let doc = fs::read_to_string(common::repo_root().join("docs/contract.md")).unwrap();
    let line = |prefix: &str| {
        doc.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("docs/contract.md has no line {prefix}"))
            .replace("NAME-VARIANT", "demo-red")
    };
    let gunicorn = line("ENV_DIR/bin/gunicorn ")
        .replace("ENV_DIR/bin/gunicorn", "exec \"$venv/bin/gunicorn\"")
        .replace("PROJECT_DIR", "\"$app\"")
        // The variant's graceful timeout follows the contract's options.
        .replace(
            " WSGI",
            " --graceful-timeout 30 \"$@\" 'demo.wsgi:application'",
        );
    assert!(
        joined.lines().any(|l| l.trim() == gunicorn),
        "launch does not run `{gunicorn}`:\n{launch}"
    );
    let celery = line("ENV_DIR/bin/celery ")
        .replace("ENV_DIR/bin/celery", "exec \"$venv/bin/celery\"")
        .replace("CELERY_APP", "demo.celery:app")
        + " \"$@\"";
    assert!(
        joined.lines().any(|l| l.trim() == celery),
        "launch does not run `{celery}`:\n{launch}"
    );
}

/// The extremes the variant rules accept (issue 8): the longest domain
/// (253 characters), a 200-character settings module, the most workers.
/// The generated scripts, nginx config and units still parse (`sh -n`,
/// shellcheck, `nginx -t`, `systemd-analyze verify`) and mean what they
/// say: nginx serves exactly that domain, site.env holds the settings
/// module and the worker count.
#[test]
fn extreme_accepted_variant_values_still_parse_and_mean_what_they_say() {
    use djdd::rules::values::{MAX_WORKERS, check_domain, check_settings, check_workers};
    let domain = format!(
        "{}.{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61)
    );
    assert_eq!(domain.len(), 253);
    check_domain("domain", &domain).unwrap();
    let settings = format!("{}.settings_prod", "x_y".repeat(61));
    assert_eq!(settings.len(), 197);
    check_settings("settings", &settings).unwrap();
    let workers = check_workers("workers", MAX_WORKERS).unwrap();
    let mut i = blue_input();
    i.site.domain = domain.clone();
    i.site.settings = settings.clone();
    i.site.workers = workers;
    let ctx = render::site_context(&i).expect("the largest accepted values render");
    shell_checks(&ctx);
    nginx_test(&ctx, "nginx.conf");
    systemd_verify(&ctx);
    let files = render(&ctx);
    let text = |suffix: &str| {
        files
            .iter()
            .find(|f| f.path.ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix}"))
            .contents
            .clone()
    };
    assert!(
        text("/nginx.conf").contains(&format!("server_name {domain} www.{domain};"))
            || text("/nginx.conf").contains(&format!("server_name {domain};")),
        "{}",
        text("/nginx.conf")
    );
    let env = text("/site.env");
    assert!(
        env.lines()
            .any(|l| l == format!("DJANGO_SETTINGS_MODULE={settings}")
                || l == format!("DJANGO_SETTINGS_MODULE=\"{settings}\"")
                || l == format!("DJANGO_SETTINGS_MODULE='{settings}'")),
        "{env}"
    );
    assert!(
        env.lines()
            .any(|l| l.trim_matches('"') == "WEB_CONCURRENCY=64"
                || l == "WEB_CONCURRENCY=\"64\""
                || l == "WEB_CONCURRENCY='64'"),
        "{env}"
    );
}

/// Values of the issue's list that the renderer refuses itself (the
/// second line of defence after `djdd variant`), naming the field: a
/// domain with a newline, quote or brace, a settings module with a
/// double quote, space or newline, workers beyond any variant's range.
#[test]
fn more_hostile_values_are_refused_naming_the_field() {
    let cases: Vec<(Mutation, &str)> = vec![
        (Box::new(|c| c.domain = "a\nb.org".into()), "domain"),
        (Box::new(|c| c.domain = "a'b.org".into()), "domain"),
        (Box::new(|c| c.domain = "a\"b.org".into()), "domain"),
        (Box::new(|c| c.domain = "a.org}".into()), "domain"),
        (Box::new(|c| c.domain = "".into()), "domain"),
        (
            Box::new(|c| c.settings_module = "demo.\"settings\"".into()),
            "settings_module",
        ),
        (
            Box::new(|c| c.settings_module = "demo settings".into()),
            "settings_module",
        ),
        (
            Box::new(|c| c.settings_module = "demo.settings\n".into()),
            "settings_module",
        ),
        (
            Box::new(|c| c.settings_module = "demo..settings".into()),
            "settings_module",
        ),
        (Box::new(|c| c.workers = u32::MAX), "workers = 4294967295"),
        (Box::new(|c| c.workers = 65), "workers = 65"),
    ];
    for (i, (mutate, needle)) in cases.iter().enumerate() {
        let mut c = blue();
        mutate(&mut c);
        let e = render::site_files(&c, None)
            .err()
            .unwrap_or_else(|| panic!("case {i} ({needle}) was accepted"))
            .to_string();
        assert!(e.contains(needle), "case {i}: {e:?} should name {needle:?}");
        assert!(
            !e.chars().any(|ch| ch.is_control() && ch != '\n'),
            "case {i}: raw control character in {e:?}"
        );
    }
}

/// The switch's two gunicorns (docs/site-package.md, The switch): the
/// next one listens on its own socket, is never enabled and leaves no
/// socket file behind; both let the old gunicorn finish its requests for
/// the variant's graceful timeout, and nginx's upstream is the file the
/// switch rewrites.
#[test]
fn the_switch_has_a_next_gunicorn_and_the_graceful_timeout() {
    let mut input = blue_input();
    input.graceful_timeout = 90;
    let ctx = render::site_context(&input).unwrap();
    let l = ctx.layout();
    let files = render(&ctx);
    let file = |name: &str| {
        files
            .iter()
            .find(|f| f.path.ends_with(&format!("/{name}")))
            .unwrap_or_else(|| panic!("no {name}"))
            .contents
            .clone()
    };
    let main_socket = file(&l.socket_unit);
    let next_socket = file(&l.next_socket_unit);
    let main = file(&l.service_unit);
    let next = file(&l.next_service_unit);
    assert!(main_socket.contains(&format!("ListenStream={}\n", l.socket)));
    assert!(next_socket.contains(&format!("ListenStream={}\n", l.next_socket)));
    assert!(next_socket.contains("RemoveOnStop=yes"));
    assert!(main_socket.contains("[Install]") && !next_socket.contains("[Install]"));
    assert!(main.contains("[Install]") && !next.contains("[Install]"));
    assert!(next.contains(&format!("Requires={}\n", l.next_socket_unit)));
    assert!(main.contains(&format!("Requires={}\n", l.socket_unit)));
    for unit in [&main, &next] {
        assert!(unit.contains("TimeoutStopSec=100\n"), "{unit}");
        assert!(unit.contains("KillMode=mixed\n"), "{unit}");
    }
    // Each gunicorn has its own control directory.
    assert!(
        main.contains("RuntimeDirectory=demo-blue/gunicorn\n"),
        "{main}"
    );
    assert!(
        next.contains("RuntimeDirectory=demo-blue/gunicorn-next\n"),
        "{next}"
    );
    assert!(file("launch").contains("--graceful-timeout 90 \"$@\""));
    let nginx = file("nginx.conf");
    assert!(
        nginx.contains(&format!("include {};", l.upstream_conf)),
        "{nginx}"
    );
    assert!(
        !nginx.contains(&format!("server unix:{}", l.socket)),
        "{nginx}"
    );
    let postinst = file("postinst");
    assert!(postinst.contains("GRACEFUL_TIMEOUT=90\n"));
    assert!(postinst.contains(&format!("WARM_REQUESTS={}\n", ctx.workers * 2)));
}

/// Runs the switch (`app_switch`, from switch.inc, on serving.inc) as the
/// control utility holds it, in `t` with
/// fake `systemctl`, `curl` and `nginx` on PATH: units' states are files
/// in `t/units`, `t/fail-start-UNIT` makes a start fail, `t/code-SOCKET`
/// is the HTTP status a health request through SOCKET gets (200 when
/// absent). Returns the switch's status, the systemctl calls in order and
/// the socket upstream.conf names afterwards.
fn run_switch(t: &Path, control: &str) -> (i32, Vec<String>, String) {
    let start = control
        .find("# --- serving")
        .expect("serving.inc in the control utility");
    let end = control.find("# --- end of the switch ---").unwrap();
    let bin = t.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::create_dir_all(t.join("units")).unwrap();
    let fake = |name: &str, body: &str| {
        let p = bin.join(name);
        fs::write(&p, format!("#!/bin/sh\nT={}\n{body}", t.display())).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    };
    fake(
        "systemctl",
        r#"echo "$*" >>"$T/calls"
[ "$1" = --quiet ] && shift
cmd=$1; shift
case $cmd in
is-active) rc=3; for u; do s=$(cat "$T/units/$u" 2>/dev/null || echo inactive); [ "$s" = active ] && rc=0; [ $# -eq 1 ] && echo "$s"; done; exit $rc ;;
is-failed) [ "$(cat "$T/units/$1" 2>/dev/null)" = failed ] ;;
start|restart) for u; do if [ -e "$T/fail-start-$u" ]; then echo failed >"$T/units/$u"; exit 1; fi; echo active >"$T/units/$u"; done ;;
stop) for u; do echo inactive >"$T/units/$u"; done ;;
*) exit 0 ;;
esac
"#,
    );
    fake(
        "curl",
        r#"sock=
while [ $# -gt 0 ]; do
  case $1 in --unix-socket) sock=$2 ;; http://*) echo "$1" >>"$T/curl-urls" ;; esac
  shift
done
echo "$sock" >>"$T/curl-sockets"
code=$(cat "$T/code-$(basename "$sock")" 2>/dev/null || echo 200)
printf '%s' "$code"
"#,
    );
    fake("nginx", "exit 0\n");
    let script = format!(
        "set -u\nPATH={bin}:/usr/bin:/bin\nT={t}\nSOCKET=$T/gunicorn.sock\nNEXT_SOCKET=$T/next.sock\n\
         SOCKET_UNIT=s.socket\nSERVICE_UNIT=s.service\nNEXT_SOCKET_UNIT=s-next.socket\n\
         NEXT_SERVICE_UNIT=s-next.service\nUPSTREAM_CONF=$T/upstream.conf\nNGINX_LINK=$T/no-link\n\
         CURRENT=$T/current\nDOMAIN=d.example\nHEALTH_PATH=/\nWARM_PATH=/warm/\nHEALTH_TIMEOUT=2\nGRACEFUL_TIMEOUT=2\n\
         WARM_REQUESTS=2\nTLS_ENV=$T/tls.env\nlog() {{ :; }}\nwarn() {{ :; }}\n\
         unit_action() {{ systemctl \"$@\"; }}\n{switch}\n\
         [ -f \"$UPSTREAM_CONF\" ] || write_upstream \"$SOCKET\"\n\
         rc=0; app_switch || rc=$?\necho \"$rc\" >$T/rc\nserving_socket >$T/serving\n",
        bin = bin.display(),
        t = t.display(),
        switch = &control[start..end],
    );
    fs::remove_file(t.join("calls")).ok();
    let (ok, out) = run(Command::new("sh").arg("-c").arg(&script));
    assert!(ok, "{out}");
    let rc: i32 = fs::read_to_string(t.join("rc"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let calls = fs::read_to_string(t.join("calls"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.contains("is-active") && !l.contains("is-failed") && !l.starts_with("show "))
        .map(String::from)
        .collect();
    // Every request (health checks, warm-up) went to one of the two
    // gunicorn sockets.
    let sockets = fs::read_to_string(t.join("curl-sockets")).unwrap_or_default();
    for s in sockets.lines() {
        assert!(
            s == t.join("gunicorn.sock").to_str().unwrap()
                || s == t.join("next.sock").to_str().unwrap(),
            "a request through {s:?}"
        );
    }
    fs::remove_file(t.join("curl-sockets")).ok();
    // Health checks ask HEALTH_PATH, the warm-up WARM_PATH; a switch that
    // moved nginx warmed the gunicorn it moved to.
    let urls = fs::read_to_string(t.join("curl-urls")).unwrap_or_default();
    for u in urls.lines() {
        assert!(
            u == "http://localhost/" || u == "http://localhost/warm/",
            "a request to {u:?}"
        );
    }
    if rc == 0 {
        assert!(
            urls.contains("http://localhost/warm/"),
            "no warm-up: {urls}"
        );
    }
    fs::remove_file(t.join("curl-urls")).ok();
    let serving = fs::read_to_string(t.join("serving"))
        .unwrap()
        .trim()
        .to_string();
    let serving = serving.rsplit('/').next().unwrap().to_string();
    (rc, calls, serving)
}

/// The switch's outcomes (docs/site-package.md, The switch): each failure
/// leaves what the table there says.
#[test]
fn the_switch_leaves_what_the_docs_say() {
    let files = render(&blue());
    let postinst = &files
        .iter()
        .find(|f| f.path == "/usr/bin/demo-blue")
        .expect("the control utility")
        .contents;
    let state = |t: &Path, unit: &str| {
        fs::read_to_string(t.join("units").join(unit))
            .unwrap_or_else(|_| "inactive".into())
            .trim()
            .to_string()
    };

    // Serving, a good release: next starts first, main restarts after it
    // took over, next stops; nginx ends on the main socket.
    let tmp = common::tempdir();
    let t = tmp.path();
    fs::create_dir_all(t.join("units")).unwrap();
    fs::write(t.join("units/s.service"), "active\n").unwrap();
    let (rc, calls, serving) = run_switch(t, postinst);
    assert_eq!(rc, 0, "{calls:?}");
    assert_eq!(
        calls,
        [
            "start s-next.socket s-next.service",
            "start s.socket",
            "restart s.service",
            "stop s-next.service s-next.socket"
        ],
        "the order of the switch"
    );
    assert_eq!(serving, "gunicorn.sock");
    assert_eq!(state(t, "s-next.service"), "inactive");

    // The new release fails its health check beside the running one:
    // status 1, main never restarted, nginx never moved, next stopped.
    fs::write(t.join("code-next.sock"), "500").unwrap();
    let (rc, calls, serving) = run_switch(t, postinst);
    assert_eq!(rc, 1, "{calls:?}");
    assert!(!calls.iter().any(|c| c.contains("s.service")), "{calls:?}");
    assert_eq!(serving, "gunicorn.sock");
    assert_eq!(state(t, "s-next.service"), "inactive");
    assert_eq!(state(t, "s.service"), "active");

    // Next answers, main does not start on the release: status 2, next
    // keeps serving it.
    fs::remove_file(t.join("code-next.sock")).unwrap();
    fs::write(t.join("fail-start-s.service"), "").unwrap();
    let (rc, _, serving) = run_switch(t, postinst);
    assert_eq!(rc, 2);
    assert_eq!(serving, "next.sock");
    assert_eq!(state(t, "s-next.service"), "active");

    // The rerun once main starts again (dpkg --configure -a): no second
    // next, main restarts, nginx moves back, next stops.
    fs::remove_file(t.join("fail-start-s.service")).unwrap();
    let (rc, calls, serving) = run_switch(t, postinst);
    assert_eq!(rc, 0, "{calls:?}");
    assert!(
        !calls.iter().any(|c| c.starts_with("start s-next")),
        "{calls:?}"
    );
    assert_eq!(serving, "gunicorn.sock");
    assert_eq!(state(t, "s-next.service"), "inactive");

    // Nothing served before (first install) and main fails its check:
    // status 3, nginx on the main socket.
    let tmp = common::tempdir();
    let t = tmp.path();
    fs::write(t.join("code-gunicorn.sock"), "500").unwrap();
    let (rc, calls, serving) = run_switch(t, postinst);
    assert_eq!(rc, 3, "{calls:?}");
    assert!(!calls.iter().any(|c| c.contains("s-next")), "{calls:?}");
    assert_eq!(serving, "gunicorn.sock");
}

/// The switch's statuses are read in one place (`switch_outcome` in the
/// control utility): each becomes the `switch` command's exit code and
/// one message; the postinst runs `switch` and acts on the code, and no
/// longer holds the switch itself.
#[test]
fn the_switch_outcome_is_decoded_once() {
    let files = render(&blue());
    let file = |path: &str| {
        files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("no {path}"))
            .contents
            .clone()
    };
    let control = file("/usr/bin/demo-blue");
    let postinst = file("DEBIAN/postinst");
    assert!(
        !postinst.contains("app_switch"),
        "the postinst runs no switch of its own"
    );
    assert!(postinst.contains("\"$CONTROL\" switch --nginx-reloaded \"$reloaded\""));
    for c in ["11)", "12)", "0 | 14)"] {
        assert!(postinst.contains(c), "the postinst acts on {c}");
    }
    let start = control.find("# --- serving").unwrap();
    let end = control.find("# --- end of the switch ---").unwrap();
    for (status, code, says) in [
        (0, 0, "answers /health/"),
        (1, 11, "beside the running release"),
        (2, 12, "serves it meanwhile"),
        (3, 13, "does not answer /health/: why"),
        (4, 14, "not checking health"),
    ] {
        let script = format!(
            "set -u\nUSER_NAME=demo-blue\nHEALTH_PATH=/health/\nSERVICE_UNIT=s.service\n\
             NEXT_SERVICE_UNIT=s-next.service\nlog() {{ echo \"$USER_NAME: $*\"; }}\n\
             warn() {{ echo \"$USER_NAME: warning: $*\" >&2; }}\n{switch}\n\
             release_version() {{ echo 7; }}\nunit_log() {{ :; }}\n\
             app_switch() {{ HEALTH_RESULT=why; FAILED_UNIT=u.service; return {status}; }}\n\
             rc=0; switch_outcome || rc=$?; exit $rc\n",
            switch = &control[start..end],
        );
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "status {status}");
        let text = common::all_output(&out);
        assert!(text.contains(says), "status {status}: {text}");
        assert!(
            text.contains("release 7") || status == 4,
            "status {status}: {text}"
        );
    }
}

/// One rule per value (src/rules): the renderer refuses exactly what
/// `djdd variant` refuses, with the same problem, for every value both
/// check: domain, settings module, workers, health and warm URL, graceful
/// timeout, environment names and values, Redis size. Before, render
/// accepted lowercase environment names, a tab in a value and up to 256
/// workers; config accepted a domain of one label.
#[test]
fn render_refuses_exactly_what_config_refuses() {
    use djdd::Error;
    use djdd::config::variant::{Variant, VariantUpdate};
    fn problem(r: Result<(), Error>) -> Option<String> {
        match r {
            Ok(()) => None,
            Err(Error::Invalid { problem, .. }) => Some(problem),
            Err(e) => panic!("not Error::Invalid: {e}"),
        }
    }
    type Update = Box<dyn Fn(&mut VariantUpdate, &str)>;
    type Mutate = Box<dyn Fn(&mut SiteContext, &str)>;
    let long = "x".repeat(4097);
    let cases: Vec<(&str, Update, Mutate, Vec<&str>)> = vec![
        (
            "domain",
            Box::new(|u, v| u.domain = Some(v.into())),
            Box::new(|c, v| c.domain = v.into()),
            vec![
                "example.org",
                "localhost",
                "Example.org",
                "a..org",
                "a\nb.org",
                "-a.org",
            ],
        ),
        (
            "settings",
            Box::new(|u, v| u.settings = Some(v.into())),
            Box::new(|c, v| c.settings_module = v.into()),
            vec!["demo.settings", "demo..settings", "1x", "a b"],
        ),
        (
            "workers",
            Box::new(|u, v| u.workers = Some(v.parse().unwrap())),
            Box::new(|c, v| c.workers = v.parse().unwrap()),
            vec!["1", "64", "65", "257", "0"],
        ),
        (
            "health URL",
            Box::new(|u, v| u.health_url = Some(v.into())),
            Box::new(|c, v| c.health_path = v.into()),
            vec!["/", "/h?a=1,2", "/a b", "x", "//x"],
        ),
        (
            "warm URL",
            Box::new(|u, v| u.warm_url = Some(v.into())),
            Box::new(|c, v| c.warm_path = v.into()),
            vec!["/", "/a#b"],
        ),
        (
            "graceful timeout",
            Box::new(|u, v| u.graceful_timeout = Some(v.parse().unwrap())),
            Box::new(|c, v| c.graceful_timeout = v.parse().unwrap()),
            vec!["1", "3600", "3601", "0"],
        ),
        (
            "environment name",
            Box::new(|u, v| u.env_set = vec![(v.into(), "x".into())]),
            Box::new(|c, v| c.environment.push(EnvVar::new(v, "x"))),
            vec!["SMTP_HOST", "_X1", "lower", "A-B", "1A"],
        ),
        (
            "environment value",
            Box::new(|u, v| u.env_set = vec![("SMTP_HOST".into(), v.into())]),
            Box::new(|c, v| c.environment.push(EnvVar::new("SMTP_HOST", v))),
            vec!["plain $x \"y\"", "a\tb", "a\nb", &long],
        ),
        (
            "Redis size",
            Box::new(|u, v| u.redis_maxmemory = Some(v.into())),
            Box::new(|c, v| c.redis.as_mut().expect("red has Redis").maxmemory = v.into()),
            vec!["128mb", "2gb", "1kb", "12 mb", "mb"],
        ),
    ];
    let base = Variant::new("demo", "red").unwrap();
    for (field, update, mutate, values) in &cases {
        for v in values {
            let mut u = VariantUpdate::default();
            update(&mut u, v);
            let by_config = problem(base.apply(&u, &[]).map(drop));
            let mut c = red();
            mutate(&mut c, v);
            let by_render = problem(render::site_files(&c, None).map(drop));
            assert_eq!(
                by_config, by_render,
                "{field} {v:?}: config and render disagree"
            );
        }
    }
}

/// blue with a backup timer (`djdd variant --backup "*-*-* 03:00:00"
/// --backup-keep 5`).
fn blue_backup() -> SiteContext {
    let mut i = blue_input();
    i.backup = Some(("*-*-* 03:00:00".into(), 5));
    render::site_context(&i).expect("blue context with a backup timer")
}

/// `--backup` gives the package the backup timer and its root service,
/// a scalable timer like the project's (control utility and postinst);
/// without it there is none, and the control utility has backup and
/// restore either way. The scripts pass shellcheck, the units verify.
#[test]
fn the_backup_timer_is_rendered_for_a_variant_with_backup() {
    let files = render(&blue_backup());
    let file = |path: &str| {
        files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.contents.as_str())
    };
    let timer = file("/lib/systemd/system/demo-blue-backup.timer").expect("the backup timer");
    assert!(timer.contains("OnCalendar=*-*-* 03:00:00\n"), "{timer}");
    assert!(timer.contains("WantedBy=timers.target\n"), "{timer}");
    let service = file("/lib/systemd/system/demo-blue-backup.service").expect("the backup service");
    assert!(
        service.contains("ExecStart=/usr/bin/demo-blue backup --keep 5\n"),
        "{service}"
    );
    assert!(!service.contains("User="), "runs as root: {service}");
    for script in ["/usr/bin/demo-blue", "DEBIAN/postinst"] {
        let text = file(script).unwrap();
        assert!(
            text.contains(
                "    'backup') JOB_KIND=timer JOB_DEFAULT=1 JOB_BASE='demo-blue-backup' ;;\n"
            ),
            "{script} cannot scale the backup timer"
        );
        assert!(
            text.contains("TIMER_UNITS='demo-blue-backup.timer'\n"),
            "{script} does not enable the backup timer"
        );
    }
    // launch runs the project's jobs only.
    let launch = file("/usr/lib/demo-site/blue/launch").unwrap();
    assert!(!launch.contains("    backup)"), "{launch}");
    let control = file("/usr/bin/demo-blue").unwrap();
    assert!(
        control.contains("BACKUP_DIR='/var/backups/demo-site/blue'\n"),
        "{control}"
    );
    shell_checks(&blue_backup());
    systemd_verify(&blue_backup());
    // A root job, sandboxed as far as it can be: OK in systemd-analyze.
    let tmp = common::tempdir();
    let p = tmp.path().join("demo-blue-backup.service");
    fs::write(&p, service).unwrap();
    let score = exposure(&p);
    assert!(score <= 3.5, "the backup service scores {score}");

    // Without --backup: no timer, the commands still there.
    let plain = render(&blue());
    assert!(!plain.iter().any(|f| f.path.contains("-backup.")));
    let control = &plain
        .iter()
        .find(|f| f.path == "/usr/bin/demo-blue")
        .unwrap()
        .contents;
    assert!(control.contains("backup|restore)\n"), "{control}");
}

/// A project job named `backup` and a bad calendar are refused with the
/// option named.
#[test]
fn backup_timer_conflicts_and_bad_calendars_are_refused() {
    let mut i = red_input();
    i.project = {
        let file = project::parse(
            "settings = \"demo.settings\"\n[timers.backup]\ncommand = [\"manage.py\", \"dumpdata\"]\ncalendar = \"daily\"\n",
        )
        .unwrap();
        project::resolve(Some(&file), None).unwrap()
    };
    i.copies = BTreeMap::new();
    i.site.celery = false;
    i.backup = Some(("daily".into(), 7));
    let e = render::site_context(&i).unwrap_err().to_string();
    assert!(e.contains("--backup") && e.contains("named backup"), "{e}");
    let mut i = blue_input();
    i.backup = Some(("daily; rm -rf /".into(), 7));
    let e = render::site_context(&i).unwrap_err().to_string();
    assert!(e.contains("backup") && e.contains("calendar"), "{e}");
}

/// The backup's check of pg_dump against the server: an older pg_dump
/// is refused naming both major versions and the package to install; an
/// equal or newer one passes. (psql and pg_dump are stand-ins.)
#[test]
fn an_older_pg_dump_than_the_server_is_refused() {
    let backup = blue_control_section(
        "# --- backup and restore",
        "# --- end of backup and restore ---",
    );
    let backup = backup.as_str();
    let check = |client: &str| {
        let script = format!(
            "set -eu\nUSER_NAME=demo-blue\ndie() {{ echo \"$USER_NAME: $*\" >&2; exit 1; }}\n{backup}\n\
             pg_dump() {{ :; }}\n\
             backup_pg() {{ case $1 in psql) echo 170002 ;; pg_dump) echo 'pg_dump (PostgreSQL) {client} (Debian {client}-1)' ;; esac; }}\n\
             BACKUP_DB_WHAT='the local database demo-blue'\nbackup_pg_check pg_dump\necho checked\n"
        );
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        (out.status.code(), common::all_output(&out))
    };
    let (code, out) = check("15.8");
    assert_eq!(code, Some(1), "{out}");
    for part in [
        "pg_dump is PostgreSQL 15",
        "the database server (PostgreSQL 17)",
        "postgresql-client-17",
        "nothing was changed",
    ] {
        assert!(out.contains(part), "{part:?} in {out}");
    }
    for ok in ["17.2", "18.1"] {
        let (code, out) = check(ok);
        assert_eq!(code, Some(0), "{ok}: {out}");
        assert!(out.contains("checked"), "{out}");
    }
}

/// An external database (DATABASE_URL): the client gets host, port,
/// user, password and sslmode as PG* variables (never on its command
/// line) and the database's name for "--dbname=".
#[test]
fn backup_connects_to_database_url_through_the_environment() {
    let backup = blue_control_section(
        "# --- backup and restore",
        "# --- end of backup and restore ---",
    );
    let backup = backup.as_str();
    let script = format!(
        "set -eu\n{backup}\nBACKUP_DB_MODE=url\nPYTHON=python3\n\
         BACKUP_URL='postgres://ext-app:p%40ss%20w@db1.example.org:5433/ext-db?sslmode=require'\n\
         backup_pg sh -c 'echo \"$PGHOST|$PGPORT|$PGUSER|$PGPASSWORD|$PGSSLMODE|$*\"' sh --dbname= -Fc\n"
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.trim(),
        "db1.example.org|5433|ext-app|p@ss w|require|--dbname=ext-db -Fc"
    );
}

/// `NAME-VARIANT rollback [VERSION]` (rollback.inc), run as red's control
/// utility with fake `id` (root), `dpkg-query`, `apt-cache` and `apt-get`
/// on PATH (dpkg's own `--compare-versions` decides the order): the next
/// lower version apt offers, or the one named; refusals change nothing
/// (apt-get is never run) with exit 1 (no lower version) or 2 (usage).
#[test]
fn rollback_picks_the_next_lower_version_and_refuses_the_rest() {
    let files = render(&red());
    let tmp = common::tempdir();
    let t = tmp.path();
    write_all(t, &files);
    let ctl = t.join("usr/bin/demo-red");
    let bin = t.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let fake = |name: &str, body: &str| {
        let p = bin.join(name);
        fs::write(&p, format!("#!/bin/sh\nT={}\n{body}", t.display())).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    };
    fake("id", "echo 0\n");
    fake(
        "dpkg-query",
        "[ -f \"$T/installed\" ] || exit 1\nprintf 'ii |%s' \"$(cat \"$T/installed\")\"\n",
    );
    fake(
        "apt-cache",
        r#"[ "$1" = madison ] || exit 1
for v in $(cat "$T/offered"); do printf ' %s | %12s | file:/srv/djdd-repo trixie/main amd64 Packages\n' "$2" "$v"; done
"#,
    );
    fake(
        "apt-get",
        "echo \"$*\" >>\"$T/apt-get\"\n[ ! -e \"$T/apt-fails\" ] || exit 100\n\
         v=${4#demo-site-red=}\necho \"$v\" >\"$T/installed\"\n",
    );
    let rollback = |installed: &str, offered: &str, args: &[&str]| {
        fs::write(t.join("installed"), installed).unwrap();
        fs::write(t.join("offered"), offered).unwrap();
        fs::remove_file(t.join("apt-get")).ok();
        let out = Command::new(&ctl)
            .arg("rollback")
            .args(args)
            .env(
                "PATH",
                format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.display()),
            )
            .output()
            .unwrap();
        let text = common::all_output(&out);
        let apt = fs::read_to_string(t.join("apt-get")).unwrap_or_default();
        (out.status.code().unwrap_or(-1), text, apt)
    };

    // The next lower version in dpkg's order (not the text's: 10 > 9,
    // 2~rc1 < 2), whatever order apt lists them in.
    let (rc, out, apt) = rollback("10", "2~rc1 9 10 11 2 1.5", &[]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(apt.trim(), "install --allow-downgrades -y demo-site-red=9");
    assert!(
        out.contains("rolling demo-site-red back from 10 to 9:"),
        "{out}"
    );
    assert!(out.contains("migrations are not reversed"), "{out}");
    // No release to ask (here: no envfile, no database): a warning, and
    // the rollback that apt did still succeeds.
    assert!(
        out.contains("warning: cannot list the applied migrations release 9 does not know"),
        "{out}"
    );
    let (rc, out, apt) = rollback("2", "2~rc1 1.5 2 3", &[]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(
        apt.trim(),
        "install --allow-downgrades -y demo-site-red=2~rc1"
    );
    // A named version.
    let (rc, out, apt) = rollback("10", "2 9 10", &["2"]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(apt.trim(), "install --allow-downgrades -y demo-site-red=2");

    // apt-get fails: exit 1, and how to go back.
    fs::write(t.join("apt-fails"), "").unwrap();
    let (rc, out, _) = rollback("10", "9 10", &[]);
    fs::remove_file(t.join("apt-fails")).unwrap();
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("rollback to 9 failed (apt-get exit status 100;"),
        "{out}"
    );
    assert!(out.contains("apt-get install demo-site-red=10"), "{out}");

    // Nothing lower: exit 1, the repository's --keep named, apt-get not run.
    let (rc, out, apt) = rollback("2", "2 3", &[]);
    assert_eq!(rc, 1, "{out}");
    assert_eq!(apt, "");
    assert!(
        out.contains(
            "apt offers no version of demo-site-red lower than the installed 2 (it offers: 3 2)"
        ),
        "{out}"
    );
    assert!(out.contains("djdd publish --prune --keep N"), "{out}");
    // A version apt does not offer, or not lower: usage errors.
    for (args, says) in [
        (&["99"][..], "apt offers no version 99 of demo-site-red"),
        (&["3"][..], "3 is not lower than the installed 2"),
        (&["2"][..], "2 is not lower than the installed 2"),
        (&["x;y"][..], "'x;y' is not a Debian version"),
        (&["-f"][..], "'-f' is not a Debian version"),
        (&["1", "2"][..], "usage: demo-red rollback [VERSION]"),
    ] {
        let (rc, out, apt) = rollback("2", "1 2 3", args);
        assert_eq!(rc, 2, "{args:?}: {out}");
        assert_eq!(apt, "", "{args:?}");
        assert!(out.contains(says), "{args:?}: {out}");
    }
    // Not installed, or half-configured: refused.
    fs::remove_file(t.join("installed")).ok();
    fs::write(t.join("offered"), "1 2").unwrap();
    let out = Command::new(&ctl)
        .arg("rollback")
        .env(
            "PATH",
            format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.display()),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("demo-site-red is not installed"));
}

/// The migration record (migrations.inc), run for real on a temp dir: the
/// first write has the version, a time, the count and the names; the
/// same state again leaves the file as it is (a rerun of configure
/// changes nothing: scenario 17); another state rewrites it; a failed
/// `launch migrations` records "unknown".
#[test]
fn migration_record_is_rewritten_only_when_the_state_changes() {
    let inc = blue_control_section(
        "# --- migrations: the record",
        "# --- end of migrations ---",
    );
    let inc = inc.as_str();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("migrations");
    let run = |args: &str| {
        let script = format!(
            "set -eu\nMIGRATION_RECORD='{}'\n{inc}\nwrite_migration_record {args}\n",
            record.display()
        );
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let names = "'notes.0002_note_pinned\nnotes.0003_x'";
    assert_eq!(run(&format!("v3 0 {names}")), "2");
    let first = std::fs::read_to_string(&record).unwrap();
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(lines.len(), 3, "{first}");
    let head: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!((head[0], head[2]), ("v3", "2"), "{first}");
    assert_eq!(&lines[1..], ["notes.0002_note_pinned", "notes.0003_x"]);
    // The same state a second later: the file is not touched.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mtime = || std::fs::metadata(&record).unwrap().modified().unwrap();
    let before = mtime();
    assert_eq!(run(&format!("v3 0 {names}")), "2");
    assert_eq!(std::fs::read_to_string(&record).unwrap(), first);
    assert_eq!(mtime(), before, "the same state rewrote the record");
    // Applied: rewritten with 0 and no names.
    assert_eq!(run("v3 0 ''"), "0");
    let applied = std::fs::read_to_string(&record).unwrap();
    assert_eq!(applied.lines().count(), 1, "{applied}");
    assert!(
        applied.starts_with("v3 ") && applied.ends_with(" 0\n"),
        "{applied}"
    );
    // The database could not be asked.
    assert_eq!(run("v3 1 ''"), "unknown");
    assert!(
        std::fs::read_to_string(&record)
            .unwrap()
            .ends_with(" unknown\n")
    );
}
