//! Event rules: the native rule that counts failed administrator sign-ins across a poll, and
//! the built-in event rules over what a running simulator records.

use chrono::{Duration, TimeZone, Utc};
use futures::TryStreamExt;
use jumpwatch_api::{Client, EventQuery, SecretString};
use jumpwatch_model::ResourceKind;
use jumpwatch_model::event::DirectoryEvent;
use jumpwatch_rules::{Engine, Outcome, RuleResult, RuleType};
use jumpwatch_sim::{Mutation, Scenario, Simulator, Size};
use serde_json::json;

const FAILURES: &str = "jc.event.admin_login_failures";

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap()
}

/// A sign-in to the Admin Portal by `admin`, `minute` minutes after 10:00.
fn login(id: &str, admin: &str, minute: u32, success: bool) -> DirectoryEvent {
    DirectoryEvent::from_raw(json!({
        "id": id,
        "service": "directory",
        "event_type": "admin_login_attempt",
        "initiated_by": {"id": format!("id-{admin}"), "type": "admin", "email": format!("{admin}@example.com")},
        "success": success,
        "mfa": false,
        "auth_method": "password",
        "client_ip": format!("203.0.113.{minute}"),
        "timestamp": format!("2026-11-28T10:{minute:02}:00.000Z"),
    }))
}

fn results_of<'r>(results: &'r [RuleResult], rule: &str) -> Vec<&'r RuleResult> {
    results.iter().filter(|r| r.rule == rule).collect()
}

fn fails(results: &[RuleResult], rule: &str) -> Vec<String> {
    results_of(results, rule)
        .into_iter()
        .filter(|r| r.outcome == Outcome::Fail)
        .map(|r| r.resource.clone())
        .collect()
}

#[test]
fn the_failed_sign_in_rule_is_built_in_and_described() {
    let engine = Engine::builtin().unwrap();
    let rule = engine.rule(FAILURES).unwrap();
    assert_eq!(rule.rule_type, RuleType::Event);
    assert_eq!(rule.kind, None);
    assert_eq!(rule.params["threshold"], json!(5));
    assert!(!rule.title.is_empty() && !rule.rationale.is_empty() && !rule.remediation.is_empty());
    for (framework, controls) in rule.references.frameworks() {
        assert!(!controls.is_empty(), "{framework}");
    }
    assert!(rule.source.contains("AdminLoginFailures"), "{}", rule.source);
}

#[test]
fn repeated_failed_admin_sign_ins_fail_once_per_administrator() {
    let engine = Engine::builtin().unwrap();
    // Five failures for ada, with a success between them; four for bob; a user's failure.
    let mut events = vec![
        login("a1", "ada", 1, false),
        login("b1", "bob", 2, false),
        login("a2", "ada", 3, false),
        login("a3", "ada", 4, true),
        login("a4", "ada", 5, false),
        login("b2", "bob", 6, false),
        login("a5", "ada", 7, false),
        login("b3", "bob", 8, false),
        login("a6", "ada", 9, false),
        login("b4", "bob", 10, false),
        DirectoryEvent::from_raw(json!({
            "id": "u1", "event_type": "user_login_attempt", "success": false,
            "initiated_by": {"id": "id-ada", "type": "user", "email": "ada@example.com"},
        })),
    ];
    let results = engine.evaluate_events(&events, None, now());
    let judged = results_of(&results, FAILURES);
    assert_eq!(judged.len(), events.len(), "one result an event");
    let failing: Vec<_> = judged.iter().filter(|r| r.outcome == Outcome::Fail).collect();
    assert_eq!(failing.len(), 1, "{failing:?}");
    assert_eq!(failing[0].resource, "id-ada");
    let message = failing[0].message.as_deref().unwrap();
    assert!(
        message.starts_with("5 failed Admin Portal sign-ins for ada@example.com between 2026-11-28T10:01:00.000Z and 2026-11-28T10:09:00.000Z"),
        "{message}"
    );
    assert!(message.contains("203.0.113.1,") && !message.contains("203.0.113.4"), "{message}");
    let outcomes = |of: &str| {
        judged.iter().filter(|r| r.resource == of).map(|r| r.outcome).collect::<Vec<_>>()
    };
    assert!(outcomes("id-bob").iter().all(|o| *o == Outcome::Pass));
    // The success and the user's failure are not what the rule judges.
    assert_eq!(judged.iter().filter(|r| r.outcome == Outcome::NotApplicable).count(), 2);

    // Whatever the order of the batch, the finding is the latest failure's.
    events.reverse();
    let results = engine.evaluate_events(&events, None, now());
    let failing: Vec<_> =
        results_of(&results, FAILURES).into_iter().filter(|r| r.outcome == Outcome::Fail).collect();
    assert_eq!(failing.len(), 1);
    assert!(failing[0].message.as_deref().unwrap().contains("and 2026-11-28T10:09:00.000Z"));

    // One event judged apart from its batch is one failure.
    let alone = engine.evaluate_events(&[login("a1", "ada", 1, false)], None, now());
    assert_eq!(results_of(&alone, FAILURES)[0].outcome, Outcome::Pass);
}

#[test]
fn the_threshold_is_a_parameter() {
    let mut engine = Engine::builtin().unwrap();
    engine.set_param(FAILURES, "threshold", json!(4)).unwrap();
    assert_eq!(engine.rule(FAILURES).unwrap().params["threshold"], json!(4));
    let events: Vec<_> = (1..=4).map(|m| login(&format!("b{m}"), "bob", m, false)).collect();
    let results = engine.evaluate_events(&events, None, now());
    assert_eq!(fails(&results, FAILURES), ["id-bob"]);

    assert!(engine.set_param(FAILURES, "window", json!(4)).unwrap_err().contains("no parameter"));
    assert!(engine.set_param(FAILURES, "threshold", json!("4")).is_err());
    assert!(engine.set_param(FAILURES, "threshold", json!(0)).unwrap_err().contains("at least 1"));
    assert!(engine.set_param(FAILURES, "threshold", json!(-3)).is_err());
    assert_eq!(engine.rule(FAILURES).unwrap().params["threshold"], json!(4));
}

#[test]
fn a_failure_without_an_administrator_is_unknown() {
    let engine = Engine::builtin().unwrap();
    let event = DirectoryEvent::from_raw(
        json!({"id": "x", "event_type": "admin_login_attempt", "success": false}),
    );
    let results = engine.evaluate_events(&[event], None, now());
    let result = results_of(&results, FAILURES)[0];
    assert_eq!(result.outcome, Outcome::Unknown);
    assert!(result.message.as_deref().unwrap().contains("which administrator"));
}

fn client(sim: &Simulator) -> Client {
    Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_rules_judge_what_the_simulator_records() {
    let sim = Simulator::builder()
        .seed(42)
        .size(Size::Small)
        .now(jumpwatch_sim::fixtures::now())
        .start()
        .await
        .unwrap();
    let tenant = sim.tenant(0).unwrap().inventory();
    let first = |kind| tenant.resources(kind).next().unwrap().id.clone();
    let (policy, authn_policy, admin) = (
        first(ResourceKind::Policy),
        first(ResourceKind::AuthnPolicy),
        first(ResourceKind::Administrator),
    );

    // Sign-ins, then changes made through the admin API.
    let logins = sim.scenario(Scenario::Logins).unwrap();
    let applied = sim
        .apply([
            Mutation::delete(ResourceKind::Policy, policy.clone()),
            Mutation::delete(ResourceKind::AuthnPolicy, authn_policy.clone()),
            Mutation::create(
                ResourceKind::Administrator,
                json!({"email": "new.admin@example.com", "firstname": "New", "lastname": "Admin", "roleName": "Administrator", "enableMultiFactor": true}),
            ),
            Mutation::update(ResourceKind::Administrator, admin.clone())
                .set("apiKeySet", json!(true))
                .set("apiKeyUpdatedAt", json!("2026-01-01T00:00:00.000Z")),
        ])
        .unwrap();
    let created = applied[2].id.to_string();

    let since = EventQuery::since(sim.now() - Duration::days(31));
    let events: Vec<DirectoryEvent> = client(&sim).events(since).try_collect().await.unwrap();
    let types = |t: &str| events.iter().filter(|e| e.event_type.as_deref() == Some(t)).count();
    for documented in ["policy_delete", "authnpolicy_delete", "admin_create", "admin_update"] {
        assert_eq!(types(documented), 1, "{documented}");
    }

    let inventory = sim.tenant(0).unwrap().inventory();
    let engine = Engine::builtin().unwrap();
    let results = engine.evaluate_events(&events, Some(&inventory), sim.now());
    let event_rules = engine.rules().filter(|r| r.rule_type == RuleType::Event).count();
    assert_eq!(results.len(), events.len() * event_rules);

    // The scenario's administrator signed in without MFA.
    let scenario_admin = logins
        .events
        .iter()
        .find(|e| e["event_type"] == "admin_login_attempt" && e["success"] == true)
        .and_then(|e| e["initiated_by"]["id"].as_str())
        .unwrap();
    assert!(
        fails(&results, "jc.event.admin_login_without_mfa").iter().any(|id| id == scenario_admin),
        "{scenario_admin}"
    );
    // Its burst of failed sign-ins is one finding.
    let guessed = logins
        .events
        .iter()
        .find(|e| e["event_type"] == "admin_login_attempt" && e["success"] == false)
        .and_then(|e| e["initiated_by"]["id"].as_str())
        .unwrap();
    assert_eq!(fails(&results, FAILURES), [guessed]);
    // The changes.
    let mut deleted = fails(&results, "jc.event.policy_deleted");
    deleted.sort();
    let mut want = vec![policy.to_string(), authn_policy.to_string()];
    want.sort();
    assert_eq!(deleted, want);
    assert_eq!(fails(&results, "jc.event.admin_added"), [created]);
    assert_eq!(fails(&results, "jc.event.api_key_created"), [admin.to_string()]);

    // No event rule breaks on what the simulator records.
    let unknown: Vec<_> = results.iter().filter(|r| r.outcome == Outcome::Unknown).collect();
    assert!(unknown.is_empty(), "{unknown:?}");
    for result in results.iter().filter(|r| r.outcome == Outcome::Fail) {
        let message = result.message.as_deref().unwrap();
        assert!(!message.contains("{{") && !message.contains("(unnamed)"), "{message}");
    }
}
