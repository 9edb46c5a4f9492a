//! Directory Insights: paging over `search_after` until a page is not full.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use futures::TryStreamExt;
use jumpwatch_api::transport::StubTransport;
use jumpwatch_api::{Client, Error, EventQuery, SecretString};
use mockito::Matcher;
use serde_json::{Value, json};

/// A fake events endpoint over `total` events, honouring `limit` and `search_after` like
/// JumpCloud: the cursor is `[timestamp millis, id]` of the last event sent.
fn fake(total: usize, overlap: bool) -> StubTransport {
    faulty(total, overlap, Vec::new())
}

/// The same, answering 503 to the requests whose numbers are in `unavailable`.
fn faulty(total: usize, overlap: bool, unavailable: Vec<usize>) -> StubTransport {
    let requests = std::sync::atomic::AtomicUsize::new(0);
    StubTransport::new(move |request| {
        if unavailable.contains(&requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst)) {
            return Ok(http::Response::builder().status(503).body(Bytes::new()).unwrap());
        }
        let body: Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(body["sort"], "ASC");
        let limit = body["limit"].as_u64().unwrap() as usize;
        let start = match body.get("search_after") {
            Some(Value::Array(cursor)) => {
                assert!(cursor[0].is_number() && cursor[1].is_string(), "{cursor:?}");
                let after =
                    cursor[1].as_str().unwrap().trim_start_matches("ev").parse::<usize>().unwrap()
                        + 1;
                // A server that repeats the last event of the previous page.
                if overlap { after - 1 } else { after }
            }
            _ => 0,
        };
        let events: Vec<Value> = (start..total.min(start + limit))
            .map(|i| {
                json!({"id": format!("ev{i}"), "event_type": "user_update", "service": "directory",
                            "timestamp": format!("2026-11-28T10:{:02}:{:02}Z", i / 60 % 60, i % 60),
                            "changes": [{"field": "department", "from": "A", "to": "B"}]})
            })
            .collect();
        let last = events.len().checked_sub(1).map_or(start, |n| start + n);
        let cursor = json!([1_764_000_000_000_u64 + last as u64, format!("ev{last}")]);
        Ok(http::Response::builder()
            .header("x-result-count", events.len().to_string())
            .header("x-limit", limit.to_string())
            .header("x-search_after", cursor.to_string())
            .body(Bytes::from(Value::Array(events).to_string()))
            .unwrap())
    })
}

fn client(stub: StubTransport) -> Client {
    Client::builder().api_key(SecretString::from("k")).transport(Arc::new(stub)).build().unwrap()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

    #[test]
    fn every_event_once_whatever_the_total_page_size_and_faults(
        total in 0usize..400,
        page in 1u32..120,
        overlap in proptest::bool::ANY,
        unavailable in proptest::collection::vec(0usize..12, 0..4),
    ) {
        // A page of one that repeats its cursor event can never move on: the client rightly
        // refuses it ("a full page without a new cursor"), tested on its own elsewhere.
        let page = if overlap { page.max(2) } else { page };
        let stub = faulty(total, overlap, unavailable);
        let client = Client::builder()
            .api_key(SecretString::from("k"))
            .transport(Arc::new(stub))
            .retry_policy(jumpwatch_api::RetryPolicy::default().min_delay(std::time::Duration::from_millis(5)))
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let events: Vec<_> = runtime
            .block_on(client.events(EventQuery::since(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()).page_size(page)).try_collect::<Vec<_>>())
            .unwrap();
        let ids: Vec<String> = events.iter().map(|e| e.id.clone().unwrap()).collect();
        let expected: Vec<String> = (0..total).map(|i| format!("ev{i}")).collect();
        proptest::prop_assert_eq!(ids, expected);
    }
}

#[tokio::test]
async fn every_event_once_for_any_total_and_page_size() {
    for (total, page) in [(0, 10), (1, 10), (10, 10), (25, 10), (99, 7), (1000, 250)] {
        for overlap in [false, true] {
            let stub = fake(total, overlap);
            let events: Vec<_> = client(stub.clone())
                .events(
                    EventQuery::since(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap())
                        .page_size(page),
                )
                .try_collect()
                .await
                .unwrap();
            let ids: Vec<String> = events.iter().map(|e| e.id.clone().unwrap()).collect();
            let expected: Vec<String> = (0..total).map(|i| format!("ev{i}")).collect();
            assert_eq!(ids, expected, "total {total} page {page} overlap {overlap}");
            assert_eq!(events.first().map(|e| e.changes.len()), (total > 0).then_some(1));
        }
    }
}

#[tokio::test]
async fn a_page_that_only_repeats_its_cursor_is_an_error_not_a_loop() {
    // Page size 1 on a server whose cursor is inclusive: every page is the same event.
    let stub = fake(3, true);
    let result: Result<Vec<_>, _> = client(stub)
        .events(EventQuery::since(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()).page_size(1))
        .try_collect()
        .await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("a full page without a new cursor"), "{error}");
}

#[tokio::test]
async fn the_query_and_org_headers_are_sent_as_documented() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", "/insights/directory/v1/events")
        .match_header("content-type", "application/json")
        .match_body(Matcher::PartialJson(json!({
            "service": ["directory", "sso"],
            "start_time": "2026-11-01T00:00:00.000Z",
            "end_time": "2026-11-02T00:00:00.000Z",
            "limit": 500,
        })))
        .with_header("x-result-count", "1")
        .with_header("x-limit", "500")
        .with_header("x-search_after", "[1576181718000,\"DZrPyW8BNsa9iKWoOm7h\"]")
        .with_body(r#"[{"id": "e1", "event_type": "admin_login_attempt", "success": false, "changes": {"x": 1}}]"#)
        .create_async()
        .await;
    let client =
        Client::builder().api_key(SecretString::from("k")).base_url(server.url()).build().unwrap();
    let query = EventQuery::since(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap())
        .until(Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap())
        .services(["directory", "sso"])
        .page_size(500)
        .org_ids(["org-a", "org-b"]);
    let events: Vec<_> = client.events(query).try_collect().await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].success, Some(false));
    mock.assert_async().await;
}

#[tokio::test]
async fn a_bad_cursor_header_is_a_clear_error() {
    let stub = StubTransport::new(|_| {
        Ok(http::Response::builder()
            .header("x-result-count", "1")
            .header("x-limit", "1")
            .header("x-search_after", "not json")
            .body(Bytes::from_static(br#"[{"id": "e1"}]"#))
            .unwrap())
    });
    let client = Client::builder()
        .api_key(SecretString::from("k"))
        .transport(Arc::new(stub))
        .retry_policy(jumpwatch_api::RetryPolicy::none())
        .build()
        .unwrap();
    let error = client
        .events(EventQuery::since(Utc::now()).page_size(1))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    match error {
        Error::Decode { path, .. } => assert_eq!(path, "X-Search_after"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn each_org_gets_its_own_header() {
    let stub = fake(0, false);
    let client = Client::builder()
        .api_key(SecretString::from("k"))
        .org_id("org-default")
        .transport(Arc::new(stub.clone()))
        .build()
        .unwrap();
    let _: Vec<_> = client
        .events(EventQuery::since(Utc::now()).org_ids(["org-a", "org-b"]))
        .try_collect()
        .await
        .unwrap();
    let _: Vec<_> = client.events(EventQuery::since(Utc::now())).try_collect().await.unwrap();
    let requests = stub.requests();
    let orgs = |i: usize| -> Vec<String> {
        requests[i]
            .headers()
            .get_all("x-org-id")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(orgs(0), ["org-a", "org-b"]);
    assert_eq!(orgs(1), ["org-default"]);
}
