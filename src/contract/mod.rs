//! The djdd deploy contract, in code: the one definition of what a Django
//! project gets from djdd (the environment variables at build time and at
//! run time, the paths, the users and names, the gunicorn and celery
//! command lines) and its version. The site package's environment file,
//! systemd units, maintainer scripts and control utility take their values
//! from here; `docs/contract.md` carries tables generated from here (see
//! `render::contract_docs`), and a test fails when the two disagree.
//! `djdd check` (the `check` stage) validates a project against it.
//!
//! The ground floor: imports nothing of the crate, so that every stage
//! (config, plan, render, check) reads it and none of it reads them.
//! Pure: never touches the disk or runs a process. The paths follow the
//! Filesystem Hierarchy Standard as Debian Policy §9.1 applies it; the
//! environment files are read by both systemd (`EnvironmentFile=`,
//! systemd.exec(5)) and POSIX sh, so values are restricted to what both
//! read the same way.

//!
//! The contract lives by concern: [`variables`] (the environment
//! variables and their templates), [`secrets`], [`layout`] (the paths),
//! [`app_server`] (gunicorn, celery, process units) and [`env_file`]
//! (the environment files' quoting). This file holds the version and the
//! site every part is about, and re-exports every part.

mod app_server;
mod env_file;
mod layout;
mod secrets;
mod variables;

pub use app_server::*;
pub use env_file::*;
pub use layout::*;
pub use secrets::*;
pub use variables::*;

/// The version of the contract this djdd implements. A project declares
/// the version it was written for with `contract = N` in its `djdd.toml`.
///
/// The rules (also in docs/contract.md): removing or renaming a variable,
/// changing a value's meaning or format, moving a path, changing a command
/// line incompatibly, or requiring a new file of projects bumps it. Adding
/// a variable or an optional `djdd.toml` key with a default that keeps old
/// projects working does not.
pub const VERSION: u32 = 1;

/// One deployed site (NAME-VARIANT) and the build it runs: what the
/// run-time templates need. Values come from validated config (NAME and
/// VARIANT match `^[a-z][a-z0-9-]*$`, the domain is a host name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub name: String,
    pub variant: String,
    pub domain: String,
    pub settings: String,
    pub workers: u32,
    pub celery: bool,
    /// celery's broker is the site's Redis (`--broker redis`), not RabbitMQ.
    pub redis_broker: bool,
    /// The site has its own Redis instance.
    pub redis: bool,
    /// Served as an ASGI application (uvicorn's worker class).
    pub asgi: bool,
    pub https_only: bool,
    /// The site package's Debian version (DJDD_VERSION).
    pub version: String,
    /// The full git commit of the source (DJDD_COMMIT).
    pub commit: String,
    /// The services another host provides (`djdd variant --external`).
    pub external: External,
    /// The site user's and group's fixed uid and gid (`djdd variant
    /// --uid`); `None`: the system allocates one on each host.
    pub uid: Option<u32>,
}

/// A service a site may use from another host instead of the local one
/// postinst sets up (`djdd variant --external SERVICE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Database,
    Redis,
    Broker,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Database, Service::Redis, Service::Broker];

    /// Its name on the command line and in the variant file.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Database => "database",
            Service::Redis => "redis",
            Service::Broker => "broker",
        }
    }

    pub fn parse(s: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Which services of a site are external: postinst sets none of them
/// up, the package does not Recommend their server, and their variables
/// come from the site's secrets ([`external_values`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct External {
    pub database: bool,
    pub redis: bool,
    pub broker: bool,
}

impl External {
    /// From the variant's list.
    pub fn of(services: &[Service]) -> External {
        External {
            database: services.contains(&Service::Database),
            redis: services.contains(&Service::Redis),
            broker: services.contains(&Service::Broker),
        }
    }
}

impl Site {
    /// NAME-VARIANT: the user, group, database, role and vhost.
    pub fn site(&self) -> String {
        format!("{}-{}", self.name, self.variant)
    }

    /// The site's fixed paths on the target.
    pub fn layout(&self) -> Layout {
        Layout::new(&self.name, &self.variant)
    }
}

/// What a build step's environment needs besides the site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildContext<'a> {
    pub site: &'a Site,
    /// The virtualenv the step runs with, at its final path
    /// (`/usr/lib/NAME-env/HASH`).
    pub env_dir: String,
    /// Where collectstatic writes (inside the build root); its content is
    /// packaged at the site's `static_root`.
    pub static_root: String,
    /// An empty directory, thrown away after the build (MEDIA_ROOT,
    /// LOG_DIR and HOME point below it).
    pub scratch: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn blue() -> Site {
        Site {
            name: "demo".into(),
            variant: "blue".into(),
            domain: "blue.example.org".into(),
            settings: "demo.settings".into(),
            workers: 3,
            celery: true,
            redis_broker: false,
            redis: false,
            asgi: false,
            https_only: false,
            version: "1.20250101.1".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            external: External::default(),
            uid: None,
        }
    }

    pub(super) fn get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}
