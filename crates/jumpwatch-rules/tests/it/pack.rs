//! The built-in pack: every rule's own test cases, and the fixture tenant.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeZone, Utc};
use jumpwatch_model::ResourceKind;
use jumpwatch_rules::{Engine, Input, Outcome};
use serde_json::Value;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap()
}

#[test]
fn every_rule_passes_its_own_test_cases() {
    let engine = Engine::builtin().unwrap();
    assert!(engine.len() >= 50, "the pack has {} rules", engine.len());
    for rule in engine.cel_rules() {
        let has = |outcome| rule.tests.iter().any(|t| t.expect == outcome);
        assert!(has(Outcome::Fail), "{}: no failing case", rule.id);
        assert!(has(Outcome::Pass), "{}: no passing case", rule.id);
        if rule.unknown.is_some() {
            assert!(
                has(Outcome::Unknown),
                "{}: an unknown condition, but no unknown case",
                rule.id
            );
        }
    }
    let failures = engine.test(now());
    let report: Vec<String> = failures.iter().map(ToString::to_string).collect();
    assert!(failures.is_empty(), "{}", report.join("\n"));
}

#[test]
fn failing_cases_render_their_messages_whole() {
    let engine = Engine::builtin().unwrap();
    for rule in engine.cel_rules() {
        for case in rule.tests.iter().filter(|t| t.expect == Outcome::Fail) {
            let verdict = engine.check(rule, &case.input, now());
            let message = verdict.message.unwrap();
            assert!(!message.contains("{{"), "{}: {message}", rule.id);
        }
    }
}

#[test]
fn state_rules_find_what_the_simulator_planted_and_never_err() {
    let tenant = jumpwatch_sim::fixtures::load_small().unwrap();
    let engine = Engine::builtin().unwrap();
    let results = engine.evaluate_state(&tenant, jumpwatch_sim::fixtures::now());
    let mut failures: BTreeMap<&str, usize> = BTreeMap::new();
    for result in &results {
        if result.outcome == Outcome::Fail {
            *failures.entry(result.rule.as_str()).or_default() += 1;
        }
        if result.outcome == Outcome::Unknown {
            let reason = result.message.as_deref().unwrap_or_default();
            // Unknown means the evidence is missing, never that a condition broke.
            assert!(
                !reason.contains("gave") && !reason.contains("No such key"),
                "{} {}: {reason}",
                result.rule,
                result.resource
            );
        }
    }
    // What the generator planted, counted straight from the documents, without the rules.
    for (rule, kind, planted) in PLANTED {
        let want = tenant.resources(*kind).filter(|r| planted(&r.doc)).count();
        assert!(want > 0, "{rule}: the fixture tenant plants none");
        assert_eq!(failures.get(rule).copied().unwrap_or(0), want, "{rule}");
    }
    // A resource of each kind is judged by the rules of its kind only.
    assert!(results.iter().all(|r| engine.rule(&r.rule).unwrap().kind == r.kind));
}

fn flag(doc: &Value, key: &str) -> bool {
    doc.get(key) == Some(&Value::Bool(true))
}

fn suspended(doc: &Value) -> bool {
    flag(doc, "suspended") || doc["state"] == "SUSPENDED"
}

/// A rule, its kind, and the documents the generator plants a failure of it in, as plain JSON
/// tests (independent of the rules' CEL).
type Planted = (&'static str, ResourceKind, fn(&Value) -> bool);

const PLANTED: &[Planted] = &[
    ("jc.user.passwordless_sudo", ResourceKind::User, |d| {
        !suspended(d) && flag(d, "passwordless_sudo")
    }),
    ("jc.user.global_sudo", ResourceKind::User, |d| !suspended(d) && flag(d, "sudo")),
    ("jc.user.password_never_expires", ResourceKind::User, |d| {
        !suspended(d) && flag(d, "password_never_expires")
    }),
    ("jc.system.fde_not_active", ResourceKind::System, |d| {
        (d["osFamily"] == "darwin" || d["osFamily"] == "windows")
            && d["fde"]["active"] == Value::Bool(false)
    }),
    ("jc.system.ssh_root_login_allowed", ResourceKind::System, |d| {
        d["osFamily"].is_string() && d["osFamily"] != "windows" && flag(d, "allowSshRootLogin")
    }),
    ("jc.radius.mfa_not_enforced", ResourceKind::RadiusServer, |d| d["mfa"] == "DISABLED"),
    ("jc.iplist.overly_broad", ResourceKind::IpList, |d| {
        d["ips"].as_array().into_iter().flatten().filter_map(Value::as_str).any(|ip| {
            let prefix = ip
                .split_once('/')
                .map_or(if ip.contains(':') { 128 } else { 32 }, |(_, p)| p.parse().unwrap_or(-1));
            prefix < if ip.contains(':') { 32 } else { 8 }
        })
    }),
    ("jc.usergroup.sudo_attribute", ResourceKind::UserGroup, |d| {
        flag(&d["attributes"]["sudo"], "enabled")
    }),
];

#[test]
fn secrets_never_reach_a_message() {
    let engine = Engine::builtin().unwrap();
    let rule = engine.cel_rules().iter().find(|r| r.id == "jc.radius.mfa_not_enforced").unwrap();
    let doc = serde_json::json!({"_id": "r1", "name": "{{r.sharedSecret}}", "mfa": "DISABLED", "sharedSecret": "correct-horse"});
    let verdict = engine.check(rule, &Input::doc(doc), Utc::now());
    assert_eq!(verdict.outcome, Outcome::Fail);
    let shown = format!("{:?} {:?}", verdict.message, verdict.evidence);
    assert!(!shown.contains("correct-horse"), "{shown}");
}

/// Policies reach devices through policy groups: every reporting Mac of the Managed Macs group is
/// covered by the screen-lock and firewall policies of the "macOS baseline" policy group bound to
/// that group, and a Mac no policy group reaches still fails both rules.
#[test]
fn policies_reach_devices_through_policy_groups() {
    use jumpwatch_model::{
        Inventory, PolicyGroupId, ResourceId, ResourceKind, SystemGroupId, SystemId,
    };

    const SCREEN_LOCK: &str = "jc.policy.screen_lock_missing_or_weak";
    const FIREWALL: &str = "jc.policy.firewall_not_assigned";

    fn named(tenant: &Inventory, kind: ResourceKind, name: &str) -> ResourceId {
        let found = tenant.resources(kind).find(|r| r.doc["name"] == name);
        found.unwrap_or_else(|| panic!("no {kind} named {name}")).id.clone()
    }

    let tenant = jumpwatch_sim::fixtures::load_small().unwrap();
    let engine = Engine::builtin().unwrap();
    let results = engine.evaluate_state(&tenant, jumpwatch_sim::fixtures::now());
    let outcome = |rule: &str, system: &ResourceId| {
        let result = results.iter().find(|r| r.rule == rule && r.resource == system.as_str());
        result.unwrap_or_else(|| panic!("{rule}: no result for {system}")).outcome
    };
    let baseline = named(&tenant, ResourceKind::PolicyGroup, "macOS baseline");
    let managed = named(&tenant, ResourceKind::SystemGroup, "Managed Macs");

    let template = |policy: &ResourceId| {
        let policy = tenant.get(ResourceKind::Policy, policy);
        policy.and_then(|p| p.doc["template"]["name"].as_str()).unwrap_or_default()
    };

    // The fixture binds the policy group to the system group, with the Mac screen lock and
    // firewall among its members.
    assert!(
        tenant
            .edges_from(ResourceKind::PolicyGroupSystemGroupBinding, &baseline)
            .any(|e| *e.to == managed)
    );
    let templates: Vec<&str> = tenant
        .members_of_policy_group(&PolicyGroupId::from(baseline.clone()))
        .map(|e| template(e.to))
        .collect();
    assert!(
        templates.contains(&"lock_screen_darwin") && templates.contains(&"firewall_darwin"),
        "{templates:?}"
    );

    // Every reporting Mac of Managed Macs is covered through the policy group.
    let macs: Vec<ResourceId> = tenant
        .members_of_system_group(&SystemGroupId::from(managed.clone()))
        .map(|e| e.to.clone())
        .filter(|mac| outcome(FIREWALL, mac) != Outcome::NotApplicable)
        .collect();
    assert!(!macs.is_empty(), "no reporting Mac in Managed Macs");
    for mac in &macs {
        let bindings = tenant.policies_applying_to(&SystemId::from(mac.clone()));
        assert!(
            bindings
                .iter()
                .any(|b| b.via_policy_group == Some(&baseline)
                    && b.via_system_group == Some(&managed)),
            "{mac}: {bindings:?}"
        );
        // Only through the policy group: no screen-lock or firewall policy is bound otherwise.
        assert!(
            bindings
                .iter()
                .filter(|b| ["lock_screen", "firewall"]
                    .iter()
                    .any(|t| template(b.policy).contains(t)))
                .all(|b| b.via_policy_group == Some(&baseline)),
            "{mac}: {bindings:?}"
        );
        assert_eq!(outcome(SCREEN_LOCK, mac), Outcome::Pass, "{mac}");
        assert_eq!(outcome(FIREWALL, mac), Outcome::Pass, "{mac}");
    }

    // A reporting Mac that no policy group reaches has neither.
    let outside: Vec<&ResourceId> = tenant
        .resources(ResourceKind::System)
        .filter(|s| s.doc["osFamily"] == "darwin")
        .filter(|s| {
            let bindings = tenant.policies_applying_to(&SystemId::from(s.id.clone()));
            bindings.iter().all(|b| b.via_policy_group.is_none())
        })
        .map(|s| &s.id)
        .filter(|mac| outcome(FIREWALL, mac) != Outcome::NotApplicable)
        .collect();
    assert!(!outside.is_empty(), "every reporting Mac is reached by a policy group");
    for mac in outside {
        assert_eq!(outcome(SCREEN_LOCK, mac), Outcome::Fail, "{mac}");
        assert_eq!(outcome(FIREWALL, mac), Outcome::Fail, "{mac}");
    }

    // A policy group bound to a device directly reaches it too.
    let hardening = named(&tenant, ResourceKind::PolicyGroup, "Windows hardening");
    let device = tenant
        .edges_from(ResourceKind::PolicyGroupSystemBinding, &hardening)
        .map(|e| e.to.clone())
        .next()
        .expect("the fixture binds Windows hardening to a device directly");
    let bindings = tenant.policies_applying_to(&SystemId::from(device.clone()));
    assert!(
        bindings
            .iter()
            .any(|b| b.via_policy_group == Some(&hardening) && b.via_system_group.is_none()),
        "{bindings:?}"
    );

    // Rules see the way in `rel.policies`: `via_policy_group` and `via_group`, each policy once.
    let mut probe = Engine::new();
    probe.add_pack("probe.toml", POLICY_GROUP_PROBES).unwrap();
    assert!(probe.test(jumpwatch_sim::fixtures::now()).is_empty());
    let results = probe.evaluate_state(&tenant, jumpwatch_sim::fixtures::now());
    let failing = |rule: &str| -> BTreeSet<&str> {
        results
            .iter()
            .filter(|r| r.rule == rule && r.outcome == Outcome::Fail)
            .map(|r| r.resource.as_str())
            .collect()
    };
    // The members of the system groups a policy group (with member policies) is bound to.
    let in_bound_groups: BTreeSet<&str> = tenant
        .resources(ResourceKind::PolicyGroupSystemGroupBinding)
        .filter(|binding| {
            let policy_group = binding.parent.as_ref().unwrap();
            tenant.edges_from(ResourceKind::PolicyGroupMember, policy_group).next().is_some()
        })
        .flat_map(|binding| {
            let group = SystemGroupId::from(binding.target().unwrap());
            tenant.members_of_system_group(&group).map(|e| e.to.as_str()).collect::<Vec<_>>()
        })
        .collect();
    assert!(in_bound_groups.is_superset(&macs.iter().map(ResourceId::as_str).collect()));
    assert_eq!(failing("probe.through_a_policy_group_bound_to_a_group"), in_bound_groups);
    assert_eq!(
        failing("probe.through_a_policy_group_bound_to_it"),
        BTreeSet::from([device.as_str()])
    );
    assert_eq!(failing("probe.a_policy_twice"), BTreeSet::new());
}

/// Rules that fail where `rel.policies` shows a policy-group path, or a policy twice.
const POLICY_GROUP_PROBES: &str = r#"
[[rules]]
id = "probe.through_a_policy_group_bound_to_a_group"
title = "A policy reaches the device through a policy group bound to a system group"
severity = "info"
kind = "system"
fails = "rel.policies.exists(p, has(p.via_policy_group) && has(p.via_group))"
message = "{{r.displayName}}"
rationale = "r"
remediation = "r"

[[rules.tests]]
expect = "fail"
doc = '{"_id": "s1", "displayName": "mbp"}'
rel = '{"policies": [{"id": "p1", "via_group": "sg1", "via_policy_group": "pg1"}]}'

[[rules.tests]]
expect = "pass"
doc = '{"_id": "s1", "displayName": "mbp"}'
rel = '{"policies": [{"id": "p1", "via_policy_group": "pg1"}]}'

[[rules]]
id = "probe.through_a_policy_group_bound_to_it"
title = "A policy reaches the device through a policy group bound to it"
severity = "info"
kind = "system"
fails = "rel.policies.exists(p, has(p.via_policy_group) && !has(p.via_group))"
message = "{{r.displayName}}"
rationale = "r"
remediation = "r"

[[rules.tests]]
expect = "fail"
doc = '{"_id": "s1", "displayName": "mbp"}'
rel = '{"policies": [{"id": "p1", "via_policy_group": "pg1"}]}'

[[rules.tests]]
expect = "pass"
doc = '{"_id": "s1", "displayName": "mbp"}'
rel = '{"policies": [{"id": "p1", "via_group": "sg1"}]}'

[[rules]]
id = "probe.a_policy_twice"
title = "A policy appears twice"
severity = "info"
kind = "system"
fails = "rel.policies.exists(p, rel.policies.filter(q, q.id == p.id).size() > 1)"
message = "{{r.displayName}}"
rationale = "r"
remediation = "r"

[[rules.tests]]
expect = "fail"
doc = '{"_id": "s1", "displayName": "mbp"}'
rel = '{"policies": [{"id": "p1"}, {"id": "p1", "via_group": "sg1"}]}'

[[rules.tests]]
expect = "pass"
doc = '{"_id": "s1", "displayName": "mbp"}'
rel = '{"policies": [{"id": "p1"}, {"id": "p2"}]}'
"#;
