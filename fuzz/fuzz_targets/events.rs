//! Directory Insights pages: an arbitrary body and arbitrary `X-Search_after`, `X-Result-Count`
//! and `X-Limit` values, through `Client::events` (a stub transport answers the first request
//! with them and every later one with `[]`). Every event read is `DirectoryEvent::from_raw` of its
//! raw JSON; a cursor that is not a JSON array is an error naming the header.
#![no_main]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use chrono::{TimeZone, Utc};
use futures::StreamExt;
use jumpwatch_api::transport::StubTransport;
use jumpwatch_api::{Client, Error, EventQuery, RetryPolicy, SecretString};
use jumpwatch_model::event::DirectoryEvent;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    search_after: Option<&'a [u8]>,
    result_count: Option<&'a [u8]>,
    limit: Option<&'a [u8]>,
    page_size: u16,
    body: &'a [u8],
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("no runtime: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let mut response = http::Response::builder().status(200);
    let mut cursor_sent = None;
    for (name, value) in [
        ("x-search_after", input.search_after),
        ("x-result-count", input.result_count),
        ("x-limit", input.limit),
    ] {
        if let Some(value) = value.and_then(|v| http::HeaderValue::from_bytes(v).ok()) {
            if name == "x-search_after" {
                cursor_sent = Some(value.clone());
            }
            response = response.header(name, value);
        }
    }
    let Ok(first) = response.body(Bytes::copy_from_slice(input.body)) else { return };
    let requests = AtomicUsize::new(0);
    let stub = StubTransport::new(move |_| {
        if requests.fetch_add(1, Ordering::SeqCst) == 0 {
            Ok(first.clone())
        } else {
            http::Response::builder()
                .status(200)
                .body(Bytes::from_static(b"[]"))
                .map_err(|e| jumpwatch_api::transport::TransportError::Other(e.to_string()))
        }
    });
    let client = match Client::builder()
        .api_key(SecretString::from("k"))
        .transport(Arc::new(stub))
        .retry_policy(RetryPolicy::none())
        .build()
    {
        Ok(client) => client,
        Err(error) => panic!("no client: {error}"),
    };
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default();
    let query = EventQuery::since(start).page_size(u32::from(input.page_size));
    let items: Vec<Result<DirectoryEvent, Error>> =
        runtime().block_on(client.events(query).take(100_000).collect());
    let sent = serde_json::from_slice::<serde_json::Value>(input.body).ok();
    let sent_count = sent.as_ref().and_then(serde_json::Value::as_array).map_or(0, Vec::len);
    let cursor_ok = cursor_sent.as_ref().is_none_or(|v| {
        v.to_str()
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .is_some_and(|v| v.is_array())
    });
    let mut events = 0;
    for item in &items {
        match item {
            Ok(event) => {
                events += 1;
                assert_eq!(&DirectoryEvent::from_raw(event.raw.clone()), event);
            }
            Err(error) => {
                assert!(!error.to_string().is_empty());
                if let Error::Decode { path, .. } = error {
                    assert!(
                        path == "$" || path.starts_with("line ") || path == "X-Search_after",
                        "path {path:?}"
                    );
                }
            }
        }
    }
    assert!(events <= sent_count, "{events} events from a page of {sent_count}");
    if !cursor_ok && sent.as_ref().is_some_and(|v| v.is_array() || v.is_null()) {
        assert!(
            items
                .iter()
                .any(|i| matches!(i, Err(Error::Decode { path, .. }) if path == "X-Search_after")),
            "a bad cursor went unnoticed: {items:?}"
        );
    }
});
