//! The site's secrets: the ones postinst generates on the target
//! ([`Secret`], [`Secrets`]), the secret run-time variables composed from
//! them (kept symbolic as [`Part`]s for the target to fill in), and the
//! full run-time environment.
//!
//! Never generates a secret or stores one: real values are made on the
//! target; here only fake ones for a build or `djdd check`. Imports
//! nothing of the crate outside the contract; pure.

use super::Site;
use super::variables::{
    TemplatePart, VARIABLES, applies, expand, runtime_env, site_value, split_template,
};

/// The secrets postinst generates on the target when they are missing and
/// keeps across upgrades (they live in `secrets.env`, never in a package).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secret {
    SecretKey,
    DatabasePassword,
    BrokerPassword,
    RedisPassword,
}

impl Secret {
    pub const ALL: [Secret; 4] = [
        Secret::SecretKey,
        Secret::DatabasePassword,
        Secret::BrokerPassword,
        Secret::RedisPassword,
    ];

    /// The placeholder that stands for it in templates.
    pub fn placeholder(self) -> &'static str {
        match self {
            Secret::SecretKey => "secret_key",
            Secret::DatabasePassword => "database_password",
            Secret::BrokerPassword => "broker_password",
            Secret::RedisPassword => "redis_password",
        }
    }

    /// The variable that holds it in `secrets.env` (so postinst can read an
    /// existing one back and keep it).
    pub fn variable(self) -> &'static str {
        match self {
            Secret::SecretKey => "SECRET_KEY",
            Secret::DatabasePassword => "DATABASE_PASSWORD",
            Secret::BrokerPassword => "BROKER_PASSWORD",
            Secret::RedisPassword => "REDIS_PASSWORD",
        }
    }

    /// How many random bytes postinst reads from /dev/urandom for it.
    pub fn bytes(self) -> usize {
        match self {
            Secret::SecretKey => 32,
            Secret::DatabasePassword => 16,
            Secret::BrokerPassword => 16,
            Secret::RedisPassword => 16,
        }
    }

    /// Its length: postinst writes the bytes as lowercase hexadecimal
    /// (safe in URLs, shell and environment files without quoting). An
    /// administrator may replace a value in `secrets.env`; postinst keeps
    /// whatever is there.
    pub fn length(self) -> usize {
        2 * self.bytes()
    }

    fn from_placeholder(p: &str) -> Option<Secret> {
        Secret::ALL.into_iter().find(|s| s.placeholder() == p)
    }
}

/// The values of the secrets, for code that knows them (tests, `djdd
/// check` with fake ones). postinst uses [`secret_env_parts`] instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secrets {
    pub secret_key: String,
    pub database_password: String,
    pub broker_password: String,
    pub redis_password: String,
}

impl Secrets {
    /// Obviously fake secrets of the right shape (for `djdd check`).
    pub fn fake() -> Secrets {
        let fill = |prefix: &str, s: Secret| {
            let mut v: String = prefix.to_string();
            let digits = "0123456789";
            while v.len() < s.length() {
                v.push_str(digits);
            }
            v.truncate(s.length());
            v
        };
        Secrets {
            secret_key: fill("djddcheckfakesecretkeynotsecret", Secret::SecretKey),
            database_password: fill("djddcheckfakedbpassword", Secret::DatabasePassword),
            broker_password: fill("djddcheckfakebroker", Secret::BrokerPassword),
            redis_password: fill("djddcheckfakeredis", Secret::RedisPassword),
        }
    }

    fn get(&self, s: Secret) -> &str {
        match s {
            Secret::SecretKey => &self.secret_key,
            Secret::DatabasePassword => &self.database_password,
            Secret::BrokerPassword => &self.broker_password,
            Secret::RedisPassword => &self.redis_password,
        }
    }
}

/// The secret run-time variables with the given secrets' values: what
/// `secrets.env` holds.
pub fn secret_env(site: &Site, secrets: &Secrets) -> Vec<(String, String)> {
    secret_env_parts(site)
        .into_iter()
        .map(|(name, parts)| {
            let value = parts
                .iter()
                .map(|p| match p {
                    Part::Text(t) => t.as_str(),
                    Part::Secret(s) => secrets.get(*s),
                })
                .collect();
            (name, value)
        })
        .collect()
}

/// A piece of a secret variable's value: literal text, or a secret that
/// only the target host knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Secret(Secret),
}

/// The secret variables as pieces, so postinst can write `secrets.env`:
/// each [`Part::Text`] is literal (quote it in generated shell), each
/// [`Part::Secret`] is the shell variable holding that secret
/// (`Secret::variable`). Only the variables that apply to the site.
pub fn secret_env_parts(site: &Site) -> Vec<(String, Vec<Part>)> {
    VARIABLES
        .iter()
        .filter(|v| v.secret && applies(v, site))
        .filter_map(|v| {
            let template = v.run?;
            let mut parts: Vec<Part> = Vec::new();
            for p in split_template(template) {
                let part = match p {
                    TemplatePart::Text(t) => Part::Text(t.to_string()),
                    TemplatePart::Placeholder(name) => match Secret::from_placeholder(name) {
                        Some(s) => Part::Secret(s),
                        None => {
                            Part::Text(expand(&format!("{{{name}}}"), &|p| site_value(site, p)))
                        }
                    },
                };
                // Adjacent text is one piece.
                match (parts.last_mut(), part) {
                    (Some(Part::Text(prev)), Part::Text(t)) => prev.push_str(&t),
                    (_, part) => parts.push(part),
                }
            }
            Some((v.name.to_string(), parts))
        })
        .collect()
}

/// The secrets a site needs (the broker password only with celery).
pub fn secrets_needed(site: &Site) -> Vec<Secret> {
    let mut out: Vec<Secret> = Vec::new();
    for (_, parts) in secret_env_parts(site) {
        for p in parts {
            if let Part::Secret(s) = p {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
    }
    out
}

/// The full run-time environment (the environment file, then
/// `secrets.env`), as the processes see it before any `local.env`.
pub fn full_runtime_env(site: &Site, secrets: &Secrets) -> Vec<(String, String)> {
    let mut env = runtime_env(site);
    env.extend(secret_env(site, secrets));
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::tests::{blue, get};
    use crate::contract::{PLACEHOLDERS, variable};

    #[test]
    fn secret_env_composes_urls_from_secrets() {
        let secrets = Secrets {
            secret_key: "k".repeat(64),
            database_password: "p".repeat(32),
            broker_password: "b".repeat(24),
            redis_password: "r".repeat(32),
        };
        let env = secret_env(&blue(), &secrets);
        let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "SECRET_KEY",
                "DATABASE_URL",
                "DATABASE_PASSWORD",
                "CELERY_BROKER_URL",
                "BROKER_PASSWORD"
            ]
        );
        assert_eq!(
            get(&env, "DATABASE_URL").unwrap(),
            format!(
                "postgres://demo-blue:{}@127.0.0.1:5432/demo-blue",
                "p".repeat(32)
            )
        );
        assert_eq!(
            get(&env, "CELERY_BROKER_URL").unwrap(),
            format!(
                "amqp://demo-blue:{}@127.0.0.1:5672/demo-blue",
                "b".repeat(24)
            )
        );
    }

    #[test]
    fn redis_gives_a_url_and_can_be_the_broker() {
        let site = Site {
            redis: true,
            ..blue()
        };
        let env = full_runtime_env(&site, &Secrets::fake());
        let pw = Secrets::fake().redis_password;
        assert_eq!(
            get(&env, "REDIS_URL").unwrap(),
            format!("unix://:{pw}@/run/redis-demo-blue/redis.sock?db=0")
        );
        assert!(
            get(&env, "CELERY_BROKER_URL")
                .unwrap()
                .starts_with("amqp://")
        );
        let site = Site {
            redis_broker: true,
            ..site
        };
        let env = full_runtime_env(&site, &Secrets::fake());
        assert_eq!(
            get(&env, "CELERY_BROKER_URL").unwrap(),
            format!("redis+socket://:{pw}@/run/redis-demo-blue/redis.sock?virtual_host=1")
        );
        assert_eq!(get(&env, "BROKER_PASSWORD"), None);
        assert_eq!(
            secrets_needed(&site),
            [
                Secret::SecretKey,
                Secret::DatabasePassword,
                Secret::RedisPassword
            ]
        );
        assert_eq!(
            get(&full_runtime_env(&blue(), &Secrets::fake()), "REDIS_URL"),
            None
        );
    }

    #[test]
    fn no_broker_without_celery() {
        let site = Site {
            celery: false,
            ..blue()
        };
        let env = full_runtime_env(&site, &Secrets::fake());
        assert_eq!(get(&env, "CELERY_BROKER_URL"), None);
        assert_eq!(get(&env, "BROKER_PASSWORD"), None);
        assert_eq!(
            secrets_needed(&site),
            [Secret::SecretKey, Secret::DatabasePassword]
        );
        assert_eq!(secrets_needed(&blue()).len(), 3);
    }

    #[test]
    fn secret_parts_keep_secrets_symbolic() {
        let parts = secret_env_parts(&blue());
        let (_, db) = parts.iter().find(|(n, _)| n == "DATABASE_URL").unwrap();
        assert_eq!(
            db,
            &vec![
                Part::Text("postgres://demo-blue:".into()),
                Part::Secret(Secret::DatabasePassword),
                Part::Text("@127.0.0.1:5432/demo-blue".into()),
            ]
        );
    }

    #[test]
    fn secret_meanings_state_their_lengths() {
        for s in Secret::ALL {
            let want = format!("{} random hexadecimal digits", s.length());
            let (_, meaning) = PLACEHOLDERS
                .iter()
                .find(|(p, _)| *p == s.placeholder())
                .unwrap();
            assert!(meaning.contains(&want), "{}: {meaning}", s.placeholder());
            let v = variable(s.variable()).unwrap();
            assert!(v.meaning.contains(&want), "{}: {}", v.name, v.meaning);
        }
    }

    #[test]
    fn fake_secrets_have_the_right_shape() {
        let s = Secrets::fake();
        for (s, v) in [
            (Secret::SecretKey, &s.secret_key),
            (Secret::DatabasePassword, &s.database_password),
            (Secret::BrokerPassword, &s.broker_password),
        ] {
            assert_eq!(v.len(), s.length());
            assert!(v.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }
}
