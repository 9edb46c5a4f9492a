//! The CPU work of one steady-state poll of a 100 000-resource tenant with 1 % changed, step by
//! step: decoding the pages alone; normalizing, hashing and diffing; committing to SQLite.
//!
//! ```text
//! cargo bench -p jumpwatch-store --bench poll
//! ```
//!
//! The design target is the whole poll at most 1.5 × decoding alone (see docs/benchmarks.md).

#![allow(missing_docs, clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::hint::black_box;
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderMap;
use jumpwatch_api::page::decode_page;
use jumpwatch_changes::diff::diff_inventories;
use jumpwatch_changes::{InventoryStore, PollCommit};
use jumpwatch_model::{Inventory, Normalizer, Resource, ResourceKind, TenantId};
use jumpwatch_store::SqliteStore;
use serde_json::{Value, json};

const USERS: usize = 60_000;
const SYSTEMS: usize = 40_000;

fn template(kind: ResourceKind) -> Value {
    serde_json::from_str(kind.meta().examples.iter().find(|(n, _)| *n == "ordinary").unwrap().1)
        .unwrap()
}

/// The tenant's pages as the API sends them (v1 pages of 100), with `changed` of every 100
/// resources edited.
fn pages(changed: bool) -> Vec<(ResourceKind, Vec<u8>)> {
    let mut out = Vec::new();
    for (kind, count) in [(ResourceKind::User, USERS), (ResourceKind::System, SYSTEMS)] {
        let base = template(kind);
        for page in 0..count / 100 {
            let results: Vec<Value> = (0..100)
                .map(|i| {
                    let n = page * 100 + i;
                    let mut doc = base.clone();
                    doc["_id"] = json!(format!("{n:024x}"));
                    if kind == ResourceKind::User {
                        doc["username"] = json!(format!("user{n}"));
                        doc["email"] = json!(format!("user{n}@example.com"));
                        if changed && i == 0 {
                            doc["department"] = json!("Changed");
                        }
                    } else {
                        doc["displayName"] = json!(format!("host{n}"));
                        // Check-ins move volatile fields on every system: never a change.
                        if changed {
                            doc["lastContact"] = json!("2026-11-29T12:00:00Z");
                        }
                        if changed && i == 0 {
                            doc["allowSshRootLogin"] = json!(true);
                        }
                    }
                    doc
                })
                .collect();
            out.push((
                kind,
                serde_json::to_vec(&json!({"totalCount": count, "results": results})).unwrap(),
            ));
        }
    }
    out
}

fn decode(pages: &[(ResourceKind, Vec<u8>)]) -> Inventory {
    let mut inventory = Inventory::new(TenantId::new("bench").unwrap());
    for (kind, body) in pages {
        let page = decode_page(*kind, &HeaderMap::new(), body).unwrap();
        for doc in page.items {
            inventory.insert(Resource::from_doc(*kind, doc).unwrap()).unwrap();
        }
    }
    inventory
}

const KINDS: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::System];

fn commit_of(previous: &Inventory, current: &Inventory) -> PollCommit {
    let now = Utc::now();
    let mut commit = PollCommit::new(TenantId::new("bench").unwrap(), now, now);
    commit.committed_kinds = KINDS.into_iter().collect();
    commit.snapshot = current.clone();
    commit.events = diff_inventories(previous, current, &KINDS, now);
    commit
}

/// Hashes every document once, as the poller does; the hashes are then reused.
fn hash_all(inventory: &mut Inventory) {
    for kind in KINDS {
        let normalizer = Normalizer::for_kind(kind);
        let hashes: Vec<_> =
            inventory.resources(kind).map(|r| (r.id.clone(), normalizer.hash(&r.doc))).collect();
        for (id, hash) in hashes {
            inventory.set_hash(kind, &id, hash);
        }
    }
}

fn poll(c: &mut Criterion) {
    let before = pages(false);
    let after = pages(true);
    // The previous snapshot comes from the store with its hashes.
    let mut previous = decode(&before);
    hash_all(&mut previous);
    let mut current = decode(&after);
    hash_all(&mut current);
    let events = diff_inventories(&previous, &current, &KINDS, Utc::now());
    assert_eq!(events.len(), (USERS + SYSTEMS) / 100, "1 % changed, check-ins ignored");

    let mut group = c.benchmark_group("poll_100k_1pct");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("decode_pages", |b| b.iter(|| black_box(decode(black_box(&after)))));
    // Hashing the new listing once, and diffing against the stored hashes.
    group.bench_function("normalize_hash_diff", |b| {
        b.iter_batched(
            || decode(&after),
            |mut listed| {
                hash_all(&mut listed);
                black_box(diff_inventories(black_box(&previous), &listed, &KINDS, Utc::now()))
            },
            criterion::BatchSize::PerIteration,
        );
    });
    group.bench_function("store_commit", |b| {
        b.iter_batched(
            || {
                let store = SqliteStore::in_memory().unwrap();
                store
                    .commit(&commit_of(&Inventory::new(TenantId::new("bench").unwrap()), &previous))
                    .unwrap();
                (store, commit_of(&previous, &current))
            },
            |(store, commit)| black_box(store.commit(&commit).unwrap()),
            criterion::BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, poll);
criterion_main!(benches);
