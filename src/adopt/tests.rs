use std::collections::BTreeMap;

use super::*;
use crate::check::MapTree;

const MANAGE: &str =
    "import os\nos.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"shop.settings\")\n";

fn project(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = [
        ("app/manage.py", MANAGE),
        ("app/shop/__init__.py", ""),
        ("app/shop/settings.py", "WSGI_APPLICATION = \"shop.wsgi.application\"\n"),
        ("app/shop/wsgi.py", "application = None\n"),
        (
            "app/shop/celery.py",
            "from celery import Celery\napp = Celery(\"shop\")\napp.config_from_object(\"django.conf:settings\", namespace=\"CELERY\")\n",
        ),
        ("requirements.txt", "Django==6.0.1\ncelery==5.5.3\npsycopg2-binary==2.9.13\n"),
    ]
    .iter()
    .map(|(p, t)| (p.to_string(), t.to_string()))
    .collect();
    for (p, t) in extra {
        m.insert(p.to_string(), t.to_string());
    }
    m
}

fn run(files: BTreeMap<String, String>, choices: Choices) -> Result<Adoption> {
    let list: Vec<String> = files.keys().cloned().collect();
    let tree = MapTree(files);
    adopt(&Input {
        tree: &tree,
        files: &list,
        choices,
        name: "shop".into(),
        clone: "/src/shop".into(),
    })
}

fn parsed(a: &Adoption) -> project::Project {
    let f = project::parse(&a.files[0].text).unwrap();
    project::resolve(Some(&f), None).unwrap()
}

#[test]
fn a_procfile_project() {
    let a = run(
        project(&[(
            "Procfile",
            "web: cd app && uwsgi --http :$PORT --module shop.wsgi:application\n\
             worker: cd app && celery -A shop worker -l info -Q mail --concurrency 2\n\
             clock: cd app && celery -A shop beat -l info\n\
             alerts: python manage.py sendalerts --every \"5 s\" --to '$HOME\\x'\n\
             release: cd app && python manage.py migrate && python manage.py clearsessions && python manage.py collectstatic --noinput\n",
        )]),
        Choices::default(),
    )
    .unwrap();
    let p = parsed(&a);
    assert_eq!(p.manage, "app/manage.py");
    assert_eq!(p.settings.as_deref(), Some("shop.djdd_settings"));
    assert_eq!(p.wsgi.as_deref(), Some("shop.wsgi:application"));
    assert_eq!(p.celery.as_deref(), Some("shop.celery:app"));
    assert_eq!(a.files[1].path, "app/shop/djdd_settings.py");
    let names: Vec<&str> = p.processes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["alerts", "clock"]);
    // Quotes, `$` and backslashes come through as the shell meant them.
    assert_eq!(
        p.processes[0].command.words(),
        [
            "manage.py",
            "sendalerts",
            "--every",
            "5 s",
            "--to",
            "$HOME\\x"
        ]
    );
    assert_eq!(
        p.processes[1].command.words().last().map(String::as_str),
        Some("${DATA_DIR}/celerybeat-schedule")
    );
    assert!(
        a.undecided.iter().any(|u| u
            .what
            .contains("the worker's options `-Q mail --concurrency 2` are not kept")),
        "{:?}",
        a.undecided
    );
    let toml = &a.files[0].text;
    assert_eq!(p.release.len(), 1);
    assert_eq!(p.release[0].words(), ["manage.py", "clearsessions"]);
    assert!(
        toml.contains("[release]\ncommands = [\n    [\"manage.py\", \"clearsessions\"],\n]\n"),
        "{toml}"
    );
    assert!(
        a.next.iter().any(|n| n.ends_with("--celery --migrate")),
        "{:?}",
        a.next
    );
    assert!(
        a.next.contains(&"djdd init --suite trixie".to_string()),
        "{:?}",
        a.next
    );
    assert!(
        a.found
            .iter()
            .any(|f| f
                .contains("Django==6.0.1 needs Python >= 3.12: a trixie (Python 3.13) build root")),
        "{:?}",
        a.found
    );
    assert!(
        a.found
            .iter()
            .any(|f| f.contains("collectstatic: djdd runs it when it builds")),
        "{:?}",
        a.found
    );
    let py = &a.files[1].text;
    assert!(py.contains("from shop.settings import *"), "{py}");
    assert!(
        py.contains("\nCELERY_BROKER_URL = os.environ.get(\"CELERY_BROKER_URL\", \"memory://\")\n"),
        "{py}"
    );
    assert!(
        py.contains("os.path.join(os.environ[\"LOG_DIR\"], \"shop.log\")"),
        "{py}"
    );
    assert!(!py.contains("REDIS_URL"), "{py}");
    // Every setting line says which variable it reads.
    for line in py
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()) && l.contains(" = "))
    {
        let idx = py.find(line).unwrap();
        let before = &py[..idx];
        let comment = before.lines().last().unwrap_or("");
        assert!(
            line.contains("# HTTPS_ONLY") || comment.starts_with("# "),
            "no comment above {line:?}"
        );
    }
    // Deterministic: the same checkout gives the same files.
    let again = run(
        project(&[("Procfile", "web: gunicorn shop.wsgi\n")]),
        Choices::default(),
    )
    .unwrap();
    let again2 = run(
        project(&[("Procfile", "web: gunicorn shop.wsgi\n")]),
        Choices::default(),
    )
    .unwrap();
    assert_eq!(again, again2);
}

#[test]
fn redis_an_unknown_variable_and_a_broker_without_namespace() {
    let mut files = project(&[(
        "app/shop/settings.py",
        "CACHES = {'default': {'BACKEND': 'django.core.cache.backends.redis.RedisCache'}}\nSENTRY = os.environ['SENTRY_DSN']\n",
    )]);
    files.insert(
        "app/shop/celery.py".into(),
        "app = Celery('shop')\napp.config_from_object('django.conf:settings')\n".into(),
    );
    let a = run(files, Choices::default()).unwrap();
    assert!(parsed(&a).redis);
    let py = &a.files[1].text;
    assert!(
        py.contains("REDIS_URL = os.environ.get(\"REDIS_URL\", \"\")"),
        "{py}"
    );
    assert!(
        py.contains("\nBROKER_URL = os.environ.get(\"CELERY_BROKER_URL\""),
        "{py}"
    );
    let u: Vec<String> = a
        .undecided
        .iter()
        .map(|u| format!("{} -> {}", u.what, u.key))
        .collect();
    assert!(
        u.iter()
            .any(|x| x.contains("require SENTRY_DSN") && x.contains("[secrets] SENTRY_DSN")),
        "{u:?}"
    );
    assert!(u.iter().any(|x| x.contains("Redis's client")), "{u:?}");
}

#[test]
fn bad_input_is_refused() {
    let e = run(
        project(&[("Procfile", "web: gunicorn x | tee log\n")]),
        Choices::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("Procfile:1: \"web: gunicorn x | tee log\""),
        "{e}"
    );
    let e = run(project(&[("other/manage.py", "")]), Choices::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("app/manage.py and other/manage.py"), "{e}");
    assert!(e.contains("`manage`"), "{e}");
    let chosen = run(
        project(&[("other/manage.py", "")]),
        Choices {
            manage: Some("app/manage.py".into()),
            settings: None,
        },
    );
    assert!(chosen.is_ok());
    // djdd.toml's own `manage` chooses too.
    let with_toml = run(
        project(&[
            ("other/manage.py", ""),
            ("djdd.toml", "manage = \"app/manage.py\"\n"),
        ]),
        Choices::default(),
    );
    assert_eq!(parsed(&with_toml.unwrap()).manage, "app/manage.py");
}

#[test]
fn a_uv_lock_without_requirements_txt_is_the_envs_input_and_must_lock_gunicorn() {
    let mut files = project(&[("uv.lock", "version = 1\nrequires-python = \">=3.12\"\n")]);
    files.remove("requirements.txt");
    let a = run(files, Choices::default()).unwrap();
    assert!(
        a.found
            .iter()
            .any(|f| f.contains("djdd builds the env from the lock as it is")),
        "{:?}",
        a.found
    );
    assert!(
        a.undecided
            .iter()
            .any(|u| u.key.contains("uv add gunicorn")),
        "{:?}",
        a.undecided
    );
    assert!(
        a.found
            .iter()
            .any(|f| f.contains("uv.lock's requires-python is >=3.12")),
        "{:?}",
        a.found
    );
}

#[test]
fn a_poetry_lock_without_requirements_txt_says_how_to_export_it() {
    let mut files = project(&[("poetry.lock", "[[package]]\nname = \"django\"\n")]);
    files.remove("requirements.txt");
    let a = run(files, Choices::default()).unwrap();
    assert!(
        a.undecided
            .iter()
            .any(|u| u.key.contains("poetry export --without-hashes")),
        "{:?}",
        a.undecided
    );
}

#[test]
fn what_the_web_line_serves() {
    let asgi = ("app/shop/asgi.py", "application = None\n");
    for (web, wsgi, served_asgi) in [
        (
            "gunicorn -k uvicorn.workers.UvicornWorker -b :$PORT shop.asgi:application",
            "shop.wsgi:application",
            Some("shop.asgi:application"),
        ),
        (
            "daphne -p $PORT shop.asgi:application",
            "shop.wsgi:application",
            Some("shop.asgi:application"),
        ),
        (
            "cd app && uwsgi --http :$PORT --wsgi-file shop/wsgi.py",
            "shop.wsgi:application",
            None,
        ),
        (
            "gunicorn --workers 3 shop.wsgi --log-file -",
            "shop.wsgi:application",
            None,
        ),
        (
            "python app/manage.py runserver 0.0.0.0:$PORT",
            "shop.wsgi:application",
            None,
        ),
    ] {
        let a = run(
            project(&[("Procfile", &format!("web: {web}\n")), asgi]),
            Choices::default(),
        )
        .unwrap_or_else(|e| panic!("{web}: {e}"));
        let p = parsed(&a);
        assert_eq!(p.wsgi.as_deref(), Some(wsgi), "{web}");
        assert_eq!(p.asgi.as_deref(), served_asgi, "{web}");
    }
}
