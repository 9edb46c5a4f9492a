//! Laws of the diff: nothing from nothing, diff then apply gives the target, backwards is the
//! inverse, order of keyed and set arrays and of keys never matters, volatile paths never change
//! anything, secrets never show.

use chrono::Utc;
use jumpwatch_changes::diff::{ArrayRules, apply, diff_documents, diff_inventories};
use jumpwatch_changes::{ChangeOp, FieldChange};
use jumpwatch_model::catalog::ArrayIdentity;
use jumpwatch_model::{Inventory, Normalizer, Resource, ResourceKind, TenantId};
use proptest::prelude::*;
use serde_json::{Value, json};

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        (-50i64..50).prop_map(Value::from),
        "[a-d]{0,3}".prop_map(Value::String),
        Just(Value::Null),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-c]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A user-like document with a keyed array, a set and an ordered array.
fn document() -> impl Strategy<Value = Value> {
    (
        prop::collection::btree_map("[a-d]", value(), 0..4),
        prop::collection::btree_map("[a-e]", value(), 0..4),
        prop::collection::btree_set("[a-f]", 0..4),
        prop::collection::vec(leaf(), 0..4),
        prop::option::of("[A-Z]{6}"),
    )
        .prop_map(|(fields, attributes, tags, ordered, secret)| {
            let mut doc = json!({
                "attributes": attributes.into_iter().map(|(name, value)| json!({"name": name, "value": value})).collect::<Vec<_>>(),
                "tags": tags.into_iter().collect::<Vec<_>>(),
                "ordered": ordered,
            });
            for (key, value) in fields {
                doc[key] = value;
            }
            if let Some(secret) = secret {
                doc["secret"] = json!(format!("TOPSECRET-{secret}"));
            }
            doc
        })
}

fn normalizer() -> Normalizer {
    Normalizer::from_rules(
        ["lastContact"],
        ["secret"],
        [("attributes", ArrayIdentity::Keyed("name")), ("tags", ArrayIdentity::Set)],
    )
    .unwrap()
}

fn rules() -> ArrayRules {
    ArrayRules::new([
        ("attributes".to_owned(), ArrayIdentity::Keyed("name")),
        ("tags".to_owned(), ArrayIdentity::Set),
    ])
}

fn shuffled(doc: &Value, seed: u64) -> Value {
    let mut doc = doc.clone();
    let mut seed = seed;
    for array in ["attributes", "tags"] {
        if let Some(items) = doc.get_mut(array).and_then(Value::as_array_mut) {
            for i in (1..items.len()).rev() {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                items.swap(i, (seed >> 33) as usize % (i + 1));
            }
        }
    }
    doc
}

fn sorted(mut changes: Vec<FieldChange>) -> Vec<String> {
    let mut out: Vec<String> =
        changes.drain(..).map(|c| serde_json::to_string(&c).unwrap()).collect();
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn nothing_from_nothing(a in document()) {
        let n = normalizer().normalize(&a);
        prop_assert!(diff_documents(&n, &n, &rules()).is_empty());
    }

    #[test]
    fn applying_the_diff_gives_the_target(a in document(), b in document()) {
        let normalizer = normalizer();
        let (na, nb) = (normalizer.normalize(&a), normalizer.normalize(&b));
        let changes = diff_documents(&na, &nb, &rules());
        prop_assert_eq!(changes.is_empty(), na == nb);
        let mut patched = na.clone();
        apply(&mut patched, &changes);
        prop_assert_eq!(normalizer.normalize(&patched), nb);
    }

    #[test]
    fn backwards_is_the_inverse(a in document(), b in document()) {
        let normalizer = normalizer();
        let (na, nb) = (normalizer.normalize(&a), normalizer.normalize(&b));
        let forward: Vec<FieldChange> = diff_documents(&na, &nb, &rules()).iter().map(FieldChange::inverse).collect();
        let backward = diff_documents(&nb, &na, &rules());
        prop_assert_eq!(sorted(forward), sorted(backward));
    }

    #[test]
    fn order_of_keyed_and_set_arrays_changes_nothing(a in document(), seed in any::<u64>()) {
        let normalizer = normalizer();
        let b = shuffled(&a, seed);
        prop_assert_eq!(normalizer.hash(&a), normalizer.hash(&b));
        prop_assert!(diff_documents(&normalizer.normalize(&a), &normalizer.normalize(&b), &rules()).is_empty());
    }

    #[test]
    fn system_check_ins_are_never_changes(contact in "[0-9]{1,10}", ip in "[0-9.]{7,15}", active in any::<bool>()) {
        let doc = json!({"_id": "s1", "displayName": "mac", "lastContact": "2026-01-01T00:00:00Z", "remoteIP": "10.0.0.1", "active": false});
        let mut later = doc.clone();
        later["lastContact"] = json!(contact);
        later["remoteIP"] = json!(ip);
        later["active"] = json!(active);
        let events = diff_inventories(&inventory(ResourceKind::System, doc), &inventory(ResourceKind::System, later), &[ResourceKind::System], Utc::now());
        prop_assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn secrets_never_appear_in_events(secret in "[A-Za-z0-9]{16}", other in "[A-Za-z0-9]{16}") {
        let secret = format!("S3CRET-{secret}");
        let before = json!({"_id": "r1", "name": "wifi", "sharedSecret": secret});
        let after = json!({"_id": "r1", "name": "wifi", "sharedSecret": format!("S3CRET-{other}")});
        let events = diff_inventories(&inventory(ResourceKind::RadiusServer, before), &inventory(ResourceKind::RadiusServer, after), &[ResourceKind::RadiusServer], Utc::now());
        prop_assert_eq!(events.len(), 1);
        prop_assert_eq!(events[0].changes[0].path.render(), "sharedSecret");
        let text = serde_json::to_string(&events).unwrap();
        prop_assert!(!text.contains("S3CRET"), "{}", text);
    }
}

fn inventory(kind: ResourceKind, doc: Value) -> Inventory {
    let mut inventory = Inventory::new(TenantId::new("t").unwrap());
    inventory.insert(Resource::from_doc(kind, doc).unwrap()).unwrap();
    inventory
}

/// A case of the table below: before, after, and the expected `(path, op)` of each change.
type Case = (Value, Value, &'static [(&'static str, &'static str)]);

/// A table of (before, after, expected rendered paths and ops) on the user kind.
#[test]
fn diff_paths_name_what_changed() {
    let cases: &[Case] = &[
        (json!({"username": "ada"}), json!({"username": "ada.l"}), &[("username", "modified")]),
        (json!({"sudo": false}), json!({"sudo": true}), &[("sudo", "modified")]),
        (json!({}), json!({"department": "Eng"}), &[("department", "added")]),
        (json!({"department": "Eng"}), json!({"department": null}), &[("department", "removed")]),
        (
            json!({"mfa": {"configured": true}}),
            json!({"mfa": {"configured": false}}),
            &[("mfa.configured", "modified")],
        ),
        (
            json!({"attributes": [{"name": "sudo", "value": "no"}, {"name": "a", "value": 1}]}),
            json!({"attributes": [{"name": "a", "value": 1}, {"name": "sudo", "value": "yes"}]}),
            &[("attributes[name=sudo].value", "modified")],
        ),
        (
            json!({"attributes": []}),
            json!({"attributes": [{"name": "x", "value": 1}]}),
            &[("attributes[name=x]", "added")],
        ),
        (
            json!({"tags": ["a", "b"]}),
            json!({"tags": ["c", "b"]}),
            &[("tags[]", "added"), ("tags[]", "removed")],
        ),
        (
            json!({"ssh_keys": [{"_id": "k1", "name": "old"}]}),
            json!({"ssh_keys": [{"_id": "k1", "name": "new"}]}),
            &[("ssh_keys[_id=k1].name", "modified")],
        ),
        (json!({"mfa": {"configured": true}}), json!({"mfa": "weird"}), &[("mfa", "modified")]),
        (json!({"badLoginAttempts": 1}), json!({"badLoginAttempts": 9}), &[]),
    ];
    for (before, after, expected) in cases {
        let mut before = before.clone();
        let mut after = after.clone();
        before["_id"] = json!("u1");
        after["_id"] = json!("u1");
        let events = diff_inventories(
            &inventory(ResourceKind::User, before.clone()),
            &inventory(ResourceKind::User, after.clone()),
            &[ResourceKind::User],
            Utc::now(),
        );
        let got: Vec<(String, String)> = events
            .iter()
            .flat_map(|e| e.changes.iter())
            .map(|c| {
                (c.path.render(), serde_json::to_value(c.op).unwrap().as_str().unwrap().to_owned())
            })
            .collect();
        let want: Vec<(String, String)> =
            expected.iter().map(|(p, o)| ((*p).to_owned(), (*o).to_owned())).collect();
        assert_eq!(got, want, "{before} → {after}");
        if !expected.is_empty() {
            assert_eq!(events[0].op, ChangeOp::Updated);
        }
    }
}
