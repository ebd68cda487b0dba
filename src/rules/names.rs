//! The rules for a project NAME and a VARIANT name.
//!
//! NAME and VARIANT become parts of Debian package names (`NAME-env-HASH`,
//! `NAME-site-VARIANT`, Debian Policy §5.6.1), of paths, and of the system
//! user and group `NAME-VARIANT` that runs a site (adduser's NAME_REGEX and
//! the 32-character limit of `useradd`). This module states those rules and
//! checks values against them. Pure: never touches the disk or runs anything.

use crate::error::{Error, Result};

/// A Python distribution, extra or group name in its normal form (PEP 503,
/// PEP 685): lowercase, each run of `-`, `_` and `.` one `-`. Used where
/// names are compared: a lock's packages, djdd.toml's extras and groups.
pub fn python_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The longest system user name (`NAME-VARIANT`) useradd accepts.
pub const MAX_USER_LEN: usize = 32;

/// The rule for NAME and VARIANT, as shown in error messages.
pub const NAME_RULE: &str = "must match ^[a-z][a-z0-9-]*$ (a lowercase ASCII letter, then lowercase letters, digits and '-') and not end with '-'";

/// Well-known users and groups of Debian systems (base-passwd, and the
/// services a site uses). A site user `NAME-VARIANT` must not be one of them:
/// the site's postinst would adopt that account, and purging the site would
/// touch files that belong to the service.
pub const SYSTEM_USERS: &[&str] = &[
    "root",
    "daemon",
    "bin",
    "sys",
    "sync",
    "games",
    "man",
    "lp",
    "mail",
    "news",
    "uucp",
    "proxy",
    "www-data",
    "backup",
    "list",
    "irc",
    "gnats",
    "nobody",
    "nogroup",
    "_apt",
    "systemd-network",
    "systemd-resolve",
    "systemd-timesync",
    "systemd-journal",
    "systemd-coredump",
    "messagebus",
    "sshd",
    "postgres",
    "rabbitmq",
    "memcache",
    "redis",
    "nginx",
    "ntp",
    "statd",
    "djdd",
];

/// Shows a user-supplied value with control characters and quotes escaped,
/// so that an error message never carries raw newlines or escape codes.
pub fn shown(value: &str) -> String {
    let mut s = String::from("'");
    for c in value.chars() {
        match c {
            '\'' => s.push_str("\\'"),
            '\\' => s.push_str("\\\\"),
            c if c.is_control() => s.extend(c.escape_default()),
            c => s.push(c),
        }
    }
    s.push('\'');
    s
}

/// A message quoting user text (a TOML parser's error with its source
/// line, say) with every control character but newline and tab escaped,
/// so that a file's bytes cannot reach the terminal as escape codes.
pub fn printable(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            s.extend(c.escape_default());
        } else {
            s.push(c);
        }
    }
    s
}

/// Checks one NAME or VARIANT (`kind` is "NAME" or "VARIANT") against
/// [`NAME_RULE`] and the length that leaves room for the other half.
pub fn check_name(kind: &str, value: &str) -> Result<()> {
    let what = format!("{kind} {}", shown(value));
    let fixed = value.to_ascii_lowercase().replace('_', "-");
    let hint = if fixed != value && check_chars(&fixed) {
        format!("try {}", shown(&fixed))
    } else {
        "use lowercase letters, digits and '-' only".to_string()
    };
    let Some(first) = value.chars().next() else {
        return Err(Error::invalid(
            format!("{kind} ''"),
            format!("is empty: {kind} {NAME_RULE}"),
        ));
    };
    if !first.is_ascii_lowercase() {
        return Err(Error::invalid_hint(
            what,
            format!(
                "starts with {}: {kind} {NAME_RULE}",
                shown(&first.to_string())
            ),
            hint,
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(Error::invalid_hint(
            what,
            format!("contains {}: {kind} {NAME_RULE}", shown(&bad.to_string())),
            hint,
        ));
    }
    // A VARIANT ending in '-' would end the default domain's first label
    // (NAME-VARIANT.localhost) with '-', which no host name may; the site
    // renderer refuses it too. NAME is held to the same rule.
    if value.ends_with('-') {
        return Err(Error::invalid_hint(
            what,
            format!("ends with '-': {kind} {NAME_RULE}"),
            hint,
        ));
    }
    // The other half takes at least one character and the '-' between.
    let max = MAX_USER_LEN - 2;
    if value.len() > max {
        return Err(Error::invalid(
            what,
            format!(
                "is {} characters long: the site user NAME-VARIANT must be at most {MAX_USER_LEN} characters, so {kind} at most {max}",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// Whether `v` follows [`NAME_RULE`].
fn check_chars(v: &str) -> bool {
    v.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && !v.ends_with('-')
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Checks a NAME and VARIANT together: each on its own, the combined
/// `NAME-VARIANT` (the site's system user) at most [`MAX_USER_LEN`]
/// characters, and not one of the well-known [`SYSTEM_USERS`].
pub fn check_pair(name: &str, variant: &str) -> Result<()> {
    check_name("NAME", name)?;
    check_name("VARIANT", variant)?;
    let user = format!("{name}-{variant}");
    if user.len() > MAX_USER_LEN {
        return Err(Error::invalid(
            format!("NAME-VARIANT '{user}'"),
            format!(
                "is {} characters long: it names the site's system user, which must be at most {MAX_USER_LEN} characters",
                user.len()
            ),
        ));
    }
    if SYSTEM_USERS.contains(&user.as_str()) {
        return Err(Error::invalid_hint(
            format!("NAME-VARIANT '{user}'"),
            "is a system user that already exists on Debian systems: the site runs as user NAME-VARIANT and must not share an account with another service",
            "choose another NAME or VARIANT",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_names_compare_in_their_normal_form() {
        assert_eq!(python_name("Django_Extensions"), "django-extensions");
        assert_eq!(python_name("zope.interface"), "zope-interface");
        assert_eq!(python_name("a-_.b"), "a-b");
        assert_eq!(python_name("PyYAML"), "pyyaml");
    }

    fn err(kind: &str, v: &str) -> String {
        check_name(kind, v).unwrap_err().to_string()
    }

    #[test]
    fn good_names_pass() {
        for n in ["a", "demo", "my-site2", "x1-2-3"] {
            check_name("NAME", n).unwrap();
        }
        check_pair("demo", "blue").unwrap();
        check_pair(&"a".repeat(15), &"b".repeat(16)).unwrap();
    }

    #[test]
    fn bad_names_state_the_rule() {
        for (v, needle) in [
            ("", "is empty"),
            ("Demo", "starts with 'D'"),
            ("de_mo", "contains '_'"),
            ("de.mo", "contains '.'"),
            ("de+mo", "contains '+'"),
            ("de;mo", "contains ';'"),
            ("de mo", "contains ' '"),
            ("démo", "contains 'é'"),
            ("-demo", "starts with '-'"),
            ("1demo", "starts with '1'"),
            ("de\nmo", "contains '\\n'"),
            ("demo-", "ends with '-'"),
        ] {
            let e = err("NAME", v);
            assert!(e.contains(needle), "{v:?}: {e}");
            assert!(e.contains("^[a-z][a-z0-9-]*$"), "{v:?}: {e}");
        }
        assert!(err("VARIANT", "Blue_1").contains("hint: try 'blue-1'"));
    }

    #[test]
    fn too_long_names_are_refused() {
        let e = err("NAME", &"a".repeat(64));
        assert!(e.contains("64 characters long"), "{e}");
        assert!(e.contains("at most 32"), "{e}");
        let e = check_pair(&"a".repeat(20), &"b".repeat(12))
            .unwrap_err()
            .to_string();
        assert!(e.contains("33 characters long"), "{e}");
    }

    #[test]
    fn printable_escapes_control_characters_but_newline_and_tab() {
        assert_eq!(
            printable("a\tb\nc\rd\u{1b}[31m\u{b}"),
            "a\tb\nc\\rd\\u{1b}[31m\\u{b}"
        );
    }

    #[test]
    fn system_users_are_refused() {
        let e = check_pair("www", "data").unwrap_err().to_string();
        assert!(e.contains("'www-data'") && e.contains("system user"), "{e}");
        check_pair("www", "site").unwrap();
    }
}
