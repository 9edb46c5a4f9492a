//! `cargo xtask soak [--minutes N] [--seed S] [--interval 3s] [--out target/soak/report.json]`:
//! the whole system under the simulator's full fault mix, checked against the simulator's own
//! record of what happened.
//!
//! A [`Monitor`] (rules, audit log, notifications, a SQLite file) polls the simulator every few
//! seconds while, every second or so, an administrator (chosen at random) makes a random change:
//! users and devices edited, users created and deleted, group memberships added and removed. The
//! simulator injects latency with jitter, 429 bursts, 5xx, connection resets, truncated bodies,
//! short pages and moving items, and its clock jumps ahead of ours (up to four minutes); the
//! notifications go to a local webhook that fails one request in five.
//!
//! At the end the faults stop, one last poll and a drain settle everything, and the store is
//! compared with the simulator:
//! - the stored snapshot is the simulator's tenant: the same resources, the same contents;
//! - every resource a change left different from how it started has a change event (**lost**);
//! - every change event is on a resource a change touched (**spurious**), and every deletion on
//!   a resource that was deleted or unlinked (**spurious deletions**);
//! - a change's actor is one of the administrators who changed that resource or a membership of
//!   it (**wrong actor**); a relation derived from a membership (a device binding that comes with
//!   a group) is attributed by a best guess, so its actor is counted but not failed;
//! - every outbox entry is delivered or a dead letter, and every change alert delivered reached
//!   the webhook (**alerts lost**); alerts delivered more than once are counted;
//! - neither the API key nor the webhook's signing secret is in the database file, the
//!   notifications, or the logs (every Jumpwatch crate at `trace`, written to a file).
//!
//! It prints the figures, writes a JSON report and fails on any loss, spurious change or leak.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use jumpwatch::{Monitor, MonitorEvent};
use jumpwatch_api::{Client, SecretString};
use jumpwatch_changes::{EventPolicy, InventoryStore};
use jumpwatch_model::{Inventory, Normalizer, ResourceId, ResourceKind, TenantId};
use jumpwatch_notify::channel::webhook::{SigningSecret, WebhookChannel, WebhookConfig};
use jumpwatch_notify::sink::WebhookSink;
use jumpwatch_notify::{
    DeliveryPolicy, Matchers, NotifyConfig, ReceiverConfig, Route, RouteTree, Timing,
};
use jumpwatch_rules::Engine;
use jumpwatch_sim::{Faults, Mutation, Op, Simulator, Size};
use jumpwatch_store::SqliteStore;
use serde_json::{Value, json};

use crate::bench::{parse_duration, round};

/// The soak's settings.
#[derive(Debug, Clone)]
struct Options {
    minutes: f64,
    seed: u64,
    interval: Duration,
    out: std::path::PathBuf,
}

impl Options {
    fn parse(args: &[&str]) -> Result<Self> {
        let mut options = Self {
            minutes: 2.0,
            seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs()),
            interval: Duration::from_secs(3),
            out: "target/soak/report.json".into(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().copied().with_context(|| format!("{arg} needs a value"));
            match *arg {
                "--minutes" => {
                    options.minutes = value()?.parse().context("--minutes")?;
                    if !(options.minutes > 0.0 && options.minutes.is_finite()) {
                        bail!("--minutes must be a positive number");
                    }
                }
                "--seed" => options.seed = value()?.parse().context("--seed")?,
                "--interval" => options.interval = parse_duration(value()?)?,
                "--out" => options.out = value()?.into(),
                other => bail!("unknown soak argument {other:?}"),
            }
        }
        Ok(options)
    }
}

/// The figures that fail the soak when they are not zero.
const FAILURES: [&str; 8] = [
    "events_lost",
    "spurious_changes",
    "spurious_deletions",
    "alerts_lost",
    "wrong_actors",
    "snapshot_differences",
    "secrets_found",
    "pending_entries",
];

/// The fault mix of the soak.
fn faults() -> Faults {
    Faults::default()
        .latency(Duration::from_millis(5))
        .latency_jitter(Duration::from_millis(20))
        .burst_429_rate(0.02)
        .retry_after(Some(1))
        .error_rate(0.03)
        .reset_rate(0.02)
        .truncate_rate(0.02)
        .short_page_rate(0.03)
        .move_items(true)
}

/// One change the soak made, as the simulator recorded it.
#[derive(Debug, Clone)]
struct Made {
    op: Op,
    kind: ResourceKind,
    id: ResourceId,
    actor: String,
}

/// The changes made so far, and the resources the soak may touch.
#[derive(Debug, Default)]
struct World {
    made: Vec<Made>,
    /// Users the soak created and has not deleted (never linked, so deleting one cascades
    /// nothing).
    created: Vec<ResourceId>,
    /// Memberships the soak added: (group, user).
    linked: Vec<(ResourceId, ResourceId)>,
}

/// `cargo xtask soak ARGS`.
pub(crate) fn run(root: &Path, args: &[&str]) -> Result<()> {
    let options = Options::parse(args)?;
    let report = soak(root, &options)?;
    print_summary(&report);
    let out = crate::support::write_report(root, &options.out, &report)?;
    let bad = FAILURES
        .iter()
        .filter(|key| report["figures"][**key].as_u64().unwrap_or(1) > 0)
        .copied()
        .collect::<Vec<_>>();
    if !bad.is_empty() {
        bail!("the soak failed: {} (report in {})", bad.join(", "), out.display());
    }
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the soak's summary is its output")]
fn print_summary(report: &Value) {
    println!("soak: {}", serde_json::to_string_pretty(&report["figures"]).unwrap_or_default());
}

#[allow(clippy::print_stderr, reason = "progress")]
fn note(line: &str) {
    eprintln!("soak: {line}");
}

fn soak(root: &Path, options: &Options) -> Result<Value> {
    let dir = root.join("target/soak");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let db = dir.join(format!("soak-{}.db", std::process::id()));
    // Every log of Jumpwatch's crates at the most verbose level, to a file the secrets are
    // looked for in (the simulator's own logs are not Jumpwatch's).
    let log = dir.join(format!("soak-{}.log", std::process::id()));
    let log_file =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,jumpwatch_sim=off,hyper=debug,hyper_util=debug,h2=debug,rustls=debug",
        ))
        .with_writer(Mutex::new(log_file))
        .with_ansi(false)
        .try_init()
        .map_err(|e| anyhow::anyhow!("installing the log: {e}"))?;
    let api_key = format!("soak-key-{:016x}", options.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let sim = Simulator::builder()
        .seed(options.seed)
        .size(Size::Small)
        .api_key(api_key.clone())
        .spawn()
        .context("starting the simulator")?;
    let runtime = crate::support::runtime(2)?;
    let signing = format!("whsec_{}", base64_of(options.seed));
    let sink = runtime.block_on(WebhookSink::start(Some(
        SigningSecret::parse(&signing).map_err(anyhow::Error::msg)?,
    )))?;
    let initial = sim.tenant(0).context("the simulator's tenant")?.inventory();
    let admins: Vec<String> = initial
        .resources(ResourceKind::Administrator)
        .filter_map(|a| a.doc.get("email").and_then(Value::as_str).map(str::to_owned))
        .collect();

    let store = Arc::new(SqliteStore::open(&db)?);
    let client = Client::builder()
        .api_key(SecretString::from(api_key.clone()))
        .base_url(sim.base_url())
        .build()?;
    let monitor = Arc::new(
        Monitor::builder()
            .sqlite_store(Arc::clone(&store), Duration::from_secs(365 * 86_400))
            .tenant("soak", client)?
            .rules(Arc::new(Engine::builtin()?))
            .notify(notify_config(&sink, &signing)?)
            .insights(EventPolicy::default())
            .interval(options.interval)
            .build()?,
    );
    let tenant = TenantId::new("soak")?;

    // The baseline, without faults, then the soak.
    note(&format!("seed {}; the baseline poll", options.seed));
    runtime.block_on(monitor.poll_once());
    sim.set_faults(faults())?;
    sink.fail_at_random(0.2);
    let polls = Arc::new(AtomicU64::new(0));
    let incomplete = Arc::new(AtomicU64::new(0));
    let mut events = monitor.subscribe();
    let counter = {
        let (polls, incomplete) = (Arc::clone(&polls), Arc::clone(&incomplete));
        runtime.spawn(async move {
            while let Ok(event) = events.recv().await {
                if let MonitorEvent::PollFinished { reports, .. } = event {
                    polls.fetch_add(1, Ordering::Relaxed);
                    if reports.iter().any(|r| !r.status.is_complete()) {
                        incomplete.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let stop = Arc::new(AtomicBool::new(false));
    let world = Arc::new(Mutex::new(World::default()));
    let mutator = {
        let (stop, world) = (Arc::clone(&stop), Arc::clone(&world));
        let seed = options.seed;
        let initial = initial.clone();
        let admins = admins.clone();
        let sim = &sim;
        std::thread::scope(|scope| {
            let thread_stop = Arc::clone(&stop);
            let handle =
                scope.spawn(move || mutate(sim, &initial, &admins, seed, &thread_stop, &world));
            let minutes = Duration::from_secs_f64(options.minutes * 60.0);
            note(&format!("soaking for {:.1} minutes", options.minutes));
            let running = Arc::clone(&monitor);
            runtime.block_on(async move {
                running.run(tokio::time::sleep(minutes)).await;
            });
            stop.store(true, Ordering::Relaxed);
            handle.join()
        })
    };
    let mutation_errors = mutator.map_err(|_| anyhow::anyhow!("the mutator panicked"))??;
    let faults_served = sim.stats().faults;

    // Settle: no more faults, one clean poll, every alert delivered.
    note("settling: the faults stop, a last poll, a drain");
    sim.set_faults(Faults::default())?;
    sink.fail_at_random(0.0);
    let settled = runtime.block_on(async {
        monitor.poll_once().await;
        monitor.drain(Duration::from_secs(120)).await
    });
    counter.abort();
    if let Some(Err(error)) = settled {
        bail!("the final drain failed: {error}");
    }

    let world = world.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let stored = store.load(&tenant)?.inventory;
    let now = sim.tenant(0).context("the simulator's tenant")?.inventory();
    let figures =
        check(&db, &log, &initial, &now, &stored, &world.made, &sink, &[&api_key, &signing])?;
    let log_bytes = std::fs::metadata(&log).map_or(0, |m| m.len());
    let _ = std::fs::remove_file(&log);
    let failed = FAILURES.iter().any(|key| figures[*key].as_u64().unwrap_or(1) > 0);
    let mut figures = figures;
    if failed {
        // Kept for a look: the store of a failed soak.
        figures["database"] = json!(db.display().to_string());
    } else {
        crate::support::remove_database(&db);
    }
    figures["minutes"] = json!(options.minutes);
    figures["log_bytes_searched"] = json!(log_bytes);
    figures["seed"] = json!(options.seed);
    figures["polls"] = json!(polls.load(Ordering::Relaxed) + 2);
    figures["polls_with_incomplete_kinds"] = json!(incomplete.load(Ordering::Relaxed));
    figures["mutations"] = json!(world.made.len());
    figures["mutations_refused"] = json!(mutation_errors);
    figures["faults_injected"] = json!({
        "delayed": faults_served.delayed,
        "rate_limited": faults_served.rate_limited,
        "burst_429": faults_served.burst_429,
        "server_errors": faults_served.server_errors,
        "resets": faults_served.resets,
        "truncated": faults_served.truncated,
        "short_pages": faults_served.short_pages,
        "moved_items": faults_served.moved_items,
    });
    Ok(json!({ "figures": figures }))
}

/// A Standard Webhooks secret from the seed (24 bytes of base64).
fn base64_of(seed: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..32).map(|_| char::from(ALPHABET[rng.usize(..ALPHABET.len())])).collect()
}

fn notify_config(sink: &WebhookSink, signing: &str) -> Result<NotifyConfig> {
    let channel = WebhookChannel::new(WebhookConfig {
        url: SecretString::from(sink.url()),
        secret: Some(SigningSecret::parse(signing).map_err(anyhow::Error::msg)?),
        github_secret: None,
        headers: Vec::new(),
    })
    .map_err(anyhow::Error::msg)?;
    let soon = Timing {
        group_wait: Duration::ZERO,
        group_interval: Duration::from_secs(1),
        ..Timing::default()
    };
    let mut config = NotifyConfig::default();
    config.receivers.push(ReceiverConfig::new("soak-webhook", Arc::new(channel)));
    config.routes = RouteTree::of(vec![
        Route::to("soak-webhook")
            .matching(Matchers::pairs(&[("type", "change")]).map_err(anyhow::Error::msg)?)
            .group_by(["tenant", "kind"])
            .timing(soon),
        Route::to("soak-webhook")
            .matching(
                Matchers::pairs(&[("type", "finding"), ("severity", ">=high")])
                    .map_err(anyhow::Error::msg)?,
            )
            .group_by(["tenant", "rule"])
            .timing(soon),
    ]);
    config.policy =
        DeliveryPolicy { backoff_base: Duration::from_millis(200), ..DeliveryPolicy::default() };
    Ok(config)
}

/// Makes a random change about every second until `stop`; returns how many were refused.
fn mutate(
    sim: &Simulator,
    initial: &Inventory,
    admins: &[String],
    seed: u64,
    stop: &AtomicBool,
    world: &Mutex<World>,
) -> Result<u64> {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x50a4);
    let ids = |kind: ResourceKind| -> Vec<ResourceId> {
        initial.resources(kind).map(|r| r.id.clone()).collect()
    };
    let (users, systems, groups) =
        (ids(ResourceKind::User), ids(ResourceKind::System), ids(ResourceKind::UserGroup));
    let mut refused = 0;
    let mut serial = 0u64;
    let mut skew = 0u64;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(rng.u64(500..1500)));
        serial += 1;
        let actor = admins
            .get(rng.usize(..admins.len().max(1)))
            .cloned()
            .unwrap_or_else(|| "soak-admin@example.com".to_owned());
        let mut w = world.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let pick = |rng: &mut fastrand::Rng, ids: &[ResourceId]| {
            ids.get(rng.usize(..ids.len().max(1))).cloned()
        };
        let mutation = match rng.u8(..100) {
            0..40 => pick(&mut rng, &users).map(|id| {
                Mutation::update(ResourceKind::User, id)
                    .set("department", json!(format!("Soak {}", rng.u8(..8))))
            }),
            40..55 => pick(&mut rng, &systems).map(|id| {
                Mutation::update(ResourceKind::System, id)
                    .set("description", json!(format!("soak edit {serial}")))
            }),
            55..65 => pick(&mut rng, &groups).map(|id| {
                Mutation::update(ResourceKind::UserGroup, id)
                    .set("description", json!(format!("soak edit {serial}")))
            }),
            65..77 => Some(Mutation::create(
                ResourceKind::User,
                json!({
                    "username": format!("soak.user{serial}"),
                    "email": format!("soak.user{serial}@example.com"),
                    "firstname": "Soak",
                    "lastname": format!("User{serial}"),
                }),
            )),
            77..87 if !w.created.is_empty() => {
                let index = rng.usize(..w.created.len());
                let id = w.created.swap_remove(index);
                Some(Mutation::delete(ResourceKind::User, id))
            }
            87..94 => match (pick(&mut rng, &groups), pick(&mut rng, &users)) {
                (Some(group), Some(user)) if !w.linked.contains(&(group.clone(), user.clone())) => {
                    w.linked.push((group.clone(), user.clone()));
                    Some(Mutation::link(ResourceKind::UserGroupMember, group, user))
                }
                _ => None,
            },
            _ if !w.linked.is_empty() => {
                let index = rng.usize(..w.linked.len());
                let (group, user) = w.linked.swap_remove(index);
                Some(Mutation::unlink(ResourceKind::UserGroupMember, group, user))
            }
            _ => None,
        };
        let Some(mutation) = mutation else { continue };
        match sim.apply_as(&actor, [mutation]) {
            Ok(applied) => {
                for a in applied {
                    if a.op == Op::Create && a.kind == ResourceKind::User {
                        w.created.push(a.id.clone());
                    }
                    w.made.push(Made { op: a.op, kind: a.kind, id: a.id, actor: actor.clone() });
                }
            }
            Err(_) => refused += 1,
        }
        // Clock skew: the simulator's clock jumps ahead now and then, up to four minutes in all
        // (within the audit log's five-minute read-ahead).
        let jump = rng.u64(1..60);
        if rng.u8(..10) == 0 && skew + jump <= 240 {
            skew += jump;
            sim.advance_clock(Duration::from_secs(jump));
        }
    }
    Ok(refused)
}

/// Compares the store with the simulator's record; returns the figures.
#[allow(clippy::too_many_arguments)]
fn check(
    db: &Path,
    log: &Path,
    initial: &Inventory,
    now: &Inventory,
    stored: &Inventory,
    made: &[Made],
    sink: &WebhookSink,
    secrets: &[&str],
) -> Result<Value> {
    let hash = |inventory: &Inventory, kind: ResourceKind, id: &ResourceId| {
        inventory.get(kind, id).map(|r| Normalizer::for_kind(kind).hash(&r.doc))
    };
    // The snapshot is the simulator's tenant.
    let mut snapshot_differences = Vec::new();
    for &kind in ResourceKind::ALL {
        let ids: BTreeSet<&ResourceId> =
            now.resources(kind).chain(stored.resources(kind)).map(|r| &r.id).collect();
        for id in ids {
            if hash(now, kind, id) != hash(stored, kind, id) {
                snapshot_differences.push(format!("{kind} {id}"));
            }
        }
    }

    // The change events, from the store's own table.
    let connection = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut statement = connection.prepare(
        "SELECT event_id, kind, resource_id, op, json_extract(actor, '$.email') FROM change_events",
    )?;
    let events: Vec<(String, String, String, String, Option<String>)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))?
        .collect::<Result<_, _>>()?;
    let mut touched: BTreeMap<(ResourceKind, ResourceId), BTreeSet<&str>> = BTreeMap::new();
    let mut deleted: BTreeSet<(ResourceKind, ResourceId)> = BTreeSet::new();
    // The ends of the memberships added and removed, with who did it: a membership derives
    // other relations (a user in a group bound to devices is bound to those devices).
    let mut ends: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for m in made {
        touched.entry((m.kind, m.id.clone())).or_default().insert(&m.actor);
        if m.op == Op::Delete {
            deleted.insert((m.kind, m.id.clone()));
        }
        if m.kind.is_relation() {
            for end in m.id.as_str().split(':') {
                ends.entry(end).or_default().insert(&m.actor);
            }
        }
    }
    let mut evented: BTreeSet<(ResourceKind, ResourceId)> = BTreeSet::new();
    let (mut spurious, mut spurious_deletions, mut wrong_actors) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut derived_guesses: Vec<String> = Vec::new();
    let mut attributed = 0;
    for (_, kind, id, op, actor) in &events {
        let (Ok(kind), Ok(id)) = (kind.parse::<ResourceKind>(), ResourceId::new(id.clone())) else {
            spurious.push(format!("{kind} {id}: unknown kind or id"));
            continue;
        };
        let key = (kind, id);
        // Who may have made it: whoever changed the resource, or whoever changed a membership
        // of it (or of one of its ends): the audit log names a membership change on both ends,
        // and a relation derived from a membership comes with it.
        let mut actors: BTreeSet<&str> = touched.get(&key).cloned().unwrap_or_default();
        let derived = kind.is_relation() && !touched.contains_key(&key);
        for end in key.1.as_str().split(':') {
            actors.extend(ends.get(end).into_iter().flatten().copied());
        }
        if actors.is_empty() {
            spurious.push(format!("{op} {} {}", key.0, key.1));
        } else if let Some(actor) = actor {
            attributed += 1;
            if !actors.contains(actor.as_str()) {
                let line = format!("{op} {} {}: {actor}, not one of {actors:?}", key.0, key.1);
                // A derived relation's actor is a best guess (the latest membership change of
                // one of its ends): reported, not failed.
                if derived {
                    derived_guesses.push(line);
                } else {
                    wrong_actors.push(line);
                }
            }
        }
        if op == "deleted" && !deleted.contains(&key) && !derived {
            spurious_deletions.push(format!("{} {}", key.0, key.1));
        }
        evented.insert(key);
    }
    // Every resource a change left different has an event.
    let lost: Vec<String> = touched
        .keys()
        .filter(|(kind, id)| hash(initial, *kind, id) != hash(now, *kind, id))
        .filter(|key| !evented.contains(*key))
        .map(|(kind, id)| format!("{kind} {id}"))
        .collect();

    // Alerts: every entry settled, every change delivered.
    let pending: i64 = connection.query_row(
        "SELECT count(*) FROM outbox WHERE state NOT IN ('delivered', 'dead')",
        [],
        |row| row.get(0),
    )?;
    let dead: i64 =
        connection
            .query_row("SELECT count(*) FROM outbox WHERE state = 'dead'", [], |row| row.get(0))?;
    let delivered_entries: i64 = connection.query_row(
        "SELECT count(*) FROM outbox WHERE state = 'delivered'",
        [],
        |row| row.get(0),
    )?;
    let mut received: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let deliveries = sink.deliveries();
    for delivery in deliveries.iter().filter(|d| d.answered) {
        for item in delivery.body["items"].as_array().into_iter().flatten() {
            if let Some(fingerprint) = item["fingerprint"].as_str() {
                received.entry(fingerprint.to_owned()).or_default().push(delivery.id.clone());
            }
        }
    }
    let mut dead_fingerprints: BTreeSet<String> = BTreeSet::new();
    let mut statement =
        connection.prepare("SELECT fingerprint FROM outbox WHERE state = 'dead'")?;
    for fingerprint in statement.query_map([], |row| row.get::<_, String>(0))? {
        dead_fingerprints.insert(fingerprint?);
    }
    let alerts_lost = events
        .iter()
        .filter(|(event_id, ..)| {
            !received.contains_key(event_id) && !dead_fingerprints.contains(event_id)
        })
        .count();
    let duplicates: usize = received.values().map(|ids| ids.len().saturating_sub(1)).sum();
    let same_id_duplicates: usize =
        received.values().map(|ids| ids.len() - ids.iter().collect::<BTreeSet<_>>().len()).sum();

    // Secrets: not in the database file (nor its WAL), nor the logs.
    let mut secrets_found = Vec::new();
    let places = [
        format!("{}", db.display()),
        format!("{}-wal", db.display()),
        format!("{}", log.display()),
    ];
    for path in places {
        for secret in secrets {
            if file_contains(Path::new(&path), secret.as_bytes())? {
                secrets_found.push(format!("a secret in {path}"));
            }
        }
    }
    for delivery in &deliveries {
        let text = delivery.body.to_string();
        if secrets.iter().any(|s| text.contains(s)) {
            secrets_found.push("a secret in a notification".to_owned());
        }
    }

    let sample = |v: &[String]| v.iter().take(10).cloned().collect::<Vec<_>>();
    Ok(json!({
        "change_events": events.len(),
        "attributed_events": attributed,
        "resources_touched": touched.len(),
        "events_lost": lost.len(),
        "events_lost_sample": sample(&lost),
        "spurious_changes": spurious.len(),
        "spurious_changes_sample": sample(&spurious),
        "spurious_deletions": spurious_deletions.len(),
        "spurious_deletions_sample": sample(&spurious_deletions),
        "wrong_actors": wrong_actors.len(),
        "wrong_actors_sample": sample(&wrong_actors),
        "derived_relations_attributed_to_another_membership_change": derived_guesses.len(),
        "derived_sample": sample(&derived_guesses),
        "snapshot_differences": snapshot_differences.len(),
        "snapshot_differences_sample": sample(&snapshot_differences),
        "outbox_delivered": delivered_entries,
        "outbox_dead_letters": dead,
        "pending_entries": pending,
        "webhook_attempts": sink.attempts(),
        "alerts_lost": alerts_lost,
        "duplicates_delivered": duplicates,
        "duplicates_with_the_same_webhook_id": same_id_duplicates,
        "secrets_found": secrets_found.len(),
        "db_bytes": std::fs::metadata(db).map_or(0, |m| m.len()),
        "ratio_attributed": if events.is_empty() { 0.0 } else { round(attributed as f64 / events.len() as f64, 3) },
    }))
}

/// Whether a file (read a megabyte at a time: logs can be large) contains `needle`. A missing
/// file contains nothing.
fn file_contains(path: &Path, needle: &[u8]) -> Result<bool> {
    use std::io::Read;
    let Ok(mut file) = std::fs::File::open(path) else { return Ok(false) };
    let mut window: Vec<u8> = Vec::with_capacity((1 << 20) + needle.len());
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut chunk).with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            return Ok(false);
        }
        window.extend_from_slice(&chunk[..read]);
        if window.windows(needle.len()).any(|w| w == needle) {
            return Ok(true);
        }
        // Keep the tail, in case the needle spans two chunks.
        let keep = needle.len().saturating_sub(1).min(window.len());
        window.drain(..window.len() - keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_found_across_the_chunks_of_a_file() -> Result<()> {
        let path = std::env::temp_dir().join(format!("soak-contains-{}", std::process::id()));
        let mut bytes = vec![b'.'; (1 << 20) - 3];
        bytes.extend_from_slice(b"SECRET-42");
        std::fs::write(&path, &bytes)?;
        assert!(file_contains(&path, b"SECRET-42")?);
        assert!(!file_contains(&path, b"SECRET-43")?);
        assert!(!file_contains(&path.with_extension("missing"), b"x")?);
        std::fs::remove_file(&path)?;
        let options = Options::parse(&["--minutes", "0.5", "--seed", "7", "--interval", "2s"])?;
        assert_eq!((options.seed, options.interval), (7, Duration::from_secs(2)));
        assert!(Options::parse(&["--minutes", "0"]).is_err());
        Ok(())
    }
}
