//! The built-in pack: every rule's own test cases, and the fixture tenant.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use jumpwatch_model::ResourceKind;
use jumpwatch_rules::{Evaluator, Outcome, builtin};

#[test]
fn every_rule_passes_its_own_test_cases() {
    let rules = builtin().unwrap();
    assert!(rules.len() >= 16);
    let now = Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap();
    for rule in &rules {
        assert!(
            rule.tests.iter().any(|t| t.expect == Outcome::Fail),
            "{}: no failing case",
            rule.id
        );
        assert!(rule.tests.iter().any(|t| t.expect != Outcome::Fail), "{}: no other case", rule.id);
        for test in &rule.tests {
            let evaluator = Evaluator::new(now, test.org.as_ref());
            let (outcome, message) = evaluator.evaluate_doc(rule, &test.doc);
            assert_eq!(outcome, test.expect, "{} / {}: {message:?}", rule.id, test.name);
            if outcome == Outcome::Fail {
                let message = message.unwrap();
                assert!(
                    !message.contains('?') || rule.message.contains('?'),
                    "{}: a placeholder did not resolve: {message}",
                    rule.id
                );
            }
        }
    }
}

#[test]
fn every_rule_finds_what_the_simulator_planted_and_never_errs() {
    let tenant = jumpwatch_sim::fixtures::load_small().unwrap();
    let evaluator = Evaluator::new(jumpwatch_sim::fixtures::now(), None);
    let rules = builtin().unwrap();
    let results = evaluator.evaluate_all(&rules, &tenant);
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
    for rule in &rules {
        assert!(
            failures.contains_key(rule.id.as_str()),
            "{}: nothing found in the fixture tenant",
            rule.id
        );
    }
    // A resource of each kind is judged by the rules of its kind only.
    assert!(
        results.iter().all(|r| rules.iter().any(|rule| rule.id == r.rule && rule.kind == r.kind))
    );
    assert!(results.iter().filter(|r| r.kind == ResourceKind::User).count() >= 50);
}

#[test]
fn secrets_never_reach_a_message() {
    let rules = builtin().unwrap();
    let rule = rules.iter().find(|r| r.id == "jc.radius.mfa_not_enforced").unwrap();
    let doc = serde_json::json!({"_id": "r1", "name": "wifi", "mfa": "DISABLED", "sharedSecret": "correct-horse"});
    let (_, message) = Evaluator::new(Utc::now(), None).evaluate_doc(rule, &doc);
    assert!(!message.unwrap().contains("correct-horse"));
}
