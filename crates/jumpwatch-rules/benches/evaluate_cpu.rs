//! The built-in pack over a simulated tenant, timed in this thread's CPU time rather than wall
//! time (steadier on a shared machine), for before/after comparisons and profiling.
//!
//! `JUMPWATCH_SIZE=small|medium|large` (default `medium`), `JUMPWATCH_RUNS` (default 3):
//! `cargo bench -p jumpwatch-rules --bench evaluate_cpu`. With `JUMPWATCH_DUMP=file`, the results
//! of one evaluation are first written to `file` as JSON lines: the dataset is the same every
//! run (a fixed seed and instant), so two builds can be compared result by result.

#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "a benchmark")]

use std::hint::black_box;

use jumpwatch_rules::Engine;
use jumpwatch_sim::{Dataset, Size};

/// This thread's CPU time in nanoseconds (`/proc/thread-self/schedstat`), if readable.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn main() {
    let size = match std::env::var("JUMPWATCH_SIZE").as_deref() {
        Ok("large") => Size::Large,
        Ok("small") => Size::Small,
        _ => Size::Medium,
    };
    let runs: usize =
        std::env::var("JUMPWATCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    // A fixed instant: the same dataset every run, so that runs can be compared result by result.
    let at = chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().to_utc();
    let dataset = Dataset::builder().seed(42).size(size).now(at).generate();
    let tenant = &dataset.tenants()[0];
    let inventory = tenant.inventory();
    let now = dataset.now();
    let engine = Engine::builtin().unwrap();
    if let Some(path) = std::env::var_os("JUMPWATCH_DUMP") {
        use std::io::Write;
        let results = engine.evaluate_state(&inventory, now);
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        for result in &results {
            serde_json::to_writer(&mut out, result).unwrap();
            out.write_all(b"\n").unwrap();
        }
    }
    for _ in 0..runs {
        let (cpu, wall) = (cpu_ns().unwrap_or(0), std::time::Instant::now());
        let results = black_box(engine.evaluate_state(black_box(&inventory), now));
        let cpu = cpu_ns().unwrap_or(0).saturating_sub(cpu);
        let wall = wall.elapsed();
        #[allow(clippy::cast_precision_loss, reason = "a rate")]
        let rate = results.len() as f64 / (cpu as f64 / 1e9);
        println!(
            "{} resources, {} evaluations: {:.3} s CPU ({:.3} s wall), {rate:.0} evaluations/s/core",
            inventory.len(),
            results.len(),
            cpu as f64 / 1e9,
            wall.as_secs_f64(),
        );
    }
}
