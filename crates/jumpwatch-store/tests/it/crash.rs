//! Crash safety: a process killed at any moment of its commits leaves a consistent database.
//!
//! The test runs itself as a child process (`JUMPWATCH_CRASH_CHILD`) that commits polls in a
//! loop, kills it at random moments, and checks the database after each kill.

use std::process::{Command, Stdio};
use std::time::Duration;

use jumpwatch_changes::InventoryStore;
use jumpwatch_model::{Inventory, ResourceKind};
use jumpwatch_store::SqliteStore;
use serde_json::json;

use crate::support::{inventory, poll, tenant};

/// Each poll changes every user: `USERS` events a poll.
const USERS: usize = 40;

fn users(generation: usize) -> Inventory {
    let docs: Vec<_> = (0..USERS)
        .map(|i| {
            (
                ResourceKind::User,
                None,
                json!({"_id": format!("u{i:03}"), "username": format!("user{i}-{generation}")}),
            )
        })
        .collect();
    inventory(&docs)
}

/// The child: commits polls until killed.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var("JUMPWATCH_CRASH_CHILD") else { return };
    let store = SqliteStore::open(&path).unwrap();
    let mut generation = store.query("SELECT count(*) FROM polls", None).unwrap().rows[0][0]
        .as_i64()
        .unwrap() as usize;
    let mut previous = store.load(&tenant()).unwrap().inventory;
    loop {
        generation += 1;
        let current = users(generation);
        store.commit(&poll(generation as i64, &previous, &current, &[ResourceKind::User])).unwrap();
        previous = current;
    }
}

fn check(store: &SqliteStore) -> i64 {
    let value = |sql: &str| store.query(sql, None).unwrap().rows[0][0].as_i64().unwrap();
    let polls = value("SELECT count(*) FROM polls");
    // Every event belongs to a committed poll, and every poll after the first has all its events.
    assert_eq!(
        value(
            "SELECT count(*) FROM change_events WHERE poll_id NOT IN (SELECT poll_id FROM polls)"
        ),
        0
    );
    assert_eq!(
        value(&format!(
            "SELECT count(*) FROM (SELECT poll_id, count(*) AS n FROM change_events GROUP BY poll_id) WHERE n != {USERS}"
        )),
        0
    );
    assert_eq!(value("SELECT count(DISTINCT poll_id) FROM change_events"), polls);
    // Each resource has exactly one open version, matching its current version number.
    assert_eq!(
        value(
            "SELECT count(*) FROM resources r WHERE (SELECT count(*) FROM resource_versions v WHERE v.id = r.id AND v.valid_to IS NULL) != 1"
        ),
        0
    );
    assert_eq!(
        value(
            "SELECT count(*) FROM resources r WHERE r.version != (SELECT max(version) FROM resource_versions v WHERE v.id = r.id)"
        ),
        0
    );
    if polls > 0 {
        assert_eq!(value("SELECT count(*) FROM users"), USERS as i64);
    }
    polls
}

#[test]
fn a_process_killed_mid_commit_leaves_a_consistent_database() {
    if std::env::var("JUMPWATCH_CRASH_CHILD").is_ok() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("jumpwatch-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("crash.db");
    drop(SqliteStore::open(&path).unwrap());
    let exe = std::env::current_exe().unwrap();
    let mut last = 0;
    for round in 0..12u64 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash::crash_child", "--nocapture", "--test-threads", "1"])
            .env("JUMPWATCH_CRASH_CHILD", &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill it at a different moment each round: mostly while it commits.
        std::thread::sleep(Duration::from_millis(40 + (round * 37) % 150));
        child.kill().unwrap();
        child.wait().unwrap();
        let store = SqliteStore::open(&path).unwrap();
        let polls = check(&store);
        assert!(polls >= last, "committed polls were lost");
        last = polls;
    }
    assert!(last > 0, "the child never committed: the test did not test anything");
    std::fs::remove_dir_all(&dir).unwrap();
}
