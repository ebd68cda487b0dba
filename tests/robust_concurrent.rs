//! Concurrent builds on one build dir (issue 8, item 3): four `djdd build`
//! commands of four variants at four revisions run at once; one of them
//! (branch `feature`) needs a Debian build package the root lacks
//! (libyaml-dev, from its src-debian-requirements.txt). All succeed; the
//! package install takes the build dir's lock exclusively only after the
//! other three builds have finished (they hold it shared for their whole
//! run); builds of one env wait for each other on the env's lock; and the
//! packages are byte-identical to the same four builds run one after
//! another in a second build dir. Then two builds of one variant at once
//! get two different site versions (they are serialised by the variant's
//! build lock).
//!
//! The three first builds are started together; the fourth is started as
//! soon as they all hold the shared lock (they printed their build log's
//! name), so that the order of the lock requests, and with it what the test
//! asserts, is fixed.
//!
//! Needs root, the cached base tarball, PyPI and Debian's mirror.

mod build_support;
mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use build_support::*;
use common::*;

/// The four builds: variant, revision.
const BUILDS: [(&str, &str); 4] = [
    ("blue", "v1"),
    ("red", "v2"),
    ("green", "v3"),
    ("yellow", "feature"),
];

/// The fixture repository plus branch `feature`: v1 whose source needs
/// libyaml-dev to build (same env as v1 and v2, its own src).
fn repo_with_feature_branch() -> tempfile::TempDir {
    let repo = demo_repo();
    let p = repo.path();
    git(p, &["checkout", "-q", "-b", "feature", "v1"]);
    let f = p.join("src-debian-requirements.txt");
    let mut text = std::fs::read_to_string(&f).unwrap();
    text.push_str("libyaml-dev        build   # a build package the root lacks\n");
    std::fs::write(&f, text).unwrap();
    git(p, &["commit", "-q", "-am", "Needs libyaml-dev to build"]);
    git(p, &["checkout", "-q", "main"]);
    repo
}

/// A build dir with variants blue, red, green and yellow, and the build
/// packages every revision of the fixture needs (libpq-dev, gettext)
/// already in its root, so that only `feature` needs a new one.
fn prepared_build_dir(repo: &Path) -> TestBuildDir {
    let d = demo_build_dir(repo, true);
    for v in ["green", "yellow"] {
        ok(
            &d,
            &[
                "variant",
                "demo",
                v,
                "--domain",
                &format!("{v}.example.org"),
            ],
        );
    }
    let name = schroot_name_of(d.path());
    run_ok(
        Command::new("schroot")
            .args(["-c", &name, "-u", "root", "-d", "/", "--"])
            .args([
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
            ])
            .args(["--yes", "--no-install-recommends", "libpq-dev", "gettext"]),
    );
    d
}

fn mtime(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

fn build_args(variant: &str, rev: &str) -> Vec<String> {
    ["build", "demo", variant, "--version", rev]
        .map(String::from)
        .to_vec()
}

/// A running build: its stderr lines arrive, with their time, on `lines`;
/// the reader thread returns the time stderr closed (djdd exited).
struct Running {
    what: String,
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    seen: Vec<(Instant, String)>,
    reader: Option<std::thread::JoinHandle<Instant>>,
}

impl Running {
    fn start(d: &TestBuildDir, variant: &str, rev: &str) -> Running {
        let mut c = Command::new(env!("CARGO_BIN_EXE_djdd"));
        c.arg("--dir")
            .arg(d.path())
            .args(build_args(variant, rev))
            .env_remove("DJDD_DIR")
            .env_remove("DJDD_TEST_PAUSE_AT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send((Instant::now(), l));
            }
            Instant::now()
        });
        Running {
            what: format!("{variant}@{rev}"),
            child,
            lines: rx,
            seen: Vec::new(),
            reader: Some(reader),
        }
    }

    /// Waits for a stderr line containing `needle`.
    fn wait_for(&mut self, needle: &str) {
        while !self.seen.iter().any(|(_, l)| l.contains(needle)) {
            match self.lines.recv() {
                Ok(x) => self.seen.push(x),
                Err(_) => panic!(
                    "{} ended before printing {needle:?}:\n{}",
                    self.what,
                    self.text()
                ),
            }
        }
    }

    /// Waits for the end; returns the time djdd exited.
    fn finish(&mut self) -> Instant {
        let status = self.child.wait().unwrap();
        let end = self.reader.take().unwrap().join().unwrap();
        self.seen.extend(self.lines.try_iter());
        assert!(status.success(), "{} failed:\n{}", self.what, self.text());
        end
    }

    fn text(&self) -> String {
        self.seen
            .iter()
            .map(|(_, l)| format!("{l}\n"))
            .collect::<String>()
    }
}

#[test]
fn four_builds_at_once_wait_as_designed_and_match_builds_one_after_another() {
    let started = Instant::now();
    let repo = repo_with_feature_branch();

    // The same builds one after another, in a second build dir, meanwhile.
    let repo_path = repo.path().to_path_buf();
    let sequential = std::thread::spawn(move || {
        let b = prepared_build_dir(&repo_path);
        let _end = EndSessions(schroot_name_of(b.path()));
        for (v, rev) in BUILDS {
            let args = build_args(v, rev);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            ok(&b, &refs);
        }
        sha256_of_files(&b.path().join("packages"))
    });

    let d = prepared_build_dir(repo.path());
    let _end = EndSessions(schroot_name_of(d.path()));
    let t0 = Instant::now();
    let mut runs: Vec<Running> = BUILDS[..3]
        .iter()
        .map(|(v, rev)| Running::start(&d, v, rev))
        .collect();
    for r in &mut runs {
        // Past the shared lock and the plan.
        r.wait_for("build log: ");
    }
    let (v, rev) = BUILDS[3];
    runs.push(Running::start(&d, v, rev));
    for r in &mut runs {
        r.finish();
    }
    let concurrent_secs = t0.elapsed().as_secs_f64();

    let (others, feature) = runs.split_at(3);
    let feature = &feature[0];
    // The install waited for the running builds, said so, and began only
    // once all three had finished.
    let t = feature.text();
    assert!(
        t.contains("waiting for other djdd commands using")
            && t.contains("before installing libyaml-dev"),
        "{t}"
    );
    // The order, from the files themselves (one clock, and each event
    // causes the next: a build writes its site package, then releases its
    // shared lock; the install takes the lock, then dpkg writes the list):
    // every other build's site package was written before dpkg installed
    // libyaml-dev.
    let info = d.path().join("buildroot/var/lib/dpkg/info");
    let list = list_dir(&info)
        .into_iter()
        .find(|f| f.starts_with("libyaml-dev") && f.ends_with(".list"))
        .expect("libyaml-dev installed in the root");
    let installed = mtime(&info.join(list));
    for r in others {
        let variant = r.what.split('@').next().unwrap();
        let site = list_dir(&d.path().join("packages"))
            .into_iter()
            .find(|f| f.starts_with(&format!("demo-site-{variant}_")))
            .unwrap_or_else(|| panic!("no site package of {variant}"));
        assert!(
            mtime(&d.path().join("packages").join(&site)) <= installed,
            "libyaml-dev was installed before {} wrote {site}:\n{}",
            r.what,
            feature.text()
        );
        assert!(
            !r.text().contains("installing into the build root"),
            "{} installed something:\n{}",
            r.what,
            r.text()
        );
    }
    // blue@v1 and red@v2 share one env: one built it, the other waited.
    let waited_for_env = others[..2]
        .iter()
        .filter(|r| r.text().contains("waiting for building demo-env-"))
        .count();
    assert_eq!(
        waited_for_env,
        1,
        "{}\n{}",
        others[0].text(),
        others[1].text()
    );
    let log = list_dir(&d.path().join("logs"))
        .into_iter()
        .find(|f| f.starts_with("build-demo-yellow-"))
        .expect("the build log of yellow");
    let log = std::fs::read_to_string(d.path().join("logs").join(log)).unwrap();
    assert!(
        log.contains("installed build packages: libyaml-dev"),
        "{log}"
    );

    // Byte-identical to the builds one after another.
    let got = sha256_of_files(&d.path().join("packages"));
    let want = sequential.join().expect("the sequential builds");
    assert_eq!(got.len(), 10, "2 envs, 4 srcs, 4 sites: {got:?}");
    assert_eq!(
        got, want,
        "concurrent builds differ from the same builds one after another"
    );

    // Two builds of one variant at once: serialised, two site versions.
    let mut a = Running::start(&d, "blue", "v2");
    let mut b = Running::start(&d, "blue", "v3");
    a.finish();
    b.finish();
    assert!(
        (a.text() + &b.text()).contains("waiting for another build of demo-site-blue"),
        "{}\n{}",
        a.text(),
        b.text()
    );
    let mut versions: Vec<String> = list_dir(&d.path().join("packages"))
        .into_iter()
        .filter_map(|f| {
            f.strip_prefix("demo-site-blue_")
                .map(|v| v.split('+').next().unwrap().to_string())
        })
        .collect();
    versions.sort();
    assert_eq!(versions, ["1", "2", "3"]);
    eprintln!(
        "four concurrent builds: {concurrent_secs:.0} s; whole test {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
