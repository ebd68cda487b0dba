//! What djdd writes on stderr, as an admin or a CI log sees it: colour only
//! on a terminal (`--color`, `NO_COLOR`), `-q` errors only, progress as a
//! redrawn bar on a terminal and as plain lines elsewhere. Runs the real
//! binary on a small `djdd pack` tree; the terminal cases run it under
//! script(1) (util-linux), which gives it a pseudo-terminal.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A small valid tree; returns (temp dir, tree, output path).
fn tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempdir();
    let tree = tmp.path().join("tree");
    write_mode(
        &tree.join("DEBIAN/control"),
        control_text("djdd-test-out", "1.0"),
        0o644,
    );
    write_mode(&tree.join("usr/share/djdd-test-out/a"), "a\n", 0o644);
    write_mode(&tree.join("usr/share/djdd-test-out/b"), "b\n", 0o644);
    let out = tmp.path().join("out.deb");
    (tmp, tree, out)
}

/// stderr of `djdd ARGS pack TREE OUT` with stderr piped.
fn piped(args: &[&str], env: &[(&str, &str)], tree: &Path, out: &Path) -> String {
    let mut c = djdd();
    c.env_remove("NO_COLOR").env_remove("DJDD_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c
        .args(args)
        .arg("pack")
        .arg(tree)
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    assert!(o.stdout.is_empty(), "pack prints nothing on stdout: {o:?}");
    String::from_utf8(o.stderr).unwrap()
}

/// What `djdd ARGS pack TREE OUT` writes on a terminal (stdout and stderr
/// share script(1)'s pseudo-terminal).
fn on_terminal(args: &str, env: &[(&str, &str)], tree: &Path, out: &Path) -> String {
    assert!(have("script"), "script(1) (bsdutils) is needed");
    let bin = assert_cmd::cargo::cargo_bin("djdd");
    let line = format!(
        "{} {args} pack {} {}",
        bin.display(),
        tree.display(),
        out.display()
    );
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &line, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("DJDD_LOG")
        .env("TERM", "xterm");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const GREEN: &str = "\x1b[32m";

#[test]
fn no_escapes_when_stderr_is_not_a_terminal() {
    let (_t, tree, out) = tree();
    let err = piped(&["-v"], &[], &tree, &out);
    assert!(
        err.contains(" INFO building package 'djdd-test-out'"),
        "{err}"
    );
    assert!(!err.contains('\x1b'), "escape codes in a log: {err:?}");
    // The progress of packing, as one plain line at the end (at debug: it
    // took less than two seconds).
    assert!(
        err.contains("DEBUG packing djdd-test-out: 6 of 6 members"),
        "{err}"
    );
}

#[test]
fn color_always_colours_a_file_and_beats_no_color() {
    let (_t, tree, out) = tree();
    let err = piped(&["--color", "always"], &[("NO_COLOR", "1")], &tree, &out);
    assert!(err.contains(GREEN), "{err:?}");
    let err = piped(&["--color=never"], &[], &tree, &out);
    assert!(!err.contains('\x1b'), "{err:?}");
    let o = djdd().args(["--color=bogus", "status"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("invalid value 'bogus'"), "{err}");
}

#[test]
fn terminal_gets_colour_unless_no_color_or_never() {
    let (_t, tree, out) = tree();
    let tty = on_terminal("", &[], &tree, &out);
    assert!(tty.contains(GREEN), "{tty:?}");
    let tty = on_terminal("", &[("NO_COLOR", "1")], &tree, &out);
    assert!(!tty.contains(GREEN), "{tty:?}");
    assert!(tty.contains("INFO building package"), "{tty:?}");
    let tty = on_terminal("--color never", &[], &tree, &out);
    assert!(!tty.contains(GREEN), "{tty:?}");
}

#[test]
fn color_never_also_holds_for_usage_errors_on_a_terminal() {
    let bin = assert_cmd::cargo::cargo_bin("djdd");
    let run = |args: &str| {
        let o = std::process::Command::new("script")
            .args(["-qec", &format!("{} {args}", bin.display()), "/dev/null"])
            .env_remove("NO_COLOR")
            .env("TERM", "xterm")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let coloured = run("init --bogus");
    assert!(coloured.contains('\x1b'), "{coloured:?}");
    let plain = run("--color never init --bogus");
    assert!(plain.contains("unexpected argument '--bogus'"), "{plain:?}");
    assert!(!plain.contains('\x1b'), "{plain:?}");
}

#[test]
fn quiet_prints_errors_only() {
    let (_t, tree, out) = tree();
    let err = piped(&["-q"], &[], &tree, &out);
    assert_eq!(err, "");
    let tty = on_terminal("-q", &[], &tree, &out);
    assert_eq!(tty, "", "nothing, not even a progress bar");
    // An error still shows, with its cause.
    let o = djdd()
        .args(["-q", "pack"])
        .arg(tree.join("missing"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.starts_with("djdd: error: "), "{err}");
    // -q and -v contradict each other.
    let o = djdd().args(["-q", "-v", "status"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}
