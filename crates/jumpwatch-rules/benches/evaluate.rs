//! The whole built-in pack over the simulator's `large` tenant (50 000 users, 40 000 devices and
//! their groups, bindings, policies and System Insights rows): rule evaluations a second.
//!
//! `cargo bench -p jumpwatch-rules --bench evaluate`; the throughput criterion prints is in
//! rule evaluations (one rule on one resource).

#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "a benchmark")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jumpwatch_rules::Engine;
use jumpwatch_sim::{Dataset, Size};

fn evaluate(c: &mut Criterion) {
    let dataset = Dataset::builder().seed(42).size(Size::Large).generate();
    let tenant = &dataset.tenants()[0];
    let inventory = tenant.inventory();
    let now = dataset.now();
    let engine = Engine::builtin().unwrap();
    let evaluations = engine.evaluate_state(&inventory, now).len();
    println!(
        "{} resources, {} rules, {evaluations} rule evaluations a run",
        inventory.len(),
        engine.len()
    );
    let mut group = c.benchmark_group("rules");
    group.sample_size(10);
    group.throughput(Throughput::Elements(evaluations as u64));
    group.bench_function("builtin_pack_over_large_tenant", |b| {
        b.iter(|| black_box(engine.evaluate_state(black_box(&inventory), now)));
    });
    group.finish();
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
