//! The fuzz targets' properties in plain `cargo test` (see `docs/reliability.md`): page decoding
//! of every kind from arbitrary bytes and arbitrary JSON, each item made a resource and hashed;
//! unreadable records reported while the listing goes on; Directory Insights pages with arbitrary
//! bodies and `X-Search_after` values; filters rendered for each dialect. Raise the number of cases
//! with `PROPTEST_CASES`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use futures::StreamExt;
use http::{HeaderMap, HeaderValue};
use jumpwatch_api::page::decode_page;
use jumpwatch_api::transport::StubTransport;
use jumpwatch_api::{Client, Error, EventQuery, Filter, Op, RetryPolicy, SecretString};
use jumpwatch_model::catalog::{Api, Envelope};
use jumpwatch_model::event::DirectoryEvent;
use jumpwatch_model::{Normalizer, Resource, ResourceId, ResourceKind};
use proptest::prelude::*;
use serde_json::{Value, json};

/// `n` cases, or `PROPTEST_CASES` when it is set (`ProptestConfig::with_cases` alone ignores it).
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(n)
}

/// Keys that hit the catalog: id and name fields, volatile, secret and array paths.
fn catalog_keys() -> Vec<String> {
    let mut keys: Vec<String> =
        ["_id", "id", "name", "type", "to", "results", "totalCount", "records", "", "a.b"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
    for kind in ResourceKind::ALL {
        let meta = kind.meta();
        let paths = meta
            .volatile
            .iter()
            .chain(meta.secret)
            .chain(meta.arrays.iter().map(|(p, _)| p))
            .chain(meta.name_field.iter());
        for path in paths {
            for segment in path.split(['.', '[', ']', '*']) {
                if !segment.is_empty() && !keys.iter().any(|k| k == segment) {
                    keys.push(segment.to_owned());
                }
            }
        }
    }
    keys
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => prop::sample::select(catalog_keys()), 1 => "\\PC{0,6}"]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        key().prop_map(Value::String),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

fn kind() -> impl Strategy<Value = ResourceKind> {
    prop::sample::select(ResourceKind::ALL.to_vec())
}

fn resource(kind: ResourceKind, doc: Value) -> Result<Resource, jumpwatch_model::ResourceError> {
    if kind.meta().parent.is_some() {
        Resource::from_child_doc(kind, ResourceId::new("p1").unwrap(), doc)
    } else {
        Resource::from_doc(kind, doc)
    }
}

/// The hash is the hash of the normal form; normalizing twice changes nothing; redacting does
/// not change the hash.
fn check_normal_form(kind: ResourceKind, doc: &Value) {
    let normalizer = Normalizer::for_kind(kind);
    let hash = normalizer.hash(doc);
    let normal = normalizer.normalize(doc);
    assert_eq!(hash, normalizer.hash(&normal), "{kind}: {doc}");
    assert_eq!(normal, normalizer.normalize(&normal), "{kind}: {doc}");
    let mut redacted = doc.clone();
    normalizer.redact(&mut redacted);
    assert_eq!(hash, normalizer.hash(&redacted), "{kind}: {doc}");
}

/// What the fuzz target `page_bytes` checks: a page decodes or says where it failed; each item
/// becomes a resource holding the document as sent, or an error with a message.
fn check_page(kind: ResourceKind, headers: &HeaderMap, body: &[u8]) -> Option<Vec<Value>> {
    match decode_page(kind, headers, body) {
        Ok(page) => {
            for item in &page.items {
                match resource(kind, item.clone()) {
                    Ok(resource) => {
                        assert_eq!(&resource.doc, item);
                        assert!(!resource.id.as_str().is_empty());
                    }
                    Err(error) => assert!(!error.to_string().is_empty()),
                }
                check_normal_form(kind, item);
            }
            Some(page.items)
        }
        Err(Error::Decode { path, message, kind: decoded_kind, .. }) => {
            assert!(path.starts_with("line ") || path.starts_with('$'), "path {path:?}");
            assert!(!message.is_empty());
            assert_eq!(decoded_kind, Some(kind));
            None
        }
        Err(other) => panic!("not a decode error: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn pages_of_arbitrary_bytes_decode_or_name_the_place(
        kind in kind(),
        total in prop::collection::vec(any::<u8>(), 0..12),
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(&total) {
            headers.insert("x-total-count", value);
        }
        check_page(kind, &headers, &body);
    }

    #[test]
    fn pages_of_arbitrary_json_decode_every_item(
        kind in kind(),
        items in prop::collection::vec(json_value(), 0..5),
        as_text in any::<bool>(),
    ) {
        let total = if as_text { json!(items.len().to_string()) } else { json!(items.len()) };
        let body = match kind.meta().envelope {
            Envelope::V1 => json!({"totalCount": total, "results": items}),
            Envelope::Wrapper(key) => json!({"totalCount": total, key: items}),
            _ => Value::Array(items.clone()),
        };
        let decoded = check_page(kind, &HeaderMap::new(), &serde_json::to_vec(&body).unwrap());
        // Decoded items round-trip: the page holds exactly what was sent.
        prop_assert_eq!(decoded, Some(items));
    }

    #[test]
    fn any_json_in_any_envelope_decodes_or_names_the_place(kind in kind(), body in json_value()) {
        check_page(kind, &HeaderMap::new(), &serde_json::to_vec(&body).unwrap());
    }

    #[test]
    fn filters_render_or_name_the_field(
        field in "\\PC{0,8}|[a-z:|]{0,6}",
        op in prop::sample::select(vec![Op::Eq, Op::Ne, Op::Gt, Op::Ge, Op::Lt, Op::Le, Op::In, Op::Search]),
        values in prop::collection::vec("[a-z|: ]{0,5}", 0..4),
    ) {
        let filter = if op == Op::In {
            Filter::is_in(field.clone(), values.clone())
        } else {
            Filter::new(field.clone(), op, values.concat())
        };
        for api in [Api::V1, Api::V2, Api::Insights] {
            match filter.render(api) {
                Ok(text) => {
                    let (rendered_field, rest) = text.split_once(':').unwrap();
                    prop_assert_eq!(rendered_field, field.as_str());
                    let (_, value) = rest.split_once(':').unwrap();
                    if op == Op::In {
                        prop_assert_eq!(value.split('|').collect::<Vec<_>>(), values.clone());
                    }
                }
                Err(error) => {
                    let text = error.to_string();
                    prop_assert!(text.contains(&format!("`{field}`")), "{}", text);
                }
            }
        }
    }
}

/// A document that is a user, or one that is not (no id, not an object, an empty id).
fn listed_doc() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => json_value().prop_map(|mut doc| {
            if !doc.is_object() {
                doc = json!({});
            }
            doc["username"] = json!("someone");
            Some(doc)
        }),
        1 => prop_oneof![
            json_value().prop_filter("not an object", |v| !v.is_object()),
            Just(json!({"username": "no id"})),
            Just(json!({"_id": ""})),
            Just(json!({"_id": null})),
            Just(json!({"_id": ["a"]})),
        ]
        .prop_map(|_| None),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]

    /// A record that cannot be made into a resource is reported with its place, and neither the
    /// page nor the listing stops for it.
    #[test]
    fn unreadable_records_are_reported_not_fatal(docs in prop::collection::vec(listed_doc(), 0..20)) {
        let mut items = Vec::new();
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for (index, doc) in docs.into_iter().enumerate() {
            match doc {
                Some(mut doc) => {
                    doc["_id"] = json!(format!("u{index}"));
                    good.push(format!("u{index}"));
                    items.push(doc);
                }
                None => {
                    bad.push(index as u64);
                    items.push(if index % 2 == 0 { json!({"username": "no id"}) } else { json!(index) });
                }
            }
        }
        let total = items.len();
        let page = json!({"totalCount": total, "results": items}).to_string();
        let stub = StubTransport::new(move |request| {
            let skip = request.uri().query().unwrap_or("").split('&')
                .find_map(|p| p.strip_prefix("skip=")).and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
            let body = if skip == 0 { page.clone() } else { json!({"totalCount": total, "results": []}).to_string() };
            Ok(http::Response::builder().status(200).body(Bytes::from(body)).unwrap())
        });
        let client = Client::builder().api_key(SecretString::from("k")).transport(Arc::new(stub)).build().unwrap();
        let listing = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
            .block_on(client.list(ResourceKind::User).collect()).unwrap();
        let ids: Vec<&str> = listing.resources.iter().map(|r| r.id.as_str()).collect();
        prop_assert_eq!(ids, good.iter().map(String::as_str).collect::<Vec<_>>());
        let indices: Vec<u64> = listing.unreadable.iter().map(|r| r.index).collect();
        prop_assert_eq!(indices, bad);
        for record in &listing.unreadable {
            prop_assert!(!record.error.to_string().is_empty());
        }
    }
}

/// The events of one page with these headers, read through `Client::events`; later requests get
/// `[]`.
fn read_events(
    headers: &[(&str, Vec<u8>)],
    body: &[u8],
    page_size: u32,
) -> Vec<Result<DirectoryEvent, Error>> {
    let mut response = http::Response::builder().status(200);
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            response = response.header(*name, value);
        }
    }
    let first = response.body(Bytes::copy_from_slice(body)).unwrap();
    let requests = AtomicUsize::new(0);
    let stub = StubTransport::new(move |_| {
        Ok(if requests.fetch_add(1, Ordering::SeqCst) == 0 {
            first.clone()
        } else {
            http::Response::builder().status(200).body(Bytes::from_static(b"[]")).unwrap()
        })
    });
    let client = Client::builder()
        .api_key(SecretString::from("k"))
        .transport(Arc::new(stub))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let query =
        EventQuery::since(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()).page_size(page_size);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(client.events(query).take(10_000).collect())
}

fn cursor() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (any::<i64>(), "[a-z0-9]{0,6}").prop_map(|(t, id)| json!([t, id]).to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..16),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    /// Events keep their raw JSON and read back the same; a cursor that is not a JSON array is
    /// an error naming the header, never a panic or a loop.
    #[test]
    fn event_pages_with_arbitrary_bodies_and_cursors(
        events in prop::collection::vec(json_value(), 0..6),
        garbage in prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        search_after in prop::option::of(cursor()),
        count in prop::option::of("[0-9]{1,3}|\\PC{0,3}"),
        limit in prop::option::of("[0-9]{1,3}|\\PC{0,3}"),
        page_size in 1u32..10,
    ) {
        let body = garbage.clone().unwrap_or_else(|| Value::Array(events.clone()).to_string().into_bytes());
        let mut headers = Vec::new();
        if let Some(cursor) = &search_after {
            headers.push(("x-search_after", cursor.clone()));
        }
        if let Some(count) = &count {
            headers.push(("x-result-count", count.clone().into_bytes()));
        }
        if let Some(limit) = &limit {
            headers.push(("x-limit", limit.clone().into_bytes()));
        }
        let items = read_events(&headers, &body, page_size);
        let sent: Option<Value> = serde_json::from_slice(&body).ok();
        let sent_count = sent.as_ref().and_then(Value::as_array).map_or(0, Vec::len);
        let mut read = 0;
        for item in &items {
            match item {
                Ok(event) => {
                    read += 1;
                    prop_assert_eq!(&DirectoryEvent::from_raw(event.raw.clone()), event);
                }
                Err(error) => {
                    prop_assert!(!error.to_string().is_empty());
                    if let Error::Decode { path, .. } = error {
                        prop_assert!(path == "$" || path.starts_with("line ") || path == "X-Search_after", "{}", path);
                    }
                }
            }
        }
        prop_assert!(read <= sent_count);
        let cursor_is_array = search_after.as_ref().and_then(|c| HeaderValue::from_bytes(c).ok()).is_none_or(|c| {
            c.to_str().ok().and_then(|t| serde_json::from_str::<Value>(t).ok()).is_some_and(|v| v.is_array())
        });
        if !cursor_is_array && sent.as_ref().is_some_and(|v| v.is_array() || v.is_null()) {
            prop_assert!(
                items.iter().any(|i| matches!(i, Err(Error::Decode { path, .. }) if path == "X-Search_after")),
                "a bad cursor went unnoticed"
            );
        }
        if garbage.is_none() && cursor_is_array {
            // A valid page yields its events (once per id) whatever the headers say.
            let mut ids = std::collections::HashSet::new();
            let expected = events.iter().map(|e| DirectoryEvent::from_raw(e.clone()))
                .filter(|e| e.id.as_ref().is_none_or(|id| ids.insert(id.clone()))).count();
            prop_assert_eq!(read, expected);
        }
    }
}
