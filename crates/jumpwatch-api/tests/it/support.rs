//! A fake paged JumpCloud behind a [`StubTransport`], with faults on a schedule.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use jumpwatch_api::transport::{HttpRequest, HttpResponse, StubTransport, TransportError};
use jumpwatch_api::{Client, RetryPolicy, SecretString};
use serde_json::{Value, json};

/// What the fake does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    /// 503.
    Unavailable,
    /// 429 with `Retry-After: 1`.
    Throttled,
    /// The connection breaks mid-body.
    Reset,
    /// The JSON is cut short.
    Truncated,
    /// Fewer items than due (v1 only, where a total is announced).
    ShortPage,
}

/// A fake list endpoint of `total` items, v1 (`{totalCount, results}`) or v2 (bare array, with or
/// without `x-total-count`).
pub(crate) struct FakeList {
    pub(crate) total: usize,
    pub(crate) v1: bool,
    pub(crate) send_total: bool,
    /// The faults of the first requests, in order (request `n` gets `faults[n]`).
    pub(crate) faults: Vec<Fault>,
    /// Repeat the faults forever instead (`faults[n % len]`).
    pub(crate) repeat_faults: bool,
    pub(crate) max_limit: usize,
}

pub(crate) fn query(request: &HttpRequest) -> HashMap<String, String> {
    url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn response(status: u16, headers: &[(&str, String)], body: impl Into<Bytes>) -> HttpResponse {
    let mut builder = http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder.body(body.into()).unwrap()
}

impl FakeList {
    /// The stub transport and a counter of the requests it answered.
    pub(crate) fn transport(self) -> (StubTransport, Arc<AtomicUsize>) {
        let counter = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&counter);
        let stub = StubTransport::new(move |request| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let q = query(request);
            let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
            let skip: usize = q.get("skip").and_then(|s| s.parse().ok()).unwrap_or(0);
            assert!(limit <= self.max_limit, "limit {limit} above the maximum {}", self.max_limit);
            let fault = match (self.faults.is_empty(), self.repeat_faults) {
                (true, _) => Fault::None,
                (false, true) => self.faults[n % self.faults.len()],
                (false, false) => self.faults.get(n).copied().unwrap_or(Fault::None),
            };
            let end = (skip + limit).min(self.total);
            let mut ids: Vec<usize> = (skip.min(self.total)..end).collect();
            match fault {
                Fault::Unavailable => return Ok(response(503, &[], "Service Unavailable")),
                Fault::Throttled => {
                    return Ok(response(
                        429,
                        &[("retry-after", "1".into())],
                        "{\"message\":\"Too Many Requests\"}",
                    ));
                }
                Fault::Reset => {
                    return Err(TransportError::Body("connection reset by peer".into()));
                }
                Fault::ShortPage if self.v1 && ids.len() > 1 => {
                    ids.pop();
                }
                _ => {}
            }
            let items: Vec<Value> = ids
                .iter()
                .map(|i| {
                    if self.v1 {
                        json!({"_id": format!("{i:024x}"), "username": format!("user{i}")})
                    } else {
                        json!({"id": format!("{i:024x}"), "name": format!("group{i}")})
                    }
                })
                .collect();
            let (body, headers) = if self.v1 {
                (json!({"totalCount": self.total, "results": items}).to_string(), vec![])
            } else if self.send_total {
                (Value::Array(items).to_string(), vec![("x-total-count", self.total.to_string())])
            } else {
                (Value::Array(items).to_string(), vec![])
            };
            let body =
                if fault == Fault::Truncated { body[..body.len() / 2].to_owned() } else { body };
            Ok(response(200, &headers, body))
        });
        (stub, counter)
    }
}

/// A client on a stub transport, with fast retries.
pub(crate) fn client(stub: StubTransport, concurrency: usize) -> Client {
    Client::builder()
        .api_key(SecretString::from("stub-key-0123456789"))
        .transport(Arc::new(stub))
        .concurrency(concurrency)
        .retry_policy(
            RetryPolicy::default()
                .max_attempts(8)
                .min_delay(Duration::from_millis(10))
                .max_delay(Duration::from_secs(2)),
        )
        .build()
        .unwrap()
}

/// A runtime with tokio's clock paused, so retry waits take no real time.
pub(crate) fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap()
}
