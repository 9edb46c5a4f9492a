//! The SQL query API: views, time travel, and refusal of writes.

use jumpwatch_changes::InventoryStore;
use jumpwatch_model::ResourceKind;
use jumpwatch_store::{Error, SqliteStore};
use serde_json::json;

use crate::support::{at, inventory, poll};

fn example(kind: ResourceKind) -> serde_json::Value {
    serde_json::from_str(kind.meta().examples.iter().find(|(n, _)| *n == "ordinary").unwrap().1)
        .unwrap()
}

#[test]
fn the_views_read_the_catalogs_columns() {
    let store = SqliteStore::in_memory().unwrap();
    let current = inventory(&[
        (ResourceKind::User, None, example(ResourceKind::User)),
        (ResourceKind::System, None, example(ResourceKind::System)),
        (
            ResourceKind::SystemUserBinding,
            Some("5e8c9f0a1b2c3d4e5f607182"),
            example(ResourceKind::SystemUserBinding),
        ),
    ]);
    let kinds = [ResourceKind::User, ResourceKind::System, ResourceKind::SystemUserBinding];
    store.commit(&poll(0, &current.clone(), &current, &kinds)).unwrap();
    let users =
        store.query("SELECT username, email, sudo, mfa_configured FROM users", None).unwrap();
    let names: Vec<&str> = users.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["username", "email", "sudo", "mfa_configured"]);
    assert_eq!(
        users.rows,
        [[json!("ada.lovelace"), json!("ada.lovelace@example.com"), json!(0), json!(1)]]
    );
    let bindings = store
        .query("SELECT system_id, user_id, sudo_enabled FROM system_user_bindings", None)
        .unwrap();
    assert_eq!(bindings.rows[0][0], json!("5e8c9f0a1b2c3d4e5f607182"));
    assert_eq!(bindings.rows[0][2], json!(1));
    // A join between a resource and its relations.
    let joined = store
        .query("SELECT u.username FROM system_user_bindings b JOIN users u ON u.id = b.user_id WHERE b.sudo_enabled = 1", None)
        .unwrap();
    assert_eq!(joined.rows, [[json!("ada.lovelace")]]);
}

#[test]
fn as_of_shows_the_earlier_version_and_deleted_resources() {
    let store = SqliteStore::in_memory().unwrap();
    let v = |name: &str| {
        inventory(&[(ResourceKind::UserGroup, None, json!({"id": "g1", "name": name}))])
    };
    let none = inventory(&[]);
    store.commit(&poll(0, &none, &v("admins"), &[ResourceKind::UserGroup])).unwrap();
    store.commit(&poll(2, &v("admins"), &v("superadmins"), &[ResourceKind::UserGroup])).unwrap();
    store.commit(&poll(4, &v("superadmins"), &none, &[ResourceKind::UserGroup])).unwrap();
    let name_at = |hour| store.query("SELECT name FROM user_groups", Some(at(hour))).unwrap().rows;
    assert_eq!(name_at(1), [[json!("admins")]]);
    assert_eq!(name_at(3), [[json!("superadmins")]]);
    assert!(name_at(5).is_empty());
    assert!(store.query("SELECT name FROM user_groups", None).unwrap().rows.is_empty());
    // The change views: one row a field change.
    let changes = store
        .query("SELECT op, path, before, after FROM user_group_changes ORDER BY seq", None)
        .unwrap();
    assert_eq!(
        changes.rows,
        [
            vec![json!("created"), json!(null), json!(null), json!(null)],
            vec![json!("updated"), json!("name"), json!("admins"), json!("superadmins")],
            vec![json!("deleted"), json!(null), json!(null), json!(null)],
        ]
    );
}

#[test]
fn queries_cannot_write() {
    let store = SqliteStore::in_memory().unwrap();
    for sql in [
        "DELETE FROM resources",
        "CREATE TABLE x (a)",
        "UPDATE resources SET doc = '{}'",
        "DROP VIEW users",
        "PRAGMA user_version = 3",
    ] {
        match store.query(sql, None) {
            Err(Error::ReadOnly(_) | Error::Sqlite(_)) => {}
            other => panic!("{sql}: {other:?}"),
        }
    }
    assert!(matches!(store.query("DELETE FROM resources", None), Err(Error::ReadOnly(_))));
    assert!(store.query("SELECT 1; DELETE FROM resources", None).is_err());
    assert!(
        store
            .query("SELECT * FROM no_such_view", None)
            .unwrap_err()
            .to_string()
            .contains("no_such_view")
    );
    // The store still works.
    assert_eq!(store.query("SELECT count(*) FROM resources", None).unwrap().rows[0][0], json!(0));
}

#[test]
fn the_views_of_the_fixture_tenant_hold_every_resource() {
    let fixture = jumpwatch_sim::fixtures::load_small().unwrap();
    let store = SqliteStore::in_memory().unwrap();
    let kinds: Vec<ResourceKind> = ResourceKind::ALL.to_vec();
    let mut commit =
        poll(0, &jumpwatch_model::Inventory::new(fixture.tenant().clone()), &fixture, &kinds);
    commit.tenant = fixture.tenant().clone();
    store.commit(&commit).unwrap();
    for kind in ResourceKind::ALL {
        let view = kind.meta().view.name;
        let count =
            store.query(&format!("SELECT count(*) FROM {view}"), None).unwrap().rows[0][0].clone();
        assert_eq!(count, json!(fixture.count(*kind)), "{view}");
    }
    // A typed column agrees with the documents.
    let sudo = fixture.resources(ResourceKind::User).filter(|u| u.doc["sudo"] == true).count();
    let rows = store.query("SELECT count(*) FROM users WHERE sudo = 1", None).unwrap().rows;
    assert_eq!(rows[0][0], json!(sudo));
    assert!(sudo > 0, "the fixture tenant has risky users");
    // Relations join to their ends.
    let joined = store
        .query("SELECT count(*) FROM user_group_members m JOIN users u ON u.id = m.user_id JOIN user_groups g ON g.id = m.user_group_id", None)
        .unwrap()
        .rows;
    assert_eq!(joined[0][0], json!(fixture.count(ResourceKind::UserGroupMember)));
}
