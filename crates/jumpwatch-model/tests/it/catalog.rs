//! The catalog's kinds read their example documents and hostile variants of them without error,
//! and write them back unchanged.

use jumpwatch_model::types::{System, User};
use jumpwatch_model::{ResourceKind, TypedValue, decode};
use serde_json::{Map, Value, json};

use crate::support::{examples, resource};

#[test]
fn the_catalog_has_the_kinds_the_project_promises() {
    let resources = ResourceKind::resources().count();
    let relations = ResourceKind::relations().count();
    assert!(resources >= 32, "{resources} resource kinds");
    assert!(relations >= 6, "{relations} relation kinds");
    for name in [
        "user",
        "system",
        "application",
        "command",
        "command_result",
        "radius_server",
        "organization",
        "administrator",
        "user_group",
        "system_group",
        "policy",
        "policy_group",
        "policy_template",
        "policy_result",
        "directory",
        "gsuite",
        "office365",
        "ldap_server",
        "active_directory",
        "authn_policy",
        "ip_list",
        "apple_mdm",
        "software_app",
        "si_apps",
        "si_programs",
        "si_alf",
        "si_disk_encryption",
        "si_bitlocker_info",
        "si_windows_security_center",
        "si_os_version",
        "si_users",
        "si_sip_config",
        "si_authorized_keys",
        "user_group_member",
        "system_group_member",
        "system_user_binding",
        "policy_system_binding",
        "policy_system_group_binding",
        "application_user_group_binding",
    ] {
        let kind: ResourceKind = name.parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(kind.to_string(), name);
    }
    assert!("users".parse::<ResourceKind>().is_err());
}

#[test]
fn every_kind_is_described_completely() {
    for kind in ResourceKind::ALL {
        let meta = kind.meta();
        assert_eq!(meta.kind, *kind);
        assert!(meta.examples.len() >= 2, "{kind}: fewer than two examples");
        assert!(!meta.fields.is_empty(), "{kind}: no fields");
        assert!(meta.list_path.starts_with('/'), "{kind}");
        assert!(meta.max_limit >= 100, "{kind}: max_limit {}", meta.max_limit);
        if let Some(parent) = meta.parent {
            assert!(meta.list_path.contains(&format!("{{{}}}", parent.param)), "{kind}");
        }
        assert_eq!(kind.is_relation(), meta.relation.is_some());
        if kind.is_relation() {
            assert!(meta.parent.is_some(), "{kind}: a relation without a parent");
        }
    }
}

#[test]
fn every_example_reads_as_a_resource_and_round_trips_through_its_typed_struct() {
    for (kind, name, doc) in examples() {
        let resource = resource(kind, doc.clone()).unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
        let decoded = kind.decode_typed(&resource.doc).unwrap();
        assert_eq!(
            decoded.value, doc,
            "{kind} example {name}: decode → encode changed the document"
        );
        if name == "ordinary" {
            assert!(
                decoded.issues.is_empty(),
                "{kind} example {name}: the catalog's types disagree with its own example: {:?}",
                decoded.issues
            );
        }
    }
}

/// Applies `f` to every value of a document, depth first.
fn map_values(value: &Value, f: &dyn Fn(&Value) -> Value) -> Value {
    let inner = match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| map_values(v, f)).collect()),
        Value::Object(object) => {
            Value::Object(object.iter().map(|(k, v)| (k.clone(), map_values(v, f))).collect())
        }
        other => other.clone(),
    };
    f(&inner)
}

/// Documents an API could send that do not look like the catalog says.
fn hostile_variants(doc: &Value) -> Vec<(&'static str, Value)> {
    let object = doc.as_object().cloned().unwrap_or_default();
    let mut variants = Vec::new();
    // Every member null.
    variants.push((
        "all null",
        Value::Object(object.keys().map(|k| (k.clone(), Value::Null)).collect()),
    ));
    // Every member of the wrong type.
    variants.push((
        "all wrong types",
        Value::Object(
            object.keys().map(|k| (k.clone(), json!({"unexpected": [1, "x"]}))).collect(),
        ),
    ));
    variants.push((
        "all arrays",
        Value::Object(object.keys().map(|k| (k.clone(), json!([[]]))).collect()),
    ));
    // Objects missing.
    variants.push((
        "objects missing",
        Value::Object(
            object
                .iter()
                .filter(|(_, v)| !v.is_object())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
    ));
    // Unknown strings everywhere (unknown enum values, unparsable timestamps).
    variants.push((
        "unknown strings",
        map_values(doc, &|v| {
            if v.is_string() { json!("SOMETHING_NEW_IN_2030") } else { v.clone() }
        }),
    ));
    // Numbers and booleans sent as strings.
    variants.push((
        "scalars as strings",
        map_values(doc, &|v| match v {
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            other => other.clone(),
        }),
    ));
    // Unknown fields at every level.
    variants.push((
        "unknown fields",
        map_values(doc, &|v| match v {
            Value::Object(o) => {
                let mut o = o.clone();
                o.insert("zzUnknownField".into(), json!({"nested": [null, 1.5, "x"]}));
                Value::Object(o)
            }
            other => other.clone(),
        }),
    ));
    variants.push(("empty", Value::Object(Map::new())));
    variants
}

#[test]
fn hostile_documents_decode_without_error_and_lose_nothing() {
    for (kind, name, doc) in examples() {
        for (variant, hostile) in hostile_variants(&doc) {
            let decoded = kind
                .decode_typed(&hostile)
                .unwrap_or_else(|e| panic!("{kind} {name} ({variant}): {e}"));
            assert_eq!(
                decoded.value, hostile,
                "{kind} {name} ({variant}): decode → encode lost data"
            );
            for issue in &decoded.issues {
                assert!(issue.path.starts_with('$'), "{issue}");
            }
        }
    }
}

#[test]
fn numbers_sent_as_strings_read_as_numbers() {
    // The catalog's ordinary examples, with every number and boolean sent as a string, give
    // no issue on the fields typed int, float or bool.
    for (kind, name, doc) in examples().into_iter().filter(|(_, n, _)| *n == "ordinary") {
        let stringly =
            hostile_variants(&doc).into_iter().find(|(v, _)| *v == "scalars as strings").unwrap().1;
        let decoded = kind.decode_typed(&stringly).unwrap();
        let numeric: Vec<_> = decoded
            .issues
            .iter()
            .filter(|i| matches!(i.expected, "integer" | "number" | "bool"))
            .collect();
        assert!(numeric.is_empty(), "{kind} {name}: {numeric:?}");
    }
}

#[test]
fn typed_fields_are_readable_and_issues_name_their_path() {
    let doc = json!({
        "_id": "64a1f0c2e4b0a1b2c3d4e5f6",
        "username": "ada",
        "state": "ON_LEAVE",
        "mfa": {"configured": "yes", "exclusionDays": "3"},
        "mfaEnrollment": {"overallStatus": "ENROLLED"},
        "ssh_keys": [{"_id": "k1", "create_date": "not a date"}],
        "unix_uid": 5001.0,
        "sudo": null,
    });
    let user = decode::<User>(&doc).unwrap();
    let value = &user.value;
    assert_eq!(value.username.as_deref(), Some("ada"));
    assert_eq!(
        value.state.as_ref().map(jumpwatch_model::types::UserState::as_str),
        Some("ON_LEAVE")
    );
    assert!(matches!(value.state, Some(jumpwatch_model::types::UserState::Other(_))));
    assert_eq!(value.mfa.as_ref().and_then(|m| m.exclusion_days), Some(3));
    assert_eq!(value.mfa.as_ref().and_then(|m| m.configured), None);
    assert_eq!(
        value.mfa_enrollment.as_ref().and_then(|m| m.overall_status.clone()),
        Some(jumpwatch_model::types::MfaEnrollmentStatus::Enrolled)
    );
    assert_eq!(value.unix_uid, Some(5001));
    assert_eq!(value.sudo, None);
    let paths: Vec<&str> = user.issues.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["$.mfa.configured", "$.ssh_keys[0].create_date"]);
    assert_eq!(value.encode(), doc);

    // Changing a typed field writes the new value, not the original.
    let mut changed = user.value.clone();
    changed.unix_uid = Some(6000);
    changed.sudo = Some(true);
    let encoded = changed.encode();
    assert_eq!(encoded["unix_uid"], json!(6000));
    assert_eq!(encoded["sudo"], json!(true));
}

#[test]
fn typed_structs_work_with_serde() {
    let doc = json!({"_id": "5e8c9f0a1b2c3d4e5f607182", "hostname": "ada-mbp", "fde": {"active": true}, "new": 1});
    let system: System = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(system.hostname.as_deref(), Some("ada-mbp"));
    assert_eq!(serde_json::to_value(&system).unwrap(), doc);
    assert!(serde_json::from_value::<System>(json!([1, 2])).is_err());
}
