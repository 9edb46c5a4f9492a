//! Polls against a fake tenant: what appears as change events, and what must not.

use std::sync::Arc;

use futures::StreamExt;
use jumpwatch_changes::{
    ChangeOp, Collector, InventoryStore, KindStatus, MemoryStore, PollCommit, Poller, StoreError,
    StoredState,
};
use jumpwatch_model::{HashedResources, ResourceId, ResourceKind, TenantId};
use serde_json::json;

use crate::fake::{FakeTenant, group, member, system, user};

const KINDS: [ResourceKind; 4] = [
    ResourceKind::User,
    ResourceKind::System,
    ResourceKind::UserGroup,
    ResourceKind::UserGroupMember,
];

fn setup(users: usize) -> (Arc<FakeTenant>, Poller<MemoryStore>, Arc<MemoryStore>) {
    let tenant = Arc::new(FakeTenant::default());
    tenant.set(ResourceKind::User, (0..users).map(user).collect());
    tenant.set(ResourceKind::System, (0..3).map(system).collect());
    tenant.set(ResourceKind::UserGroup, (0..2).map(group).collect());
    tenant.set_children(
        ResourceKind::UserGroupMember,
        vec![("g000", member(0)), ("g000", member(1)), ("g001", member(2))],
    );
    let store = Arc::new(MemoryStore::new());
    let poller = Poller::new(
        Collector::new(tenant.client()).kinds(KINDS),
        Arc::clone(&store),
        TenantId::new("acme").unwrap(),
    );
    (tenant, poller, store)
}

fn summary(events: &[jumpwatch_changes::ChangeEvent]) -> Vec<String> {
    let mut out: Vec<String> = events
        .iter()
        .map(|e| {
            let fields: Vec<String> = e.changes.iter().map(|c| c.path.render()).collect();
            format!("{} {} {} {}", e.op, e.kind, e.resource_id, fields.join(","))
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn the_baseline_emits_nothing_then_changes_appear_exactly() {
    let (tenant, poller, store) = setup(20);
    let baseline = poller.poll_once().await.unwrap();
    assert!(baseline.is_complete(), "{:?}", baseline.incomplete());
    assert!(baseline.events.is_empty());
    assert_eq!(baseline.baselines.len(), 4);
    assert_eq!(baseline.snapshot.count(ResourceKind::UserGroupMember), 3);

    tenant.edit(ResourceKind::User, |users| {
        users.push((None, user(99)));
        users.retain(|(_, u)| u["_id"] != "u005");
        users[0].1["sudo"] = json!(true);
        users[1].1["username"] = json!("renamed");
        users[2].1["badLoginAttempts"] = json!(7);
    });
    tenant.edit(ResourceKind::System, |systems| {
        systems[0].1["lastContact"] = json!("2026-11-29T00:00:00Z")
    });
    tenant.edit(ResourceKind::UserGroupMember, |members| {
        members.push((Some("g001".into()), member(99)))
    });

    let next = poller.poll_once().await.unwrap();
    assert_eq!(
        summary(&next.events),
        [
            "created user u099 ",
            "created user_group_member g001:u099 ",
            "deleted user u005 ",
            "updated user u000 sudo",
            "updated user u001 username",
        ]
    );
    assert!(next.events.iter().all(|e| e.seq.is_some()));
    assert_eq!(store.events().len(), 5);
    // A rename is one update, with the new name.
    let rename = next.events.iter().find(|e| e.resource_id.as_str() == "u001").unwrap();
    assert_eq!(rename.name.as_deref(), Some("renamed"));
    assert_eq!(rename.changes[0].before, Some(json!("user1")));

    // Nothing changed: nothing reported.
    assert!(poller.poll_once().await.unwrap().events.is_empty());
}

#[tokio::test]
async fn a_failing_kind_keeps_its_snapshot_and_reports_no_deletions() {
    let (tenant, poller, _store) = setup(20);
    poller.poll_once().await.unwrap();
    tenant.edit(ResourceKind::User, Vec::clear);
    tenant.fail(ResourceKind::UserGroup, Some(500));
    tenant.edit(ResourceKind::System, |systems| systems[1].1["fde"]["active"] = json!(false));
    let outcome = poller.poll_once().await.unwrap();
    // Users: complete and empty, but 20 deletions of 20 trip the breaker.
    assert!(outcome.events.iter().all(|e| e.op != ChangeOp::Deleted));
    assert_eq!(outcome.held[&ResourceKind::User].len(), 20);
    // Groups failed, so their members were not listed either; neither is diffed.
    let status = |kind| outcome.reports.iter().find(|r| r.kind == kind).unwrap().status.clone();
    assert!(matches!(status(ResourceKind::UserGroup), KindStatus::Incomplete { .. }));
    assert!(matches!(status(ResourceKind::UserGroupMember), KindStatus::Skipped { .. }));
    assert_eq!(
        outcome.snapshot.count(ResourceKind::UserGroupMember),
        3,
        "the previous snapshot is kept"
    );
    assert_eq!(summary(&outcome.events), ["updated system s001 fde.active"]);

    // The users are still gone at the next poll: the deletions are confirmed.
    tenant.fail(ResourceKind::UserGroup, None);
    let confirmed = poller.poll_once().await.unwrap();
    assert_eq!(
        confirmed
            .events
            .iter()
            .filter(|e| e.op == ChangeOp::Deleted && e.kind == ResourceKind::User)
            .count(),
        20
    );
    assert!(confirmed.held.is_empty());
    assert_eq!(confirmed.snapshot.count(ResourceKind::User), 0);
}

#[tokio::test]
async fn a_few_deletions_pass_and_a_mass_deletion_is_held_until_confirmed() {
    let (tenant, poller, _store) = setup(100);
    poller.poll_once().await.unwrap();
    tenant.edit(ResourceKind::User, |users| users.truncate(95));
    let few = poller.poll_once().await.unwrap();
    assert_eq!(few.events.len(), 5);
    tenant.edit(ResourceKind::User, |users| users.truncate(50));
    let held = poller.poll_once().await.unwrap();
    assert!(held.events.is_empty());
    assert_eq!(held.held[&ResourceKind::User].len(), 45);
    assert_eq!(held.snapshot.count(ResourceKind::User), 95, "held resources stay in the snapshot");
    // They come back: nothing to report, nothing held.
    tenant.edit(ResourceKind::User, |users| users.extend((50..95).map(|i| (None, user(i)))));
    let back = poller.poll_once().await.unwrap();
    assert!(back.events.is_empty() && back.held.is_empty());
}

#[tokio::test]
async fn an_optional_source_that_answers_403_is_unavailable_not_failed() {
    let tenant = Arc::new(FakeTenant::default());
    tenant.set(ResourceKind::User, vec![user(1)]);
    tenant.fail(ResourceKind::Administrator, Some(403));
    let collection = Collector::new(tenant.client())
        .kinds([ResourceKind::User, ResourceKind::Administrator])
        .collect(TenantId::new("t").unwrap())
        .await;
    assert!(matches!(
        collection.reports[&ResourceKind::Administrator].status,
        KindStatus::Unavailable { .. }
    ));
    assert!(collection.reports[&ResourceKind::User].status.is_complete());
}

/// A store whose commits fail a number of times first.
struct FlakyStore {
    inner: MemoryStore,
    failures: std::sync::Mutex<u32>,
}

impl InventoryStore for FlakyStore {
    fn load(&self, tenant: &TenantId) -> Result<StoredState, StoreError> {
        self.inner.load(tenant)
    }
    fn commit(&self, commit: &PollCommit) -> Result<Vec<i64>, StoreError> {
        let mut failures = self.failures.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return Err(StoreError::new("disk full"));
        }
        self.inner.commit(commit)
    }
}

#[tokio::test(start_paused = true)]
async fn the_poll_stream_yields_errors_and_goes_on() {
    let tenant = Arc::new(FakeTenant::default());
    tenant.set(ResourceKind::User, vec![user(1)]);
    let store =
        Arc::new(FlakyStore { inner: MemoryStore::new(), failures: std::sync::Mutex::new(2) });
    let poller = Poller::new(
        Collector::new(tenant.client()).kinds([ResourceKind::User]),
        Arc::clone(&store),
        TenantId::new("t").unwrap(),
    );
    let mut polls = poller.watch(std::time::Duration::from_secs(300));
    let first = polls.next().await.unwrap();
    assert!(first.unwrap_err().to_string().contains("disk full"));
    let started = tokio::time::Instant::now();
    assert!(polls.next().await.unwrap().is_err());
    // The baseline was never committed, so the first good poll is the baseline.
    let good = polls.next().await.unwrap().unwrap();
    assert_eq!(good.baselines, [ResourceKind::User]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "retried with backoff, not the interval"
    );
    tenant.edit(ResourceKind::User, |users| users.push((None, user(2))));
    let next = polls.next().await.unwrap().unwrap();
    assert_eq!(summary(&next.events), ["created user u002 "]);
}

/// What a poll asked of its store.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Read {
    Load,
    Index,
    Resources(ResourceKind, Option<Vec<String>>),
}

/// A memory store that records each read, and can forget a document its index still names.
#[derive(Default)]
struct RecordingStore {
    inner: MemoryStore,
    reads: std::sync::Mutex<Vec<Read>>,
    lost: std::sync::Mutex<Option<(ResourceKind, ResourceId)>>,
}

impl RecordingStore {
    fn take_reads(&self) -> Vec<Read> {
        std::mem::take(&mut *self.reads.lock().unwrap())
    }
}

impl InventoryStore for RecordingStore {
    fn load(&self, tenant: &TenantId) -> Result<StoredState, StoreError> {
        self.reads.lock().unwrap().push(Read::Load);
        self.inner.load(tenant)
    }
    fn load_index(&self, tenant: &TenantId) -> Result<StoredState, StoreError> {
        self.reads.lock().unwrap().push(Read::Index);
        self.inner.load_index(tenant)
    }
    fn load_resources(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        ids: Option<&[ResourceId]>,
    ) -> Result<HashedResources, StoreError> {
        let names = ids.map(|ids| ids.iter().map(|id| id.as_str().to_owned()).collect());
        self.reads.lock().unwrap().push(Read::Resources(kind, names));
        let lost = self.lost.lock().unwrap().clone();
        let mut found = self.inner.load_resources(tenant, kind, ids)?;
        found.retain(|(r, _)| lost.as_ref() != Some(&(r.kind, r.id.clone())));
        Ok(found)
    }
    fn commit(&self, commit: &PollCommit) -> Result<Vec<i64>, StoreError> {
        self.inner.commit(commit)
    }
}

fn recorded_setup() -> (Arc<FakeTenant>, Poller<RecordingStore>, Arc<RecordingStore>) {
    let (tenant, _, _) = setup(20);
    let store = Arc::new(RecordingStore::default());
    let poller = Poller::new(
        Collector::new(tenant.client()).kinds(KINDS),
        Arc::clone(&store),
        TenantId::new("acme").unwrap(),
    );
    (tenant, poller, store)
}

#[tokio::test]
async fn a_poll_reads_the_stored_hashes_and_only_the_documents_that_moved() {
    let (tenant, poller, store) = recorded_setup();
    poller.poll_once().await.unwrap();
    assert_eq!(store.take_reads(), [Read::Index]);

    // Nothing changed: no stored document is read at all.
    let quiet = poller.poll_once().await.unwrap();
    assert!(quiet.events.is_empty());
    assert_eq!(store.take_reads(), [Read::Index]);
    assert_eq!(quiet.snapshot.count(ResourceKind::User), 20);

    tenant.edit(ResourceKind::User, |users| {
        users[3].1["sudo"] = json!(true);
        users.retain(|(_, u)| u["_id"] != "u007");
    });
    // A volatile field moved: the hash is the same, so its document is not read either.
    tenant.edit(ResourceKind::System, |systems| {
        systems[1].1["lastContact"] = json!("2026-12-05T00:00:00Z")
    });
    let next = poller.poll_once().await.unwrap();
    assert_eq!(summary(&next.events), ["deleted user u007 ", "updated user u003 sudo"]);
    assert_eq!(
        store.take_reads(),
        [
            Read::Index,
            Read::Resources(ResourceKind::User, Some(vec!["u003".into(), "u007".into()]))
        ]
    );
    assert_eq!(next.events[0].before.as_ref().unwrap()["sudo"], json!(false));
    assert_eq!(next.snapshot.count(ResourceKind::User), 19);
}

#[tokio::test]
async fn a_kind_not_listed_completely_is_read_whole_and_kept() {
    let (tenant, poller, store) = recorded_setup();
    poller.poll_once().await.unwrap();
    store.take_reads();
    tenant.fail(ResourceKind::System, Some(500));
    let next = poller.poll_once().await.unwrap();
    assert!(next.events.is_empty());
    assert_eq!(next.snapshot.count(ResourceKind::System), 3);
    assert_eq!(store.take_reads(), [Read::Index, Read::Resources(ResourceKind::System, None)]);
    // And the store still has them for the poll after.
    tenant.fail(ResourceKind::System, None);
    let healed = poller.poll_once().await.unwrap();
    assert!(healed.events.is_empty(), "{:?}", summary(&healed.events));
}

#[tokio::test]
async fn a_document_the_store_cannot_give_back_fails_the_poll_and_changes_nothing() {
    let (tenant, poller, store) = recorded_setup();
    poller.poll_once().await.unwrap();
    tenant.edit(ResourceKind::User, |users| users[2].1["sudo"] = json!(true));
    *store.lost.lock().unwrap() = Some((ResourceKind::User, ResourceId::new("u002").unwrap()));
    let error = poller.poll_once().await.unwrap_err().to_string();
    assert!(error.contains("user u002"), "{error}");
    assert!(store.inner.events().is_empty());
    // Once the store answers again, the change is found.
    *store.lost.lock().unwrap() = None;
    let next = poller.poll_once().await.unwrap();
    assert_eq!(summary(&next.events), ["updated user u002 sudo"]);
}

#[tokio::test]
async fn a_store_with_only_load_polls_the_same() {
    // `FlakyStore` implements `load` and `commit` only: the defaults serve the poll.
    let tenant = Arc::new(FakeTenant::default());
    tenant.set(ResourceKind::User, (0..5).map(user).collect());
    let store = Arc::new(FlakyStore { inner: MemoryStore::new(), failures: 0.into() });
    let poller = Poller::new(
        Collector::new(tenant.client()).kinds([ResourceKind::User]),
        Arc::clone(&store),
        TenantId::new("t").unwrap(),
    );
    poller.poll_once().await.unwrap();
    tenant.edit(ResourceKind::User, |users| users[4].1["username"] = json!("eve"));
    let next = poller.poll_once().await.unwrap();
    assert_eq!(summary(&next.events), ["updated user u004 username"]);
}
