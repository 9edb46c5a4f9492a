//! Laws of the normalizer and the content hash.

use jumpwatch_model::catalog::ArrayIdentity;
use jumpwatch_model::{Normalizer, ResourceKind};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::support::examples;

/// Arbitrary JSON, a few levels deep, with keys from a small alphabet so that rules match.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e6..1.0e6f64).prop_map(Value::from),
        "[a-z0-9 ]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-e]{1,2}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Writes JSON with object keys in a shuffled order (the order a server chose), so parsing it
/// gives a map built in that order, whichever map `serde_json` was built with.
fn write_shuffled(value: &Value, seed: &mut u64, out: &mut String) {
    match value {
        Value::Object(object) => {
            let mut members: Vec<(&String, &Value)> = object.iter().collect();
            // A small deterministic shuffle.
            for i in (1..members.len()).rev() {
                *seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let j = (*seed >> 33) as usize % (i + 1);
                members.swap(i, j);
            }
            out.push('{');
            for (index, (key, member)) in members.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_shuffled(member, seed, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_shuffled(item, seed, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn rules() -> Normalizer {
    Normalizer::from_rules(
        ["a", "b.c", "d[].e"],
        ["s", "b.s", "d[].s"],
        [("sa", ArrayIdentity::Set), ("ka", ArrayIdentity::Keyed("k"))],
    )
    .unwrap()
}

/// Every path to a scalar leaf of a document, as JSON pointers, with the leaf.
fn leaves(value: &Value, pointer: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(object) => {
            for (key, member) in object {
                leaves(member, format!("{pointer}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                leaves(item, format!("{pointer}/{index}"), out);
            }
        }
        other => out.push((pointer, other.clone())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_hash_does_not_depend_on_key_order(doc in json_value(), seed in any::<u64>()) {
        let mut text = String::new();
        let mut seed = seed;
        write_shuffled(&doc, &mut seed, &mut text);
        let reparsed: Value = serde_json::from_str(&text).unwrap();
        let normalizer = rules();
        prop_assert_eq!(normalizer.hash(&doc), normalizer.hash(&reparsed));
        let system = Normalizer::for_kind(ResourceKind::System);
        prop_assert_eq!(system.hash(&doc), system.hash(&reparsed));
    }

    #[test]
    fn the_hash_is_the_hash_of_the_normalized_document(doc in json_value()) {
        let normalizer = rules();
        let normalized = normalizer.normalize(&doc);
        prop_assert_eq!(normalizer.hash(&doc), normalizer.hash(&normalized));
        // Normalizing twice changes nothing more.
        prop_assert_eq!(normalizer.normalize(&normalized), normalized);
    }

    #[test]
    fn changes_at_volatile_paths_do_not_change_the_hash(
        doc in json_value(),
        a in json_value(),
        c in json_value(),
        e in json_value(),
    ) {
        let normalizer = rules();
        let mut base = json!({"b": {"x": 1}, "d": [{"e": 1, "f": 2}, {"f": 3}], "keep": doc});
        let before = normalizer.hash(&base);
        base["a"] = a;
        base["b"]["c"] = c;
        base["d"][1]["e"] = e;
        prop_assert_eq!(before, normalizer.hash(&base));
    }

    #[test]
    fn any_other_change_changes_the_hash(doc in json_value(), pick in any::<prop::sample::Index>(), to in "[A-Z]{1,6}") {
        // Rules with no sets: in a set, a changed element may equal another one.
        let normalizer = Normalizer::from_rules(["a"], ["s"], []).unwrap();
        let doc = json!({"keep": doc, "fixed": 0});
        let mut all = Vec::new();
        leaves(&doc, String::new(), &mut all);
        let candidates: Vec<_> = all.into_iter().filter(|(_, v)| !v.is_null()).collect();
        let (pointer, _) = &candidates[pick.index(candidates.len())];
        let mut changed = doc.clone();
        // Upper-case letters never appear in generated values: this is a real change.
        *changed.pointer_mut(pointer).unwrap() = Value::String(to);
        prop_assert_ne!(normalizer.hash(&doc), normalizer.hash(&changed));
    }

    #[test]
    fn set_and_keyed_arrays_compare_in_any_order(items in prop::collection::vec("[a-z]{1,4}", 0..8), seed in any::<u64>()) {
        let normalizer = rules();
        let keyed: Vec<Value> = items.iter().enumerate().map(|(i, k)| json!({"k": format!("{k}{i}"), "v": i})).collect();
        let doc = json!({"sa": items, "ka": keyed});
        let mut shuffled = doc.clone();
        let mut seed = seed;
        for array in ["sa", "ka"] {
            let items = shuffled[array].as_array_mut().unwrap();
            for i in (1..items.len()).rev() {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                items.swap(i, (seed >> 33) as usize % (i + 1));
            }
        }
        prop_assert_eq!(normalizer.hash(&doc), normalizer.hash(&shuffled));
        prop_assert_eq!(normalizer.normalize(&doc), normalizer.normalize(&shuffled));
    }

    #[test]
    fn secrets_never_appear_in_normalized_or_redacted_output(
        secret in "[A-Za-z0-9]{12,20}",
        doc in json_value(),
    ) {
        let secret = format!("SECRET-{secret}");
        let normalizer = rules();
        let doc = json!({
            "s": secret,
            "b": {"s": {"nested": [secret]}},
            "d": [{"s": secret, "other": 1}],
            "keep": doc,
        });
        let normalized = normalizer.normalize(&doc).to_string();
        prop_assert!(!normalized.contains(&secret), "{}", normalized);
        let mut redacted = doc.clone();
        normalizer.redact(&mut redacted);
        prop_assert!(!redacted.to_string().contains(&secret));
        // A change of the secret is still a change.
        let mut other = doc.clone();
        other["s"] = json!("SECRET-another-value");
        prop_assert_ne!(normalizer.hash(&doc), normalizer.hash(&other));
    }
}

#[test]
fn catalog_secrets_are_redacted() {
    let radius =
        json!({"_id": "r1", "name": "office wifi", "sharedSecret": "correct-horse-battery"});
    let normalizer = Normalizer::for_kind(ResourceKind::RadiusServer);
    assert!(!normalizer.normalize(&radius).to_string().contains("correct-horse"));
    let policy = json!({
        "id": "p1",
        "values": [
            {"configFieldID": "f1", "value": "wifi-psk-do-not-leak", "sensitive": true},
            {"configFieldID": "f2", "value": 900, "sensitive": false},
        ],
    });
    let normalized = Normalizer::for_kind(ResourceKind::Policy).normalize(&policy);
    assert!(!normalized.to_string().contains("wifi-psk"), "{normalized}");
    assert!(normalized.to_string().contains("900"));
}

#[test]
fn a_check_in_is_not_a_change_but_a_setting_is() {
    let system = examples()
        .into_iter()
        .find(|(kind, name, _)| *kind == ResourceKind::System && *name == "ordinary")
        .unwrap()
        .2;
    let normalizer = Normalizer::for_kind(ResourceKind::System);
    let mut checked_in = system.clone();
    checked_in["lastContact"] = json!("2031-01-01T00:00:00Z");
    checked_in["remoteIP"] = json!("203.0.113.99");
    assert_eq!(normalizer.hash(&system), normalizer.hash(&checked_in));
    let mut changed = system.clone();
    changed["allowSshRootLogin"] = json!(!system["allowSshRootLogin"].as_bool().unwrap_or(false));
    assert_ne!(normalizer.hash(&system), normalizer.hash(&changed));
}

#[test]
fn null_and_missing_are_the_same() {
    let normalizer = Normalizer::for_kind(ResourceKind::User);
    let a = json!({"_id": "u1", "department": null});
    let b = json!({"_id": "u1"});
    assert_eq!(normalizer.hash(&a), normalizer.hash(&b));
    let mut m = Map::new();
    m.insert("_id".into(), json!("u1"));
    assert_eq!(normalizer.normalize(&a), Value::Object(m));
}
