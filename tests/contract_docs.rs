//! docs/contract.md and the contract's code agree: the generated tables in
//! the document are exactly what `src/contract/` produces now.
//! `DJDD_UPDATE_DOCS=1 cargo test --test contract_docs` rewrites them.

mod common;

use djdd::contract::{self, VARIABLES, Variable};
use djdd::render::contract_docs;

fn doc_path() -> std::path::PathBuf {
    common::repo_root().join("docs/contract.md")
}

/// While `DJDD_UPDATE_DOCS` rewrites the document, the tests that read it
/// would race with the rewrite: they skip.
fn updating() -> bool {
    std::env::var_os("DJDD_UPDATE_DOCS").is_some()
}

#[test]
fn docs_match_code() {
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).expect("docs/contract.md");
    let fresh = contract_docs::update(&doc).expect("markers");
    if updating() {
        if fresh != doc {
            std::fs::write(&path, &fresh).expect("write docs/contract.md");
        }
        return;
    }
    assert!(
        fresh == doc,
        "docs/contract.md disagrees with src/contract/: run DJDD_UPDATE_DOCS=1 cargo test --test contract_docs (and review the diff)"
    );
}

#[test]
fn title_names_the_version() {
    if updating() {
        return;
    }
    let doc = std::fs::read_to_string(doc_path()).unwrap();
    let first = doc.lines().next().unwrap();
    assert_eq!(
        first,
        format!("# djdd deploy contract, version {}", contract::VERSION)
    );
}

#[test]
fn every_variable_is_in_the_doc() {
    if updating() {
        return;
    }
    let doc = std::fs::read_to_string(doc_path()).unwrap();
    for v in VARIABLES {
        assert!(
            doc.contains(&format!("| `{}` |", v.name)),
            "{} missing from docs/contract.md",
            v.name
        );
    }
}

/// Changing the document alone fails: an edited table cell is not what the
/// code generates.
#[test]
fn a_doc_edit_alone_is_detected() {
    if updating() {
        return;
    }
    let doc = std::fs::read_to_string(doc_path()).unwrap();
    let edited = doc.replacen(
        "postgres://{site}:{database_password}@127.0.0.1:5432/{site}",
        "postgres://{site}@localhost/{site}",
        1,
    );
    assert_ne!(edited, doc, "the doc must show DATABASE_URL's template");
    assert_ne!(contract_docs::update(&edited).unwrap(), edited);
    // A deleted row is detected too.
    let row = doc
        .lines()
        .find(|l| l.starts_with("| `LOG_DIR` |"))
        .expect("LOG_DIR row");
    let without = doc.replacen(&format!("{row}\n"), "", 1);
    assert_ne!(contract_docs::update(&without).unwrap(), without);
}

/// Changing the code alone fails: the committed document is not what a
/// changed variable list generates (a changed value, a new variable).
#[test]
fn a_code_change_alone_is_detected() {
    if updating() {
        return;
    }
    let doc = std::fs::read_to_string(doc_path()).unwrap();
    let mut changed: Vec<Variable> = VARIABLES.to_vec();
    let i = changed.iter().position(|v| v.name == "MEDIA_URL").unwrap();
    changed[i].run = Some("/uploads/");
    assert_ne!(contract_docs::update_with(&doc, &changed).unwrap(), doc);

    let mut added: Vec<Variable> = VARIABLES.to_vec();
    added.push(Variable {
        name: "NEW_VARIABLE",
        ..VARIABLES[0].clone()
    });
    assert_ne!(contract_docs::update_with(&doc, &added).unwrap(), doc);

    // And the unchanged list reproduces the document.
    assert_eq!(contract_docs::update_with(&doc, VARIABLES).unwrap(), doc);
}

#[test]
fn markers_missing_is_an_error() {
    if updating() {
        return;
    }
    let doc = std::fs::read_to_string(doc_path()).unwrap();
    let broken = doc.replace("<!-- END contract-variables -->", "");
    let e = contract_docs::update(&broken).unwrap_err();
    assert!(e.to_string().contains("contract-variables"), "{e}");
}
