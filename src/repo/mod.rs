//! An apt repository that apt-get trusts: pool paths, Packages indices,
//! Release files, by-hash copies, pruning, and the publish procedure.
//!
//! Follows the Debian repository format (wiki.debian.org/DebianRepository/
//! Format) and the archive's pool layout. `pool`, `index`, `release` and
//! `prune` are pure (values in, text or bytes out; versions compare with
//! `crate::deb::version`); all reads and writes of the repository go
//! through one [`store::RepoStore`] (a real directory, or a dry run);
//! `publish` orders the writes so the repository
//! stays valid for apt at every moment. Processes (gpg) stay in `ops`,
//! behind [`publish::Signer`].

pub mod index;
pub mod pool;
pub mod prune;
pub mod publish;
pub mod release;
pub mod store;

pub use crate::deb::version::compare_versions;

/// The control field in which `djdd build` records the Debian suite
/// (codename) of the build root a package was built on. `publish` puts a
/// package carrying it only into a suite of that codename.
pub const BUILT_FOR_FIELD: &str = "X-Djdd-Suite";

/// The suite a package says it was built for ([`BUILT_FOR_FIELD`]), if it
/// says (packages not made by djdd, or by djdd before 0.x, do not).
pub fn built_for(control: &crate::deb::control::Paragraph) -> Option<&str> {
    control
        .get(BUILT_FOR_FIELD)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}
pub use index::{Entry, Key};
pub use publish::{NewPackage, PublishOptions, PublishReport, Signer, publish};
pub use store::{DryRunStore, FsStore, RepoStore};
