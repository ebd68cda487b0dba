//! Property tests ("fuzzing" on stable Rust) of the variant-file loader,
//! `djdd::config::variant` (the file `D/variants/NAME/VARIANT.toml`):
//! arbitrary text and arbitrary field values never make it panic; every
//! variant it accepts follows the rules of each field and writes back
//! (`to_toml`) to a file that loads to the same value; every refusal names
//! the file, and when the file is valid TOML of the right types, the key
//! at fault. Command-line updates (`Variant::apply`) and the NAME/VARIANT
//! rules get the same treatment.
//!
//! The default number of cases is proptest's (256, or PROPTEST_CASES); run
//! longer with e.g. `PROPTEST_CASES=200000 cargo test --test fuzz_variant`.
//! Failures are saved to tests/fuzz_variant.proptest-regressions and
//! replayed first on every run.

use std::collections::BTreeMap;

use djdd::config::variant::{MAX_WORKERS, Variant, VariantUpdate};
use djdd::rules::names::check_pair;
use djdd::rules::values::{
    check_acme_server, check_allow, check_branch, check_domain, check_email, check_env_key,
    check_env_value, check_process_name, check_settings, check_url_path,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const ORIGIN: &str = "/var/lib/djdd/variants/demo/blue.toml";
const RESERVED: &[&str] = &[
    "DJANGO_SETTINGS_MODULE",
    "PYTHONPATH",
    "PATH",
    "HOME",
    "DJDD_*",
];
const KEYS: &[&str] = &[
    "branch",
    "domain",
    "settings",
    "workers",
    "celery",
    "migrate",
    "memcached",
    "health_url",
];

fn parse(text: &str) -> Result<Variant, String> {
    Variant::parse("demo", "blue", text, ORIGIN, RESERVED).map_err(|e| e.to_string())
}

/// Every rule a loaded variant must satisfy.
fn assert_valid(v: &Variant) -> Result<(), TestCaseError> {
    prop_assert!(check_pair(&v.name, &v.variant).is_ok());
    prop_assert!(
        check_branch("b", &v.branch).is_ok(),
        "branch {:?}",
        v.branch
    );
    prop_assert!(
        check_domain("d", &v.domain).is_ok(),
        "domain {:?}",
        v.domain
    );
    if let Some(s) = &v.settings {
        prop_assert!(check_settings("s", s).is_ok(), "settings {:?}", s);
    }
    prop_assert!((1..=MAX_WORKERS as u32).contains(&v.workers));
    prop_assert!(check_url_path("h", "health_url", &v.health_url).is_ok());
    if let Some(w) = &v.warm_url {
        prop_assert!(check_url_path("w", "warm_url", w).is_ok());
    }
    prop_assert!(
        (1..=3600).contains(&v.graceful_timeout),
        "graceful_timeout {}",
        v.graceful_timeout
    );
    for (k, val) in &v.env {
        prop_assert!(check_env_key("k", k, RESERVED).is_ok(), "env key {:?}", k);
        prop_assert!(check_env_value("v", val).is_ok(), "env value {:?}", val);
    }
    for (p, n) in &v.processes {
        prop_assert!(check_process_name("p", p).is_ok(), "process {:?}", p);
        prop_assert!(*n <= 16, "copies {n}");
    }
    prop_assert!(
        check_acme_server("a", &v.acme_server).is_ok(),
        "acme server {:?}",
        v.acme_server
    );
    if let Some(m) = &v.acme_email {
        prop_assert!(check_email("e", m).is_ok(), "acme e-mail {:?}", m);
    }
    for a in &v.allow {
        prop_assert!(check_allow("a", a).is_ok(), "sandbox relaxation {:?}", a);
    }
    Ok(())
}

/// An accepted variant writes back to a file that loads to itself, and
/// writing that again gives the same text.
fn assert_round_trip(v: &Variant) -> Result<(), TestCaseError> {
    let text = v.to_toml();
    let back = Variant::parse(&v.name, &v.variant, &text, ORIGIN, RESERVED)
        .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    prop_assert_eq!(&back, v, "written as:\n{}", text);
    prop_assert_eq!(back.to_toml(), text);
    Ok(())
}

/// A refusal names the file, and shows the text without raw control
/// characters but newline and tab (a terminal would act on them).
fn assert_names_file(e: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        e.starts_with(ORIGIN),
        "the error does not start with the file: {}",
        e
    );
    prop_assert!(
        !e.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
        "raw control character in {:?}",
        e
    );
    Ok(())
}

// ---- strategies -------------------------------------------------------

/// Strings heavy in what breaks host names, module paths, branch names,
/// URLs, TOML and shell: separators, quotes, `$()`, backticks, braces,
/// control characters, Unicode.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9.-]{0,20}",
        2 => "[a-zA-Z0-9_./@+-]{0,24}",
        2 => "[a-z]{1,8}(\\.[a-z_]{1,8}){0,3}",
        2 => "/[a-zA-Z0-9/?=&%+,:@~._-]{0,20}",
        3 => proptest::collection::vec(
            prop_oneof![
                Just("$(touch /tmp/x)"), Just("`id`"), Just("'"), Just("\""), Just("\\"),
                Just(";"), Just("{"), Just("}"), Just(" "), Just("\t"), Just("\n"), Just("\r"),
                Just("\0"), Just(".."), Just("//"), Just("-"), Just("."), Just("@{"), Just("é"),
                Just("\u{202e}"), Just("\u{2028}"), Just("a"), Just("Z"), Just("9"), Just("_"),
                Just(".lock"), Just("/"), Just("HEAD"), Just("#"), Just("="), Just("[x]"),
            ],
            0..10,
        )
        .prop_map(|v| v.concat()),
        1 => "\\PC{0,12}",
        1 => Just("a".repeat(64)),
        1 => Just(format!("{}.org", "a".repeat(250))),
    ]
}

/// A TOML value of any type for a key.
fn toml_value() -> impl Strategy<Value = toml::Value> {
    prop_oneof![
        5 => hostile_string().prop_map(toml::Value::String),
        2 => prop_oneof![
            any::<i64>(),
            -3i64..100,
            Just(i64::MIN),
            Just(i64::MAX),
            Just(MAX_WORKERS),
            Just(MAX_WORKERS + 1),
        ]
        .prop_map(toml::Value::Integer),
        2 => any::<bool>().prop_map(toml::Value::Boolean),
        1 => any::<f64>().prop_map(toml::Value::Float),
        1 => proptest::collection::vec("[a-z]{0,3}", 0..3)
            .prop_map(|v| toml::Value::Array(v.into_iter().map(toml::Value::String).collect())),
    ]
}

/// The value a key would have when well typed, often valid.
fn typed_value(key: &'static str) -> BoxedStrategy<toml::Value> {
    match key {
        "workers" => prop_oneof![
            4 => 1i64..=MAX_WORKERS,
            1 => any::<i64>(),
            1 => -2i64..2,
        ]
        .prop_map(toml::Value::Integer)
        .boxed(),
        "celery" | "migrate" | "memcached" => any::<bool>().prop_map(toml::Value::Boolean).boxed(),
        "domain" => prop_oneof![
            3 => "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z0-9]{1,8}){0,3}",
            1 => hostile_string(),
        ]
        .prop_map(toml::Value::String)
        .boxed(),
        "settings" => prop_oneof![
            3 => "[a-zA-Z_][a-zA-Z0-9_]{0,8}(\\.[a-zA-Z_][a-zA-Z0-9_]{0,8}){0,3}",
            1 => hostile_string(),
        ]
        .prop_map(toml::Value::String)
        .boxed(),
        "branch" => prop_oneof![
            3 => "[a-zA-Z0-9][a-zA-Z0-9_+@-]{0,8}(/[a-zA-Z0-9][a-zA-Z0-9_+@-]{0,8}){0,2}",
            1 => hostile_string(),
        ]
        .prop_map(toml::Value::String)
        .boxed(),
        "health_url" => prop_oneof![
            3 => "/[a-zA-Z0-9/?=&%+,:@~._-]{0,20}",
            1 => hostile_string(),
        ]
        .prop_map(toml::Value::String)
        .boxed(),
        _ => hostile_string().prop_map(toml::Value::String).boxed(),
    }
}

/// A well-typed variant document: some of the known keys with typed
/// values, and an `[env]` table with arbitrary keys and values.
fn typed_doc() -> impl Strategy<Value = toml::Table> {
    let fields: Vec<BoxedStrategy<Option<toml::Value>>> = KEYS
        .iter()
        .map(|k| proptest::option::weighted(0.6, typed_value(k)).boxed())
        .collect();
    let env = proptest::option::weighted(
        0.5,
        proptest::collection::btree_map(
            prop_oneof![
                3 => "[A-Z_][A-Z0-9_]{0,10}",
                1 => hostile_string(),
                1 => prop::sample::select(RESERVED.to_vec()).prop_map(str::to_string),
                1 => Just("DJDD_X".to_string()),
            ],
            prop_oneof![3 => "[ -~]{0,20}", 1 => hostile_string()],
            0..4,
        ),
    );
    (fields, env).prop_map(|(values, env)| {
        let mut t = toml::Table::new();
        for (k, v) in KEYS.iter().zip(values) {
            if let Some(v) = v {
                t.insert(k.to_string(), v);
            }
        }
        if let Some(env) = env {
            let e: toml::Table = env
                .into_iter()
                .map(|(k, v)| (k, toml::Value::String(v)))
                .collect();
            t.insert("env".into(), toml::Value::Table(e));
        }
        t
    })
}

/// Text that looks like TOML: key names, `=`, quotes, brackets, numbers,
/// newlines, comments, escapes.
fn tomlish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            3 => prop::sample::select(vec![
                "branch", "domain", "settings", "workers", "celery", "migrate", "memcached",
                "health_url", "env", "colour", "[env]", "[env.X]", "[[env]]", "env.A",
            ])
            .prop_map(str::to_string),
            3 => Just(" = ".to_string()),
            2 => Just("\"".to_string()),
            1 => Just("'".to_string()),
            1 => Just("'''".to_string()),
            1 => Just("\"\"\"".to_string()),
            3 => Just("\n".to_string()),
            1 => Just("\r\n".to_string()),
            1 => Just("#".to_string()),
            1 => Just("[".to_string()),
            1 => Just("]".to_string()),
            1 => Just("{".to_string()),
            1 => Just("}".to_string()),
            1 => Just(",".to_string()),
            1 => Just(".".to_string()),
            1 => Just("\\".to_string()),
            1 => Just("\\u00e9".to_string()),
            1 => Just("\\n".to_string()),
            2 => "-?[0-9]{1,20}".prop_map(|s| s),
            1 => Just("true".to_string()),
            1 => Just("1e400".to_string()),
            1 => Just("inf".to_string()),
            1 => Just("1979-05-27T07:32:00Z".to_string()),
            3 => hostile_string(),
        ],
        0..30,
    )
    .prop_map(|v| v.concat())
}

// ---- properties -------------------------------------------------------

/// Command-line updates with arbitrary values, built from two boxed
/// halves: one strategy of all the fields overflowed the test thread's
/// stack in debug builds.
fn update_strategy() -> BoxedStrategy<VariantUpdate> {
    let first = (
        proptest::option::of(hostile_string()),
        proptest::option::of(hostile_string()),
        proptest::option::of(hostile_string()),
        any::<bool>(),
        proptest::option::of(prop_oneof![any::<i64>(), -2i64..70]),
        proptest::option::of(prop_oneof![any::<i64>(), -2i64..3700]),
        (
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
        ),
        proptest::option::of(hostile_string()),
        proptest::option::of(prop_oneof![
            Just(String::new()),
            "/[a-z/]{0,6}",
            hostile_string()
        ]),
    )
        .boxed();
    let second = (
        proptest::collection::vec(
            (
                prop_oneof!["[A-Z_][A-Z0-9_]{0,6}", hostile_string()],
                hostile_string(),
            ),
            0..3,
        ),
        proptest::collection::vec("[A-Z_]{1,4}", 0..2),
        proptest::collection::vec(
            (
                prop_oneof!["[a-z][a-z0-9-]{0,6}", hostile_string()],
                -3i64..20,
            ),
            0..3,
        ),
        proptest::option::of(prop_oneof!["off|acme|files", hostile_string()]),
        proptest::option::of(prop_oneof![
            "https://[a-z]{1,5}\\.example/[a-z/]{0,8}",
            hostile_string()
        ]),
        proptest::option::of(prop_oneof![
            "[a-z.+]{0,5}@[a-z]{1,4}\\.org",
            hostile_string()
        ]),
        proptest::collection::vec(
            prop_oneof![
                Just("wx-memory".to_string()),
                "address-family=AF_[A-Z]{2,8}",
                hostile_string()
            ],
            0..3,
        ),
        any::<bool>(),
    )
        .boxed();
    (first, second)
        .prop_map(
            |(
                (
                    branch,
                    domain,
                    settings,
                    clear_settings,
                    workers,
                    graceful_timeout,
                    flags,
                    health_url,
                    warm_url,
                ),
                (env_set, env_unset, processes, tls, acme_server, acme_email, allow, strict),
            )| VariantUpdate {
                branch,
                domain,
                settings,
                clear_settings,
                workers,
                celery: flags.0,
                migrate: flags.1,
                memcached: flags.2,
                health_url,
                warm_url,
                graceful_timeout,
                env_set,
                env_unset,
                processes,
                redis: None,
                redis_maxmemory: None,
                redis_policy: None,
                broker: None,
                tls,
                acme_server,
                acme_email,
                allow,
                strict,
                // external and uid: config::variant's unit tests.
                ..VariantUpdate::default()
            },
        )
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/fuzz_variant.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    })]

    /// Arbitrary bytes (as lossy UTF-8) never make the loader panic;
    /// whatever loads is valid and round-trips; refusals name the file.
    #[test]
    fn arbitrary_text_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        match parse(&text) {
            Ok(v) => {
                assert_valid(&v)?;
                assert_round_trip(&v)?;
            }
            Err(e) => assert_names_file(&e)?,
        }
    }

    /// TOML-looking text: the same, and refusals that are not about the
    /// text's syntax or types name a key.
    #[test]
    fn tomlish_text_loads_or_names_the_file(text in tomlish()) {
        match parse(&text) {
            Ok(v) => {
                assert_valid(&v)?;
                assert_round_trip(&v)?;
            }
            Err(e) => {
                assert_names_file(&e)?;
                prop_assert!(
                    e.contains("not a valid variant file") || e.contains(": key `"),
                    "neither a file error nor a key error: {}", e
                );
            }
        }
    }

    /// Well-typed documents with arbitrary values: accepted ones follow
    /// every rule and round-trip; a refusal names the file and one of the
    /// document's keys (a value breaking a rule is never reported as a
    /// broken file).
    #[test]
    fn typed_values_are_accepted_valid_or_refused_by_key(doc in typed_doc()) {
        let text = toml::to_string(&doc).expect("a table serialises");
        match parse(&text) {
            Ok(v) => {
                assert_valid(&v)?;
                assert_round_trip(&v)?;
                // Every value given was kept as given.
                for (k, val) in &doc {
                    match (k.as_str(), val) {
                        ("branch", toml::Value::String(s)) => prop_assert_eq!(&v.branch, s),
                        ("domain", toml::Value::String(s)) => prop_assert_eq!(&v.domain, s),
                        ("settings", toml::Value::String(s)) => prop_assert_eq!(v.settings.as_ref(), Some(s)),
                        ("workers", toml::Value::Integer(w)) => prop_assert_eq!(i64::from(v.workers), *w),
                        ("celery", toml::Value::Boolean(b)) => prop_assert_eq!(v.celery, *b),
                        ("migrate", toml::Value::Boolean(b)) => prop_assert_eq!(v.migrate, *b),
                        ("memcached", toml::Value::Boolean(b)) => prop_assert_eq!(v.memcached, *b),
                        ("health_url", toml::Value::String(s)) => prop_assert_eq!(&v.health_url, s),
                        ("env", toml::Value::Table(t)) => prop_assert_eq!(v.env.len(), t.len()),
                        _ => {}
                    }
                }
            }
            Err(e) => {
                assert_names_file(&e)?;
                let named = doc.iter().any(|(k, val)| match val {
                    toml::Value::Table(t) if k == "env" => {
                        t.keys().any(|ek| e.contains(&format!(": key `env.{}`", ek.escape_debug())))
                    }
                    _ => e.contains(&format!(": key `{k}`")),
                });
                prop_assert!(named, "the refusal names no key of the document:\n{}\n{}", text, e);
                prop_assert!(!e.contains("not a valid variant file"), "{}", e);
            }
        }
    }

    /// Any TOML value for any key (wrong types included) never panics;
    /// accepted files are valid and round-trip.
    #[test]
    fn any_value_for_any_key(
        entries in proptest::collection::btree_map(
            prop_oneof![
                4 => prop::sample::select(KEYS.to_vec()).prop_map(str::to_string),
                1 => Just("env".to_string()),
                1 => "[a-z_]{1,8}",
            ],
            toml_value(),
            0..6,
        ),
    ) {
        let doc: toml::Table = entries.into_iter().collect();
        let text = toml::to_string(&doc).expect("a table serialises");
        match parse(&text) {
            Ok(v) => {
                assert_valid(&v)?;
                assert_round_trip(&v)?;
            }
            Err(e) => assert_names_file(&e)?,
        }
    }

    /// Command-line updates with arbitrary values: an accepted update
    /// gives a valid variant that round-trips through its file; a refused
    /// one names the option (`--domain`, `--env KEY`, ...).
    #[test]
    fn updates_are_valid_or_name_the_option(u in update_strategy()) {
        let base = Variant::new("demo", "blue").unwrap();
        match base.apply(&u, RESERVED) {
            Ok(v) => {
                assert_valid(&v)?;
                assert_round_trip(&v)?;
            }
            Err(e) => {
                let e = e.to_string();
                prop_assert!(
                    ["--branch", "--domain", "--settings", "--workers", "--health-url", "--warm-url", "--graceful-timeout", "--env ", "--process ", "--tls", "--acme-server", "--acme-email", "--allow "]
                        .iter()
                        .any(|o| e.starts_with(o)),
                    "the refusal names no option: {}", e
                );
                prop_assert!(!e.chars().any(|c| c.is_control() && c != '\n'), "raw control character in {:?}", e);
            }
        }
    }

    /// NAME and VARIANT: never panic; what passes follows the rule, and
    /// the refusal shows the value without raw control characters.
    #[test]
    fn names_follow_the_rule(name in hostile_string(), variant in hostile_string()) {
        match Variant::new(&name, &variant) {
            Ok(v) => {
                for s in [&name, &variant] {
                    prop_assert!(s.starts_with(|c: char| c.is_ascii_lowercase()));
                    prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                    prop_assert!(!s.ends_with('-'));
                }
                prop_assert!(v.user().len() <= 32);
                assert_round_trip(&v)?;
            }
            Err(e) => {
                let e = e.to_string();
                prop_assert!(e.starts_with("NAME") || e.starts_with("VARIANT"), "{}", e);
                prop_assert!(!e.chars().any(|c| c.is_control() && c != '\n'), "raw control character in {:?}", e);
            }
        }
    }
}

/// The defaults written out load back to the defaults (the file
/// `djdd variant` writes first).
#[test]
fn defaults_round_trip() {
    let v = Variant::new("demo", "blue").unwrap();
    let text = v.to_toml();
    assert_eq!(parse(&text).unwrap(), v);
    let empty: BTreeMap<String, String> = BTreeMap::new();
    assert_eq!(v.env, empty);
}

/// Inputs the fuzzer found, kept as plain regression tests: control
/// characters of a key or of the file reached the error message raw.
#[test]
fn regressions() {
    let base = Variant::new("demo", "blue").unwrap();
    let u = VariantUpdate {
        env_set: vec![("\r".into(), "x".into())],
        ..Default::default()
    };
    let e = base.apply(&u, RESERVED).unwrap_err().to_string();
    assert!(e.starts_with("--env \\r: "), "{e:?}");
    for (text, shown) in [("\u{b}", "\\u{b}"), ("[\r\n", "[\\r"), ("\t\0", "\\u{0}")] {
        let e = parse(text).unwrap_err();
        assert!(e.contains(shown), "{text:?}: {e:?}");
        assert!(
            !e.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{e:?}"
        );
    }
    // VARIANT "a-" passed the name rule but its default domain
    // "a-a-.localhost" did not: `djdd variant a a-` wrote a file that
    // never loaded again. Names ending in '-' are refused now.
    let e = Variant::new("a", "a-").unwrap_err().to_string();
    assert!(e.starts_with("VARIANT 'a-': ends with '-'"), "{e}");
    assert!(Variant::new("a-", "b").is_err());
    let e = parse("[env]\n\"A\\u001b[31m\" = \"x\"\n").unwrap_err();
    assert!(e.contains("key `env.A\\u{1b}[31m`"), "{e:?}");
}
