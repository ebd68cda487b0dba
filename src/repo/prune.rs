//! Which packages `djdd publish --prune` removes from an index.
//!
//! djdd's packages come in three kinds, told apart by name: NAME-site-VARIANT
//! (one package name per variant, a new version per build), NAME-env-HASH
//! and NAME-src-HASH (a new package name per virtualenv or source). Pruning
//! keeps the newest N versions of each site package (per architecture,
//! versions ordered by deb-version(7)), then every env and src package that a
//! kept package reaches through Depends/Pre-Depends (relations as in Debian
//! Policy §7.1, version constraints honoured); other env and src packages go.
//! Packages of any other kind are never pruned. Pure: entries in, keys out.

use std::collections::{BTreeMap, BTreeSet};

use crate::deb::version::{compare_versions, satisfies};
use crate::repo::index::{Entry, Key};

/// The three kinds of package djdd builds, read from a package name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Env,
    Src,
    Site,
    /// Not a djdd package name: never pruned.
    Other,
}

/// The kind of a package from its name: `NAME-site-VARIANT`,
/// `NAME-env-HASH`, `NAME-src-HASH`.
pub fn kind_of(name: &str) -> Kind {
    if let Some((prefix, hash)) = name.rsplit_once('-') {
        if !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_alphanumeric()) {
            if prefix.ends_with("-env") && prefix.len() > 4 {
                return Kind::Env;
            }
            if prefix.ends_with("-src") && prefix.len() > 4 {
                return Kind::Src;
            }
        }
    }
    match name.find("-site-") {
        Some(i) if i > 0 && i + 6 < name.len() => Kind::Site,
        _ => Kind::Other,
    }
}

/// One alternative of a relation field: name, and optional (op, version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    pub constraint: Option<(String, String)>,
}

/// Parses a Depends-style field into its alternatives (all of them: for
/// pruning, any alternative may be the one installed).
pub fn parse_relations(field: &str) -> Vec<Relation> {
    let mut out = Vec::new();
    for alt in field.split([',', '|']) {
        let alt = alt.trim();
        if alt.is_empty() {
            continue;
        }
        let name_end = alt
            .find(|c: char| c.is_whitespace() || c == '(' || c == '[' || c == '<')
            .unwrap_or(alt.len());
        let name = alt[..name_end].split(':').next().unwrap_or("").to_string();
        let constraint = alt.find('(').and_then(|i| {
            let inner = alt[i + 1..].split(')').next()?.trim();
            let op_end = inner
                .find(|c: char| !matches!(c, '<' | '>' | '='))
                .unwrap_or(inner.len());
            let (op, ver) = inner.split_at(op_end);
            Some((op.trim().to_string(), ver.trim().to_string()))
        });
        out.push(Relation { name, constraint });
    }
    out
}

/// The keys to remove so that each site package keeps its newest `keep`
/// versions and only the env/src packages those versions depend on remain.
pub fn prune(entries: &[Entry], keep: usize) -> BTreeSet<Key> {
    // Site versions, newest first, per (name, arch).
    let mut sites: BTreeMap<(&str, &str), Vec<&Entry>> = BTreeMap::new();
    for e in entries {
        if kind_of(&e.key.name) == Kind::Site {
            sites.entry((&e.key.name, &e.key.arch)).or_default().push(e);
        }
    }
    let mut remove = BTreeSet::new();
    let mut kept: Vec<&Entry> = entries
        .iter()
        .filter(|e| kind_of(&e.key.name) == Kind::Other)
        .collect();
    for versions in sites.values_mut() {
        versions.sort_by(|a, b| compare_versions(&b.key.version, &a.key.version));
        for (i, e) in versions.iter().enumerate() {
            if i < keep {
                kept.push(e);
            } else {
                remove.insert(e.key.clone());
            }
        }
    }
    // Env and src packages reached through Depends from what is kept.
    let mut reached: BTreeSet<&Key> = BTreeSet::new();
    let mut queue: Vec<&Entry> = kept;
    while let Some(e) = queue.pop() {
        for field in ["Pre-Depends", "Depends"] {
            let Some(value) = e.stanza.get(field) else {
                continue;
            };
            for rel in parse_relations(value) {
                for dep in entries.iter().filter(|d| {
                    d.key.name == rel.name
                        && matches!(kind_of(&d.key.name), Kind::Env | Kind::Src)
                        && rel
                            .constraint
                            .as_ref()
                            .is_none_or(|(op, v)| satisfies(&d.key.version, op, v))
                }) {
                    if reached.insert(&dep.key) {
                        queue.push(dep);
                    }
                }
            }
        }
    }
    for e in entries {
        if matches!(kind_of(&e.key.name), Kind::Env | Kind::Src) && !reached.contains(&e.key) {
            remove.insert(e.key.clone());
        }
    }
    remove
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::control::Paragraph;
    use crate::deb::read::hash_bytes;

    fn entry(name: &str, version: &str, depends: &str) -> Entry {
        let mut text = format!("Package: {name}\nVersion: {version}\nArchitecture: all\n");
        if !depends.is_empty() {
            text.push_str(&format!("Depends: {depends}\n"));
        }
        let c = Paragraph::parse(&text, "t").unwrap();
        Entry::for_deb(&c, &format!("pool/{name}_{version}.deb"), &hash_bytes(b""))
    }

    #[test]
    fn kinds_from_names() {
        assert_eq!(kind_of("demo-env-1a2b3c"), Kind::Env);
        assert_eq!(kind_of("demo-src-abc123"), Kind::Src);
        assert_eq!(kind_of("demo-site-blue"), Kind::Site);
        assert_eq!(kind_of("my-app-site-red-2"), Kind::Site);
        assert_eq!(kind_of("nginx"), Kind::Other);
        assert_eq!(kind_of("env-abc"), Kind::Other);
        assert_eq!(kind_of("libc6"), Kind::Other);
    }

    #[test]
    fn relations_parse() {
        let r = parse_relations("a (>= 1.0), b:any | c (= 2) [amd64], d <!nocheck>");
        let names: Vec<_> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert_eq!(r[0].constraint, Some((">=".into(), "1.0".into())));
        assert_eq!(r[2].constraint, Some(("=".into(), "2".into())));
        assert_eq!(r[3].constraint, None);
    }

    #[test]
    fn keeps_newest_sites_and_what_they_need() {
        let entries = vec![
            entry("demo-env-aaa", "1", ""),
            entry("demo-env-bbb", "1", ""),
            entry("demo-src-111", "1", "demo-env-aaa"),
            entry("demo-src-222", "1", ""),
            entry("demo-src-333", "1", ""),
            entry("demo-site-blue", "1.9", "demo-src-111, demo-env-aaa"),
            entry("demo-site-blue", "1.10", "demo-src-222, demo-env-bbb"),
            entry("demo-site-blue", "1.10~rc1", "demo-src-333, demo-env-bbb"),
            entry("demo-site-red", "5", "demo-src-111"),
            entry("nginx", "1", ""),
        ];
        let removed: Vec<String> = prune(&entries, 1)
            .into_iter()
            .map(|k| format!("{} {}", k.name, k.version))
            .collect();
        // Blue keeps 1.10 (newest by deb-version, not by text); red keeps 5,
        // whose src-111 pulls env-aaa through the src package's Depends.
        assert_eq!(
            removed,
            [
                "demo-site-blue 1.10~rc1",
                "demo-site-blue 1.9",
                "demo-src-333 1"
            ]
        );
        let removed = prune(&entries, 3);
        assert!(removed.is_empty(), "{removed:?}");
    }

    #[test]
    fn version_constraints_pick_which_versions_stay() {
        let entries = vec![
            entry("demo-env-aaa", "1", ""),
            entry("demo-env-aaa", "2", ""),
            entry("demo-site-x", "1", "demo-env-aaa (= 2)"),
        ];
        let removed: Vec<_> = prune(&entries, 1).into_iter().collect();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].version, "1");
    }
}
