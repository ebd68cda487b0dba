//! Property tests ("fuzzing" on stable Rust) of the deb822 control parser,
//! `djdd::deb::control` (Debian Policy §5.1): arbitrary text never makes it
//! panic; whatever it accepts writes back (Display) to text that parses to
//! the same paragraph; generated valid paragraphs (continuation lines,
//! several paragraphs, comments, CRLF) parse to exactly the fields they
//! were made of; every refusal names the line. Also the package-name and
//! version checks (§5.6.1, §5.6.12) on arbitrary strings.
//!
//! The default number of cases is proptest's (256, or PROPTEST_CASES); run
//! longer with e.g. `PROPTEST_CASES=200000 cargo test --release --test
//! fuzz_control`. Failures are saved to tests/fuzz_control.proptest-regressions
//! and replayed first on every run.

use djdd::deb::control::{Paragraph, check_package_name, check_version, parse_paragraphs};
use djdd::deb::version::compare_versions;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

// ---- strategies -------------------------------------------------------

/// Text made mostly of what matters to a deb822 parser: colons, spaces,
/// tabs, newlines, carriage returns, comment marks, dots, Unicode
/// whitespace and line separators, and some letters.
fn deb822ish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => "[A-Za-z0-9-]{1,6}",
            3 => Just(":".to_string()),
            3 => Just(" ".to_string()),
            3 => Just("\n".to_string()),
            1 => Just("\t".to_string()),
            1 => Just("\r".to_string()),
            1 => Just("\r\n".to_string()),
            1 => Just("#".to_string()),
            1 => Just(" .".to_string()),
            1 => Just("\n\n".to_string()),
            1 => Just("\u{a0}".to_string()),
            1 => Just("\u{2028}".to_string()),
            1 => Just("\u{85}".to_string()),
            1 => Just("\u{feff}".to_string()),
            1 => Just("é".to_string()),
            1 => Just("\0".to_string()),
            1 => "\\PC{1,3}",
        ],
        0..60,
    )
    .prop_map(|v| v.concat())
}

/// A valid field name: deb822 allows any printable ASCII but ':' and
/// space, not starting with '-' or '#'.
fn field_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][!-9;-~]{0,15}"
}

/// A value's first line: empty, or printable text without surrounding
/// whitespace (a parser trims it).
fn first_line() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        6 => "[!-~\u{e9}\u{4e2d}]([ -~\u{e9}\u{4e2d}]{0,30}[!-~\u{e9}\u{4e2d}])?",
    ]
}

/// A continuation line as written in the file: a space or tab, then text
/// that is not blank (a blank line would end the paragraph; policy writes
/// an empty line as " .").
fn continuation() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(" .".to_string()),
        6 => "[ \t][ \t]{0,2}[!-~\u{e9}][ -~\u{e9}]{0,30}",
    ]
}

/// One field: (name, first line, continuation lines).
fn field() -> impl Strategy<Value = (String, String, Vec<String>)> {
    (
        field_name(),
        first_line(),
        proptest::collection::vec(continuation(), 0..4),
    )
}

/// A paragraph's fields, names distinct case-insensitively.
fn fields() -> impl Strategy<Value = Vec<(String, String, Vec<String>)>> {
    proptest::collection::vec(field(), 1..8).prop_map(|mut v| {
        let mut seen = std::collections::BTreeSet::new();
        v.retain(|(n, _, _)| seen.insert(n.to_ascii_lowercase()));
        v
    })
}

/// The value `Paragraph::get` gives for a field written as `first` plus
/// continuation lines: continuation lines joined with '\n', kept as written.
fn expected_value(first: &str, cont: &[String]) -> String {
    let mut v = first.to_string();
    for c in cont {
        v.push('\n');
        v.push_str(c);
    }
    v
}

/// The canonical text of a paragraph (what Display writes).
fn canonical(fields: &[(String, String, Vec<String>)]) -> String {
    let mut s = String::new();
    for (n, first, cont) in fields {
        if first.is_empty() {
            s.push_str(&format!("{n}:"));
        } else {
            s.push_str(&format!("{n}: {first}"));
        }
        for c in cont {
            s.push('\n');
            s.push_str(c);
        }
        s.push('\n');
    }
    s
}

/// The same paragraph written loosely: no space or several spaces/tabs
/// after the colon, trailing spaces on the first line, CRLF line ends,
/// comment lines between fields.
fn loose(fields: &[(String, String, Vec<String>)], seed: u64) -> String {
    let mut s = String::new();
    let mut r = seed | 1;
    let mut next = |n: u64| {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        r % n
    };
    let eol = if next(2) == 0 { "\n" } else { "\r\n" };
    for (n, first, cont) in fields {
        if next(3) == 0 {
            s.push_str("# a comment: with a colon");
            s.push_str(eol);
        }
        let sep = ["", " ", "  ", "\t", " \t "][next(5) as usize];
        let trail = ["", " ", "\t", "  "][next(4) as usize];
        s.push_str(&format!("{n}:{sep}{first}{trail}"));
        for c in cont {
            s.push_str(eol);
            s.push_str(c);
        }
        s.push_str(eol);
    }
    s
}

// ---- properties -------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/fuzz_control.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    })]

    /// Arbitrary bytes (as lossy UTF-8) never make the parser panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_paragraphs(&text, "fuzz");
        let _ = Paragraph::parse(&text, "fuzz");
    }

    /// Whatever the parser accepts, Display writes back as text that
    /// parses to the same paragraphs (a fixed point after one round), and
    /// every refusal names the input and a line of it.
    #[test]
    fn accepted_text_round_trips_and_refusals_name_the_line(text in deb822ish()) {
        match parse_paragraphs(&text, "fuzz.control") {
            Ok(paras) => {
                for p in &paras {
                    prop_assert!(!p.is_empty());
                    let written = p.to_string();
                    let again = Paragraph::parse(&written, "again").map_err(|e| e.to_string());
                    prop_assert_eq!(&again, &Ok(p.clone()), "text {:?} written as {:?}", text, written);
                }
                let all: String = paras.iter().map(|p| format!("{p}\n")).collect();
                let again = parse_paragraphs(&all, "again");
                prop_assert_eq!(again.as_ref().ok(), Some(&paras), "{:?}", all);
            }
            Err(e) => {
                let e = e.to_string();
                prop_assert!(e.starts_with("fuzz.control: line "), "{}", e);
                let n: usize = e["fuzz.control: line ".len()..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                prop_assert!(n >= 1 && n <= text.split('\n').count(), "line {} of {:?}: {}", n, text, e);
                // Control characters of the input are shown escaped.
                prop_assert!(!e.chars().any(|c| c.is_control() && c != '\n'), "{:?}", e);
            }
        }
    }

    /// Generated valid paragraphs (continuation lines, " .", empty first
    /// lines, Unicode) parse to exactly their fields, in order; Display
    /// writes the canonical text; a loose spelling (spacing, CRLF,
    /// comments) parses to the same paragraph.
    #[test]
    fn valid_paragraphs_parse_to_their_fields(fs in fields(), seed in any::<u64>()) {
        let text = canonical(&fs);
        let p = Paragraph::parse(&text, "gen").map_err(|e| TestCaseError::fail(format!("{e}\n{text:?}")))?;
        let got: Vec<(String, String)> = p.fields().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let want: Vec<(String, String)> = fs
            .iter()
            .map(|(n, f, c)| (n.clone(), expected_value(f, c)))
            .collect();
        prop_assert_eq!(&got, &want);
        for (n, f, c) in &fs {
            let want = expected_value(f, c);
            prop_assert_eq!(p.get(&n.to_ascii_uppercase()), Some(want.as_str()));
        }
        prop_assert_eq!(p.to_string(), text.clone());
        let l = loose(&fs, seed);
        let q = Paragraph::parse(&l, "loose").map_err(|e| TestCaseError::fail(format!("{e}\n{l:?}")))?;
        prop_assert_eq!(&q, &p, "loose text {:?}", l);
    }

    /// Several generated paragraphs separated by one or more blank lines
    /// (spaces and tabs allowed on them) and comment lines come back as
    /// the same paragraphs; `Paragraph::parse` refuses them as more than
    /// one.
    #[test]
    fn several_paragraphs_split_at_blank_lines(
        paras in proptest::collection::vec(fields(), 1..5),
        seps in proptest::collection::vec("\n([ \t]{0,2}\n){0,2}(# c\n)?", 4),
    ) {
        let mut text = String::new();
        for (i, fs) in paras.iter().enumerate() {
            if i > 0 {
                text.push_str(&seps[i - 1]);
                text.push('\n');
            }
            text.push_str(&canonical(fs));
        }
        let got = parse_paragraphs(&text, "gen").map_err(|e| TestCaseError::fail(format!("{e}\n{text:?}")))?;
        prop_assert_eq!(got.len(), paras.len(), "{:?}", text);
        for (p, fs) in got.iter().zip(&paras) {
            prop_assert_eq!(p.to_string(), canonical(fs));
        }
        if paras.len() > 1 {
            let e = Paragraph::parse(&text, "gen").unwrap_err().to_string();
            prop_assert!(e.contains(&format!("holds {} paragraphs", paras.len())), "{}", e);
        }
    }

    /// A field repeated (in any letter case) is refused naming its line.
    #[test]
    fn a_repeated_field_is_refused_at_its_line(fs in fields(), which in any::<prop::sample::Index>(), upper in any::<bool>()) {
        let i = which.index(fs.len());
        let mut dup = fs.clone();
        let mut again = fs[i].clone();
        if upper {
            again.0 = again.0.to_ascii_uppercase();
        }
        dup.push(again);
        let text = canonical(&dup);
        let line = canonical(&fs).lines().count() + 1;
        let e = Paragraph::parse(&text, "dup").unwrap_err().to_string();
        prop_assert!(e.starts_with(&format!("dup: line {line}: field ")), "{}", e);
        prop_assert!(e.contains("appears twice"), "{}", e);
    }

    /// The name and version checks never panic; what they accept follows
    /// the policy's character rules, and accepted versions compare with
    /// themselves as equal.
    #[test]
    fn name_and_version_checks_never_panic(s in "\\PC{0,20}|[a-z0-9+.~:-]{0,12}") {
        if check_package_name(&s).is_ok() {
            prop_assert!(s.len() >= 2);
            prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b)));
        }
        if check_version(&s).is_ok() {
            prop_assert!(!s.is_empty());
            prop_assert!(!s.contains(' '));
            prop_assert_eq!(compare_versions(&s, &s), std::cmp::Ordering::Equal);
        }
    }
}

/// Inputs the fuzzer found, kept as plain regression tests.
#[test]
fn regressions() {
    // A refused line holding control characters was shown raw in the
    // error (a terminal would act on them); now it is escaped.
    let e = parse_paragraphs("\n\n\r\u{feff}", "r")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("r: line 3: '\\r\\u{feff}' is not a field"),
        "{e:?}"
    );
    let e = parse_paragraphs("A: 1\n\x1b[31m: x\n", "r")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("'\\u{1b}[31m' is not a valid field name"),
        "{e:?}"
    );
    // A continuation line ending in two CRs at the end of the text kept
    // one of them, which Display then wrote as a CRLF line end.
    let p = Paragraph::parse("a:\n #\r\r", "r").unwrap();
    assert_eq!(p.get("a"), Some("\n #"));
    for text in [
        "A:\n \n",
        "A: x\n\u{a0}\nB: y\n",
        "a:\n #\r\r",
        "A: x\r\r\n y\r\r\r\n",
    ] {
        if let Ok(ps) = parse_paragraphs(text, "r") {
            for p in &ps {
                assert_eq!(
                    Paragraph::parse(&p.to_string(), "again").ok().as_ref(),
                    Some(p),
                    "{text:?}"
                );
            }
        }
    }
}
