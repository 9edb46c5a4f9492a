//! `cargo xtask bench`: Jumpwatch's performance against the simulator, in one run — collection
//! against the lower bound of its own request log and against a sequential `limit=10` paginator
//! ([`sequential`]); collection under the simulator's rate limit ([`rate_limit`]); a steady-state
//! poll's CPU work by step against decoding alone, its peak memory against the raw JSON, and the
//! rule pack's evaluations a second ([`poll`]); notification delivery against the receiver's rate
//! ([`drain`]).
//!
//! `cargo xtask` runs xtask in the debug profile, so `bench` does not measure in-process: it runs
//! `cargo run --release -p xtask -- bench-run <same arguments>`, and `bench-run` does the work
//! with optimized code. Both take:
//!
//! - `--size small|medium|large|<users>x<systems>` (default `large`), `--seed N` (default 42);
//! - `--latency 50ms` (default 50 ms; `2ms`, `0.05s` or a bare number of milliseconds), the
//!   latency the simulator adds to every response: the round trip `t`;
//! - `--concurrency N` (default: the client's default), the requests Jumpwatch keeps in flight;
//! - `--sequential-pages N|all` (default 20) and `--sequential-parents N|all` (default 40): how
//!   many pages of each top-level kind (and of each parent of a child kind), and how many parents
//!   of each child kind, the sequential paginator lists; a kind listed in part is extrapolated,
//!   and the report says so;
//! - `--rate-limit N` (default 20; 0 skips it): the simulator's requests a second for the
//!   rate-limited run;
//! - `--drain N` (default 200; 0 skips it) and `--drain-rate N` (default 20): the alerts of the
//!   drain and the receiver's messages a second;
//! - `--no-poll`: skip the steady-state poll;
//! - `--out PATH` (default `target/bench/report.json`, relative to the workspace root).
//!
//! # The lower bound
//!
//! From the simulator's request log of Jumpwatch's collection: each served route is put at the
//! dependency level of its kind (0 for top-level kinds, including their get-by-id hydration; a
//! child kind or relation one more than its parent kind). With `C` requests in flight and every
//! response delayed by `t`, level `L`'s `R_L` requests take at least `ceil(R_L / C)` round trips,
//! and a level cannot start before the level it depends on has been listed:
//! `bound = Σ_L max(1, ceil(R_L / C)) · t`. `collection.lower_bound_ratio` is the measured wall
//! time over that bound. The report also gives the bound for a client that would pipeline child
//! requests into the parent listing, `max(ceil(R / C), levels) · t`, and its ratio.
//!
//! # The sequential baseline
//!
//! See [`sequential`]. `collection.speedup_vs_sequential` is its (measured or extrapolated) time
//! over Jumpwatch's.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

mod drain;
mod poll;
mod proc;
mod rate_limit;
mod sequential;

pub(crate) use poll::run_child_poll;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use jumpwatch_api::{Client, SecretString};
use jumpwatch_changes::Collector;
use jumpwatch_model::{ResourceId, ResourceKind, TenantId};
use jumpwatch_sim::{Simulator, Size};
use serde_json::{Value, json};

/// The settings of one benchmark run.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) size: String,
    pub(crate) seed: u64,
    pub(crate) latency: Duration,
    pub(crate) concurrency: Option<usize>,
    pub(crate) sequential_parents: Option<usize>,
    pub(crate) sequential_pages: Option<usize>,
    /// The simulator's rate limit for the rate-limited run (requests a second; 0 skips it).
    pub(crate) rate_limit: u32,
    /// Alerts of the drain, and the receiver's rate (0 alerts skips it).
    pub(crate) drain_alerts: usize,
    pub(crate) drain_rate: u32,
    /// Skip the steady-state poll (its CPU split, memory and the rules' rate).
    pub(crate) skip_poll: bool,
    pub(crate) out: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            size: "large".into(),
            seed: 42,
            latency: Duration::from_millis(50),
            concurrency: None,
            sequential_parents: Some(40),
            sequential_pages: Some(20),
            rate_limit: 20,
            drain_alerts: 200,
            drain_rate: 20,
            skip_poll: false,
            out: PathBuf::from("target/bench/report.json"),
        }
    }
}

impl Options {
    pub(crate) fn parse(args: &[&str]) -> Result<Self> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().copied().with_context(|| format!("{arg} needs a value"));
            match *arg {
                "--size" => {
                    let size = value()?;
                    size.parse::<Size>().map_err(|e| anyhow::anyhow!("--size {size}: {e}"))?;
                    options.size = size.to_owned();
                }
                "--seed" => options.seed = value()?.parse().context("--seed")?,
                "--latency" => options.latency = parse_duration(value()?)?,
                "--concurrency" => {
                    let n: usize = value()?.parse().context("--concurrency")?;
                    if n == 0 {
                        bail!("--concurrency must be at least 1");
                    }
                    options.concurrency = Some(n);
                }
                "--sequential-parents" => {
                    options.sequential_parents = match value()? {
                        "all" => None,
                        n => Some(n.parse::<usize>().context("--sequential-parents")?.max(1)),
                    };
                }
                "--sequential-pages" => {
                    options.sequential_pages = match value()? {
                        "all" => None,
                        n => Some(n.parse::<usize>().context("--sequential-pages")?.max(1)),
                    };
                }
                "--rate-limit" => options.rate_limit = value()?.parse().context("--rate-limit")?,
                "--drain" => options.drain_alerts = value()?.parse().context("--drain")?,
                "--drain-rate" => {
                    options.drain_rate = value()?.parse().context("--drain-rate")?;
                    if options.drain_rate == 0 {
                        bail!("--drain-rate must be at least 1");
                    }
                }
                "--no-poll" => options.skip_poll = true,
                "--out" => options.out = PathBuf::from(value()?),
                other => bail!("unknown bench argument {other:?}"),
            }
        }
        Ok(options)
    }
}

/// `50ms`, `2ms`, `0.05s`, `1s` or a bare number of milliseconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        (text, 1e-3)
    };
    let number: f64 = number.trim().parse().with_context(|| format!("latency {text:?}"))?;
    if !number.is_finite() || number < 0.0 {
        bail!("latency {text:?}: expected a duration like 50ms");
    }
    Ok(Duration::from_secs_f64(number * scale))
}

/// `cargo xtask bench ARGS`: runs `bench-run ARGS` in the release profile.
pub(crate) fn run(root: &Path, args: &[&str]) -> Result<()> {
    Options::parse(args)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["run", "--quiet", "--release", "--package", "xtask", "--", "bench-run"])
        .args(args)
        .status()
        .context("running `cargo run --release -p xtask -- bench-run`")?;
    if !status.success() {
        bail!("the release benchmark run failed ({status})");
    }
    Ok(())
}

/// `bench-run ARGS`: measures, prints the table and writes the report.
pub(crate) fn run_measured(root: &Path, args: &[&str]) -> Result<()> {
    let options = Options::parse(args)?;
    if cfg!(debug_assertions) {
        eprintln_note("bench-run is measuring a debug build; use `cargo xtask bench`");
    }
    let report = measure(&options, &|line| eprintln_note(line))?;
    print_table(&report);
    let out = crate::support::write_report(root, &options.out, &report)?;
    eprintln_note(&format!("report written to {}", out.display()));
    Ok(())
}

#[allow(clippy::print_stderr)]
fn eprintln_note(line: &str) {
    eprintln!("bench: {line}");
}

/// The level of each route the simulator labels (`GET /api/v2/usergroups/{group_id}/members`).
fn route_levels() -> BTreeMap<String, usize> {
    let mut routes = BTreeMap::new();
    for &kind in ResourceKind::ALL {
        let meta = kind.meta();
        let base = meta.api.base_path();
        let paths = std::iter::once(meta.list_path).chain(meta.get_path);
        for path in paths {
            let level = kind.depth();
            routes
                .entry(format!("GET {base}{path}"))
                .and_modify(|l: &mut usize| *l = (*l).max(level))
                .or_insert(level);
        }
    }
    routes
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

pub(crate) fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

fn client(sim: &Simulator, concurrency: Option<usize>) -> Result<Client> {
    let mut builder = Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url());
    if let Some(n) = concurrency {
        builder = builder.concurrency(n);
    }
    Ok(builder.build()?)
}

/// Runs the benchmark and returns its report. `note` receives progress lines.
pub(crate) fn measure(options: &Options, note: &dyn Fn(&str)) -> Result<Value> {
    let bench_started = Instant::now();
    let size: Size = options.size.parse().map_err(|e| anyhow::anyhow!("--size: {e}"))?;
    note(&format!("generating the {} tenant (seed {})", options.size, options.seed));
    let sim = Simulator::builder()
        .seed(options.seed)
        .size(size)
        .latency(options.latency)
        .spawn()
        .context("starting the simulator")?;
    let runtime = crate::support::runtime(2)?;
    let t = seconds(options.latency);

    // 1. Jumpwatch's collection, with its defaults.
    let jumpwatch = client(&sim, options.concurrency)?;
    let concurrency = jumpwatch.current_concurrency();
    note(&format!("collecting every kind with Jumpwatch (concurrency {concurrency})"));
    sim.reset();
    let started = Instant::now();
    let collection =
        runtime.block_on(Collector::new(jumpwatch.clone()).collect(TenantId::new("bench")?));
    let collect_s = seconds(started.elapsed());
    let served = sim.stats();
    let client_stats = jumpwatch.stats();
    let incomplete: Vec<String> = collection
        .reports
        .values()
        .filter(|r| !r.status.is_complete())
        .map(|r| format!("{}: {}", r.kind, r.status.reason().unwrap_or("")))
        .collect();
    if !incomplete.is_empty() {
        note(&format!("{} kinds not complete: {}", incomplete.len(), incomplete.join("; ")));
    }
    // Only the reports are needed from here on: the tenant's documents are freed before the
    // other measures (at `large`, gigabytes the steady-state poll's child would compete with).
    let resources = collection.inventory.len();
    // The items of each parent, for the sequential baseline's extrapolation.
    let mut children: BTreeMap<(ResourceKind, ResourceId), usize> = BTreeMap::new();
    for resource in collection.inventory.iter() {
        if let Some(parent) = &resource.parent {
            *children.entry((resource.kind, parent.clone())).or_default() += 1;
        }
    }
    let reports = collection.reports;
    drop(collection.inventory);

    // 2. The lower bound from the simulator's request log.
    let levels_of = route_levels();
    let mut by_level: BTreeMap<usize, u64> = BTreeMap::new();
    let mut unmapped = Vec::new();
    let mut routes = serde_json::Map::new();
    for (route, stats) in &served.routes {
        let level = levels_of.get(route).copied().unwrap_or_else(|| {
            unmapped.push(route.clone());
            0
        });
        *by_level.entry(level).or_default() += stats.requests;
        routes.insert(route.clone(), json!({ "requests": stats.requests, "level": level }));
    }
    let c = u64::try_from(concurrency.max(1)).unwrap_or(1);
    let round_trips: u64 = by_level.values().map(|&r| r.div_ceil(c).max(1)).sum();
    let lower_bound_s = round_trips as f64 * t;
    let levels = u64::try_from(by_level.len()).unwrap_or(1);
    let pipelined_s = served.requests.div_ceil(c).max(levels) as f64 * t;
    let ratio = if lower_bound_s > 0.0 { collect_s / lower_bound_s } else { f64::NAN };
    let pipelined_ratio = if pipelined_s > 0.0 { collect_s / pipelined_s } else { f64::NAN };

    // 3. The sequential paginator, on the same tenant.
    note("listing every kind with the sequential limit=10 paginator (one request in flight)");
    sim.reset();
    let sequential_client = client(&sim, Some(1))?;
    let counts: BTreeMap<ResourceKind, usize> =
        reports.values().map(|r| (r.kind, r.count)).collect();
    let sampling = sequential::Sampling {
        pages: options.sequential_pages,
        parents: options.sequential_parents,
    };
    let baseline = runtime.block_on(sequential::paginate(
        &sequential_client,
        sampling,
        &counts,
        &children,
        note,
    ))?;
    let speedup = baseline.estimated_s / collect_s;

    let jumpwatch_kinds: Value = reports
        .values()
        .map(|r| {
            (
                r.kind.to_string(),
                json!({
                    "resources": r.count,
                    "seconds": round(seconds(r.duration), 3),
                    "complete": r.status.is_complete(),
                }),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    let by_level_json: Vec<Value> = by_level
        .iter()
        .map(|(&level, &requests)| {
            json!({ "level": level, "requests": requests, "round_trips": requests.div_ceil(c).max(1) })
        })
        .collect();

    // 4. Under the simulator's rate limit.
    let rate_limited = if options.rate_limit > 0 {
        rate_limit::measure(&sim, options.rate_limit, options.latency, note)?
    } else {
        Value::Null
    };
    // 5. A steady-state poll: CPU by step, memory, the rules' rate.
    let scratch =
        options.out.parent().map_or_else(|| PathBuf::from("target/bench"), Path::to_path_buf);
    let poll = if options.skip_poll { json!({}) } else { poll::measure(&sim, &scratch, note)? };
    drop(sim);
    // 6. Notification delivery against the receiver's rate.
    let notify = if options.drain_alerts > 1 {
        drain::measure(&scratch, options.drain_alerts, options.drain_rate, note)?
    } else {
        Value::Null
    };

    Ok(json!({
        "settings": {
            "size": options.size,
            "seed": options.seed,
            "latency_ms": round(t * 1e3, 3),
            "concurrency": concurrency,
            "sequential_parents": options.sequential_parents,
            "sequential_pages": options.sequential_pages,
            "rate_limit": options.rate_limit,
            "drain_alerts": options.drain_alerts,
            "drain_rate": options.drain_rate,
            "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        },
        "machine": {
            "nproc": std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
        },
        "collection": {
            "seconds": round(collect_s, 3),
            "lower_bound_seconds": round(lower_bound_s, 3),
            "lower_bound_ratio": round(ratio, 3),
            "pipelined_lower_bound_seconds": round(pipelined_s, 3),
            "pipelined_lower_bound_ratio": round(pipelined_ratio, 3),
            "speedup_vs_sequential": round(speedup, 2),
            "requests": served.requests,
            "requests_by_level": by_level_json,
            "client_retries": client_stats.retries,
            "client_throttled": client_stats.throttled,
            "bytes": served.bytes,
            "resources": resources,
            "incomplete_kinds": incomplete,
            "unmapped_routes": unmapped,
            "routes": routes,
            "kinds": jumpwatch_kinds,
            "lower_bound_method": "sum over dependency levels of max(1, ceil(requests served at the level / concurrency)) x latency; the requests are the simulator's request log of this collection",
        },
        "sequential": baseline.to_json(),
        "rate_limited": rate_limited,
        "poll": poll["poll"],
        "memory": poll["memory"],
        "rules": poll["rules"],
        "notify": notify,
        "bench_seconds": round(seconds(bench_started.elapsed()), 1),
    }))
}

fn get_f64(report: &Value, pointer: &str) -> f64 {
    report.pointer(pointer).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// The table `bench-run` prints.
pub(crate) fn table(report: &Value) -> String {
    let f = |p: &str| get_f64(report, p);
    let mut out = String::new();
    let settings = &report["settings"];
    let _ = writeln!(
        out,
        "size {}, latency {} ms, concurrency {}, {} profile, {} cores",
        settings["size"].as_str().unwrap_or("?"),
        f("/settings/latency_ms"),
        f("/settings/concurrency"),
        settings["profile"].as_str().unwrap_or("?"),
        f("/machine/nproc"),
    );
    let _ = writeln!(out, "| measure | requests | seconds | ratio |");
    let _ = writeln!(out, "|---|---|---|---|");
    let _ = writeln!(
        out,
        "| Jumpwatch collection (all kinds, defaults) | {} | {:.2} | 1.00 |",
        f("/collection/requests"),
        f("/collection/seconds"),
    );
    let _ = writeln!(
        out,
        "| lower bound, per dependency level | {} | {:.2} | collection / bound = **{:.2}×** |",
        f("/collection/requests"),
        f("/collection/lower_bound_seconds"),
        f("/collection/lower_bound_ratio"),
    );
    let _ = writeln!(
        out,
        "| lower bound, fully pipelined | {} | {:.2} | collection / bound = {:.2}× |",
        f("/collection/requests"),
        f("/collection/pipelined_lower_bound_seconds"),
        f("/collection/pipelined_lower_bound_ratio"),
    );
    let extrapolated = report["sequential"]["extrapolated"].as_bool().unwrap_or(false);
    if extrapolated {
        let _ = writeln!(
            out,
            "| sequential limit=10 paginator, measured part | {} | {:.2} | |",
            f("/sequential/measured_requests"),
            f("/sequential/measured_seconds"),
        );
    }
    let _ = writeln!(
        out,
        "| sequential limit=10 paginator{} | {} | {:.2} | sequential / collection = **{:.1}×** |",
        if extrapolated { ", extrapolated" } else { "" },
        f("/sequential/estimated_requests"),
        f("/sequential/estimated_seconds"),
        f("/collection/speedup_vs_sequential"),
    );
    if !report["rate_limited"].is_null() {
        let _ = writeln!(
            out,
            "| rate-limited collection ({} req/s), top-level kinds | {} | {:.2} | time / rate bound ({:.2} s) = **{:.2}×**; 429s: {} ({} after the first adaptive step) |",
            f("/rate_limited/rate_per_second"),
            f("/rate_limited/requests_served"),
            f("/rate_limited/seconds"),
            f("/rate_limited/bound_seconds"),
            f("/rate_limited/ratio"),
            f("/rate_limited/throttled_429"),
            f("/rate_limited/throttled_429_after_first_step"),
        );
    }
    if report["poll"].get("cpu_ratio").is_some() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "steady-state poll: {} resources, {} edited (1 %), {} changes; thread CPU seconds",
            f("/poll/resources"),
            f("/poll/edited"),
            f("/poll/changes"),
        );
        let _ = writeln!(out, "| step | CPU s | × decode |");
        let _ = writeln!(out, "|---|---|---|");
        let steps = [
            ("decode alone (the pages, recorded)", "decode_alone"),
            ("load the stored state", "load"),
            ("transport and paging (collect − decode)", "transport_and_paging"),
            ("normalize + hash + diff + snapshot", "hash_diff"),
            ("rule evaluation (audit)", "rules"),
            ("store commit", "commit"),
        ];
        let decode = f("/poll/cpu_seconds/decode_alone");
        for (label, key) in steps {
            let cpu = f(&format!("/poll/cpu_seconds/{key}"));
            let _ = writeln!(out, "| {label} | {cpu:.3} | {:.2} |", cpu / decode);
        }
        let _ = writeln!(
            out,
            "| **decode + hash/diff + rules + commit** | | **{:.2}×** (target ≤ 1.5×) |",
            f("/poll/cpu_ratio"),
        );
        let _ = writeln!(
            out,
            "| whole poll (with load and transport) | {:.3} | {:.2}× |",
            f("/poll/cpu_seconds/whole"),
            f("/poll/whole_cpu_ratio"),
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| peak memory of the poll | {:.1} MB | raw JSON {:.1} MB | **{:.2}×** (target ≤ 3×) |",
            f("/memory/poll_peak_bytes") / 1e6,
            f("/memory/raw_json_bytes") / 1e6,
            f("/memory/peak_ratio"),
        );
        let _ = writeln!(
            out,
            "| rule evaluations | {} in {:.2} CPU s (an engine's first run: {:.0}/s) | {} rules × {} resources | **{:.0}/s** a core (target ≥ 1 000 000) |",
            f("/rules/evaluations"),
            f("/rules/cpu_seconds"),
            f("/rules/first_run_evaluations_per_second"),
            f("/rules/rules"),
            f("/rules/resources"),
            f("/rules/evaluations_per_second"),
        );
    }
    if !report["notify"].is_null() {
        let _ = writeln!(
            out,
            "| notification drain | {} messages in {:.2} s | {:.2}/s of {}/s configured | **{:.4}×** |",
            f("/notify/messages"),
            f("/notify/seconds"),
            f("/notify/achieved_per_second"),
            f("/notify/configured_per_second"),
            f("/notify/rate_ratio"),
        );
    }
    if extrapolated {
        let _ = writeln!(
            out,
            "(sequential extrapolated: {})",
            report["sequential"]["method"].as_str().unwrap_or("")
        );
    }
    let _ = writeln!(out, "bench time {:.0} s", f("/bench_seconds"));
    out
}

#[allow(clippy::print_stdout)]
fn print_table(report: &Value) {
    print!("{}", table(report));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arguments() -> Result<()> {
        let o = Options::parse(&["--size", "medium", "--latency", "2ms", "--concurrency", "4"])?;
        assert_eq!(o.size, "medium");
        assert_eq!(o.latency, Duration::from_millis(2));
        assert_eq!(o.concurrency, Some(4));
        assert_eq!(parse_duration("0.05s")?, Duration::from_millis(50));
        assert_eq!(parse_duration("50")?, Duration::from_millis(50));
        assert!(Options::parse(&["--size", "huge"]).is_err());
        assert!(Options::parse(&["--nope"]).is_err());
        let o = Options::parse(&["--sequential-pages", "all", "--rate-limit", "0", "--no-poll"])?;
        assert_eq!((o.sequential_pages, o.rate_limit, o.skip_poll), (None, 0, true));
        assert!(Options::parse(&["--drain-rate", "0"]).is_err());
        Ok(())
    }

    #[test]
    fn every_catalog_route_has_a_level() {
        let routes = route_levels();
        assert!(routes.values().any(|&l| l == 0));
        assert!(routes.values().any(|&l| l >= 1));
    }
}
