//! Writing and reading .deb files (deb(5), deb-control(5), Debian Policy ch. 5).
//!
//! Bytes only: the writer takes a planned list of entries and control files
//! and writes a .deb into any `impl Write`; it never walks a directory itself
//! (`ops::pack` does that) and never runs a process.
//!
//! ```no_run
//! use djdd::deb::{control::Paragraph, ControlFile, Entry, Package, WriteOptions, write_deb};
//! let control = Paragraph::parse("Package: foo\nVersion: 1.0\nArchitecture: all\n\
//!     Maintainer: A <a@example.org>\nDescription: demo\n", "control").unwrap();
//! let mut pkg = Package::new(control);
//! pkg.add(Entry::file_from_bytes("usr/share/foo/README", 0o644, "hi\n"))
//!    .add(Entry::symlink("usr/share/foo/LINK", "README"))
//!    .add_control_file(ControlFile::new("postinst", "#!/bin/sh\nset -e\n"));
//! pkg.check_prefixes(&["/usr/share/foo"]).unwrap();
//! write_deb(&pkg, &WriteOptions::default(), std::io::sink()).unwrap();
//! ```

pub mod ar;
pub mod compress;
pub mod control;
pub mod entry;
pub mod read;
pub mod tar;
pub mod version;
pub mod writer;

pub use compress::Compression;
pub use entry::{ControlFile, Entry, EntryKind, Owner, Package, Source};
pub use writer::{
    WriteOptions, Written, remove_stale_temps, source_date_epoch_from_env, write_deb,
    write_deb_to_path, write_deb_to_path_with,
};
