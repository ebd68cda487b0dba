//! One test per check `djdd pack` makes (those of dpkg-deb, and policy's
//! stricter package names): each asserts the message names the file or
//! field and the fix, that the exit code is 1, and that no output (not
//! even a temporary file) is left behind.

mod common;

use std::path::{Path, PathBuf};

use common::*;

struct Case {
    _tmp: tempfile::TempDir,
    tree: PathBuf,
    outdir: PathBuf,
}

/// A valid tree with a conffile and a postinst; `edit` breaks it.
fn case(edit: impl FnOnce(&Path)) -> Case {
    let tmp = tempdir();
    let tree = tmp.path().join("tree");
    write_mode(
        &tree.join("DEBIAN/control"),
        control_text("djdd-test-err", "1.0-1"),
        0o644,
    );
    write_mode(&tree.join("DEBIAN/postinst"), "#!/bin/sh\nexit 0\n", 0o755);
    write_mode(
        &tree.join("DEBIAN/conffiles"),
        "/etc/djdd-test-err.conf\n",
        0o644,
    );
    write_mode(&tree.join("etc/djdd-test-err.conf"), "a = 1\n", 0o644);
    write_mode(&tree.join("usr/share/djdd-test-err/file"), "x\n", 0o644);
    edit(&tree);
    let outdir = tmp.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    Case {
        _tmp: tmp,
        tree,
        outdir,
    }
}

/// Runs `djdd pack TREE OUTDIR/x.deb`, expects failure with every one of
/// `needles` in stderr, and an empty OUTDIR.
fn fails(c: &Case, args: &[&str], needles: &[&str]) -> String {
    let out = c.outdir.join("x.deb");
    let o = djdd()
        .arg("pack")
        .args(args)
        .arg(&c.tree)
        .arg(&out)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "exit code; stderr: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
    assert!(!out.exists(), "{} was written", out.display());
    assert_eq!(list_dir(&c.outdir), Vec::<String>::new(), "leftovers");
    err
}

fn set_control(tree: &Path, text: &str) {
    write_mode(&tree.join("DEBIAN/control"), text, 0o644);
}

fn control_without(field: &str) -> String {
    control_text("djdd-test-err", "1.0-1")
        .lines()
        .filter(|l| {
            let continuation = field == "Description" && l.starts_with(' ');
            !(l.starts_with(&format!("{field}:")) || continuation)
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn the_valid_tree_packs() {
    let c = case(|_| {});
    let out = c.outdir.join("x.deb");
    djdd().arg("pack").arg(&c.tree).arg(&out).assert().success();
    assert_eq!(list_dir(&c.outdir), ["x.deb"]);
}

#[test]
fn missing_package_field() {
    let c = case(|t| set_control(t, &control_without("Package")));
    fails(
        &c,
        &[],
        &[
            "DEBIAN/control: field Package",
            "is missing",
            "hint: add a line `Package: foo`",
        ],
    );
}

#[test]
fn missing_version_field() {
    let c = case(|t| set_control(t, &control_without("Version")));
    fails(
        &c,
        &[],
        &[
            "DEBIAN/control: field Version",
            "is missing",
            "Version: 1.0-1",
        ],
    );
}

#[test]
fn missing_architecture_field() {
    let c = case(|t| set_control(t, &control_without("Architecture")));
    fails(
        &c,
        &[],
        &[
            "DEBIAN/control: field Architecture",
            "is missing",
            "Architecture: all",
        ],
    );
}

#[test]
fn missing_maintainer_field() {
    let c = case(|t| set_control(t, &control_without("Maintainer")));
    fails(&c, &[], &["DEBIAN/control: field Maintainer", "is missing"]);
}

#[test]
fn missing_description_field() {
    let c = case(|t| set_control(t, &control_without("Description")));
    fails(
        &c,
        &[],
        &["DEBIAN/control: field Description", "is missing"],
    );
}

#[test]
fn package_name_with_capitals() {
    // dpkg-deb accepts Demo; policy 5.6.1 does not
    let c = case(|t| set_control(t, &control_text("Demo", "1.0")));
    fails(
        &c,
        &[],
        &[
            "DEBIAN/control: field Package",
            "package name 'Demo'",
            "Policy 5.6.1",
        ],
    );
}

#[test]
fn package_name_of_one_character() {
    let c = case(|t| set_control(t, &control_text("a", "1.0")));
    fails(&c, &[], &["package name 'a'", "at least two characters"]);
}

#[test]
fn invalid_version() {
    let c = case(|t| set_control(t, &control_text("djdd-test-err", "v1.0")));
    fails(
        &c,
        &[],
        &[
            "DEBIAN/control: field Version",
            "version 'v1.0'",
            "must start with a digit",
        ],
    );
}

#[test]
fn control_file_with_duplicate_field() {
    let c = case(|t| {
        set_control(
            t,
            &(control_text("djdd-test-err", "1.0") + "Version: 2.0\n"),
        );
    });
    fails(
        &c,
        &[],
        &["DEBIAN/control: line", "field Version appears twice"],
    );
}

#[test]
fn maintainer_script_not_executable() {
    let c = case(|t| write_mode(&t.join("DEBIAN/postinst"), "#!/bin/sh\n", 0o644));
    let err = fails(
        &c,
        &[],
        &[
            "DEBIAN/postinst",
            "bad permissions 0644",
            "must be >=0555 and <=0775",
            "hint: chmod 0755",
        ],
    );
    assert!(
        err.contains(&c.tree.join("DEBIAN/postinst").display().to_string()),
        "{err}"
    );
}

#[test]
fn maintainer_script_world_writable() {
    let c = case(|t| write_mode(&t.join("DEBIAN/prerm"), "#!/bin/sh\n", 0o777));
    fails(&c, &[], &["DEBIAN/prerm", "bad permissions 0777"]);
}

#[test]
fn conffile_not_in_tree() {
    let c = case(|t| std::fs::remove_file(t.join("etc/djdd-test-err.conf")).unwrap());
    fails(
        &c,
        &[],
        &[
            "DEBIAN/conffiles: conffile /etc/djdd-test-err.conf",
            "does not appear in the package",
            "hint:",
        ],
    );
}

#[test]
fn conffile_is_a_directory() {
    let c = case(|t| {
        std::fs::remove_file(t.join("etc/djdd-test-err.conf")).unwrap();
        std::fs::create_dir(t.join("etc/djdd-test-err.conf")).unwrap();
    });
    fails(
        &c,
        &[],
        &["conffile /etc/djdd-test-err.conf", "is not a regular file"],
    );
}

#[test]
fn conffile_not_absolute() {
    let c = case(|t| {
        write_mode(
            &t.join("DEBIAN/conffiles"),
            "etc/djdd-test-err.conf\n",
            0o644,
        )
    });
    fails(
        &c,
        &[],
        &[
            "DEBIAN/conffiles: line 1",
            "is not an absolute path",
            "write it as /etc/djdd-test-err.conf",
        ],
    );
}

#[test]
fn socket_in_tree() {
    let c = case(|t| {
        let _l =
            std::os::unix::net::UnixListener::bind(t.join("usr/share/djdd-test-err/sock")).unwrap();
    });
    fails(
        &c,
        &[],
        &[
            "usr/share/djdd-test-err/sock",
            "is a socket",
            "hint: remove it",
        ],
    );
}

#[test]
fn fifo_in_tree() {
    let c = case(|t| {
        run_ok(std::process::Command::new("mkfifo").arg(t.join("usr/share/djdd-test-err/pipe")));
    });
    fails(
        &c,
        &[],
        &["usr/share/djdd-test-err/pipe", "named pipe (FIFO)"],
    );
}

#[test]
fn no_debian_directory() {
    let c = case(|t| std::fs::remove_dir_all(t.join("DEBIAN")).unwrap());
    fails(
        &c,
        &[],
        &[
            "DEBIAN/control",
            "is missing",
            "hint: create DEBIAN/control",
        ],
    );
}

#[test]
fn no_control_file() {
    let c = case(|t| std::fs::remove_file(t.join("DEBIAN/control")).unwrap());
    fails(&c, &[], &["DEBIAN/control", "is missing"]);
}

#[test]
fn debian_directory_world_writable() {
    let c = case(|t| mkdir_mode(&t.join("DEBIAN"), 0o777));
    fails(
        &c,
        &[],
        &[
            "DEBIAN",
            "control directory has bad permissions 0777",
            "chmod 0755",
        ],
    );
}

#[test]
fn directory_inside_debian() {
    let c = case(|t| std::fs::create_dir(t.join("DEBIAN/sub")).unwrap());
    fails(&c, &[], &["DEBIAN/sub", "is not a regular file"]);
}

#[test]
fn bad_compression_level() {
    let c = case(|_| {});
    fails(
        &c,
        &["-Zgzip", "-z0"],
        &["compression level 0 for gzip", "between 1 and 9"],
    );
}

#[test]
fn unknown_compressor_is_a_usage_error() {
    let c = case(|_| {});
    let out = c.outdir.join("x.deb");
    let o = djdd()
        .arg("pack")
        .args(["-Z", "bzip2"])
        .arg(&c.tree)
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bzip2"));
    assert!(!out.exists());
}

#[test]
fn failure_keeps_an_existing_output_untouched() {
    let c = case(|t| write_mode(&t.join("DEBIAN/postinst"), "#!/bin/sh\n", 0o644));
    let out = c.outdir.join("x.deb");
    std::fs::write(&out, "previous build").unwrap();
    let o = djdd().arg("pack").arg(&c.tree).arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(&out).unwrap(), b"previous build");
    assert_eq!(list_dir(&c.outdir), ["x.deb"]);
}
