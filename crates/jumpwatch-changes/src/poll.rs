//! [`Poller`]: one poll cycle of a tenant — collect, diff the complete kinds against the stored
//! snapshot, apply the poll policy, commit it all in one store commit — and a stream of polls for
//! embedders that keeps going after errors, with backoff.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use jumpwatch_model::{Inventory, ResourceId, ResourceKind, TenantId};
use tracing::info;
use uuid::Uuid;

use crate::attribution::{Attribution, attribute};
use crate::collector::{Collection, Collector, KindReport};
use crate::diff::{diff_indexed, documents_needed};
use crate::event::ChangeEvent;
use crate::insights::{EventPolicy, EventRead};
use crate::policy::PollPolicy;
use crate::store::{
    InsightsCommit, InventoryStore, PollCommit, SnapshotIndex, StoreError, StoredState,
};

/// A poll could not be committed (the store failed). Nothing was lost: the next poll redoes it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PollError {
    /// The store failed to load or commit.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one poll did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PollOutcome {
    /// The poll's id.
    pub poll_id: Uuid,
    /// The tenant.
    pub tenant: TenantId,
    /// When it started and finished.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// How each kind went.
    pub reports: Vec<KindReport>,
    /// The change events committed, with their sequence numbers.
    pub events: Vec<ChangeEvent>,
    /// The kinds whose first complete listing this was.
    pub baselines: Vec<ResourceKind>,
    /// Deletions held by the mass-deletion breaker, by kind.
    pub held: BTreeMap<ResourceKind, BTreeSet<ResourceId>>,
    /// What was read from the audit log (new events, the cursor, a gap, an error), when the
    /// poll reads it.
    pub insights: Option<InsightsCommit>,
    /// The snapshot after the poll.
    pub snapshot: Inventory,
}

impl PollOutcome {
    /// Every kind was listed completely.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.reports.iter().all(|r| r.status.is_complete())
    }

    /// The kinds that were not listed completely, with why.
    #[must_use]
    pub fn incomplete(&self) -> Vec<(ResourceKind, &str)> {
        self.reports
            .iter()
            .filter_map(|r| r.status.reason().map(|reason| (r.kind, reason)))
            .collect()
    }
}

/// A poll collected and diffed, not yet committed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PreparedPoll {
    /// What to commit.
    pub commit: PollCommit,
    /// The kinds seen for the first time (their resources are a baseline, not creations).
    pub baselines: Vec<ResourceKind>,
}

impl PreparedPoll {
    /// The poll's outcome, once committed; `seqs` are the events' sequence numbers.
    #[must_use]
    pub fn finish(self, seqs: Vec<i64>) -> PollOutcome {
        let PollCommit {
            poll_id,
            tenant,
            started_at,
            finished_at,
            reports,
            mut events,
            held,
            snapshot,
            insights,
            ..
        } = self.commit;
        for (event, seq) in events.iter_mut().zip(seqs) {
            event.seq = Some(seq);
        }
        PollOutcome {
            poll_id,
            tenant,
            started_at,
            finished_at,
            reports,
            events,
            baselines: self.baselines,
            held: held.into_iter().filter(|(_, ids)| !ids.is_empty()).collect(),
            snapshot,
            insights,
        }
    }
}

/// Polls one tenant into a store.
pub struct Poller<S: ?Sized> {
    collector: Collector,
    store: Arc<S>,
    tenant: TenantId,
    policy: PollPolicy,
    insights: Option<EventPolicy>,
}

impl<S: ?Sized> std::fmt::Debug for Poller<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("tenant", &self.tenant)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S: InventoryStore + ?Sized + 'static> Poller<S> {
    /// A poller of `tenant` with `collector`, committing into `store`.
    pub fn new(collector: Collector, store: Arc<S>, tenant: TenantId) -> Self {
        Self { collector, store, tenant, policy: PollPolicy::default(), insights: None }
    }

    /// Also reads the audit log (Directory Insights) each poll: new events are stored with the
    /// poll and its cursor, and each change is attributed to the events that explain it.
    #[must_use]
    pub fn insights(mut self, policy: EventPolicy) -> Self {
        self.insights = Some(policy);
        self
    }

    /// The poll policy (baseline, breaker).
    #[must_use]
    pub fn policy(mut self, policy: PollPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// One poll: collect, diff, apply the policy, commit.
    pub async fn poll_once(&self) -> Result<PollOutcome, PollError> {
        self.poll_once_with_progress(&|_| {}).await
    }

    /// [`poll_once`](Self::poll_once), calling `progress` as each kind is listed.
    pub async fn poll_once_with_progress(
        &self,
        progress: &(dyn Fn(&KindReport) + Sync),
    ) -> Result<PollOutcome, PollError> {
        let prepared = self.prepare(progress).await?;
        let seqs = self.store.commit(&prepared.commit)?;
        Ok(prepared.finish(seqs))
    }

    /// The store.
    #[must_use]
    pub const fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The tenant.
    #[must_use]
    pub const fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// A poll up to its commit: collect and diff, and hand back what to commit. For callers that
    /// commit more in the same transaction (the rules' findings); commit
    /// [`PreparedPoll::commit`], then [`PreparedPoll::finish`] with the events' sequence numbers.
    pub async fn prepare(
        &self,
        progress: &(dyn Fn(&KindReport) + Sync),
    ) -> Result<PreparedPoll, PollError> {
        let started_at = Utc::now();
        let mut stored = self.store.load_index(&self.tenant)?;
        let collection = self.collector.collect_with_progress(self.tenant.clone(), progress).await;
        let observed_at = Utc::now();
        let mut prepared =
            self.prepare_collected(&mut stored, collection, started_at, observed_at)?;
        if let Some(policy) = &self.insights {
            let insights =
                self.read_insights(&stored, policy, observed_at, &mut prepared.commit.events).await;
            prepared.commit.insights = Some(insights);
            prepared.commit.finished_at = Utc::now();
        }
        Ok(prepared)
    }

    /// The CPU part of a poll, for a collection already made: hash each listed document once,
    /// diff every complete kind against the stored snapshot's index, apply the poll policy, and
    /// build the new snapshot. Of the stored documents, only those the diff reads (the
    /// resources whose hash moved or that are gone) and those of kinds not listed completely
    /// (kept as they are) are needed: those not in `stored.inventory` are fetched from the
    /// store. They are moved into the new snapshot, not copied (`stored` is left with an empty
    /// inventory and index); the audit log is not read. `stored` may come from
    /// [`InventoryStore::load_index`] or from [`InventoryStore::load`].
    pub fn prepare_collected(
        &self,
        stored: &mut StoredState,
        collection: Collection,
        started_at: DateTime<Utc>,
        observed_at: DateTime<Utc>,
    ) -> Result<PreparedPoll, PollError> {
        let complete = collection.complete_kinds();
        let Collection { inventory: mut listed, reports } = collection;
        // Each document is hashed once: the diff compares these, and the store keeps them.
        for &kind in &complete {
            let normalizer = jumpwatch_model::Normalizer::for_kind(kind);
            listed.record_hashes(kind, |resource| normalizer.hash(&resource.doc));
        }

        let mut previous =
            std::mem::replace(&mut stored.inventory, Inventory::new(self.tenant.clone()));
        let index = match std::mem::take(&mut stored.index) {
            index if index.is_empty() => SnapshotIndex::of(&previous),
            index => index,
        };
        self.fetch_needed(&index, &mut previous, &listed, &complete)?;

        // Every kind is diffed before any is moved: a diff may read the other kinds.
        let mut events = Vec::new();
        let mut baselines = Vec::new();
        let mut held = BTreeMap::new();
        let no_held = BTreeSet::new();
        for &kind in &complete {
            let raw = diff_indexed(kind, &index, &previous, &listed, observed_at);
            let plan = self.policy.plan(
                raw,
                stored.snapshot_kinds.contains(&kind),
                index.count(kind),
                stored.held.get(&kind).unwrap_or(&no_held),
            );
            if plan.baseline {
                baselines.push(kind);
            }
            if !plan.held.is_empty() {
                info!(%kind, held = plan.held.len(), "mass deletion held until the next poll confirms it");
            }
            held.insert(kind, plan.held);
            events.extend(plan.events);
        }

        // The new snapshot: the stored one, with every complete kind replaced by its listing
        // (and the deletions the breaker holds kept).
        // A listed kind is moved in whole, its hashes and relation index with it.
        let mut snapshot = previous;
        for &kind in &complete {
            let kept = held.get(&kind).unwrap_or(&no_held);
            let stored = snapshot.replace_kind(kind, &mut listed);
            for (resource, hash) in stored.into_iter().filter(|(r, _)| kept.contains(&r.id)) {
                let hash = hash.unwrap_or_else(|| {
                    jumpwatch_model::Normalizer::for_kind(kind).hash(&resource.doc)
                });
                // Indexed once already: it cannot fail here.
                let _ = snapshot.insert_hashed(resource, hash);
            }
        }
        Ok(PreparedPoll {
            commit: PollCommit {
                poll_id: Uuid::now_v7(),
                tenant: self.tenant.clone(),
                started_at,
                finished_at: Utc::now(),
                reports: reports.into_values().collect(),
                committed_kinds: complete.into_iter().collect(),
                snapshot,
                events,
                held,
                insights: None,
            },
            baselines,
        })
    }

    /// Fetches into `previous` the stored documents a poll needs and does not have: for each
    /// complete kind, those the diff reads; for each other stored kind, all of them (the new
    /// snapshot keeps them). A document the index names and the store does not give back is
    /// an error: the diff would miss a change.
    fn fetch_needed(
        &self,
        index: &SnapshotIndex,
        previous: &mut Inventory,
        listed: &Inventory,
        complete: &[ResourceKind],
    ) -> Result<(), StoreError> {
        for kind in index.kinds() {
            let listed_completely = complete.contains(&kind);
            let needed = if listed_completely {
                documents_needed(kind, index, listed)
            } else {
                index.kind(kind).map(|ids| ids.keys().cloned().collect()).unwrap_or_default()
            };
            let missing: Vec<ResourceId> =
                needed.into_iter().filter(|id| previous.get(kind, id).is_none()).collect();
            if missing.is_empty() {
                continue;
            }
            // A kind kept whole is read in one go.
            let ids = listed_completely.then_some(missing.as_slice());
            for (resource, hash) in self.store.load_resources(&self.tenant, kind, ids)? {
                if previous.get(kind, &resource.id).is_some() {
                    continue;
                }
                let inserted = match hash {
                    Some(hash) => previous.insert_hashed(resource, hash),
                    None => previous.insert(resource),
                };
                inserted.map_err(|e| StoreError {
                    message: format!("a stored {kind} cannot be read: {e}"),
                    source: Some(Box::new(e)),
                })?;
            }
            if let Some(id) = missing.iter().find(|id| previous.get(kind, id).is_none()) {
                return Err(StoreError::new(format!(
                    "the stored snapshot lists {kind} {id} but the store has no document for it"
                )));
            }
        }
        Ok(())
    }

    /// Reads the audit log from the stored cursor and attributes the poll's changes.
    async fn read_insights(
        &self,
        stored: &StoredState,
        policy: &EventPolicy,
        now: DateTime<Utc>,
        changes: &mut [ChangeEvent],
    ) -> InsightsCommit {
        let read =
            EventRead::read(self.collector.client(), stored.event_cursor.as_ref(), policy, now)
                .await;
        attribute(changes, &read.events);
        if read.error.is_some() {
            // Events may be missing: "no event explains it" would be a guess.
            for change in changes.iter_mut() {
                if change.attribution == Attribution::Unattributed {
                    change.attribution = Attribution::Unknown;
                }
            }
        }
        if let Some(gap) = &read.gap {
            tracing::warn!(tenant = %self.tenant, from = %gap.from, to = %gap.to, "audit events older than JumpCloud's retention could not be read");
        }
        InsightsCommit {
            events: read.new_since(&stored.known_events),
            cursor: read.cursor,
            gap: read.gap,
            error: read.error,
        }
    }

    /// Polls every `interval`, for ever: a stream of outcomes that yields errors without ending.
    /// After a failed poll the next one comes sooner, with backoff (800 ms doubling to the
    /// interval), so a passing store fault heals quickly.
    pub fn watch(self, interval: Duration) -> BoxStream<'static, Result<PollOutcome, PollError>>
    where
        S: Send + Sync,
    {
        struct State<S: ?Sized> {
            poller: Poller<S>,
            first: bool,
            failures: u32,
            interval: Duration,
        }
        let state = State { poller: self, first: true, failures: 0, interval };
        futures::stream::unfold(state, |mut state| async move {
            if !state.first {
                let wait = if state.failures == 0 {
                    state.interval
                } else {
                    let backoff =
                        Duration::from_millis(800) * 2u32.saturating_pow(state.failures - 1);
                    backoff.min(state.interval)
                };
                tokio::time::sleep(wait).await;
            }
            state.first = false;
            let result = state.poller.poll_once().await;
            state.failures = if result.is_ok() { 0 } else { state.failures.saturating_add(1) };
            Some((result, state))
        })
        .boxed()
    }
}
