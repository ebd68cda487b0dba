//! The rules for the values of a variant (and of the render context made
//! from it): branch, domain, settings module, URL paths, environment names
//! and values, Redis sizes and policies, celery's broker, ACME server and
//! e-mail, process names and copies, sandbox relaxations. One function per
//! value; `config` checks input with them, `render` checks its context
//! with the same function, so that a value one accepts is never refused by
//! the other. Follows git-check-ref-format(1), RFC 1123 (host names),
//! systemd.exec(5) (EnvironmentFile) and redis.conf's size units.
//!
//! Each function takes WHAT, the thing at fault as the caller names it (a
//! variant file's key, a command-line option, a context field), and returns
//! [`Error::Invalid`] with WHAT and the rule. Pure.

use super::shown;
use crate::error::{Error, Result};

/// The most gunicorn workers a variant may ask for.
pub const MAX_WORKERS: i64 = 64;
/// The most copies of one process a variant may run.
pub const MAX_COPIES: i64 = 16;
/// The `maxmemory-policy` values Redis 7 knows.
pub const REDIS_POLICIES: &[&str] = &[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];
/// The longest graceful timeout a variant may ask for.
pub const MAX_GRACEFUL_TIMEOUT: i64 = 3600;
/// The sandbox relaxation `--allow wx-memory`: no `MemoryDenyWriteExecute`
/// (a JIT, or a cffi callback that needs writable executable memory).
pub const ALLOW_WX_MEMORY: &str = "wx-memory";
/// The prefix of `--allow address-family=AF_X`: one more socket family
/// beside AF_UNIX, AF_INET and AF_INET6.
pub const ALLOW_FAMILY_PREFIX: &str = "address-family=";
/// The address families a variant may add (`--allow address-family=F`).
pub const ALLOWABLE_FAMILIES: &[&str] =
    &["AF_NETLINK", "AF_PACKET", "AF_ALG", "AF_VSOCK", "AF_CAN"];

/// A sandbox relaxation a variant may ask for: `wx-memory`, or
/// `address-family=F` with F one of [`ALLOWABLE_FAMILIES`]. Anything else
/// is refused, so the units keep their strict default.
pub fn check_allow(what: &str, a: &str) -> Result<()> {
    if a == ALLOW_WX_MEMORY {
        return Ok(());
    }
    if let Some(f) = a.strip_prefix(ALLOW_FAMILY_PREFIX) {
        if ALLOWABLE_FAMILIES.contains(&f) {
            return Ok(());
        }
        return Err(Error::invalid(
            what,
            format!(
                "address family {} cannot be allowed: one of {}",
                shown(f),
                ALLOWABLE_FAMILIES.join(", ")
            ),
        ));
    }
    Err(Error::invalid(
        what,
        format!(
            "{} is not a sandbox relaxation djdd knows: {ALLOW_WX_MEMORY}, or {ALLOW_FAMILY_PREFIX}F (F one of {})",
            shown(a),
            ALLOWABLE_FAMILIES.join(", ")
        ),
    ))
}

/// A branch djdd may build: git-check-ref-format(1) `--branch` rules, and
/// only the characters `A-Z a-z 0-9 . _ / - + @` (no shell metacharacters).
pub fn check_branch(what: &str, b: &str) -> Result<()> {
    let s = shown(b);
    const RULE: &str =
        "a branch uses only letters, digits and . _ / - + @, and follows git-check-ref-format(1)";
    if b.is_empty() {
        return Err(Error::invalid(what, format!("branch is empty: {RULE}")));
    }
    if b.starts_with('-') {
        return Err(Error::invalid(
            what,
            format!("branch {s} starts with '-' (it would read as an option): {RULE}"),
        ));
    }
    if let Some(c) = b
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._/-+@".contains(*c)))
    {
        return Err(Error::invalid(
            what,
            format!("branch {s} contains {}: {RULE}", shown(&c.to_string())),
        ));
    }
    let problem = if b.contains("..") {
        Some("contains '..'")
    } else if b.contains("//") {
        Some("contains '//'")
    } else if b.starts_with('/') || b.ends_with('/') {
        Some("starts or ends with '/'")
    } else if b.ends_with('.') {
        Some("ends with '.'")
    } else if b == "@" {
        Some("is '@'")
    } else if b == "HEAD" {
        Some("is 'HEAD'")
    } else if b
        .split('/')
        .any(|c| c.starts_with('.') || c.ends_with(".lock"))
    {
        Some("has a component starting with '.' or ending with '.lock'")
    } else if b.len() > 200 {
        Some("is longer than 200 characters")
    } else {
        None
    };
    match problem {
        Some(p) => Err(Error::invalid(what, format!("branch {s} {p}: {RULE}"))),
        None => Ok(()),
    }
}

/// A host name of two or more labels (`example.org`; the site's nginx
/// also answers `www.` before it): dot-separated labels of `a-z 0-9 -` (1 to 63 characters, not
/// starting or ending with '-'), at most 253 characters in all (RFC 1123).
pub fn check_domain(what: &str, d: &str) -> Result<()> {
    let s = shown(d);
    const RULE: &str = "a domain is a host name: two or more dot-separated labels of lowercase letters, digits and '-' (1-63 characters, no '-' at either end), at most 253 characters";
    if d.is_empty() {
        return Err(Error::invalid(what, format!("domain is empty: {RULE}")));
    }
    if let Some(c) = d
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        let extra = if c.is_ascii_uppercase() {
            " (write it in lowercase)"
        } else {
            ""
        };
        return Err(Error::invalid(
            what,
            format!(
                "domain {s} contains {}{extra}: {RULE}",
                shown(&c.to_string())
            ),
        ));
    }
    if d.len() > 253 {
        return Err(Error::invalid(
            what,
            format!("domain {s} is {} characters long: {RULE}", d.len()),
        ));
    }
    if !d.contains('.') {
        return Err(Error::invalid(
            what,
            format!("domain {s} has one label only: {RULE}"),
        ));
    }
    for label in d.split('.') {
        if label.is_empty() {
            return Err(Error::invalid(
                what,
                format!("domain {s} has an empty label: {RULE}"),
            ));
        }
        if label.len() > 63 {
            return Err(Error::invalid(
                what,
                format!("domain {s} has a label longer than 63 characters: {RULE}"),
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(Error::invalid(
                what,
                format!("domain {s} has a label starting or ending with '-': {RULE}"),
            ));
        }
    }
    Ok(())
}

/// A dotted Python module path (`project.settings.prod`).
pub fn check_settings(what: &str, m: &str) -> Result<()> {
    const RULE: &str =
        "settings is a dotted Python module path: identifiers [A-Za-z_][A-Za-z0-9_]* joined by '.'";
    let s = shown(m);
    if m.is_empty() {
        return Err(Error::invalid(
            what,
            format!("settings module is empty: {RULE}"),
        ));
    }
    if m.len() > 200 {
        return Err(Error::invalid(
            what,
            format!("settings module {s} is longer than 200 characters: {RULE}"),
        ));
    }
    for part in m.split('.') {
        let ok = part
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(Error::invalid(
                what,
                format!("settings module {s} is not a module path: {RULE}"),
            ));
        }
    }
    Ok(())
}

/// gunicorn workers: 1..=64.
pub fn check_workers(what: &str, w: i64) -> Result<u32> {
    if (1..=MAX_WORKERS).contains(&w) {
        Ok(w as u32)
    } else {
        Err(Error::invalid(
            what,
            format!("workers = {w} is out of range: must be 1 to {MAX_WORKERS}"),
        ))
    }
}

/// The graceful timeout of a switch: 1..=3600 seconds.
pub fn check_graceful_timeout(what: &str, t: i64) -> Result<u32> {
    if (1..=MAX_GRACEFUL_TIMEOUT).contains(&t) {
        Ok(t as u32)
    } else {
        Err(Error::invalid(
            what,
            format!(
                "graceful_timeout = {t} is out of range: must be 1 to {MAX_GRACEFUL_TIMEOUT} (seconds)"
            ),
        ))
    }
}

/// A URL path that djdd's scripts request with curl (`health_url`,
/// `warm_url`, the project's `health.url`): starts with one '/', at most
/// 512 characters of letters, digits and `- . _ ~ / ? = & % + , : @`.
/// WHAT names the thing at fault (a file's key, an option), NAME the
/// value in the message. The variant, the project file and
/// the render context all check with this one rule, so that a value one
/// accepts is never refused by another.
pub fn check_url_path(what: &str, name: &str, h: &str) -> Result<()> {
    const ALLOWED: &str = "-._~/?=&%+,:@";
    let problem = if !h.starts_with('/') || h.starts_with("//") {
        "does not start with one '/'".to_string()
    } else if h.len() > 512 {
        "is longer than 512 characters".to_string()
    } else if let Some(c) = h
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ALLOWED.contains(*c)))
    {
        format!("contains {}", shown(&c.to_string()))
    } else {
        return Ok(());
    };
    Err(Error::invalid(
        what,
        format!(
            "{name} {} {problem}: {name} is a path starting with one '/' (letters, digits and - . _ ~ / ? = & % + , : @ only)",
            shown(h)
        ),
    ))
}

/// An environment key: `[A-Z_][A-Z0-9_]*`, at most 128 characters, and not
/// a name the deploy contract sets itself (`reserved`: names, or prefixes
/// written `PREFIX*`).
pub fn check_env_key(what: &str, k: &str, reserved: &[&str]) -> Result<()> {
    const RULE: &str = "environment names match [A-Z_][A-Z0-9_]*";
    let s = shown(k);
    let ok = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(Error::invalid(
            what,
            format!("environment name {s} is not allowed: {RULE}"),
        ));
    }
    if k.len() > 128 {
        return Err(Error::invalid(
            what,
            format!("environment name {s} is longer than 128 characters"),
        ));
    }
    let is_reserved = reserved.iter().any(|r| match r.strip_suffix('*') {
        Some(prefix) => k.starts_with(prefix),
        None => *r == k,
    });
    if is_reserved {
        return Err(Error::invalid(
            what,
            format!(
                "environment name {s} is set by djdd itself (deploy contract) and cannot be overridden"
            ),
        ));
    }
    Ok(())
}

/// An environment value: at most 4096 characters, no control characters
/// (a newline would split an EnvironmentFile line).
pub fn check_env_value(what: &str, v: &str) -> Result<()> {
    if v.len() > 4096 {
        return Err(Error::invalid(
            what,
            "value is longer than 4096 characters".to_string(),
        ));
    }
    if let Some(c) = v.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            what,
            format!(
                "value contains the control character {}: values are one line of printable text",
                shown(&c.to_string())
            ),
        ));
    }
    Ok(())
}

/// A Redis memory size: digits, optionally followed by a unit Redis reads
/// (`b`, `k`, `kb`, `m`, `mb`, `g`, `gb`, any case), at least 1 MiB.
pub fn check_redis_maxmemory(what: &str, m: &str) -> Result<()> {
    let rule = "redis_maxmemory is a size Redis reads: a number with an optional unit (kb, mb, gb), e.g. 128mb, at least 1mb";
    let n = m.bytes().take_while(|b| b.is_ascii_digit()).count();
    let unit = m[n..].to_ascii_lowercase();
    let mult: Option<u64> = match unit.as_str() {
        "" | "b" => Some(1),
        "k" => Some(1000),
        "kb" => Some(1024),
        "m" => Some(1_000_000),
        "mb" => Some(1 << 20),
        "g" => Some(1_000_000_000),
        "gb" => Some(1 << 30),
        _ => None,
    };
    let bytes = m[..n]
        .parse::<u64>()
        .ok()
        .zip(mult)
        .and_then(|(v, k)| v.checked_mul(k));
    match bytes {
        Some(b) if n > 0 && m.len() <= 24 && b >= 1 << 20 => Ok(()),
        _ => Err(Error::invalid(
            what,
            format!("redis_maxmemory {} is not a size: {rule}", shown(m)),
        )),
    }
}

/// A `maxmemory-policy` Redis knows.
pub fn check_redis_policy(what: &str, p: &str) -> Result<()> {
    if REDIS_POLICIES.contains(&p) {
        Ok(())
    } else {
        Err(Error::invalid(
            what,
            format!(
                "redis_policy {} is not a policy Redis knows: one of {}",
                shown(p),
                REDIS_POLICIES.join(", ")
            ),
        ))
    }
}

/// celery's broker: `rabbitmq` or `redis`.
pub fn check_broker(what: &str, b: &str) -> Result<()> {
    if b == "rabbitmq" || b == "redis" {
        Ok(())
    } else {
        Err(Error::invalid(
            what,
            format!("broker {} is not rabbitmq or redis", shown(b)),
        ))
    }
}

/// An ACME directory: an `https://` URL of URL-safe characters (it is
/// written into a shell script and certbot's renewal configuration).
pub fn check_acme_server(what: &str, u: &str) -> Result<()> {
    const RULE: &str = "the ACME server is the https:// URL of an ACME directory (e.g. https://acme-staging-v02.api.letsencrypt.org/directory)";
    let s = shown(u);
    let Some(rest) = u.strip_prefix("https://") else {
        return Err(Error::invalid(
            what,
            format!("ACME server {s} is not an https:// URL: {RULE}"),
        ));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(Error::invalid(
            what,
            format!("ACME server {s} names no host: {RULE}"),
        ));
    }
    if u.len() > 512 {
        return Err(Error::invalid(
            what,
            format!("ACME server {s} is longer than 512 characters: {RULE}"),
        ));
    }
    if let Some(c) = u
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~/?=&%+,:@[]".contains(*c)))
    {
        return Err(Error::invalid(
            what,
            format!("ACME server {s} contains {}: {RULE}", shown(&c.to_string())),
        ));
    }
    Ok(())
}

/// An e-mail address as an ACME account needs it: `LOCAL@DOMAIN`, the
/// local part of letters, digits and `. _ % + -`, the domain a host name
/// with at least one dot.
pub fn check_email(what: &str, m: &str) -> Result<()> {
    const RULE: &str = "an e-mail address is LOCAL@DOMAIN: LOCAL of letters, digits and . _ % + -, DOMAIN a host name with a dot";
    let s = shown(m);
    let Some((local, domain)) = m.split_once('@') else {
        return Err(Error::invalid(
            what,
            format!("e-mail {s} has no '@': {RULE}"),
        ));
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.starts_with('-')
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c));
    if !local_ok {
        return Err(Error::invalid(
            what,
            format!("e-mail {s} has an invalid local part: {RULE}"),
        ));
    }
    if check_domain(what, &domain.to_ascii_lowercase()).is_err() {
        return Err(Error::invalid(
            what,
            format!("e-mail {s} has an invalid domain: {RULE}"),
        ));
    }
    Ok(())
}

/// A process name as djdd.toml's `[processes.NAME]` allows it.
pub fn check_process_name(what: &str, p: &str) -> Result<()> {
    let ok = p.len() <= 32
        && p.starts_with(|c: char| c.is_ascii_lowercase())
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !p.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            what,
            format!(
                "process {} is not a process name: ^[a-z][a-z0-9-]*$, not ending with '-', at most 32 characters",
                shown(p)
            ),
        ))
    }
}

/// Copies of a process: 0 (off) to [`MAX_COPIES`].
pub fn check_copies(what: &str, p: &str, n: i64) -> Result<u32> {
    if (0..=MAX_COPIES).contains(&n) {
        Ok(n as u32)
    } else {
        Err(Error::invalid(
            what,
            format!("{n} copies of process {p} is out of range: 0 (off) to {MAX_COPIES}"),
        ))
    }
}

/// The lowest and highest fixed uid (and gid) of a site user: Debian's
/// range for system users that an administrator picks (Debian Policy
/// 9.2.2: 100-999 are dynamically allocated system users; a fixed one
/// must not collide with what adduser hands out, so the admin chooses one
/// free on every host).
pub const MIN_UID: i64 = 100;
pub const MAX_UID: i64 = 999;

/// A fixed uid and gid for the site user: [`MIN_UID`] to [`MAX_UID`].
pub fn check_uid(what: &str, n: i64) -> Result<u32> {
    if (MIN_UID..=MAX_UID).contains(&n) {
        Ok(n as u32)
    } else {
        Err(Error::invalid_hint(
            what,
            format!("uid {n} is out of range: a system user's uid, {MIN_UID} to {MAX_UID}"),
            "pick a uid and gid that are free on every host of the site (`getent passwd N`, `getent group N`)",
        ))
    }
}

/// The most backups a variant's backup timer may keep (`--backup-keep`).
pub const MAX_BACKUP_KEEP: i64 = 1000;
/// The backups the backup timer keeps when the variant does not say.
pub const DEFAULT_BACKUP_KEEP: u32 = 7;

/// The text of a systemd calendar expression (systemd.time(7)): 1 to 256
/// characters, letters, digits, space and `* - : . , / ~ _ +` only (what
/// a unit file carries as is). Its meaning is systemd's: `djdd build`
/// checks it with `systemd-analyze calendar`.
pub fn check_calendar(what: &str, c: &str) -> Result<()> {
    let ok = !c.trim().is_empty()
        && c.len() <= 256
        && c.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || " *-:.,/~_+".contains(ch));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_hint(
            what,
            format!(
                "{c:?} is not a systemd calendar expression (letters, digits, space and * - : . , / ~ _ + only)"
            ),
            "e.g. \"daily\", \"hourly\", \"Mon *-*-* 04:00:00\", \"*:0/15\" (systemd.time(7))",
        ))
    }
}

/// How many backups the backup timer keeps: 1 to [`MAX_BACKUP_KEEP`].
pub fn check_backup_keep(what: &str, n: i64) -> Result<u32> {
    if (1..=MAX_BACKUP_KEEP).contains(&n) {
        Ok(n as u32)
    } else {
        Err(Error::invalid_hint(
            what,
            format!("{n} backups to keep is out of range: 1 to {MAX_BACKUP_KEEP}"),
            "keep at least the newest backup, e.g. --backup-keep 7",
        ))
    }
}

/// A secret's one-line description (djdd.toml `[secrets]`): printable,
/// 1 to 200 characters.
pub fn check_description(what: &str, d: &str) -> Result<()> {
    if d.trim().is_empty() || d.chars().count() > 200 || d.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(
            what,
            format!(
                "description {} must be one line of 1 to 200 printable characters",
                shown(d)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rule of this module with values it accepts and values it
    /// refuses; a refusal names WHAT and shows no raw control character.
    #[test]
    fn every_rule_accepts_and_refuses() {
        type Rule = fn(&str) -> Result<()>;
        let long = |n: usize| "a".repeat(n);
        let cases: Vec<(&str, Rule, Vec<String>, Vec<String>)> = vec![
            (
                "branch",
                |v| check_branch("W", v),
                vec![
                    "main".into(),
                    "release/2.x".into(),
                    "feature/a+b".into(),
                    "user@x".into(),
                ],
                vec![
                    "".into(),
                    "-x".into(),
                    "a..b".into(),
                    "a b".into(),
                    "HEAD".into(),
                    "x.lock".into(),
                    "a\nb".into(),
                ],
            ),
            (
                "domain",
                |v| check_domain("W", v),
                vec![
                    "example.org".into(),
                    "a-b.c0.example.org".into(),
                    "demo-blue.localhost".into(),
                    format!("{}.org", long(63)),
                ],
                vec![
                    "".into(),
                    "localhost".into(),
                    "Example.org".into(),
                    "a..org".into(),
                    "-a.org".into(),
                    "a.org}".into(),
                    "a\nb.org".into(),
                    format!("{}.org", long(64)),
                    format!("{}.org", long(250)),
                ],
            ),
            (
                "settings",
                |v| check_settings("W", v),
                vec![
                    "settings".into(),
                    "demo.settings.prod".into(),
                    "_x.y1".into(),
                ],
                vec![
                    "".into(),
                    "demo..settings".into(),
                    "demo settings".into(),
                    "1x".into(),
                    "a.\"b\"".into(),
                    long(201),
                ],
            ),
            (
                "url path",
                |v| check_url_path("W", "health_url", v),
                vec!["/".into(), "/health/".into(), "/h?a=1,2&b=%20".into()],
                vec![
                    "".into(),
                    "health".into(),
                    "//x".into(),
                    "/a b".into(),
                    "/a#b".into(),
                    format!("/{}", long(512)),
                ],
            ),
            (
                "environment name",
                |v| check_env_key("W", v, &["DJANGO_SETTINGS_MODULE", "DJDD_*"]),
                vec!["A".into(), "_X1".into(), "SMTP_PASSWORD".into()],
                vec![
                    "".into(),
                    "lower".into(),
                    "1A".into(),
                    "A-B".into(),
                    "DJANGO_SETTINGS_MODULE".into(),
                    "DJDD_X".into(),
                    long(129).to_uppercase(),
                ],
            ),
            (
                "environment value",
                |v| check_env_value("W", v),
                vec!["".into(), "anything \"goes\" $here; {}".into(), long(4096)],
                vec![
                    "a\tb".into(),
                    "a\nb".into(),
                    "a\rb".into(),
                    "\u{1b}[0m".into(),
                    long(4097),
                ],
            ),
            (
                "redis size",
                |v| check_redis_maxmemory("W", v),
                vec!["128mb".into(), "1mb".into(), "2G".into(), "1048576".into()],
                vec![
                    "".into(),
                    "mb".into(),
                    "1kb".into(),
                    "12 mb".into(),
                    "128tb".into(),
                    "99999999999999999999gb".into(),
                ],
            ),
            (
                "redis policy",
                |v| check_redis_policy("W", v),
                vec!["noeviction".into(), "allkeys-lru".into()],
                vec!["".into(), "lru".into()],
            ),
            (
                "broker",
                |v| check_broker("W", v),
                vec!["rabbitmq".into(), "redis".into()],
                vec!["".into(), "kafka".into()],
            ),
            (
                "ACME server",
                |v| check_acme_server("W", v),
                vec!["https://acme.example.org/directory".into()],
                vec![
                    "http://acme.example.org/".into(),
                    "https:///x".into(),
                    "https://a.org/'x".into(),
                ],
            ),
            (
                "e-mail",
                |v| check_email("W", v),
                vec!["ops@example.org".into(), "a.b+c@x.example.org".into()],
                vec![
                    "".into(),
                    "ops".into(),
                    "@example.org".into(),
                    "ops@localhost".into(),
                    ".a@x.org".into(),
                ],
            ),
            (
                "process name",
                |v| check_process_name("W", v),
                vec!["beat".into(), "send-alerts2".into()],
                vec![
                    "".into(),
                    "Beat".into(),
                    "a_b".into(),
                    "a-".into(),
                    long(33),
                ],
            ),
            (
                "sandbox relaxation",
                |v| check_allow("W", v),
                vec!["wx-memory".into(), "address-family=AF_NETLINK".into()],
                vec![
                    "".into(),
                    "address-family=AF_BLUETOOTH".into(),
                    "syscalls=@raw-io".into(),
                ],
            ),
            (
                "workers",
                |v| check_workers("W", v.parse().unwrap()).map(drop),
                vec!["1".into(), MAX_WORKERS.to_string()],
                vec!["0".into(), (MAX_WORKERS + 1).to_string(), "-1".into()],
            ),
            (
                "graceful timeout",
                |v| check_graceful_timeout("W", v.parse().unwrap()).map(drop),
                vec!["1".into(), MAX_GRACEFUL_TIMEOUT.to_string()],
                vec!["0".into(), (MAX_GRACEFUL_TIMEOUT + 1).to_string()],
            ),
            (
                "copies",
                |v| check_copies("W", "beat", v.parse().unwrap()).map(drop),
                vec!["0".into(), MAX_COPIES.to_string()],
                vec!["-1".into(), (MAX_COPIES + 1).to_string()],
            ),
            (
                "uid",
                |v| check_uid("W", v.parse().unwrap()).map(drop),
                vec!["100".into(), "999".into(), "640".into()],
                vec!["0".into(), "99".into(), "1000".into(), "-5".into()],
            ),
            (
                "description",
                |v| check_description("W", v),
                vec!["the SMTP relay's password".into(), long(200)],
                vec!["".into(), "  ".into(), long(201), "two\nlines".into()],
            ),
        ];
        for (rule, check, good, bad) in cases {
            for v in good {
                if let Err(e) = check(&v) {
                    panic!("{rule}: {v:?} refused: {e}");
                }
            }
            for v in bad {
                let Err(e) = check(&v) else {
                    panic!("{rule}: {v:?} accepted");
                };
                let Error::Invalid { what, .. } = &e else {
                    panic!("{rule}: {v:?}: not Error::Invalid: {e:?}");
                };
                assert_eq!(what, "W", "{rule}: {v:?}");
                let text = e.to_string();
                assert!(
                    !text.chars().any(|c| c.is_control() && c != '\n'),
                    "{rule}: raw control character in {text:?}"
                );
            }
        }
    }
}
