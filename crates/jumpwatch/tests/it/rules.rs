//! The Monitor judges every poll with the rules: against the simulator, the `risky` scenario
//! opens the findings it should, a fix resolves them, a suppression hides one — all committed
//! with the poll, in the store.

use std::sync::Arc;
use std::time::Duration;

use jumpwatch::rules::{Engine, FindingState, FindingStore, Reason, Suppression, fingerprint};
use jumpwatch::{Monitor, MonitorEvent, Polled};
use jumpwatch_api::{Client, SecretString};
use jumpwatch_model::{ResourceKind, TenantId};
use jumpwatch_sim::{Mutation, Op, Scenario, Simulator};
use jumpwatch_store::SqliteStore;

async fn poll(monitor: &Monitor) -> Polled {
    monitor.poll_once().await.into_iter().next().unwrap().1.unwrap()
}

/// The rule a risky change must trip, by the field it set.
fn rule_for(kind: ResourceKind, field: &str) -> Option<&'static str> {
    Some(match (kind, field) {
        (ResourceKind::User, "passwordless_sudo") => "jc.user.passwordless_sudo",
        (ResourceKind::System, "fde.active") => "jc.system.fde_not_active",
        (ResourceKind::System, "allowSshRootLogin") => "jc.system.ssh_root_login_allowed",
        (ResourceKind::RadiusServer, "mfa") => "jc.radius.mfa_not_enforced",
        (ResourceKind::Organization, "settings.requireAdminMFA") => "jc.org.admin_mfa_not_required",
        _ => return None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risky_changes_open_findings_a_fix_resolves_them_and_a_suppression_hides_one() {
    let sim = Simulator::builder().seed(7).start().await.unwrap();
    let client = Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url())
        .build()
        .unwrap();
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let monitor = Monitor::builder()
        .sqlite_store(Arc::clone(&store), Duration::from_secs(86_400))
        .tenant("acme", client)
        .unwrap()
        .rules(Arc::new(Engine::builtin().unwrap()))
        .build()
        .unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let mut events = monitor.subscribe();

    let baseline = poll(&monitor).await;
    let open_before: usize =
        baseline.audit.as_ref().unwrap().findings.in_state(FindingState::Open).count();
    assert!(open_before > 0, "the generated tenant has problems of its own");
    assert_eq!(
        store.load_findings(&tenant).unwrap().len(),
        baseline.audit.unwrap().findings.findings.len()
    );

    let risky = sim.scenario(Scenario::Risky).unwrap();
    let expected: Vec<(&str, String)> = risky
        .changes
        .iter()
        .filter(|c| c.op == Op::Update)
        .flat_map(|c| {
            c.changes
                .iter()
                .filter_map(|f| rule_for(c.kind, &f.field))
                .map(|rule| (rule, c.id.to_string()))
        })
        .collect();
    assert!(expected.len() >= 4, "{expected:?}");

    let second = poll(&monitor).await;
    let audit = second.audit.as_ref().unwrap();
    for (rule, resource) in &expected {
        let print = fingerprint(&tenant, rule, resource);
        let finding = audit
            .findings
            .findings
            .get(&print)
            .unwrap_or_else(|| panic!("{rule} on {resource}: no finding"));
        assert_eq!(finding.state, FindingState::Open, "{rule} on {resource}");
        assert!(
            audit
                .findings
                .transitions
                .iter()
                .any(|t| t.fingerprint == print && t.to == FindingState::Open)
        );
    }
    // The change rules see the changes too (a user gained sudo).
    assert!(
        audit
            .results
            .iter()
            .any(|r| r.rule == "jc.user.sudo_granted"
                && r.outcome == jumpwatch::rules::Outcome::Fail)
    );
    // Stored in the poll's transaction.
    let stored = store.load_findings(&tenant).unwrap();
    for (rule, resource) in &expected {
        let print = fingerprint(&tenant, rule, resource);
        assert!(stored.iter().any(|f| f.fingerprint == print && f.state == FindingState::Open));
    }
    let mut opened = 0;
    while let Ok(event) = events.try_recv() {
        if let MonitorEvent::Finding { transition, .. } = event
            && transition.reason == Reason::Opened
        {
            opened += 1;
        }
    }
    assert!(opened >= expected.len() + open_before);

    // Accept one of the risks, then revert the rest.
    let (accepted_rule, accepted_resource) = expected[0].clone();
    let suppression = Suppression::new(
        accepted_rule,
        "accepted for the test",
        "qa@example.com",
        chrono::Utc::now() + chrono::Duration::days(1),
        chrono::Utc::now(),
    )
    .unwrap()
    .resource(&accepted_resource);
    store.add_suppression(&suppression).unwrap();
    let fixes: Vec<Mutation> = risky
        .changes
        .iter()
        .filter(|c| c.op == Op::Update)
        .filter(|c| c.id.to_string() != accepted_resource)
        .map(|c| {
            c.changes.iter().fold(Mutation::update(c.kind, c.id.clone()), |m, f| {
                m.set(f.field.clone(), f.from.clone())
            })
        })
        .collect();
    sim.apply(fixes).unwrap();

    let third = poll(&monitor).await;
    let audit = third.audit.as_ref().unwrap();
    for (rule, resource) in &expected {
        let finding = &audit.findings.findings[&fingerprint(&tenant, rule, resource)];
        if *resource == accepted_resource {
            assert_eq!(finding.state, FindingState::Suppressed, "{rule} on {resource}");
            assert_eq!(finding.suppression.as_deref(), Some(suppression.id.as_str()));
        } else {
            assert_eq!(finding.state, FindingState::Resolved, "{rule} on {resource}");
        }
    }
    let counts = store
        .query("SELECT state, count(*) FROM findings GROUP BY state ORDER BY state", None)
        .unwrap()
        .rows;
    assert!(counts.iter().any(|row| row[0] == "resolved"));
    assert!(counts.iter().any(|row| row[0] == "suppressed"));
}
