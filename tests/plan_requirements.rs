//! The requirements normaliser and the env HASH under property tests, and
//! the parser checked against the real pip (Debian's /usr/bin/python3 with
//! python3-pip, the pip a bookworm build root's virtualenv gets).
//!
//! Run longer by hand with e.g. `PROPTEST_CASES=100000 cargo test --test
//! plan_requirements`.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use djdd::plan::requirements::{logical_lines, normalise};
use djdd::plan::{
    DebianRequirements, EnvInputs, PackageKind, Requirements, allowed_prefixes, check_path,
    compare_versions, env_hash, load_requirements, next_site_version,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::FileFailurePersistence;

// ---- strategies -------------------------------------------------------

fn name() -> impl Strategy<Value = String> {
    // A name ending like an archive (`a.TAr`, `x.whl`) is a local file to
    // pip, and so to djdd: not a project name (found by a 400,000-case run).
    "[A-Za-z][A-Za-z0-9]{0,6}([-_.][A-Za-z0-9]{1,4})?".prop_filter("an archive file name", |n| {
        let l = n.to_ascii_lowercase();
        ![".whl", ".zip", ".tar", ".tgz", ".tbz", ".txz", ".tlz"]
            .iter()
            .any(|e| l.ends_with(e))
    })
}

fn version() -> impl Strategy<Value = String> {
    "[0-9]{1,2}\\.[0-9]{1,2}(\\.[0-9]{1,3})?(a[0-9]|rc1|\\.post1|\\.dev2)?"
}

fn spec() -> impl Strategy<Value = String> {
    let one = (
        prop::sample::select(vec!["==", ">=", "<=", "<", ">", "!=", "~="]),
        version(),
        prop::sample::select(vec!["", " "]),
    )
        .prop_map(|(op, v, sp)| format!("{op}{sp}{v}"));
    prop::collection::vec(one, 0..3).prop_map(|v| v.join(","))
}

fn marker() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "; python_version >= \"3.8\"",
        " ; sys_platform == 'linux' and os_name != \"nt\"",
        ";(extra == \"x\" or python_version < '3.12')",
        "; platform_machine not in 'arm64 aarch64'",
    ])
    .prop_map(str::to_string)
}

/// One valid logical line, with single spaces only.
fn line() -> impl Strategy<Value = String> {
    let req = (
        name(),
        prop::sample::select(vec!["", "[redis]", "[a,b]"]),
        spec(),
        marker(),
        prop::sample::select(vec![
            "",
            " --hash=sha256:0a1b2c3d",
            " --hash sha256:ffee --hash=sha256:0011",
        ]),
    )
        .prop_map(|(n, e, s, m, h)| format!("{n}{e}{s}{m}{h}"));
    let opt = prop::sample::select(vec![
        "--pre",
        "-i https://pypi.org/simple",
        "--extra-index-url=https://example.com/simple",
        "--only-binary=:all:",
        "--prefer-binary",
        "pkg @ https://example.com/pkg-1.0.tar.gz",
        "pkg2[x] @ git+https://example.com/r.git@v1 ; python_version > '3'",
    ])
    .prop_map(str::to_string);
    prop_oneof![4 => req, 1 => opt]
}

/// Small deterministic RNG for messing a file up from a seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.next(v.len())]
    }
}

/// Writes `lines` (already in the order wanted) as a messy but equivalent
/// requirements file: comments, blank lines, surrounding whitespace, CRLF
/// or CR line ends, line continuations, a BOM.
fn messy(lines: &[String], seed: u64) -> String {
    let mut r = Rng(seed | 1);
    let mut out = String::new();
    if r.next(4) == 0 {
        out.push('\u{feff}');
    }
    let eol_style = r.next(4);
    let eol = |r: &mut Rng| match eol_style {
        0 => "\n",
        1 => "\r\n",
        2 => "\r",
        _ => r.pick(&["\n", "\r\n", "\r"]),
    };
    for l in lines {
        for _ in 0..r.next(3) {
            let filler = r.pick(&[
                "",
                "   ",
                "\t",
                "# a comment",
                "  # indented comment \\",
                "#",
            ]);
            out.push_str(filler);
            out.push_str(eol(&mut r));
        }
        out.push_str(r.pick(&["", " ", "\t", "  \t "]));
        if r.next(4) == 0 && l.len() > 1 {
            // Continue the line at a random character boundary.
            let mut k = 1 + r.next(l.len() - 1);
            while !l.is_char_boundary(k) {
                k += 1;
            }
            out.push_str(&l[..k]);
            out.push('\\');
            out.push_str(eol(&mut r));
            out.push_str(&l[k..]);
        } else {
            out.push_str(l);
        }
        out.push_str(r.pick(&["", " ", "\t  "]));
        out.push_str(r.pick(&["", "  # why", "\t# pinned # for now"]));
        out.push_str(eol(&mut r));
    }
    if r.next(2) == 0 {
        out.push_str("# trailing comment without newline");
    }
    out
}

fn hash_of(requirements: &str, include: &str) -> String {
    let files: BTreeMap<String, Vec<u8>> = [
        (
            "requirements.txt".to_string(),
            requirements.as_bytes().to_vec(),
        ),
        ("inc/base.txt".to_string(), include.as_bytes().to_vec()),
    ]
    .into();
    let reqs = load_requirements("requirements.txt", &mut |p: &str| Ok(files.get(p).cloned()))
        .unwrap_or_else(|e| panic!("{e}\n---\n{requirements}"));
    hash(&reqs)
}

fn hash(reqs: &Requirements) -> String {
    env_hash(&EnvInputs {
        requirements: reqs,
        venv_debian: &DebianRequirements::default(),
        python_version: "3.11",
        arch: "amd64",
        provided: &[],
        installer: djdd::plan::Installer::Uv,
        project_tree: None,
    })
    .unwrap()
    .short
}

// ---- properties -------------------------------------------------------

proptest! {
    // Default config (so PROPTEST_CASES applies); failures are saved next to
    // this file (the default looks for a lib.rs that tests/ does not have).
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/plan_requirements.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    })]

    /// Permuting lines and adding comments, blank lines, whitespace, CRLF,
    /// continuations or a BOM changes neither the normalised lines nor the
    /// env HASH (for the top file and for an included one).
    #[test]
    fn normaliser_is_invariant_under_formatting(
        lines in prop::collection::vec(line(), 0..12),
        inc in prop::collection::vec(line(), 0..5),
        perm_seed in any::<u64>(),
        seed in any::<u64>(),
    ) {
        let plain = lines.join("\n");
        let mut shuffled = lines.clone();
        let mut r = Rng(perm_seed | 1);
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, r.next(i + 1));
        }
        let m = messy(&shuffled, seed);
        prop_assert_eq!(
            normalise("requirements.txt", plain.as_bytes()).unwrap(),
            normalise("requirements.txt", m.as_bytes()).unwrap(),
            "messy file:\n{:?}", m
        );
        let top_plain = format!("{plain}\n-r inc/base.txt\n");
        let mut top_lines = shuffled.clone();
        top_lines.push("-r inc/base.txt".into());
        let top_messy = messy(&top_lines, seed ^ 0x5555);
        prop_assert_eq!(
            hash_of(&top_plain, &inc.join("\n")),
            hash_of(&top_messy, &messy(&inc, seed.rotate_left(7)))
        );
    }

    /// Changing any one line's text (a version, a name) changes the HASH.
    #[test]
    fn a_changed_line_changes_the_hash(
        lines in prop::collection::vec(line(), 1..8),
        which in any::<prop::sample::Index>(),
    ) {
        let i = which.index(lines.len());
        let mut changed = lines.clone();
        changed[i] = format!("zz-extra{}", changed.len());
        prop_assume!(!lines.contains(&changed[i]));
        prop_assert_ne!(hash_of(&lines.join("\n"), ""), hash_of(&changed.join("\n"), ""));
    }

    /// Arbitrary bytes never make the parsers panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = normalise("requirements.txt", &bytes);
        let _ = logical_lines("requirements.txt", &bytes);
        let _ = DebianRequirements::parse("venv-debian-requirements.txt", &bytes);
    }

    /// Text made of the characters that matter to the parser, as a tree of
    /// files that include each other, never makes the loader panic, and
    /// whatever it accepts hashes and re-normalises to itself.
    #[test]
    fn hostile_text_trees_never_panic(
        files in prop::collection::vec(
            (
                prop::sample::select(vec!["requirements.txt", "a.txt", "d/b.txt", "d/../c.txt", "c.txt"]),
                "([-a-zA-Z0-9 =<>~!.,;@\\[\\]()'\"#\\\\\r\n\t/:$+*{}]|-r a.txt\n|-c d/b.txt\n|-r ../c.txt\n|-r ../requirements.txt\n|--hash=|; python_version|\u{2028}|é){0,40}",
            ),
            1..5,
        ),
    ) {
        let map: BTreeMap<String, Vec<u8>> =
            files.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect();
        let mut reader = |p: &str| Ok(map.get(p).cloned());
        if let Ok(reqs) = load_requirements("requirements.txt", &mut reader) {
            let _ = hash(&reqs);
            for f in reqs.files.values() {
                // Normalised lines are a fixed point of the normaliser.
                let again = normalise(&f.path, f.lines.join("\n").as_bytes());
                prop_assert_eq!(again.as_ref().ok(), Some(&f.lines));
            }
        }
        let _ = djdd::plan::check_requirements("requirements.txt", &mut reader);
    }

    /// Version comparison never panics and is antisymmetric.
    #[test]
    fn compare_versions_is_antisymmetric(a in "[0-9a-z:~+.-]{0,12}", b in "[0-9a-z:~+.-]{0,12}") {
        prop_assert_eq!(compare_versions(&a, &b), compare_versions(&b, &a).reverse());
    }

    /// The next site version is above any valid previous one.
    #[test]
    fn next_site_version_always_increases(prev in "([0-9]{1,3}:)?[0-9]{1,25}[a-z0-9.+~]{0,8}(-[a-z0-9.+~]{1,6})?") {
        prop_assume!(djdd::deb::control::check_version(&prev).is_ok());
        let commit = djdd::plan::CommitInfo { id: "ab".repeat(20), time: 0 };
        let next = next_site_version(Some(&prev), &commit).unwrap();
        prop_assert!(djdd::deb::control::check_version(&next).is_ok(), "{}", next);
        prop_assert!(compare_versions(&next, &prev).is_gt(), "{} <= {}", next, prev);
    }

    /// check_path never panics and never lets a `..` or an outside path by.
    #[test]
    fn check_path_refuses_escapes(path in "(\\./|/)?([a-z.]{0,3}/|\\.\\./|usr/|lib/|shop-env/|0123456789ab/){0,6}[a-z.]{0,4}/?") {
        let allowed = allowed_prefixes(PackageKind::Env, "shop", "0123456789ab");
        if check_path(&path, &allowed).is_ok() {
            let abs = path.strip_prefix('.').unwrap_or(&path);
            prop_assert!(!abs.split('/').any(|c| c == ".." || c == "."), "{}", path);
            let inside = allowed.iter().any(|a| abs.starts_with(a.as_str()))
                || (abs.ends_with('/') && allowed.iter().any(|a| a.starts_with(abs)));
            prop_assert!(inside, "{}", path);
        }
    }
}

// ---- against the real pip ---------------------------------------------

/// Runs Debian's pip requirements-file parser on each file; "ok" or "err ...".
fn pip_verdicts(files: &[String]) -> Vec<String> {
    let dir = common::tempdir();
    let script = r#"
import sys, warnings
warnings.simplefilter("ignore")
from pip._internal.req.req_file import parse_requirements
from pip._internal.network.session import PipSession
from pip._internal.req.constructors import install_req_from_parsed_requirement
s = PipSession()
for path in sys.argv[1:]:
    try:
        for r in parse_requirements(path, session=s):
            install_req_from_parsed_requirement(r)
        print("ok")
    except BaseException as e:
        print("err", type(e).__name__, str(e).replace("\n", " "))
"#;
    let mut paths = Vec::new();
    for (i, text) in files.iter().enumerate() {
        let p = dir.path().join(format!("r{i}.txt"));
        std::fs::write(&p, text).unwrap();
        paths.push(p);
    }
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .args(&paths)
        .current_dir(dir.path())
        .output()
        .expect("run /usr/bin/python3 (apt-get install python3-pip)");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let v: Vec<String> = stdout.lines().map(str::to_string).collect();
    assert_eq!(
        v.len(),
        files.len(),
        "pip oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    v
}

/// Every line djdd accepts, pip accepts too: djdd never lets through a
/// requirements file that pip would then refuse in the build.
#[test]
fn pip_accepts_what_djdd_accepts() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(line(), 1..6);
    let mut files = Vec::new();
    for _ in 0..300 {
        let lines = strategy.new_tree(&mut runner).unwrap().current();
        let text = messy(&lines, files.len() as u64 + 1);
        assert!(normalise("r.txt", text.as_bytes()).is_ok(), "{text:?}");
        files.push(text);
    }
    for fixed in [
        "Django (>=4.2, <5.0)\n",
        "foo===anything-goes\n",
        "foo==1.*\nbar!=2.0.*\n",
        "foo==1.0+local.7\n",
        "foo; 'linux' in sys_platform\n",
        "https://example.com/pkg-1.0-py3-none-any.whl\n",
        "git+https://example.com/a/b.git@abc123#egg=b\n",
        "pkg @ https://x.org/p.tgz; python_version>\"3\"\n",
        "foo;\n",
        "--no-binary :all:\n--trusted-host example.com\n--require-hashes\n",
        "-f https://example.com/wheels/\n",
        "psycopg2==2.9.9 \\\n    --hash=sha256:abc \\\n    --hash=sha256:def\n",
    ] {
        assert!(normalise("r.txt", fixed.as_bytes()).is_ok(), "{fixed:?}");
        files.push(fixed.to_string());
    }
    let verdicts = pip_verdicts(&files);
    for (text, v) in files.iter().zip(&verdicts) {
        assert_eq!(v, "ok", "djdd accepts but pip refuses:\n{text}");
    }
}

/// Lines djdd refuses as malformed, pip (Debian's 23.0.1) refuses too. The
/// lines djdd refuses but that old pip accepts as deprecated legacy
/// versions (`foo>=abc`, `foo>=1.0+local`, `foo==1.0a1.*`, `foo>=`) are left out:
/// pip 24.1 refuses them and djdd follows it (docs/build-plan.md).
#[test]
fn pip_refuses_what_djdd_calls_malformed() {
    let bad = [
        "foo~=1",
        "foo[bar",
        "foo; python_version <",
        "foo; pyversion == '3'",
        "foo; python_version == '3",
        "foo bar",
        "-x",
        "--nope",
        "--pre=1",
        "-r",
        "foo @",
        "foo (>=1",
        "foo; python_version > '3' junk",
        "-r 'a.txt",
        "foo,bar",
        "foo[a b]",
    ];
    let files: Vec<String> = bad.iter().map(|l| format!("{l}\n")).collect();
    for f in &files {
        assert!(
            normalise("r.txt", f.as_bytes()).is_err(),
            "djdd accepts {f:?}"
        );
    }
    let verdicts = pip_verdicts(&files);
    for (line, v) in bad.iter().zip(&verdicts) {
        assert!(
            v.starts_with("err"),
            "pip accepts {line:?} that djdd refuses: {v}"
        );
    }
}
