//! pip requirements files: parsing, checking and normalising them.
//!
//! Responsible for reading `requirements.txt` and every file it pulls in with
//! `-r`/`-c` (recursively, by content, through a reader the caller supplies),
//! refusing what djdd cannot honour (editable installs, local paths, includes
//! that leave the repository, cycles, `${VAR}` expansion), checking every
//! requirement line against PEP 508 / PEP 440 the way pip's `packaging` does,
//! and producing the normalised, sorted lines the env HASH is computed from.
//! It must never touch the disk or run a process: `ops` hands in file bytes.
//! It follows pip's "Requirements File Format" (the pip user guide, and
//! `pip/_internal/req/req_file.py`: line joining, comment stripping, option
//! splitting), PEP 508 (dependency specifiers) and PEP 440 (versions).
//!
//! The files, along those concerns: `walk` follows `-r`/`-c` from the root
//! file and holds the tree it builds ([`Requirements`]); `lines` turns a
//! file's bytes into logical lines; `options` checks one logical line (its
//! options as pip parses them, and what djdd refuses); `pep508` checks the
//! requirement part of a line; `pep440` checks versions and specifiers;
//! `pins` finds the requirement lines that leave their version to pip.

mod include;
mod lines;
mod options;
mod pep440;
mod pep508;
mod pins;
mod walk;

pub use include::{Include, IncludeKind, normalise_repo_path};
pub use lines::{LogicalLine, MAX_FILE_SIZE, logical_lines};
pub use pep508::requirement_name;
pub use pins::{Unpinned, is_pinned, unpinned_lines};
pub use walk::{
    MAX_FILES, ReadFile, Requirements, RequirementsFile, check_requirements, load_requirements,
    normalise,
};
