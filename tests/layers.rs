//! The layers `src/lib.rs` draws hold: every `crate::MODULE` path in a
//! module of `src/` names its own module or one of a floor below. A path
//! in a comment does not count; `main.rs` stands above every floor.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

/// The floors of the drawing in src/lib.rs, top first: module -> floor
/// (0 the top).
fn floors(lib: &str) -> BTreeMap<String, usize> {
    let block = lib
        .split("//! ```text\n")
        .nth(1)
        .and_then(|rest| rest.split("//! ```\n").next())
        .expect("src/lib.rs draws the layers in a ```text block");
    let mut floors = BTreeMap::new();
    for (i, line) in block.lines().enumerate() {
        let line = line.trim_start_matches("//!").trim();
        let modules = line.split("  ").next().unwrap_or("");
        for m in modules.split_whitespace() {
            assert!(
                floors.insert(m.to_string(), i).is_none(),
                "{m} is drawn twice"
            );
        }
    }
    floors
}

/// The crate modules a file's code names (`crate::X`), with line numbers.
fn imports(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name.starts_with(|c: char| c.is_ascii_lowercase()) {
                out.push((n + 1, name));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Violations of the drawing in the tree under SRC: `file:line: a -> b`.
fn upward(src: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let floors = floors(&lib);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut bad = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(&own) = floors.get(&module) else {
            bad.push(format!(
                "{}: module {module} is not drawn in src/lib.rs",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&f).unwrap();
        for (line, to) in imports(&text) {
            if to == module {
                continue;
            }
            match floors.get(&to) {
                Some(&floor) if floor > own => {}
                Some(_) => bad.push(format!("{}:{line}: {module} -> {to}", rel.display())),
                None => bad.push(format!(
                    "{}:{line}: {to} is not drawn in src/lib.rs",
                    rel.display()
                )),
            }
        }
    }
    bad
}

#[test]
fn every_import_points_down() {
    let bad = upward(&common::repo_root().join("src"));
    assert!(
        bad.is_empty(),
        "imports that point up or sideways:\n{}",
        bad.join("\n")
    );
}

/// The check itself sees an upward import, a sideways one and an
/// undrawn module, and passes over a path in a comment.
#[test]
fn the_check_sees_an_import_that_points_up() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(
        src.join("lib.rs"),
        "//! ```text\n//! top  the top\n//! mid other\n//! low\n//! ```\n",
    )
    .unwrap();
    std::fs::write(
        src.join("low.rs"),
        "// crate::top in a comment\nuse crate::low::x;\n",
    )
    .unwrap();
    std::fs::create_dir(src.join("mid")).unwrap();
    std::fs::write(
        src.join("mid/mod.rs"),
        "use crate::low::x;\nfn f() { crate::top::g(); }\n",
    )
    .unwrap();
    std::fs::write(src.join("other.rs"), "use crate::mid::y;\n").unwrap();
    std::fs::write(
        src.join("top.rs"),
        "use crate::mid::y;\nuse crate::nowhere::z;\n",
    )
    .unwrap();
    assert_eq!(
        upward(src),
        [
            "mid/mod.rs:2: mid -> top",
            "other.rs:1: other -> mid",
            "top.rs:2: nowhere is not drawn in src/lib.rs",
        ]
    );
}
