//! Polls made by hand: snapshots and events, without a network.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use jumpwatch_changes::diff::diff_inventories;
use jumpwatch_changes::{KindReport, KindStatus, PollCommit};
use jumpwatch_model::{Inventory, Resource, ResourceId, ResourceKind, TenantId};
use serde_json::Value;

pub(crate) fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

/// The instant of poll `n`: an hour apart from 2026-01-01.
pub(crate) fn at(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::hours(n)
}

pub(crate) fn inventory(resources: &[(ResourceKind, Option<&str>, Value)]) -> Inventory {
    let mut inventory = Inventory::new(tenant());
    for (kind, parent, doc) in resources {
        let resource = match parent {
            Some(p) => Resource::from_child_doc(*kind, ResourceId::new(*p).unwrap(), doc.clone()),
            None => Resource::from_doc(*kind, doc.clone()),
        }
        .unwrap();
        inventory.insert(resource).unwrap();
    }
    inventory
}

/// A poll at `at(n)` that replaces the snapshot of `kinds` with `current`, with the events the
/// diff gives against `previous`.
pub(crate) fn poll(
    n: i64,
    previous: &Inventory,
    current: &Inventory,
    kinds: &[ResourceKind],
) -> PollCommit {
    let events = diff_inventories(previous, current, kinds, at(n));
    let reports = kinds
        .iter()
        .map(|&kind| {
            KindReport::new(
                kind,
                KindStatus::Complete,
                current.count(kind),
                std::time::Duration::ZERO,
            )
        })
        .collect::<Vec<_>>();
    let mut commit = PollCommit::new(tenant(), at(n), at(n));
    commit.reports = reports;
    commit.committed_kinds = kinds.iter().copied().collect::<BTreeSet<_>>();
    commit.snapshot = current.clone();
    commit.events = events;
    commit.held = BTreeMap::new();
    commit
}
