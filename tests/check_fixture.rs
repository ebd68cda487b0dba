//! `djdd check` on the demo fixture: clean with a real virtualenv (exit 0),
//! clean without one (the import checks noted as skipped), and nothing
//! written into the checked tree.

mod common;

use std::path::Path;

fn listing(root: &Path) -> Vec<(String, u64)> {
    walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let len = e.metadata().unwrap().len();
            (rel, if e.file_type().is_dir() { 0 } else { len })
        })
        .collect()
}

#[test]
fn fixture_is_clean_with_python() {
    let python = common::demo_venv_python();
    let tmp = common::tempdir();
    let project = tmp.path().join("demo");
    common::copy_tree(&common::fixtures().join("demo"), &project);
    let before = listing(&project);

    let out = common::djdd()
        .arg("check")
        .arg(&project)
        .arg("--python")
        .arg(&python)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ok: the project meets the deploy contract, version 1"),
        "{stdout}"
    );
    assert!(!stdout.contains("error["), "{stdout}");
    assert!(!stdout.contains("warning["), "{stdout}");
    assert!(
        !stdout.contains("were skipped"),
        "the import checks ran: {stdout}"
    );
    assert!(stdout.contains("site project-check"), "{stdout}");

    assert_eq!(
        listing(&project),
        before,
        "djdd check wrote into the checked tree"
    );
}

#[test]
fn fixture_is_clean_without_python_and_says_what_was_skipped() {
    let out = common::djdd()
        .arg("check")
        .arg(common::fixtures().join("demo"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("note: the checks that import the project were skipped"),
        "{stdout}"
    );
    assert!(stdout.contains("give --python PATH"), "{stdout}");
}

#[test]
fn default_target_is_the_current_directory() {
    let out = common::djdd()
        .arg("check")
        .current_dir(common::fixtures().join("demo"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The processes' and timers' manage.py commands must exist (`manage.py
/// help CMD` with the env), their calendars must be systemd's; the report
/// says where the app server comes from.
#[test]
fn processes_and_timers_are_checked() {
    let python = common::demo_venv_python();
    let tmp = common::tempdir();
    let project = tmp.path().join("demo");
    common::copy_tree(&common::fixtures().join("demo"), &project);
    let toml = project.join("djdd.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(
        "\n[processes.checker]\ncommand = [\"manage.py\", \"check\"]\n\
         [processes.alerts]\ncommand = [\"manage.py\", \"sendalerts\"]\n\
         [timers.nightly]\ncommand = [\"manage.py\", \"clearsessions\"]\ncalendar = \"not a calendar 99\"\n\
         [timers.ok]\ncommand = [\"celery\", \"--help\"]\ncalendar = \"daily\"\n",
    );
    std::fs::write(&toml, text).unwrap();
    let out = common::djdd()
        .arg("check")
        .arg(&project)
        .arg("--python")
        .arg(&python)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("djdd.toml: key `processes.alerts.command`")
            && stdout.contains("manage.py has no command `sendalerts`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("djdd.toml: key `timers.nightly.calendar`")
            && stdout.contains("systemd refuses \"not a calendar 99\""),
        "{stdout}"
    );
    // The commands that exist are not reported; clearsessions needs
    // django.contrib.sessions, which the demo does not install.
    assert!(!stdout.contains("`processes.checker"), "{stdout}");
    assert!(!stdout.contains("`timers.ok"), "{stdout}");
    assert!(
        stdout.contains("note: app server: gunicorn (WSGI), from the project's requirements"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("has no command").count(), 2, "{stdout}");
}
