//! Directory Insights: search_after paging with its X- headers, services, sort, search terms, and
//! events from mutations.

use std::collections::HashSet;

use jumpwatch_model::ResourceKind;
use jumpwatch_sim::Mutation;
use serde_json::{Value, json};

use crate::support::{Api, sim};

const EVENTS: &str = "/insights/directory/v1/events";

#[tokio::test]
async fn search_after_pages_through_every_event_once() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let all = api
        .post(
            EVENTS,
            &json!({"service": ["all"], "start_time": "2025-10-01T00:00:00Z", "limit": 10000}),
        )
        .await;
    assert_eq!(all.status, 200);
    let total = all.json().as_array().unwrap().len();
    assert!(total > 50);
    let mut seen = Vec::new();
    let mut search_after: Option<Value> = None;
    loop {
        let mut body =
            json!({"service": ["all"], "start_time": "2025-10-01T00:00:00Z", "limit": 25});
        if let Some(after) = &search_after {
            body["search_after"] = after.clone();
        }
        let page = api.post(EVENTS, &body).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.header("x-limit"), Some("25"));
        assert_eq!(page.header("x-sort"), Some("ASC"));
        assert!(page.header("x-request-id").is_some());
        let events = page.json();
        let events = events.as_array().unwrap();
        assert_eq!(page.header("x-result-count"), Some(events.len().to_string().as_str()));
        let after: Value = serde_json::from_str(page.header("x-search_after").unwrap()).unwrap();
        if let Some(last) = events.last() {
            assert_eq!(after[1], last["id"]);
            assert!(after[0].is_i64());
        }
        seen.extend(events.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        search_after = Some(after);
        if events.len() < 25 {
            break;
        }
    }
    assert_eq!(seen.len(), total);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), total);
    // Descending, and by service.
    let desc = api.post(EVENTS, &json!({"service": ["all"], "start_time": "2025-10-01T00:00:00Z", "sort": "DESC", "limit": 5})).await;
    assert_eq!(desc.header("x-sort"), Some("DESC"));
    let times: Vec<String> = desc
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap().to_owned())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));
    let sso = api
        .post(
            EVENTS,
            &json!({"service": ["sso"], "start_time": "2025-10-01T00:00:00Z", "limit": 10000}),
        )
        .await;
    assert!(sso.json().as_array().unwrap().iter().all(|e| e["service"] == "sso"));
}

#[tokio::test]
async fn background_activity_has_admin_logins_with_and_without_mfa() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let logins = api
        .post(
            EVENTS,
            &json!({
                "service": ["directory"],
                "start_time": "2025-10-01T00:00:00Z",
                "limit": 10000,
                "search_term": {"and": [{"event_type": "admin_login_attempt"}]},
            }),
        )
        .await
        .json();
    let logins = logins.as_array().unwrap();
    assert!(logins.iter().any(|e| e["mfa"] == true));
    assert!(logins.iter().any(|e| e["mfa"] == false && e["success"] == true));
    assert!(logins.iter().all(|e| e["initiated_by"]["type"] == "admin"));
}

#[tokio::test]
async fn every_mutation_is_an_event_with_its_actor_and_changes() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let tenant = sim.tenant(0).unwrap();
    let user = &tenant.resources(ResourceKind::User)[3];
    let admin =
        tenant.resources(ResourceKind::Administrator)[1].doc["email"].as_str().unwrap().to_owned();
    let applied = sim
        .apply_as(
            &admin,
            [Mutation::update(ResourceKind::User, user.id.clone()).set("sudo", json!(true))],
        )
        .unwrap();
    let events = api
        .post(EVENTS, &json!({"service": ["directory"], "start_time": "2025-12-31T00:00:00Z", "sort": "DESC", "limit": 1}))
        .await
        .json();
    let event = &events[0];
    assert_eq!(event["id"], Value::String(applied[0].event_id.clone()));
    assert_eq!(event["event_type"], "user_update");
    assert_eq!(event["initiated_by"]["email"], Value::String(admin));
    assert_eq!(event["initiated_by"]["type"], "admin");
    assert_eq!(event["resource"]["id"], user.doc["_id"]);
    assert_eq!(event["changes"], json!([{"field": "sudo", "from": false, "to": true}]));
    assert_eq!(event["timestamp"], "2026-01-01T00:00:00.000Z");
}

#[tokio::test]
async fn bad_queries_get_a_400_naming_the_problem() {
    let sim = sim().await;
    let api = Api::new(&sim);
    for (body, needle) in [
        (json!({"start_time": "2025-10-01T00:00:00Z"}), "\"service\""),
        (
            json!({"service": ["everything"], "start_time": "2025-10-01T00:00:00Z"}),
            "unknown service",
        ),
        (json!({"service": ["all"]}), "\"start_time\""),
        (json!({"service": ["all"], "start_time": "yesterday"}), "RFC 3339"),
        (json!({"service": ["all"], "start_time": "2026-06-01T00:00:00Z"}), "future"),
        (
            json!({"service": ["all"], "start_time": "2025-10-01T00:00:00Z", "end_time": "2025-09-01T00:00:00Z"}),
            "end_time",
        ),
        (
            json!({"service": ["all"], "start_time": "2025-10-01T00:00:00Z", "search_after": "x"}),
            "search_after",
        ),
        (json!({"service": ["all"], "start_time": "2025-10-01T00:00:00Z", "fields": []}), "fields"),
        (
            json!({"service": ["all"], "start_time": "2025-10-01T00:00:00Z", "serivce": ["all"]}),
            "serivce",
        ),
    ] {
        let reply = api.post(EVENTS, &body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert!(reply.message().contains(needle), "{body}: {}", reply.message());
    }
    let reply = api
        .send(
            api.http
                .post(format!("{}{EVENTS}", sim.base_url()))
                .header("x-api-key", sim.api_key())
                .body("{"),
        )
        .await;
    assert_eq!(reply.status, 400);
}
