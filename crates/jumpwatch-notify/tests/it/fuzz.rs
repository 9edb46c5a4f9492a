//! The fuzz target `notify_config` as properties in plain `cargo test` (see
//! `docs/reliability.md`): a `[notify]` section, however wrong, is read or refused with the key
//! and a place inside the text, and a refusal never shows a secret's value. Raise the number of
//! cases with `PROPTEST_CASES`.

use chrono::{TimeZone, Utc};
use jumpwatch_notify::{NotifyConfig, RawNotify};
use proptest::prelude::*;
use toml::{Table, Value};

/// `n` cases, or `PROPTEST_CASES` when it is set (`ProptestConfig::with_cases` alone ignores it).
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(n)
}

/// The value every secret expands to; no error may show it.
const SECRET: &str = "s3cr3t-d0-not-show";

fn expand(text: &str) -> Result<String, String> {
    if text.contains("${UNSET}") {
        return Err("the environment variable UNSET is not set".into());
    }
    Ok(text.replace("${SECRET}", SECRET))
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "https://hooks.example.com/x",
            "http://127.0.0.1:9/",
            "ftp://x",
            "",
            " ",
            "${SECRET}",
            "https://${SECRET}@example.com/",
            "${UNSET}",
            "${",
            "30s",
            "5m",
            "0s",
            "4h",
            "7d",
            "99999999999999999999d",
            "18446744073709551615ms",
            "-1s",
            "1 hour",
            ">=high",
            "<low",
            "=critical",
            "!=info",
            "~^jc\\.",
            "~(",
            "high",
            "2026-12-01T00:00:00Z",
            "2020-01-01",
            "tomorrow",
            "ops",
            "sec",
            "webhook",
            "slack",
            "teams",
            "pagerduty",
            "email",
            "jsonl",
            "smtp.example.com",
            "ops@example.com",
            "starttls",
            "none",
            "/tmp/x.jsonl",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        "\\PC{0,8}".prop_map(Value::String),
        any::<i64>().prop_map(Value::Integer),
        (-10i64..10).prop_map(Value::Integer),
        any::<bool>().prop_map(Value::Boolean),
        (-1.0e9..1.0e9f64).prop_map(Value::Float),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(vec![
            "name", "type", "url", "secret", "routing_key", "host", "port", "from", "to",
            "username", "password", "tls", "path", "headers", "rate_limit", "burst", "mention",
            "receiver", "match", "continue", "group_by", "group_wait", "group_interval",
            "repeat_interval", "routes", "source", "target", "equal", "starts", "ends", "author",
            "comment", "severity", "rule", "kind", "tenant",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Table(m.into_iter().collect())),
        ]
    })
}

/// The keys of each list's tables (and of the top level), with a stray one now and then.
fn keys_of(list: &str) -> Vec<&'static str> {
    let mut keys = match list {
        "receivers" => vec![
            "name",
            "type",
            "url",
            "secret",
            "routing_key",
            "host",
            "port",
            "from",
            "to",
            "username",
            "password",
            "tls",
            "path",
            "headers",
            "rate_limit",
            "burst",
            "mention",
            "source",
            "subject_prefix",
            "github_secret",
        ],
        "routes" | "defaults" => vec![
            "receiver",
            "match",
            "continue",
            "group_by",
            "group_wait",
            "group_interval",
            "repeat_interval",
            "routes",
        ],
        "inhibit" => vec!["source", "target", "equal"],
        "silences" => vec!["match", "starts", "ends", "author", "comment"],
        _ => vec![
            "ops_receiver",
            "max_age",
            "backoff_base",
            "backoff_cap",
            "breaker_failures",
            "breaker_cooldown",
        ],
    };
    keys.push("stray");
    keys
}

fn text() -> impl Strategy<Value = Value> {
    scalar().prop_filter("a string", Value::is_str)
}

fn good(values: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::sample::select(values).prop_map(|v| Value::String(v.to_owned()))
}

fn matchers() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop::sample::select(vec!["severity", "rule", "kind", "tenant", "x"]),
        text(),
        0..3,
    )
    .prop_map(|m| Value::Table(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

/// A value of the type `key` takes, mostly; sometimes anything.
fn value_for(key: &'static str) -> BoxedStrategy<Value> {
    let typed: BoxedStrategy<Value> = match key {
        "port" | "rate_limit" | "burst" | "breaker_failures" => prop_oneof![
            (-2i64..70_000).prop_map(Value::Integer),
            any::<i64>().prop_map(Value::Integer)
        ]
        .boxed(),
        "continue" => any::<bool>().prop_map(Value::Boolean).boxed(),
        "match" | "source" | "target" | "headers" => matchers().boxed(),
        "group_by" | "equal" | "to" => {
            prop::collection::vec(text(), 0..3).prop_map(Value::Array).boxed()
        }
        "routes" => prop::collection::vec(
            (prop::option::of(text()), matchers()).prop_map(|(receiver, matchers)| {
                let mut route = Table::new();
                if let Some(receiver) = receiver {
                    route.insert("receiver".into(), receiver);
                }
                route.insert("match".into(), matchers);
                Value::Table(route)
            }),
            0..3,
        )
        .prop_map(Value::Array)
        .boxed(),
        "stray" => value().boxed(),
        // Mostly good values where the section checks them, so that some sections load.
        "max_age" | "backoff_base" | "backoff_cap" | "breaker_cooldown" | "group_wait"
        | "group_interval" | "repeat_interval" => {
            prop_oneof![3 => good(&["30s", "5m", "4h", "1d"]), 1 => text()].boxed()
        }
        "name" | "receiver" | "ops_receiver" => prop_oneof![3 => good(&["ops", "sec"]), 1 => text()].boxed(),
        "type" => prop_oneof![3 => good(&["webhook", "slack", "teams", "jsonl"]), 1 => text()].boxed(),
        "url" => prop_oneof![3 => good(&["https://hooks.example.com/x", "https://${SECRET}@example.com/"]), 1 => text()].boxed(),
        "path" => prop_oneof![3 => good(&["/tmp/jumpwatch-fuzz.jsonl"]), 1 => text()].boxed(),
        _ => text().boxed(),
    };
    prop_oneof![40 => typed, 1 => value()].boxed()
}

/// A table of `list` (a receiver, a route...).
fn entry(list: &'static str) -> impl Strategy<Value = Value> {
    let keys = keys_of(list);
    let weights: Vec<(u32, BoxedStrategy<(&'static str, Value)>)> = keys
        .into_iter()
        .map(|key| {
            (
                if key == "stray" { 1 } else { 12 },
                value_for(key).prop_map(move |v| (key, v)).boxed(),
            )
        })
        .collect();
    let required: Vec<BoxedStrategy<(&'static str, Value)>> = match list {
        "silences" => vec!["match", "ends", "author", "comment"],
        "inhibit" => vec!["source", "target"],
        _ => vec![],
    }
    .into_iter()
    .map(|key| value_for(key).prop_map(move |v| (key, v)).boxed())
    .collect();
    (required, prop::collection::vec(prop::strategy::Union::new_weighted(weights), 0..6)).prop_map(
        |(required, members)| {
            Value::Table(
                required.into_iter().chain(members).map(|(k, v)| (k.to_owned(), v)).collect(),
            )
        },
    )
}

fn section() -> impl Strategy<Value = Table> {
    (
        entry(""),
        prop::option::of(entry("defaults")),
        prop::collection::vec(entry("receivers"), 0..3),
        prop::collection::vec(entry("routes"), 0..3),
        prop::collection::vec(entry("inhibit"), 0..2),
        prop::collection::vec(entry("silences"), 0..2),
    )
        .prop_map(|(scalars, defaults, receivers, routes, inhibit, silences)| {
            let mut table = match scalars {
                Value::Table(table) => table,
                _ => Table::new(),
            };
            if let Some(defaults) = defaults {
                table.insert("defaults".into(), defaults);
            }
            for (name, list) in [
                ("receivers", receivers),
                ("routes", routes),
                ("inhibit", inhibit),
                ("silences", silences),
            ] {
                if !list.is_empty() {
                    table.insert(name.into(), Value::Array(list));
                }
            }
            table
        })
}

/// A TOML value written inline (a JSON string literal is a TOML basic string).
fn inline(value: &Value) -> String {
    match value {
        Value::String(s) => quoted(s),
        Value::Integer(n) => n.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => format!("{d:?}"),
        Value::Array(items) => {
            format!("[{}]", items.iter().map(inline).collect::<Vec<_>>().join(", "))
        }
        Value::Table(table) => format!(
            "{{ {} }}",
            table
                .iter()
                .map(|(k, v)| format!("{} = {}", quoted(k), inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A JSON string literal is a TOML basic string, once DEL (which JSON leaves alone) is escaped.
fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string().replace('\u{7f}', "\\u007F")
}

/// A section as a file: scalars first, then each list entry as a `[[name]]` table.
fn write(section: &Table) -> String {
    let mut out = String::new();
    for (key, value) in section {
        if !matches!(value, Value::Array(items) if items.iter().all(Value::is_table) && !items.is_empty())
        {
            out.push_str(&format!("{} = {}\n", quoted(key), inline(value)));
        }
    }
    for (key, value) in section {
        if let Value::Array(items) = value
            && !items.is_empty()
            && items.iter().all(Value::is_table)
        {
            for item in items {
                out.push_str(&format!("\n[[{}]]\n", quoted(key)));
                if let Value::Table(table) = item {
                    for (k, v) in table {
                        out.push_str(&format!("{} = {}\n", quoted(k), inline(v)));
                    }
                }
            }
        }
    }
    out
}

fn check(text: &str) {
    let Ok(raw) = toml::from_str::<RawNotify>(text) else { return };
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap();
    if let Err(error) = NotifyConfig::from_raw(raw, &expand, now) {
        assert!(error.key.starts_with("notify."), "{error:?}");
        assert!(!error.message.is_empty(), "{error:?}");
        if let Some(span) = &error.span {
            assert!(
                span.start <= span.end && span.end <= text.len(),
                "{error:?} in {} bytes",
                text.len()
            );
        }
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains(SECRET), "a secret in an error: {shown}");
    }
}

/// How the cases went, so that a generator that stopped reaching the code under test fails.
#[derive(Debug, Default)]
struct Tally {
    unparsed: u32,
    refused: u32,
    read: u32,
}

fn check_counted(text: &str, tally: &mut Tally) {
    if toml::from_str::<RawNotify>(text).is_err() {
        tally.unparsed += 1;
        return;
    }
    check(text);
    let raw = toml::from_str::<RawNotify>(text).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap();
    match NotifyConfig::from_raw(raw, &expand, now) {
        Ok(_) => tally.read += 1,
        Err(_) => tally.refused += 1,
    }
}

/// The generator reaches the section's own checks (a generator whose cases all stopped at serde
/// would test nothing). A fixed seed, so that the count does not depend on luck.
#[test]
fn generated_sections_get_past_serde() {
    use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut runner = TestRunner::new_with_rng(ProptestConfig::with_cases(cases(256)), rng);
    let tally = std::cell::RefCell::new(Tally::default());
    runner
        .run(&section(), |section| {
            check_counted(&write(&section), &mut tally.borrow_mut());
            Ok(())
        })
        .unwrap();
    let tally = tally.into_inner();
    // Most cases get past serde to the section's own checks, and some sections are good.
    assert!(tally.refused + tally.read > tally.unparsed, "{tally:?}");
    assert!(tally.read > 0, "{tally:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn notify_sections_are_read_or_refused_naming_the_key(section in section()) {
        check(&write(&section));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,120}|\\[\\[(receivers|routes|silences|inhibit)\\]\\]\n[a-z_]{1,8} = [\"a-z0-9{}\\[\\], =>~$\n]{0,60}") {
        check(&text);
    }
}

/// Regressions found by fuzzing, with the input inline.
mod regressions {
    use super::*;

    /// A `type` that is not a receiver type was shown after `${VAR}` expansion, so a secret
    /// written in the wrong field (`type = "${SLACK_URL}"`) reached the error message. It is now
    /// shown as written.
    #[test]
    fn an_unknown_type_is_shown_as_written_not_expanded() {
        let text = "[[receivers]]\nname = \"${SECRET}\"\ntype = \"${SECRET}\"\n";
        let raw: RawNotify = toml::from_str(text).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap();
        let error = NotifyConfig::from_raw(raw, &expand, now).unwrap_err();
        assert_eq!(error.key, "notify.receivers[0].type");
        assert!(error.message.contains("\"${SECRET}\" is not a receiver type"), "{error}");
        assert!(!format!("{error} {error:?}").contains(SECRET));
        check(text);
    }
}
