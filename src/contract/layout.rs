//! The fixed paths and names of a site on the target host ([`Layout`]),
//! and the env and src packages' directories ([`env_dir`], [`src_dir`]).
//!
//! Never touches the disk: paths are only named here, following the FHS
//! as Debian Policy ch. 9 applies it. Imports nothing of the crate
//! outside the contract.

/// The fixed paths and names of site NAME-VARIANT on the target host: the
/// one definition the site package's files, the maintainer scripts and
/// docs/contract.md (its paths table) all take them from. They follow the
/// FHS as Debian Policy ch. 9 applies it: files shipped by dpkg under
/// /usr/lib, state under /var/lib, configuration under /etc, logs under
/// /var/log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Layout {
    /// `NAME-VARIANT`: user, group, unit base name, control utility.
    pub unit: String,
    /// `/usr/lib/NAME-site/VARIANT`: files shipped by the site package.
    pub lib_dir: String,
    /// `lib_dir/static`: collectstatic output (STATIC_ROOT), served by nginx.
    pub static_dir: String,
    /// `lib_dir/site.env`: the shipped, non-secret run-time environment
    /// (not a conffile); postinst copies it into each release.
    pub site_env: String,
    /// `lib_dir/launch`: starts gunicorn, celery, manage.py from a release.
    pub launcher: String,
    /// `lib_dir/envfile`: reads systemd environment files, runs a command.
    pub envfile: String,
    /// `lib_dir/nginx.conf`: the nginx site over plain HTTP.
    pub nginx_conf: String,
    /// `lib_dir/nginx-tls.conf`: the nginx site over HTTPS (tls acme or
    /// files), enabled instead of nginx_conf once a certificate is in place.
    pub nginx_tls_conf: String,
    /// `lib_dir/maintenance`: holds the 503 page (index.html).
    pub maintenance_dir: String,
    /// `lib_dir/local.env.example`: copied to local_env when missing.
    pub local_env_example: String,
    /// `/var/lib/NAME-site/VARIANT`: state made by postinst (root's); the
    /// site user's HOME.
    pub state_dir: String,
    /// `state_dir/media`: MEDIA_ROOT, writable by the site user.
    pub media_dir: String,
    /// `state_dir/data`: DATA_DIR, writable by the site user, not served.
    pub data_dir: String,
    /// `state_dir/units`: the units postinst last enabled (one a line), so
    /// the next configure can stop the ones a new version dropped.
    pub units_file: String,
    /// `state_dir/releases`: one directory a version, holding `env` and
    /// `src` links and a copy of site.env.
    pub releases_dir: String,
    /// `state_dir/current` -> `releases/VERSION`: the running release.
    pub current: String,
    /// `current/site.env`: the environment file the processes read (the
    /// running release's copy of site_env).
    pub current_site_env: String,
    /// `state_dir/offline`: while it exists nginx answers 503.
    pub offline_flag: String,
    /// `state_dir/release-commands`: how the last run of the release
    /// commands went (`VERSION EPOCH RESULT`), written by postinst, read
    /// by `status`.
    pub release_record: String,
    /// `state_dir/migrations`: the migrations the current release has not
    /// applied (`VERSION EPOCH COUNT`, then one `APP.NAME` a line, or
    /// `VERSION EPOCH unknown` when the database could not be asked),
    /// written by postinst at each configure and by `manage migrate`,
    /// read by `status` (no Django import, no root).
    pub migration_record: String,
    /// `/etc/logrotate.d/NAME-site-VARIANT`: LOG_DIR's rotation (a
    /// conffile).
    pub logrotate_conf: String,
    /// `/usr/share/man/man8/NAME-VARIANT.8.gz`: the control utility's
    /// manual page.
    pub man_page: String,
    /// `state_dir/acme`: the ACME http-01 webroot nginx serves
    /// `/.well-known/acme-challenge/` from (certbot writes it).
    pub acme_webroot: String,
    /// `state_dir/tls.env`: `HTTPS_ONLY`, written when the site switches
    /// between HTTP and HTTPS; read after secrets_env, before local_env.
    pub tls_env: String,
    /// `/etc/NAME-site/VARIANT`: configuration.
    pub etc_dir: String,
    /// `etc_dir/secrets.env`: the secret variables (made by postinst,
    /// 0640 root:NAME-VARIANT).
    pub secrets_env: String,
    /// `etc_dir/scale.env`: this host's counts of the processes and timers
    /// (`NAME=N` lines; root:root 0644; written by `NAME-VARIANT scale` or
    /// placed before install; kept on upgrade, removed on purge).
    pub scale_env: String,
    /// `etc_dir/local.env`: the admin's overrides, read last (made from
    /// the example when missing, never overwritten).
    pub local_env: String,
    /// `etc_dir/nginx.d`: the admin's nginx additions, included in the
    /// server block.
    pub nginx_dropins: String,
    /// `etc_dir/tls`: links to the certificate chain and key nginx serves.
    pub tls_dir: String,
    /// `tls_dir/fullchain.pem` -> certbot's live copy, or TLS_CERTIFICATE.
    pub tls_cert: String,
    /// `tls_dir/privkey.pem` -> certbot's live key, or TLS_KEY.
    pub tls_key: String,
    /// `/etc/letsencrypt/live/NAME-VARIANT`: certbot's lineage of the site
    /// (certificate name NAME-VARIANT).
    pub acme_live: String,
    /// `/var/log/NAME-site/VARIANT`: LOG_DIR.
    pub log_dir: String,
    /// `/var/backups/NAME-site/VARIANT`: where `NAME-VARIANT backup`
    /// writes a backup by default (one directory a backup, named by its
    /// UTC time, 0700 root) and the backup timer keeps the newest.
    pub backup_dir: String,
    /// `/srv/NAME-site/VARIANT`: convenience links.
    pub srv_dir: String,
    /// `/run/NAME-VARIANT`: runtime directory (made by the socket unit).
    pub run_dir: String,
    /// `run_dir/gunicorn.sock`: the socket gunicorn is given by its
    /// `.socket` unit and nginx proxies to.
    pub socket: String,
    /// `run_dir/next.sock`: the socket of the next gunicorn during a switch
    /// (docs/site-package.md, The switch).
    pub next_socket: String,
    /// `state_dir/upstream.conf`: the `server` line of the site's nginx
    /// upstream, naming socket or next_socket (written by the switch).
    pub upstream_conf: String,
    /// `/etc/nginx/sites-enabled/NAME-VARIANT.conf` -> nginx_conf.
    pub nginx_link: String,
    /// `/usr/bin/NAME-VARIANT`: the control utility.
    pub control: String,
    /// `/lib/systemd/system`.
    pub unit_dir: String,
    /// `NAME-VARIANT.socket`.
    pub socket_unit: String,
    /// `NAME-VARIANT.service`: gunicorn.
    pub service_unit: String,
    /// `NAME-VARIANT-next.socket` and `NAME-VARIANT-next.service`: the
    /// next gunicorn, run beside the serving one during a switch only
    /// (static units: never enabled).
    pub next_socket_unit: String,
    pub next_service_unit: String,
    /// `NAME-VARIANT-celery.service`: the celery worker.
    pub celery_unit: String,
    /// `redis-server@NAME-VARIANT.service`: the site's Redis (Debian's
    /// template unit of redis-server, one config file an instance).
    pub redis_unit: String,
    /// `etc_dir/redis.conf`: the instance's configuration (written by
    /// postinst: it holds the password; the site user reads it, which
    /// Debian's `/etc/redis` (2770 redis:redis) would not let it).
    pub redis_conf: String,
    /// `/etc/redis/redis-NAME-VARIANT.conf`: where Debian's template unit
    /// looks for an instance's configuration. djdd never writes it: when it
    /// exists, another instance of that name is the admin's.
    pub redis_foreign_conf: String,
    /// `state_dir/redis`: the instance's persistence (kept on purge).
    pub redis_dir: String,
    /// `/run/redis-NAME-VARIANT/redis.sock`: its only listener (0700, the
    /// site user's: the template's RuntimeDirectory).
    pub redis_socket: String,
    /// `/lib/systemd/system/redis-server@NAME-VARIANT.service.d/djdd.conf`:
    /// runs the instance as the site user, writing only its redis_dir.
    pub redis_dropin: String,
}

impl Layout {
    pub fn new(name: &str, variant: &str) -> Layout {
        let unit = format!("{name}-{variant}");
        let lib_dir = format!("/usr/lib/{name}-site/{variant}");
        let state_dir = format!("/var/lib/{name}-site/{variant}");
        let etc_dir = format!("/etc/{name}-site/{variant}");
        let run_dir = format!("/run/{unit}");
        let current = format!("{state_dir}/current");
        Layout {
            static_dir: format!("{lib_dir}/static"),
            site_env: format!("{lib_dir}/site.env"),
            launcher: format!("{lib_dir}/launch"),
            envfile: format!("{lib_dir}/envfile"),
            nginx_conf: format!("{lib_dir}/nginx.conf"),
            nginx_tls_conf: format!("{lib_dir}/nginx-tls.conf"),
            maintenance_dir: format!("{lib_dir}/maintenance"),
            local_env_example: format!("{lib_dir}/local.env.example"),
            media_dir: format!("{state_dir}/media"),
            data_dir: format!("{state_dir}/data"),
            units_file: format!("{state_dir}/units"),
            releases_dir: format!("{state_dir}/releases"),
            current_site_env: format!("{current}/site.env"),
            current,
            offline_flag: format!("{state_dir}/offline"),
            release_record: format!("{state_dir}/release-commands"),
            migration_record: format!("{state_dir}/migrations"),
            logrotate_conf: format!("/etc/logrotate.d/{name}-site-{variant}"),
            man_page: format!("/usr/share/man/man8/{unit}.8.gz"),
            acme_webroot: format!("{state_dir}/acme"),
            tls_env: format!("{state_dir}/tls.env"),
            tls_dir: format!("{etc_dir}/tls"),
            tls_cert: format!("{etc_dir}/tls/fullchain.pem"),
            tls_key: format!("{etc_dir}/tls/privkey.pem"),
            acme_live: format!("/etc/letsencrypt/live/{unit}"),
            secrets_env: format!("{etc_dir}/secrets.env"),
            local_env: format!("{etc_dir}/local.env"),
            scale_env: format!("{etc_dir}/scale.env"),
            nginx_dropins: format!("{etc_dir}/nginx.d"),
            log_dir: format!("/var/log/{name}-site/{variant}"),
            backup_dir: format!("/var/backups/{name}-site/{variant}"),
            srv_dir: format!("/srv/{name}-site/{variant}"),
            socket: format!("{run_dir}/gunicorn.sock"),
            next_socket: format!("{run_dir}/next.sock"),
            upstream_conf: format!("{state_dir}/upstream.conf"),
            nginx_link: format!("/etc/nginx/sites-enabled/{unit}.conf"),
            control: format!("/usr/bin/{unit}"),
            unit_dir: "/lib/systemd/system".to_string(),
            socket_unit: format!("{unit}.socket"),
            service_unit: format!("{unit}.service"),
            next_socket_unit: format!("{unit}-next.socket"),
            next_service_unit: format!("{unit}-next.service"),
            celery_unit: format!("{unit}-celery.service"),
            redis_unit: format!("redis-server@{unit}.service"),
            redis_conf: format!("{etc_dir}/redis.conf"),
            redis_foreign_conf: format!("/etc/redis/redis-{unit}.conf"),
            redis_dir: format!("{state_dir}/redis"),
            redis_socket: format!("/run/redis-{unit}/redis.sock"),
            redis_dropin: format!("/lib/systemd/system/redis-server@{unit}.service.d/djdd.conf"),
            unit,
            lib_dir,
            state_dir,
            etc_dir,
            run_dir,
        }
    }

    /// The environment files gunicorn, the celery worker and the control
    /// utility read, in order (a later value wins), each with whether it
    /// may be missing.
    pub fn env_files(&self) -> [(&str, bool); 4] {
        [
            (self.current_site_env.as_str(), false),
            (self.secrets_env.as_str(), false),
            (self.tls_env.as_str(), true),
            (self.local_env.as_str(), true),
        ]
    }

    /// The directories the site's processes may write to, and nothing
    /// else (the units' `ReadWritePaths=`), each with whether it may be
    /// missing when a unit starts (the run directory is made by systemd).
    pub fn writable(&self) -> Vec<(String, bool)> {
        vec![
            (self.media_dir.clone(), false),
            (self.data_dir.clone(), false),
            (self.log_dir.clone(), false),
            (self.run_dir.clone(), true),
        ]
    }

    /// The convenience links under `/srv/NAME-site/VARIANT/`: (link,
    /// target). `src` and `env` go through `current`, so they follow an
    /// upgrade.
    pub fn srv_links(&self) -> Vec<(String, String)> {
        [
            ("logs", self.log_dir.clone()),
            ("config", self.etc_dir.clone()),
            ("src", format!("{}/src", self.current)),
            ("env", format!("{}/env", self.current)),
            ("static", self.static_dir.clone()),
            ("media", self.media_dir.clone()),
        ]
        .into_iter()
        .map(|(l, t)| (format!("{}/{l}", self.srv_dir), t))
        .collect()
    }
}

/// `/usr/lib/NAME-env/HASH`: the virtualenv of the env package.
pub fn env_dir(name: &str, hash: &str) -> String {
    format!("/usr/lib/{name}-env/{hash}")
}

/// `/usr/lib/NAME-src/HASH`: the source tree of the src package.
pub fn src_dir(name: &str, hash: &str) -> String {
    format!("/usr/lib/{name}-src/{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::runtime_env;
    use crate::contract::tests::{blue, get};

    #[test]
    fn layout_for_demo_blue() {
        let p = Layout::new("demo", "blue");
        assert_eq!(p.lib_dir, "/usr/lib/demo-site/blue");
        assert_eq!(p.static_dir, "/usr/lib/demo-site/blue/static");
        assert_eq!(p.site_env, "/usr/lib/demo-site/blue/site.env");
        assert_eq!(p.media_dir, "/var/lib/demo-site/blue/media");
        assert_eq!(
            p.current_site_env,
            "/var/lib/demo-site/blue/current/site.env"
        );
        assert_eq!(p.etc_dir, "/etc/demo-site/blue");
        assert_eq!(p.secrets_env, "/etc/demo-site/blue/secrets.env");
        assert_eq!(p.local_env, "/etc/demo-site/blue/local.env");
        assert_eq!(p.log_dir, "/var/log/demo-site/blue");
        assert_eq!(p.srv_dir, "/srv/demo-site/blue");
        assert_eq!(p.socket, "/run/demo-blue/gunicorn.sock");
        assert_eq!(p.celery_unit, "demo-blue-celery.service");
        assert_eq!(env_dir("demo", "f9e8d7"), "/usr/lib/demo-env/f9e8d7");
        assert_eq!(src_dir("demo", "a1b2c3"), "/usr/lib/demo-src/a1b2c3");
        let links = p.srv_links();
        assert!(links.contains(&(
            "/srv/demo-site/blue/media".into(),
            "/var/lib/demo-site/blue/media".into()
        )));
        assert!(links.contains(&(
            "/srv/demo-site/blue/src".into(),
            "/var/lib/demo-site/blue/current/src".into()
        )));
        assert_eq!(links.len(), 6);
        // The runtime values of the contract's variables are the layout's.
        let env = runtime_env(&blue());
        assert_eq!(get(&env, "STATIC_ROOT"), Some(p.static_dir.as_str()));
        assert_eq!(get(&env, "MEDIA_ROOT"), Some(p.media_dir.as_str()));
        assert_eq!(get(&env, "LOG_DIR"), Some(p.log_dir.as_str()));
        assert_eq!(get(&env, "HOME"), Some(p.state_dir.as_str()));
    }
}
