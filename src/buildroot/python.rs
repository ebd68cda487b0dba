//! The Pythons of the Debian suites djdd builds for, and the one sentence
//! that explains an installer's failure caused by the build root's Python
//! (a requirement that needs another). Pure: reads installer output.

/// The Debian suites djdd builds for, with the Python each one's
/// `python3` is (Debian's python3-defaults).
pub const SUITE_PYTHONS: &[(&str, &str)] = &[("bookworm", "3.11"), ("trixie", "3.13")];

/// When pip failed because a requirement needs another Python than the
/// build root's, the one sentence that says so: which requirement needs
/// which Python, what this root has, and the `djdd init --suite` that has
/// one. Read from pip's own messages ("Ignored the following versions
/// that require a different python version: V Requires-Python S; ..."
/// followed by "Could not find a version that satisfies the requirement
/// R", or "Package 'P' requires a different Python: X not in 'S'").
pub fn python_hint(pip_output: &str, root_python: &str) -> Option<String> {
    let mut spec: Option<String> = None;
    let mut versions: Vec<String> = Vec::new();
    let mut requirement: Option<String> = None;
    for line in pip_output.lines() {
        let line = line.trim().trim_start_matches("ERROR: ");
        if let Some(rest) = line.strip_prefix(
            "Ignored the following versions that require a different python version: ",
        ) {
            for item in rest.split("; ") {
                if let Some((v, s)) = item.split_once(" Requires-Python ") {
                    versions.push(v.trim().to_string());
                    spec = Some(s.trim().to_string());
                }
            }
        } else if let Some(rest) =
            line.strip_prefix("Could not find a version that satisfies the requirement ")
        {
            let r = rest.split(" (from versions").next().unwrap_or(rest);
            requirement.get_or_insert(r.trim().to_string());
        } else if let Some(rest) = line
            .trim_start_matches("cause: ")
            .strip_prefix("Because the current Python version (")
        {
            // uv: "Because the current Python version (3.11.2) does not
            // satisfy Python>=3.12 and django>=6.0,<=6.0.10 depends on
            // Python>=3.12, we can conclude that ... cannot be used."
            if let Some((_, after)) = rest.split_once(") does not satisfy Python") {
                let s = after.split(" and ").next().unwrap_or(after);
                spec = Some(s.trim().trim_end_matches(',').to_string());
            }
        } else if let Some(rest) = line.split_once("you require ").map(|(_, r)| r) {
            // uv: "... and you require django>=6.0,<6.1, we can conclude".
            if let Some((r, _)) = rest.split_once(", we can conclude") {
                requirement.get_or_insert(r.trim().to_string());
            }
        } else if let Some(rest) = line.strip_prefix("Package '") {
            if let Some((pkg, tail)) = rest.split_once("' requires a different Python: ") {
                if let Some((_, s)) = tail.split_once(" not in '") {
                    requirement.get_or_insert(pkg.to_string());
                    spec = Some(s.trim_end_matches('\'').to_string());
                }
            }
        }
    }
    let spec = spec?;
    let what = requirement.unwrap_or_else(|| "a requirement".to_string());
    let ignored = if versions.is_empty() {
        String::new()
    } else {
        format!(" (pip skipped {} for that)", versions.join(", "))
    };
    let fix = suite_for(&spec);
    Some(format!(
        "{what} needs Python {spec}{ignored}, and this build root has Python {root_python}: {fix}"
    ))
}

/// Which build root has a Python that meets `spec` (a Requires-Python
/// specifier set), as a sentence: the first suite djdd knows whose Python
/// does, or that none has such a Python.
pub fn suite_for(spec: &str) -> String {
    SUITE_PYTHONS
        .iter()
        .find(|(_, py)| python_satisfies(py, spec))
        .map(|(suite, py)| {
            format!(
                "a build root made with `djdd init --suite {suite}` has Python {py} (a new build dir: `djdd init --dir DIR --suite {suite}`)"
            )
        })
        .unwrap_or_else(|| "no Debian suite djdd knows has such a Python".to_string())
}

/// Whether Python `version` (`3.11`) meets a PEP 440 specifier set such as
/// `>=3.12`, `>=3.10,<4` or `~=3.12` (only what Requires-Python uses).
pub fn python_satisfies(version: &str, spec: &str) -> bool {
    fn parts(v: &str) -> Vec<u64> {
        v.split('.')
            .map(|p| p.trim().parse().unwrap_or(0))
            .collect()
    }
    fn cmp(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
        let n = a.len().max(b.len());
        let get = |v: &[u64], i| v.get(i).copied().unwrap_or(0);
        (0..n)
            .map(|i| get(a, i).cmp(&get(b, i)))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    }
    let v = parts(version);
    spec.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .all(|clause| {
            let (op, rest) = ["~=", "==", "!=", ">=", "<=", ">", "<"]
                .iter()
                .find_map(|op| clause.strip_prefix(op).map(|r| (*op, r.trim())))
                .unwrap_or(("==", clause));
            if let Some(prefix) = rest.strip_suffix(".*") {
                let p = parts(prefix);
                let same = v.len() >= p.len() && v[..p.len()] == p[..];
                return if op == "!=" { !same } else { same };
            }
            let w = parts(rest);
            let o = cmp(&v, &w);
            match op {
                ">=" => o.is_ge(),
                "<=" => o.is_le(),
                ">" => o.is_gt(),
                "<" => o.is_lt(),
                "!=" => o.is_ne(),
                "~=" => {
                    let upper: Vec<u64> = match w.len() {
                        0 | 1 => vec![u64::MAX],
                        n => {
                            let mut u = w[..n - 1].to_vec();
                            *u.last_mut().expect("n >= 2") += 1;
                            u
                        }
                    };
                    o.is_ge() && cmp(&v, &upper).is_lt()
                }
                _ => o.is_eq(),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pips_python_complaint_becomes_one_sentence() {
        // pip 23.0 (bookworm's python3.11 venv) on `Django>=6.0,<6.1`.
        let out = "Collecting Django<6.1,>=6.0\n\
ERROR: Ignored the following versions that require a different python version: 6.0 Requires-Python >=3.12; 6.0.1 Requires-Python >=3.12\n\
ERROR: Could not find a version that satisfies the requirement Django<6.1,>=6.0 (from versions: 1.1.3, 5.2.19)\n\
ERROR: No matching distribution found for Django<6.1,>=6.0\n";
        assert_eq!(
            python_hint(out, "3.11").unwrap(),
            "Django<6.1,>=6.0 needs Python >=3.12 (pip skipped 6.0, 6.0.1 for that), and this build root has Python 3.11: a build root made with `djdd init --suite trixie` has Python 3.13 (a new build dir: `djdd init --dir DIR --suite trixie`)"
        );
        // uv 0.13 (`uv pip compile --python ENV/bin/python`) on the same.
        let uv = "error: No solution found when resolving dependencies\n\
  cause: Because the current Python version (3.11.2) does not satisfy Python>=3.12 and django>=6.0,<=6.0.10 depends on Python>=3.12, we can conclude that django>=6.0,<=6.0.10 cannot be used.\n\
         And because only the following versions of django are available:\n\
             django<=6.0.10\n\
             django>=6.1\n\
         and you require django>=6.0,<6.1, we can conclude that your requirements are unsatisfiable.\n";
        assert_eq!(
            python_hint(uv, "3.11").unwrap(),
            "django>=6.0,<6.1 needs Python >=3.12, and this build root has Python 3.11: a build root made with `djdd init --suite trixie` has Python 3.13 (a new build dir: `djdd init --dir DIR --suite trixie`)"
        );
        let direct =
            "ERROR: Package 'wagtail' requires a different Python: 3.11.2 not in '>=3.12'\n";
        assert!(
            python_hint(direct, "3.11")
                .unwrap()
                .starts_with("wagtail needs Python >=3.12")
        );
        let old = "ERROR: Package 'x' requires a different Python: 3.13.5 not in '<3.9'\n";
        assert!(
            python_hint(old, "3.13")
                .unwrap()
                .ends_with("no Debian suite djdd knows has such a Python")
        );
        assert_eq!(
            python_hint("ERROR: No matching distribution found for nope\n", "3.11"),
            None
        );
    }

    #[test]
    fn python_specifiers() {
        for (v, s, want) in [
            ("3.11", ">=3.12", false),
            ("3.13", ">=3.12", true),
            ("3.13", ">=3.10,<3.13", false),
            ("3.11", ">=3.10, <3.13", true),
            ("3.11", "~=3.10", true),
            ("3.13", "~=3.12.0", false),
            ("3.12", "==3.12.*", true),
            ("3.11", "!=3.11.*", false),
            ("3.11", ">3.11", false),
        ] {
            assert_eq!(python_satisfies(v, s), want, "{v} {s}");
        }
    }
}
