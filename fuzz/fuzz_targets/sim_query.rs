//! The simulator's query parsers, over HTTP on 127.0.0.1: list query parameters (`limit`, `skip`,
//! `sort`, `fields`, and v1/v2/System Insights `filter` expressions) on every top-level kind,
//! filters the client renders, and Directory Insights query bodies. The simulator must answer
//! 200 or a 400 with a JSON message, never break the connection; a 200 page decodes with the
//! client's page decoder; a filter the client renders on a filterable field is accepted.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use jumpwatch_api::{Filter, Op};
use jumpwatch_fuzz::{encode, expect_status, request};
use jumpwatch_model::ResourceKind;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    "limit",
    "skip",
    "sort",
    "sortIgnoreCase",
    "fields",
    "filter",
    "filter[0]",
    "filter[1]",
    "filter[or][0]",
    "filter[or][1]",
    "filter[and][0]",
    "filter[x]",
    "filter[",
    "search",
    "q",
];
const OPS: [Op; 8] = [Op::Eq, Op::Ne, Op::Gt, Op::Ge, Op::Lt, Op::Le, Op::In, Op::Search];
const EVENT_KEYS: &[&str] = &[
    "service",
    "start_time",
    "end_time",
    "limit",
    "sort",
    "fields",
    "search_after",
    "search_term",
    "q",
    "skip",
    "and",
    "or",
    "not",
    "event_type",
    "initiated_by.email",
];

fn top_level() -> Vec<ResourceKind> {
    ResourceKind::ALL.iter().copied().filter(|k| k.meta().parent.is_none()).collect()
}

fn list_path(kind: ResourceKind) -> String {
    let meta = kind.meta();
    format!("{}{}", meta.api.base_path(), meta.list_path)
}

fn value(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    if u.ratio(1, 2)? {
        let field = u.choose(jumpwatch_fuzz::field_names())?;
        let op = u.choose(&[
            "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "eq", "ne", "gt", "ge", "lt", "le", "in",
            "search", "between", "$in", "",
        ])?;
        Ok(format!("{field}:{op}:{}", String::arbitrary(u)?))
    } else {
        String::arbitrary(u)
    }
}

fn list(u: &mut Unstructured<'_>, kind: ResourceKind) -> arbitrary::Result<()> {
    let mut pairs = Vec::new();
    for _ in 0..u.int_in_range(0..=5)? {
        let key =
            if u.ratio(7, 8)? { (*u.choose(KEYS)?).to_owned() } else { String::arbitrary(u)? };
        let value = value(u)?;
        pairs.push(format!("{}={}", encode(key.as_bytes()), encode(value.as_bytes())));
    }
    let target = format!("{}?{}", list_path(kind), pairs.join("&"));
    let reply = expect_status(request("GET", &target, &[], b""), &[200, 400], &target);
    if reply.status == 200 {
        let page = jumpwatch_api::page::decode_page(kind, &reply.headers, &reply.body);
        assert!(page.is_ok(), "{target}: the client cannot decode the page: {page:?}");
    }
    Ok(())
}

fn rendered(u: &mut Unstructured<'_>, kind: ResourceKind) -> arbitrary::Result<()> {
    let meta = kind.meta();
    let field = if meta.filterable.is_empty() || u.ratio(1, 8)? {
        String::arbitrary(u)?
    } else {
        (*u.choose(meta.filterable)?).to_owned()
    };
    let op = *u.choose(&OPS)?;
    let values: Vec<String> = Vec::arbitrary(u)?;
    let filter = if op == Op::In {
        Filter::is_in(field.clone(), values)
    } else {
        Filter::new(field.clone(), op, values.concat())
    };
    let Ok(text) = filter.render(meta.api) else { return Ok(()) };
    let target = format!("{}?filter={}", list_path(kind), encode(text.as_bytes()));
    let reply = expect_status(request("GET", &target, &[], b""), &[200, 400], &target);
    if meta.filterable.contains(&field.as_str()) {
        assert_eq!(
            reply.status,
            200,
            "{target}: the simulator refused a filter the client renders: {}",
            String::from_utf8_lossy(&reply.body)
        );
    }
    Ok(())
}

fn events(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let mut body = Map::new();
    body.insert("service".into(), Value::from(vec!["all"]));
    body.insert("start_time".into(), Value::from("2020-01-01T00:00:00Z"));
    for _ in 0..u.int_in_range(0..=4)? {
        let key = (*u.choose(EVENT_KEYS)?).to_owned();
        body.insert(key, jumpwatch_fuzz::json(u, 3)?);
    }
    if u.ratio(1, 8)? {
        body.remove(*u.choose(&["service", "start_time"])?);
    }
    let body = serde_json::to_vec(&Value::Object(body)).unwrap_or_default();
    let reply = expect_status(
        request("POST", jumpwatch_api::EVENTS_PATH, &[], &body),
        &[200, 400],
        &String::from_utf8_lossy(&body),
    );
    if reply.status == 200 {
        let events: Result<Vec<Value>, _> = serde_json::from_slice(&reply.body);
        assert!(events.is_ok(), "not an array of events");
        let cursor = reply.headers.get("x-search_after").and_then(|v| v.to_str().ok());
        let cursor: Option<Value> = cursor.and_then(|c| serde_json::from_str(c).ok());
        assert!(cursor.is_some_and(|c| c.is_array()), "a page without a JSON array cursor");
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let kinds = top_level();
    let (Ok(mode), Ok(kind)) = (u.int_in_range(0..=2u8), u.choose(&kinds)) else { return };
    let _ = match mode {
        0 => list(&mut u, *kind),
        1 => rendered(&mut u, *kind),
        _ => events(&mut u),
    };
});
