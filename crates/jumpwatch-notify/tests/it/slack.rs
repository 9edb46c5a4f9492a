//! Tests: slack.

use std::collections::BTreeMap;
use std::time::Duration;

use jumpwatch_notify::channel::Fields;

use crate::support::{at, notification};
use jumpwatch_notify::channel::slack::{self, SlackChannel, SlackConfig};
use jumpwatch_notify::{
    Alert, AlertKind, Channel, Notification, Reason, SendError, Severity, Status,
};

fn small() -> Notification {
    notification(
        "ops-slack",
        vec![
            Alert::new(
                AlertKind::Finding,
                "fp-mfa",
                Status::Firing,
                Severity::High,
                "Admin <bob> has no MFA & is active",
                at(0),
            )
            .summary("bob@acme.example is an administrator\nwithout multi-factor authentication")
            .label("tenant", "acme")
            .label("kind", "users")
            .label("resource", "bob")
            .label("rule", "admin.mfa")
            .link("Open in JumpCloud", "https://console.jumpcloud.com/#/users/1?a=1&b=2"),
            Alert::new(
                AlertKind::Change,
                "ev-1",
                Status::Firing,
                Severity::Medium,
                "Policy \"Lock screen\" changed",
                at(5),
            )
            .label("tenant", "acme")
            .label("kind", "policies"),
            Alert::new(
                AlertKind::Finding,
                "fp-old",
                Status::Firing,
                Severity::Low,
                "Stale device",
                at(1),
            )
            .label("tenant", "acme")
            .resolved(at(20)),
        ],
    )
}

fn config(url: &str, mention: Option<&str>) -> SlackConfig {
    let mut table = toml::Table::new();
    table.insert("url".to_owned(), toml::Value::String(url.to_owned()));
    if let Some(mention) = mention {
        table.insert("mention".to_owned(), toml::Value::String(mention.to_owned()));
    }
    let expand = |text: &str| Ok(text.to_owned());
    let mut fields = Fields::new(&table, &expand);
    let config = SlackConfig::from_fields(&mut fields).unwrap();
    fields.finish().unwrap();
    config
}

#[test]
fn small_digest_payload() {
    insta::assert_json_snapshot!("slack_small", slack::encode(&small(), Some("<!here>")));
}

#[test]
fn no_mention_without_high_firing_alert() {
    let n = notification(
        "ops-slack",
        vec![
            Alert::new(AlertKind::Finding, "fp", Status::Firing, Severity::Critical, "x", at(0))
                .resolved(at(1)),
            Alert::new(AlertKind::Change, "c", Status::Firing, Severity::Medium, "y", at(0)),
        ],
    );
    let body = slack::encode(&n, Some("<!here>"));
    assert!(!body.to_string().contains("<!here>"), "{body}");
}

#[test]
fn config_rejects_unknown_fields_and_bad_urls() {
    let expand = |text: &str| Ok(text.to_owned());
    let table: toml::Table = toml::from_str("url = \"hooks.slack.com/x\"").unwrap();
    let error = SlackConfig::from_fields(&mut Fields::new(&table, &expand)).unwrap_err();
    assert_eq!(error.field, "url");
    assert!(!error.to_string().contains("hooks.slack.com"));

    let table: toml::Table =
        toml::from_str("url = \"https://hooks.slack.com/x\"\nchannel = \"#ops\"").unwrap();
    let mut fields = Fields::new(&table, &expand);
    SlackConfig::from_fields(&mut fields).unwrap();
    assert_eq!(fields.finish().unwrap_err().field, "channel");
}

fn big(n: usize) -> Notification {
    let alerts = (0..n)
        .map(|i| {
            Alert::new(
                AlertKind::Finding,
                format!("fp-{i}"),
                Status::Firing,
                Severity::ALL[i % 5],
                format!("Finding {i}: «ünïcödé» & <markup> {}", "é".repeat(i % 300)),
                at(0),
            )
            .summary(format!("{}\nsecond line 🚨\nthird\nfourth", "ß&".repeat(i % 700)))
            .label("tenant", "acme")
            .label("kind", "users")
            .label("resource", "🧑".repeat(i % 150))
            .link("Open <it>", format!("https://console.jumpcloud.com/#/users/{i}?x=1&y=2"))
        })
        .collect();
    notification("ops-slack", alerts)
}

#[test]
fn large_digest_fits_slack_limits() {
    let n = big(500);
    let body = slack::encode(&n, Some("<!channel>"));
    assert!(!body["text"].as_str().unwrap().is_empty());
    let blocks = body["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50, "{} blocks", blocks.len());
    let header = blocks[0]["text"]["text"].as_str().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(header.chars().count() <= 150);
    let sections: Vec<&str> = blocks
        .iter()
        .filter(|b| b["type"] == "section")
        .map(|b| b["text"]["text"].as_str().unwrap())
        .collect();
    assert!(!sections.is_empty());
    for text in &sections {
        assert!(text.chars().count() <= 3000, "{} characters", text.chars().count());
    }
    assert!(sections[0].starts_with("<!channel>"));
    // Each alert's entry starts with its marker and title.
    let shown: usize = sections.iter().map(|t| t.matches("*Finding ").count()).sum();
    assert!(shown > 0 && shown < 500);
    let last = blocks.last().unwrap();
    assert_eq!(last["type"], "context");
    assert_eq!(last["elements"][0]["text"], format!("…and {} more", 500 - shown));
}

#[test]
fn all_alerts_fit_without_a_closing_block() {
    let body = slack::encode(&big(5), None);
    let blocks = body["blocks"].as_array().unwrap();
    assert!(blocks.iter().all(|b| b["type"] != "context"));
    let shown: usize = blocks
        .iter()
        .filter(|b| b["type"] == "section")
        .map(|b| b["text"]["text"].as_str().unwrap().matches("*Finding ").count())
        .sum();
    assert_eq!(shown, 5);
}

#[test]
fn long_multibyte_text_is_cut_on_character_boundaries() {
    let alert = Alert::new(
        AlertKind::Finding,
        "fp",
        Status::Firing,
        Severity::Info,
        "🚨&".repeat(5000),
        at(0),
    )
    .summary("é<".repeat(10_000));
    let mut labels = BTreeMap::new();
    labels.insert("tenant".to_owned(), "ü".repeat(400));
    let n = Notification::new("n", "r", "g", labels, Reason::New, vec![alert], at(0));
    let body = slack::encode(&n, None);
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["text"]["text"].as_str().unwrap().chars().count(), 150);
    let section = blocks[1]["text"]["text"].as_str().unwrap();
    assert!(section.chars().count() <= 3000);
    // Escapes are never cut in two.
    assert!(!section.contains("&am…") && !section.contains("&l…") && !section.contains("&lt…"));
}

async fn server_and_channel() -> (mockito::ServerGuard, String, SlackChannel) {
    let server = mockito::Server::new_async().await;
    let url = format!("{}/services/T000/B000/XXXXSECRET", server.url());
    let channel = SlackChannel::new(config(&url, None)).unwrap();
    (server, url, channel)
}

#[tokio::test]
async fn sends_the_encoded_body() {
    let (mut server, _url, channel) = server_and_channel().await;
    let n = small();
    let mock = server
        .mock("POST", "/services/T000/B000/XXXXSECRET")
        .match_header("content-type", "application/json")
        .match_body(mockito::Matcher::Json(slack::encode(&n, None)))
        .with_status(200)
        .with_body("ok")
        .create_async()
        .await;
    channel.send(&n).await.unwrap();
    mock.assert_async().await;
    assert_eq!(channel.kind(), "slack");
    let rate = channel.default_rate().unwrap();
    assert_eq!((rate.per_second.get(), rate.burst.get()), (1, 1));
}

#[tokio::test]
async fn rate_limited_with_retry_after() {
    let (mut server, url, channel) = server_and_channel().await;
    let _mock = server
        .mock("POST", mockito::Matcher::Any)
        .with_status(429)
        .with_header("Retry-After", "7")
        .with_body("rate_limited")
        .create_async()
        .await;
    let error = channel.send(&small()).await.unwrap_err();
    match &error {
        SendError::Retry { after, .. } => assert_eq!(*after, Some(Duration::from_secs(7))),
        other => panic!("expected a retry, got {other:?}"),
    }
    assert!(!error.to_string().contains(&url));
    assert!(!format!("{error:?}").contains("XXXXSECRET"));
}

#[tokio::test]
async fn server_error_then_success() {
    let (mut server, _url, channel) = server_and_channel().await;
    let n = small();
    let failing = server.mock("POST", mockito::Matcher::Any).with_status(500).create_async().await;
    let error = channel.send(&n).await.unwrap_err();
    assert!(matches!(error, SendError::Retry { .. }), "{error:?}");
    failing.assert_async().await;
    failing.remove_async().await;
    let ok = server
        .mock("POST", mockito::Matcher::Any)
        .with_status(200)
        .with_body("ok")
        .create_async()
        .await;
    channel.send(&n).await.unwrap();
    ok.assert_async().await;
}

#[tokio::test]
async fn client_errors_are_permanent_and_410_is_gone() {
    let (mut server, url, channel) = server_and_channel().await;
    for (status, body) in
        [(400, "invalid_payload"), (403, "action_prohibited"), (404, "no_service")]
    {
        let mock = server
            .mock("POST", mockito::Matcher::Any)
            .with_status(status)
            .with_body(body)
            .create_async()
            .await;
        let error = channel.send(&small()).await.unwrap_err();
        assert!(matches!(error, SendError::Permanent { .. }), "{status}: {error:?}");
        assert!(error.to_string().contains(body));
        assert!(!error.to_string().contains(&url));
        mock.remove_async().await;
    }
    let _gone = server
        .mock("POST", mockito::Matcher::Any)
        .with_status(410)
        .with_body("channel_is_archived")
        .create_async()
        .await;
    let error = channel.send(&small()).await.unwrap_err();
    assert!(matches!(error, SendError::Gone { .. }), "{error:?}");
    assert!(!error.to_string().contains(&url));
}

#[tokio::test]
async fn connection_errors_retry_without_the_url() {
    let url = "http://127.0.0.1:9/services/T000/B000/XXXXSECRET";
    let config = config(url, Some("<!here>"));
    let debug = format!("{config:?}");
    assert!(!debug.contains("XXXXSECRET") && debug.contains("[redacted]"), "{debug}");
    let channel = SlackChannel::new(config).unwrap();
    assert!(!format!("{channel:?}").contains("XXXXSECRET"));
    let error = channel.send(&small()).await.unwrap_err();
    assert!(matches!(error, SendError::Retry { .. }), "{error:?}");
    assert!(!error.to_string().contains("XXXXSECRET"), "{error}");
}

#[test]
fn mention_is_validated() {
    let expand = |text: &str| Ok(text.to_owned());
    let mut table: toml::Table = toml::from_str("url = \"https://hooks.slack.com/x\"").unwrap();
    table.insert("mention".to_owned(), toml::Value::String("x".repeat(201)));
    let error = SlackConfig::from_fields(&mut Fields::new(&table, &expand)).unwrap_err();
    assert_eq!(error.field, "mention");
}
