//! limit, skip and the envelopes: v1 `{totalCount, results}`, v2 bare arrays with `x-total-count`.

use std::collections::HashSet;

use serde_json::Value;

use crate::support::{Api, sim};

#[tokio::test]
async fn limit_defaults_to_10_and_is_capped_at_100() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let v1 = api.ok("/api/systemusers").await;
    assert_eq!(v1["totalCount"], 50);
    assert_eq!(v1["results"].as_array().unwrap().len(), 10);
    let v2 = api.get("/api/v2/usergroups").await;
    assert_eq!(v2.json().as_array().unwrap().len(), 10);
    assert_eq!(v2.total(), 16);
    for path in ["/api/systemusers?limit=101", "/api/v2/usergroups?limit=101"] {
        let reply = api.get(path).await;
        assert_eq!(reply.status, 400, "{path}");
        assert_eq!(
            String::from_utf8_lossy(&reply.body),
            r#"{"message":"Bad Request: request parameter \"limit\" exceeds maximum value of 100"}"#
        );
    }
    assert_eq!(api.ok("/api/systemusers?limit=100").await["results"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn system_insights_pages_go_up_to_10000() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let reply = api.get("/api/v2/systeminsights/apps?limit=10000").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json().as_array().unwrap().len() as u64, reply.total());
    let reply = api.get("/api/v2/systeminsights/apps?limit=10001").await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.message(),
        "Bad Request: request parameter \"limit\" exceeds maximum value of 10000"
    );
}

#[tokio::test]
async fn skip_pages_through_every_item_exactly_once() {
    let sim = sim().await;
    let api = Api::new(&sim);
    for (path, id, total) in [
        ("/api/systemusers", "_id", 50),
        ("/api/systems", "_id", 40),
        ("/api/v2/policyresults", "id", 0),
    ] {
        let mut seen = Vec::new();
        for skip in (0..400).step_by(7) {
            let page = api.ok(&format!("{path}?limit=7&skip={skip}")).await;
            let items = page.get("results").unwrap_or(&page).as_array().unwrap().clone();
            if items.is_empty() {
                break;
            }
            seen.extend(items.iter().map(|i| i[id].as_str().unwrap().to_owned()));
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{path}: duplicates");
        if total > 0 {
            assert_eq!(seen.len(), total, "{path}");
        }
    }
    // Past the end: an empty page, the same total.
    let page = api.ok("/api/systemusers?skip=500").await;
    assert_eq!(page["totalCount"], 50);
    assert_eq!(page["results"], Value::Array(vec![]));
}

#[tokio::test]
async fn bad_paging_parameters_are_named_in_a_400() {
    let sim = sim().await;
    let api = Api::new(&sim);
    for (path, needle) in [
        ("/api/systemusers?limit=ten", "\"limit\""),
        ("/api/systemusers?limit=0", "\"limit\""),
        ("/api/systemusers?limit=-5", "\"limit\""),
        ("/api/v2/usergroups?skip=-1", "\"skip\""),
        ("/api/v2/usergroups?skip=x", "\"skip\""),
    ] {
        let reply = api.get(path).await;
        assert_eq!(reply.status, 400, "{path}");
        assert!(reply.message().contains(needle), "{path}: {}", reply.message());
    }
}

#[tokio::test]
async fn envelopes_follow_the_api() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let v1 = api.get("/api/systems?limit=3").await;
    assert!(v1.header("x-total-count").is_none());
    let body = v1.json();
    assert_eq!(body.as_object().unwrap().len(), 2);
    assert_eq!(body["totalCount"], 40);
    let v2 = api.get("/api/v2/systemgroups?limit=3").await;
    assert!(v2.json().is_array());
    assert_eq!(v2.total(), 7);
    assert_eq!(v2.header("content-type"), Some("application/json; charset=utf-8"));
}
