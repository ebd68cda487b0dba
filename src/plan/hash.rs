//! The HASH parts of package names: `NAME-env-HASH` and `NAME-src-HASH`.
//!
//! Responsible for the env hash rule (a sha256 over a canonical text of
//! everything that shapes a virtualenv) and the src hash (the commit id,
//! abbreviated). Never touches the disk. The rule is documented in
//! docs/build-plan.md; the package names it feeds follow Debian Policy §5.6.1.

use super::debian_requirements::DebianRequirements;
use super::requirements::Requirements;
use crate::digest::sha256_hex;
use crate::error::{Error, Result};

/// Bump when djdd changes how it builds a virtualenv (pip flags, layout,
/// pyc compilation, ...): every env HASH changes with it, so no env built
/// the old way is reused. 2: programs compiled into the env (`bin/uwsgi`)
/// are stripped too, not only shared objects, and a file is executable in
/// the package only when it is a script (`#!`) or an ELF file. 3: the env
/// package ships `/usr/share/NAME-env/HASH/requirements.lock`, what pip
/// resolved (name, version, archive sha256); what pip compiles is linked
/// without a GNU build ID (`LDFLAGS=-Wl,--build-id=none`), and the RECORD
/// rows of the files djdd stripped carry their stripped hash and size.
/// 4: what comes from an sdist is built by djdd at a fixed path
/// (`/build/NAME-VERSION`, with `-ffile-prefix-map` to `.`), not by pip in
/// its random build directory.
pub const ENV_FORMAT: u32 = 4;

/// Hex digits of the env and src HASH in package names (48 bits).
pub const HASH_LEN: usize = 12;

/// A hash: the full hex digest and its first [`HASH_LEN`] digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hash {
    pub full: String,
    pub short: String,
}

impl Hash {
    fn from_full(full: String) -> Hash {
        let short = full[..HASH_LEN].to_string();
        Hash { full, short }
    }
}

/// What the env HASH is computed from.
#[derive(Debug, Clone, Copy)]
pub struct EnvInputs<'a> {
    pub requirements: &'a Requirements,
    pub venv_debian: &'a DebianRequirements,
    /// The build root's Python `MAJOR.MINOR`, e.g. `3.11`.
    pub python_version: &'a str,
    /// The Debian architecture, e.g. `amd64`.
    pub arch: &'a str,
    /// Requirement lines djdd adds to the project's (the app server it
    /// provides, `contract::AppServer::provided`); installed in the same
    /// pip run.
    pub provided: &'a [String],
    /// What installs the env: uv adds its line (`installer uv VERSION`).
    pub installer: super::Installer,
    /// The commit's git tree, when the project itself is installed into
    /// the env (djdd.toml's `env.install_project`).
    pub project_tree: Option<&'a str>,
}

/// Checks a Python `MAJOR.MINOR` version.
pub fn check_python_version(v: &str) -> Result<()> {
    let ok = v.split_once('.').is_some_and(|(a, b)| {
        [a, b]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|c| c.is_ascii_digit()))
    });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("Python version '{v}'"),
            "must be MAJOR.MINOR, e.g. 3.11",
        ))
    }
}

/// Checks a Debian architecture name (`amd64`, `arm64`, `all`, ...).
pub fn check_arch(a: &str) -> Result<()> {
    let ok = !a.is_empty()
        && a.len() <= 32
        && a.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && a.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("architecture '{a}'"),
            "must be a Debian architecture name such as amd64",
        ))
    }
}

/// The canonical text the env HASH is the sha256 of. Every line is
/// `KEY VALUE` or a list header `KEY COUNT` followed by COUNT lines indented
/// by two spaces; no normalised line can hold a line break, so the text is
/// unambiguous. The env package may ship it (e.g. as
/// `/usr/share/NAME-env/HASH/djdd-env-inputs.txt`) to show what it was made from.
pub fn env_canonical(inputs: &EnvInputs<'_>) -> Result<String> {
    check_python_version(inputs.python_version)?;
    check_arch(inputs.arch)?;
    let mut s = String::new();
    let mut push = |line: &str| {
        s.push_str(line);
        s.push('\n');
    };
    push("djdd-env-inputs");
    push(&format!("format {ENV_FORMAT}"));
    push(&format!("python {}", inputs.python_version));
    push(&format!("arch {}", inputs.arch));
    push(&format!("root {}", inputs.requirements.root));
    push(&format!("files {}", inputs.requirements.files.len()));
    for (path, f) in &inputs.requirements.files {
        push(&format!("file {path} {}", f.lines.len()));
        for l in &f.lines {
            push(&format!("  {l}"));
        }
    }
    push(&format!("debian-build {}", inputs.venv_debian.build.len()));
    for p in &inputs.venv_debian.build {
        push(&format!("  {p}"));
    }
    push(&format!("debian-run {}", inputs.venv_debian.run.len()));
    for p in &inputs.venv_debian.run {
        push(&format!("  {p}"));
    }
    // Only when djdd adds something, so the HASH of a project that
    // names its own app server is what it was before djdd could add one.
    if !inputs.provided.is_empty() {
        push(&format!("provided {}", inputs.provided.len()));
        for l in inputs.provided {
            push(&format!("  {l}"));
        }
    }
    // Only for uv, so a pip env's HASH is what it was before.
    if let Some(line) = inputs.installer.hash_line() {
        push(&line);
    }
    // Only when the project is installed, so no other env's HASH moves.
    if let Some(tree) = inputs.project_tree {
        check_tree_id(tree)?;
        push(&format!("project-tree {tree}"));
    }
    Ok(s)
}

/// The env HASH: sha256 of [`env_canonical`].
pub fn env_hash(inputs: &EnvInputs<'_>) -> Result<Hash> {
    Ok(Hash::from_full(sha256_hex(
        env_canonical(inputs)?.as_bytes(),
    )))
}

/// A full git object id as git prints it: 40 (SHA-1) or 64 (SHA-256)
/// lower-case hex digits.
pub fn is_object_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64)
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks a git tree id ([`is_object_id`]).
fn check_tree_id(t: &str) -> Result<()> {
    if is_object_id(t) {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("git tree '{}'", t.escape_debug()),
            "must be a full tree id (40 or 64 lower-case hex digits)",
        ))
    }
}

/// The src HASH: the commit id (40 hex digits for SHA-1 repositories, 64
/// for SHA-256 ones), lower case, and its first [`HASH_LEN`] digits.
pub fn src_hash(commit: &str) -> Result<Hash> {
    if !is_object_id(commit) {
        return Err(Error::invalid(
            format!("commit '{commit}'"),
            "must be a full commit id (40 or 64 lower-case hex digits)",
        ));
    }
    Ok(Hash::from_full(commit.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Installer;
    use crate::plan::requirements::load_requirements;
    use std::collections::BTreeMap;

    fn hash_of(files: &[(&str, &str)], debian: &str, py: &str) -> String {
        let map: BTreeMap<String, Vec<u8>> = files
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        let reqs =
            load_requirements("requirements.txt", &mut |p: &str| Ok(map.get(p).cloned())).unwrap();
        let deb =
            DebianRequirements::parse("venv-debian-requirements.txt", debian.as_bytes()).unwrap();
        env_hash(&EnvInputs {
            requirements: &reqs,
            venv_debian: &deb,
            python_version: py,
            arch: "amd64",
            provided: &[],
            installer: Installer::Pip,
            project_tree: None,
        })
        .unwrap()
        .short
    }

    const BASE: &str = "Django==4.2.7\ncelery[redis]==5.3.4\n-r base.txt\npsycopg2==2.9.9\n";
    const INC: &str = "gunicorn==21.2.0\n";
    const DEB: &str = "libpq-dev build\nlibpq5 run\n";

    fn base() -> String {
        hash_of(
            &[("requirements.txt", BASE), ("base.txt", INC)],
            DEB,
            "3.11",
        )
    }

    #[test]
    fn hash_is_twelve_hex_digits() {
        let h = base();
        assert_eq!(h.len(), 12);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn reordering_comments_whitespace_and_crlf_keep_the_hash() {
        let messy = "# our deps\r\n\r\n  psycopg2==2.9.9   # needs libpq-dev\r\n-r base.txt\r\n\tcelery[redis]==5.3.4\r\nDjango==4.2.7\r\n";
        let inc = "  gunicorn==21.2.0  \r\n# end\r\n";
        let deb = "# headers\nlibpq5 run\n\nlibpq-dev   build\n";
        assert_eq!(
            hash_of(
                &[("requirements.txt", messy), ("base.txt", inc)],
                deb,
                "3.11"
            ),
            base()
        );
    }

    #[test]
    fn a_continued_line_hashes_like_the_joined_one() {
        let cont = "Django==\\\n4.2.7\ncelery[redis]==5.3.4\n-r base.txt\npsycopg2==2.9.9\n";
        assert_eq!(
            hash_of(
                &[("requirements.txt", cont), ("base.txt", INC)],
                DEB,
                "3.11"
            ),
            base()
        );
    }

    #[test]
    fn a_version_change_changes_the_hash() {
        let changed = BASE.replace("4.2.7", "4.2.8");
        assert_ne!(
            hash_of(
                &[("requirements.txt", &changed), ("base.txt", INC)],
                DEB,
                "3.11"
            ),
            base()
        );
    }

    #[test]
    fn an_include_content_change_changes_the_hash() {
        assert_ne!(
            hash_of(
                &[
                    ("requirements.txt", BASE),
                    ("base.txt", "gunicorn==22.0.0\n")
                ],
                DEB,
                "3.11"
            ),
            base()
        );
    }

    #[test]
    fn a_nested_include_change_changes_the_hash() {
        let a = hash_of(
            &[
                ("requirements.txt", BASE),
                ("base.txt", "-r x/c.txt\n"),
                ("x/c.txt", "a==1\n"),
            ],
            DEB,
            "3.11",
        );
        let b = hash_of(
            &[
                ("requirements.txt", BASE),
                ("base.txt", "-r x/c.txt\n"),
                ("x/c.txt", "a==2\n"),
            ],
            DEB,
            "3.11",
        );
        assert_ne!(a, b);
    }

    #[test]
    fn moving_a_line_between_files_changes_the_hash() {
        let a = hash_of(
            &[
                ("requirements.txt", "-r b.txt\nx==1\n"),
                ("b.txt", "y==1\n"),
            ],
            "",
            "3.11",
        );
        let b = hash_of(
            &[
                ("requirements.txt", "-r b.txt\ny==1\n"),
                ("b.txt", "x==1\n"),
            ],
            "",
            "3.11",
        );
        assert_ne!(a, b);
    }

    #[test]
    fn a_debian_requirement_change_changes_the_hash() {
        let files = [("requirements.txt", BASE), ("base.txt", INC)];
        assert_ne!(
            hash_of(&files, "libpq-dev build\nlibpq5 both\n", "3.11"),
            base()
        );
        assert_ne!(hash_of(&files, "libpq-dev build\n", "3.11"), base());
        assert_ne!(
            hash_of(&files, "libpq-dev run\nlibpq5 build\n", "3.11"),
            base()
        );
    }

    #[test]
    fn another_python_or_arch_changes_the_hash() {
        let files = [("requirements.txt", BASE), ("base.txt", INC)];
        assert_ne!(hash_of(&files, DEB, "3.12"), base());
        let reqs = load_requirements("requirements.txt", &mut |p: &str| {
            Ok(files
                .iter()
                .find(|(k, _)| *k == p)
                .map(|(_, v)| v.as_bytes().to_vec()))
        })
        .unwrap();
        let deb = DebianRequirements::parse("v", DEB.as_bytes()).unwrap();
        let on = |arch| {
            env_hash(&EnvInputs {
                requirements: &reqs,
                venv_debian: &deb,
                python_version: "3.11",
                arch,
                provided: &[],
                installer: Installer::Pip,
                project_tree: None,
            })
            .unwrap()
        };
        assert_ne!(on("arm64"), on("amd64"));
        assert_eq!(on("amd64").short, base());
    }

    #[test]
    fn canonical_text_is_exactly_as_documented() {
        let map: BTreeMap<String, Vec<u8>> = [
            (
                "requirements.txt".to_string(),
                b"b==1\n-r x.txt\na==2\n".to_vec(),
            ),
            ("x.txt".to_string(), b"c\n".to_vec()),
        ]
        .into();
        let reqs =
            load_requirements("requirements.txt", &mut |p: &str| Ok(map.get(p).cloned())).unwrap();
        let deb = DebianRequirements::parse("v", b"libpq-dev build\nlibpq5\n").unwrap();
        let mut inputs = EnvInputs {
            requirements: &reqs,
            venv_debian: &deb,
            python_version: "3.11",
            arch: "amd64",
            provided: &[],
            installer: Installer::Pip,
            project_tree: None,
        };
        let text = env_canonical(&inputs).unwrap();
        let want = "djdd-env-inputs\nformat 4\npython 3.11\narch amd64\nroot requirements.txt\nfiles 2\n\
             file requirements.txt 3\n  -r x.txt\n  a==2\n  b==1\nfile x.txt 1\n  c\n\
             debian-build 2\n  libpq-dev\n  libpq5\ndebian-run 1\n  libpq5\n";
        assert_eq!(text, want);
        // What djdd adds (its app server) is an input, listed last.
        let provided = ["gunicorn==27.0.1".to_string()];
        inputs.provided = &provided;
        assert_eq!(
            env_canonical(&inputs).unwrap(),
            format!("{want}provided 1\n  gunicorn==27.0.1\n")
        );
        let other = ["gunicorn==28.0.0".to_string()];
        let h1 = env_hash(&inputs).unwrap();
        inputs.provided = &other;
        assert_ne!(env_hash(&inputs).unwrap(), h1, "a new pin is a new env");
        // uv names itself and its version, last: a uv bump is a new env.
        inputs.provided = &provided;
        inputs.installer = Installer::Uv;
        assert_eq!(
            env_canonical(&inputs).unwrap(),
            format!(
                "{want}provided 1\n  gunicorn==27.0.1\ninstaller uv {}\n",
                crate::plan::UV_VERSION
            )
        );
        assert_ne!(env_hash(&inputs).unwrap(), h1, "uv's env is another env");
        // The project installed into the env: its tree is an input, last.
        let uv = env_canonical(&inputs).unwrap();
        let h_uv = env_hash(&inputs).unwrap();
        let tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
        inputs.project_tree = Some(tree);
        assert_eq!(
            env_canonical(&inputs).unwrap(),
            format!("{uv}project-tree {tree}\n")
        );
        assert_ne!(
            env_hash(&inputs).unwrap(),
            h_uv,
            "the project is in the env"
        );
        inputs.project_tree = Some("4b825dc642cb6eb9a060e54bf8d69288fbee4905");
        assert_ne!(env_hash(&inputs).unwrap().full, h_uv.full);
        inputs.project_tree = Some("HEAD\nproject-tree x");
        assert!(
            env_hash(&inputs).is_err(),
            "a tree id is 40 or 64 hex digits"
        );
    }

    #[test]
    fn bad_python_arch_and_commit_are_refused() {
        assert!(check_python_version("3").is_err());
        assert!(check_python_version("3.11\nx").is_err());
        assert!(check_python_version("3.11").is_ok());
        assert!(check_arch("AMD64").is_err());
        assert!(check_arch("amd64 x").is_err());
        assert!(src_hash("abc").is_err());
        assert!(src_hash(&"A".repeat(40)).is_err());
        let h = src_hash("0123456789abcdef0123456789abcdef01234567").unwrap();
        assert_eq!(h.short, "0123456789ab");
    }
}
