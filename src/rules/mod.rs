//! The rules every user-given value follows, one function per value, in
//! one place: `config` checks what it reads with them, `render` checks its
//! context with the same functions, `check` and `ops` call them too. Each
//! returns the one error type ([`crate::error::Error::Invalid`]: what,
//! problem, hint), so that a value is refused with the same message
//! wherever it is checked.
//!
//! The ground floor, beside `contract`: imports nothing of the crate but
//! `error`. Pure: never touches the disk or runs a process.

pub mod names;
pub mod values;

pub use names::shown;
