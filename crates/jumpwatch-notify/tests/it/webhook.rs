//! Tests: the webhook channel — Standard Webhooks and GitHub signatures, the envelope, and
//! deliveries to a local mock server.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone as _, Utc};
use jumpwatch_notify::channel::fields::Fields;
use jumpwatch_notify::channel::webhook::{
    self, SigningSecret, VerifyError, WebhookChannel, WebhookConfig,
};
use jumpwatch_notify::{
    Alert, AlertKind, Channel, Notification, Reason, SendError, Severity, Status,
};
use secrecy::SecretString;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const GITHUB_SECRET: &str = "gh-very-secret-value";
const HEADER_VALUE: &str = "Bearer header-secret-token";
const URL_TOKEN: &str = "url-secret-token";

fn notification() -> Notification {
    let at = Utc.with_ymd_and_hms(2025, 3, 14, 9, 26, 53).unwrap();
    let later = Utc.with_ymd_and_hms(2025, 3, 14, 10, 0, 0).unwrap();
    let firing = Alert::new(
        AlertKind::Finding,
        "fp-mfa-1",
        Status::Firing,
        Severity::High,
        "MFA disabled for alice@example.com",
        at,
    )
    .summary("User alice@example.com has no MFA enrolled.")
    .label("tenant", "acme")
    .label("rule", "users.mfa_required")
    .link("User in JumpCloud", "https://console.jumpcloud.com/#/users/abc123/details");
    let resolved = Alert::new(
        AlertKind::Finding,
        "fp-admin-2",
        Status::Firing,
        Severity::Critical,
        "Too many administrators",
        at,
    )
    .label("tenant", "acme")
    .label("rule", "admins.max")
    .resolved(later);
    Notification::new(
        "01957a3c-0000-7000-8000-000000000001",
        "siem",
        "{}:{tenant=\"acme\"}",
        BTreeMap::from([("tenant".to_owned(), "acme".to_owned())]),
        Reason::New,
        vec![resolved, firing],
        later,
    )
}

fn table(text: &str) -> toml::Table {
    text.parse().unwrap()
}

fn config_from(table: &toml::Table) -> Result<WebhookConfig, String> {
    let expand = |s: &str| Ok::<_, String>(s.to_owned());
    let mut fields = Fields::new(table, &expand);
    let config = WebhookConfig::from_fields(&mut fields).map_err(|e| e.to_string())?;
    fields.finish().map_err(|e| e.to_string())?;
    Ok(config)
}

fn config(url: &str) -> WebhookConfig {
    config_from(&table(&format!(
        r#"
        name = "siem"
        type = "webhook"
        url = "{url}"
        secret = "{SECRET}"
        github_secret = "{GITHUB_SECRET}"
        headers = {{ Authorization = "{HEADER_VALUE}", X-Tenant = "acme" }}
        "#
    )))
    .unwrap()
}

#[test]
fn standard_webhooks_test_vector() {
    let secret = SigningSecret::parse(SECRET).unwrap();
    let signature = webhook::sign(
        &secret,
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        br#"{"test": 2432232314}"#,
    );
    assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

#[test]
fn github_test_vector() {
    let secret = SecretString::from("It's a Secret to Everybody");
    let signature = webhook::github_signature(&secret, b"Hello, World!");
    assert_eq!(
        signature,
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    assert!(webhook::verify_github(&secret, b"Hello, World!", &signature));
    assert!(!webhook::verify_github(&secret, b"Hello, World?", &signature));
    assert!(!webhook::verify_github(&secret, b"Hello, World!", "sha256=zz"));
}

#[test]
fn verify_accepts_good_and_refuses_tampered_or_stale() {
    let secret = SigningSecret::parse(SECRET).unwrap();
    let (id, ts, body) =
        ("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#);
    let signature = webhook::sign(&secret, id, ts, body);
    let stamp = ts.to_string();
    assert_eq!(webhook::verify(&secret, id, &stamp, &signature, body, ts + 10), Ok(()));
    // One of several space-separated signatures (key rotation) is enough.
    let several = format!("v1,Zm9v {signature}");
    assert_eq!(webhook::verify(&secret, id, &stamp, &several, body, ts), Ok(()));
    assert_eq!(
        webhook::verify(&secret, id, &stamp, &signature, br#"{"test": 2432232315}"#, ts),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        webhook::verify(&secret, "msg_other", &stamp, &signature, body, ts),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        webhook::verify(&secret, id, &stamp, &signature, body, ts + 301),
        Err(VerifyError::TooOld)
    );
    assert_eq!(
        webhook::verify(&secret, id, &stamp, &signature, body, ts - 301),
        Err(VerifyError::TooNew)
    );
    assert_eq!(
        webhook::verify(&secret, id, "soon", &signature, body, ts),
        Err(VerifyError::InvalidTimestamp)
    );
    let other = SigningSecret::parse("whsec_c2VjcmV0LWtleS1ieXRlcy1mb3ItdGVzdGluZw==").unwrap();
    assert_eq!(
        webhook::verify(&other, id, &stamp, &signature, body, ts),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn secrets_are_validated_without_showing_them() {
    let no_prefix = config_from(&table(
        r#"url = "https://example.com/hook"
        secret = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw""#,
    ))
    .unwrap_err();
    assert!(no_prefix.starts_with("secret:"), "{no_prefix}");
    assert!(!no_prefix.contains("MfKQ9r8G"), "{no_prefix}");

    let bad_base64 = config_from(&table(
        r#"url = "https://example.com/hook"
        secret = "whsec_not*base64!""#,
    ))
    .unwrap_err();
    assert!(bad_base64.starts_with("secret:"), "{bad_base64}");
    assert!(!bad_base64.contains("not*base64"), "{bad_base64}");

    let bad_url = config_from(&table(r#"url = "ftp://user:hunter2@example.com""#)).unwrap_err();
    assert!(bad_url.starts_with("url:"), "{bad_url}");
    assert!(!bad_url.contains("hunter2"), "{bad_url}");

    let reserved = config_from(&table(
        r#"url = "https://example.com/hook"
        headers = { webhook-id = "x" }"#,
    ))
    .unwrap_err();
    assert!(reserved.starts_with("headers.webhook-id:"), "{reserved}");

    let unknown = config_from(&table(
        r#"url = "https://example.com/hook"
        sekret = "x""#,
    ))
    .unwrap_err();
    assert!(unknown.starts_with("sekret:"), "{unknown}");
}

#[test]
fn debug_never_shows_secrets() {
    let config = config(&format!("https://hooks.example.com/{URL_TOKEN}"));
    let channel = WebhookChannel::new(config.clone()).unwrap();
    for text in [format!("{config:?}"), format!("{channel:?}"), format!("{:?}", config.secret)] {
        for secret in [URL_TOKEN, "MfKQ9r8G", GITHUB_SECRET, HEADER_VALUE] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("[redacted]"), "{text}");
    }
    assert!(format!("{config:?}").contains("Authorization"));
}

#[test]
fn envelope_body() {
    let body = webhook::body(&notification());
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    insta::assert_json_snapshot!("webhook_envelope", value);
}

#[test]
fn headers_for_an_attempt() {
    let config = config("https://hooks.example.com/x");
    let notification = notification();
    let body = webhook::body(&notification);
    let headers = webhook::headers(&config, &notification, &body, 1_700_000_000);
    let get = |name: &str| {
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    };
    assert_eq!(get("webhook-id"), Some(notification.id.as_str()));
    assert_eq!(get("webhook-timestamp"), Some("1700000000"));
    assert!(get("user-agent").unwrap().starts_with("jumpwatch/"));
    let secret = SigningSecret::parse(SECRET).unwrap();
    assert_eq!(
        get("webhook-signature"),
        Some(webhook::sign(&secret, &notification.id, 1_700_000_000, &body).as_str())
    );
    assert_eq!(
        get("x-hub-signature-256"),
        Some(webhook::github_signature(&SecretString::from(GITHUB_SECRET), &body).as_str())
    );
    assert_eq!(get("Authorization"), Some(HEADER_VALUE));
}

/// What the mock server received.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A mock that records every request and answers `statuses` in turn (then the last one).
async fn recording_mock(
    server: &mut mockito::ServerGuard,
    statuses: Vec<usize>,
) -> (mockito::Mock, Arc<Mutex<Vec<Received>>>) {
    let received = Arc::new(Mutex::new(Vec::<Received>::new()));
    let log = Arc::clone(&received);
    let mock = server
        .mock("POST", format!("/hooks/{URL_TOKEN}").as_str())
        .with_status_code_from_request(move |request| {
            let headers = request
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                .collect();
            let body = request.body().unwrap().clone();
            let mut log = log.lock().unwrap();
            log.push(Received { headers, body });
            statuses.get(log.len() - 1).or(statuses.last()).copied().unwrap()
        })
        .create_async()
        .await;
    (mock, received)
}

fn url(server: &mockito::ServerGuard) -> String {
    format!("{}/hooks/{URL_TOKEN}", server.url())
}

#[tokio::test]
async fn delivery_is_signed_and_retries_keep_the_id() {
    let mut server = mockito::Server::new_async().await;
    let (_mock, received) = recording_mock(&mut server, vec![500, 200]).await;
    let channel = WebhookChannel::new(config(&url(&server))).unwrap();
    let notification = notification();

    let first = channel.send(&notification).await.unwrap_err();
    assert!(matches!(first, SendError::Retry { .. }), "{first:?}");
    channel.send(&notification).await.unwrap();

    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    let secret = SigningSecret::parse(SECRET).unwrap();
    let github = SecretString::from(GITHUB_SECRET);
    let now = Utc::now().timestamp();
    for request in &received {
        assert_eq!(request.header("webhook-id"), Some(notification.id.as_str()));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert!(request.header("user-agent").unwrap().starts_with("jumpwatch/"));
        assert_eq!(request.header("authorization"), Some(HEADER_VALUE));
        assert_eq!(request.header("x-tenant"), Some("acme"));
        webhook::verify(
            &secret,
            request.header("webhook-id").unwrap(),
            request.header("webhook-timestamp").unwrap(),
            request.header("webhook-signature").unwrap(),
            &request.body,
            now,
        )
        .unwrap();
        assert!(webhook::verify_github(
            &github,
            &request.body,
            request.header("x-hub-signature-256").unwrap()
        ));
        let envelope: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(envelope["id"], notification.id.as_str());
    }
    assert_eq!(received[0].body, received[1].body);
}

#[tokio::test]
async fn unsigned_delivery_has_no_signature_headers() {
    let mut server = mockito::Server::new_async().await;
    let (_mock, received) = recording_mock(&mut server, vec![204]).await;
    let config = config_from(&table(&format!(r#"url = "{}""#, url(&server)))).unwrap();
    WebhookChannel::new(config).unwrap().send(&notification()).await.unwrap();
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert!(received[0].header("webhook-signature").is_none());
    assert!(received[0].header("x-hub-signature-256").is_none());
    assert!(received[0].header("webhook-timestamp").is_some());
}

async fn send_with_status(status: usize, retry_after: Option<&str>) -> SendError {
    let mut server = mockito::Server::new_async().await;
    let mut mock = server
        .mock("POST", format!("/hooks/{URL_TOKEN}").as_str())
        .with_status(status)
        .with_body("nope");
    if let Some(after) = retry_after {
        mock = mock.with_header("retry-after", after);
    }
    let _mock = mock.create_async().await;
    let channel = WebhookChannel::new(config(&url(&server))).unwrap();
    let error = channel.send(&notification()).await.unwrap_err();
    let text = error.to_string();
    for secret in [URL_TOKEN, "MfKQ9r8G", GITHUB_SECRET, HEADER_VALUE] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    error
}

#[tokio::test]
async fn statuses_are_classified() {
    match send_with_status(429, Some("7")).await {
        SendError::Retry { after, .. } => assert_eq!(after, Some(Duration::from_secs(7))),
        other => panic!("429: {other:?}"),
    }
    assert!(matches!(send_with_status(503, None).await, SendError::Retry { after: None, .. }));
    assert!(matches!(send_with_status(410, None).await, SendError::Gone { .. }));
    for status in [400, 401, 403, 404, 413] {
        let error = send_with_status(status, None).await;
        assert!(matches!(error, SendError::Permanent { .. }), "{status}: {error:?}");
    }
}

#[tokio::test]
async fn connection_errors_retry_without_the_url() {
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let channel =
        WebhookChannel::new(config(&format!("http://127.0.0.1:{port}/hooks/{URL_TOKEN}"))).unwrap();
    let error = channel.send(&notification()).await.unwrap_err();
    assert!(matches!(error, SendError::Retry { .. }), "{error:?}");
    let text = error.to_string();
    assert!(!text.contains(URL_TOKEN), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
}

#[test]
fn kind_and_rate() {
    let channel = WebhookChannel::new(config("https://hooks.example.com/x")).unwrap();
    assert_eq!(channel.kind(), "webhook");
    assert_eq!(channel.default_rate(), None);
}
