//! `cargo xtask bench`: Jumpwatch's collection against the simulator, compared with the lower
//! bound of its own request log and with a sequential `limit=10` paginator.
//!
//! `cargo xtask` runs xtask in the debug profile, so `bench` does not measure in-process: it runs
//! `cargo run --release -p xtask -- bench-run <same arguments>`, and `bench-run` does the work
//! with optimized code. Both take:
//!
//! - `--size small|medium|large|<users>x<systems>` (default `large`), `--seed N` (default 42);
//! - `--latency 50ms` (default 50 ms; `2ms`, `0.05s` or a bare number of milliseconds), the
//!   latency the simulator adds to every response: the round trip `t`;
//! - `--concurrency N` (default: the client's default), the requests Jumpwatch keeps in flight;
//! - `--sequential-parents N|all` (default 200): how many parents of each child kind the
//!   sequential paginator lists (evenly spread); with fewer than all, the child kind's time is
//!   extrapolated by parent count, and the report says so;
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
//! What the official SDKs and Steampipe's plugin do: every kind, and every parent of a child
//! kind, listed in pages of 10 with one request in flight — `client.list(kind).page_size(10)`
//! over a client built with `.concurrency(1)`, the same reqwest transport as Jumpwatch's client.
//! `collection.speedup_vs_sequential` is its (measured or extrapolated) time over Jumpwatch's.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use jumpwatch_api::{Client, Error as ApiError, SecretString};
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
    pub(crate) out: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            size: "large".into(),
            seed: 42,
            latency: Duration::from_millis(50),
            concurrency: None,
            sequential_parents: Some(200),
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
                "--out" => options.out = PathBuf::from(value()?),
                other => bail!("unknown bench argument {other:?}"),
            }
        }
        Ok(options)
    }
}

/// `50ms`, `2ms`, `0.05s`, `1s` or a bare number of milliseconds.
fn parse_duration(text: &str) -> Result<Duration> {
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
    let out = root.join(&options.out);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut text = serde_json::to_string_pretty(&report)?;
    text.push('\n');
    std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
    eprintln_note(&format!("report written to {}", out.display()));
    Ok(())
}

#[allow(clippy::print_stderr)]
fn eprintln_note(line: &str) {
    eprintln!("bench: {line}");
}

/// The dependency level of a kind: 0 without a parent, else one more than its parent's.
fn level(kind: ResourceKind) -> usize {
    let mut level = 0;
    let mut kind = kind;
    while let Some(parent) = kind.meta().parent {
        level += 1;
        kind = parent.kind;
    }
    level
}

/// The level of each route the simulator labels (`GET /api/v2/usergroups/{group_id}/members`).
fn route_levels() -> BTreeMap<String, usize> {
    let mut routes = BTreeMap::new();
    for &kind in ResourceKind::ALL {
        let meta = kind.meta();
        let base = meta.api.base_path();
        let paths = std::iter::once(meta.list_path).chain(meta.get_path);
        for path in paths {
            let level = level(kind);
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

fn round(x: f64, digits: i32) -> f64 {
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
    let size: Size = options.size.parse().map_err(|e| anyhow::anyhow!("--size: {e}"))?;
    note(&format!("generating the {} tenant (seed {})", options.size, options.seed));
    let sim = Simulator::builder()
        .seed(options.seed)
        .size(size)
        .latency(options.latency)
        .spawn()
        .context("starting the simulator")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("building the runtime")?;
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
    let sequential = client(&sim, Some(1))?;
    let baseline =
        runtime.block_on(sequential_paginator(&sequential, options.sequential_parents, note))?;
    let speedup = baseline.estimated_s / collect_s;

    let kinds: Vec<Value> = baseline
        .kinds
        .iter()
        .map(|k| {
            json!({
                "kind": k.kind.to_string(),
                "level": level(k.kind),
                "parents": k.parents,
                "parents_listed": k.parents_listed,
                "requests": k.requests,
                "seconds": round(k.seconds, 3),
                "estimated_requests": round(k.estimated_requests(), 0),
                "estimated_seconds": round(k.estimated_seconds(), 3),
            })
        })
        .collect();
    let jumpwatch_kinds: Value = collection
        .reports
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

    Ok(json!({
        "settings": {
            "size": options.size,
            "seed": options.seed,
            "latency_ms": round(t * 1e3, 3),
            "concurrency": concurrency,
            "sequential_parents": options.sequential_parents,
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
            "resources": collection.inventory.len(),
            "incomplete_kinds": incomplete,
            "unmapped_routes": unmapped,
            "routes": routes,
            "kinds": jumpwatch_kinds,
            "lower_bound_method": "sum over dependency levels of max(1, ceil(requests served at the level / concurrency)) x latency; the requests are the simulator's request log of this collection",
        },
        "sequential": {
            "page_size": 10,
            "concurrency": 1,
            "measured_seconds": round(baseline.measured_s, 3),
            "measured_requests": baseline.measured_requests,
            "estimated_seconds": round(baseline.estimated_s, 3),
            "estimated_requests": round(baseline.estimated_requests, 0),
            "extrapolated": baseline.extrapolated,
            "method": if baseline.extrapolated {
                "top-level kinds listed fully; child kinds listed for an evenly spread sample of their parents, each kind's time and requests scaled by (parents / parents listed)"
            } else {
                "every kind and every parent listed: measured, not extrapolated"
            },
            "kinds": kinds,
        },
    }))
}

/// One kind of the sequential baseline.
#[derive(Debug)]
struct SequentialKind {
    kind: ResourceKind,
    /// Parents of a child kind (1 for a top-level kind).
    parents: usize,
    parents_listed: usize,
    requests: u64,
    seconds: f64,
}

impl SequentialKind {
    fn scale(&self) -> f64 {
        if self.parents_listed == 0 {
            0.0
        } else {
            self.parents as f64 / self.parents_listed as f64
        }
    }

    fn estimated_seconds(&self) -> f64 {
        self.seconds * self.scale()
    }

    fn estimated_requests(&self) -> f64 {
        self.requests as f64 * self.scale()
    }
}

#[derive(Debug)]
struct Sequential {
    kinds: Vec<SequentialKind>,
    measured_s: f64,
    measured_requests: u64,
    estimated_s: f64,
    estimated_requests: f64,
    extrapolated: bool,
}

/// Lists one kind (of one parent) in pages of 10, returning the ids.
async fn list_sequentially(
    client: &Client,
    kind: ResourceKind,
    parent: Option<&ResourceId>,
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
    }
    Ok(ids)
}

async fn sequential_paginator(
    client: &Client,
    cap: Option<usize>,
    note: &dyn Fn(&str),
) -> Result<Sequential> {
    let mut order: Vec<ResourceKind> = ResourceKind::ALL.to_vec();
    order.sort_by_key(|&k| level(k));
    let mut ids: BTreeMap<ResourceKind, Vec<ResourceId>> = BTreeMap::new();
    let mut kinds = Vec::new();
    for kind in order {
        let before = client.stats().requests;
        let started = Instant::now();
        let (parents, parents_listed, listed) = match kind.meta().parent {
            None => (1, 1, list_sequentially(client, kind, None).await?),
            Some(parent) => {
                let all = ids.get(&parent.kind).map_or(&[][..], Vec::as_slice);
                let take = cap.unwrap_or(all.len()).min(all.len());
                let mut listed = Vec::new();
                for i in 0..take {
                    let parent = &all[i * all.len() / take];
                    listed.extend(list_sequentially(client, kind, Some(parent)).await?);
                }
                (all.len(), take, listed)
            }
        };
        let record = SequentialKind {
            kind,
            parents,
            parents_listed,
            requests: client.stats().requests - before,
            seconds: seconds(started.elapsed()),
        };
        if record.parents_listed < record.parents {
            note(&format!(
                "  {kind}: {} of {} parents, {} requests, {:.1} s",
                record.parents_listed, record.parents, record.requests, record.seconds
            ));
        }
        ids.insert(kind, listed);
        kinds.push(record);
    }
    let measured_s = kinds.iter().map(|k| k.seconds).sum();
    let measured_requests = kinds.iter().map(|k| k.requests).sum();
    Ok(Sequential {
        measured_s,
        measured_requests,
        estimated_s: kinds.iter().map(SequentialKind::estimated_seconds).sum(),
        estimated_requests: kinds.iter().map(SequentialKind::estimated_requests).sum(),
        extrapolated: kinds.iter().any(|k| k.parents_listed < k.parents),
        kinds,
    })
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
    if extrapolated {
        let _ = writeln!(
            out,
            "(sequential extrapolated: {})",
            report["sequential"]["method"].as_str().unwrap_or("")
        );
    }
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
        Ok(())
    }

    #[test]
    fn every_catalog_route_has_a_level() {
        let routes = route_levels();
        assert!(routes.values().any(|&l| l == 0));
        assert!(routes.values().any(|&l| l >= 1));
    }

    #[test]
    fn small_tenant_report() -> Result<()> {
        let options = Options {
            size: "small".into(),
            latency: Duration::from_millis(2),
            sequential_parents: None,
            ..Options::default()
        };
        let report = measure(&options, &|_| {})?;
        let ratio = get_f64(&report, "/collection/lower_bound_ratio");
        let speedup = get_f64(&report, "/collection/speedup_vs_sequential");
        assert!(ratio >= 1.0, "ratio {ratio}");
        assert!(speedup > 1.0, "speed-up {speedup}");
        assert!(get_f64(&report, "/collection/requests") > 0.0);
        assert!(get_f64(&report, "/sequential/measured_requests") > 0.0);
        assert_eq!(report["sequential"]["extrapolated"], false);
        assert_eq!(report["collection"]["unmapped_routes"], json!([]));
        assert_eq!(report["collection"]["incomplete_kinds"], json!([]));
        assert!(get_f64(&report, "/machine/nproc") >= 1.0);
        assert!(table(&report).contains("lower bound"));
        Ok(())
    }
}
