//! The Python the project needs, and so the build root's Debian release:
//! Django's version in the requirements (Django 6 needs Python >= 3.12),
//! `requires-python` in pyproject.toml, uv.lock or pylock.toml. bookworm's
//! Python is 3.11, trixie's 3.13 (README, "Debian releases").
//!
//! Pure.

use crate::check::Tree;
use crate::config::project::REQUIREMENTS;
use crate::plan::requirements::{load_requirements, requirement_name};

use super::Adoption;
use super::detect::text;

/// The Debian releases a build root can be, with their Python.
const SUITES: &[(&str, Version)] = &[("bookworm", (3, 11)), ("trixie", (3, 13))];

/// The release the next commands name, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PythonNeed {
    pub suite: &'static str,
}

/// A version's major and minor number.
type Version = (u32, u32);

/// A `>=3.N`, `==3.N`, `~=3.N` lower bound and a `<3.N` upper bound
/// (exclusive) in a specifier set.
fn bounds(spec: &str) -> (Option<Version>, Option<Version>) {
    let (mut low, mut high) = (None, None);
    for clause in spec.split(',') {
        let c = clause.trim();
        let op_len = c.find(|ch: char| ch.is_ascii_digit()).unwrap_or(c.len());
        let (op, v) = (c[..op_len].trim(), &c[op_len..]);
        let mut parts = v.split('.').map(|p| p.trim_end_matches('*').parse::<u32>());
        let major = match parts.next() {
            Some(Ok(m)) => m,
            _ => continue,
        };
        let minor = match parts.next() {
            Some(Ok(m)) => m,
            _ => 0,
        };
        match op {
            ">=" | "==" | "~=" | "===" => low = low.max(Some((major, minor))),
            ">" => low = low.max(Some((major, minor + 1))),
            "<" => high = Some(high.map_or((major, minor), |h: Version| h.min((major, minor)))),
            "<=" => high = Some((major, minor + 1)),
            _ => {}
        }
    }
    (low, high)
}

/// Django's specifier in the requirement files (constraints included).
fn django_spec(tree: &dyn Tree) -> Option<String> {
    let mut read = |p: &str| Ok(tree.read(p));
    let reqs = load_requirements(REQUIREMENTS, &mut read).ok()?;
    let mut best: Option<String> = None;
    for f in reqs.files.values() {
        for line in &f.lines {
            if requirement_name(line).as_deref() != Some("django") {
                continue;
            }
            let body = line.split(';').next().unwrap_or(line);
            let at = body
                .find(|c: char| "=<>~!".contains(c))
                .unwrap_or(body.len());
            let spec = body[at..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string();
            if !spec.is_empty() && best.as_ref().is_none_or(|b| !b.starts_with("==")) {
                best = Some(spec);
            }
        }
    }
    best
}

/// `requires-python` of pyproject.toml's [project], uv.lock or
/// pylock.toml, with the file it is in.
fn requires_python(tree: &dyn Tree) -> Option<(String, &'static str)> {
    for file in ["pyproject.toml", "uv.lock", "pylock.toml"] {
        let Some(t) = text(tree, file) else { continue };
        let Ok(v) = toml::from_str::<toml::Value>(&t) else {
            continue;
        };
        let found = v
            .get("requires-python")
            .or_else(|| v.get("project").and_then(|p| p.get("requires-python")))
            .and_then(|x| x.as_str());
        if let Some(s) = found {
            return Some((s.to_string(), file));
        }
    }
    None
}

/// The Python the project needs and the release that has it.
pub(crate) fn need(tree: &dyn Tree, a: &mut Adoption) -> PythonNeed {
    let mut low: Option<Version> = None;
    let mut high: Option<Version> = None;
    let mut why = Vec::new();
    if let Some(spec) = django_spec(tree) {
        let (l, _) = bounds(&spec);
        let need = match l.map(|v| v.0) {
            Some(m) if m >= 6 => Some((3, 12)),
            Some(5) => Some((3, 10)),
            Some(4) => Some((3, 8)),
            _ => None,
        };
        if let Some(n) = need {
            low = low.max(Some(n));
            why.push(format!("Django{spec} needs Python >= {}.{}", n.0, n.1));
        } else {
            why.push(format!("Django{spec}"));
        }
    }
    if let Some((spec, file)) = requires_python(tree) {
        let (l, h) = bounds(&spec);
        low = low.max(l);
        high = h;
        why.push(format!("{file}'s requires-python is {spec}"));
    }
    let fits = |py: Version| low.is_none_or(|l| py >= l) && high.is_none_or(|h| py < h);
    let fitting: Vec<&str> = SUITES
        .iter()
        .filter(|(_, py)| fits(*py))
        .map(|(s, _)| *s)
        .collect();
    let shown = |s: &str| {
        let (_, py) = SUITES.iter().find(|(n, _)| *n == s).unwrap();
        format!("{s} (Python {}.{})", py.0, py.1)
    };
    let why = if why.is_empty() {
        "no Django version or requires-python found".to_string()
    } else {
        why.join("; ")
    };
    let suite = match fitting.as_slice() {
        [] => {
            a.undecided(
                format!("the build root's release: {why}, and neither bookworm's Python 3.11 nor trixie's 3.13 fits"),
                "the requirements' versions, or requires-python",
            );
            "trixie"
        }
        [only] => {
            a.found
                .push(format!("Python: {why}: a {} build root", shown(only)));
            only
        }
        _ => {
            a.found.push(format!(
                "Python: {why}: a {} or {} build root (trixie is Debian's stable release)",
                shown("trixie"),
                shown("bookworm")
            ));
            "trixie"
        }
    };
    PythonNeed { suite }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specifier_bounds() {
        assert_eq!(bounds(">=3.12"), (Some((3, 12)), None));
        assert_eq!(bounds(">=3.10,<3.13"), (Some((3, 10)), Some((3, 13))));
        assert_eq!(bounds("==6.0.1"), (Some((6, 0)), None));
        assert_eq!(bounds("~=5.2"), (Some((5, 2)), None));
        assert_eq!(bounds(">=5.2,<6.1"), (Some((5, 2)), Some((6, 1))));
        assert_eq!(bounds(""), (None, None));
    }
}
