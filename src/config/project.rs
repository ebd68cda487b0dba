//! The project's side of the deploy contract as typed values: the optional
//! `djdd.toml` at the root of the project's repository (parsed with
//! unknown keys refused, every key defaulted), the settings module found
//! in `manage.py` when `djdd.toml` does not name one, and the
//! `venv-debian-requirements.txt` / `src-debian-requirements.txt` files.
//!
//! Pure: takes file contents as text, never reads the disk. Package names
//! are checked against Debian Policy §5.6.1; `docs/contract.md` documents
//! every key and the requirement files' syntax.

use serde::Deserialize;

use crate::contract;
use crate::deb::control::check_package_name;
use crate::error::{Error, Result};

/// The file's name at the project root.
pub const FILE: &str = "djdd.toml";
/// Debian packages the virtualenv needs to build and to run.
pub const VENV_DEBIAN_REQUIREMENTS: &str = "venv-debian-requirements.txt";
/// Debian packages the source needs to build and to run.
pub const SRC_DEBIAN_REQUIREMENTS: &str = "src-debian-requirements.txt";
/// The pip requirements file.
pub const REQUIREMENTS: &str = "requirements.txt";

/// `djdd.toml` as written (every key optional).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    pub contract: Option<u32>,
    pub manage: Option<String>,
    pub settings: Option<String>,
    pub wsgi: Option<String>,
    pub celery: Option<String>,
    #[serde(default)]
    pub build: BuildFile,
    #[serde(default)]
    pub health: HealthFile,
}

/// `[build]` as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BuildFile {
    pub python_packages: Option<Vec<String>>,
    pub collectstatic: Option<bool>,
    pub compilemessages: Option<Compilemessages>,
    pub commands: Option<Vec<Vec<String>>>,
}

/// `[health]` as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HealthFile {
    pub url: Option<String>,
    pub timeout: Option<u32>,
}

/// When the build runs `manage.py compilemessages`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Compilemessages {
    /// When the project has a `locale` directory (beside manage.py, or in
    /// an app) holding a `.po` file.
    #[default]
    Auto,
    Always,
    Never,
}

/// The project, with every default applied and every value validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// The contract version the project was written for.
    pub contract: u32,
    /// Whether `djdd.toml` declared `contract` (a missing declaration means
    /// the current version).
    pub contract_declared: bool,
    /// `manage.py`'s path in the repository (`/`-separated, relative).
    pub manage: String,
    /// The directory holding manage.py (`""` for the root): the working
    /// directory of every process and the first entry of `sys.path`.
    pub project_dir: String,
    /// The settings module, if known (from djdd.toml or manage.py); a
    /// variant's `--settings` overrides it.
    pub settings: Option<String>,
    /// The WSGI callable, `MODULE:ATTRIBUTE`.
    pub wsgi: Option<String>,
    /// The celery app, `MODULE` or `MODULE:ATTRIBUTE`; `None`: no worker.
    pub celery: Option<String>,
    pub build: Build,
    pub health: Health,
}

/// `[build]` with defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Build {
    /// pip requirement lines installed for the build steps only (into a
    /// throwaway layer, never into the env package). Default: none.
    pub python_packages: Vec<String>,
    /// Run `manage.py collectstatic --noinput`. Default: true.
    pub collectstatic: bool,
    /// Default: auto.
    pub compilemessages: Compilemessages,
    /// Extra `manage.py` commands run after collectstatic, each a list of
    /// arguments (`["compress", "--force"]`). Default: none.
    pub commands: Vec<Vec<String>>,
}

/// `[health]` with defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The path postinst requests after an upgrade. Default: `/`.
    pub url: String,
    /// Seconds postinst waits for a 2xx/3xx answer. Default: 30.
    pub timeout: u32,
}

/// One key of `djdd.toml`, for the documentation (docs/contract.md's key
/// table is generated from [`KEYS`]) and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// Dotted: `health.url` is `url` in `[health]`.
    pub name: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
    /// A valid TOML value for it (tests parse every key with it).
    pub example: &'static str,
}

/// Every key of `djdd.toml`, in documentation order.
pub const KEYS: &[Key] = &[
    Key {
        name: "contract",
        default: "1 (the current version)",
        meaning: "The contract version the project was written for. djdd refuses a version it does not implement.",
        example: "1",
    },
    Key {
        name: "manage",
        default: "`\"manage.py\"`",
        meaning: "manage.py's path from the repository root; its directory is the project directory.",
        example: "\"src/manage.py\"",
    },
    Key {
        name: "settings",
        default: "what manage.py's `os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", ...)` names",
        meaning: "The settings module (dotted name). A variant's `--settings` overrides it.",
        example: "\"mysite.settings\"",
    },
    Key {
        name: "wsgi",
        default: "`\"PKG.wsgi:application\"`, PKG the settings module's first component",
        meaning: "The WSGI callable, `MODULE:CALLABLE`.",
        example: "\"mysite.wsgi:application\"",
    },
    Key {
        name: "celery",
        default: "none",
        meaning: "The celery app, `MODULE` or `MODULE:APP`. Without it no variant can run a worker.",
        example: "\"mysite.celery:app\"",
    },
    Key {
        name: "build.python_packages",
        default: "`[]`",
        meaning: "Requirement lines installed only for the build steps, never into the env package.",
        example: "[\"django-compressor==4.5\"]",
    },
    Key {
        name: "build.collectstatic",
        default: "`true`",
        meaning: "Run `manage.py collectstatic --noinput`.",
        example: "false",
    },
    Key {
        name: "build.compilemessages",
        default: "`\"auto\"`",
        meaning: "`\"auto\"` (when a `locale` directory holds a `.po` file), `\"always\"` or `\"never\"`.",
        example: "\"never\"",
    },
    Key {
        name: "build.commands",
        default: "`[]`",
        meaning: "More manage.py commands run after collectstatic, each a list of arguments.",
        example: "[[\"compress\", \"--force\"]]",
    },
    Key {
        name: "health.url",
        default: "`\"/\"`",
        meaning: "The path postinst requests through gunicorn's socket after an upgrade.",
        example: "\"/health/\"",
    },
    Key {
        name: "health.timeout",
        default: "`30`",
        meaning: "Seconds postinst waits for a 2xx or 3xx answer (1 to 600).",
        example: "10",
    },
];

/// Parses `djdd.toml` text; errors name the file, the key and the rule
/// (toml's messages carry line and column).
pub fn parse(text: &str) -> Result<ProjectFile> {
    toml::from_str(text).map_err(|e| {
        Error::invalid_hint(
            FILE,
            crate::config::names::printable(e.to_string().trim_end()),
            "docs/contract.md lists every key of djdd.toml",
        )
    })
}

/// Builds the [`Project`] from `djdd.toml` (if the project has one) and
/// `manage.py`'s text (if found; used for the default settings module).
pub fn resolve(file: Option<&ProjectFile>, manage_py: Option<&str>) -> Result<Project> {
    let default = ProjectFile::default();
    let f = file.unwrap_or(&default);

    let contract = f.contract.unwrap_or(contract::VERSION);
    if contract == 0 || contract > contract::VERSION {
        return Err(Error::invalid_hint(
            format!("{FILE}: key `contract`"),
            format!(
                "the project was written for contract version {contract}; this djdd implements version {}",
                contract::VERSION
            ),
            format!(
                "use a djdd that implements version {contract}, or set `contract = {}` after checking docs/contract.md",
                contract::VERSION
            ),
        ));
    }

    let manage = f.manage.clone().unwrap_or_else(|| "manage.py".into());
    check_relative_path("manage", &manage)?;
    let project_dir = match manage.rfind('/') {
        Some(i) => manage[..i].to_string(),
        None => String::new(),
    };

    let settings = match &f.settings {
        Some(s) => Some(check_module("settings", s)?.to_string()),
        None => manage_py.and_then(settings_from_manage_py),
    };
    let wsgi = match &f.wsgi {
        Some(w) => Some(check_callable("wsgi", w, true)?.to_string()),
        None => settings.as_deref().map(default_wsgi),
    };
    let celery = match &f.celery {
        Some(c) => Some(check_callable("celery", c, false)?.to_string()),
        None => None,
    };

    let python_packages = f.build.python_packages.clone().unwrap_or_default();
    for (i, p) in python_packages.iter().enumerate() {
        if p.trim().is_empty() || p.contains(['\n', '\r', '\0']) || p.trim_start().starts_with('-')
        {
            return Err(Error::invalid_hint(
                format!("{FILE}: key `build.python_packages`, item {}", i + 1),
                format!("{p:?} is not one requirement line (no options, no newlines)"),
                "write one requirement specifier per item, e.g. \"django-compressor==4.5\"",
            ));
        }
    }
    let commands = f.build.commands.clone().unwrap_or_default();
    for (i, c) in commands.iter().enumerate() {
        let what = format!("{FILE}: key `build.commands`, item {}", i + 1);
        let Some(first) = c.first() else {
            return Err(Error::invalid_hint(
                what,
                "an empty command",
                "each item is a manage.py command and its arguments, e.g. [\"compress\", \"--force\"]",
            ));
        };
        if first.is_empty()
            || !first
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(Error::invalid_hint(
                what,
                format!("{first:?} is not a manage.py command name ([a-z0-9_]+)"),
                "the first word is the command manage.py runs; do not include \"manage.py\" itself",
            ));
        }
        if let Some(a) = c.iter().find(|a| a.contains(['\n', '\r', '\0'])) {
            return Err(Error::invalid(
                what,
                format!("argument {a:?} contains a newline or NUL"),
            ));
        }
    }

    let url = f.health.url.clone().unwrap_or_else(|| "/".into());
    if !url.starts_with('/')
        || url.starts_with("//")
        || url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'`\\{};$<>".contains(c))
    {
        return Err(Error::invalid_hint(
            format!("{FILE}: key `health.url`"),
            format!(
                "{url:?} is not a path starting with one `/` (no spaces, quotes, `;`, `$`, braces)"
            ),
            "e.g. url = \"/health/\"",
        ));
    }
    let timeout = f.health.timeout.unwrap_or(30);
    if !(1..=600).contains(&timeout) {
        return Err(Error::invalid(
            format!("{FILE}: key `health.timeout`"),
            format!("{timeout} is not between 1 and 600 seconds"),
        ));
    }

    Ok(Project {
        contract,
        contract_declared: f.contract.is_some(),
        manage,
        project_dir,
        settings,
        wsgi,
        celery,
        build: Build {
            python_packages,
            collectstatic: f.build.collectstatic.unwrap_or(true),
            compilemessages: f.build.compilemessages.unwrap_or_default(),
            commands,
        },
        health: Health { url, timeout },
    })
}

/// The WSGI callable a project gets when `djdd.toml` names none:
/// `PKG.wsgi:application`, PKG the settings module's first component (what
/// `django-admin startproject` makes).
pub fn default_wsgi(settings: &str) -> String {
    let top = settings.split('.').next().unwrap_or(settings);
    format!("{top}.wsgi:application")
}

impl Project {
    /// A path relative to the project directory, as a repository path.
    pub fn in_project_dir(&self, rel: &str) -> String {
        if self.project_dir.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.project_dir)
        }
    }
}

fn check_relative_path(key: &str, p: &str) -> Result<()> {
    let ok = !p.is_empty()
        && !p.starts_with('/')
        && !p.ends_with('/')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && !p.chars().any(|c| c.is_control() || c == '\\');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_hint(
            format!("{FILE}: key `{key}`"),
            format!("{p:?} is not a relative path inside the repository"),
            "give the path from the repository root, e.g. \"manage.py\" or \"src/manage.py\"",
        ))
    }
}

/// Whether `s` is a dotted Python module path (`pkg.sub.mod`).
pub fn is_module(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut b = part.bytes();
            matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
                && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        })
}

fn check_module<'a>(key: &str, s: &'a str) -> Result<&'a str> {
    if is_module(s) {
        Ok(s)
    } else {
        Err(Error::invalid_hint(
            format!("{FILE}: key `{key}`"),
            format!("{s:?} is not a dotted Python module name"),
            "e.g. \"mysite.settings\"",
        ))
    }
}

fn check_callable<'a>(key: &str, s: &'a str, attr_required: bool) -> Result<&'a str> {
    let (module, attr) = match s.split_once(':') {
        Some((m, a)) => (m, Some(a)),
        None => (s, None),
    };
    let attr_ok = match attr {
        Some(a) => is_module(a) && !a.contains('.'),
        None => !attr_required,
    };
    if is_module(module) && attr_ok {
        Ok(s)
    } else {
        let shape = if attr_required {
            "MODULE:ATTRIBUTE"
        } else {
            "MODULE or MODULE:ATTRIBUTE"
        };
        Err(Error::invalid_hint(
            format!("{FILE}: key `{key}`"),
            format!("{s:?} is not {shape}"),
            if attr_required {
                "e.g. \"mysite.wsgi:application\""
            } else {
                "e.g. \"mysite.celery:app\""
            },
        ))
    }
}

/// The module named by `os.environ.setdefault("DJANGO_SETTINGS_MODULE",
/// "...")` in manage.py, if there is exactly such a call.
pub fn settings_from_manage_py(text: &str) -> Option<String> {
    let key = "DJANGO_SETTINGS_MODULE";
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || !line.contains("setdefault") {
            continue;
        }
        let Some(i) = line.find(key) else { continue };
        let rest = &line[i + key.len()..];
        // Skip the closing quote of the key, the comma and spaces.
        let rest = rest.trim_start_matches(['"', '\'']).trim_start();
        let rest = rest.strip_prefix(',')?.trim_start();
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let value = &rest[1..];
        let end = value.find(quote)?;
        let module = &value[..end];
        if is_module(module) {
            return Some(module.to_string());
        }
    }
    None
}

/// One line of a `*-debian-requirements.txt` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebianRequirement {
    pub package: String,
    /// Installed in the build root before the step that needs it.
    pub build: bool,
    /// A `Depends` of the package (env or src) the file belongs to.
    pub run: bool,
    /// 1-based line number.
    pub line: usize,
}

/// Parses a `venv-debian-requirements.txt` or `src-debian-requirements.txt`
/// (`file` names it in messages): the one parser of these files (the build
/// plan and `djdd check` both use it). Syntax: one package a line, then
/// `build`, `run`, or both (either order; `both`, or neither, means both);
/// `#` starts a comment; blank lines are ignored; a package is listed
/// once; no version relations or alternatives. Returns every bad line's
/// error.
pub fn parse_debian_requirements(
    file: &str,
    text: &str,
) -> std::result::Result<Vec<DebianRequirement>, Vec<Error>> {
    let mut out: Vec<DebianRequirement> = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let what = format!("{file}:{line_no}");
        let mut words = line.split_whitespace();
        let package = words.next().unwrap_or_default();
        if let Err(e) = check_package_name(package) {
            let rule = match e {
                Error::Invalid { problem, .. } => problem,
                other => other.to_string(),
            };
            errors.push(Error::invalid_hint(
                what,
                format!("{package:?} is not a Debian package name: {rule}"),
                "write one package a line, then `build`, `run` or both, e.g. `libpq-dev build`",
            ));
            continue;
        }
        if line[package.len()..].contains(['(', ')', '|', ',', '[', '<', '>', '=']) {
            errors.push(Error::invalid_hint(
                what,
                format!("{line:?}: version relations and alternatives are not supported"),
                "name one package a line; the versions come from the build root's Debian release",
            ));
            continue;
        }
        let (mut build, mut run) = (false, false);
        let mut bad = None;
        for w in words {
            match w {
                "build" => build = true,
                "run" => run = true,
                "both" => (build, run) = (true, true),
                other => {
                    bad = Some(other.to_string());
                    break;
                }
            }
        }
        if let Some(w) = bad {
            errors.push(Error::invalid_hint(
                what,
                format!("`{w}` after {package} is not `build` or `run`"),
                "write `PACKAGE build`, `PACKAGE run` or `PACKAGE build run` (neither means both); version relations are not supported",
            ));
            continue;
        }
        if !build && !run {
            build = true;
            run = true;
        }
        if let Some(prev) = out.iter_mut().find(|r| r.package == package) {
            errors.push(Error::invalid_hint(
                what,
                format!("{package} is listed again (first on line {})", prev.line),
                "list each package once, with all its uses: `PACKAGE build run`",
            ));
            continue;
        }
        out.push(DebianRequirement {
            package: package.to_string(),
            build,
            run,
            line: line_no,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let f = parse("").unwrap();
        let p = resolve(
            Some(&f),
            Some("os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"mysite.settings\")\n"),
        )
        .unwrap();
        assert_eq!(p.contract, contract::VERSION);
        assert!(!p.contract_declared);
        assert_eq!(p.manage, "manage.py");
        assert_eq!(p.project_dir, "");
        assert_eq!(p.settings.as_deref(), Some("mysite.settings"));
        assert_eq!(p.wsgi.as_deref(), Some("mysite.wsgi:application"));
        assert_eq!(p.celery, None);
        assert_eq!(p.health.url, "/");
        assert_eq!(p.health.timeout, 30);
        assert!(p.build.collectstatic);
        assert_eq!(p.build.compilemessages, Compilemessages::Auto);
        assert_eq!(resolve(None, None).unwrap().settings, None);
    }

    #[test]
    fn full_file() {
        let f = parse(
            r#"
contract = 1
manage = "src/manage.py"
settings = "site.settings.prod"
wsgi = "site.wsgi:app"
celery = "site.celery"
[build]
python_packages = ["django-compressor==4.5"]
collectstatic = false
compilemessages = "never"
commands = [["compress", "--force"]]
[health]
url = "/health/"
timeout = 10
"#,
        )
        .unwrap();
        let p = resolve(Some(&f), None).unwrap();
        assert!(p.contract_declared);
        assert_eq!(p.project_dir, "src");
        assert_eq!(p.in_project_dir("site/settings.py"), "src/site/settings.py");
        assert_eq!(p.wsgi.as_deref(), Some("site.wsgi:app"));
        assert_eq!(p.celery.as_deref(), Some("site.celery"));
        assert_eq!(
            p.build.commands,
            vec![vec!["compress".to_string(), "--force".into()]]
        );
        assert_eq!(p.health.timeout, 10);
    }

    #[test]
    fn every_documented_key_parses_and_applies() {
        for k in KEYS {
            let text = match k.name.split_once('.') {
                Some((table, key)) => format!("[{table}]\n{key} = {}\n", k.example),
                None => format!("{} = {}\n", k.name, k.example),
            };
            let f = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", k.name));
            assert_ne!(f, ProjectFile::default(), "{} changed nothing", k.name);
            resolve(Some(&f), None).unwrap_or_else(|e| panic!("{}: {e}", k.name));
        }
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse("contract = 1\nwsgi_app = \"x:y\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("djdd.toml: "), "{e}");
        assert!(e.contains("wsgi_app"), "{e}");
        let e = parse("[health]\npath = \"/\"\n").unwrap_err().to_string();
        assert!(e.contains("path"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            ("contract = 2", "key `contract`"),
            ("settings = \"my/settings\"", "key `settings`"),
            ("wsgi = \"demo.wsgi\"", "key `wsgi`"),
            ("wsgi = \"demo.wsgi:app;rm\"", "key `wsgi`"),
            ("manage = \"../manage.py\"", "key `manage`"),
            ("[health]\nurl = \"health\"", "key `health.url`"),
            ("[health]\nurl = \"/a b\"", "key `health.url`"),
            ("[health]\ntimeout = 0", "key `health.timeout`"),
            ("[build]\ncommands = [[]]", "key `build.commands`"),
            (
                "[build]\ncommands = [[\"manage.py\", \"x\"]]",
                "key `build.commands`",
            ),
            (
                "[build]\npython_packages = [\"-e .\"]",
                "key `build.python_packages`",
            ),
        ];
        for (text, key) in cases {
            let f = parse(text).unwrap();
            let e = resolve(Some(&f), None).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn settings_from_manage_py_variants() {
        assert_eq!(
            settings_from_manage_py("    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'a.b')")
                .as_deref(),
            Some("a.b")
        );
        assert_eq!(
            settings_from_manage_py("# os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'a.b')"),
            None
        );
        assert_eq!(
            settings_from_manage_py("os.environ['DJANGO_SETTINGS_MODULE'] = 'a.b'"),
            None
        );
    }

    #[test]
    fn debian_requirements_syntax() {
        let r = parse_debian_requirements(
            "venv-debian-requirements.txt",
            "# c\nlibpq-dev  build   # headers\nlibpq5 run\n\ngettext\ncurl run build\nmake both\r\n",
        )
        .unwrap();
        assert_eq!(r.len(), 5);
        assert_eq!((r[4].build, r[4].run), (true, true));
        assert_eq!(
            (r[0].package.as_str(), r[0].build, r[0].run, r[0].line),
            ("libpq-dev", true, false, 2)
        );
        assert_eq!((r[1].build, r[1].run), (false, true));
        assert_eq!((r[2].build, r[2].run), (true, true));
        assert_eq!((r[3].build, r[3].run), (true, true));
    }

    #[test]
    fn debian_requirements_errors_all_reported() {
        let errs = parse_debian_requirements(
            "src-debian-requirements.txt",
            "LibPQ build\nlibpq5 runtime\nlibpq5 run\nlibpq5 build\nlibpq4 (>= 15)\n",
        )
        .unwrap_err();
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(
            msgs[3].contains(":5: \"libpq4 (>= 15)\": version relations"),
            "{}",
            msgs[3]
        );
        assert!(
            msgs[0].starts_with("src-debian-requirements.txt:1: \"LibPQ\""),
            "{}",
            msgs[0]
        );
        assert!(msgs[1].contains(":2: `runtime`"), "{}", msgs[1]);
        assert!(
            msgs[2].contains(":4: libpq5 is listed again (first on line 3)"),
            "{}",
            msgs[2]
        );
    }
}
