//! Directory Insights in the Monitor: against the simulator, every change of the `drift` scenario
//! names the administrator the simulator recorded; a change made without an audit event is
//! unattributed; events are stored once across polls and restarts; the admin sign-in without MFA
//! of the `logins` scenario opens a finding.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jumpwatch::changes::{Attribution, EventPolicy};
use jumpwatch::rules::{Engine, FindingState};
use jumpwatch::{Monitor, Polled};
use jumpwatch_api::{Client, SecretString};
use jumpwatch_model::ResourceKind;
use jumpwatch_sim::{Mutation, Scenario, Simulator};
use jumpwatch_store::SqliteStore;
use serde_json::json;

async fn poll(monitor: &Monitor) -> Polled {
    monitor.poll_once().await.into_iter().next().unwrap().1.unwrap()
}

fn monitor(sim: &Simulator, store: &Arc<SqliteStore>) -> Monitor {
    let client = Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url())
        .build()
        .unwrap();
    Monitor::builder()
        .sqlite_store(Arc::clone(store), Duration::from_secs(86_400))
        .tenant("acme", client)
        .unwrap()
        .rules(Arc::new(Engine::builtin().unwrap()))
        .insights(EventPolicy::default())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_drift_change_names_the_administrator_who_made_it() {
    let sim = Simulator::builder().seed(21).start().await.unwrap();
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let monitor = monitor(&sim, &store);
    poll(&monitor).await;
    let report = sim.scenario(Scenario::Drift).unwrap();
    // The simulator's record: the event of each change it made, by the resource it changed.
    let mut made: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for applied in &report.changes {
        made.entry(applied.id.to_string()).or_default().push(applied.event_id.clone());
    }
    let polled = poll(&monitor).await;
    let changes = &polled.outcome.events;
    assert!(!changes.is_empty());
    let mut unattributed = Vec::new();
    for change in changes {
        match &change.attribution {
            Attribution::Attributed { events } => {
                // Its own mutation, its parent's, or (a cascade) the deletion of a part of its id.
                let mut ids: Vec<&str> = change.resource_id.as_str().split(':').collect();
                ids.push(change.resource_id.as_str());
                ids.extend(change.parent.as_ref().map(jumpwatch_model::ResourceId::as_str));
                let own: Vec<&String> =
                    ids.iter().filter_map(|id| made.get(*id)).flatten().collect();
                assert!(
                    events.iter().any(|e| own.contains(&e)),
                    "{} {} is explained by the event of the mutation that made it: {events:?} vs {own:?}",
                    change.kind,
                    change.resource_id
                );
                // The actor is the one the simulator recorded on that event.
                let latest = events.last().unwrap();
                let recorded = store
                    .query(
                        &format!("SELECT initiator_email FROM events WHERE id = '{latest}'"),
                        None,
                    )
                    .unwrap();
                let actor = change.actor.as_ref().and_then(|a| a.email.clone());
                assert_eq!(
                    recorded.rows[0][0],
                    json!(actor),
                    "{} {}",
                    change.kind,
                    change.resource_id
                );
                assert!(actor.is_some());
            }
            other => unattributed
                .push(format!("{} {} {} {other:?}", change.op, change.kind, change.resource_id)),
        }
    }
    assert!(unattributed.is_empty(), "every change is attributed: {unattributed:#?}");
    // The store has them, and `changes` shows who.
    let rows = store.query("SELECT count(*) AS n FROM changes WHERE attribution = 'attributed' AND actor_email IS NOT NULL", None).unwrap();
    assert_eq!(rows.rows[0][0], json!(changes.len()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_without_an_audit_event_is_unattributed() {
    let sim = Simulator::builder().seed(22).start().await.unwrap();
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let monitor = monitor(&sim, &store);
    let baseline = poll(&monitor).await;
    let system =
        baseline.outcome.snapshot.resources(ResourceKind::System).next().unwrap().id.clone();
    sim.apply([Mutation::update(ResourceKind::System, system.clone())
        .set("displayName", json!("renamed-by-the-agent"))
        .unaudited()])
        .unwrap();
    let polled = poll(&monitor).await;
    let change = polled.outcome.events.iter().find(|c| c.resource_id == system).unwrap();
    assert_eq!(change.attribution, Attribution::Unattributed);
    assert!(change.actor.is_none());
    let alert_labels = polled.alerts.len();
    assert_eq!(alert_labels, 0, "no notifier configured, no alerts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_stored_once_across_polls_and_restarts_and_judged() {
    let sim = Simulator::builder().seed(23).start().await.unwrap();
    let dir = std::env::temp_dir().join(format!("jumpwatch-insights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("events.db");
    let _ = std::fs::remove_file(&path);
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let monitor = monitor(&sim, &store);
    let first = poll(&monitor).await;
    let first_events = first.outcome.insights.as_ref().unwrap().events.len();
    sim.scenario(Scenario::Logins).unwrap();
    let second = poll(&monitor).await;
    let insights = second.outcome.insights.as_ref().unwrap();
    assert!(insights.error.is_none() && insights.gap.is_none());
    assert!(!insights.events.is_empty(), "the sign-ins are new");
    let admin_without_mfa = second
        .audit
        .as_ref()
        .unwrap()
        .findings
        .in_state(FindingState::Open)
        .filter(|f| f.rule == "jc.event.admin_login_without_mfa")
        .count();
    assert_eq!(admin_without_mfa, 1, "the administrator's sign-in without MFA");
    // A restart (a new monitor on the same file): nothing is read twice.
    drop(monitor);
    let monitor = super::insights::monitor(&sim, &store);
    let third = poll(&monitor).await;
    assert!(
        third.outcome.insights.as_ref().unwrap().events.is_empty(),
        "the overlap re-reads, nothing is new"
    );
    let stored =
        store.query("SELECT count(*) AS n, count(DISTINCT id) AS d FROM events", None).unwrap();
    assert_eq!(stored.rows[0][0], stored.rows[0][1], "no event stored twice");
    assert_eq!(stored.rows[0][0], json!(first_events + insights.events.len()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_tenant_key_reads_each_organization_s_own_log() {
    let sim = Simulator::builder().seed(24).orgs(2).start().await.unwrap();
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let mut builder = Monitor::builder()
        .sqlite_store(Arc::clone(&store), Duration::from_secs(86_400))
        .kinds([ResourceKind::User])
        .insights(EventPolicy::default());
    for (index, org) in sim.org_ids().iter().enumerate() {
        let client = Client::builder()
            .api_key(SecretString::from(sim.api_key().to_owned()))
            .base_url(sim.base_url())
            .org_id(org.as_str())
            .build()
            .unwrap();
        builder = builder.tenant(&format!("org{index}"), client).unwrap();
    }
    let monitor = builder.build().unwrap();
    for (_, result) in monitor.poll_once().await {
        let polled = result.unwrap();
        assert!(polled.outcome.insights.as_ref().unwrap().error.is_none());
    }
    let rows = store
        .query("SELECT tenant, count(DISTINCT json_extract(raw, '$.organization')) AS orgs, count(*) AS n FROM events GROUP BY tenant", None)
        .unwrap();
    assert_eq!(rows.rows.len(), 2, "each tenant has its own events");
    for row in &rows.rows {
        assert_eq!(row[1], json!(1), "one organization's events a tenant: {row:?}");
    }
}
