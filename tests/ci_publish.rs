//! scripts/ci-publish.sh as a CI system runs it: two fresh runners (each
//! its own empty build dir, one CI cache directory handed from the first
//! job to the second) build two versions of the demo project and publish
//! them over ssh with rsync to a repository served by a real sshd on
//! 127.0.0.1 (a private host key, client key and config, started by the
//! test). The signing key comes only from DJDD_SIGNING_KEY.
//!
//! Checks: the upload order (pool, by-hash, indices, Release, InRelease,
//! then deletions); the server's repository is consistent, signed by that
//! key and lists both versions; the second runner reuses the env package
//! from the cache instead of running pip; the secret key is in no output
//! and no file of the runners or the cache, its gnupg home is gone and no
//! gpg-agent of it is left running; a bad DJDD_REMOTE is refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use common::*;

/// An sshd on 127.0.0.1 that accepts one generated key for root.
struct Sshd {
    child: Child,
    port: u16,
    client_key: PathBuf,
}

impl Sshd {
    fn start(dir: &Path) -> Sshd {
        for p in ["/usr/sbin/sshd", "/usr/bin/ssh-keygen", "/usr/bin/rsync"] {
            assert!(
                Path::new(p).exists(),
                "needs {p} (openssh-server, rsync: .ci/apt-packages)"
            );
        }
        std::fs::create_dir_all(dir).unwrap();
        for k in ["host_key", "client_key"] {
            run_ok(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                    .arg(dir.join(k)),
            );
        }
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.display();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
                 PidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
            ),
        )
        .unwrap();
        // sshd's privilege separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "sshd did not listen: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Sshd {
            child,
            port,
            client_key: dir.join("client_key"),
        }
    }

    /// The ssh command for rsync's -e.
    fn ssh(&self) -> String {
        format!(
            "ssh -i {} -p {} -o BatchMode=yes -o StrictHostKeyChecking=no \
             -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            self.client_key.display(),
            self.port
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A signing key made in `home`: (armored secret key, public keyring file).
fn signing_key(home: &Path) -> (String, PathBuf) {
    std::fs::create_dir_all(home).unwrap();
    std::fs::set_permissions(home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let gpg = |args: &[&str]| {
        run_ok(
            Command::new("gpg")
                .arg("--homedir")
                .arg(home)
                .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
                .args(args),
        )
    };
    gpg(&[
        "--quick-gen-key",
        "djdd CI test <ci@djdd.test>",
        "ed25519",
        "sign",
        "never",
    ]);
    let secret = String::from_utf8(gpg(&["--armor", "--export-secret-keys"])).unwrap();
    assert!(secret.contains("BEGIN PGP PRIVATE KEY BLOCK"));
    let public = home.join("public.gpg");
    std::fs::write(&public, gpg(&["--export"])).unwrap();
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(home)
        .args(["--kill", "gpg-agent"])
        .status();
    (secret, public)
}

/// One CI job on a fresh runner: the script with the job's environment.
fn job(runner: &TestBuildDir, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new("bash");
    c.arg(repo_root().join("scripts/ci-publish.sh"))
        .current_dir(runner.path())
        .env_remove("DJDD_DIR")
        .env_remove("DJDD_LOG")
        .env("DJDD_DIR", runner.path())
        .env("DJDD", assert_cmd::cargo::cargo_bin("djdd"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file below `dir` (not following links; the build root skipped)
/// whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_entry(|e| e.file_name() != "buildroot")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            std::fs::read(e.path())
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
        .map(|e| e.path().to_path_buf())
        .collect()
}

/// Processes whose command line names `path`.
fn processes_naming(path: &Path) -> Vec<String> {
    let p = path.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&p))
        .collect()
}

/// The upload phases the script names on stdout, in the order they must run.
const PHASES: [&str; 6] = [
    "uploading pool",
    "uploading by-hash indices",
    "uploading indices",
    "uploading Release",
    "uploading InRelease",
    "removing old files",
];

#[test]
fn two_fresh_runners_publish_over_ssh_in_the_safe_order() {
    for p in ["gpg", "gpgv", "rsync", "ssh", "schroot", "debootstrap"] {
        assert!(have(p), "needs {p} (.ci/apt-packages)");
    }
    let tmp = tempdir();
    let sshd = Sshd::start(&tmp.path().join("sshd"));
    let served = tmp.path().join("server/srv/apt");
    std::fs::create_dir_all(&served).unwrap();
    let (secret, public) = signing_key(&tmp.path().join("keygen"));
    let upstream = tmp.path().join("demo.git");
    run_ok(
        Command::new("sh")
            .arg(fixtures().join("make-repo.sh"))
            .arg(&upstream),
    );
    // The CI cache starts with the base tarball when the host has one
    // (a fresh debootstrap is what `djdd init` does otherwise: minutes).
    let cache = tmp.path().join("ci-cache");
    std::fs::create_dir_all(cache.join("base")).unwrap();
    if let Ok(rd) = std::fs::read_dir("/var/cache/djdd/base") {
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("bookworm-amd64-") && name.ends_with(".tar.zst") {
                std::fs::copy(e.path(), cache.join("base").join(&name)).unwrap();
            }
        }
    }
    let remote = format!("root@127.0.0.1:{}", served.display());
    let ssh = sshd.ssh();
    let cache_s = cache.to_string_lossy().into_owned();
    let upstream_s = upstream.to_string_lossy().into_owned();
    let env = |version: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("DJDD_NAME", "demo".into()),
            ("DJDD_VARIANT", "blue".into()),
            ("DJDD_VARIANT_ARGS", "--domain blue.example.org".into()),
            ("DJDD_VERSION", version.into()),
            ("DJDD_CLONE", upstream_s.clone()),
            ("DJDD_REMOTE", remote.clone()),
            ("DJDD_CACHE", cache_s.clone()),
            ("DJDD_SSH", ssh.clone()),
            ("DJDD_SIGNING_KEY", secret.clone()),
        ]
    };
    // A line from the middle of the key's base64: what a leak would show.
    let key_line = secret.lines().nth(3).unwrap().to_string();

    let mut runners = Vec::new();
    for version in ["v1", "v2"] {
        let runner = TestBuildDir::new();
        let e = env(version);
        let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = job(&runner, &e);
        let all = text(&out);
        assert!(out.status.success(), "ci-publish {version}:\n{all}");
        assert!(!all.contains(&key_line), "the secret key was printed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let phases: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("ci-publish: "))
            .filter(|l| PHASES.contains(l))
            .collect();
        assert_eq!(phases, PHASES, "{all}");
        if version == "v2" {
            // A fresh runner, a warm cache: the env comes from the cache.
            assert!(
                all.contains("unpacking demo-env-") && !all.contains("pip install -r"),
                "the second runner rebuilt the env:\n{all}"
            );
        }
        // The key left nothing behind.
        assert!(!runner.path().join("state/gnupg").exists());
        for dir in [runner.path(), cache.as_path()] {
            let found = files_containing(dir, key_line.as_bytes());
            assert!(found.is_empty(), "the secret key is in {found:?}");
        }
        assert_eq!(processes_naming(runner.path()), Vec::<String>::new());
        runners.push(runner);
    }

    // The server's repository: consistent, signed by the key, both versions.
    let listed = check_repo(&served, "bookworm");
    let sites: Vec<&String> = listed
        .iter()
        .filter(|(n, _, _)| n == "demo-site-blue")
        .map(|(_, v, _)| v)
        .collect();
    assert_eq!(sites.len(), 2, "{listed:?}");
    let verify = Command::new("gpgv")
        .arg("--keyring")
        .arg(&public)
        .arg(served.join("dists/bookworm/InRelease"))
        .output()
        .unwrap();
    assert!(verify.status.success(), "gpgv: {verify:?}");
    // Nothing of djdd's local state went to the server.
    assert!(!served.join(".djdd").exists());

    // A remote without a path is refused before anything runs.
    let runner = TestBuildDir::new();
    let mut e = env("v1");
    e.retain(|(k, _)| *k != "DJDD_REMOTE");
    e.push(("DJDD_REMOTE", "root@127.0.0.1".into()));
    let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = job(&runner, &e);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("DJDD_REMOTE=root@127.0.0.1: give user@host:/absolute/path"),
        "{}",
        text(&out)
    );
}
