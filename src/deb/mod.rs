//! Writing and reading .deb files (deb(5), deb-control(5), Debian Policy ch. 5).
//!
//! Bytes only: the writer takes a planned list of entries and control files
//! and writes a .deb into any `impl Write`; it never walks a directory itself
//! (`ops::pack` does that) and never runs a process.

pub mod control;
pub mod read;
pub mod version;
