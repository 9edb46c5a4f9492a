//! Load: 10 000 alerts to one receiver rate-limited at 20 messages a second, delivered by the real
//! [`Notifier`] under a paused tokio clock (virtual time), from the memory outbox and from the
//! SQLite outbox (a file in the temporary directory, in WAL mode as [`SqliteStore::open`] makes
//! it).
//!
//! ```text
//! cargo bench -p jumpwatch-notify --bench drain
//! ```
//!
//! Two scenarios:
//!
//! - `ungrouped`: 10 000 change alerts, each its own group (`group_by = ["..."]`), enqueued at
//!   once and delivered by [`Notifier::drain`]: 10 000 messages, paced by the rate limit alone —
//!   the burst of 20 at once, then one every 50 ms, so the last leaves at 499 s.
//! - `grouped`: 10 000 findings over 100 groups arriving in 10 waves of 1 000, 10 s apart,
//!   delivered by [`Notifier::run`] (woken at each enqueue) with `group_wait` 0 and
//!   `group_interval` 5 s: 1 000 digests of 10 findings, 10 a group.
//!
//! One run of each is checked first and its figures printed: no alert lost or duplicated, every
//! outbox entry delivered, each group's alerts sent in enqueue (entry id) order, never more than
//! the limit allows in any second and, where the backlog is what paces, the achieved rate over the
//! configured one — and the CPU time of the run (the thread's, from `/proc/thread-self/schedstat`,
//! so other work on the machine does not count). Criterion then measures a whole drain's
//! wall-clock time, which is CPU time too: under the paused clock nothing waits for real time,
//! and everything runs on one thread. The ungrouped scenario's entries are enqueued before the
//! clock starts; the grouped scenario's waves are enqueued during the run.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    reason = "a benchmark: it fails loudly and prints its figures"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use jumpwatch_notify::notifier::rate;
use jumpwatch_notify::outbox::route;
use jumpwatch_notify::{
    Alert, AlertKind, Channel, Clock, EntryState, MemoryOutbox, NewEntry, Notification, Notifier,
    Outbox, Rate, Route, RouteTree, SendError, Severity, Status, Timing,
};
use jumpwatch_store::SqliteStore;

/// How much load a run carries.
#[derive(Debug, Clone, Copy)]
struct Size {
    /// Alerts in all.
    alerts: usize,
    /// Groups of the grouped scenario.
    groups: usize,
    /// Waves of the grouped scenario.
    waves: usize,
}

/// The load of the requirement.
const FULL: Size = Size { alerts: 10_000, groups: 100, waves: 10 };
/// The load of a test run (`cargo test --benches`): the same checks in a second or two of a
/// debug build (see `test_mode`).
const SMOKE: Size = Size { alerts: 500, groups: 10, waves: 5 };
/// The time between two waves.
const WAVE_EVERY: Duration = Duration::from_secs(10);
/// The receiver's rate limit: messages a second, and the burst (what `rate_limit = 20` gives).
const PER_SECOND: u32 = 20;
const BURST: u32 = 20;
/// Virtual time a run may take at most.
const TIMEOUT: Duration = Duration::from_secs(3600);

fn t0() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Ungrouped,
    Grouped,
}

impl Scenario {
    const fn name(self) -> &'static str {
        match self {
            Self::Ungrouped => "ungrouped",
            Self::Grouped => "grouped",
        }
    }

    fn tree(self) -> RouteTree {
        let route = match self {
            Self::Ungrouped => Route::to("chat").group_by(["..."]),
            Self::Grouped => Route::to("chat").group_by(["tenant", "group"]),
        };
        RouteTree::of(vec![route.timing(Timing {
            group_wait: Duration::ZERO,
            group_interval: Duration::from_secs(5),
            repeat_interval: Duration::from_secs(4 * 3600),
        })])
    }

    /// The alerts, as the waves of entries to enqueue (one wave when ungrouped).
    fn waves(self, size: Size) -> Vec<Vec<NewEntry>> {
        let tree = self.tree();
        match self {
            Self::Ungrouped => {
                let alerts: Vec<Alert> = (0..size.alerts)
                    .map(|seq| {
                        alert(AlertKind::Change, seq, t0())
                            .label("op", "update")
                            .label("kind", "user")
                    })
                    .collect();
                vec![route(&tree, &alerts, t0())]
            }
            Self::Grouped => (0..size.waves)
                .map(|wave| {
                    let at = t0() + chrono::Duration::from_std(WAVE_EVERY * wave as u32).unwrap();
                    let per_wave = size.alerts / size.waves;
                    let alerts: Vec<Alert> = (0..per_wave)
                        .map(|i| {
                            let seq = wave * per_wave + i;
                            alert(AlertKind::Finding, seq, at)
                                .label("rule", "jc.user.mfa")
                                .label("group", format!("g{:03}", seq % size.groups))
                        })
                        .collect();
                    route(&tree, &alerts, at)
                })
                .collect(),
        }
    }
}

/// Alert number `seq` (its fingerprint ends with the number).
fn alert(kind: AlertKind, seq: usize, at: DateTime<Utc>) -> Alert {
    Alert::new(kind, format!("alert-{seq:05}"), Status::Firing, Severity::High, "an alert", at)
        .summary(format!("Alert number {seq} of the drain benchmark."))
        .label("tenant", "acme")
        .label("resource", format!("u{seq:05}"))
}

fn seq_of(alert: &Alert) -> usize {
    alert.fingerprint["alert-".len()..].parse().unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Memory,
    Sqlite,
}

impl Store {
    const fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory outbox",
            Self::Sqlite => "sqlite outbox",
        }
    }
}

/// A database file removed when dropped (with its WAL files).
struct TempDb(PathBuf);

impl TempDb {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "jumpwatch-drain-bench-{}-{}.db",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Self(std::env::temp_dir().join(name))
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// An outbox loaded for a run: the ungrouped scenario's entries already enqueued, the grouped
/// scenario's waves still to come.
struct Load {
    outbox: Arc<dyn Outbox>,
    waves: Vec<Vec<NewEntry>>,
    // Dropped after the outbox.
    _file: Option<TempDb>,
}

fn load(scenario: Scenario, store: Store, size: Size) -> Load {
    let (outbox, file): (Arc<dyn Outbox>, _) = match store {
        Store::Memory => (Arc::new(MemoryOutbox::new()), None),
        Store::Sqlite => {
            let file = TempDb::new();
            (Arc::new(SqliteStore::open(&file.0).unwrap()), Some(file))
        }
    };
    let mut waves = scenario.waves(size);
    if scenario == Scenario::Ungrouped {
        for wave in waves.drain(..) {
            assert_eq!(outbox.enqueue(&wave).unwrap(), wave.len());
        }
    }
    Load { outbox, waves, _file: file }
}

/// One message as the channel saw it.
#[derive(Debug)]
struct Sent {
    /// Virtual time since the run started.
    at: Duration,
    group: String,
    /// The alerts' numbers, in the message's order.
    alerts: Vec<usize>,
}

/// The receiver: records each message and says when every alert has arrived.
#[derive(Debug)]
struct Recorder {
    start: tokio::time::Instant,
    sent: Mutex<Vec<Sent>>,
    alerts: AtomicUsize,
    expected: usize,
    all_in: tokio::sync::Notify,
}

#[async_trait]
impl Channel for Recorder {
    fn kind(&self) -> &'static str {
        "recorder"
    }

    fn default_rate(&self) -> Option<Rate> {
        None
    }

    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let alerts: Vec<usize> = notification.alerts.iter().map(seq_of).collect();
        let count = alerts.len();
        self.sent.lock().unwrap().push(Sent {
            at: self.start.elapsed(),
            group: notification.group_key.clone(),
            alerts,
        });
        if self.alerts.fetch_add(count, Ordering::Relaxed) + count >= self.expected {
            self.all_in.notify_one();
        }
        Ok(())
    }
}

/// What a run left: the messages sent and the outbox.
struct Run {
    sent: Vec<Sent>,
    outbox: Arc<dyn Outbox>,
    _file: Option<TempDb>,
}

/// Delivers a loaded outbox to a receiver limited to 20 messages a second, on a fresh paused
/// runtime.
fn run(scenario: Scenario, load: Load, size: Size) -> Run {
    let Load { outbox, waves, _file } = load;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let sent = runtime.block_on(async {
        let recorder = Arc::new(Recorder {
            start: tokio::time::Instant::now(),
            sent: Mutex::new(Vec::with_capacity(size.alerts)),
            alerts: AtomicUsize::new(0),
            expected: size.alerts,
            all_in: tokio::sync::Notify::new(),
        });
        let notifier = Notifier::builder(Arc::clone(&outbox))
            .receiver_with_rate(
                "chat",
                Arc::clone(&recorder) as Arc<dyn Channel>,
                rate(PER_SECOND, BURST),
            )
            .clock(Clock::starting_at(t0()))
            .build();
        match scenario {
            Scenario::Ungrouped => {
                let drained = notifier.drain(TIMEOUT).await.unwrap();
                assert!(drained.pending.is_empty(), "left pending: {:?}", drained.pending);
                assert_eq!(drained.dead, 0);
            }
            Scenario::Grouped => {
                let producer = async {
                    for (index, wave) in waves.iter().enumerate() {
                        tokio::time::sleep_until(recorder.start + WAVE_EVERY * index as u32).await;
                        assert_eq!(outbox.enqueue(wave).unwrap(), wave.len());
                        notifier.wake();
                    }
                };
                let worker = notifier.run(recorder.all_in.notified());
                tokio::time::timeout(TIMEOUT, async { tokio::join!(producer, worker) })
                    .await
                    .unwrap();
            }
        }
        std::mem::take(&mut *recorder.sent.lock().unwrap())
    });
    Run { sent, outbox, _file }
}

/// What a checked run shows.
struct Figures {
    messages: usize,
    alerts: usize,
    lost: usize,
    duplicated: usize,
    order_violations: usize,
    not_delivered: usize,
    /// Virtual time from the start to the last message.
    virtual_secs: f64,
    /// Most messages in any one second of virtual time.
    peak_second: usize,
    /// Messages a second after the burst, over the configured rate (ungrouped: the backlog
    /// paces, so it should be 1).
    rate_ratio: Option<f64>,
    /// Real time of the run.
    wall: Duration,
    /// CPU time of the run (the wall time where the thread's cannot be read).
    cpu: Duration,
}

/// The CPU time this thread has used (Linux), to nanoseconds.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

fn check(scenario: Scenario, size: Size, run: &Run, wall: Duration, cpu: Duration) -> Figures {
    let sent = &run.sent;
    // Lost and duplicated alerts.
    let mut seen = vec![0_usize; size.alerts];
    for alert in sent.iter().flat_map(|s| s.alerts.iter()) {
        seen[*alert] += 1;
    }
    let lost = seen.iter().filter(|n| **n == 0).count();
    let duplicated = seen.iter().map(|n| n.saturating_sub(1)).sum();
    // The outbox: every entry delivered, and entry ids in alert order — so alert numbers
    // increasing within a group are entry ids increasing within it.
    let mut entries = run.outbox.entries(None, usize::MAX).unwrap();
    entries.sort_by_key(|e| e.id);
    let not_delivered = entries.iter().filter(|e| e.state != EntryState::Delivered).count();
    assert_eq!(entries.len(), size.alerts);
    assert!(
        entries.windows(2).all(|w| seq_of(&w[0].alert) < seq_of(&w[1].alert)),
        "entry ids follow the alerts' order"
    );
    // Each group's alerts, message after message, in enqueue order.
    let mut last: BTreeMap<&str, usize> = BTreeMap::new();
    let mut order_violations = 0;
    for message in sent {
        for alert in &message.alerts {
            if let Some(previous) = last.insert(&message.group, *alert)
                && previous >= *alert
            {
                order_violations += 1;
            }
        }
    }
    // The rate: most messages in a second, and the pace after the burst.
    let times: Vec<Duration> = sent.iter().map(|s| s.at).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    let mut peak_second = 0;
    let mut from = 0;
    for (to, at) in times.iter().enumerate() {
        while *at - times[from] > Duration::from_secs(1) {
            from += 1;
        }
        peak_second = peak_second.max(to + 1 - from);
    }
    let virtual_secs = times.last().map_or(0.0, Duration::as_secs_f64);
    let burst = BURST as usize;
    let rate_ratio = (scenario == Scenario::Ungrouped && sent.len() > burst).then(|| {
        let span = (times[sent.len() - 1] - times[0]).as_secs_f64();
        (sent.len() - burst) as f64 / span / f64::from(PER_SECOND)
    });
    match scenario {
        Scenario::Ungrouped => assert_eq!(sent.len(), size.alerts),
        Scenario::Grouped => {
            assert_eq!(sent.len(), size.groups * size.waves, "one digest a group and wave");
            let groups: BTreeSet<&str> = sent.iter().map(|s| s.group.as_str()).collect();
            assert_eq!(groups.len(), size.groups);
            let digest = size.alerts / size.groups / size.waves;
            assert!(sent.iter().all(|s| s.alerts.len() == digest));
        }
    }
    let figures = Figures {
        messages: sent.len(),
        alerts: sent.iter().map(|s| s.alerts.len()).sum(),
        lost,
        duplicated,
        order_violations,
        not_delivered,
        virtual_secs,
        peak_second,
        rate_ratio,
        wall,
        cpu,
    };
    assert_eq!(
        (figures.lost, figures.duplicated, figures.order_violations, figures.not_delivered),
        (0, 0, 0, 0),
        "lost, duplicated, out of order, not delivered"
    );
    assert!(
        figures.peak_second <= (BURST + PER_SECOND) as usize,
        "at most burst + rate messages in any second: {}",
        figures.peak_second
    );
    if let Some(ratio) = figures.rate_ratio {
        assert!((ratio - 1.0).abs() <= 0.01, "achieved / configured rate {ratio}");
    }
    figures
}

const CASES: [(Scenario, Store); 4] = [
    (Scenario::Ungrouped, Store::Memory),
    (Scenario::Ungrouped, Store::Sqlite),
    (Scenario::Grouped, Store::Memory),
    (Scenario::Grouped, Store::Sqlite),
];

/// Whether criterion runs in test mode, as it decides: without `--bench` (`cargo test
/// --benches`), or with `--test`. Each benchmark then runs once, and this one at [`SMOKE`] size.
fn test_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test")
}

fn print_table(size: Size, rows: &[(Scenario, Store, Figures)]) {
    // The CPU a message may take for one worker to keep up with the rate in real time.
    let budget = 1000 / PER_SECOND;
    println!();
    println!(
        "Notification drain: {} alerts, one receiver at {PER_SECOND}/s (burst {BURST}), paused \
         tokio clock",
        size.alerts
    );
    println!(
        "| scenario | outbox | messages | alerts | lost | duplicated | order violations | not \
         delivered | virtual s | peak messages in 1 s | achieved / configured rate | wall s | CPU s \
         | CPU µs / alert | CPU ms / message (budget {budget} at {PER_SECOND}/s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (scenario, store, f) in rows {
        let ratio =
            f.rate_ratio.map_or_else(|| "— (waves pace it)".to_owned(), |r| format!("{r:.4}"));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} | {ratio} | {:.2} | {:.2} | {:.1} \
             | {:.2} |",
            scenario.name(),
            store.name(),
            f.messages,
            f.alerts,
            f.lost,
            f.duplicated,
            f.order_violations,
            f.not_delivered,
            f.virtual_secs,
            f.peak_second,
            f.wall.as_secs_f64(),
            f.cpu.as_secs_f64(),
            f.cpu.as_secs_f64() * 1e6 / size.alerts as f64,
            f.cpu.as_secs_f64() * 1e3 / f.messages as f64,
        );
    }
    println!();
}

fn drain(c: &mut Criterion) {
    let size = if test_mode() { SMOKE } else { FULL };
    let mut rows = Vec::new();
    for (scenario, store) in CASES {
        let loaded = load(scenario, store, size);
        let (started, cpu_before) = (Instant::now(), thread_cpu());
        let done = run(scenario, loaded, size);
        let wall = started.elapsed();
        let cpu = cpu_before.zip(thread_cpu()).map_or(wall, |(before, after)| after - before);
        rows.push((scenario, store, check(scenario, size, &done, wall, cpu)));
    }
    print_table(size, &rows);

    let mut group = c.benchmark_group("drain");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    // A run a sample (criterion warns that ten samples do not fit; they need not), after one
    // run of warm-up.
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(size.alerts as u64));
    for (scenario, store) in CASES {
        let id =
            format!("{} {} alerts, {}, {PER_SECOND}/s", scenario.name(), size.alerts, store.name());
        group.bench_function(id, |b| {
            b.iter_batched(
                || load(scenario, store, size),
                |loaded| {
                    let done = run(scenario, loaded, size);
                    let alerts: usize = done.sent.iter().map(|s| s.alerts.len()).sum();
                    assert_eq!(alerts, size.alerts);
                    done
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, drain);
criterion_main!(benches);
