//! Tests: teams.

use std::time::Duration;

use jumpwatch_notify::channel::Fields;

use crate::support::{at, notification};
use jumpwatch_notify::channel::teams::{self, MAX_BODY_BYTES, TeamsChannel, TeamsConfig};
use jumpwatch_notify::{Alert, AlertKind, Channel, Notification, SendError, Severity, Status};

const SECRET_PATH: &str = "/workflows/abc/triggers/manual/paths/invoke";
const SECRET_SIG: &str = "sig=XXXXSECRETSIG";

fn small() -> Notification {
    notification(
        "ops-teams",
        vec![
            Alert::new(
                AlertKind::Finding,
                "fp-mfa",
                Status::Firing,
                Severity::Critical,
                "Admin bob has no MFA",
                at(0),
            )
            .summary("bob@acme.example is an administrator\nwithout multi-factor authentication")
            .label("tenant", "acme")
            .label("kind", "users")
            .label("resource", "bob")
            .link("Open in JumpCloud", "https://console.jumpcloud.com/#/users/1")
            .link("Rule [admin.mfa]", "https://docs.example/rules (admin.mfa)"),
            Alert::new(
                AlertKind::Change,
                "ev-1",
                Status::Firing,
                Severity::Medium,
                "Policy changed",
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

fn config(url: &str) -> TeamsConfig {
    let mut table = toml::Table::new();
    table.insert("url".to_owned(), toml::Value::String(url.to_owned()));
    let expand = |text: &str| Ok(text.to_owned());
    let mut fields = Fields::new(&table, &expand);
    let config = TeamsConfig::from_fields(&mut fields).unwrap();
    fields.finish().unwrap();
    config
}

#[test]
fn small_card_payload() {
    insta::assert_json_snapshot!("teams_small", teams::encode(&small()));
}

fn body_of(card: &serde_json::Value) -> &Vec<serde_json::Value> {
    card["attachments"][0]["content"]["body"].as_array().unwrap()
}

#[test]
fn large_card_stays_under_28_kb() {
    let alerts = (0..500)
        .map(|i| {
            Alert::new(
                AlertKind::Finding,
                format!("fp-{i}"),
                Status::Firing,
                Severity::ALL[i % 5],
                format!("Finding {i} «ünïcödé» {}", "é".repeat(i % 400)),
                at(0),
            )
            .summary(format!("{}\n\"quoted\" 🚨", "ß\\".repeat(i % 3000)))
            .label("tenant", "acme")
            .label("resource", "🧑".repeat(i % 500))
            .link("Open", format!("https://console.jumpcloud.com/#/users/{i}"))
        })
        .collect();
    let card = teams::encode(&notification("ops-teams", alerts));
    let size = serde_json::to_vec(&card).unwrap().len();
    assert!(size <= MAX_BODY_BYTES, "{size} bytes");
    let body = body_of(&card);
    let shown = body.iter().filter(|b| b["type"] == "Container").count();
    assert!(shown > 0 && shown < 500, "{shown}");
    let last = body.last().unwrap();
    assert_eq!(last["type"], "TextBlock");
    assert_eq!(last["text"], format!("…and {} more", 500 - shown));
}

#[test]
fn all_alerts_fit_without_a_closing_block() {
    let card = teams::encode(&small());
    let body = body_of(&card);
    assert_eq!(body.iter().filter(|b| b["type"] == "Container").count(), 3);
    assert!(!body.last().unwrap()["text"].as_str().unwrap_or("").starts_with('…'));
}

async fn server_and_channel() -> (mockito::ServerGuard, String, TeamsChannel) {
    let server = mockito::Server::new_async().await;
    let url = format!("{}{SECRET_PATH}?api-version=1&{SECRET_SIG}", server.url());
    let channel = TeamsChannel::new(config(&url)).unwrap();
    (server, url, channel)
}

#[tokio::test]
async fn accepted_and_ok_succeed_with_the_encoded_body() {
    let (mut server, _url, channel) = server_and_channel().await;
    let n = small();
    for status in [202, 200] {
        let mock = server
            .mock("POST", SECRET_PATH)
            .match_query(mockito::Matcher::Any)
            .match_header("content-type", "application/json")
            .match_body(mockito::Matcher::Json(teams::encode(&n)))
            .with_status(status)
            .create_async()
            .await;
        channel.send(&n).await.unwrap();
        mock.assert_async().await;
        mock.remove_async().await;
    }
    assert_eq!(channel.kind(), "teams");
    assert_eq!(channel.default_rate().unwrap().per_second.get(), 4);
}

#[tokio::test]
async fn throttled_with_retry_after() {
    let (mut server, url, channel) = server_and_channel().await;
    let _mock = server
        .mock("POST", mockito::Matcher::Any)
        .with_status(429)
        .with_header("Retry-After", "3")
        .create_async()
        .await;
    let error = channel.send(&small()).await.unwrap_err();
    match &error {
        SendError::Retry { after, .. } => assert_eq!(*after, Some(Duration::from_secs(3))),
        other => panic!("expected a retry, got {other:?}"),
    }
    assert!(!error.to_string().contains(&url) && !error.to_string().contains(SECRET_SIG));
}

#[tokio::test]
async fn too_large_is_permanent() {
    let (mut server, url, channel) = server_and_channel().await;
    let _mock = server
        .mock("POST", mockito::Matcher::Any)
        .with_status(413)
        .with_body("RequestEntityTooLarge")
        .create_async()
        .await;
    let error = channel.send(&small()).await.unwrap_err();
    assert!(matches!(error, SendError::Permanent { .. }), "{error:?}");
    assert!(!error.to_string().contains(&url) && !error.to_string().contains(SECRET_SIG));
}

#[tokio::test]
async fn url_is_kept_out_of_debug_and_errors() {
    let url = format!("http://127.0.0.1:9{SECRET_PATH}?{SECRET_SIG}");
    let config = config(&url);
    let debug = format!("{config:?}");
    assert!(!debug.contains(SECRET_SIG) && debug.contains("[redacted]"), "{debug}");
    let channel = TeamsChannel::new(config).unwrap();
    assert!(!format!("{channel:?}").contains(SECRET_SIG));
    let error = channel.send(&small()).await.unwrap_err();
    assert!(matches!(error, SendError::Retry { .. }), "{error:?}");
    assert!(!error.to_string().contains(SECRET_SIG), "{error}");
}
