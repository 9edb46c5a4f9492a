//! Findings across audits: open, refreshed, resolved, reopened, suppressed until the suppression
//! expires — driven through `Engine::audit` as the Monitor drives it.

use chrono::{DateTime, Duration, TimeZone, Utc};
use jumpwatch_changes::diff::diff_inventories;
use jumpwatch_model::{Inventory, Resource, ResourceKind, TenantId};
use jumpwatch_rules::{
    Audit, AuditInput, Engine, Finding, FindingState, Reason, Suppression, fingerprint,
};
use serde_json::{Value, json};

const RULE: &str = "jc.user.passwordless_sudo";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn inventory(users: &[Value]) -> Inventory {
    let mut inventory = Inventory::new(tenant());
    for doc in users {
        inventory.insert(Resource::from_doc(ResourceKind::User, doc.clone()).unwrap()).unwrap();
    }
    inventory
}

fn user(id: &str, name: &str, passwordless: Option<bool>) -> Value {
    let mut doc = json!({"_id": id, "username": name, "state": "ACTIVATED"});
    if let Some(flag) = passwordless {
        doc["passwordless_sudo"] = json!(flag);
    }
    doc
}

struct Run {
    engine: Engine,
    findings: Vec<Finding>,
    suppressions: Vec<Suppression>,
}

impl Run {
    fn new() -> Self {
        Self { engine: Engine::builtin().unwrap(), findings: Vec::new(), suppressions: Vec::new() }
    }

    fn audit(&mut self, users: &[Value], now: DateTime<Utc>) -> Audit {
        let inventory = inventory(users);
        let input = AuditInput::new(&inventory, now).suppressions(&self.suppressions);
        let audit = self.engine.audit(input, std::mem::take(&mut self.findings));
        self.findings = audit.findings.findings.values().cloned().collect();
        audit
    }

    fn finding(&self, resource: &str) -> Option<&Finding> {
        let print = fingerprint(&tenant(), RULE, resource);
        self.findings.iter().find(|f| f.fingerprint == print)
    }

    fn moves(audit: &Audit, resource: &str) -> Vec<(Option<FindingState>, FindingState, Reason)> {
        let print = fingerprint(&tenant(), RULE, resource);
        audit
            .findings
            .transitions
            .iter()
            .filter(|t| t.fingerprint == print)
            .map(|t| (t.from, t.to, t.reason))
            .collect()
    }
}

#[test]
fn a_finding_opens_resolves_reopens_and_resolves_on_deletion() {
    let mut run = Run::new();
    let bad = user("u1", "ada", Some(true));
    let good = user("u1", "ada", Some(false));

    let audit = run.audit(std::slice::from_ref(&bad), t0());
    assert_eq!(Run::moves(&audit, "u1"), [(None, FindingState::Open, Reason::Opened)]);
    let opened = run.finding("u1").unwrap().clone();
    assert_eq!((opened.first_seen, opened.last_seen), (t0(), t0()));
    assert!(opened.message.as_deref().unwrap().starts_with("ada"));
    assert!(
        opened
            .evidence
            .iter()
            .any(|e| e.path == "passwordless_sudo" && e.value == Some(json!(true)))
    );

    // Still failing: refreshed, no transition.
    let later = t0() + Duration::hours(1);
    let audit = run.audit(std::slice::from_ref(&bad), later);
    assert!(Run::moves(&audit, "u1").is_empty());
    assert_eq!(run.finding("u1").unwrap().last_seen, later);
    assert_eq!(run.finding("u1").unwrap().first_seen, t0());

    let audit = run.audit(std::slice::from_ref(&good), t0() + Duration::hours(2));
    assert_eq!(
        Run::moves(&audit, "u1"),
        [(Some(FindingState::Open), FindingState::Resolved, Reason::Passed)]
    );
    assert_eq!(run.finding("u1").unwrap().resolved_at, Some(t0() + Duration::hours(2)));

    let audit = run.audit(std::slice::from_ref(&bad), t0() + Duration::hours(3));
    assert_eq!(
        Run::moves(&audit, "u1"),
        [(Some(FindingState::Resolved), FindingState::Open, Reason::Reopened)]
    );
    let reopened = run.finding("u1").unwrap();
    assert_eq!((reopened.reopened, reopened.first_seen, reopened.resolved_at), (1, t0(), None));

    let audit = run.audit(&[], t0() + Duration::hours(4));
    assert_eq!(
        Run::moves(&audit, "u1"),
        [(Some(FindingState::Open), FindingState::Resolved, Reason::Deleted)]
    );
}

#[test]
fn a_finding_failing_again_as_before_is_only_seen_and_a_new_message_rewrites_it() {
    let mut run = Run::new();
    let print = fingerprint(&tenant(), RULE, "u1");
    let audit = run.audit(&[user("u1", "ada", Some(true))], t0());
    assert!(audit.findings.changed.contains(&print), "a new finding is stored whole");
    assert!(audit.findings.seen.is_empty(), "nothing was stored before");

    let later = t0() + Duration::hours(1);
    let audit = run.audit(&[user("u1", "ada", Some(true))], later);
    assert!(!audit.findings.changed.contains(&print));
    // Every finding of the user (other rules fail on it too) is seen again, none rewritten.
    assert!(audit.findings.changed.is_empty(), "{:?}", audit.findings.changed);
    assert!(audit.findings.seen.contains(&print));
    assert!(audit.findings.seen_findings().all(|f| f.last_seen == later && f.first_seen == t0()));
    let commit = jumpwatch_rules::AuditCommit::of(tenant(), &audit);
    assert!(commit.findings.is_empty());
    assert!(commit.seen.contains(&(print.clone(), later)));

    // Renamed: the message names the user, so the finding is rewritten, not only seen.
    let audit = run.audit(&[user("u1", "ada.l", Some(true))], t0() + Duration::hours(2));
    assert!(audit.findings.changed.contains(&print));
    assert!(!audit.findings.seen.contains(&print));
    assert!(run.finding("u1").unwrap().message.as_deref().unwrap().starts_with("ada.l"));

    // Suppressed while failing as before: stored whole, with its new state.
    run.suppressions
        .push(Suppression::new(RULE, "accepted", "me", t0() + Duration::days(9), t0()).unwrap());
    let audit = run.audit(&[user("u1", "ada.l", Some(true))], t0() + Duration::hours(3));
    assert!(audit.findings.changed.contains(&print));
    assert!(!audit.findings.seen.contains(&print));
    assert_eq!(run.finding("u1").unwrap().state, FindingState::Suppressed);
}

#[test]
fn missing_evidence_neither_opens_nor_resolves() {
    let run = Run::new();
    // `fde_not_active` is unknown for a Mac that never reported: no finding.
    let mac =
        |fde: Value| json!({"_id": "s1", "displayName": "mbp", "osFamily": "darwin", "fde": fde});
    let mut inventory = Inventory::new(tenant());
    inventory.insert(Resource::from_doc(ResourceKind::System, mac(Value::Null)).unwrap()).unwrap();
    let audit = run.engine.audit(AuditInput::new(&inventory, t0()), Vec::new());
    let print = fingerprint(&tenant(), "jc.system.fde_not_active", "s1");
    assert!(!audit.findings.findings.contains_key(&print));

    inventory
        .insert(Resource::from_doc(ResourceKind::System, mac(json!({"active": false}))).unwrap())
        .unwrap();
    let audit = run.engine.audit(AuditInput::new(&inventory, t0()), Vec::new());
    assert_eq!(audit.findings.findings[&print].state, FindingState::Open);
    let previous: Vec<Finding> = audit.findings.findings.into_values().collect();

    // The device stops reporting: the finding stays open, it is not resolved.
    inventory.insert(Resource::from_doc(ResourceKind::System, mac(Value::Null)).unwrap()).unwrap();
    let audit = run.engine.audit(AuditInput::new(&inventory, t0() + Duration::hours(1)), previous);
    assert_eq!(audit.findings.findings[&print].state, FindingState::Open);
    assert!(audit.findings.transitions.iter().all(|t| t.fingerprint != print));
}

#[test]
fn a_suppression_hides_a_finding_until_it_expires() {
    let mut run = Run::new();
    let users = [user("u1", "build-bot", Some(true)), user("u2", "ada", Some(true))];
    run.audit(&users, t0());
    let expires = t0() + Duration::days(30);
    run.suppressions.push(
        Suppression::new(RULE, "the build agent needs it", "it@example.com", expires, t0())
            .unwrap()
            .resource("build-*"),
    );

    let audit = run.audit(&users, t0() + Duration::days(1));
    assert_eq!(
        Run::moves(&audit, "u1"),
        [(Some(FindingState::Open), FindingState::Suppressed, Reason::Suppressed)]
    );
    assert_eq!(
        run.finding("u1").unwrap().suppression.as_deref(),
        Some(run.suppressions[0].id.as_str())
    );
    assert_eq!(
        run.finding("u2").unwrap().state,
        FindingState::Open,
        "the pattern names build-* only"
    );

    let audit = run.audit(&users, expires - Duration::seconds(1));
    assert!(Run::moves(&audit, "u1").is_empty());
    assert_eq!(run.finding("u1").unwrap().state, FindingState::Suppressed);

    let audit = run.audit(&users, expires);
    assert_eq!(
        Run::moves(&audit, "u1"),
        [(Some(FindingState::Suppressed), FindingState::Open, Reason::Unsuppressed)]
    );
    assert_eq!(run.finding("u1").unwrap().suppression, None);
}

#[test]
fn a_suppressed_finding_that_passes_resolves() {
    let mut run = Run::new();
    run.suppressions.push(
        Suppression::new(RULE, "accepted", "me", t0() + Duration::days(9), t0())
            .unwrap()
            .resource("u1"),
    );
    let audit = run.audit(&[user("u1", "ada", Some(true))], t0());
    assert_eq!(
        Run::moves(&audit, "u1"),
        [
            (None, FindingState::Open, Reason::Opened),
            (Some(FindingState::Open), FindingState::Suppressed, Reason::Suppressed)
        ]
    );
    let audit = run.audit(&[user("u1", "ada", Some(false))], t0() + Duration::days(1));
    assert_eq!(
        Run::moves(&audit, "u1"),
        [(Some(FindingState::Suppressed), FindingState::Resolved, Reason::Passed)]
    );
}

#[test]
fn findings_of_a_removed_rule_resolve() {
    let mut run = Run::new();
    run.audit(&[user("u1", "ada", Some(true))], t0());
    assert!(run.engine.remove(RULE));
    let audit = run.audit(&[user("u1", "ada", Some(true))], t0() + Duration::hours(1));
    assert_eq!(
        Run::moves(&audit, "u1"),
        [(Some(FindingState::Open), FindingState::Resolved, Reason::RuleRemoved)]
    );
}

#[test]
fn the_fingerprint_is_stable_and_distinct() {
    let a = fingerprint(&tenant(), RULE, "u1");
    assert_eq!(a, fingerprint(&tenant(), RULE, "u1"));
    assert_eq!(a.len(), 32);
    assert_ne!(a, fingerprint(&TenantId::new("other").unwrap(), RULE, "u1"));
    assert_ne!(a, fingerprint(&tenant(), RULE, "u2"));
    // Parts are length-prefixed: moving a character between parts changes the hash.
    assert_ne!(fingerprint(&tenant(), "ab", "c"), fingerprint(&tenant(), "a", "bc"));
}

const CHANGE_RULE: &str = r#"
[[rules]]
id = "acme.user.sudo_granted"
title = "User gained sudo"
severity = "high"
type = "change"
kind = "user"
fails = "became('sudo', true)"
message = "{{r.username}} gained sudo (was {{before.sudo}})"
rationale = "r"
remediation = "f"
open_for = "2d"

[[rules.tests]]
expect = "fail"
before = '{"_id": "u1", "username": "ada", "sudo": false}'
doc = '{"_id": "u1", "username": "ada", "sudo": true}'

[[rules.tests]]
expect = "pass"
before = '{"_id": "u1", "username": "ada", "sudo": true}'
doc = '{"_id": "u1", "username": "ada", "sudo": true, "email": "a@b.c"}'
"#;

#[test]
fn a_change_finding_stays_open_for_its_rules_open_for() {
    let mut engine = Engine::new();
    engine.add_pack("custom.toml", CHANGE_RULE).unwrap();
    assert!(engine.test(t0()).is_empty());
    let before = inventory(&[json!({"_id": "u1", "username": "ada", "sudo": false})]);
    let after = inventory(&[json!({"_id": "u1", "username": "ada", "sudo": true})]);
    let changes = diff_inventories(&before, &after, &[ResourceKind::User], t0());
    let audit = engine.audit(AuditInput::new(&after, t0()).changes(&changes), Vec::new());
    let print = fingerprint(&tenant(), "acme.user.sudo_granted", "u1");
    let finding = &audit.findings.findings[&print];
    assert_eq!(finding.state, FindingState::Open);
    assert_eq!(finding.message.as_deref(), Some("ada gained sudo (was false)"));

    // No change the next polls: still open within two days, resolved after.
    let previous: Vec<Finding> = audit.findings.findings.into_values().collect();
    let audit = engine.audit(AuditInput::new(&after, t0() + Duration::days(1)), previous);
    assert_eq!(audit.findings.findings[&print].state, FindingState::Open);
    let previous: Vec<Finding> = audit.findings.findings.into_values().collect();
    let audit = engine.audit(AuditInput::new(&after, t0() + Duration::days(3)), previous);
    assert_eq!(audit.findings.findings[&print].state, FindingState::Resolved);
    assert_eq!(audit.findings.transitions[0].reason, Reason::Expired);
}
