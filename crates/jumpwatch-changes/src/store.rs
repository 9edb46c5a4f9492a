//! The storage port: what the engine needs from a store — the last snapshot of a tenant, and
//! one atomic commit of a poll. `jumpwatch-store` implements it on SQLite; [`MemoryStore`] is the
//! in-memory test double. Implement it to keep Jumpwatch's state somewhere else.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use jumpwatch_model::{
    ContentHash, HashedResources, Inventory, Resource, ResourceId, ResourceKind, TenantId,
};
use uuid::Uuid;

use crate::collector::KindReport;
use crate::event::ChangeEvent;
use crate::insights::{EventCursor, Gap, event_key};
use jumpwatch_model::event::DirectoryEvent;

/// A store failed. The poll is not committed; nothing stored is lost.
#[derive(Debug, thiserror::Error)]
#[error("store: {message}")]
pub struct StoreError {
    /// What went wrong.
    pub message: String,
    /// The cause.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }
}

/// The last snapshot without its documents: each resource's content hash, by kind and id. A poll
/// diffs against it, and fetches only the documents of the resources whose hash moved or that
/// are gone ([`InventoryStore::load_resources`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotIndex {
    kinds: BTreeMap<ResourceKind, BTreeMap<ResourceId, Option<ContentHash>>>,
}

impl SnapshotIndex {
    /// An empty index.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of an inventory, with its recorded hashes (hashing the documents that have none).
    #[must_use]
    pub fn of(inventory: &Inventory) -> Self {
        let mut index = Self::new();
        for resource in inventory.iter() {
            index.insert(
                resource.kind,
                resource.id.clone(),
                Some(inventory.hash_or_compute(resource)),
            );
        }
        index
    }

    /// Records a resource; `hash` is `None` when the store has none it can read (the poll then
    /// fetches the document and hashes it).
    pub fn insert(&mut self, kind: ResourceKind, id: ResourceId, hash: Option<ContentHash>) {
        self.kinds.entry(kind).or_default().insert(id, hash);
    }

    /// The resources of a kind, by id.
    #[must_use]
    pub fn kind(&self, kind: ResourceKind) -> Option<&BTreeMap<ResourceId, Option<ContentHash>>> {
        self.kinds.get(&kind)
    }

    /// The kinds indexed.
    pub fn kinds(&self) -> impl Iterator<Item = ResourceKind> + '_ {
        self.kinds.keys().copied()
    }

    /// The number of resources of a kind.
    #[must_use]
    pub fn count(&self, kind: ResourceKind) -> usize {
        self.kinds.get(&kind).map_or(0, BTreeMap::len)
    }

    /// No resources at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.kinds.values().all(BTreeMap::is_empty)
    }
}

/// What a store knows of a tenant.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoredState {
    /// The documents of the last snapshot loaded so far: every resource of every committed kind
    /// after [`InventoryStore::load`]; none after [`InventoryStore::load_index`] (a poll fetches
    /// the few it needs).
    pub inventory: Inventory,
    /// Every resource of the last snapshot with its content hash, after
    /// [`InventoryStore::load_index`]; empty after [`InventoryStore::load`], whose `inventory` has
    /// it all.
    pub index: SnapshotIndex,
    /// The kinds with a committed snapshot (the others get a baseline).
    pub snapshot_kinds: BTreeSet<ResourceKind>,
    /// Deletions held by the breaker at the last poll.
    pub held: BTreeMap<ResourceKind, BTreeSet<ResourceId>>,
    /// How far the audit log has been read.
    pub event_cursor: Option<EventCursor>,
    /// The keys of the audit events stored in the day before the cursor (a read overlapping
    /// them does not store or judge them again).
    pub known_events: BTreeSet<String>,
}

impl StoredState {
    /// The state of a tenant never polled.
    #[must_use]
    pub fn empty(tenant: TenantId) -> Self {
        Self {
            inventory: Inventory::new(tenant),
            index: SnapshotIndex::new(),
            snapshot_kinds: BTreeSet::new(),
            held: BTreeMap::new(),
            event_cursor: None,
            known_events: BTreeSet::new(),
        }
    }
}

/// What a poll read from the audit log, to commit with it.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct InsightsCommit {
    /// The events not stored yet.
    pub events: Vec<DirectoryEvent>,
    /// The cursor after the read (`None`: the read failed, the stored cursor stays).
    pub cursor: Option<EventCursor>,
    /// A stretch of the log that could not be read.
    pub gap: Option<Gap>,
    /// Why the read stopped early.
    pub error: Option<String>,
}

/// Everything one poll produced, committed at once or not at all.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PollCommit {
    /// The poll's id (UUIDv7).
    pub poll_id: Uuid,
    /// The tenant.
    pub tenant: TenantId,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// How each kind went.
    pub reports: Vec<KindReport>,
    /// The kinds whose snapshot this commit replaces (complete listings).
    pub committed_kinds: BTreeSet<ResourceKind>,
    /// The new snapshot of those kinds (with held deletions still in it).
    pub snapshot: Inventory,
    /// The change events to record, in order.
    pub events: Vec<ChangeEvent>,
    /// Deletions held by the breaker, by kind (replacing the held set of committed kinds).
    pub held: BTreeMap<ResourceKind, BTreeSet<ResourceId>>,
    /// What was read from the audit log, when the poll reads it.
    pub insights: Option<InsightsCommit>,
}

impl PollCommit {
    /// An empty commit of a poll (no kinds, no events), to fill in.
    #[must_use]
    pub fn new(tenant: TenantId, started_at: DateTime<Utc>, finished_at: DateTime<Utc>) -> Self {
        Self {
            poll_id: Uuid::now_v7(),
            snapshot: Inventory::new(tenant.clone()),
            tenant,
            started_at,
            finished_at,
            reports: Vec::new(),
            committed_kinds: BTreeSet::new(),
            events: Vec::new(),
            held: BTreeMap::new(),
            insights: None,
        }
    }
}

/// The port the engine stores through. `load` and `commit` are all a store must implement; a
/// store that can read its snapshot's hashes without its documents also implements
/// `load_index` and `load_resources`, and a poll then holds only the documents it lists.
pub trait InventoryStore: Send + Sync {
    /// The last committed state of a tenant, with every document.
    fn load(&self, tenant: &TenantId) -> Result<StoredState, StoreError>;

    /// The last committed state of a tenant for a poll: [`StoredState::index`] filled, and the
    /// documents in [`StoredState::inventory`] optional — the poll fetches the ones it needs
    /// and does not find there with [`load_resources`](Self::load_resources). By default,
    /// [`load`](Self::load) with the index made from its documents.
    fn load_index(&self, tenant: &TenantId) -> Result<StoredState, StoreError> {
        let mut state = self.load(tenant)?;
        state.index = SnapshotIndex::of(&state.inventory);
        Ok(state)
    }

    /// Stored resources of one kind of the last snapshot, each with its stored content hash:
    /// those of `ids` (an id not stored is left out), or every one when `ids` is `None`. By
    /// default, from [`load`](Self::load).
    fn load_resources(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        ids: Option<&[ResourceId]>,
    ) -> Result<HashedResources, StoreError> {
        let mut state = self.load(tenant)?;
        let wanted: Option<BTreeSet<&ResourceId>> = ids.map(|ids| ids.iter().collect());
        Ok(state
            .inventory
            .take_kind(kind)
            .into_iter()
            .filter(|(resource, _)| wanted.as_ref().is_none_or(|w| w.contains(&resource.id)))
            .collect())
    }

    /// Commits a poll atomically; returns the sequence numbers given to its events, in order.
    fn commit(&self, commit: &PollCommit) -> Result<Vec<i64>, StoreError>;
}

/// A store in memory: for tests, and for embedders who keep no history.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    tenants: HashMap<TenantId, StoredState>,
    events: Vec<ChangeEvent>,
    polls: Vec<PollCommit>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event committed, in sequence order.
    #[must_use]
    pub fn events(&self) -> Vec<ChangeEvent> {
        self.state.lock().map(|s| s.events.clone()).unwrap_or_default()
    }

    /// Every poll committed.
    #[must_use]
    pub fn polls(&self) -> Vec<PollCommit> {
        self.state.lock().map(|s| s.polls.clone()).unwrap_or_default()
    }
}

fn poisoned() -> StoreError {
    StoreError::new("the memory store's lock is poisoned")
}

impl InventoryStore for MemoryStore {
    fn load(&self, tenant: &TenantId) -> Result<StoredState, StoreError> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        Ok(state.tenants.get(tenant).cloned().unwrap_or_else(|| StoredState::empty(tenant.clone())))
    }

    fn load_index(&self, tenant: &TenantId) -> Result<StoredState, StoreError> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        let Some(stored) = state.tenants.get(tenant) else {
            return Ok(StoredState::empty(tenant.clone()));
        };
        Ok(StoredState {
            inventory: Inventory::new(tenant.clone()),
            index: SnapshotIndex::of(&stored.inventory),
            snapshot_kinds: stored.snapshot_kinds.clone(),
            held: stored.held.clone(),
            event_cursor: stored.event_cursor,
            known_events: stored.known_events.clone(),
        })
    }

    fn load_resources(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        ids: Option<&[ResourceId]>,
    ) -> Result<HashedResources, StoreError> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        let Some(stored) = state.tenants.get(tenant) else { return Ok(Vec::new()) };
        let inventory = &stored.inventory;
        let found = |resource: &Resource| (resource.clone(), inventory.hash(kind, &resource.id));
        Ok(match ids {
            Some(ids) => ids.iter().filter_map(|id| inventory.get(kind, id)).map(found).collect(),
            None => inventory.resources(kind).map(found).collect(),
        })
    }

    fn commit(&self, commit: &PollCommit) -> Result<Vec<i64>, StoreError> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        let stored = state
            .tenants
            .entry(commit.tenant.clone())
            .or_insert_with(|| StoredState::empty(commit.tenant.clone()));
        for kind in &commit.committed_kinds {
            let old: Vec<ResourceId> =
                stored.inventory.resources(*kind).map(|r| r.id.clone()).collect();
            for id in old {
                stored.inventory.remove(*kind, &id);
            }
            for resource in commit.snapshot.resources(*kind) {
                let hash = commit.snapshot.hash_or_compute(resource);
                stored.inventory.insert_hashed(resource.clone(), hash).map_err(|e| StoreError {
                    message: e.to_string(),
                    source: Some(Box::new(e)),
                })?;
            }
            stored.snapshot_kinds.insert(*kind);
            match commit.held.get(kind) {
                Some(held) if !held.is_empty() => {
                    stored.held.insert(*kind, held.clone());
                }
                _ => {
                    stored.held.remove(kind);
                }
            }
        }
        if let Some(insights) = &commit.insights {
            stored.known_events.extend(insights.events.iter().map(event_key));
            if insights.cursor.is_some() {
                stored.event_cursor = insights.cursor;
            }
        }
        let first = i64::try_from(state.events.len()).unwrap_or(i64::MAX) + 1;
        let mut seqs = Vec::with_capacity(commit.events.len());
        for (offset, event) in commit.events.iter().enumerate() {
            let seq = first + i64::try_from(offset).unwrap_or(0);
            let mut event = event.clone();
            event.seq = Some(seq);
            state.events.push(event);
            seqs.push(seq);
        }
        state.polls.push(commit.clone());
        Ok(seqs)
    }
}
