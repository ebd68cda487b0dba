//! What goes into a .deb, as values: data entries (directories, regular
//! files from disk or memory, symlinks, hard links, each with mode, owner and
//! mtime), control files, and the [`Package`] that holds them with its
//! control paragraph; plus the checks made on them before anything is
//! written (control fields, conffiles, maintainer script modes, allowed path
//! prefixes).
//!
//! Never touches the disk: a [`Source::Path`] is only opened by the writer.
//! Follows deb(5), deb-control(5), deb-conffiles(5) and Debian Policy §3, §5
//! and §10.9 (permissions), and dpkg-deb's build checks.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::deb::control::{self, Paragraph};
use crate::error::{Error, Result};

/// The owner of an entry: numeric ids and the names written into the tar
/// header (at most 31 bytes each).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    pub user: String,
    pub group: String,
}

impl Owner {
    /// `root`/`root`, ids 0: what `dpkg-deb --root-owner-group` writes.
    pub fn root() -> Self {
        Owner {
            uid: 0,
            gid: 0,
            user: "root".into(),
            group: "root".into(),
        }
    }
}

impl Default for Owner {
    fn default() -> Self {
        Owner::root()
    }
}

/// Where a regular file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file on disk, read (once, in parallel with other files) while the
    /// archive is written. Its size is the size read.
    Path(PathBuf),
    /// Bytes held in memory.
    Bytes(Vec<u8>),
}

/// The kind of a data entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File(Source),
    /// A symbolic link to the given target (stored verbatim).
    Symlink(Vec<u8>),
    /// A hard link to another entry of the package (a package path, like
    /// [`Entry::path`]) that is a regular file or itself a hard link. The
    /// writer stores the first member of each link group (in archive order)
    /// as the file and the others as links to it, as tar does.
    HardLink(Vec<u8>),
}

/// One data entry: an installed path (`usr/bin/foo`; a leading `/` or `./`
/// is accepted and dropped; `""` or `.` is the root directory) with its
/// metadata. `mode` holds the permission bits including setuid, setgid and
/// sticky (`0o7777`); the file type comes from `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: Vec<u8>,
    pub kind: EntryKind,
    pub mode: u32,
    pub owner: Owner,
    /// Seconds since the epoch; replaced by `source_date_epoch` when set.
    pub mtime: u64,
}

impl Entry {
    fn new(path: impl Into<Vec<u8>>, kind: EntryKind, mode: u32) -> Self {
        Entry {
            path: path.into(),
            kind,
            mode,
            owner: Owner::root(),
            mtime: 0,
        }
    }

    /// A directory, owned by root, mtime 0.
    pub fn dir(path: impl Into<Vec<u8>>, mode: u32) -> Self {
        Entry::new(path, EntryKind::Dir, mode)
    }

    /// A regular file read from `disk` when the archive is written.
    pub fn file_from_path(path: impl Into<Vec<u8>>, mode: u32, disk: impl Into<PathBuf>) -> Self {
        Entry::new(path, EntryKind::File(Source::Path(disk.into())), mode)
    }

    /// A regular file whose content is `bytes`.
    pub fn file_from_bytes(path: impl Into<Vec<u8>>, mode: u32, bytes: impl Into<Vec<u8>>) -> Self {
        Entry::new(path, EntryKind::File(Source::Bytes(bytes.into())), mode)
    }

    /// A symbolic link (mode 0777, as on Linux).
    pub fn symlink(path: impl Into<Vec<u8>>, target: impl Into<Vec<u8>>) -> Self {
        Entry::new(path, EntryKind::Symlink(target.into()), 0o777)
    }

    /// A hard link to the package path `target`.
    pub fn hard_link(path: impl Into<Vec<u8>>, mode: u32, target: impl Into<Vec<u8>>) -> Self {
        Entry::new(path, EntryKind::HardLink(target.into()), mode)
    }

    pub fn with_owner(mut self, owner: Owner) -> Self {
        self.owner = owner;
        self
    }

    pub fn with_mtime(mut self, mtime: u64) -> Self {
        self.mtime = mtime;
        self
    }

    /// The path as text for messages (`/usr/bin/foo`).
    pub fn display_path(&self) -> String {
        display_path(&self.path)
    }
}

/// The maintainer scripts dpkg runs; they must be executable.
pub const MAINTAINER_SCRIPTS: [&str; 5] = ["preinst", "postinst", "prerm", "postrm", "config"];

/// The fields dpkg-deb and policy require in a binary package's control file.
pub const REQUIRED_FIELDS: [&str; 5] = [
    "Package",
    "Version",
    "Architecture",
    "Maintainer",
    "Description",
];

/// A file of the control archive other than `control` itself: `conffiles`,
/// maintainer scripts, `triggers`, `shlibs`, `symbols`, `templates`,
/// `md5sums` (when given, it replaces the generated one)...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFile {
    pub name: String,
    /// Permission bits; stored as dpkg-deb does (`u+rw,go=rX`: 0755 when any
    /// execute bit is set, else 0644).
    pub mode: u32,
    pub data: Vec<u8>,
}

impl ControlFile {
    /// A control file with the mode its name calls for: 0755 for
    /// maintainer scripts, 0644 for the rest.
    pub fn new(name: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        let name = name.into();
        let mode = if MAINTAINER_SCRIPTS.contains(&name.as_str()) {
            0o755
        } else {
            0o644
        };
        ControlFile {
            name,
            mode,
            data: data.into(),
        }
    }

    pub fn with_mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
}

/// A binary package: its control paragraph, other control files and data
/// entries. `write_deb` writes it; `check` and `check_prefixes` validate it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Package {
    pub control: Paragraph,
    pub control_files: Vec<ControlFile>,
    pub entries: Vec<Entry>,
}

impl Package {
    pub fn new(control: Paragraph) -> Self {
        Package {
            control,
            control_files: Vec::new(),
            entries: Vec::new(),
        }
    }

    pub fn add(&mut self, entry: Entry) -> &mut Self {
        self.entries.push(entry);
        self
    }

    pub fn add_control_file(&mut self, file: ControlFile) -> &mut Self {
        self.control_files.push(file);
        self
    }

    /// The control file named `name`, if any.
    pub fn control_file(&self, name: &str) -> Option<&ControlFile> {
        self.control_files.iter().find(|f| f.name == name)
    }

    /// The package name (the `Package` field), or `""`.
    pub fn name(&self) -> &str {
        self.control.get("Package").unwrap_or("")
    }

    /// Checks the control data as dpkg-deb does before building, and
    /// stricter where policy is: required fields, package name (§5.6.1),
    /// version (§5.6.12), architecture, control file names, maintainer
    /// script modes, and that every conffile is a regular file of the
    /// package. Entry paths are checked by the writer.
    pub fn check(&self) -> Result<()> {
        for field in REQUIRED_FIELDS {
            match self.control.get(field) {
                None => {
                    return Err(Error::invalid_hint(
                        format!("DEBIAN/control: field {field}"),
                        "is missing; a binary package needs Package, Version, Architecture, Maintainer and Description",
                        format!("add a line `{}`", field_example(field)),
                    ));
                }
                Some(v) if v.trim().is_empty() => {
                    return Err(Error::invalid_hint(
                        format!("DEBIAN/control: field {field}"),
                        "is empty",
                        format!("give it a value, e.g. `{}`", field_example(field)),
                    ));
                }
                Some(_) => {}
            }
        }
        let name = self.name();
        control::check_package_name(name)
            .map_err(|e| Error::invalid("DEBIAN/control: field Package", e.to_string()))?;
        let version = self.control.get("Version").unwrap_or("");
        control::check_version(version)
            .map_err(|e| Error::invalid("DEBIAN/control: field Version", e.to_string()))?;
        let arch = self.control.get("Architecture").unwrap_or("");
        if !arch
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(Error::invalid_hint(
                "DEBIAN/control: field Architecture",
                format!("'{arch}' is not one architecture name"),
                "use `all`, or the Debian architecture such as `amd64` (`dpkg --print-architecture`)",
            ));
        }

        let mut seen = HashMap::new();
        for f in &self.control_files {
            check_control_file_name(&f.name)?;
            if seen.insert(f.name.as_str(), ()).is_some() {
                return Err(Error::invalid(
                    format!("DEBIAN/{}", f.name),
                    "is given twice",
                ));
            }
            if MAINTAINER_SCRIPTS.contains(&f.name.as_str()) && f.mode & 0o7557 != 0o555 {
                return Err(bad_script_mode(&f.name, f.mode, "chmod 0755 it"));
            }
        }
        if let Some(cf) = self.control_file("conffiles") {
            self.check_conffiles(&cf.data)?;
        }
        Ok(())
    }

    /// Checks `conffiles` (deb-conffiles(5)): one absolute path a line,
    /// optionally preceded by the flag `remove-on-upgrade`; each path a
    /// regular file of the package (or, with that flag, absent from it).
    fn check_conffiles(&self, data: &[u8]) -> Result<()> {
        let text = std::str::from_utf8(data)
            .map_err(|_| Error::invalid("DEBIAN/conffiles", "is not UTF-8 text"))?;
        let files: HashMap<Vec<u8>, &EntryKind> = self
            .entries
            .iter()
            .filter_map(|e| normalize_path(&e.path).ok().map(|p| (p, &e.kind)))
            .collect();
        let mut listed = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let what = || format!("DEBIAN/conffiles: line {}", i + 1);
            if line.trim().is_empty() {
                return Err(Error::invalid_hint(
                    what(),
                    "is empty; dpkg does not allow empty lines in conffiles",
                    "remove the empty line",
                ));
            }
            let (remove, path) = match line.split_once(' ') {
                Some(("remove-on-upgrade", p)) => (true, p),
                Some((flag, _)) if !flag.starts_with('/') => {
                    return Err(Error::invalid(
                        what(),
                        format!("unknown flag '{flag}' (dpkg knows only remove-on-upgrade)"),
                    ));
                }
                _ => (false, line),
            };
            if !path.starts_with('/') {
                return Err(Error::invalid_hint(
                    what(),
                    format!("conffile '{path}' is not an absolute path"),
                    format!("write it as /{}", path.trim_start_matches("./")),
                ));
            }
            if path != path.trim_end() {
                return Err(Error::invalid(
                    what(),
                    format!("conffile '{path}' has trailing white space"),
                ));
            }
            if listed.insert(path, ()).is_some() {
                return Err(Error::invalid(
                    what(),
                    format!("conffile '{path}' is listed twice"),
                ));
            }
            let key = normalize_path(path.as_bytes())?;
            match (remove, files.get(&key)) {
                (false, Some(EntryKind::File(_) | EntryKind::HardLink(_))) => {}
                (false, Some(_)) => {
                    return Err(Error::invalid_hint(
                        format!("DEBIAN/conffiles: conffile {path}"),
                        "is not a regular file in the package",
                        "list only regular files in DEBIAN/conffiles",
                    ));
                }
                (false, None) => {
                    return Err(Error::invalid_hint(
                        format!("DEBIAN/conffiles: conffile {path}"),
                        "does not appear in the package",
                        format!(
                            "add the file {path} to the package or remove its line from DEBIAN/conffiles"
                        ),
                    ));
                }
                (true, Some(_)) => {
                    return Err(Error::invalid(
                        format!("DEBIAN/conffiles: conffile {path}"),
                        "is in the package but flagged remove-on-upgrade",
                    ));
                }
                (true, None) => {}
            }
        }
        Ok(())
    }

    /// Checks that every data entry lies under one of the `allowed`
    /// prefixes (absolute directory paths such as `/usr/lib/foo-env/1a2b/`).
    /// A directory that is an ancestor of an allowed prefix (`/usr`,
    /// `/usr/lib`) is allowed too, since the prefix needs it.
    pub fn check_prefixes(&self, allowed: &[&str]) -> Result<()> {
        let prefixes: Vec<Vec<u8>> = allowed
            .iter()
            .map(|p| normalize_path(p.as_bytes()))
            .collect::<Result<_>>()?;
        for e in &self.entries {
            let path = normalize_path(&e.path)?;
            let ok = prefixes.iter().any(|pre| {
                is_under(&path, pre) || (matches!(e.kind, EntryKind::Dir) && is_under(pre, &path))
            });
            if !ok {
                let list: Vec<String> = allowed
                    .iter()
                    .map(|p| format!("/{}/", p.trim_matches('/')))
                    .collect();
                return Err(Error::invalid_hint(
                    format!("package {}: path {}", self.name(), e.display_path()),
                    format!("is outside the allowed prefixes {}", list.join(", ")),
                    "install the file under an allowed prefix, or add its directory to allowed_prefixes",
                ));
            }
        }
        Ok(())
    }
}

/// Whether `path` equals `dir` or lies below it (component-wise; both
/// normalized, `""` is the root).
fn is_under(path: &[u8], dir: &[u8]) -> bool {
    dir.is_empty()
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/')
}

fn field_example(field: &str) -> &'static str {
    match field {
        "Package" => "Package: foo",
        "Version" => "Version: 1.0-1",
        "Architecture" => "Architecture: all",
        "Maintainer" => "Maintainer: Jane Doe <jane@example.org>",
        _ => "Description: short summary",
    }
}

pub(crate) fn bad_script_mode(name: &str, mode: u32, hint: &str) -> Error {
    Error::invalid_hint(
        format!("DEBIAN/{name}"),
        format!(
            "maintainer script has bad permissions {:04o} (must be >=0555 and <=0775: readable and executable by all, writable by owner or group only)",
            mode & 0o7777
        ),
        hint.to_string(),
    )
}

fn check_control_file_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'));
    if !ok {
        return Err(Error::invalid(
            format!("control file '{name}'"),
            "control file names are plain names of letters, digits and . _ - +",
        ));
    }
    if name == "control" {
        return Err(Error::invalid(
            "control file 'control'",
            "is written from Package::control; do not add it to control_files",
        ));
    }
    Ok(())
}

/// Normalizes a package path: drops a leading `/` or `./`, a trailing
/// `/`, and returns the components joined by `/` (`""` for the root).
/// Rejects empty, `.` or `..` components inside the path, NUL and newline.
pub fn normalize_path(path: &[u8]) -> Result<Vec<u8>> {
    let what = || format!("package path '{}'", display_path(path));
    if path.contains(&0) || path.contains(&b'\n') {
        return Err(Error::invalid(
            what(),
            "contains a NUL or newline byte, which dpkg cannot record",
        ));
    }
    let mut p = path;
    if let Some(rest) = p.strip_prefix(b"./") {
        p = rest;
    } else if p == b"." {
        p = b"";
    }
    while let Some(rest) = p.strip_prefix(b"/") {
        p = rest;
    }
    while let Some(rest) = p.strip_suffix(b"/") {
        p = rest;
    }
    if p.is_empty() {
        return Ok(Vec::new());
    }
    for comp in p.split(|b| *b == b'/') {
        if comp.is_empty() || comp == b"." || comp == b".." {
            return Err(Error::invalid(
                what(),
                "has an empty, '.' or '..' component; give a plain path like usr/share/foo",
            ));
        }
    }
    Ok(p.to_vec())
}

/// A package path for messages: `/` + the path, lossily decoded.
pub fn display_path(path: &[u8]) -> String {
    let s = String::from_utf8_lossy(path);
    let s = s.trim_start_matches("./").trim_start_matches('/');
    format!("/{s}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg() -> Package {
        let control = Paragraph::parse(
            "Package: foo\nVersion: 1.0\nArchitecture: all\nMaintainer: A <a@b.c>\nDescription: x\n",
            "control",
        )
        .unwrap();
        let mut p = Package::new(control);
        p.add(Entry::dir("usr", 0o755))
            .add(Entry::dir("usr/lib", 0o755))
            .add(Entry::dir("usr/lib/foo", 0o755))
            .add(Entry::file_from_bytes("usr/lib/foo/a", 0o644, "a"))
            .add(Entry::dir("etc", 0o755))
            .add(Entry::file_from_bytes("etc/foo.conf", 0o644, "x"));
        p
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize_path(b"/usr/bin/").unwrap(), b"usr/bin");
        assert_eq!(normalize_path(b"./usr").unwrap(), b"usr");
        assert_eq!(normalize_path(b".").unwrap(), b"");
        assert!(normalize_path(b"usr/../etc").is_err());
        assert!(normalize_path(b"usr//bin").is_err());
        assert!(normalize_path(b"a\nb").is_err());
    }

    #[test]
    fn prefixes_allow_files_below_and_ancestor_dirs() {
        let mut p = pkg();
        p.entries.retain(|e| !e.path.starts_with(b"etc"));
        p.check_prefixes(&["/usr/lib/foo/"]).unwrap();
        let err = p.check_prefixes(&["/usr/lib/foo/bar"]).unwrap_err();
        assert!(err.to_string().contains("path /usr/lib/foo/a"), "{err}");
        // a file (not a dir) at an ancestor path is not allowed
        p.add(Entry::file_from_bytes("usr/lib/x", 0o644, ""));
        let err = p.check_prefixes(&["/usr/lib/foo"]).unwrap_err();
        assert!(err.to_string().contains("/usr/lib/x"), "{err}");
        // the prefix test is per component: /usr/lib/foobar is not under /usr/lib/foo
        let mut q = pkg();
        q.entries.retain(|e| !e.path.starts_with(b"etc"));
        q.add(Entry::file_from_bytes("usr/lib/foobar", 0o644, ""));
        assert!(q.check_prefixes(&["/usr/lib/foo"]).is_err());
    }

    #[test]
    fn conffiles_must_be_files_of_the_package() {
        let mut p = pkg();
        p.add_control_file(ControlFile::new("conffiles", "/etc/foo.conf\n"));
        p.check().unwrap();
        p.control_files[0].data = b"/etc/missing.conf\n".to_vec();
        let e = p.check().unwrap_err().to_string();
        assert!(
            e.contains("/etc/missing.conf") && e.contains("does not appear"),
            "{e}"
        );
        p.control_files[0].data = b"/usr/lib/foo\n".to_vec();
        let e = p.check().unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        p.control_files[0].data = b"etc/foo.conf\n".to_vec();
        let e = p.check().unwrap_err().to_string();
        assert!(e.contains("not an absolute path"), "{e}");
        p.control_files[0].data = b"remove-on-upgrade /etc/old.conf\n".to_vec();
        p.check().unwrap();
    }

    #[test]
    fn maintainer_scripts_must_be_executable() {
        let mut p = pkg();
        p.add_control_file(ControlFile::new("postinst", "#!/bin/sh\n"));
        p.check().unwrap();
        p.control_files[0].mode = 0o644;
        let e = p.check().unwrap_err().to_string();
        assert!(e.contains("DEBIAN/postinst") && e.contains("0644"), "{e}");
        p.control_files[0].mode = 0o777;
        assert!(p.check().is_err(), "world-writable script accepted");
    }

    #[test]
    fn required_fields_and_names() {
        let mut p = pkg();
        p.control.remove("Maintainer");
        let e = p.check().unwrap_err().to_string();
        assert!(
            e.contains("field Maintainer") && e.contains("missing"),
            "{e}"
        );
        let mut p = pkg();
        p.control.set("Package", "Foo");
        let e = p.check().unwrap_err().to_string();
        assert!(e.contains("field Package") && e.contains("'Foo'"), "{e}");
        let mut p = pkg();
        p.control.set("Version", "a1");
        assert!(p.check().unwrap_err().to_string().contains("field Version"));
    }
}
