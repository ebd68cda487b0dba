//! contrib/ansible (docs/multi-host.md): the playbooks parse
//! (`ansible-playbook --syntax-check` with the example inventory); an
//! inventory missing a variable fails in the inventory check, naming the
//! variable, before any task touches a host; --check on a fresh host fails
//! no task; the haproxy configuration the lb role writes holds every app
//! host and is accepted by `haproxy -c` (when haproxy is installed); the
//! secrets.env the app role places before install is in EnvironmentFile
//! syntax, keeps other values and is idempotent.
//!
//! Runs Debian's ansible (`apt-get install ansible`: ansible-core 2.14 with
//! community.general and community.postgresql); skips, saying so, when
//! ansible-playbook is not installed. Hosts are `localhost` over the local
//! connection: the plays that would change this machine run in --check
//! only, and the real runs write into a temporary directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn ansible_dir() -> PathBuf {
    repo_root().join("contrib/ansible")
}

fn have_ansible() -> bool {
    if have("ansible-playbook") {
        return true;
    }
    eprintln!("SKIP: ansible-playbook is not installed (apt-get install ansible; CI installs it)");
    false
}

/// `ansible-playbook ARGS...` run from contrib/ansible with its ansible.cfg;
/// (success, stdout + stderr).
fn playbook(args: &[&str], extra_env: &[(&str, &str)]) -> (bool, String) {
    let dir = ansible_dir();
    let mut cmd = Command::new("ansible-playbook");
    cmd.current_dir(&dir)
        .args(args)
        .env("ANSIBLE_CONFIG", dir.join("ansible.cfg"))
        .env("ANSIBLE_ROLES_PATH", dir.join("roles"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0")
        .env("ANSIBLE_LOCALHOST_WARNING", "0")
        .env("ANSIBLE_INVENTORY_UNPARSED_WARNING", "0")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("ansible-playbook");
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.success(), text)
}

/// An inventory of local "hosts" (db1, app1, app2, lb1) for the site
/// zzdjddtest-blue; `drop` names variables left out of app2's and db1's
/// host variables (every other host has all of them).
fn inventory(dir: &Path, drop: &[&str]) -> PathBuf {
    std::fs::write(
        dir.join("key.asc"),
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n-----END PGP PUBLIC KEY BLOCK-----\n",
    )
    .unwrap();
    let full: Vec<(&str, String)> = vec![
        ("djdd_name", "zzdjddtest".into()),
        ("djdd_variant", "blue".into()),
        ("djdd_domain", "blue.example.org".into()),
        ("djdd_apt_url", "https://apt.example.invalid".into()),
        (
            "djdd_apt_key_file",
            dir.join("key.asc").display().to_string(),
        ),
        (
            "djdd_secrets",
            "{SECRET_KEY: 'k\"$`\\x', \
              DATABASE_URL: 'postgres://zz_blue:pw123@127.0.0.1:5432/zz_blue', \
              REDIS_URL: 'redis://:rpw@127.0.0.1:6379/0'}"
                .into(),
        ),
    ];
    let vars = |drop: &[&str]| -> String {
        full.iter()
            .filter(|(k, _)| !drop.contains(k))
            .map(|(k, v)| {
                if v.starts_with('{') {
                    format!("          {k}: {v}\n")
                } else {
                    format!("          {k}: '{v}'\n")
                }
            })
            .collect()
    };
    let host = |name: &str, addr: &str, drop: &[&str]| -> String {
        format!(
            "        {name}:\n          ansible_host: {addr}\n          ansible_connection: local\n          \
             ansible_python_interpreter: /usr/bin/python3\n{}",
            vars(drop)
        )
    };
    let text = format!(
        "all:\n  children:\n    db:\n      hosts:\n{}    app:\n      hosts:\n{}{}    lb:\n      hosts:\n{}",
        host("db1", "127.0.0.1", drop),
        host("app1", "127.0.0.2", &[]),
        host("app2", "127.0.0.3", drop),
        host("lb1", "127.0.0.1", &[]),
    );
    let path = dir.join("inventory.yml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn playbooks_pass_syntax_check_with_the_example_inventory() {
    if !have_ansible() {
        return;
    }
    for book in ["site.yml", "rolling-upgrade.yml"] {
        let (ok, out) = playbook(&["-i", "inventory.example", "--syntax-check", book], &[]);
        assert!(ok, "--syntax-check {book}:\n{out}");
        assert!(out.contains(&format!("playbook: {book}")), "{out}");
    }
}

#[test]
fn a_missing_variable_fails_before_any_host_is_touched() {
    if !have_ansible() {
        return;
    }
    for (drop, named) in [
        (vec!["djdd_apt_url"], "djdd_apt_url"),
        (vec!["djdd_domain"], "djdd_domain"),
        (vec!["djdd_secrets"], "djdd_secrets (or djdd_secrets_file)"),
    ] {
        let tmp = tempdir();
        let inv = inventory(tmp.path(), &drop);
        for book in ["site.yml", "rolling-upgrade.yml"] {
            let inv = inv.display().to_string();
            let (ok, out) = playbook(&["-i", &inv, "--check", book], &[]);
            assert!(!ok, "{book} without {drop:?} succeeded:\n{out}");
            // app2 lacks it: its failure names the variable.
            let line = out
                .lines()
                .find(|l| l.contains("fatal: [app2]"))
                .unwrap_or_else(|| panic!("no failure of app2 in:\n{out}"));
            assert!(
                line.contains("missing variable(s)") && line.contains(named),
                "{book}: app2's failure does not name {named}: {line}\n{out}"
            );
            // The check is the first play's only role; nothing after it ran
            // on any host (no facts gathered, no role task), even on the
            // complete hosts (any_errors_fatal).
            assert!(
                out.contains("PLAY [Check the inventory before any host is touched]"),
                "{out}"
            );
            for after in [
                "Gathering Facts",
                "djdd_site :",
                "djdd_db :",
                "djdd_lb :",
                "PLAY [Database host",
                "PLAY [Rolling upgrade",
            ] {
                assert!(
                    !out.contains(after),
                    "{book} without {drop:?}: {after:?} ran after the check:\n{out}"
                );
            }
            assert!(
                !out.contains("k\"$`"),
                "a secret's value in the output:\n{out}"
            );
        }
    }
}

#[test]
fn check_mode_on_a_fresh_host_fails_no_task() {
    if !have_ansible() {
        return;
    }
    let tmp = tempdir();
    let inv = inventory(tmp.path(), &[]);
    let inv = inv.display().to_string();
    let cfg = tmp.path().join("haproxy.cfg").display().to_string();
    for book in ["site.yml", "rolling-upgrade.yml"] {
        let (ok, out) = playbook(
            &[
                "-i",
                &inv,
                "--check",
                "-e",
                &format!("djdd_haproxy_config={cfg}"),
                book,
            ],
            &[],
        );
        assert!(ok, "{book} --check:\n{out}");
        assert!(!out.contains("failed=1"), "{out}");
        // The roles ran on the hosts (in --check).
        for want in [
            "djdd_site : Install or upgrade the site package",
            "app1                       : ok=",
            "app2                       : ok=",
        ] {
            assert!(out.contains(want), "{book}: {want:?} not in\n{out}");
        }
        if book == "site.yml" {
            for want in ["djdd_db : Install PostgreSQL", "djdd_lb : Install haproxy"] {
                assert!(out.contains(want), "{book}: {want:?} not in\n{out}");
            }
        } else {
            assert!(out.contains("djdd_lb : Drain this host"), "{out}");
        }
        assert!(
            !out.contains("k\"$`"),
            "a secret's value in the output:\n{out}"
        );
    }
    // --check wrote nothing.
    assert!(!Path::new("/etc/zzdjddtest-site").exists());
    assert!(!Path::new("/etc/apt/sources.list.d/djdd-zzdjddtest.sources").exists());
    assert!(!tmp.path().join("haproxy.cfg").exists());
}

#[test]
fn lb_role_writes_a_haproxy_config_with_every_app_host() {
    if !have_ansible() {
        return;
    }
    let tmp = tempdir();
    let inv = inventory(tmp.path(), &[]);
    let cfg = tmp.path().join("haproxy.cfg");
    let book = tmp.path().join("lb-config.yml");
    std::fs::write(
        &book,
        "- hosts: lb\n  gather_facts: false\n  tasks:\n    - ansible.builtin.include_role:\n        \
         name: djdd_lb\n        tasks_from: config\n",
    )
    .unwrap();
    let haproxy = have("haproxy");
    if !haproxy {
        eprintln!(
            "NOTE: haproxy is not installed: the configuration is not checked with haproxy -c"
        );
    }
    let (ok, out) = playbook(
        &[
            "-i",
            &inv.display().to_string(),
            "-e",
            &format!("djdd_haproxy_config={}", cfg.display()),
            "-e",
            "djdd_lb_service=false djdd_lb_user=root djdd_lb_group=root",
            "-e",
            &format!("djdd_lb_validate={haproxy}"),
            &book.display().to_string(),
        ],
        &[],
    );
    assert!(ok, "{out}");
    let text = std::fs::read_to_string(&cfg).unwrap();
    for want in [
        "stats socket /run/haproxy/admin.sock mode 660 level admin\n",
        "bind :80\n",
        "backend zzdjddtest_blue\n",
        "http-check send meth GET uri /health/ hdr Host blue.example.org\n",
        "option redispatch",
        "retries 3\n",
        "retry-on all-retryable-errors\n",
        "server app1 127.0.0.2:80 check\n",
        "server app2 127.0.0.3:80 check\n",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert_eq!(text.matches("\n    server ").count(), 2, "{text}");
    if haproxy {
        run_ok(Command::new("haproxy").arg("-c").arg("-f").arg(&cfg));
    }
}

/// The app role's steps before install (secrets.yml and scale-file.yml with
/// the package absent), pointed at a temporary directory instead of
/// /etc/NAME-site/VARIANT.
#[test]
fn secrets_and_scale_placed_before_install_keep_other_values() {
    if !have_ansible() {
        return;
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !is_root {
        eprintln!("SKIP: the role makes root-owned files; run as root");
        return;
    }
    let tmp = tempdir();
    let inv = inventory(tmp.path(), &[]);
    let etc = tmp.path().join("etc/zzdjddtest-site/blue");
    std::fs::create_dir_all(&etc).unwrap();
    // A value already there (e.g. a generated one) is kept; ours win.
    std::fs::write(
        etc.join("secrets.env"),
        "BROKER_PASSWORD=\"kept\"\nSECRET_KEY=\"old\"\n",
    )
    .unwrap();
    std::fs::write(etc.join("scale.env"), "# counts\nworker=2\n").unwrap();
    let book = tmp.path().join("before-install.yml");
    std::fs::write(
        &book,
        "- hosts: app1\n  gather_facts: false\n  vars:\n    _djdd_installed: false\n  tasks:\n    \
         - ansible.builtin.include_role:\n        name: djdd_site\n        tasks_from: secrets\n    \
         - ansible.builtin.include_role:\n        name: djdd_site\n        tasks_from: scale-file\n",
    )
    .unwrap();
    let args = [
        "-i".to_string(),
        inv.display().to_string(),
        "-e".to_string(),
        format!("djdd_etc_dir={}", etc.display()),
        "-e".to_string(),
        "{\"djdd_scale\": {\"beat\": 0}}".to_string(),
        book.display().to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = playbook(&args, &[]);
    assert!(ok, "{out}");
    assert!(
        !out.contains("k\"$`"),
        "a secret's value in the output:\n{out}"
    );
    let secrets = std::fs::read_to_string(etc.join("secrets.env")).unwrap();
    for want in [
        "BROKER_PASSWORD=\"kept\"\n",
        // systemd's EnvironmentFile quoting: \ " $ ` escaped in "...".
        "SECRET_KEY=\"k\\\"\\$\\`\\\\x\"\n",
        "DATABASE_URL=\"postgres://zz_blue:pw123@127.0.0.1:5432/zz_blue\"\n",
        "REDIS_URL=\"redis://:rpw@127.0.0.1:6379/0\"\n",
    ] {
        assert!(secrets.contains(want), "{want:?} not in\n{secrets}");
    }
    assert!(!secrets.contains("\"old\""), "{secrets}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(etc.join("secrets.env"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "secrets.env mode {mode:o}");
    let scale = std::fs::read_to_string(etc.join("scale.env")).unwrap();
    assert_eq!(scale, "# counts\nworker=2\nbeat=0\n");
    // A second run changes nothing.
    let (ok, out) = playbook(&args, &[]);
    assert!(ok, "{out}");
    assert!(
        out.contains("changed=0"),
        "second run changed something:\n{out}"
    );
}
