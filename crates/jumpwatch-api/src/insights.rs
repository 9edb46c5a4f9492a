//! Directory Insights: the audit-event stream (`POST /insights/directory/v1/events`), paged with
//! `search_after` taken from the `X-Search_after` header until a page holds fewer events than
//! `X-Limit`.

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use http::{HeaderValue, Method};
use jumpwatch_model::event::DirectoryEvent;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::client::{Host, RequestSpec};
use crate::{Client, Error};

/// The path of the events endpoint.
pub const EVENTS_PATH: &str = "/insights/directory/v1/events";

/// The most events one page may hold.
pub const MAX_PAGE_SIZE: u32 = 10_000;

/// A query of Directory Insights events.
///
/// ```
/// use chrono::{Duration, Utc};
/// use jumpwatch_api::EventQuery;
/// let query = EventQuery::since(Utc::now() - Duration::hours(1)).services(["directory", "sso"]).page_size(500);
/// ```
#[must_use]
#[derive(Debug, Clone, PartialEq)]
pub struct EventQuery {
    services: Vec<String>,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    search_term: Option<Value>,
    page_size: u32,
    org_ids: Vec<String>,
}

impl EventQuery {
    /// Events of every service from `start` on.
    pub fn since(start: DateTime<Utc>) -> Self {
        Self {
            services: vec!["all".into()],
            start,
            end: None,
            search_term: None,
            page_size: 1000,
            org_ids: Vec::new(),
        }
    }

    /// Only these services (`directory`, `sso`, `systems`, `radius`, `ldap`, `mdm`...).
    pub fn services<I, S>(mut self, services: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.services = services.into_iter().map(Into::into).collect();
        self
    }

    /// Events before `end`.
    pub fn until(mut self, end: DateTime<Utc>) -> Self {
        self.end = Some(end);
        self
    }

    /// A search term (`{"and": [{"event_type": "user_update"}]}`); values are lower-case.
    pub fn search_term(mut self, term: Value) -> Self {
        self.search_term = Some(term);
        self
    }

    /// Events a page (default 1000, at most 10 000).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// The organizations to read (one `x-org-id` header each), for administrators of several.
    /// Default: the client's organization.
    pub fn org_ids<I, S>(mut self, orgs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.org_ids = orgs.into_iter().map(Into::into).collect();
        self
    }

    fn body(&self, search_after: Option<&Value>) -> Value {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut body = json!({
            "service": self.services,
            "start_time": time(&self.start),
            "limit": self.page_size,
            "sort": "ASC",
        });
        if let Some(end) = &self.end {
            body["end_time"] = json!(time(end));
        }
        if let Some(term) = &self.search_term {
            body["search_term"] = term.clone();
        }
        if let Some(after) = search_after {
            body["search_after"] = after.clone();
        }
        body
    }
}

struct EventPage {
    events: Vec<Value>,
    result_count: Option<u64>,
    limit: Option<u64>,
    search_after: Option<Value>,
}

fn header_number(response: &http::Response<Bytes>, name: &str) -> Option<u64> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

fn decode_events(response: &http::Response<Bytes>) -> Result<EventPage, Error> {
    let error = |path: String, message: String| Error::Decode {
        kind: None,
        what: "a page of events".into(),
        path,
        message,
    };
    let events = match serde_json::from_slice::<Value>(response.body()) {
        Ok(Value::Array(events)) => events,
        Ok(Value::Null) => Vec::new(),
        Ok(other) => {
            return Err(error(
                "$".into(),
                format!("expected an array, found {}", jumpwatch_model::typed::json_type(&other)),
            ));
        }
        Err(e) => {
            return Err(error(format!("line {} column {}", e.line(), e.column()), e.to_string()));
        }
    };
    let search_after = match response.headers().get("x-search_after").map(HeaderValue::to_str) {
        Some(Ok(text)) => match serde_json::from_str::<Value>(text) {
            Ok(value @ Value::Array(_)) => Some(value),
            _ => {
                return Err(error(
                    "X-Search_after".into(),
                    format!("expected a JSON array, found {text:?}"),
                ));
            }
        },
        Some(Err(_)) => return Err(error("X-Search_after".into(), "not text".into())),
        None => None,
    };
    Ok(EventPage {
        events,
        result_count: header_number(response, "x-result-count"),
        limit: header_number(response, "x-limit"),
        search_after,
    })
}

impl Client {
    /// Directory Insights events matching `query`, oldest first, each once.
    ///
    /// Events keep their raw JSON; [`DirectoryEvent`] reads the common fields tolerantly. The
    /// stream ends after the first page holding fewer events than the page size, or with the
    /// first fatal error.
    pub fn events(&self, query: EventQuery) -> BoxStream<'static, Result<DirectoryEvent, Error>> {
        struct State {
            client: Client,
            query: EventQuery,
            search_after: Option<Value>,
            seen: HashSet<String>,
            buffer: VecDeque<Result<DirectoryEvent, Error>>,
            done: bool,
        }
        let state = State {
            client: self.clone(),
            query,
            search_after: None,
            seen: HashSet::new(),
            buffer: VecDeque::new(),
            done: false,
        };
        let span = tracing::debug_span!("jumpwatch.events");
        futures::stream::unfold(state, move |mut state| {
            async move {
            loop {
                if let Some(item) = state.buffer.pop_front() {
                    return Some((item, state));
                }
                if state.done {
                    return None;
                }
                let mut spec = RequestSpec::get(EVENTS_PATH.to_owned());
                spec.method = Method::POST;
                spec.host = Host::Insights;
                spec.idempotent = true;
                spec.body = Some(Bytes::from(state.query.body(state.search_after.as_ref()).to_string()));
                for org in &state.query.org_ids {
                    match HeaderValue::from_str(org) {
                        Ok(value) => {
                            spec.headers.append("x-org-id", value);
                        }
                        Err(_) => {
                            state.done = true;
                            state.buffer.push_back(Err(Error::InvalidRequest(format!("org id {org:?} cannot be a header"))));
                        }
                    }
                }
                if state.done {
                    continue;
                }
                match state.client.execute(&spec, decode_events).await {
                    Ok(page) => {
                        let count = page.result_count.unwrap_or(page.events.len() as u64);
                        let limit = page.limit.unwrap_or(u64::from(state.query.page_size));
                        let full = !page.events.is_empty() && count >= limit;
                        for raw in page.events {
                            let event = DirectoryEvent::from_raw(raw);
                            // Pages may overlap; an event is yielded once.
                            if let Some(id) = &event.id
                                && !state.seen.insert(id.clone())
                            {
                                continue;
                            }
                            state.buffer.push_back(Ok(event));
                        }
                        match (full, page.search_after) {
                            (true, Some(after)) if Some(&after) != state.search_after.as_ref() => {
                                state.search_after = Some(after);
                            }
                            (true, _) => {
                                state.done = true;
                                state.buffer.push_back(Err(Error::Decode {
                                    kind: None,
                                    what: "a page of events".into(),
                                    path: "X-Search_after".into(),
                                    message: "a full page without a new cursor: the rest cannot be read".into(),
                                }));
                            }
                            (false, _) => state.done = true,
                        }
                    }
                    Err(error) => {
                        state.done = true;
                        state.buffer.push_back(Err(error));
                    }
                }
            }
            }
            .instrument(span.clone())
        })
        .boxed()
    }
}
