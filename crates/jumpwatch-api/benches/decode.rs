//! Page decoding: pages of 100 users and 100 systems, from bytes to resources.
//!
//! ```text
//! cargo bench -p jumpwatch-api --bench decode
//! ```

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::HeaderMap;
use jumpwatch_api::page::decode_page;
use jumpwatch_model::{Resource, ResourceKind};
use serde_json::{Value, json};

/// A v1 page of 100 documents made from the catalog's ordinary example of `kind`.
fn page(kind: ResourceKind) -> Vec<u8> {
    let example = kind.meta().examples.iter().find(|(name, _)| *name == "ordinary").unwrap().1;
    let template: Value = serde_json::from_str(example).unwrap();
    let results: Vec<Value> = (0..100)
        .map(|i| {
            let mut doc = template.clone();
            doc["_id"] = json!(format!("{i:024x}"));
            doc
        })
        .collect();
    serde_json::to_vec(&json!({"totalCount": 100, "results": results})).unwrap()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_page");
    for kind in [ResourceKind::User, ResourceKind::System] {
        let body = page(kind);
        group.throughput(Throughput::Elements(100));
        group.bench_function(kind.name(), |b| {
            b.iter(|| {
                let page = decode_page(kind, &HeaderMap::new(), black_box(&body)).unwrap();
                let resources: Vec<Resource> = page
                    .items
                    .into_iter()
                    .map(|doc| Resource::from_doc(kind, doc).unwrap())
                    .collect();
                black_box(resources)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
