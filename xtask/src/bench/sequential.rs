//! The sequential baseline: what the official SDKs and Steampipe's plugin do — every kind, and
//! every parent of a child kind, one after another, in pages of 10 with one request in flight —
//! over the same transport as Jumpwatch's client.
//!
//! A full run at `medium` takes about nine minutes (13 600 requests of 50 ms one at a time), so
//! by default it is sampled: a top-level kind is listed for at most `pages` pages, a child kind
//! for at most `parents` evenly spread parents and at most `pages` pages of each, and each kind's
//! time and requests are extrapolated by the items (or parents, and the items of the parents
//! listed) it has over those listed. The report says which kinds were. (At `large` a policy has
//! 40 000 statuses, 4 000 pages of 10: without the cap on pages a parent, ten policies took
//! eight and a half minutes.)

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use futures::StreamExt;
use jumpwatch_api::{Client, Error as ApiError};
use jumpwatch_model::{ResourceId, ResourceKind};
use serde_json::{Value, json};

use super::{round, seconds};

/// How much of the baseline to list; `None` lists everything.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sampling {
    /// Pages of 10 listed at most of each top-level kind, and of each parent of a child kind.
    pub(crate) pages: Option<usize>,
    /// Parents listed at most of each child kind.
    pub(crate) parents: Option<usize>,
}

/// One kind of the sequential baseline.
#[derive(Debug)]
struct SequentialKind {
    kind: ResourceKind,
    /// How many units the kind has: items of a top-level kind, parents of a child kind.
    units: usize,
    /// How many of them were listed.
    listed: usize,
    /// For a child kind: the items of the parents listed, and how many of them were listed (the
    /// pages of a parent are capped too). Equal for a top-level kind.
    items: usize,
    items_listed: usize,
    requests: u64,
    seconds: f64,
}

impl SequentialKind {
    /// A top-level kind: its units are its items, so it is scaled once, by `units / listed`.
    fn top_level(
        kind: ResourceKind,
        units: usize,
        listed: usize,
        requests: u64,
        seconds: f64,
    ) -> Self {
        Self { kind, units, listed, items: listed, items_listed: listed, requests, seconds }
    }

    fn scale(&self) -> f64 {
        let ratio =
            |all: usize, some: usize| if some == 0 { 1.0 } else { all as f64 / some as f64 };
        ratio(self.units, self.listed) * ratio(self.items, self.items_listed)
    }

    fn estimated_seconds(&self) -> f64 {
        self.seconds * self.scale()
    }

    fn estimated_requests(&self) -> f64 {
        self.requests as f64 * self.scale()
    }

    fn sampled(&self) -> bool {
        self.listed < self.units || self.items_listed < self.items
    }
}

/// The baseline's figures.
#[derive(Debug)]
pub(crate) struct Sequential {
    kinds: Vec<SequentialKind>,
    pub(crate) measured_s: f64,
    pub(crate) measured_requests: u64,
    pub(crate) estimated_s: f64,
    pub(crate) estimated_requests: f64,
    pub(crate) extrapolated: bool,
}

impl Sequential {
    /// The report's `sequential` section.
    pub(crate) fn to_json(&self) -> Value {
        let kinds: Vec<Value> = self
            .kinds
            .iter()
            .map(|k| {
                json!({
                    "kind": k.kind.to_string(),
                    "level": k.kind.depth(),
                    "units": k.units,
                    "listed": k.listed,
                    "items_of_listed_parents": k.items,
                    "items_listed": k.items_listed,
                    "requests": k.requests,
                    "seconds": round(k.seconds, 3),
                    "estimated_requests": round(k.estimated_requests(), 0),
                    "estimated_seconds": round(k.estimated_seconds(), 3),
                })
            })
            .collect();
        let sampled: Vec<String> = self
            .kinds
            .iter()
            .filter(|k| k.sampled())
            .map(|k| format!("{} ({} of {})", k.kind, k.listed, k.units))
            .collect();
        json!({
            "page_size": 10,
            "concurrency": 1,
            "measured_seconds": round(self.measured_s, 3),
            "measured_requests": self.measured_requests,
            "estimated_seconds": round(self.estimated_s, 3),
            "estimated_requests": round(self.estimated_requests, 0),
            "extrapolated": self.extrapolated,
            "sampled_kinds": sampled,
            "method": if self.extrapolated {
                "each kind listed one after another in pages of 10, one request in flight; a top-level kind for at most --sequential-pages pages (its time and requests scaled by items / items listed), a child kind for an evenly spread sample of at most --sequential-parents parents and at most --sequential-pages pages of each (scaled by parents / parents listed, and by the items of those parents / items listed)"
            } else {
                "every kind and every parent listed: measured, not extrapolated"
            },
            "kinds": kinds,
        })
    }
}

/// Lists one kind (of one parent) in pages of 10, returning the ids; at most `max_items`.
async fn list_sequentially(
    client: &Client,
    kind: ResourceKind,
    parent: Option<&ResourceId>,
    max_items: Option<usize>,
) -> Result<Vec<ResourceId>> {
    let mut request = client.list(kind).page_size(10);
    if let Some(parent) = parent {
        request = request.parent(parent.clone());
    }
    let mut stream = request.stream();
    let mut ids = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(resource) => ids.push(resource.id),
            Err(ApiError::Record(_)) => {}
            Err(error) if parent.is_some() && error.status() == Some(404) => break,
            Err(ApiError::Forbidden(_)) if kind.meta().optional => break,
            Err(error) => return Err(error).with_context(|| format!("listing {kind}")),
        }
        if max_items.is_some_and(|max| ids.len() >= max) {
            break;
        }
    }
    Ok(ids)
}

/// Lists every kind the way the SDKs do. `counts` are the items of each top-level kind, and
/// `children` those of each (child kind, parent) (from Jumpwatch's collection of the same
/// tenant), to scale a sampled kind by; the parents of a child kind are the ids this baseline
/// listed of its parent kind.
pub(crate) async fn paginate(
    client: &Client,
    sampling: Sampling,
    counts: &BTreeMap<ResourceKind, usize>,
    children: &BTreeMap<(ResourceKind, ResourceId), usize>,
    note: &dyn Fn(&str),
) -> Result<Sequential> {
    let max_items = sampling.pages.map(|p| p * 10);
    let mut order: Vec<ResourceKind> = ResourceKind::ALL.to_vec();
    order.sort_by_key(|&k| k.depth());
    // The parents each child kind is listed for: all of them when the parent kind was listed
    // whole, else the ones listed (Jumpwatch's ids are not used: the baseline finds its own).
    let mut ids: BTreeMap<ResourceKind, Vec<ResourceId>> = BTreeMap::new();
    let mut kinds = Vec::new();
    for kind in order {
        let before = client.stats().requests;
        let started = Instant::now();
        let record = match kind.meta().parent {
            None => {
                let listed = list_sequentially(client, kind, None, max_items).await?;
                let units = counts.get(&kind).copied().unwrap_or(0).max(listed.len());
                let record = SequentialKind::top_level(
                    kind,
                    units,
                    listed.len(),
                    client.stats().requests - before,
                    seconds(started.elapsed()),
                );
                ids.insert(kind, listed);
                record
            }
            Some(parent) => {
                let all = ids.get(&parent.kind).map_or(&[][..], Vec::as_slice);
                // Parents the sampled parent kind was not listed for are scaled in too.
                let parent_units = counts.get(&parent.kind).copied().unwrap_or(all.len());
                let take = sampling.parents.unwrap_or(all.len()).min(all.len());
                let (mut listed, mut items) = (Vec::new(), 0);
                for i in 0..take {
                    let parent = &all[i * all.len() / take];
                    let of_parent =
                        list_sequentially(client, kind, Some(parent), max_items).await?;
                    let known = children.get(&(kind, parent.clone())).copied().unwrap_or(0);
                    items += known.max(of_parent.len());
                    listed.extend(of_parent);
                }
                let record = SequentialKind {
                    kind,
                    units: parent_units.max(take),
                    listed: take,
                    items,
                    items_listed: listed.len(),
                    requests: client.stats().requests - before,
                    seconds: seconds(started.elapsed()),
                };
                ids.insert(kind, listed);
                record
            }
        };
        if record.sampled() {
            let of_items = if kind.meta().parent.is_some() {
                format!(" ({} of their {} items)", record.items_listed, record.items)
            } else {
                String::new()
            };
            note(&format!(
                "  {kind}: {} of {} {}{of_items}, {} requests, {:.1} s",
                record.listed,
                record.units,
                if kind.meta().parent.is_some() { "parents" } else { "items" },
                record.requests,
                record.seconds
            ));
        }
        kinds.push(record);
    }
    Ok(Sequential {
        measured_s: kinds.iter().map(|k| k.seconds).sum(),
        measured_requests: kinds.iter().map(|k| k.requests).sum(),
        estimated_s: kinds.iter().map(SequentialKind::estimated_seconds).sum(),
        estimated_requests: kinds.iter().map(SequentialKind::estimated_requests).sum(),
        extrapolated: kinds.iter().any(SequentialKind::sampled),
        kinds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sampled_child_kind_scales_by_parents_and_by_the_items_of_those_listed() {
        let kind = SequentialKind {
            kind: ResourceKind::PolicyStatus,
            units: 14,
            listed: 7,
            items: 70_000,
            items_listed: 700,
            requests: 77,
            seconds: 4.0,
        };
        assert!(kind.sampled());
        assert!((kind.scale() - 200.0).abs() < 1e-9);
        assert!((kind.estimated_seconds() - 800.0).abs() < 1e-9);
        let whole = SequentialKind { listed: 14, items_listed: 70_000, ..kind };
        assert!(!whole.sampled());
        assert!((whole.estimated_requests() - 77.0).abs() < 1e-9);
        let empty = SequentialKind { listed: 0, items: 0, items_listed: 0, ..whole };
        assert!((empty.scale() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_sampled_top_level_kind_scales_once_by_its_items() {
        // 20 pages of 10 listed of 17 038 items: 85.19 times the time, not its square.
        let kind = SequentialKind::top_level(ResourceKind::PolicyResult, 17_038, 200, 20, 1.0);
        assert!(kind.sampled());
        assert!((kind.estimated_requests() - 1703.8).abs() < 1e-6);
    }
}
