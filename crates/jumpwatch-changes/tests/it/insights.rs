//! The audit-log cursor against the simulator: pages of every size read the same events; a read
//! from a cursor loses nothing that arrives late inside the overlap and stores nothing twice; a
//! cursor older than the retention is reported as a gap; a restart (a new poller on the same
//! store) reads on from the stored cursor.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use jumpwatch_api::{Client, SecretString};
use jumpwatch_changes::insights::{EventCursor, EventPolicy, EventRead, event_key};
use jumpwatch_changes::{Collector, MemoryStore, Poller};
use jumpwatch_model::{ResourceKind, TenantId};
use jumpwatch_sim::{Scenario, Simulator};

fn client(sim: &Simulator) -> Client {
    Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url())
        .build()
        .unwrap()
}

fn keys(read: &EventRead) -> BTreeSet<String> {
    read.events.iter().map(event_key).collect()
}

fn policy(page_size: u32) -> EventPolicy {
    let mut policy = EventPolicy::default();
    policy.page_size = page_size;
    policy
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_every_size_read_the_same_events_once() {
    let sim = Simulator::builder().seed(31).start().await.unwrap();
    sim.scenario(Scenario::Logins).unwrap();
    sim.scenario(Scenario::Drift).unwrap();
    let client = client(&sim);
    let now = Utc::now();
    let all = EventRead::read(&client, None, &policy(1000), now).await;
    assert!(all.error.is_none() && all.cursor.is_some());
    assert!(all.events.len() > 10);
    for size in [1, 2, 7, 100] {
        let read = EventRead::read(&client, None, &policy(size), now).await;
        assert_eq!(read.events.len(), all.events.len(), "page size {size}: no event twice");
        assert_eq!(keys(&read), keys(&all), "page size {size}: the same events");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_events_inside_the_overlap_are_read_and_nothing_twice() {
    // The simulator's clock stands two minutes behind: what it records after a read is stamped
    // before the read's end — an event JumpCloud indexed late.
    let sim = Simulator::builder()
        .seed(32)
        .now(Utc::now() - chrono::Duration::minutes(2))
        .start()
        .await
        .unwrap();
    let client = client(&sim);
    let first = EventRead::read(&client, None, &policy(50), Utc::now()).await;
    let cursor = first.cursor.unwrap();
    let known = keys(&first);
    sim.scenario(Scenario::Logins).unwrap();
    let second = EventRead::read(&client, Some(&cursor), &policy(50), Utc::now()).await;
    let late = second.new_since(&known);
    assert!(!late.is_empty(), "the late sign-ins are read");
    assert!(
        late.iter().all(|e| e.timestamp.as_ref().unwrap().to_utc() < cursor.read_until),
        "they are stamped before the cursor"
    );
    assert!(late.iter().all(|e| !known.contains(&event_key(e))), "nothing read twice is new");
    // Without the overlap, they would have been lost.
    let mut no_overlap = policy(50);
    no_overlap.overlap = Duration::ZERO;
    let blind = EventRead::read(&client, Some(&cursor), &no_overlap, Utc::now()).await;
    assert!(blind.new_since(&known).is_empty(), "the overlap is what catches them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_older_than_the_retention_is_a_reported_gap() {
    let sim = Simulator::builder().seed(33).start().await.unwrap();
    let now = Utc::now();
    let stale = EventCursor { read_until: now - chrono::Duration::days(120) };
    let read = EventRead::read(&client(&sim), Some(&stale), &policy(1000), now).await;
    let gap = read.gap.unwrap();
    assert_eq!(gap.from, stale.read_until - chrono::Duration::minutes(5));
    assert_eq!(gap.to, now - chrono::Duration::days(90));
    assert!(read.error.is_none(), "the readable part is read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_poller_reads_on_from_the_stored_cursor() {
    let sim = Simulator::builder().seed(34).start().await.unwrap();
    let store = Arc::new(MemoryStore::new());
    let tenant = TenantId::new("t").unwrap();
    let poller = || {
        Poller::new(
            Collector::new(client(&sim)).kinds([ResourceKind::User]),
            Arc::clone(&store),
            tenant.clone(),
        )
        .insights(EventPolicy::default())
    };
    let first = poller().poll_once().await.unwrap();
    let first_events = first.insights.unwrap().events.len();
    sim.scenario(Scenario::Logins).unwrap();
    let second = poller().poll_once().await.unwrap();
    let second_events = second.insights.unwrap().events;
    assert!(!second_events.is_empty());
    let third = poller().poll_once().await.unwrap();
    assert!(third.insights.unwrap().events.is_empty(), "a third poll finds nothing new");
    let stored: BTreeSet<String> = store
        .polls()
        .iter()
        .flat_map(|p| p.insights.iter().flat_map(|i| i.events.iter().map(event_key)))
        .collect();
    assert_eq!(stored.len(), first_events + second_events.len(), "every event committed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_stamped_by_a_clock_ahead_of_ours_is_attributed_and_stored_once() {
    use jumpwatch_changes::Attribution;
    use jumpwatch_sim::Mutation;
    let sim = Simulator::builder().seed(35).start().await.unwrap();
    let store = Arc::new(MemoryStore::new());
    let tenant = TenantId::new("t").unwrap();
    let poller = Poller::new(
        Collector::new(client(&sim)).kinds([ResourceKind::User]),
        Arc::clone(&store),
        tenant,
    )
    .insights(EventPolicy::default());
    poller.poll_once().await.unwrap();
    // JumpCloud's clock three minutes ahead of ours: its events are stamped after our now.
    sim.advance_clock(Duration::from_secs(180));
    let user =
        sim.tenant(0).unwrap().inventory().resources(ResourceKind::User).next().unwrap().id.clone();
    sim.apply_as(
        "skewed.admin@example.com",
        [Mutation::update(ResourceKind::User, user).set("department", serde_json::json!("Ahead"))],
    )
    .unwrap();
    let polled = poller.poll_once().await.unwrap();
    let change = &polled.events[0];
    assert!(
        matches!(change.attribution, Attribution::Attributed { .. }),
        "{:?}",
        change.attribution
    );
    let read = polled.insights.unwrap().events.len();
    assert!(read >= 1);
    // The next read sees the future-stamped event again: it is not stored twice.
    let again = poller.poll_once().await.unwrap();
    assert!(again.insights.unwrap().events.is_empty(), "an event read ahead is stored once");
}
