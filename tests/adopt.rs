//! `djdd adopt` on the fixtures of fixtures/adopt/ (the common shapes of
//! a Django project: a Procfile with uWSGI and manage.py in a
//! subdirectory, a src/ layout, settings as a package with
//! production.py, an ASGI project, projects with and without celery):
//! what it writes makes `djdd check` pass with no error and no warning
//! (with a virtualenv of Django and celery on this host: the demo's), a
//! second run changes nothing and says so, `--dry-run` writes nothing,
//! and bad input is refused with nothing written.

mod common;

use std::path::Path;

const SHAPES: &[&str] = &["tutorial", "src-layout", "settings-package", "asgi"];

/// Every file below `dir` with its bytes and modification time.
fn listing(dir: &Path) -> Vec<(String, Vec<u8>, std::time::SystemTime)> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(dir).unwrap().display().to_string(),
                std::fs::read(e.path()).unwrap(),
                e.metadata().unwrap().modified().unwrap(),
            )
        })
        .collect()
}

/// A copy of fixtures/adopt/SHAPE in a temp dir.
fn copy(shape: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = common::tempdir();
    let dir = tmp.path().join(shape);
    common::copy_tree(&common::fixtures().join("adopt").join(shape), &dir);
    (tmp, dir)
}

/// `djdd adopt ARGS`: (exit code, stdout, stderr).
fn adopt(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = common::djdd()
        .arg("adopt")
        .args(args)
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_shape_is_adopted_checks_clean_and_a_second_run_changes_nothing() {
    let python = common::demo_venv_python();
    for shape in SHAPES {
        let (_tmp, dir) = copy(shape);
        let (code, stdout, stderr) = adopt(&[], &dir);
        assert_eq!(code, 0, "{shape}:\n{stdout}\n{stderr}");
        assert!(stdout.contains("wrote djdd.toml"), "{shape}: {stdout}");
        for next in ["djdd src ", "djdd variant ", "djdd check ", "djdd build "] {
            assert!(stdout.contains(next), "{shape}: no `{next}` in\n{stdout}");
        }
        let out = common::djdd()
            .arg("check")
            .arg(&dir)
            .arg("--python")
            .arg(&python)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{shape}: djdd check:\n{report}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!report.contains("error["), "{shape}: {report}");
        assert!(!report.contains("warning["), "{shape}: {report}");
        assert!(!report.contains("were skipped"), "{shape}: {report}");

        let before = listing(&dir);
        let (code, stdout, stderr) = adopt(&[], &dir);
        assert_eq!(code, 0, "{shape}, second run:\n{stdout}\n{stderr}");
        assert!(stdout.contains("nothing to do"), "{shape}: {stdout}");
        assert_eq!(
            listing(&dir),
            before,
            "{shape}: the second run changed files"
        );
    }
}

#[test]
fn what_each_shape_gets() {
    let cases: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "tutorial",
            "backend/shop/djdd_settings.py",
            &[
                "manage = \"backend/manage.py\"",
                "settings = \"shop.djdd_settings\"",
                "wsgi = \"shop.wsgi:application\"",
                "celery = \"shop.celery:app\"",
                "[processes.beat]\ncommand = [\"celery\", \"-A\", \"shop\", \"beat\", \"--loglevel\", \"info\", \"--schedule\", \"${DATA_DIR}/celerybeat-schedule\"]",
                "[release]\ncommands = [\n    [\"manage.py\", \"clearsessions\"],\n]",
            ],
            &[
                "--celery --migrate",
                "uwsgi; djdd serves the site with gunicorn, which djdd provides",
            ],
        ),
        (
            "src-layout",
            "src/blog/djdd_settings.py",
            &[
                "manage = \"src/manage.py\"",
                "settings = \"blog.djdd_settings\"",
            ],
            &["pyproject.toml's requires-python is >=3.10"],
        ),
        (
            "settings-package",
            "config/djdd_settings.py",
            &[
                "settings = \"config.djdd_settings\"",
                "celery = \"config.celery:app\"",
            ],
            &[
                "settings: config.settings.production (manage.py names config.settings.local",
                "DJANGO_ADMIN_URL, which djdd does not set\n    -> a secret: djdd.toml's [secrets] DJANGO_ADMIN_URL",
            ],
        ),
        (
            "asgi",
            "chat/djdd_settings.py",
            &["asgi = \"chat.asgi:application\""],
            &["uvicorn; djdd serves the site with gunicorn"],
        ),
    ];
    for (shape, settings_file, in_toml, in_report) in cases {
        let (_tmp, dir) = copy(shape);
        let (code, stdout, stderr) = adopt(&[], &dir);
        assert_eq!(code, 0, "{shape}:\n{stdout}\n{stderr}");
        let toml = std::fs::read_to_string(dir.join("djdd.toml")).unwrap();
        for want in *in_toml {
            assert!(toml.contains(want), "{shape}: {want:?} not in\n{toml}");
        }
        for want in *in_report {
            assert!(stdout.contains(want), "{shape}: {want:?} not in\n{stdout}");
        }
        let py = std::fs::read_to_string(dir.join(settings_file)).unwrap();
        for variable in [
            "SECRET_KEY",
            "DATABASE_URL",
            "ALLOWED_HOSTS",
            "STATIC_ROOT",
            "MEDIA_ROOT",
            "CACHE_URL",
            "LOG_DIR",
            "HTTPS_ONLY",
        ] {
            assert!(
                py.contains(&format!("# {variable}: {variable} ("))
                    || py.contains(&format!(": {variable} (")),
                "{shape}: no line says it reads {variable}:\n{py}"
            );
        }
        let celery = py.contains("CELERY_BROKER_URL = os.environ.get(\"CELERY_BROKER_URL\"");
        assert_eq!(
            celery,
            toml.contains("celery = "),
            "{shape}: the broker iff celery"
        );
        // Mode 0644, like the project's other files.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("djdd.toml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "{shape}");
    }
}

/// DATABASE_URL, parsed with the standard library: the site's own
/// database and an external one with options and escapes.
#[test]
fn the_settings_parse_database_url() {
    let python = common::demo_venv_python();
    let (_tmp, dir) = copy("src-layout");
    assert_eq!(adopt(&[], &dir).0, 0);
    let script = "import json, os\n\
        from django.conf import settings\n\
        print(json.dumps(settings.DATABASES['default'], default=str, sort_keys=True))\n";
    let run = |url: Option<&str>| {
        let mut cmd = std::process::Command::new(&python);
        cmd.arg("-c")
            .arg(script)
            .current_dir(dir.join("src"))
            .env_clear()
            .env("DJANGO_SETTINGS_MODULE", "blog.djdd_settings")
            .env("SECRET_KEY", "x")
            .env("STATIC_ROOT", "/tmp/s")
            .env("MEDIA_ROOT", "/tmp/m")
            .env("LOG_DIR", std::env::temp_dir());
        if let Some(u) = url {
            cmd.env("DATABASE_URL", u);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(run(None).trim(), "{}");
    let ext = run(Some(
        "postgres://app%40eu:p%2Fw%3Ad@db.example.org:6432/shop?sslmode=require",
    ));
    for want in [
        "\"ENGINE\": \"django.db.backends.postgresql\"",
        "\"HOST\": \"db.example.org\"",
        "\"NAME\": \"shop\"",
        "\"OPTIONS\": {\"sslmode\": \"require\"}",
        "\"PASSWORD\": \"p/w:d\"",
        "\"PORT\": \"6432\"",
        "\"USER\": \"app@eu\"",
    ] {
        assert!(ext.contains(want), "{want} not in {ext}");
    }
}

#[test]
fn dry_run_prints_the_files_and_writes_nothing() {
    let (_tmp, dir) = copy("asgi");
    let before = listing(&dir);
    let (code, stdout, _) = adopt(&["--dry-run"], &dir);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("==> djdd.toml <==\n# How djdd deploys asgi"),
        "{stdout}"
    );
    assert!(
        stdout.contains("==> chat/djdd_settings.py <==\n\"\"\"djdd's settings"),
        "{stdout}"
    );
    assert_eq!(listing(&dir), before);
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    // No manage.py.
    let tmp = common::tempdir();
    std::fs::write(tmp.path().join("README"), "not django\n").unwrap();
    let (code, _, stderr) = adopt(&[], tmp.path());
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("has no manage.py"), "{stderr}");
    assert_eq!(listing(tmp.path()).len(), 1);

    // A directory inside a repository: djdd.toml goes at its root.
    let (_t, dir) = copy("tutorial");
    std::fs::create_dir(dir.join(".git")).unwrap();
    let before = listing(&dir);
    let (code, _, stderr) = adopt(&[], &dir.join("backend"));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is inside the git repository"), "{stderr}");
    assert!(
        stderr.contains(&format!("hint: djdd adopt {}", dir.display())),
        "{stderr}"
    );
    assert_eq!(listing(&dir), before);
    // A repository of its own inside another is a checkout.
    std::fs::create_dir(dir.join("backend/.git")).unwrap();
    let (code, stdout, stderr) = adopt(&["--dry-run"], &dir.join("backend"));
    assert_eq!(code, 0, "{stdout}{stderr}");

    // Two manage.py: both named, and the key that chooses.
    let (_t, dir) = copy("tutorial");
    std::fs::create_dir_all(dir.join("tools")).unwrap();
    std::fs::write(dir.join("tools/manage.py"), "").unwrap();
    let before = listing(&dir);
    let (code, _, stderr) = adopt(&[], &dir);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("backend/manage.py and tools/manage.py"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--manage PATH (djdd.toml's key `manage`)"),
        "{stderr}"
    );
    assert_eq!(listing(&dir), before);
    let (code, stdout, stderr) = adopt(&["--manage", "backend/manage.py"], &dir);
    assert_eq!(code, 0, "{stdout}{stderr}");

    // A Procfile line it cannot parse: named.
    let (_t, dir) = copy("tutorial");
    let procfile = dir.join("Procfile");
    let mut text = std::fs::read_to_string(&procfile).unwrap();
    text.push_str("logs: tail -f log/*.log | grep ERROR\n");
    std::fs::write(&procfile, text).unwrap();
    let before = listing(&dir);
    let (code, _, stderr) = adopt(&[], &dir);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("Procfile:5: \"logs: tail -f log/*.log | grep ERROR\""),
        "{stderr}"
    );
    assert_eq!(listing(&dir), before);

    // A djdd.toml that differs: exit 1, the file named, what adopt would
    // have written printed, and the settings module not written either.
    let (_t, dir) = copy("tutorial");
    std::fs::write(dir.join("djdd.toml"), "settings = \"shop.settings\"\n").unwrap();
    let before = listing(&dir);
    let (code, stdout, stderr) = adopt(&[], &dir);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("djdd.toml in "), "{stderr}");
    assert!(
        stderr.contains("differs from what djdd adopt would write"),
        "{stderr}"
    );
    assert!(
        stdout.contains(
            "what djdd adopt would have written:\n\n==> djdd.toml <==\n# How djdd deploys"
        ),
        "{stdout}"
    );
    assert_eq!(listing(&dir), before);
    assert!(!dir.join("backend/shop/djdd_settings.py").exists());
}
