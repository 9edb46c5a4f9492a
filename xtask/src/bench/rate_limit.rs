//! Collection under the simulator's rate limit: the time against the rate-limit bound, and the
//! 429s received — in all, and after the client's first adaptive step.
//!
//! The simulator refuses requests over `rate` a second with 429 and `Retry-After` (a token bucket
//! of `rate` tokens, so a first burst of `rate` passes). The run lists every top-level kind with
//! a client built with its defaults. The bound for `R` requests that succeeded is
//! `max(0, R − rate) / rate` seconds, plus one round trip. The client's 429 counter is sampled
//! every 10 ms, so each 429 is placed in time: "after the first adaptive step" are those that
//! came more than one `Retry-After` (the first 429's wait, one second here) after the first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use jumpwatch_api::{Client, SecretString};
use jumpwatch_changes::Collector;
use jumpwatch_model::{ResourceKind, TenantId};
use jumpwatch_sim::Simulator;
use serde_json::{Value, json};

use super::{round, seconds};

/// The rate-limited run; returns the report's `rate_limited` section.
pub(crate) fn measure(
    sim: &Simulator,
    rate: u32,
    latency: Duration,
    note: &dyn Fn(&str),
) -> Result<Value> {
    let normal = sim.faults();
    sim.set_faults(normal.clone().rate_limit_per_sec(f64::from(rate)).retry_after(Some(1)))?;
    // `Simulator::reset` would put the faults back too: the statistics are read as differences.
    let before = sim.stats();
    let client = Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url())
        .build()?;
    let top: Vec<ResourceKind> =
        ResourceKind::ALL.iter().copied().filter(|k| k.meta().parent.is_none()).collect();
    note(&format!("listing the top-level kinds under a rate limit of {rate} requests a second"));

    let runtime = crate::support::runtime(2)?;
    // The 429 counter, sampled: (time since the start, 429s so far).
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let client = client.clone();
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut samples = vec![(Duration::ZERO, 0u64)];
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
                let throttled = client.stats().throttled;
                if samples.last().is_none_or(|&(_, n)| n != throttled) {
                    samples.push((started.elapsed(), throttled));
                }
            }
            samples
        })
    };
    let started = Instant::now();
    let collection = runtime
        .block_on(Collector::new(client.clone()).kinds(top).collect(TenantId::new("bench-rate")?));
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap_or_default();
    sim.set_faults(normal)?;

    let after = sim.stats();
    let served = after.requests - before.requests;
    let refused = after.faults.rate_limited - before.faults.rate_limited;
    let succeeded = served.saturating_sub(refused);
    let bound_s =
        succeeded.saturating_sub(u64::from(rate)) as f64 / f64::from(rate) + seconds(latency);
    let throttled = client.stats().throttled;
    let first = samples.iter().find(|&&(_, n)| n > 0).map(|&(at, _)| at);
    let settled = first.map(|at| at + Duration::from_secs(1));
    let before_settled = settled.map_or(0, |until| {
        samples.iter().take_while(|&&(at, _)| at <= until).last().map_or(0, |s| s.1)
    });
    let incomplete = collection.reports.values().filter(|r| !r.status.is_complete()).count();
    Ok(json!({
        "rate_per_second": rate,
        "seconds": round(seconds(elapsed), 3),
        "bound_seconds": round(bound_s, 3),
        "ratio": round(seconds(elapsed) / bound_s, 3),
        "requests_served": served,
        "requests_succeeded": succeeded,
        "resources": collection.inventory.len(),
        "incomplete_kinds": incomplete,
        "throttled_429": throttled,
        "throttled_429_simulator": refused,
        "first_429_at_seconds": first.map(|at| round(seconds(at), 3)),
        "throttled_429_after_first_step": throttled.saturating_sub(before_settled),
        "final_concurrency": client.current_concurrency(),
        "learned_rate_per_second": client.learned_rate().map(|r| round(r, 2)),
        "method": "every top-level kind listed with the client's defaults while the simulator refuses requests over the rate with 429 and Retry-After; bound = max(0, requests that succeeded - rate) / rate + one round trip; 429s after the first adaptive step: those more than one second (the first Retry-After) after the first 429",
    }))
}
