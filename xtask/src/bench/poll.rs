//! A steady-state poll: the CPU work of each step against decoding alone, its peak memory against
//! the tenant's raw JSON, and the rule pack's evaluations a second.
//!
//! 1. The bench polls the simulator once into a SQLite file (the baseline) and audits it, as the
//!    daemon does; then edits 1 % of the tenant's resources (a real field of top-level resources,
//!    spread evenly over the kinds) and moves the simulator's clock on five minutes.
//! 2. A child process (`bench-poll`, this same binary) makes the second poll step by step on one
//!    thread: load the stored state; collect (transport and decoding); hash, diff and build the
//!    snapshot ([`Poller::prepare_collected`]); audit with the built-in pack; commit. Each step's
//!    thread CPU time, and the process's peak resident memory over its resident memory before
//!    the poll — so the simulator, in the parent, is not counted.
//! 3. The parent lists the same tenant again through a recording transport, and decodes the
//!    recorded bodies alone (`decode_page`, `Resource::from_doc`, the inventory's index) on one
//!    thread: the denominator. The rule pack's `Engine::evaluate_state` over that inventory gives
//!    the evaluations a second.
//!
//! The design target: decode + hash/diff + rules + commit at most 1.5 × decode alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use chrono::Utc;
use http::HeaderMap;
use jumpwatch_api::page::decode_page;
use jumpwatch_api::transport::{
    HttpRequest, HttpResponse, ReqwestTransport, Transport, TransportError,
};
use jumpwatch_api::{Client, SecretString};
use jumpwatch_changes::{Collector, InventoryStore, Poller};
use jumpwatch_model::{Inventory, Resource, ResourceId, ResourceKind, TenantId};
use jumpwatch_rules::{AuditCommit, AuditInput, Engine, FindingStore};
use jumpwatch_sim::{Mutation, Simulator};
use jumpwatch_store::SqliteStore;
use serde_json::{Value, json};

use super::proc::{cpu_of, peak_rss, reset_peak, rss};
use super::{round, seconds};

const TENANT: &str = "bench";

fn tenant() -> Result<TenantId> {
    Ok(TenantId::new(TENANT)?)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("a runtime")
}

/// The database file of the measured polls, removed (with its WAL files) when dropped.
struct BenchDb(PathBuf);

impl Drop for BenchDb {
    fn drop(&mut self) {
        crate::support::remove_database(&self.0);
    }
}

/// The whole poll measure: the baseline poll, the edits, the child's poll, the decoding alone and
/// the rules' rate. Returns the report's `poll`, `memory` and `rules` sections.
pub(crate) fn measure(sim: &Simulator, dir: &Path, note: &dyn Fn(&str)) -> Result<Value> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let db = BenchDb(dir.join(format!("poll-{}.db", std::process::id())));
    let rt = runtime()?;
    let baseline_client = client(sim.base_url(), sim.api_key(), None)?;

    note("steady-state poll: the baseline poll, audited and committed");
    let snapshot = {
        let store = Arc::new(SqliteStore::open(&db.0)?);
        let poller = Poller::new(Collector::new(baseline_client), Arc::clone(&store), tenant()?);
        let prepared = rt.block_on(poller.prepare(&|_| {}))?;
        let commit = &prepared.commit;
        let engine = Engine::builtin()?;
        let audit = engine.audit(
            AuditInput::new(&commit.snapshot, commit.finished_at).changes(&commit.events),
            store.findings(&tenant()?)?,
        );
        store.commit_audited(commit, &AuditCommit::of(tenant()?, &audit))?;
        prepared.commit.snapshot
    };
    let edited = edit_one_percent(sim, &snapshot)?;
    let resources = snapshot.len();
    drop(snapshot);
    sim.advance_clock(Duration::from_secs(300));
    note(&format!(
        "edited {edited} of {resources} resources; the measured poll, in a child process"
    ));

    // Not `Simulator::reset`, which would undo the edits: the bytes served are a difference.
    let served_before = sim.stats().bytes;
    let child = run_child(sim, &db.0)?;
    let raw_json = sim.stats().bytes - served_before;

    note("decoding the same pages alone, and the rule pack's rate");
    let recorder = Arc::new(Recorder::new()?);
    let recording = client(sim.base_url(), sim.api_key(), Some(Arc::clone(&recorder) as _))?;
    let listed = rt.block_on(Collector::new(recording).collect(tenant()?));
    let bodies = recorder.take();
    let tenant_id = tenant()?;
    let ((inventory, decoded), decode_cpu) = cpu_of(|| decode_all(tenant_id, &bodies));
    drop(bodies);
    let differ: Vec<String> = ResourceKind::ALL
        .iter()
        .filter(|&&k| inventory.count(k) != listed.inventory.count(k))
        .map(|&k| {
            format!("{k}: {} decoded, {} collected", inventory.count(k), listed.inventory.count(k))
        })
        .collect();
    if !differ.is_empty() {
        note(&format!("decoding alone differs from the collection: {}", differ.join("; ")));
    }
    drop(listed);
    let engine = Engine::builtin()?;
    // The engine's first evaluation compiles the pack's regular expressions and fills memory
    // for the first time; a daemon's every later poll is like the second. Both are reported.
    // Later runs are repeated for half a second at least: the thread's CPU clock moves in ticks,
    // and the small tenant's run is shorter than one.
    let (evaluations, first_cpu) = cpu_of(|| engine.evaluate_state(&inventory, sim.now()).len());
    let (runs, rules_cpu) = cpu_of(|| {
        let started = Instant::now();
        let mut runs = 0_u32;
        while runs == 0 || started.elapsed() < Duration::from_millis(500) {
            std::hint::black_box(engine.evaluate_state(&inventory, sim.now()));
            runs += 1;
        }
        runs
    });
    let rules_cpu = rules_cpu / runs;

    let phase = |name: &str| child["cpu_seconds"][name].as_f64().unwrap_or(f64::NAN);
    let decode_s = seconds(decode_cpu);
    let (collect, hash_diff, rules, commit, load) =
        (phase("collect"), phase("hash_diff"), phase("rules"), phase("commit"), phase("load"));
    let target_work = decode_s + hash_diff + rules + commit;
    let whole = load + collect + hash_diff + rules + commit;
    let ratio = |x: f64| if decode_s > 0.0 { round(x / decode_s, 2) } else { f64::NAN };
    let peak = child["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN);
    let per_second = |cpu: Duration| {
        if cpu > Duration::ZERO { evaluations as f64 / seconds(cpu) } else { f64::NAN }
    };
    Ok(json!({
        "poll": {
            "resources": resources,
            "edited": edited,
            "changes": child["changes"],
            "requests": child["requests"],
            "raw_json_bytes": raw_json,
            "cpu_seconds": {
                "decode_alone": round(decode_s, 3),
                "load": round(load, 3),
                "collect": round(collect, 3),
                "transport_and_paging": round((collect - decode_s).max(0.0), 3),
                "hash_diff": round(hash_diff, 3),
                "rules": round(rules, 3),
                "commit": round(commit, 3),
                "whole": round(whole, 3),
            },
            "ratio_to_decode": {
                "hash_diff": ratio(hash_diff),
                "rules": ratio(rules),
                "commit": ratio(commit),
                "load": ratio(load),
                "transport_and_paging": ratio((collect - decode_s).max(0.0)),
            },
            "cpu_ratio": ratio(target_work),
            "whole_cpu_ratio": ratio(whole),
            "decoded_pages": decoded,
            "method": "thread CPU time of each step of the second poll, in a child process on one thread; decode alone: the same pages, recorded, decoded on one thread. cpu_ratio = (decode + hash_diff + rules + commit) / decode; whole_cpu_ratio adds loading the stored state and the transport",
        },
        "memory": {
            "raw_json_bytes": raw_json,
            "rss_before_bytes": child["rss_before_bytes"],
            "peak_rss_bytes": child["peak_rss_bytes"],
            "poll_peak_bytes": child["poll_peak_bytes"],
            "peak_ratio": if raw_json > 0 {
                round(child["poll_peak_bytes"].as_f64().unwrap_or(peak) / raw_json as f64, 2)
            } else { f64::NAN },
            "method": "the child's peak resident memory (VmHWM) over the poll, less its resident memory before it, over the bytes of JSON the simulator served to that poll",
        },
        "rules": {
            "rules": engine.len(),
            "resources": inventory.len(),
            "evaluations": evaluations,
            "cpu_seconds": round(seconds(rules_cpu), 3),
            "evaluations_per_second": round(per_second(rules_cpu), 0),
            "first_run_cpu_seconds": round(seconds(first_cpu), 3),
            "first_run_evaluations_per_second": round(per_second(first_cpu), 0),
            "later_runs": runs,
            "method": "Engine::evaluate_state over the decoded tenant on one thread with one engine: its first run (which compiles the pack's regular expressions) is first_run_*; then runs repeated for at least 0.5 s, whose mean thread CPU time is cpu_seconds",
        },
    }))
}

/// Edits 1 % of the tenant's resources: top-level resources spread evenly over their kinds get a
/// new `description`. Returns how many were edited.
fn edit_one_percent(sim: &Simulator, snapshot: &Inventory) -> Result<usize> {
    let top: Vec<&Resource> = snapshot.iter().filter(|r| r.kind.meta().parent.is_none()).collect();
    let want = snapshot.len().div_ceil(100).min(top.len());
    if want == 0 {
        return Ok(0);
    }
    let mut edited = 0;
    for i in 0..want {
        let resource = top[i * top.len() / want];
        let edit = Mutation::update(resource.kind, resource.id.clone())
            .set("description", Value::String(format!("edited by the benchmark ({i})")));
        if sim.apply([edit]).is_ok() {
            edited += 1;
        }
    }
    Ok(edited)
}

fn client(base_url: &str, api_key: &str, transport: Option<Arc<dyn Transport>>) -> Result<Client> {
    let mut builder =
        Client::builder().api_key(SecretString::from(api_key.to_owned())).base_url(base_url);
    if let Some(transport) = transport {
        builder = builder.transport(transport);
    }
    Ok(builder.build()?)
}

/// Runs `bench-poll` in a child process and reads its figures.
fn run_child(sim: &Simulator, db: &Path) -> Result<Value> {
    let exe = std::env::current_exe().context("the benchmark's own executable")?;
    let output = Command::new(exe)
        .arg("bench-poll")
        .arg(db)
        .env("JUMPWATCH_BENCH_BASE_URL", sim.base_url())
        .env("JUMPCLOUD_API_KEY", sim.api_key())
        .output()
        .context("running bench-poll")?;
    if !output.status.success() {
        bail!(
            "bench-poll failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    serde_json::from_slice(&output.stdout).context("reading bench-poll's figures")
}

/// `bench-poll DB`: the measured poll (the child's side), printing its figures as JSON.
pub(crate) fn run_child_poll(args: &[&str]) -> Result<()> {
    let [db] = args else { bail!("usage: bench-poll DB") };
    let base_url = std::env::var("JUMPWATCH_BENCH_BASE_URL").context("JUMPWATCH_BENCH_BASE_URL")?;
    let api_key = std::env::var("JUMPCLOUD_API_KEY").context("JUMPCLOUD_API_KEY")?;
    let rt = runtime()?;
    let client = client(&base_url, &api_key, None)?;
    let store = Arc::new(SqliteStore::open(db)?);
    let engine = Engine::builtin()?;
    let tenant = tenant()?;
    let poller = Poller::new(Collector::new(client.clone()), Arc::clone(&store), tenant.clone());
    let collector = Collector::new(client.clone());

    let rss_before = rss().unwrap_or(0);
    reset_peak();
    let started_at = Utc::now();
    let (stored, load) = cpu_of(|| store.load_index(&tenant));
    let mut stored = stored?;
    let (collection, collect) = cpu_of(|| rt.block_on(collector.collect(tenant.clone())));
    let (prepared, hash_diff) =
        cpu_of(|| poller.prepare_collected(&mut stored, collection, started_at, Utc::now()));
    let prepared = prepared?;
    let previous = store.findings(&tenant)?;
    let commit = &prepared.commit;
    let (audit, rules) = cpu_of(|| {
        engine.audit(
            AuditInput::new(&commit.snapshot, commit.finished_at).changes(&commit.events),
            previous,
        )
    });
    let (seqs, commit_cpu) =
        cpu_of(|| store.commit_audited(commit, &AuditCommit::of(tenant.clone(), &audit)));
    seqs?;
    let peak = peak_rss().unwrap_or(0);
    let figures = json!({
        "cpu_seconds": {
            "load": seconds(load),
            "collect": seconds(collect),
            "hash_diff": seconds(hash_diff),
            "rules": seconds(rules),
            "commit": seconds(commit_cpu),
        },
        "changes": commit.events.len(),
        "requests": client.stats().requests,
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak,
        "poll_peak_bytes": peak.saturating_sub(rss_before),
    });
    #[allow(clippy::print_stdout, reason = "the parent reads the figures from stdout")]
    {
        println!("{figures}");
    }
    Ok(())
}

/// A response body, with what was asked for.
struct Recorded {
    path: String,
    query: String,
    headers: HeaderMap,
    body: bytes::Bytes,
}

/// A transport that keeps every successful response's body.
struct Recorder {
    inner: ReqwestTransport,
    bodies: Mutex<Vec<Recorded>>,
}

impl Recorder {
    fn new() -> Result<Self> {
        Ok(Self {
            inner: ReqwestTransport::new(Duration::from_secs(60), Duration::from_secs(10))?,
            bodies: Mutex::new(Vec::new()),
        })
    }

    fn take(&self) -> Vec<Recorded> {
        self.bodies.lock().map(|mut b| std::mem::take(&mut *b)).unwrap_or_default()
    }
}

#[async_trait]
impl Transport for Recorder {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or("").to_owned();
        let response = self.inner.send(request).await?;
        if response.status().is_success()
            && let Ok(mut bodies) = self.bodies.lock()
        {
            bodies.push(Recorded {
                path,
                query,
                headers: response.headers().clone(),
                body: response.body().clone(),
            });
        }
        Ok(response)
    }
}

/// A catalog route: the kind, whether it lists (or gets one), and its path's segments.
struct Route {
    kind: ResourceKind,
    list: bool,
    segments: Vec<&'static str>,
}

fn routes() -> Vec<Route> {
    let mut routes = Vec::new();
    for &kind in ResourceKind::ALL {
        let meta = kind.meta();
        let base = meta.api.base_path();
        for (path, list) in
            std::iter::once((meta.list_path, true)).chain(meta.get_path.map(|p| (p, false)))
        {
            let segments =
                base.split('/').chain(path.split('/')).filter(|s| !s.is_empty()).collect();
            routes.push(Route { kind, list, segments });
        }
    }
    routes
}

/// The routes a request may have taken (several kinds may list the same path with the same
/// query, filtering the items differently), and the value of the first placeholder (a child's
/// parent).
fn routes_of<'r>(routes: &'r [Route], path: &str, query: &str) -> (Vec<&'r Route>, Option<String>) {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let pairs: Vec<(String, String)> = url_pairs(query);
    let matching: Vec<&Route> = routes
        .iter()
        .filter(|route| route.segments.len() == parts.len())
        .filter(|route| {
            route.segments.iter().zip(&parts).all(|(s, p)| s.starts_with('{') || s == p)
        })
        .filter(|route| {
            route
                .kind
                .meta()
                .query
                .iter()
                .all(|(k, v)| pairs.iter().any(|(pk, pv)| pk == k && pv == v))
        })
        .collect();
    let score = |route: &Route| {
        (
            route.kind.meta().query.len(),
            route.segments.iter().filter(|s| !s.starts_with('{')).count(),
        )
    };
    let best = matching.iter().map(|r| score(r)).max();
    let chosen: Vec<&Route> = matching.into_iter().filter(|r| Some(score(r)) == best).collect();
    let placeholder = chosen.first().and_then(|route| {
        route
            .segments
            .iter()
            .zip(&parts)
            .find(|(s, _)| s.starts_with('{'))
            .map(|(_, p)| (*p).to_owned())
    });
    (chosen, placeholder)
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, byte) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes recorded bodies into an inventory, as the client does; returns it with the number of
/// bodies decoded by route (`list` and `get`) and not matched.
fn decode_all(tenant: TenantId, bodies: &[Recorded]) -> (Inventory, Value) {
    let routes = routes();
    let mut inventory = Inventory::new(tenant);
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    // Requests of the same URL by several kinds are given to them in turn.
    let mut seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for recorded in bodies {
        let (candidates, placeholder) = routes_of(&routes, &recorded.path, &recorded.query);
        let turn = seen.entry((&recorded.path, &recorded.query)).or_default();
        let Some(route) = candidates.get(*turn % candidates.len().max(1)) else {
            *counts.entry("unmatched").or_default() += 1;
            continue;
        };
        *turn += 1;
        let kind = route.kind;
        let docs = if route.list {
            *counts.entry("list").or_default() += 1;
            match decode_page(kind, &recorded.headers, &recorded.body) {
                Ok(page) => page.items,
                Err(_) => continue,
            }
        } else {
            *counts.entry("get").or_default() += 1;
            match serde_json::from_slice::<Value>(&recorded.body) {
                Ok(doc) => vec![doc],
                Err(_) => continue,
            }
        };
        let parent = if route.list && kind.meta().parent.is_some() {
            placeholder.and_then(|p| ResourceId::new(p).ok())
        } else {
            None
        };
        for doc in docs {
            let resource = match &parent {
                Some(parent) => Resource::from_child_doc(kind, parent.clone(), doc),
                None => Resource::from_doc(kind, doc),
            };
            let Ok(resource) = resource else { continue };
            // A kind listed from another kind's path keeps only its own items, as the client does.
            let kept = kind.meta().list_filter.is_none_or(|(field, value)| {
                resource.get(field).and_then(Value::as_str) == Some(value)
            });
            if kept {
                let _ = inventory.insert(resource);
            }
        }
    }
    (inventory, json!(counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_matched_to_their_kind_and_parent() {
        assert_eq!(percent_decode("a%3Ab+c%2"), "a:b c%2");
        let routes = routes();
        let (users, parent) = routes_of(&routes, "/api/systemusers", "limit=100&skip=0");
        assert_eq!(users.iter().map(|r| r.kind).collect::<Vec<_>>(), [ResourceKind::User]);
        assert_eq!(parent, None);
        let child = ResourceKind::ALL
            .iter()
            .copied()
            .find(|k| k.meta().parent.is_some() && k.meta().query.is_empty())
            .unwrap_or(ResourceKind::User);
        let meta = child.meta();
        let path = format!("{}{}", meta.api.base_path(), meta.list_path);
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "p123" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let (found, parent) = routes_of(&routes, &concrete, "");
        assert!(found.iter().any(|r| r.kind == child && r.list), "{concrete}");
        assert_eq!(parent.as_deref(), Some("p123"));
        assert!(routes_of(&routes, "/nowhere", "").0.is_empty());
    }
}
