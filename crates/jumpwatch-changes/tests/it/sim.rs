//! Against the simulator: every kind listed completely, even with faults; every change made is
//! reported; nothing else is.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use jumpwatch_api::{Client, RetryPolicy, SecretString};
use jumpwatch_changes::{ChangeOp, Collector, MemoryStore, Poller};
use jumpwatch_model::{ResourceKind, SystemId, TenantId, UserId};
use jumpwatch_sim::{Faults, Mutation, Op, Scenario, Simulator, Size};
use serde_json::json;

fn client(sim: &Simulator) -> Client {
    Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url())
        .concurrency(8)
        .retry_policy(
            RetryPolicy::default()
                .max_attempts(10)
                .min_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(20))
                .max_retry_after(Duration::from_millis(20)),
        )
        .build()
        .unwrap()
}

async fn assert_collects_everything(size: Size, faults: Faults) {
    let sim = Simulator::builder().seed(7).size(size).faults(faults).start().await.unwrap();
    let oracle = sim.tenant(0).unwrap().inventory();
    let collection = Collector::new(client(&sim)).collect(TenantId::new("t").unwrap()).await;
    for kind in ResourceKind::ALL {
        let report = &collection.reports[kind];
        assert!(report.status.is_complete(), "{size:?} {kind}: {:?}", report.status);
        let got: BTreeSet<&str> =
            collection.inventory.resources(*kind).map(|r| r.id.as_str()).collect();
        let want: BTreeSet<&str> = oracle.resources(*kind).map(|r| r.id.as_str()).collect();
        assert_eq!(got.len(), want.len(), "{size:?} {kind}: every item exactly once");
        assert_eq!(got, want, "{size:?} {kind}");
        for resource in collection.inventory.resources(*kind) {
            let expected = oracle.get(*kind, &resource.id).unwrap();
            assert_eq!(resource.doc, expected.doc, "{kind} {}", resource.id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_is_listed_completely_even_with_faults() {
    let faults = Faults::default()
        .error_rate(0.05)
        .burst_429_rate(0.03)
        .retry_after(Some(0))
        .reset_rate(0.03)
        .truncate_rate(0.03)
        .short_page_rate(0.05)
        .move_items(true);
    assert_collects_everything(Size::Small, faults).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_medium_tenant_is_listed_completely() {
    assert_collects_everything(
        Size::Medium,
        Faults::default().error_rate(0.01).short_page_rate(0.01),
    )
    .await;
}

fn poller(sim: &Simulator) -> Poller<MemoryStore> {
    Poller::new(
        Collector::new(client(sim)),
        Arc::new(MemoryStore::new()),
        TenantId::new("t").unwrap(),
    )
}

/// Relation kinds whose edges follow from other changes (a user joining a group is bound to the
/// group's systems), which a scenario does not list as changes of their own.
const DERIVED: [ResourceKind; 2] = [ResourceKind::SystemUserBinding, ResourceKind::PolicyStatus];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_a_scenario_makes_is_reported_and_nothing_else() {
    let sim = Simulator::builder().seed(11).size(Size::Small).start().await.unwrap();
    let poller = poller(&sim);
    let baseline = poller.poll_once().await.unwrap();
    assert!(baseline.is_complete() && baseline.events.is_empty());
    for scenario in [Scenario::Drift, Scenario::Risky] {
        let report = sim.scenario(scenario).unwrap();
        let outcome = poller.poll_once().await.unwrap();
        assert!(outcome.is_complete(), "{:?}", outcome.incomplete());
        let mut expected = BTreeSet::new();
        for change in &report.changes {
            let meta = change.kind.meta();
            let op = match change.op {
                Op::Create => ChangeOp::Created,
                Op::Delete => ChangeOp::Deleted,
                _ => {
                    // An update only of volatile fields is no change.
                    let real = change.fields.iter().any(|f| {
                        !meta.volatile.iter().any(|v| f == v || f.starts_with(&format!("{v}.")))
                    });
                    if !real {
                        continue;
                    }
                    ChangeOp::Updated
                }
            };
            expected.insert((change.kind, change.id.to_string(), op));
        }
        let reported: BTreeSet<_> =
            outcome.events.iter().map(|e| (e.kind, e.resource_id.to_string(), e.op)).collect();
        let missed: Vec<_> = expected.difference(&reported).collect();
        assert!(missed.is_empty(), "{scenario:?}: changes made but not reported: {missed:?}");
        // Creating or deleting a resource creates or deletes its rows and edges too (a retired
        // device takes its System Insights rows, memberships and bindings with it).
        let touched: BTreeSet<String> = report
            .changes
            .iter()
            .filter(|c| c.op != Op::Update)
            .map(|c| c.id.to_string())
            .collect();
        let cascade = |id: &str| id.split(':').any(|part| touched.contains(part));
        let invented: Vec<_> = reported
            .difference(&expected)
            .filter(|(kind, id, _)| !DERIVED.contains(kind) && !cascade(id))
            .collect();
        assert!(invented.is_empty(), "{scenario:?}: changes reported but not made: {invented:?}");
        // Updated fields: the top-level fields the scenario changed.
        for change in report.changes.iter().filter(|c| c.op == Op::Update) {
            if let Some(event) = outcome
                .events
                .iter()
                .find(|e| e.resource_id == change.id && e.op == ChangeOp::Updated)
            {
                for field in event.changed_fields() {
                    assert!(
                        change.fields.iter().any(|f| f == field
                            || f.starts_with(&format!("{field}."))
                            || f.starts_with(&format!("{field}["))),
                        "{:?} {} reported {field}, made {:?}",
                        change.kind,
                        change.id,
                        change.fields
                    );
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_in_is_no_event_and_a_rename_is_one_update() {
    let sim = Simulator::builder().seed(3).size(Size::Small).start().await.unwrap();
    let tenant = sim.tenant(0).unwrap();
    let system = SystemId::from(tenant.resources(ResourceKind::System)[0].id.clone());
    let user = UserId::from(tenant.resources(ResourceKind::User)[0].id.clone());
    let poller = poller(&sim);
    poller.poll_once().await.unwrap();
    sim.apply([Mutation::update(ResourceKind::System, system)
        .set("lastContact", json!("2031-01-01T00:00:00Z"))])
        .unwrap();
    assert!(poller.poll_once().await.unwrap().events.is_empty());
    sim.apply([
        Mutation::update(ResourceKind::User, user.clone()).set("username", json!("renamed.person"))
    ])
    .unwrap();
    let outcome = poller.poll_once().await.unwrap();
    assert_eq!(outcome.events.len(), 1);
    let event = &outcome.events[0];
    assert_eq!(
        (event.kind, event.op, event.name.as_deref()),
        (ResourceKind::User, ChangeOp::Updated, Some("renamed.person"))
    );
    assert_eq!(event.changes.iter().map(|c| c.path.render()).collect::<Vec<_>>(), ["username"]);
    assert_eq!(event.resource_id, *user.as_resource_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_reported_once_a_kind() {
    let sim = Simulator::builder().seed(2).size(Size::Small).start().await.unwrap();
    let seen = std::sync::Mutex::new(Vec::new());
    let collection = Collector::new(client(&sim))
        .collect_with_progress(TenantId::new("t").unwrap(), &|report| {
            seen.lock().unwrap().push(report.kind)
        })
        .await;
    let mut seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), ResourceKind::ALL.len());
    seen.sort();
    assert_eq!(seen, ResourceKind::ALL.to_vec());
    assert_eq!(collection.reports.len(), ResourceKind::ALL.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_rate_limit_the_client_learns_the_pace_after_one_step() {
    // 20 requests a second, with Retry-After: the top-level kinds of the small tenant take about
    // 60 requests, three seconds' worth.
    let faults = Faults::default().rate_limit_per_sec(20.0).retry_after(Some(1));
    let sim = Simulator::builder().seed(7).faults(faults).start().await.unwrap();
    let client = Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url())
        .concurrency(8)
        .build()
        .unwrap();
    let top: Vec<ResourceKind> =
        ResourceKind::ALL.iter().copied().filter(|k| k.meta().parent.is_none()).collect();
    let collection =
        Collector::new(client.clone()).kinds(top).collect(TenantId::new("t").unwrap()).await;
    assert!(collection.reports.values().all(|r| r.status.is_complete()));
    // The first step: the requests in flight when the bucket ran dry. None after.
    let throttled = client.stats().throttled;
    assert!((1..=8).contains(&throttled), "{throttled} 429s");
    assert_eq!(sim.stats().faults.rate_limited, throttled);
    let learned = client.learned_rate().unwrap();
    assert!((10.0..=20.0).contains(&learned), "learned {learned} a second");
}
