//! What adopt reads from the project's Python files, with simple text
//! rules (no Python runs): manage.py's place and its settings module,
//! the settings' `WSGI_APPLICATION`/`ASGI_APPLICATION` and the
//! environment variables they read, and celery apps (`NAME = Celery(`).
//!
//! Pure: reads through [`Tree`] and the file list it is given.

use crate::check::Tree;
use crate::config::project::{is_module, settings_from_manage_py};
use crate::error::{Error, Result};

/// How deep manage.py may be: `a/b/c/manage.py` is three.
pub const MANAGE_DEPTH: usize = 3;

/// The file adopt writes beside the project's settings.
pub const SETTINGS_FILE: &str = "djdd_settings.py";

pub(super) fn text(tree: &dyn Tree, path: &str) -> Option<String> {
    tree.read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// `dir/rel` (`rel` when `dir` is the root).
pub(super) fn join(dir: &str, rel: &str) -> String {
    if dir.is_empty() {
        rel.to_string()
    } else {
        format!("{dir}/{rel}")
    }
}

/// The manage.py candidates: every `manage.py` at most [`MANAGE_DEPTH`]
/// directories deep.
pub fn manage_candidates(files: &[String]) -> Vec<String> {
    files
        .iter()
        .filter(|f| {
            (f.as_str() == "manage.py" || f.ends_with("/manage.py"))
                && f.matches('/').count() <= MANAGE_DEPTH
        })
        .cloned()
        .collect()
}

/// manage.py's path: the one chosen (`--manage`, or djdd.toml's `manage`),
/// else the only candidate.
pub fn find_manage(files: &[String], chosen: Option<&str>) -> Result<String> {
    let candidates = manage_candidates(files);
    if let Some(c) = chosen {
        if files.iter().any(|f| f == c) && (c == "manage.py" || c.ends_with("/manage.py")) {
            return Ok(c.to_string());
        }
        return Err(Error::invalid_hint(
            format!("manage {c:?}"),
            "is not a manage.py of the checkout",
            format!(
                "name one of: {}",
                if candidates.is_empty() {
                    "(none found)".to_string()
                } else {
                    candidates.join(", ")
                }
            ),
        ));
    }
    match candidates.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::invalid_hint(
            "the checkout",
            format!(
                "has no manage.py (looked {MANAGE_DEPTH} directories deep): is it a Django project?"
            ),
            "run djdd adopt in the project's checkout, or name manage.py with --manage PATH (djdd.toml's key `manage`)",
        )),
        many => Err(Error::invalid_hint(
            "the checkout",
            format!("has {} manage.py files: {}", many.len(), many.join(" and ")),
            format!(
                "choose one with --manage PATH (djdd.toml's key `manage`), e.g. djdd adopt --manage {}",
                many[0]
            ),
        )),
    }
}

/// A module's source file below the project directory:
/// `dir/a/b.py` or `dir/a/b/__init__.py`.
pub fn module_file(tree: &dyn Tree, project_dir: &str, module: &str) -> Option<String> {
    crate::check::module_file(tree, project_dir, module)
}

/// The dotted module of a `.py` file below the project directory.
pub fn module_of(project_dir: &str, path: &str) -> Option<String> {
    let rel = if project_dir.is_empty() {
        path
    } else {
        path.strip_prefix(project_dir)?.strip_prefix('/')?
    };
    let rel = rel.strip_suffix(".py")?;
    let rel = rel.strip_suffix("/__init__").unwrap_or(rel);
    let m = rel.replace('/', ".");
    is_module(&m).then_some(m)
}

/// The project's settings module and how it was chosen.
pub struct Settings {
    pub module: String,
    pub why: String,
}

/// Settings modules whose last part names a deployment that is not
/// production: a `production` or `prod` beside them is preferred.
const NOT_PRODUCTION: &[&str] = &[
    "settings",
    "base",
    "common",
    "local",
    "dev",
    "development",
    "defaults",
];
const PRODUCTION: &[&str] = &["production", "prod"];

/// The project's settings module: `--settings`, else manage.py's
/// `DJANGO_SETTINGS_MODULE` (or the production module of its package),
/// else the only `settings.py` or `settings/` package below the project
/// directory.
pub fn project_settings(
    tree: &dyn Tree,
    files: &[String],
    project_dir: &str,
    manage: &str,
    chosen: Option<&str>,
) -> Result<Settings> {
    if let Some(m) = chosen {
        if !is_module(m) || module_file(tree, project_dir, m).is_none() {
            return Err(Error::invalid_hint(
                format!("--settings {m:?}"),
                format!(
                    "is not a module of the project directory {}",
                    shown_dir(project_dir)
                ),
                "name the settings module as DJANGO_SETTINGS_MODULE would, e.g. mysite.settings",
            ));
        }
        return Ok(Settings {
            module: m.to_string(),
            why: "--settings".into(),
        });
    }
    let named = text(tree, manage).and_then(|t| settings_from_manage_py(&t));
    if let Some(m) = named {
        if module_file(tree, project_dir, &m).is_none() {
            return Err(Error::invalid_hint(
                format!("{manage}: DJANGO_SETTINGS_MODULE {m:?}"),
                format!(
                    "is not a module of the project directory {}",
                    shown_dir(project_dir)
                ),
                "choose the settings module with --settings MODULE",
            ));
        }
        if let Some(p) = production_beside(tree, project_dir, &m) {
            return Ok(Settings {
                why: format!(
                    "{manage} names {m}; {p} beside it is the production one (another: --settings MODULE)"
                ),
                module: p,
            });
        }
        return Ok(Settings {
            module: m,
            why: format!("{manage}'s DJANGO_SETTINGS_MODULE"),
        });
    }
    let found: Vec<String> = files
        .iter()
        .filter(|f| f.ends_with("/settings.py") || f.ends_with("/settings/__init__.py"))
        .filter_map(|f| module_of(project_dir, f))
        .collect();
    match found.as_slice() {
        [one] => {
            let module = production_beside(tree, project_dir, one).unwrap_or_else(|| one.clone());
            Ok(Settings {
                why: format!("the only settings module below {}", shown_dir(project_dir)),
                module,
            })
        }
        _ => Err(Error::invalid_hint(
            manage,
            format!(
                "names no settings module (os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", ...)) and {}",
                if found.is_empty() {
                    "no settings.py was found".to_string()
                } else {
                    format!("there are several: {}", found.join(", "))
                }
            ),
            "choose it with --settings MODULE",
        )),
    }
}

fn shown_dir(project_dir: &str) -> String {
    if project_dir.is_empty() {
        "(the repository root)".into()
    } else {
        format!("{project_dir}/")
    }
}

/// `M.production` (or `.prod`) when M is a settings package holding one,
/// or a sibling of M in its package when M's last part names a
/// development or base module.
fn production_beside(tree: &dyn Tree, project_dir: &str, module: &str) -> Option<String> {
    let (package, last) = match module.rsplit_once('.') {
        Some((p, l)) => (Some(p), l),
        None => (None, module),
    };
    let file = module_file(tree, project_dir, module)?;
    let mut candidates = Vec::new();
    if file.ends_with("/__init__.py") {
        candidates.extend(PRODUCTION.iter().map(|p| format!("{module}.{p}")));
    }
    if let Some(pkg) = package {
        if NOT_PRODUCTION.contains(&last) {
            candidates.extend(PRODUCTION.iter().map(|p| format!("{pkg}.{p}")));
        }
    }
    candidates
        .into_iter()
        .find(|c| c != module && module_file(tree, project_dir, c).is_some())
}

/// The settings sources: the module's file and, when it is in a package,
/// every other module of that package (settings split into base.py and
/// production.py), but not the file adopt writes. (path, text) pairs.
pub fn settings_sources(
    tree: &dyn Tree,
    files: &[String],
    project_dir: &str,
    module: &str,
) -> Vec<(String, String)> {
    let Some(file) = module_file(tree, project_dir, module) else {
        return Vec::new();
    };
    let mut paths = vec![file.clone()];
    if module.contains('.') {
        let dir = &file[..file.rfind('/').unwrap_or(0)];
        paths.extend(
            files
                .iter()
                .filter(|f| {
                    f.ends_with(".py")
                        && f.rsplit_once('/').map(|(d, _)| d) == Some(dir)
                        && !f.ends_with(&format!("/{SETTINGS_FILE}"))
                        && **f != file
                })
                .cloned(),
        );
    }
    paths
        .into_iter()
        .filter_map(|p| text(tree, &p).map(|t| (p, t)))
        .collect()
}

/// The string a top-level `NAME = "value"` assigns, the last one of the
/// sources, with the file it is in.
pub fn setting_string(sources: &[(String, String)], name: &str) -> Option<(String, String)> {
    let mut found = None;
    for (path, text) in sources {
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(name) else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix('=') else {
                continue;
            };
            if let Some(value) = string_literal(rest.trim_start()) {
                found = Some((value, path.clone()));
            }
        }
    }
    found
}

/// A Python string literal at the start of `s` (no escapes, no prefix).
fn string_literal(s: &str) -> Option<String> {
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &s[1..];
    let end = rest.find(quote)?;
    let v = &rest[..end];
    (!v.contains('\\')).then(|| v.to_string())
}

/// `a.b.c` (Django's dotted path to a callable) as `a.b:c`.
pub fn dotted_to_callable(path: &str) -> Option<String> {
    let (m, attr) = path.rsplit_once('.')?;
    (is_module(m) && is_module(attr)).then(|| format!("{m}:{attr}"))
}

/// A celery app defined in a module of the project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CeleryApp {
    /// `MODULE:APP`.
    pub spec: String,
    pub file: String,
    /// The settings namespace it reads Django's settings with
    /// (`config_from_object("django.conf:settings", namespace="CELERY")`):
    /// `Some("CELERY")`, `Some("")` without one, `None` when it does not
    /// read Django's settings.
    pub namespace: Option<String>,
}

/// The celery apps in the project's `celery.py` and `celery_app.py`
/// files, and in the module MODULE names when given (`-A MODULE`).
pub fn celery_apps(
    tree: &dyn Tree,
    files: &[String],
    project_dir: &str,
    module: Option<&str>,
) -> Vec<CeleryApp> {
    let mut paths: Vec<String> = files
        .iter()
        .filter(|f| {
            let inside = project_dir.is_empty() || f.starts_with(&format!("{project_dir}/"));
            inside && (f.ends_with("/celery.py") || f.ends_with("/celery_app.py"))
        })
        .cloned()
        .collect();
    if let Some(m) = module {
        let m = m.split(':').next().unwrap_or(m);
        for candidate in [m.to_string(), format!("{m}.celery")] {
            if let Some(f) = module_file(tree, project_dir, &candidate) {
                if !paths.contains(&f) {
                    paths.insert(0, f);
                }
            }
        }
    }
    let mut out = Vec::new();
    for path in paths {
        let Some(text) = text(tree, &path) else {
            continue;
        };
        let Some(module) = module_of(project_dir, &path) else {
            continue;
        };
        for line in text.lines() {
            let Some((name, rest)) = line.split_once('=') else {
                continue;
            };
            let name = name.trim();
            if line.starts_with(char::is_whitespace)
                || !is_module(name)
                || name.contains('.')
                || !rest.trim_start().starts_with("Celery(")
            {
                continue;
            }
            out.push(CeleryApp {
                spec: format!("{module}:{name}"),
                file: path.clone(),
                namespace: celery_namespace(&text),
            });
        }
    }
    out
}

/// The namespace of `config_from_object("django.conf:settings", ...)`.
fn celery_namespace(text: &str) -> Option<String> {
    let at = text.find("config_from_object(")?;
    let call = &text[at..];
    let call = &call[..call.find(')').unwrap_or(call.len())];
    if !call.contains("django.conf:settings") {
        return None;
    }
    let Some(i) = call.find("namespace") else {
        return Some(String::new());
    };
    let rest = call[i + "namespace".len()..]
        .trim_start()
        .strip_prefix('=')?;
    let ns = string_literal(rest.trim_start())?;
    (!ns.is_empty()
        && ns
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
    .then_some(ns)
}

/// An environment variable the project's settings read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvRead {
    pub name: String,
    /// `os.environ["X"]`: the import fails without it.
    pub required: bool,
    /// `FILE:LINE` of its first read.
    pub at: String,
    /// The setting its first read's line assigns (`SECRET_KEY = ...`).
    pub setting: Option<String>,
}

/// How a line reads a variable: the call before the name, and whether
/// the import fails without it (`None`: unless the call gives a default).
const READS: &[(&str, Option<bool>)] = &[
    ("environ[", Some(true)),
    ("environ.get(", Some(false)),
    ("getenv(", Some(false)),
    ("environ.setdefault(", Some(false)),
    // django-environ (`env = environ.Env()`) and python-decouple.
    ("env(", None),
    ("env.str(", None),
    ("env.bool(", None),
    ("env.int(", None),
    ("env.list(", None),
    ("env.url(", None),
    ("config(", None),
];

/// The variables the sources read (`os.environ["X"]`,
/// `os.environ.get("X")`, `os.getenv("X")`, django-environ's `env("X")`,
/// python-decouple's `config("X")`), in order of their first read.
pub fn env_reads(sources: &[(String, String)]) -> Vec<EnvRead> {
    let mut out: Vec<EnvRead> = Vec::new();
    for (path, text) in sources {
        for (i, line) in text.lines().enumerate() {
            let code = line.split('#').next().unwrap_or("");
            for (pattern, required) in READS {
                let mut from = 0;
                while let Some(at) = code[from..].find(pattern) {
                    let start = from + at;
                    from = start + pattern.len();
                    // `env(` and `config(` only as names of their own
                    // (not `getenv(`, not `self.config(`).
                    let bare = pattern.starts_with("env(")
                        || pattern.starts_with("env.")
                        || pattern.starts_with("config(");
                    let before = code[..start].chars().next_back();
                    if bare
                        && before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                    {
                        continue;
                    }
                    let rest = &code[from..];
                    let Some(name) = string_literal(rest.trim_start()) else {
                        continue;
                    };
                    let ok = !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if !ok {
                        continue;
                    }
                    let required = required.unwrap_or_else(|| !rest.contains("default"));
                    match out.iter_mut().find(|r| r.name == name) {
                        Some(r) => r.required |= required,
                        None => out.push(EnvRead {
                            name,
                            required,
                            at: format!("{path}:{}", i + 1),
                            setting: line
                                .split_once('=')
                                .map(|(l, _)| l.trim())
                                .filter(|l| {
                                    is_module(l) && !l.contains('.') && !line.starts_with(' ')
                                })
                                .map(str::to_string),
                        }),
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::MapTree;
    use std::collections::BTreeMap;

    fn tree(files: &[(&str, &str)]) -> (MapTree, Vec<String>) {
        let map: BTreeMap<String, String> = files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        let list = map.keys().cloned().collect();
        (MapTree(map), list)
    }

    const MANAGE: &str =
        "os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"config.settings.local\")\n";

    #[test]
    fn manage_py_up_to_three_deep() {
        let (_, files) = tree(&[("a/b/c/manage.py", ""), ("a/b/c/d/manage.py", "")]);
        assert_eq!(find_manage(&files, None).unwrap(), "a/b/c/manage.py");
        let (_, files) = tree(&[("x/manage.py", ""), ("y/manage.py", "")]);
        let e = find_manage(&files, None).unwrap_err().to_string();
        assert!(e.contains("x/manage.py and y/manage.py"), "{e}");
        assert!(
            e.contains("--manage PATH (djdd.toml's key `manage`)"),
            "{e}"
        );
        assert_eq!(
            find_manage(&files, Some("y/manage.py")).unwrap(),
            "y/manage.py"
        );
        assert!(find_manage(&files, Some("z/manage.py")).is_err());
        let e = find_manage(&[], None).unwrap_err().to_string();
        assert!(e.contains("has no manage.py"), "{e}");
    }

    #[test]
    fn the_production_module_of_a_settings_package() {
        let (t, files) = tree(&[
            ("manage.py", MANAGE),
            ("config/__init__.py", ""),
            ("config/settings/__init__.py", ""),
            (
                "config/settings/base.py",
                "WSGI_APPLICATION = 'config.wsgi.application'\n",
            ),
            ("config/settings/local.py", "from .base import *\n"),
            (
                "config/settings/production.py",
                "from .base import *\nX = os.environ['DJANGO_X']\n",
            ),
        ]);
        let s = project_settings(&t, &files, "", "manage.py", None).unwrap();
        assert_eq!(s.module, "config.settings.production");
        let sources = settings_sources(&t, &files, "", &s.module);
        assert_eq!(sources[0].0, "config/settings/production.py");
        assert_eq!(
            setting_string(&sources, "WSGI_APPLICATION").unwrap().0,
            "config.wsgi.application"
        );
        let reads = env_reads(&sources);
        assert_eq!(reads[0].name, "DJANGO_X");
        assert!(reads[0].required);
        let reads = env_reads(&[(
            "s.py".into(),
            "A = env('A')\nB = env.bool('B', default=False)\nC = os.getenv('C')\nD = config('D', default='x')\nE = self.config('E')\n".into(),
        )]);
        let got: Vec<(&str, bool)> = reads
            .iter()
            .map(|r| (r.name.as_str(), r.required))
            .collect();
        assert_eq!(got, [("A", true), ("B", false), ("C", false), ("D", false)]);
        let chosen = project_settings(&t, &files, "", "manage.py", Some("config.settings.local"));
        assert_eq!(chosen.unwrap().module, "config.settings.local");
        assert!(project_settings(&t, &files, "", "manage.py", Some("nope.x")).is_err());
    }

    #[test]
    fn celery_apps_and_their_namespace() {
        let (t, files) = tree(&[
            (
                "src/shop/celery.py",
                "from celery import Celery\napp = Celery('shop')\napp.config_from_object('django.conf:settings', namespace='CELERY')\n",
            ),
            (
                "src/other/celery_app.py",
                "worker = Celery()\nworker.config_from_object(\"django.conf:settings\")\n",
            ),
        ]);
        let apps = celery_apps(&t, &files, "src", None);
        assert_eq!(apps.len(), 2);
        assert_eq!(apps[0].spec, "other.celery_app:worker");
        assert_eq!(apps[0].namespace.as_deref(), Some(""));
        assert_eq!(apps[1].spec, "shop.celery:app");
        assert_eq!(apps[1].namespace.as_deref(), Some("CELERY"));
        assert_eq!(
            module_of("src", "src/shop/__init__.py").as_deref(),
            Some("shop")
        );
        assert_eq!(
            dotted_to_callable("a.wsgi.application").as_deref(),
            Some("a.wsgi:application")
        );
    }
}
