//! Directory Insights: events (made from every mutation and from background activity) and the
//! event query of `POST /insights/directory/v1/events` with `search_after` paging.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::clock::rfc3339;
use crate::ids::{event_id, mix};
use crate::store::{Doc, Event, EventLog, lookup};

/// The services an event query may name.
pub(crate) const SERVICES: &[&str] = &[
    "alerts",
    "all",
    "directory",
    "ldap",
    "mdm",
    "notifications",
    "object_storage",
    "password_manager",
    "radius",
    "reports",
    "saas_app_management",
    "software",
    "sso",
    "systems",
    "access_management",
    "asset_management",
];

/// Fields that are never searchable.
const UNSEARCHABLE: &[&str] = &["changes", "useragent", "system_timestamp"];

/// Top-level fields of the events the simulator records (for `fields`).
const EVENT_FIELDS: &[&str] = &[
    "id",
    "event_type",
    "service",
    "timestamp",
    "organization",
    "initiated_by",
    "resource",
    "changes",
    "association",
    "success",
    "mfa",
    "mfa_meta",
    "auth_method",
    "client_ip",
    "useragent",
    "geoip",
    "application",
    "system",
    "provider",
    "error_message",
    "username",
];

/// The default and largest page.
const DEFAULT_LIMIT: usize = 1_000;
const MAX_LIMIT: usize = 10_000;

/// An event about to be recorded.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub(crate) at: DateTime<Utc>,
    pub(crate) event_type: String,
    pub(crate) service: &'static str,
    pub(crate) fields: Map<String, Value>,
}

impl NewEvent {
    pub(crate) fn new(
        at: DateTime<Utc>,
        event_type: impl Into<String>,
        service: &'static str,
    ) -> Self {
        Self { at, event_type: event_type.into(), service, fields: Map::new() }
    }

    #[must_use]
    pub(crate) fn with(mut self, key: &str, value: Value) -> Self {
        self.fields.insert(key.to_owned(), value);
        self
    }
}

/// Makes the event document, with an id drawn from `rng`.
pub(crate) fn build(org_id: &str, rng: &mut fastrand::Rng, new: NewEvent) -> Event {
    let id: Arc<str> = event_id(rng).into();
    let mut doc = new.fields;
    doc.insert("id".into(), json!(&*id));
    doc.insert("event_type".into(), json!(new.event_type));
    doc.insert("service".into(), json!(new.service));
    doc.insert("timestamp".into(), json!(rfc3339(new.at)));
    doc.insert("organization".into(), json!(org_id));
    doc.entry("success").or_insert(json!(true));
    Event {
        ts_ms: new.at.timestamp_millis(),
        id,
        service: new.service.into(),
        doc: Doc::new(&Value::Object(doc)),
    }
}

/// Records an event made now: its time is never before the log's last event, so events made
/// on a clock that stands still stay in order.
pub(crate) fn record(log: &mut EventLog, org_id: &str, mut new: NewEvent) -> Value {
    if let Some(last) = log.last_ts_ms()
        && new.at.timestamp_millis() <= last
        && let Some(next) = DateTime::<Utc>::from_timestamp_millis(last + 1)
    {
        new.at = next;
    }
    log.seq += 1;
    let mut rng = fastrand::Rng::with_seed(mix(&[log.seed, 0xe7e7, log.seq]));
    let event = build(org_id, &mut rng, new);
    let doc = event.doc.value();
    log.push(event);
    doc
}

/// A parsed event query.
#[derive(Debug, Clone)]
pub(crate) struct EventQuery {
    services: Option<Vec<String>>,
    start_ms: i64,
    end_ms: Option<i64>,
    pub(crate) limit: usize,
    pub(crate) descending: bool,
    search_after: Option<(i64, String)>,
    search_term: Option<Value>,
    q: Option<String>,
    fields: Option<Vec<String>>,
    skip: usize,
}

impl EventQuery {
    /// The query's `search_after`, as the response header repeats it when a page is empty.
    pub(crate) fn search_after_json(&self) -> Value {
        self.search_after.as_ref().map_or(json!([]), |(ts, id)| json!([ts, id]))
    }
}

/// Reads a query body; the error is the message of a 400.
pub(crate) fn parse_query(body: &Value, now: DateTime<Utc>) -> Result<EventQuery, String> {
    let Some(object) = body.as_object() else {
        return Err("Bad Request: the body must be a JSON object".into());
    };
    for key in object.keys() {
        if !matches!(
            key.as_str(),
            "service"
                | "start_time"
                | "end_time"
                | "limit"
                | "sort"
                | "fields"
                | "search_after"
                | "search_term"
                | "q"
                | "skip"
        ) {
            return Err(format!(
                "Bad Request: unknown field {key:?} (the simulator does not support it)"
            ));
        }
    }
    let services = match object.get("service") {
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut services = Vec::new();
            for item in items {
                let Some(name) = item.as_str() else {
                    return Err("Bad Request: \"service\" must be an array of strings".into());
                };
                if !SERVICES.contains(&name) {
                    return Err(format!(
                        "Bad Request: unknown service {name:?}; supported services: {}",
                        SERVICES.join(", ")
                    ));
                }
                services.push(name.to_owned());
            }
            if services.iter().any(|s| s == "all") { None } else { Some(services) }
        }
        Some(_) => {
            return Err("Bad Request: \"service\" must be a non-empty array of strings".into());
        }
        None => return Err("Bad Request: \"service\" is required".into()),
    };
    let instant = |key: &str| -> Result<Option<DateTime<Utc>>, String> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => DateTime::parse_from_rfc3339(text)
                .map(|t| Some(t.to_utc()))
                .map_err(|_| format!("Bad Request: {key:?} must be an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z")),
            Some(_) => Err(format!("Bad Request: {key:?} must be a string")),
        }
    };
    let Some(start) = instant("start_time")? else {
        return Err("Bad Request: \"start_time\" is required".into());
    };
    if start > now {
        return Err("Bad Request: \"start_time\" is in the future".into());
    }
    let end = instant("end_time")?;
    if end.is_some_and(|end| end <= start) {
        return Err("Bad Request: \"end_time\" must be after \"start_time\"".into());
    }
    let limit = match object.get("limit").and_then(Value::as_i64) {
        Some(n) if n > 0 => usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
        _ => DEFAULT_LIMIT,
    };
    let descending =
        object.get("sort").and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("desc"));
    let search_after = match object.get("search_after") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) if items.len() == 2 => {
            let ts = items[0].as_i64().or_else(|| items[0].as_str().and_then(|s| s.parse().ok()));
            match (ts, items[1].as_str()) {
                (Some(ts), Some(id)) => Some((ts, id.to_owned())),
                _ => return Err("Bad Request: \"search_after\" must be [<timestamp in ms>, \"<event id>\"] as X-Search_after gives it".into()),
            }
        }
        Some(Value::Array(items)) if items.is_empty() => None,
        Some(_) => return Err("Bad Request: \"search_after\" must be [<timestamp in ms>, \"<event id>\"] as X-Search_after gives it".into()),
    };
    let search_term = match object.get("search_term") {
        None | Some(Value::Null) => None,
        Some(term @ Value::Object(_)) => {
            check_term(term)?;
            Some(term.clone())
        }
        Some(_) => return Err("Bad Request: \"search_term\" must be an object ({\"and\": [...]}, {\"or\": [...]} or {\"not\": ...})".into()),
    };
    let q = match object.get("q") {
        None | Some(Value::Null) => None,
        Some(Value::String(q)) => Some(q.to_lowercase()),
        Some(_) => return Err("Bad Request: \"q\" must be a string".into()),
    };
    let fields = match object.get("fields") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut fields = Vec::new();
            for item in items {
                let field = item.as_str().unwrap_or_default();
                let root = field.split('.').next().unwrap_or_default();
                if !EVENT_FIELDS.contains(&root) {
                    return Err(format!("Bad Request: unknown field {field:?} in \"fields\""));
                }
                fields.push(field.to_owned());
            }
            Some(fields)
        }
        Some(_) => {
            return Err("Bad Request: \"fields\" must be a non-empty array of field names".into());
        }
    };
    let skip = match object.get("skip") {
        None | Some(Value::Null) => 0,
        Some(value) => value
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| "Bad Request: \"skip\" must be a non-negative integer".to_owned())?,
    };
    Ok(EventQuery {
        services,
        start_ms: start.timestamp_millis(),
        end_ms: end.map(|t| t.timestamp_millis()),
        limit,
        descending,
        search_after,
        search_term,
        q,
        fields,
        skip,
    })
}

fn check_term(term: &Value) -> Result<(), String> {
    match term {
        Value::Object(object) => {
            for (key, value) in object {
                match key.as_str() {
                    "and" | "or" => match value {
                        Value::Array(items) => items.iter().try_for_each(check_term)?,
                        _ => {
                            return Err(format!(
                                "Bad Request: \"{key}\" in \"search_term\" takes an array"
                            ));
                        }
                    },
                    "not" => check_term(value)?,
                    field
                        if UNSEARCHABLE.contains(&field.split('.').next().unwrap_or_default()) =>
                    {
                        return Err(format!("Bad Request: field {field:?} is not searchable"));
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        _ => Err("Bad Request: \"search_term\" terms must be objects".into()),
    }
}

fn matches_term(event: &Value, term: &Value) -> bool {
    let Value::Object(object) = term else { return false };
    object.iter().all(|(key, value)| match key.as_str() {
        "and" => value.as_array().is_some_and(|items| items.iter().all(|t| matches_term(event, t))),
        "or" => value.as_array().is_some_and(|items| items.iter().any(|t| matches_term(event, t))),
        "not" => !matches_term(event, value),
        field => {
            let found = lookup(event, field);
            let wanted: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            wanted.iter().any(|w| found.is_some_and(|f| value_matches(f, w)))
        }
    })
}

fn value_matches(found: &Value, wanted: &Value) -> bool {
    match found {
        Value::Array(items) => items.iter().any(|f| value_matches(f, wanted)),
        Value::String(f) => {
            wanted.as_str().map_or_else(|| f == &wanted.to_string(), |w| f.eq_ignore_ascii_case(w))
        }
        other => {
            other == wanted
                || wanted.as_str().is_some_and(|w| other.to_string().eq_ignore_ascii_case(w))
        }
    }
}

/// Runs a query over the logs of the organizations it reads. Returns the page (serialized
/// events) and the sort values of its last event.
pub(crate) fn run(logs: &[&EventLog], query: &EventQuery) -> (Vec<bytes::Bytes>, Option<Value>) {
    let mut selected: Vec<&Event> = Vec::new();
    for log in logs {
        let events = log.all();
        let from = events.partition_point(|e| e.ts_ms < query.start_ms);
        let to =
            query.end_ms.map_or(events.len(), |end| events.partition_point(|e| e.ts_ms <= end));
        selected.extend(events[from..to.max(from)].iter().filter(|e| {
            query
                .services
                .as_ref()
                .is_none_or(|services| services.iter().any(|s| **s == *e.service))
                && query.search_term.as_ref().is_none_or(|term| matches_term(&e.doc.value(), term))
                && query.q.as_ref().is_none_or(|q| {
                    String::from_utf8_lossy(&e.doc.json).to_lowercase().contains(q.as_str())
                })
        }));
    }
    selected.sort_by(|a, b| (a.ts_ms, &a.id).cmp(&(b.ts_ms, &b.id)));
    if query.descending {
        selected.reverse();
    }
    if let Some((ts, id)) = &query.search_after {
        let key = (*ts, id.as_str());
        selected.retain(|e| {
            let own = (e.ts_ms, &*e.id);
            if query.descending { own < key } else { own > key }
        });
    }
    let page: Vec<&Event> = selected.into_iter().skip(query.skip).take(query.limit).collect();
    let last = page.last().map(|e| json!([e.ts_ms, &*e.id]));
    let items = page
        .into_iter()
        .map(|e| match &query.fields {
            Some(fields) => bytes::Bytes::from(
                serde_json::to_vec(&crate::query::project(&e.doc.value(), fields))
                    .unwrap_or_default(),
            ),
            None => e.doc.json.clone(),
        })
        .collect();
    (items, last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_instant;

    fn log() -> EventLog {
        let mut log = EventLog::default();
        let mut rng = fastrand::Rng::with_seed(1);
        let start = parse_instant("2026-01-01T00:00:00Z").unwrap();
        for i in 0..5 {
            let at = start + chrono::Duration::minutes(i);
            let service = if i % 2 == 0 { "directory" } else { "sso" };
            log.push(build(
                "org",
                &mut rng,
                NewEvent::new(at, "user_login_attempt", service)
                    .with("initiated_by", json!({"username": format!("u{i}")})),
            ));
        }
        log
    }

    #[test]
    fn queries_page_with_search_after_and_filter() {
        let log = log();
        let now = parse_instant("2026-02-01T00:00:00Z").unwrap();
        let body = json!({"service": ["all"], "start_time": "2025-12-31T00:00:00Z", "limit": 2});
        let mut query = parse_query(&body, now).unwrap();
        let (first, last) = run(&[&log], &query);
        assert_eq!(first.len(), 2);
        let parse = |b: &bytes::Bytes| serde_json::from_slice::<Value>(b).unwrap();
        query.search_after = last.and_then(|v| Some((v[0].as_i64()?, v[1].as_str()?.to_owned())));
        let (second, _) = run(&[&log], &query);
        assert_eq!(parse(&second[0])["initiated_by"]["username"], "u2");
        let body = json!({"service": ["sso"], "start_time": "2025-12-31T00:00:00Z"});
        assert_eq!(run(&[&log], &parse_query(&body, now).unwrap()).0.len(), 2);
        let body = json!({"service": ["all"], "start_time": "2025-12-31T00:00:00Z", "search_term": {"and": [{"initiated_by.username": "U3"}]}});
        assert_eq!(run(&[&log], &parse_query(&body, now).unwrap()).0.len(), 1);
    }

    #[test]
    fn bad_queries_are_refused_with_a_reason() {
        let now = parse_instant("2026-02-01T00:00:00Z").unwrap();
        for (body, needle) in [
            (json!({"start_time": "2026-01-01T00:00:00Z"}), "service"),
            (json!({"service": ["nope"], "start_time": "2026-01-01T00:00:00Z"}), "unknown service"),
            (json!({"service": ["all"]}), "start_time"),
            (json!({"service": ["all"], "start_time": "2027-01-01T00:00:00Z"}), "future"),
            (
                json!({"service": ["all"], "start_time": "2026-01-01T00:00:00Z", "search_term": {"changes": "x"}}),
                "not searchable",
            ),
            (
                json!({"service": ["all"], "start_time": "2026-01-01T00:00:00Z", "fields": []}),
                "fields",
            ),
            (
                json!({"service": ["all"], "start_time": "2026-01-01T00:00:00Z", "exact_match": "x"}),
                "exact_match",
            ),
        ] {
            let error = parse_query(&body, now).unwrap_err();
            assert!(error.contains(needle), "{error}");
        }
    }
}
