//! The fuzz targets `sim_query` and `sim_admin` as properties in plain `cargo test` (see
//! `docs/reliability.md`): whatever the query parameters, filter expressions, event queries and
//! admin bodies, the simulator answers 200 or a 4xx whose JSON message says what is wrong, and
//! keeps serving. One simulator a test; raise the number of cases with `PROPTEST_CASES`.

use jumpwatch_model::ResourceKind;
use jumpwatch_model::catalog::Api as Dialect;
use jumpwatch_sim::{Faults, Mutation, Simulator};
use proptest::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Api, Reply, builder};

/// `n` cases, or `PROPTEST_CASES` when it is set (`ProptestConfig::with_cases` alone ignores it).
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(n)
}

/// A runtime and a simulator started on it, for one test.
fn start() -> (tokio::runtime::Runtime, Simulator) {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = runtime.block_on(builder().start()).unwrap();
    (runtime, sim)
}

fn top_level() -> Vec<ResourceKind> {
    ResourceKind::ALL.iter().copied().filter(|k| k.meta().parent.is_none()).collect()
}

fn list_path(kind: ResourceKind) -> String {
    let meta = kind.meta();
    format!("{}{}", meta.api.base_path(), meta.list_path)
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A 4xx must carry JumpCloud's `{"message": ...}` with something in it.
fn check_error(reply: &Reply, what: &str) -> String {
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or_else(|e| {
        panic!(
            "{what}: a {} whose body is not JSON ({e}): {:?}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        )
    });
    let message = body["message"].as_str().unwrap_or_default().to_owned();
    assert!(!message.is_empty(), "{what}: no message in {body}");
    message
}

const KEYS: &[&str] = &[
    "limit",
    "skip",
    "sort",
    "sortIgnoreCase",
    "fields",
    "filter",
    "filter[0]",
    "filter[or][0]",
    "filter[and][1]",
    "filter[x]",
    "filter[",
    "search",
];

fn param_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,12}",
        "-?[0-9]{1,21}",
        "[a-zA-Z_.]{1,10}:\\$?(eq|ne|gt|gte|ge|lt|lte|le|in|search|between|x)?:[a-zA-Z0-9|:. ]{0,10}",
        "[a-zA-Z_., -]{0,16}",
    ]
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop_oneof![4 => prop::sample::select(KEYS).prop_map(str::to_owned), 1 => "\\PC{0,8}"],
            param_value(),
        ),
        0..5,
    )
}

/// A filter in the syntax of `dialect` on one of the kind's filterable fields, as the client
/// renders it (`jumpwatch_api::Filter::render`).
fn well_formed_filter(kind: ResourceKind) -> impl Strategy<Value = String> {
    let meta = kind.meta();
    let ops: Vec<&'static str> = match meta.api {
        Dialect::V1 => vec!["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"],
        Dialect::Insights => vec!["eq", "in"],
        _ => vec!["eq", "ne", "gt", "ge", "lt", "le", "in", "search"],
    };
    (
        prop::sample::select(meta.filterable.to_vec()),
        prop::sample::select(ops),
        prop::collection::vec("[a-zA-Z0-9 ._@-]{0,10}", 1..3),
    )
        .prop_map(|(field, op, values)| {
            let value = if op == "in" { values.join("|") } else { values.concat() };
            format!("{field}:{op}:{value}")
        })
}

proptest! {
    // Each case is an HTTP round trip (eight for the list queries): about 3 s a test in debug.
    #![proptest_config(ProptestConfig::with_cases(cases(96)))]

    #[test]
    fn list_queries_are_served_or_refused_with_a_message(cases in prop::collection::vec(
        (prop::sample::select(top_level()), params()), 8)
    ) {
        // Eight queries a case, against one simulator for the whole test.
        let (runtime, sim) = start_once();
        let api = Api::new(sim);
        for (kind, params) in cases {
            let query: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
            let path = format!("{}?{}", list_path(kind), query.join("&"));
            let reply = runtime.block_on(api.get(&path));
            match reply.status {
                200 => {
                    let body = reply.json();
                    let envelope = kind.meta().envelope;
                    prop_assert!(body.is_array() || body.get("results").is_some_and(Value::is_array)
                        || matches!(envelope, jumpwatch_model::catalog::Envelope::Wrapper(_)), "{}: {}", path, body);
                }
                400 => {
                    let message = check_error(&reply, &path);
                    prop_assert!(message.starts_with("Bad Request"), "{}: {}", path, message);
                }
                other => prop_assert!(false, "{}: status {}", path, other),
            }
        }
    }

    #[test]
    fn filters_as_the_client_writes_them_are_served(
        (kind, filter) in prop::sample::select(
            top_level().into_iter().filter(|k| !k.meta().filterable.is_empty()).collect::<Vec<_>>()
        ).prop_flat_map(|kind| (Just(kind), well_formed_filter(kind)))
    ) {
        let (runtime, sim) = start_once();
        let api = Api::new(sim);
        let path = format!("{}?filter={}", list_path(kind), encode(&filter));
        let reply = runtime.block_on(api.get(&path));
        prop_assert_eq!(reply.status, 200, "{}: {}", path, String::from_utf8_lossy(&reply.body));
    }

    #[test]
    fn event_queries_are_served_or_refused_with_a_message(
        extra in prop::collection::vec((prop::sample::select(vec![
            "service", "start_time", "end_time", "limit", "sort", "fields", "search_after",
            "search_term", "q", "skip", "unknown",
        ]), event_value()), 0..4),
    ) {
        let (runtime, sim) = start_once();
        let api = Api::new(sim);
        let mut body = json!({"service": ["all"], "start_time": "2020-01-01T00:00:00Z"});
        for (key, value) in extra {
            body[key] = value;
        }
        let reply = runtime.block_on(api.post(jumpwatch_api_events_path(), &body));
        match reply.status {
            200 => {
                prop_assert!(reply.json().is_array());
                let cursor: Option<Value> = reply.header("x-search_after").and_then(|c| serde_json::from_str(c).ok());
                prop_assert!(cursor.is_some_and(|c| c.is_array()), "{}", body);
            }
            400 => {
                let message = check_error(&reply, &body.to_string());
                prop_assert!(message.starts_with("Bad Request"), "{}", message);
            }
            other => prop_assert!(false, "{}: status {}", body, other),
        }
    }
}

fn jumpwatch_api_events_path() -> &'static str {
    "/insights/directory/v1/events"
}

fn event_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,10}".prop_map(Value::String),
        Just(json!("2026-01-01T00:00:00Z")),
        Just(json!("directory")),
        Just(json!("desc")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "and",
                        "or",
                        "not",
                        "event_type",
                        "initiated_by.email",
                        "x"
                    ]),
                    inner
                ),
                0..3
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// One simulator for every case of a test (its thread's), with a fixed clock.
fn start_once() -> (&'static tokio::runtime::Runtime, &'static Simulator) {
    use std::sync::OnceLock;
    static STARTED: OnceLock<(tokio::runtime::Runtime, Simulator)> = OnceLock::new();
    let (runtime, sim) = STARTED.get_or_init(start);
    (runtime, sim)
}

fn admin_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (0u32..=100).prop_map(|n| json!(f64::from(n) / 100.0)),
        any::<bool>().prop_map(Value::Bool),
        "\\PC{0,8}".prop_map(Value::String),
        Just(json!({"sudo": {"enabled": true}})),
        Just(json!(["x"])),
    ]
}

fn mutation_body(ids: Vec<String>) -> impl Strategy<Value = Value> {
    let id = prop_oneof![3 => prop::sample::select(ids), 1 => "\\PC{0,8}"];
    let one = (
        prop::sample::select(vec!["create", "update", "delete", "link", ""]),
        prop::sample::select(ResourceKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>()),
        prop::option::of(id.clone()),
        prop::option::of(id.clone()),
        prop::option::of(id),
        prop::option::of(prop::collection::vec(
            (
                prop::sample::select(vec![
                    "sudo",
                    "mfa.configured",
                    "name",
                    "displayName",
                    "_id",
                    "id",
                    "a..b",
                    "",
                ]),
                admin_value(),
            ),
            0..3,
        )),
        prop::option::of(admin_value()),
    )
        .prop_map(|(op, kind, id, parent, target, set, doc)| {
            let mut m = json!({"op": op, "kind": kind});
            if let Some(id) = id {
                m["id"] = json!(id);
            }
            if let Some(parent) = parent {
                m["parent"] = json!(parent);
            }
            if let Some(target) = target {
                m["target"] = json!(target);
            }
            if let Some(set) = set {
                m["set"] = Value::Object(set.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
            }
            if let Some(doc) = doc {
                m["doc"] = doc;
            }
            m
        });
    prop::collection::vec(one, 1..4).prop_map(Value::Array)
}

fn faults_body() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (
            prop::sample::select(vec![
                "latency_ms",
                "latency_jitter_ms",
                "error_rate",
                "rate_limit_per_sec",
                "burst_429_rate",
                "burst_length",
                "retry_after",
                "retry_after_s",
                "reset_rate",
                "truncate_rate",
                "short_page_rate",
                "move_items",
                "clock_skew_s",
                "unknown",
            ]),
            admin_value(),
        ),
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

#[test]
fn admin_bodies_are_applied_or_refused_and_the_api_goes_on() {
    let (runtime, sim) = start();
    let api = Api::new(&sim);
    let tenant = sim.tenant(0).unwrap();
    let ids: Vec<String> = ResourceKind::ALL
        .iter()
        .flat_map(|k| tenant.resources(*k).into_iter().take(2))
        .map(|r| r.id.as_str().to_owned())
        .collect();
    let strategy = (
        mutation_body(ids),
        faults_body(),
        prop_oneof![(0i64..=400_000_000).prop_map(Value::from), admin_value()],
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases(96)));
    runner
        .run(&strategy, |(mutations, faults, advance)| {
            // Mutations over HTTP, then through the handle (what serde accepts).
            let reply = runtime.block_on(api.admin(Method::POST, "/mutations", Some(&mutations)));
            match reply.status {
                200 => prop_assert!(reply.json()["applied"].is_array()),
                400 => {
                    let body = reply.json();
                    prop_assert!(
                        body["index"].is_u64()
                            || body["message"].as_str().is_some_and(|m| !m.is_empty()),
                        "{}",
                        body
                    );
                }
                other => prop_assert!(false, "mutations: status {}", other),
            }
            let parsed: Vec<Mutation> = mutations
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|m| serde_json::from_value(m.clone()).ok())
                .collect();
            if let Err(error) = sim.apply(parsed) {
                prop_assert!(!error.to_string().is_empty());
            }
            // Faults: accepted ones read back the same; refused ones say why.
            let reply = runtime.block_on(api.admin(Method::PUT, "/faults", Some(&faults)));
            match reply.status {
                200 => {
                    let accepted: Faults = serde_json::from_value(faults.clone()).unwrap();
                    let echoed: Faults = serde_json::from_slice(&reply.body).unwrap();
                    prop_assert_eq!(accepted, echoed);
                }
                400 => {
                    check_error(&reply, &faults.to_string());
                }
                other => prop_assert!(false, "faults: status {}", other),
            }
            sim.set_faults(Faults::none()).unwrap();
            // The clock.
            let reply = runtime.block_on(api.admin(
                Method::POST,
                "/clock",
                Some(&json!({"advance_s": advance})),
            ));
            prop_assert!(matches!(reply.status, 200 | 400), "clock: {}", reply.status);
            // The API still serves.
            let reply =
                runtime.block_on(api.get(&format!("{}?limit=3", list_path(ResourceKind::User))));
            prop_assert_eq!(reply.status, 200);
            let reply = runtime.block_on(api.post(
                jumpwatch_api_events_path(),
                &json!({"service": ["all"], "start_time": "2020-01-01T00:00:00Z", "limit": 3}),
            ));
            prop_assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
            Ok(())
        })
        .unwrap();
}
