//! The built-in pack: every rule's own test cases, and the fixture tenant.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use jumpwatch_rules::{Engine, Input, Outcome, RuleType};

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
    for rule in engine.rules().filter(|r| r.rule_type == RuleType::State) {
        let kind = rule.kind.unwrap();
        if tenant.count(kind) > 0 {
            assert!(
                failures.contains_key(rule.id.as_str()) || !PLANTED.contains(&rule.id.as_str()),
                "{}: nothing found in the fixture tenant",
                rule.id
            );
        }
    }
    for id in PLANTED {
        assert!(
            failures.contains_key(id),
            "{id}: the fixture tenant plants it, but nothing was found"
        );
    }
    // A resource of each kind is judged by the rules of its kind only.
    assert!(results.iter().all(|r| engine.rule(&r.rule).unwrap().kind == r.kind));
}

/// The rules the simulator's generator plants a failure of in the fixture tenant.
const PLANTED: &[&str] = &[
    "jc.user.mfa_not_enrolled",
    "jc.user.passwordless_sudo",
    "jc.user.global_sudo",
    "jc.system.fde_not_active",
    "jc.system.not_reporting",
    "jc.radius.mfa_not_enforced",
    "jc.iplist.overly_broad",
    "jc.command.plaintext_secret",
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
