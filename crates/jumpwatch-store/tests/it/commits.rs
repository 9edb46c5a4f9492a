//! Commits: what is stored, what is loaded back, and that a failed commit changes nothing.

use jumpwatch_changes::{ChangeOp, InventoryStore, SnapshotIndex};
use jumpwatch_model::{ResourceId, ResourceKind};
use jumpwatch_store::SqliteStore;
use serde_json::json;

use crate::support::{at, inventory, poll, tenant};

const USERS: [ResourceKind; 1] = [ResourceKind::User];

fn users(docs: &[serde_json::Value]) -> jumpwatch_model::Inventory {
    inventory(&docs.iter().map(|d| (ResourceKind::User, None, d.clone())).collect::<Vec<_>>())
}

#[test]
fn a_commit_loads_back_with_its_events_and_versions() {
    let store = SqliteStore::in_memory().unwrap();
    let empty = users(&[]);
    let first = users(&[
        json!({"_id": "u1", "username": "ada", "sudo": false}),
        json!({"_id": "u2", "username": "bob"}),
    ]);
    store.commit(&poll(0, &empty, &first, &USERS)).unwrap();
    let loaded = store.load(&tenant()).unwrap();
    assert!(loaded.snapshot_kinds.contains(&ResourceKind::User));
    assert_eq!(loaded.inventory.count(ResourceKind::User), 2);

    let second = users(&[
        json!({"_id": "u1", "username": "ada", "sudo": true}),
        json!({"_id": "u3", "username": "cy"}),
    ]);
    let seqs = store.commit(&poll(1, &first, &second, &USERS)).unwrap();
    assert_eq!(seqs, [3, 4, 5], "sequence numbers go on from the first poll's two creations");
    let events = store.events_since(&tenant(), 2, 100).unwrap();
    let summary: Vec<(ChangeOp, &str)> =
        events.iter().map(|e| (e.op, e.resource_id.as_str())).collect();
    assert_eq!(
        summary,
        [(ChangeOp::Updated, "u1"), (ChangeOp::Created, "u3"), (ChangeOp::Deleted, "u2")]
    );
    assert_eq!(events[0].changes[0].path.render(), "sudo");
    assert_eq!(events[0].seq, Some(3));

    let loaded = store.load(&tenant()).unwrap();
    let ids: Vec<&str> =
        loaded.inventory.resources(ResourceKind::User).map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["u1", "u3"]);
    let u1 = ResourceId::new("u1").unwrap();
    assert_eq!(loaded.inventory.get(ResourceKind::User, &u1).unwrap().doc["sudo"], true);
    assert_eq!(store.version_count(&tenant(), ResourceKind::User, &u1).unwrap(), 2);
}

#[test]
fn the_index_and_the_documents_load_apart_as_they_load_together() {
    let store = SqliteStore::in_memory().unwrap();
    let empty = users(&[]);
    let first = users(&[
        json!({"_id": "u1", "username": "ada", "sudo": false}),
        json!({"_id": "u2", "username": "bob"}),
        json!({"_id": "u3", "username": "cy"}),
    ]);
    store.commit(&poll(0, &empty, &first, &USERS)).unwrap();
    let second = users(&[
        json!({"_id": "u1", "username": "ada", "sudo": true}),
        json!({"_id": "u3", "username": "cy"}),
    ]);
    store.commit(&poll(1, &first, &second, &USERS)).unwrap();

    let whole = store.load(&tenant()).unwrap();
    let index = store.load_index(&tenant()).unwrap();
    assert!(index.inventory.is_empty(), "the index carries no documents");
    assert_eq!(index.index, SnapshotIndex::of(&whole.inventory));
    assert_eq!(index.index.count(ResourceKind::User), 2, "the deleted user is not indexed");
    assert_eq!(index.snapshot_kinds, whole.snapshot_kinds);

    let wanted = [ResourceId::new("u3").unwrap(), ResourceId::new("u2").unwrap()];
    let some = store.load_resources(&tenant(), ResourceKind::User, Some(&wanted)).unwrap();
    assert_eq!(some.len(), 1, "u2 is deleted: only u3 comes back");
    assert_eq!(&some[0].0, whole.inventory.get(ResourceKind::User, &wanted[0]).unwrap());
    assert_eq!(some[0].1, whole.inventory.hash(ResourceKind::User, &wanted[0]));
    let all = store.load_resources(&tenant(), ResourceKind::User, None).unwrap();
    let ids: Vec<&str> = all.iter().map(|(r, _)| r.id.as_str()).collect();
    assert_eq!(ids, ["u1", "u3"]);
    assert!(store.load_resources(&tenant(), ResourceKind::System, None).unwrap().is_empty());
}

#[test]
fn volatile_changes_update_the_document_but_make_no_version() {
    let store = SqliteStore::in_memory().unwrap();
    let system = |contact: &str| {
        inventory(&[(
            ResourceKind::System,
            None,
            json!({"_id": "s1", "displayName": "mac", "lastContact": contact}),
        )])
    };
    let (a, b) = (system("2026-01-01T00:00:00Z"), system("2026-01-02T00:00:00Z"));
    store.commit(&poll(0, &system("x"), &a, &[ResourceKind::System])).unwrap();
    let commit = poll(1, &a, &b, &[ResourceKind::System]);
    assert!(commit.events.is_empty());
    store.commit(&commit).unwrap();
    let s1 = ResourceId::new("s1").unwrap();
    assert_eq!(store.version_count(&tenant(), ResourceKind::System, &s1).unwrap(), 1);
    let result = store.query("SELECT last_contact FROM systems", None).unwrap();
    assert_eq!(result.rows[0][0], json!("2026-01-02T00:00:00Z"));
}

#[test]
fn secrets_never_reach_the_database() {
    let store = SqliteStore::in_memory().unwrap();
    let radius = |secret: &str| {
        inventory(&[(
            ResourceKind::RadiusServer,
            None,
            json!({"_id": "r1", "name": "wifi", "sharedSecret": secret}),
        )])
    };
    let (a, b) = (radius("correct-horse-battery-staple"), radius("tr0ub4dor-and-3"));
    store
        .commit(&poll(
            0,
            &jumpwatch_model::Inventory::new(tenant()),
            &a,
            &[ResourceKind::RadiusServer],
        ))
        .unwrap();
    store.commit(&poll(1, &a, &b, &[ResourceKind::RadiusServer])).unwrap();
    let dump = store
        .query(
            "SELECT (SELECT group_concat(doc) FROM resources) || (SELECT group_concat(doc) FROM resource_versions) || (SELECT group_concat(changes || coalesce(before, '') || coalesce(after, '')) FROM change_events)",
            None,
        )
        .unwrap();
    let text = dump.rows[0][0].to_string();
    assert!(text.contains("secret:blake3:"), "{text}");
    for secret in ["correct-horse", "tr0ub4dor"] {
        assert!(!text.contains(secret), "{secret} reached the database");
    }
    // The change is still seen, as a change of the marker.
    let changes =
        store.query("SELECT path FROM radius_server_changes WHERE op = 'updated'", None).unwrap();
    assert_eq!(changes.rows, [[json!("sharedSecret")]]);
    // Loading gives the markers back, which hash like the secrets did: no spurious change.
    let loaded = store.load(&tenant()).unwrap();
    let again = jumpwatch_changes::diff::diff_inventories(
        &loaded.inventory,
        &b,
        &[ResourceKind::RadiusServer],
        at(2),
    );
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn a_failed_commit_changes_nothing_and_the_next_poll_redoes_it() {
    let store = SqliteStore::in_memory().unwrap();
    let first = users(&[json!({"_id": "u1", "username": "ada"})]);
    store.commit(&poll(0, &users(&[]), &first, &USERS)).unwrap();
    let second = users(&[
        json!({"_id": "u1", "username": "ada.l"}),
        json!({"_id": "u2", "username": "bob"}),
    ]);
    let mut broken = poll(1, &first, &second, &USERS);
    // Fail halfway: the second event reuses the first's id, which the table refuses.
    let duplicate = broken.events[0].event_id;
    broken.events[1].event_id = duplicate;
    assert!(store.commit(&broken).is_err());
    let loaded = store.load(&tenant()).unwrap();
    assert_eq!(loaded.inventory.count(ResourceKind::User), 1);
    assert_eq!(
        loaded.inventory.resources(ResourceKind::User).next().unwrap().doc["username"],
        "ada"
    );
    assert!(
        store.events_since(&tenant(), 0, 10).unwrap().iter().all(|e| e.op == ChangeOp::Created)
    );
    assert_eq!(store.query("SELECT count(*) FROM polls", None).unwrap().rows[0][0], json!(1));
    // The next poll sees the same difference and commits it.
    let redo = poll(2, &loaded.inventory, &second, &USERS);
    assert_eq!(redo.events.len(), 2);
    store.commit(&redo).unwrap();
    assert_eq!(store.load(&tenant()).unwrap().inventory.count(ResourceKind::User), 2);
}

#[test]
fn held_deletions_and_relations_survive_a_reload() {
    let store = SqliteStore::in_memory().unwrap();
    let members = inventory(&[
        (ResourceKind::UserGroupMember, Some("g1"), json!({"to": {"id": "u1", "type": "user"}})),
        (ResourceKind::UserGroupMember, Some("g1"), json!({"to": {"id": "u2", "type": "user"}})),
    ]);
    let mut commit = poll(0, &members.clone(), &members, &[ResourceKind::UserGroupMember]);
    commit.held.insert(ResourceKind::UserGroupMember, [ResourceId::new("g1:u2").unwrap()].into());
    store.commit(&commit).unwrap();
    let loaded = store.load(&tenant()).unwrap();
    assert_eq!(loaded.held[&ResourceKind::UserGroupMember].len(), 1);
    let u1 = jumpwatch_model::UserId::new("u1").unwrap();
    assert_eq!(
        loaded.inventory.user_groups_of(&u1).map(|e| e.from.to_string()).collect::<Vec<_>>(),
        ["g1"]
    );
}

#[test]
fn a_file_database_reopens_and_refuses_a_newer_schema() {
    let dir = std::env::temp_dir().join(format!("jumpwatch-store-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("store.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store.commit(&poll(0, &users(&[]), &users(&[json!({"_id": "u1"})]), &USERS)).unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.load(&tenant()).unwrap().inventory.count(ResourceKind::User), 1);
    assert_eq!(store.query("SELECT count(*) FROM users", None).unwrap().rows[0][0], json!(1));
    drop(store);
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.pragma_update(None, "user_version", 99).unwrap();
    }
    let error = SqliteStore::open(&path).unwrap_err();
    assert!(error.to_string().contains("schema version 99"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn prune_removes_what_is_older_than_the_retention() {
    let store = SqliteStore::in_memory().unwrap();
    let a = users(&[json!({"_id": "u1", "username": "a"})]);
    let b = users(&[json!({"_id": "u1", "username": "b"})]);
    store.commit(&poll(0, &users(&[]), &a, &USERS)).unwrap();
    store.commit(&poll(1, &a, &b, &USERS)).unwrap();
    store.commit(&poll(5, &b, &users(&[]), &USERS)).unwrap();
    // Everything that ended before hour 3: the first version and the first two polls' events.
    let removed = store.prune(at(3)).unwrap();
    assert!(removed >= 4, "{removed}");
    let versions = store.query("SELECT count(*) FROM resource_versions", None).unwrap();
    assert_eq!(versions.rows[0][0], json!(1));
    let events = store.query("SELECT op FROM changes", None).unwrap();
    assert_eq!(events.rows, [[json!("deleted")]]);
}

#[test]
fn processes_opening_one_new_database_at_once_all_succeed() {
    let dir = std::env::temp_dir().join(format!("jumpwatch-store-open-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for round in 0..10 {
        let path = dir.join(format!("new-{round}.db"));
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || SqliteStore::open(&path).map(|_| ()))
            })
            .collect();
        for opener in openers {
            opener.join().unwrap().unwrap();
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn findings_seen_again_move_only_their_last_seen() {
    use jumpwatch_rules::{AuditCommit, AuditInput, Engine, FindingState, FindingStore};
    let store = SqliteStore::in_memory().unwrap();
    let engine = Engine::builtin().unwrap();
    let sudo = users(&[json!({"_id": "u1", "username": "ada", "passwordless_sudo": true})]);
    let mut previous = users(&[]);
    for n in 0..2 {
        let commit = poll(n, &previous, &sudo, &USERS);
        let audit = engine
            .audit(AuditInput::new(&commit.snapshot, at(n)), store.findings(&tenant()).unwrap());
        let audit = AuditCommit::of(tenant(), &audit);
        if n == 1 {
            assert!(audit.findings.is_empty(), "nothing but last_seen moved");
            assert!(!audit.seen.is_empty());
        }
        store.commit_audited(&commit, &audit).unwrap();
        previous = sudo.clone();
    }
    let findings = store.findings(&tenant()).unwrap();
    let sudo = findings.iter().find(|f| f.rule == "jc.user.passwordless_sudo").unwrap();
    assert_eq!((sudo.first_seen, sudo.last_seen), (at(0), at(1)));
    assert_eq!(sudo.state, FindingState::Open);
    assert!(sudo.message.as_deref().unwrap().contains("ada"));
    assert!(findings.iter().all(|f| f.last_seen == at(1)), "every open finding was seen again");
}
