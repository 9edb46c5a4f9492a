//! Tests: the JSONL channel — one envelope per line, appended.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{TimeZone as _, Utc};
use jumpwatch_notify::channel::fields::Fields;
use jumpwatch_notify::channel::jsonl::{self, JsonlChannel, JsonlConfig};
use jumpwatch_notify::{
    Alert, AlertKind, Channel, Notification, Reason, SendError, Severity, Status,
};

fn notification(id: &str) -> Notification {
    let at = Utc.with_ymd_and_hms(2025, 3, 14, 9, 26, 53).unwrap();
    let alert = Alert::new(
        AlertKind::Change,
        format!("change-{id}"),
        Status::Firing,
        Severity::Info,
        "Group \"admins\" renamed\nto \"root\"",
        at,
    )
    .label("tenant", "acme");
    Notification::new(id, "archive", "g", BTreeMap::new(), Reason::New, vec![alert], at)
}

/// A fresh directory under the system's temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "jumpwatch-jsonl-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn channel(path: &std::path::Path) -> JsonlChannel {
    JsonlChannel::new(JsonlConfig { path: path.to_str().unwrap().to_owned() }).unwrap()
}

#[test]
fn config_reads_path() {
    let table: toml::Table = r#"
        name = "archive"
        type = "jsonl"
        path = "-"
    "#
    .parse()
    .unwrap();
    let expand = |s: &str| Ok::<_, String>(s.to_owned());
    let mut fields = Fields::new(&table, &expand);
    let config = JsonlConfig::from_fields(&mut fields).unwrap();
    fields.finish().unwrap();
    assert_eq!(config.path, "-");

    let empty: toml::Table = "".parse().unwrap();
    let mut fields = Fields::new(&empty, &expand);
    let error = JsonlConfig::from_fields(&mut fields).unwrap_err();
    assert_eq!(error.field, "path");
}

#[test]
fn a_line_is_one_line_of_the_envelope() {
    let notification = notification("n-1");
    let line = jsonl::line(&notification);
    assert!(line.ends_with('\n'));
    assert_eq!(line.matches('\n').count(), 1);
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(value, notification.envelope());
}

#[tokio::test]
async fn notifications_become_lines() {
    let dir = temp_dir("lines");
    let path = dir.join("out.jsonl");
    let channel = channel(&path);
    assert_eq!(channel.kind(), "jsonl");
    assert_eq!(channel.default_rate(), None);
    channel.send(&notification("n-1")).await.unwrap();
    channel.send(&notification("n-2")).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let ids: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids, ["n-1", "n-2"]);
    assert!(text.ends_with('\n'));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn appends_to_an_existing_file() {
    let dir = temp_dir("append");
    let path = dir.join("out.jsonl");
    std::fs::write(&path, "{\"id\":\"earlier\"}\n").unwrap();
    channel(&path).send(&notification("n-3")).await.unwrap();
    // A new channel (a restart) appends too.
    channel(&path).send(&notification("n-4")).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], "{\"id\":\"earlier\"}");
    assert!(lines[1].contains("\"id\":\"n-3\""));
    assert!(lines[2].contains("\"id\":\"n-4\""));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn an_unwritable_path_is_retried_and_named() {
    let dir = temp_dir("unwritable");
    let channel = channel(&dir);
    let error = channel.send(&notification("n-5")).await.unwrap_err();
    match &error {
        SendError::Retry { message, .. } => {
            assert!(message.contains(dir.to_str().unwrap()), "{message}");
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(dir).unwrap();
}
