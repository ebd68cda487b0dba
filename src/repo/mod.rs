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
pub use index::{Entry, Key};
pub use publish::{NewPackage, PublishOptions, PublishReport, Signer, publish};
pub use store::{DryRunStore, FsStore, RepoStore};
