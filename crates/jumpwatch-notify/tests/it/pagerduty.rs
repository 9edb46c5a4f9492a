//! Tests: pagerduty.

use std::time::Duration;

use jumpwatch_notify::channel::Fields;

use crate::support::{at, notification};
use jumpwatch_notify::channel::pagerduty::{
    self, DEFAULT_SOURCE, DEFAULT_URL, Endpoint, PagerDutyChannel, PagerDutyConfig,
};
use jumpwatch_notify::{Alert, AlertKind, Channel, Notification, SendError, Severity, Status};
use serde_json::json;

const KEY: &str = "R0UT1NGKEYSECRET0123456789abcdef";

fn finding() -> Alert {
    Alert::new(
        AlertKind::Finding,
        "fp-mfa",
        Status::Firing,
        Severity::High,
        "Admin bob has no MFA",
        at(0),
    )
    .summary("bob@acme.example is an administrator\nwithout multi-factor authentication")
    .label("tenant", "acme")
    .label("kind", "users")
    .label("resource", "bob")
    .label("rule", "admin.mfa")
    .link("Open in JumpCloud", "https://console.jumpcloud.com/#/users/1")
    .evidence(json!({ "mfa": { "configured": false }, "admin": true }))
}

fn change() -> Alert {
    Alert::new(AlertKind::Change, "ev-1", Status::Firing, Severity::Medium, "Policy changed", at(5))
        .summary("Lock screen: timeout 5 → 30 minutes")
        .label("tenant", "acme")
        .label("kind", "policies")
        .link("Policy", "https://console.jumpcloud.com/#/policies/9")
        .evidence(json!({ "changes": [{ "path": "timeout", "before": 5, "after": 30 }] }))
}

fn config(url: Option<&str>) -> PagerDutyConfig {
    let mut table = toml::Table::new();
    table.insert("routing_key".to_owned(), toml::Value::String(KEY.to_owned()));
    if let Some(url) = url {
        table.insert("url".to_owned(), toml::Value::String(url.to_owned()));
    }
    let expand = |text: &str| Ok(text.to_owned());
    let mut fields = Fields::new(&table, &expand);
    let config = PagerDutyConfig::from_fields(&mut fields).unwrap();
    fields.finish().unwrap();
    config
}

#[test]
fn config_defaults_and_validation() {
    let config = config(None);
    assert_eq!(config.url, DEFAULT_URL);
    assert_eq!(config.source, DEFAULT_SOURCE);
    let debug = format!("{config:?}");
    assert!(!debug.contains(KEY) && debug.contains("[redacted]"), "{debug}");

    let expand = |text: &str| Ok(text.to_owned());
    let table: toml::Table =
        toml::from_str(&format!("routing_key = \"{KEY}\"\nurl = \"events.pagerduty.com\""))
            .unwrap();
    let error = PagerDutyConfig::from_fields(&mut Fields::new(&table, &expand)).unwrap_err();
    assert_eq!(error.field, "url");
    let table: toml::Table = toml::from_str("url = \"https://events.eu.pagerduty.com/\"").unwrap();
    let error = PagerDutyConfig::from_fields(&mut Fields::new(&table, &expand)).unwrap_err();
    assert_eq!(error.field, "routing_key");
    let table: toml::Table = toml::from_str(&format!(
        "routing_key = \"{KEY}\"\nurl = \"https://events.eu.pagerduty.com/\"\nsource = \"jw-eu\""
    ))
    .unwrap();
    let mut fields = Fields::new(&table, &expand);
    let config = PagerDutyConfig::from_fields(&mut fields).unwrap();
    fields.finish().unwrap();
    assert_eq!(config.url, "https://events.eu.pagerduty.com");
    assert_eq!(config.source, "jw-eu");
}

#[test]
fn trigger_event() {
    let events = pagerduty::encode(&notification("ops-pd", vec![finding()]), &config(None));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, Endpoint::Alert);
    insta::assert_json_snapshot!("pagerduty_trigger", events[0].1);
}

#[test]
fn resolve_event() {
    let events =
        pagerduty::encode(&notification("ops-pd", vec![finding().resolved(at(20))]), &config(None));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, Endpoint::Alert);
    insta::assert_json_snapshot!("pagerduty_resolve", events[0].1);
}

#[test]
fn change_event() {
    let events = pagerduty::encode(&notification("ops-pd", vec![change()]), &config(None));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, Endpoint::Change);
    insta::assert_json_snapshot!("pagerduty_change", events[0].1);
}

#[test]
fn limits_are_kept() {
    let alert = Alert::new(
        AlertKind::Event,
        "🔑".repeat(300),
        Status::Firing,
        Severity::Info,
        "ü".repeat(2000),
        at(0),
    )
    .evidence(json!({ "blob": "x".repeat(600 * 1024) }));
    let events = pagerduty::encode(&notification("ops-pd", vec![alert]), &config(None));
    let event = &events[0].1;
    assert_eq!(event["dedup_key"].as_str().unwrap().chars().count(), 255);
    assert_eq!(event["payload"]["summary"].as_str().unwrap().chars().count(), 1024);
    assert_eq!(event["payload"]["severity"], "info");
    assert_eq!(event["payload"]["class"], "event");
    assert!(serde_json::to_vec(event).unwrap().len() <= 512 * 1024);
    assert!(
        event["payload"]["custom_details"]["evidence"].as_str().unwrap().starts_with("omitted")
    );
}

#[test]
fn severities_map_to_pagerduty_severities() {
    let expected = ["info", "info", "warning", "error", "critical"];
    for (severity, want) in Severity::ALL.into_iter().zip(expected) {
        let alert = Alert::new(AlertKind::Health, "h", Status::Firing, severity, "t", at(0));
        let events = pagerduty::encode(&notification("ops-pd", vec![alert]), &config(None));
        assert_eq!(events[0].1["payload"]["severity"], want, "{severity}");
    }
}

#[tokio::test]
async fn trigger_then_resolve_with_the_same_dedup_key() {
    let mut server = mockito::Server::new_async().await;
    let config = config(Some(&server.url()));
    let channel = PagerDutyChannel::new(config.clone()).unwrap();
    assert_eq!(channel.kind(), "pagerduty");
    assert_eq!(channel.default_rate().unwrap().per_second.get(), 2);

    let firing = notification("ops-pd", vec![finding()]);
    let trigger_body = pagerduty::encode(&firing, &config).remove(0).1;
    assert_eq!(trigger_body["event_action"], "trigger");
    let trigger = server
        .mock("POST", "/v2/enqueue")
        .match_header("content-type", "application/json")
        .match_body(mockito::Matcher::Json(trigger_body.clone()))
        .with_status(202)
        .with_body(r#"{"status":"success","message":"Event processed","dedup_key":"fp-mfa"}"#)
        .create_async()
        .await;
    channel.send(&firing).await.unwrap();
    trigger.assert_async().await;

    let resolved = notification("ops-pd", vec![finding().resolved(at(20))]);
    let resolve_body = pagerduty::encode(&resolved, &config).remove(0).1;
    assert_eq!(resolve_body["event_action"], "resolve");
    assert_eq!(resolve_body["dedup_key"], trigger_body["dedup_key"]);
    let resolve = server
        .mock("POST", "/v2/enqueue")
        .match_body(mockito::Matcher::Json(resolve_body))
        .with_status(202)
        .create_async()
        .await;
    channel.send(&resolved).await.unwrap();
    resolve.assert_async().await;
}

#[tokio::test]
async fn change_goes_to_the_change_endpoint_in_order() {
    let mut server = mockito::Server::new_async().await;
    let config = config(Some(&format!("{}/", server.url())));
    let channel = PagerDutyChannel::new(config.clone()).unwrap();
    let n = notification("ops-pd", vec![change(), finding()]);
    let events = pagerduty::encode(&n, &config);
    assert_eq!(events.iter().map(|e| e.0).collect::<Vec<_>>(), [Endpoint::Change, Endpoint::Alert]);
    let alert = server
        .mock("POST", "/v2/enqueue")
        .match_body(mockito::Matcher::Json(events[1].1.clone()))
        .with_status(202)
        .create_async()
        .await;
    let change = server
        .mock("POST", "/v2/change/enqueue")
        .match_body(mockito::Matcher::Json(events[0].1.clone()))
        .with_status(202)
        .create_async()
        .await;
    channel.send(&n).await.unwrap();
    alert.assert_async().await;
    change.assert_async().await;
}

#[tokio::test]
async fn errors_are_classified_and_never_carry_the_key() {
    let mut server = mockito::Server::new_async().await;
    let channel = PagerDutyChannel::new(config(Some(&server.url()))).unwrap();
    assert!(!format!("{channel:?}").contains(KEY));
    let n = notification("ops-pd", vec![finding()]);

    let invalid = server
        .mock("POST", "/v2/enqueue")
        .with_status(400)
        .with_body(format!(r#"{{"status":"invalid event","errors":["bad routing_key {KEY}"]}}"#))
        .create_async()
        .await;
    let error = channel.send(&n).await.unwrap_err();
    assert!(matches!(error, SendError::Permanent { .. }), "{error:?}");
    assert!(error.to_string().contains("[redacted]"), "{error}");
    assert!(!error.to_string().contains(KEY) && !format!("{error:?}").contains(KEY));
    invalid.remove_async().await;

    let throttled = server
        .mock("POST", "/v2/enqueue")
        .with_status(429)
        .with_header("Retry-After", "30")
        .create_async()
        .await;
    let error = channel.send(&n).await.unwrap_err();
    match &error {
        SendError::Retry { after, .. } => assert_eq!(*after, Some(Duration::from_secs(30))),
        other => panic!("expected a retry, got {other:?}"),
    }
    assert!(!error.to_string().contains(KEY));
    throttled.remove_async().await;

    let _failing = server
        .mock("POST", "/v2/enqueue")
        .with_status(500)
        .with_body(format!("internal error for {KEY}"))
        .create_async()
        .await;
    let error = channel.send(&n).await.unwrap_err();
    assert!(matches!(error, SendError::Retry { .. }), "{error:?}");
    assert!(!error.to_string().contains(KEY), "{error}");
}

#[tokio::test]
async fn a_failed_event_stops_the_send() {
    let mut server = mockito::Server::new_async().await;
    let channel = PagerDutyChannel::new(config(Some(&server.url()))).unwrap();
    let other =
        Alert::new(AlertKind::Finding, "fp-2", Status::Firing, Severity::Low, "Other", at(2));
    let n = notification("ops-pd", vec![finding(), other]);
    let first = server.mock("POST", "/v2/enqueue").with_status(503).expect(1).create_async().await;
    let error = channel.send(&n).await.unwrap_err();
    assert!(matches!(error, SendError::Retry { .. }), "{error:?}");
    first.assert_async().await;
}

#[test]
fn a_test_notification_goes_to_the_change_timeline() {
    let sample = Notification::sample("pager", at(0));
    let events = pagerduty::encode(&sample, &config(None));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, Endpoint::Change, "a test pages nobody");
    assert!(events[0].1.get("event_action").is_none());
}
