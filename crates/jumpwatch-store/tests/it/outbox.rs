//! The notifier's outbox on SQLite: the port's conformance suite, and alerts enqueued in the
//! poll's transaction.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jumpwatch_changes::InventoryStore;
use jumpwatch_model::{Inventory, ResourceKind};
use jumpwatch_notify::{
    Alert, AlertKind, Destination, EntryState, Matchers, NewEntry, Outbox, Outcome, Settlement,
    Severity, Silence, Status, Timing,
};
use jumpwatch_store::SqliteStore;
use serde_json::json;

use crate::support::{at, inventory, poll};

const USERS: [ResourceKind; 1] = [ResourceKind::User];

/// A fresh directory for one test's database files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jumpwatch-outbox-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn users(names: &[&str]) -> Inventory {
    let docs: Vec<_> = names
        .iter()
        .map(|n| (ResourceKind::User, None, json!({"_id": n, "username": n})))
        .collect();
    inventory(&docs)
}

fn finding(fingerprint: &str, created: DateTime<Utc>) -> Alert {
    Alert::new(
        AlertKind::Finding,
        fingerprint,
        Status::Firing,
        Severity::High,
        format!("finding {fingerprint}"),
        created,
    )
    .label("tenant", "acme")
}

fn entry(group: &str, fingerprint: &str, created: DateTime<Utc>) -> NewEntry {
    let destination = Destination {
        receiver: "slack".to_owned(),
        group_key: group.to_owned(),
        group_labels: [("tenant".to_owned(), "acme".to_owned())].into(),
        timing: Timing::default(),
    };
    NewEntry::new(&destination, finding(fingerprint, created), created)
}

fn count(store: &SqliteStore, sql: &str) -> i64 {
    store.query(sql, None).unwrap().rows[0][0].as_i64().unwrap()
}

#[test]
fn the_memory_store_keeps_the_outbox_rules() {
    jumpwatch_notify::conformance::check(&|| Box::new(SqliteStore::in_memory().unwrap())).unwrap();
}

#[test]
fn the_file_store_keeps_the_outbox_rules() {
    let dir = temp_dir("conformance");
    let next = AtomicUsize::new(0);
    let factory = || -> Box<dyn Outbox> {
        let n = next.fetch_add(1, Ordering::Relaxed);
        Box::new(SqliteStore::open(dir.join(format!("case-{n}.db"))).unwrap())
    };
    jumpwatch_notify::conformance::check(&factory).unwrap();
    assert_eq!(next.load(Ordering::Relaxed), jumpwatch_notify::conformance::CASES.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_poll_commit_enqueues_nothing() {
    let store = SqliteStore::in_memory().unwrap();
    let mut broken = poll(0, &users(&[]), &users(&["ada", "bob"]), &USERS);
    // The second event reuses the first's id, which the table refuses.
    broken.events[1].event_id = broken.events[0].event_id;
    let alerts = [entry("g", "a", at(0)), entry("g", "b", at(0))];
    assert!(store.commit_notified(&broken, None, &alerts).is_err());
    assert!(store.counts().unwrap().is_empty());
    assert_eq!(count(&store, "SELECT count(*) FROM notify_groups"), 0);
    assert_eq!(count(&store, "SELECT count(*) FROM polls"), 0);
}

#[test]
fn a_failed_enqueue_rolls_the_poll_back() {
    let dir = temp_dir("failed-enqueue");
    let path = dir.join("store.db");
    let store = SqliteStore::open(&path).unwrap();
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "CREATE TRIGGER refuse AFTER INSERT ON outbox WHEN NEW.fingerprint = 'boom'
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .unwrap();
    }
    let commit = poll(0, &users(&[]), &users(&["ada"]), &USERS);
    let alerts = [entry("g", "a", at(0)), entry("g", "boom", at(0))];
    let error = store.commit_notified(&commit, None, &alerts).unwrap_err();
    assert!(error.to_string().contains("refused"), "{error}");
    assert_eq!(count(&store, "SELECT count(*) FROM polls"), 0);
    assert_eq!(count(&store, "SELECT count(*) FROM change_events"), 0);
    assert_eq!(count(&store, "SELECT count(*) FROM outbox"), 0);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn notified_commits_survive_a_reopen_and_never_duplicate() {
    let dir = temp_dir("reopen");
    let path = dir.join("store.db");
    let alerts = [entry("g", "a", at(0)), entry("h", "b", at(0))];
    {
        let store = SqliteStore::open(&path).unwrap();
        let seqs = store
            .commit_notified(&poll(0, &users(&[]), &users(&["ada"]), &USERS), None, &alerts)
            .unwrap();
        assert_eq!(seqs.len(), 1);
    }
    let store = SqliteStore::open(&path).unwrap();
    let pending = store.entries(Some(EntryState::Pending), 10).unwrap();
    let fingerprints: Vec<&str> = pending.iter().map(|e| e.alert.fingerprint.as_str()).collect();
    assert_eq!(fingerprints, ["b", "a"], "newest first");
    assert_eq!(pending[1].alert, alerts[0].alert);
    assert_eq!(pending[1].created_at, at(0));
    assert_eq!(pending[1].not_before, at(0) + chrono::Duration::seconds(30));
    assert_eq!(store.load(&crate::support::tenant()).unwrap().inventory.count(USERS[0]), 1);

    // The next poll raises the same alerts again (same dedup keys): nothing is added.
    let again = poll(1, &users(&["ada"]), &users(&["ada", "bob"]), &USERS);
    store.commit_notified(&again, None, &alerts).unwrap();
    assert_eq!(store.counts().unwrap().get(&EntryState::Pending), Some(&2));
    assert_eq!(store.enqueue_alerts(&alerts).unwrap(), 0);
    assert_eq!(count(&store, "SELECT count(*) FROM polls"), 2);

    // The queue is queryable.
    let rows = store
        .query(
            "SELECT receiver, state, status, title, severity FROM notifications ORDER BY id",
            None,
        )
        .unwrap()
        .rows;
    assert_eq!(
        rows[0],
        [json!("slack"), json!("pending"), json!("firing"), json!("finding a"), json!("high")]
    );
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn prune_keeps_what_is_still_to_send() {
    let store = SqliteStore::in_memory().unwrap();
    store
        .enqueue(&[
            entry("sent", "a", at(0)),
            entry("flying", "b", at(0)),
            entry("waiting", "c", at(5)),
        ])
        .unwrap();
    let batches = store.claim(at(1), Duration::from_secs(60), 10).unwrap();
    assert_eq!(batches.len(), 2, "the two groups created at hour 0 are due");
    let sent = batches.iter().find(|b| b.group_key == "sent").unwrap();
    let delivered = Outcome::Delivered { firing: vec![finding("a", at(0))] };
    store.settle(sent, &Settlement::new(Vec::new(), delivered), at(1)).unwrap();

    let table: BTreeMap<String, String> = [("rule".to_owned(), "x".to_owned())].into();
    let matchers = Matchers::parse(&table).unwrap();
    let ended = Silence::new(matchers.clone(), at(0), at(2), "ana", "done").unwrap();
    let active = Silence::new(matchers, at(0), at(200), "ana", "still on").unwrap();
    store.add_silence(&ended).unwrap();
    store.add_silence(&active).unwrap();

    assert_eq!(store.prune(at(100)).unwrap(), 2, "the delivered entry and the ended silence");
    let left: Vec<(String, EntryState)> = store
        .entries(None, 10)
        .unwrap()
        .into_iter()
        .map(|e| (e.alert.fingerprint, e.state))
        .collect();
    assert_eq!(
        left,
        [("c".to_owned(), EntryState::Pending), ("b".to_owned(), EntryState::InFlight)]
    );
    let silences: Vec<String> = store.silences().unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(silences, [active.id]);
    // What the delivered notification left firing is kept with its group.
    assert_eq!(store.firing().unwrap().len(), 3);
}
