//! The Monitor: polls every tenant, reports what happened, stops cleanly.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jumpwatch::{Monitor, MonitorEvent};
use jumpwatch_api::transport::StubTransport;
use jumpwatch_api::{Client, SecretString};
use jumpwatch_model::ResourceKind;
use jumpwatch_store::SqliteStore;
use serde_json::json;

/// A tenant whose users are `users()` at each request.
fn client(users: impl Fn() -> Vec<serde_json::Value> + Send + Sync + 'static) -> Client {
    let stub = StubTransport::new(move |_| {
        let users = users();
        let body = json!({"totalCount": users.len(), "results": users});
        Ok(http::Response::builder().body(Bytes::from(body.to_string())).unwrap())
    });
    Client::builder().api_key(SecretString::from("k")).transport(Arc::new(stub)).build().unwrap()
}

#[tokio::test]
async fn polls_every_tenant_and_reports_changes() {
    let generation = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = Arc::clone(&generation);
    let acme = client(move || {
        let n = seen.load(std::sync::atomic::Ordering::SeqCst);
        (0..=n).map(|i| json!({"_id": format!("u{i}"), "username": format!("user{i}")})).collect()
    });
    let other = client(|| vec![json!({"_id": "x1", "username": "x"})]);
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let monitor = Monitor::builder()
        .sqlite_store(Arc::clone(&store), Duration::from_secs(86_400))
        .tenant("acme", acme)
        .unwrap()
        .tenant("other", other)
        .unwrap()
        .kinds([ResourceKind::User])
        .build()
        .unwrap();
    let mut events = monitor.subscribe();
    let first = monitor.poll_once().await;
    assert!(first.iter().all(|(_, r)| r.as_ref().unwrap().outcome.events.is_empty()), "baselines");
    generation.store(1, std::sync::atomic::Ordering::SeqCst);
    let second = monitor.poll_once().await;
    let acme_events = &second
        .iter()
        .find(|(t, _)| t.as_str() == "acme")
        .unwrap()
        .1
        .as_ref()
        .unwrap()
        .outcome
        .events;
    assert_eq!(acme_events.len(), 1);

    let mut changes = Vec::new();
    let mut finished = 0;
    while let Ok(event) = events.try_recv() {
        match event {
            MonitorEvent::Change(change) => changes.push(change.resource_id.to_string()),
            MonitorEvent::PollFinished { reports, .. } => {
                finished += 1;
                assert!(reports.iter().all(|r| r.status.is_complete()));
            }
            _ => {}
        }
    }
    assert_eq!(changes, ["u1"]);
    assert_eq!(finished, 4);
    let rows = store
        .query("SELECT tenant, count(*) FROM users GROUP BY tenant ORDER BY tenant", None)
        .unwrap()
        .rows;
    assert_eq!(rows, [[json!("acme"), json!(2)], [json!("other"), json!(1)]]);
}

#[tokio::test(start_paused = true)]
async fn run_polls_on_the_interval_and_stops_when_asked() {
    let monitor = Monitor::builder()
        .tenant("acme", client(|| vec![json!({"_id": "u1"})]))
        .unwrap()
        .kinds([ResourceKind::User])
        .interval(Duration::from_secs(60))
        .jitter(0.0)
        .build()
        .unwrap();
    let mut events = monitor.subscribe();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = async {
        monitor
            .run(async {
                stopped.await.ok();
            })
            .await;
    };
    let drive = async {
        let mut polls = 0;
        while let Ok(event) = events.recv().await {
            if matches!(event, MonitorEvent::PollFinished { .. }) {
                polls += 1;
                if polls == 3 {
                    break;
                }
            }
        }
        let _ = stop.send(());
        polls
    };
    let started = tokio::time::Instant::now();
    let ((), polls) = tokio::join!(run, drive);
    assert_eq!(polls, 3);
    assert!(started.elapsed() >= Duration::from_secs(120), "polls are an interval apart");
}

#[test]
fn a_monitor_needs_a_tenant() {
    assert!(matches!(Monitor::builder().build(), Err(jumpwatch::MonitorError::NoTenant)));
}
