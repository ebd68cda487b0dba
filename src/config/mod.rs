//! Typed, validated configuration: files and options in, values out.
//! Pure: takes text, never reads the disk or runs a process.

pub mod project;
