//! The [`Collector`]: one poll of a tenant — every selected kind listed through `jumpwatch-api`,
//! kinds in parallel within the client's limits, child kinds and relations per parent — into an
//! [`Inventory`]. Each kind is complete, or marked incomplete with its reason; only complete kinds
//! may be diffed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use jumpwatch_api::{Client, Error};
use jumpwatch_model::{Inventory, Resource, ResourceId, ResourceKind, TenantId};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

/// How the listing of a kind went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum KindStatus {
    /// Every item arrived.
    Complete,
    /// Some did not: the kind keeps its previous snapshot and reports no deletions.
    Incomplete {
        /// Why.
        reason: String,
    },
    /// An optional source the credentials may not read (403).
    Unavailable {
        /// Why.
        reason: String,
    },
    /// Not listed, because its parent kind was not complete.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl KindStatus {
    /// Whether the kind may be diffed.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        matches!(self, Self::Complete)
    }

    /// The reason, for kinds that are not complete.
    #[must_use]
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Complete => None,
            Self::Incomplete { reason }
            | Self::Unavailable { reason }
            | Self::Skipped { reason } => Some(reason),
        }
    }
}

/// The outcome of one kind in one poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KindReport {
    /// The kind.
    pub kind: ResourceKind,
    /// Complete or not, and why.
    pub status: KindStatus,
    /// The resources listed.
    pub count: usize,
    /// Records skipped because they could not be read.
    pub unreadable: usize,
    /// How long the listing took.
    pub duration: Duration,
}

impl KindReport {
    /// A report.
    #[must_use]
    pub fn new(kind: ResourceKind, status: KindStatus, count: usize, duration: Duration) -> Self {
        Self { kind, status, count, unreadable: 0, duration }
    }
}

/// One poll of a tenant.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Collection {
    /// The resources listed (of complete and incomplete kinds alike).
    pub inventory: Inventory,
    /// How each kind went, in catalog order.
    pub reports: BTreeMap<ResourceKind, KindReport>,
}

impl Collection {
    /// The kinds listed completely.
    #[must_use]
    pub fn complete_kinds(&self) -> Vec<ResourceKind> {
        self.reports.values().filter(|r| r.status.is_complete()).map(|r| r.kind).collect()
    }
}

/// Lists a tenant's resources.
///
/// ```no_run
/// # async fn example(client: jumpwatch_api::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use jumpwatch_changes::Collector;
/// use jumpwatch_model::{ResourceKind, TenantId};
/// let collection = Collector::new(client)
///     .kinds([ResourceKind::User, ResourceKind::UserGroup, ResourceKind::UserGroupMember])
///     .collect(TenantId::new("acme")?)
///     .await;
/// for report in collection.reports.values() {
///     println!("{}: {} ({:?})", report.kind, report.count, report.status);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Collector {
    client: Client,
    kinds: Vec<ResourceKind>,
    parallel_parents: usize,
}

impl Collector {
    /// A collector of every catalog kind.
    #[must_use]
    pub fn new(client: Client) -> Self {
        Self { client, kinds: ResourceKind::ALL.to_vec(), parallel_parents: 16 }
    }

    /// The client it lists with.
    #[must_use]
    pub const fn client(&self) -> &Client {
        &self.client
    }

    /// Only these kinds (a child kind or relation brings in nothing else: list its parent kind
    /// too, or it is skipped).
    #[must_use]
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = ResourceKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self.kinds.sort();
        self.kinds.dedup();
        self
    }

    /// The kinds collected.
    #[must_use]
    pub fn selected(&self) -> &[ResourceKind] {
        &self.kinds
    }

    /// How many parents' children are listed at once (the client's concurrency still bounds the
    /// requests in flight).
    #[must_use]
    pub fn parallel_parents(mut self, n: usize) -> Self {
        self.parallel_parents = n.max(1);
        self
    }

    /// Lists every selected kind. Never fails as a whole: each kind reports its own status.
    pub async fn collect(&self, tenant: TenantId) -> Collection {
        self.collect_with_progress(tenant, &|_| {}).await
    }

    /// [`collect`](Self::collect), calling `progress` as each kind is done (to show progress).
    pub async fn collect_with_progress(
        &self,
        tenant: TenantId,
        progress: &(dyn Fn(&KindReport) + Sync),
    ) -> Collection {
        let mut inventory = Inventory::new(tenant);
        let mut reports = BTreeMap::new();
        let (top, children): (Vec<ResourceKind>, Vec<ResourceKind>) =
            self.kinds.iter().partition(|k| k.meta().parent.is_none());

        let mut listed = stream::iter(top)
            .map(|kind| async move { (kind, self.list_top(kind).await) })
            .buffer_unordered(self.client.current_concurrency().max(1));
        while let Some((kind, listing)) = listed.next().await {
            let report = self.absorb(&mut inventory, kind, listing);
            progress(&report);
            reports.insert(kind, report);
        }
        drop(listed);

        // Child kinds level by level (a level's parents are listed by then). Within a level
        // every kind's parents share one queue, so one kind's last pages overlap the next
        // kind's first instead of leaving requests idle.
        let mut children = children;
        children.sort_by_key(|&kind| (kind.depth(), kind));
        for level in children.chunk_by(|a, b| a.depth() == b.depth()) {
            let started = Instant::now();
            let mut work = Vec::new();
            let mut listed_kinds = Vec::new();
            for &kind in level {
                let Some(parent) = kind.meta().parent else { continue };
                let parent_complete =
                    reports.get(&parent.kind).is_some_and(|r: &KindReport| r.status.is_complete());
                if !parent_complete {
                    let reason =
                        format!("its parent kind {} was not listed completely", parent.kind);
                    let report =
                        KindReport::new(kind, KindStatus::Skipped { reason }, 0, Duration::ZERO);
                    progress(&report);
                    reports.insert(kind, report);
                    continue;
                }
                listed_kinds.push(kind);
                work.extend(inventory.resources(parent.kind).map(|r| (kind, r.id.clone())));
            }
            let mut results: BTreeMap<ResourceKind, Vec<_>> =
                listed_kinds.iter().map(|&kind| (kind, Vec::new())).collect();
            let mut finished: BTreeMap<ResourceKind, Duration> = BTreeMap::new();
            let mut listing = stream::iter(work)
                .map(|(kind, parent)| async move { (kind, self.list_child(kind, parent).await) })
                .buffer_unordered(self.parallel_parents);
            while let Some((kind, result)) = listing.next().await {
                results.entry(kind).or_default().push(result);
                finished.insert(kind, started.elapsed());
            }
            drop(listing);
            for (kind, results) in results {
                let duration = finished.get(&kind).copied().unwrap_or_default();
                let report = self.absorb(
                    &mut inventory,
                    kind,
                    Listed::from_results(kind, results, duration),
                );
                progress(&report);
                reports.insert(kind, report);
            }
        }
        Collection { inventory, reports }
    }

    async fn list_top(&self, kind: ResourceKind) -> Listed {
        let started = Instant::now();
        let result = self.client.list(kind).collect().await;
        Listed::from_results(
            kind,
            vec![result.map(|l| (l.resources, l.unreadable.len()))],
            started.elapsed(),
        )
    }

    /// The children of one parent; a parent deleted since it was listed has none.
    async fn list_child(
        &self,
        kind: ResourceKind,
        parent: ResourceId,
    ) -> Result<(Vec<Resource>, usize), Error> {
        match self.client.list(kind).parent(parent).collect().await {
            Ok(listing) => Ok((listing.resources, listing.unreadable.len())),
            Err(error) if error.status() == Some(404) => Ok((Vec::new(), 0)),
            Err(error) => Err(error),
        }
    }

    fn absorb(&self, inventory: &mut Inventory, kind: ResourceKind, listed: Listed) -> KindReport {
        let mut count = 0;
        for resource in listed.resources {
            match inventory.insert(resource) {
                Ok(_) => count += 1,
                Err(error) => warn!(%kind, %error, "a resource could not be indexed"),
            }
        }
        debug!(%kind, count, status = ?listed.status, "listed");
        KindReport {
            kind,
            status: listed.status,
            count,
            unreadable: listed.unreadable,
            duration: listed.duration,
        }
    }
}

struct Listed {
    resources: Vec<Resource>,
    unreadable: usize,
    status: KindStatus,
    duration: Duration,
}

impl Listed {
    fn from_results(
        kind: ResourceKind,
        results: Vec<Result<(Vec<Resource>, usize), Error>>,
        duration: Duration,
    ) -> Self {
        let mut listed =
            Self { resources: Vec::new(), unreadable: 0, status: KindStatus::Complete, duration };
        for result in results {
            match result {
                Ok((resources, unreadable)) => {
                    listed.resources.extend(resources);
                    listed.unreadable += unreadable;
                }
                Err(error) if listed.status.is_complete() => {
                    let reason = error.to_string();
                    listed.status = if kind.meta().optional && matches!(error, Error::Forbidden(_))
                    {
                        KindStatus::Unavailable { reason }
                    } else {
                        KindStatus::Incomplete { reason }
                    };
                }
                Err(_) => {}
            }
        }
        listed
    }
}
