//! Notifications from the command line: `watch --once` delivers to a webhook and drains,
//! `outbox` shows the queue, `notify test` sends a sample, `silence` mutes — run as a user would,
//! against a mock JumpCloud and a local webhook on 127.0.0.1.

#![allow(clippy::unwrap_used, missing_docs, reason = "tests fail loudly")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use jumpwatch_notify::channel::webhook::SigningSecret;
use jumpwatch_notify::sink::WebhookSink;
use mockito::{Matcher, Server, ServerGuard};
use serde_json::{Value, json};

const KEY: &str = "cli-notify-key-SECRET-17";
const SIGNING: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const URL_TOKEN: &str = "hook-token-SECRET-5521";

fn temp(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("jumpwatch-cli-notify-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn jumpwatch(args: &[&str]) -> Output {
    Command::cargo_bin("jumpwatch")
        .unwrap()
        .args(args)
        .env("JUMPCLOUD_API_KEY", KEY)
        .env("HOOK_SECRET", SIGNING)
        .env_remove("JUMPWATCH_DB")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A tenant of two users, one an administrator on every device without MFA.
fn tenant(server: &mut ServerGuard) -> mockito::Mock {
    let users = [
        json!({"_id": "u1", "username": "ana", "email": "ana@example.com", "state": "ACTIVATED", "sudo": true, "passwordless_sudo": true, "mfa": {"configured": false}, "totp_enabled": false, "enable_user_portal_multifactor": false}),
        json!({"_id": "u2", "username": "bo", "email": "bo@example.com", "state": "ACTIVATED", "mfa": {"configured": true}, "totp_enabled": true}),
    ];
    server
        .mock("GET", "/api/systemusers")
        .match_query(Matcher::Any)
        .with_body(json!({"totalCount": users.len(), "results": users}).to_string())
        .create()
}

fn config(dir: &Path, api: &str, hook: &str) -> PathBuf {
    let path = dir.join("jumpwatch.toml");
    let text = format!(
        r#"[[tenants]]
name = "acme"
base_url = "{api}"

[poll]
kinds = ["user"]

[store]
path = "{db}"

[notify]
backoff_base = "1s"

[[notify.receivers]]
name = "hook"
type = "webhook"
url = "{hook}?token={URL_TOKEN}"
secret = "${{HOOK_SECRET}}"

[[notify.routes]]
receiver = "hook"
match = {{ type = "finding" }}
group_by = ["rule"]
group_wait = "0s"
"#,
        db = dir.join("watch.db").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn blocking(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        jumpwatch(&args)
    })
    .await
    .unwrap()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_once_delivers_signed_digests_and_the_outbox_shows_them() {
    let dir = temp("deliver");
    let mut server = Server::new_async().await;
    let _users = tenant(&mut server);
    let sink = WebhookSink::start(Some(SigningSecret::parse(SIGNING).unwrap())).await.unwrap();
    let config = config(&dir, &server.url(), &sink.url());
    let config = config.to_str().unwrap();
    let output = blocking(strings(&[
        "-vv",
        "watch",
        "--config",
        config,
        "--once",
        "--drain-timeout",
        "20s",
    ]))
    .await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("alerts raised"), "{stdout}");
    assert!(stdout.contains("notifications: ") && stdout.contains(" sent ("), "{stdout}");
    let deliveries = sink.deliveries();
    assert!(!deliveries.is_empty());
    assert!(deliveries.iter().all(|d| d.verified));
    let rules: Vec<&str> =
        deliveries.iter().filter_map(|d| d.body["group_labels"]["rule"].as_str()).collect();
    assert!(rules.contains(&"jc.user.passwordless_sudo"), "{rules:?}");
    for secret in [KEY, URL_TOKEN, SIGNING] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "{secret} printed");
    }

    let db = dir.join("watch.db");
    let db = db.to_str().unwrap();
    let output =
        blocking(strings(&["outbox", "--db", db, "--state", "delivered", "--format", "json"]))
            .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
    let delivered: usize =
        deliveries.iter().map(|d| d.body["items"].as_array().unwrap().len()).sum();
    assert_eq!(rows.as_array().unwrap().len(), delivered);
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["receiver"] == "hook" && r["state"] == "delivered")
    );
    let output = blocking(strings(&["outbox", "--db", db])).await;
    assert!(
        text(&output.stdout).contains(&format!("in all: {delivered} delivered")),
        "{}",
        text(&output.stdout)
    );
    // The queue is a SQL view too.
    let output = blocking(strings(&[
        "query",
        "--db",
        db,
        "--format",
        "json",
        "SELECT count(*) AS n FROM notifications WHERE state = 'delivered'",
    ]))
    .await;
    assert_eq!(serde_json::from_slice::<Value>(&output.stdout).unwrap()[0]["n"], delivered);

    // A second --once: nothing new to say.
    let before = sink.deliveries().len();
    let output = blocking(strings(&["watch", "--config", config, "--once"])).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        sink.deliveries().len(),
        before,
        "open findings are not sent again before repeat_interval"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_once_exits_5_when_notifications_stay_pending() {
    let dir = temp("pending");
    let mut server = Server::new_async().await;
    let _users = tenant(&mut server);
    let sink = WebhookSink::start(None).await.unwrap();
    sink.fail_at_random(1.0);
    let config = config(&dir, &server.url(), &sink.url());
    let output = blocking(strings(&[
        "watch",
        "--config",
        config.to_str().unwrap(),
        "--once",
        "--drain-timeout",
        "3s",
    ]))
    .await;
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(5), "{stdout}\n{}", text(&output.stderr));
    assert!(stdout.contains("still pending for hook"), "{stdout}");
    assert!(sink.attempts() >= 2, "retried within the drain");
    let db = dir.join("watch.db");
    let output = blocking(strings(&[
        "outbox",
        "--db",
        db.to_str().unwrap(),
        "--state",
        "pending",
        "--format",
        "json",
    ]))
    .await;
    let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["last_error"].as_str().unwrap_or_default().contains("HTTP 503")),
        "{rows}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_test_sends_a_sample_and_names_unknown_receivers() {
    let dir = temp("test");
    let sink = WebhookSink::start(Some(SigningSecret::parse(SIGNING).unwrap())).await.unwrap();
    let config = config(&dir, "http://127.0.0.1:9", &sink.url());
    let config = config.to_str().unwrap();
    let output = blocking(strings(&["notify", "test", "--config", config, "hook"])).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("hook: the test notification was accepted"));
    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].body["reason"], "test");
    assert!(deliveries[0].verified);
    let output = blocking(strings(&["notify", "test", "--config", config, "nobody"])).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("no receiver named \"nobody\" (the configuration has: hook)"),
        "{}",
        text(&output.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn silences_are_added_listed_and_expired() {
    let dir = temp("silence");
    let db = dir.join("s.db");
    // Any Jumpwatch database: the demo's is quick to make.
    let output = jumpwatch(&["demo", "--db", db.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("reached the local webhook") && stdout.contains("signatures verified"),
        "{stdout}"
    );
    let db = db.to_str().unwrap();
    let output = jumpwatch(&[
        "silence",
        "add",
        "--db",
        db,
        "--match",
        "tenant=demo",
        "--match",
        r"rule=~jc\.system\..*",
        "--for",
        "2h",
        "--author",
        "ana@example.com",
        "--comment",
        "fleet migration",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let id = text(&output.stdout).split_whitespace().nth(1).unwrap().to_owned();
    let output = jumpwatch(&["silence", "list", "--db", db, "--format", "json"]);
    let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows[0]["id"], id.as_str());
    assert_eq!(rows[0]["active"], true);
    assert!(
        rows[0]["matchers"].as_str().unwrap().contains(r#"rule="=~jc\\.system\\..*""#),
        "{rows}"
    );
    let output = jumpwatch(&["silence", "expire", "--db", db, &id]);
    assert!(output.status.success());
    let output = jumpwatch(&["silence", "list", "--db", db, "--format", "json"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&output.stdout).unwrap().as_array().unwrap().len(),
        0
    );
    let output = jumpwatch(&["silence", "list", "--db", db, "--all", "--format", "json"]);
    assert_eq!(serde_json::from_slice::<Value>(&output.stdout).unwrap()[0]["active"], false);
    let output = jumpwatch(&["silence", "expire", "--db", db, "no-such-id"]);
    assert_eq!(output.status.code(), Some(2));
    let output = jumpwatch(&[
        "silence",
        "add",
        "--db",
        db,
        "--match",
        "severity=>=urgent",
        "--for",
        "1h",
        "--author",
        "a",
        "--comment",
        "c",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--match \"severity=>=urgent\""),
        "{}",
        text(&output.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_endpoint_is_disabled_then_re_enabled_and_its_dead_letters_requeued() {
    let dir = temp("gone");
    let mut server = Server::new_async().await;
    let _users = tenant(&mut server);
    let sink = WebhookSink::start(None).await.unwrap();
    sink.fail_next((0..100).map(|_| (410, None)));
    let config = config(&dir, &server.url(), &sink.url());
    let config = config.to_str().unwrap();
    let output =
        blocking(strings(&["watch", "--config", config, "--once", "--drain-timeout", "5s"])).await;
    assert!(output.status.success(), "dead letters are not pending: {}", text(&output.stdout));
    assert!(text(&output.stdout).contains("dead letters"), "{}", text(&output.stdout));
    let db = dir.join("watch.db");
    let db = db.to_str().unwrap();
    let output = blocking(strings(&["notify", "receivers", "--db", db, "--format", "json"])).await;
    let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows[0]["receiver"], "hook");
    assert!(rows[0]["disabled"].as_str().unwrap().contains("HTTP 410"), "{rows}");
    let output =
        blocking(strings(&["outbox", "--db", db, "--state", "dead", "--format", "json"])).await;
    let dead = serde_json::from_slice::<Value>(&output.stdout).unwrap().as_array().unwrap().len();
    assert!(dead >= 1);

    // The endpoint is back: re-enable, requeue, deliver.
    let sink_ok = WebhookSink::start(Some(SigningSecret::parse(SIGNING).unwrap())).await.unwrap();
    let config = self::config(&dir, &server.url(), &sink_ok.url());
    let config = config.to_str().unwrap();
    assert!(blocking(strings(&["notify", "enable", "--db", db, "hook"])).await.status.success());
    let output = blocking(strings(&["notify", "requeue", "--db", db, "--receiver", "hook"])).await;
    assert!(
        text(&output.stdout).contains(&format!("{dead} dead letters queued again")),
        "{}",
        text(&output.stdout)
    );
    let output =
        blocking(strings(&["watch", "--config", config, "--once", "--drain-timeout", "10s"])).await;
    assert!(output.status.success(), "{}", text(&output.stdout));
    let delivered: usize =
        sink_ok.deliveries().iter().map(|d| d.body["items"].as_array().unwrap().len()).sum();
    assert_eq!(delivered, dead, "every dead letter delivered once the endpoint is back");
    std::fs::remove_dir_all(&dir).unwrap();
}
