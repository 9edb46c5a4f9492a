//! The fuzz targets `rule_pack` and `cel_condition` as properties in plain `cargo test` (see
//! `docs/reliability.md`): a rule file, however broken, loads or is refused with a line inside it;
//! a CEL condition compiles or is refused naming the rule and the field, and a compiled one
//! evaluates over any document without panicking. Raise the number of cases with
//! `PROPTEST_CASES`.

use chrono::{TimeZone, Utc};
use jumpwatch_rules::{Engine, Input, Outcome, load_pack};
use proptest::prelude::*;
use serde_json::Value;

/// `n` cases, or `PROPTEST_CASES` when it is set (`ProptestConfig::with_cases` alone ignores it).
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(n)
}

const USERS: &str = include_str!("../../pack/users.toml");
const CHANGES: &str = include_str!("../../pack/changes.toml");
const EVENTS: &str = include_str!("../../pack/events.toml");

/// Pieces of TOML and CEL to splice into a pack.
const SNIPPETS: &[&str] = &[
    "[[rules]]",
    "[[rules.tests]]",
    "[rules.params]",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "=",
    "\n",
    "{{",
    "}}",
    "{{r.username}}",
    "#",
    "[",
    "]",
    "{",
    "}",
    ",",
    "kind = \"user\"",
    "type = \"change\"",
    "type = \"event\"",
    "open_for = \"7d\"",
    "open_for = \"99999999999999999d\"",
    "params.n",
    "r.",
    "rel.",
    "size(rel)",
    "exists(x, ",
    ")",
    "(",
    "changed('sudo')",
    "1/0",
    "\\u0000",
    "é",
    "expect = \"fail\"",
    "doc = '{}'",
    "doc = '[1'",
    "id = \"dup\"",
    "severity = \"high\"",
];

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap()
}

/// A pack with a few edits: a range deleted or a snippet inserted, at char boundaries.
fn edited_pack() -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        0usize..40,
        prop::option::of(prop::sample::select(SNIPPETS)),
    );
    (prop::sample::select(vec![USERS, CHANGES, EVENTS]), prop::collection::vec(edit, 1..6))
        .prop_map(|(pack, edits)| {
            let mut text = pack.to_owned();
            for (at, len, insert) in edits {
                let boundaries: Vec<usize> =
                    text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
                let start = boundaries[at.index(boundaries.len())];
                match insert {
                    Some(snippet) => text.insert_str(start, snippet),
                    None => {
                        let end = boundaries
                            .iter()
                            .copied()
                            .find(|b| *b >= start + len)
                            .unwrap_or(text.len());
                        text.replace_range(start..end, "");
                    }
                }
            }
            text
        })
}

fn check_loaded(text: &str) {
    match load_pack("fuzz.toml", text) {
        Ok(rules) => {
            let mut engine = Engine::new();
            if engine.add_rules(rules).is_ok() {
                // The pack's own tests run; failures are reported, not panics.
                for failure in engine.test(now()) {
                    assert!(!failure.rule.is_empty());
                }
            }
        }
        Err(error) => {
            let lines = text.matches('\n').count() + 1;
            assert!((1..=lines).contains(&error.line), "line {} of {lines}: {error}", error.line);
            assert!(!error.message.is_empty());
            assert!(error.to_string().starts_with(&format!("fuzz.toml:{}: ", error.line)));
        }
    }
}

/// CEL-looking expressions: variables, paths, literals, operators, Jumpwatch's functions and
/// macros, nested a few levels.
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        prop::sample::select(vec![
            "r",
            "r.username",
            "r.mfa.configured",
            "r.ips",
            "rel",
            "rel.groups",
            "params.n",
            "params.s",
            "params.l",
            "now",
            "org",
            "e",
            "e.event_type",
            "change",
            "before.sudo",
            "after.sudo",
            "actor",
            "x",
            "true",
            "false",
            "null",
            "0",
            "-1",
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551615u",
            "1.5",
            "1e308",
            "'a'",
            "\"\"",
            "b'x'",
            "[]",
            "{}",
            "[1, 'a', null]",
            "{'k': 1}",
            "duration('1h')",
            "timestamp('2026-01-01T00:00:00Z')",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,6}",
        any::<i64>().prop_map(|n| n.to_string()),
        "\\PC{0,6}".prop_map(|s| format!("{s:?}")),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec![
                    "==", "!=", "<", "<=", ">", ">=", "&&", "||", "+", "-", "*", "/", "%", "in",
                    ".",
                ]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (prop::sample::select(vec!["!", "-", "("]), inner.clone()).prop_map(|(op, a)| {
                if op == "(" { format!("({a})") } else { format!("{op}{a}") }
            }),
            (
                prop::sample::select(vec![
                    "size",
                    "has",
                    "int",
                    "uint",
                    "double",
                    "string",
                    "age",
                    "days",
                    "hours",
                    "lower",
                    "cidr_prefix",
                    "re",
                    "changed",
                    "became",
                    "matches",
                    "startsWith",
                    "contains",
                    "timestamp",
                    "duration",
                ]),
                prop::collection::vec(inner.clone(), 0..3)
            )
                .prop_map(|(f, args)| format!("{f}({})", args.join(", "))),
            (
                inner.clone(),
                prop::sample::select(vec!["exists", "all", "exists_one", "map", "filter"]),
                inner.clone()
            )
                .prop_map(|(list, m, body)| format!("{list}.{m}(x, {body})")),
            (inner.clone(), inner.clone(), inner).prop_map(|(c, a, b)| format!("{c} ? {a} : {b}")),
        ]
    })
}

fn document() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1.0e300..1.0e300f64).prop_map(Value::from),
        "[a-z0-9./: -]{0,10}".prop_map(Value::String),
        Just(Value::from("2026-01-01T00:00:00Z")),
        Just(Value::from("10.0.0.0/8")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "username",
                        "mfa",
                        "configured",
                        "ips",
                        "sudo",
                        "event_type",
                        "groups",
                        "x"
                    ]),
                    inner
                ),
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn pack_with(flavour: u8, fails: &str) -> String {
    let head = match flavour {
        0 => "kind = \"user\"",
        1 => "kind = \"user\"\ntype = \"change\"",
        _ => "type = \"event\"",
    };
    // A JSON string literal is a TOML basic string, once DEL (which JSON leaves alone) is escaped.
    let toml_string = |text: &str| Value::from(text).to_string().replace('\u{7f}', "\\u007F");
    let quoted = toml_string(fails);
    let message = toml_string(&format!("m {{{{{fails}}}}}"));
    format!(
        "[[rules]]\nid = \"fuzz\"\ntitle = \"t\"\nseverity = \"low\"\n{head}\nfails = {quoted}\nmessage = {message}\nrationale = \"r\"\nremediation = \"x\"\nparams = {{ n = 3, s = \"a\", l = [1, 2] }}\n"
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    #[test]
    fn edited_packs_load_or_name_a_line(text in edited_pack()) {
        check_loaded(&text);
    }

    #[test]
    fn arbitrary_text_loads_or_names_a_line(text in "\\PC{0,200}|\\[\\[rules\\]\\]\n[a-z]{1,8} = [\"'a-z0-9{}\\[\\], =\n]{0,80}") {
        check_loaded(&text);
    }

    #[test]
    fn conditions_compile_or_say_why_and_evaluate_over_any_document(
        flavour in 0u8..3,
        fails in expression(),
        doc in document(),
        other in document(),
    ) {
        let text = pack_with(flavour, &fails);
        let rules = match load_pack("fuzz.toml", &text) {
            Ok(rules) => rules,
            Err(error) => {
                // The rule and the field are named; the place is the line of the expression.
                prop_assert!(error.message.starts_with("fuzz: "), "{}", error);
                prop_assert!(error.message.contains("`fails`") || error.message.contains("`message`"), "{}", error);
                prop_assert!((6..=8).contains(&error.line), "{}", error);
                return Ok(());
            }
        };
        let mut engine = Engine::new();
        engine.add_rules(rules).unwrap();
        let rule = &engine.cel_rules()[0];
        let mut input = Input::doc(doc).rel(other.clone());
        if flavour == 1 {
            input = input.before(other);
        }
        let verdict = engine.check(rule, &input, now());
        if verdict.outcome == Outcome::Fail {
            prop_assert!(verdict.message.is_some_and(|m| m.starts_with("m ")));
        }
    }
}

/// Regressions found by fuzzing, with the input inline.
mod regressions {
    use super::*;

    /// `days(n)` and `hours(n)` panicked (chrono's `TimeDelta::days out of bounds`) for a count
    /// out of range, and the count may come from a document: now an evaluation error, so the
    /// outcome is unknown.
    #[test]
    fn days_and_hours_out_of_range_are_errors_not_panics() {
        for fails in [
            "days(9223372036854775807) > duration('1h')",
            "hours(-9223372036854775808) < duration('1h')",
            "age(r.created) > days(r.n)",
        ] {
            let rules = load_pack("fuzz.toml", &pack_with(0, fails)).unwrap();
            let mut engine = Engine::new();
            engine.add_rules(rules).unwrap();
            let doc = serde_json::json!({"created": "2026-01-01T00:00:00Z", "n": i64::MAX});
            let verdict = engine.check(&engine.cel_rules()[0], &Input::doc(doc), now());
            assert_eq!(verdict.outcome, Outcome::Unknown, "{fails}: {verdict:?}");
        }
    }
}
