//! `cargo xtask crash`: runs `jumpwatch watch` as a child process, kills it with SIGKILL at random
//! points of its polls and deliveries, restarts it, and checks that nothing was lost.
//!
//! ```text
//! cargo xtask crash [--kills 20] [--seed S] [--size small] [--out target/crash/report.json]
//! ```
//!
//! It first builds the `jumpwatch` binary in the release profile (`cargo build --release -p
//! jumpwatch-cli`, into `CARGO_TARGET_DIR` when it is set): the child then polls and delivers at
//! production speed, so a kill window of a few seconds spans several polls and deliveries.
//! `JUMPWATCH_BIN=path` skips the build and uses that binary (the integration test does this with
//! a debug build).
//!
//! # One run
//!
//! In process: a simulated tenant ([`Simulator`], answering in 20–40 ms) and a signed webhook receiver ([`WebhookSink`])
//! that fails 20% of the requests with 503. The configuration polls `user` and `system` every
//! second, judges them with the built-in rule pack, and sends every alert (changes, findings,
//! event hits) to the webhook, grouped by type and kind or rule, without waiting.
//!
//! Then, `--kills` times:
//!
//! 1. the tenant is changed while nothing runs: a few users and systems get a field set (sudo,
//!    passwordless sudo, MFA, SSH settings, a department...; the booleans flip findings open,
//!    resolved and open again), and now and then a user is created;
//! 2. `jumpwatch -vv --log-format json watch` starts, its logs going to a file;
//! 3. it is killed (SIGKILL) at one of these points, chosen at random:
//!    - `timed`: uniformly 0.2–4 s after the start (start-up, polls, commits, deliveries);
//!    - `delivery`: right after (0–30 ms) the webhook receives its next notification;
//!    - `held`: the webhook holds its answers, and the child is killed as soon as a
//!      notification arrives: sent, never acknowledged;
//! 4. with nothing running, the database is opened read-only and `PRAGMA integrity_check` must
//!    say `ok`; the polls committed are counted.
//!
//! Each kill is classified by when it fell (time buckets) and by what the child's log says it
//! was doing: starting up, collecting (requests to the API in flight), judging and committing
//! (every kind listed, the commit not logged yet), after the commit (idle or delivering), or in a
//! delivery (a notification sent whose answer was held).
//!
//! # The oracle
//!
//! At the end the webhook stops failing and `jumpwatch watch --once` runs until it exits 0 (exit
//! 5: notifications still pending; run it again). Then:
//!
//! - **integrity**: every check said `ok` (after each kill and at the end);
//! - **change events**: every change event in the store reached the webhook (an item of kind
//!   `change` whose fingerprint is the event id), and nothing else did;
//! - **against the simulator**: for every field the harness changed, the values the polls could
//!   see — the simulator's value at each run that committed a poll, consecutive repeats
//!   collapsed — are exactly the `after` values of that field's change events, in order; every
//!   user created has a `created` event. A missing one is a lost event; an extra one a
//!   duplicate event;
//! - **finding transitions**: each transition in `finding_transitions` that raises an alert
//!   (every one, except an event rule's resolution) reached the webhook: the k-th opening of a
//!   finding as a firing item (identified by its `evidence.reopened`), the k-th resolution as a
//!   resolved item (identified by its `ends_at`). A transition whose outbox entry was `dropped`
//!   by design (resolved before its firing was sent, or superseded by a later entry of the same
//!   finding in one batch) is not lost. The report splits the lost ones into those enqueued but
//!   not delivered and those that were never enqueued;
//! - **outbox**: no entry left pending or in flight, none dead;
//! - **duplicates**: items delivered more than once, and how many of the copies came with a
//!   `webhook-id` already seen for that item (the harmless kind: a receiver drops them).
//!
//! It prints a table, writes a JSON report, and fails when an integrity check failed or anything
//! was lost.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use jumpwatch_model::{ResourceId, ResourceKind};
use jumpwatch_notify::channel::webhook::SigningSecret;
use jumpwatch_notify::sink::{Delivery, WebhookSink};
use jumpwatch_sim::{Applied, Faults, Mutation, Op, Simulator, Size};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

/// A Standard Webhooks secret (`whsec_` and base64); the sink is on 127.0.0.1.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The child's log filter: `-vv` (trace) for Jumpwatch, the HTTP stack's own trace muted.
const LOG_FILTER: &str = "trace,hyper=off,hyper_util=off,h2=off,reqwest=off,rustls=off,\
                          tokio=off,runtime=off,mio=off,want=off,tower=off,axum=off";

/// The kinds the child polls.
const KINDS: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::System];

/// How long a `delivery` or `held` kill waits for a notification before killing anyway.
const DELIVERY_PATIENCE: Duration = Duration::from_secs(4);

/// The latency the simulator adds to each response (and as much jitter).
const LATENCY: Duration = Duration::from_millis(20);

/// How many users, and how many systems, the harness changes.
const POOL: usize = 8;

/// How many `jumpwatch watch --once` runs the final drain may take.
const FINAL_RUNS: usize = 6;

/// The settings of a crash run.
#[derive(Debug, Clone)]
struct Options {
    kills: usize,
    seed: u64,
    size: String,
    out: PathBuf,
}

impl Options {
    fn parse(args: &[&str]) -> Result<Self> {
        let mut options = Self {
            kills: 20,
            seed: seed_from_time(),
            size: "small".into(),
            out: PathBuf::from("target/crash/report.json"),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().copied().with_context(|| format!("{arg} needs a value"));
            match *arg {
                "--kills" => options.kills = value()?.parse().context("--kills")?,
                "--seed" => options.seed = value()?.parse().context("--seed")?,
                "--size" => {
                    let size = value()?;
                    size.parse::<Size>().map_err(|e| anyhow::anyhow!("--size {size}: {e}"))?;
                    size.clone_into(&mut options.size);
                }
                "--out" => options.out = PathBuf::from(value()?),
                other => bail!("unknown crash argument {other:?}"),
            }
        }
        Ok(options)
    }
}

fn seed_from_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() ^ u64::from(d.subsec_nanos()))
}

/// `cargo xtask crash ARGS`.
pub(crate) fn run(root: &Path, args: &[&str]) -> Result<()> {
    let options = Options::parse(args)?;
    note(&format!("seed {} ({} kills)", options.seed, options.kills));
    let binary = match std::env::var_os("JUMPWATCH_BIN") {
        Some(path) => PathBuf::from(path),
        None => build_release(root)?,
    };
    if !binary.is_file() {
        bail!("{}: no jumpwatch binary there", binary.display());
    }
    let report = crash(&options, &binary)?;
    print_table(&report);
    let out = crate::support::write_report(root, &options.out, &report)?;
    note(&format!("report written to {}", out.display()));
    if report["passed"] != true {
        bail!("the crash run found losses or corruption (seed {})", options.seed);
    }
    Ok(())
}

/// `cargo build --release -p jumpwatch-cli`; returns the binary's path.
fn build_release(root: &Path) -> Result<PathBuf> {
    note("building jumpwatch (release)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--quiet", "--release", "--package", "jumpwatch-cli", "--bin", "jumpwatch"])
        .status()
        .context("running `cargo build --release -p jumpwatch-cli`")?;
    if !status.success() {
        bail!("building jumpwatch failed ({status})");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), |dir| root.join(PathBuf::from(dir)));
    Ok(target.join("release").join(format!("jumpwatch{}", std::env::consts::EXE_SUFFIX)))
}

#[allow(clippy::print_stderr)]
fn note(line: &str) {
    eprintln!("crash: {line}");
}

/// How a run is ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Plan {
    /// At a uniformly random instant.
    Timed,
    /// Right after the webhook receives a notification.
    Delivery,
    /// While the webhook holds its answer to a notification.
    Held,
}

impl Plan {
    fn name(self) -> &'static str {
        match self {
            Self::Timed => "timed",
            Self::Delivery => "delivery",
            Self::Held => "held",
        }
    }
}

/// One field of one resource the harness changes.
type FieldKey = (String, String, String);

/// What the harness knows the tenant went through.
#[derive(Debug, Default)]
struct Expected {
    /// Each changed field's value in the simulator now.
    current: BTreeMap<FieldKey, Value>,
    /// Each changed field's values at the commit points (consecutive repeats collapsed); the
    /// first is the value the first commit saw.
    observed: BTreeMap<FieldKey, Vec<Value>>,
    /// Users created: whether a commit point came after their creation.
    created: BTreeMap<String, bool>,
    /// Whether a poll has been committed at all.
    committed: bool,
    /// Mutations applied.
    mutations: usize,
}

impl Expected {
    /// Records applied changes (while nothing runs).
    fn record(&mut self, applied: &[Applied]) {
        for change in applied {
            self.mutations += 1;
            if change.op == Op::Create && change.kind == ResourceKind::User {
                self.created.insert(change.id.to_string(), false);
                continue;
            }
            if change.op != Op::Update {
                continue;
            }
            for field in &change.changes {
                if field.from == field.to {
                    continue;
                }
                let key =
                    (change.kind.name().to_owned(), change.id.to_string(), field.field.clone());
                if !self.current.contains_key(&key) && self.committed {
                    // First touched after a commit: that commit saw the value before.
                    self.observed.insert(key.clone(), vec![field.from.clone()]);
                }
                self.current.insert(key, field.to.clone());
            }
        }
    }

    /// A poll was committed: it saw the simulator as it is now.
    fn commit_point(&mut self) {
        if !self.committed {
            // The first commit is the baseline: the users created before it are in it, as
            // resources, not as creations.
            self.created.clear();
        }
        self.committed = true;
        for (key, value) in &self.current {
            let seen = self.observed.entry(key.clone()).or_default();
            if seen.last() != Some(value) {
                seen.push(value.clone());
            }
        }
        for seen in self.created.values_mut() {
            *seen = true;
        }
    }
}

/// One kill.
#[derive(Debug)]
struct Kill {
    plan: Plan,
    /// From the start to the kill.
    after: Duration,
    /// What the log says the child was doing.
    phase: &'static str,
    /// Polls it committed.
    polls: i64,
    /// Notifications the webhook accepted during the run.
    deliveries: usize,
    /// `ok`, or what `PRAGMA integrity_check` said, or why it could not run.
    integrity: String,
    /// Set when the child exited by itself before the kill.
    exited: Option<String>,
    /// Its log, kept when something went wrong.
    log: Option<PathBuf>,
}

/// The world of a crash run: a tenant, a webhook, a configuration and its database.
struct World {
    dir: PathBuf,
    db: PathBuf,
    config: PathBuf,
    binary: PathBuf,
    sim: Simulator,
    sink: WebhookSink,
    runtime: tokio::runtime::Runtime,
    rng: fastrand::Rng,
    users: Vec<ResourceId>,
    systems: Vec<ResourceId>,
    runs: usize,
}

/// A running child; killed when dropped.
struct Daemon {
    child: Child,
    started: Instant,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl World {
    fn new(options: &Options, binary: &Path) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "jumpwatch-crash-{}-{}",
            std::process::id(),
            options.seed
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let runtime = crate::support::runtime(1)?;
        let secret = SigningSecret::parse(SECRET).map_err(|e| anyhow::anyhow!("{e}"))?;
        let sink = runtime
            .block_on(WebhookSink::start(Some(secret)))
            .context("starting the webhook sink")?;
        let size: Size = options.size.parse().map_err(|e| anyhow::anyhow!("--size: {e}"))?;
        // Some latency stretches each poll, so that more kills fall inside one.
        let faults = Faults::none().latency(LATENCY).latency_jitter(LATENCY);
        let sim = Simulator::builder()
            .seed(options.seed)
            .size(size)
            .faults(faults)
            .spawn()
            .context("starting the simulator")?;
        let tenant = sim.tenant(0).context("the simulator has no tenant")?;
        let ids = |kind| -> Vec<ResourceId> {
            tenant.resources(kind).into_iter().map(|r| r.id).collect()
        };
        // A few of each, so that the same findings open, resolve and open again.
        let (mut users, mut systems) = (ids(ResourceKind::User), ids(ResourceKind::System));
        users.truncate(POOL);
        systems.truncate(POOL);
        if users.is_empty() || systems.is_empty() {
            bail!("the simulated tenant has no users or no systems");
        }
        let db = dir.join("jumpwatch.db");
        let config = dir.join("jumpwatch.toml");
        std::fs::write(&config, config_text(&sim, &sink, &db))
            .with_context(|| format!("writing {}", config.display()))?;
        Ok(Self {
            dir,
            db,
            config,
            binary: binary.to_path_buf(),
            sim,
            sink,
            runtime,
            rng: fastrand::Rng::with_seed(options.seed),
            users,
            systems,
            runs: 0,
        })
    }

    /// Changes a few fields of a few users and systems; now and then creates a user.
    fn mutate(&mut self, iteration: usize) -> Result<Vec<Applied>> {
        let mut mutations = Vec::new();
        for _ in 0..self.rng.usize(1..=4) {
            let mutation = if self.rng.bool() {
                let id = &self.users[self.rng.usize(..self.users.len())];
                let (field, value) = match self.rng.usize(..6) {
                    0 => ("sudo", json!(self.rng.bool())),
                    1 => ("passwordless_sudo", json!(self.rng.bool())),
                    2 => ("password_never_expires", json!(self.rng.bool())),
                    3 => ("enable_user_portal_multifactor", json!(self.rng.bool())),
                    4 => ("department", json!(DEPARTMENTS[self.rng.usize(..DEPARTMENTS.len())])),
                    _ => ("jobTitle", json!(format!("Title {}", self.rng.usize(..4)))),
                };
                Mutation::update(ResourceKind::User, id.clone()).set(field, value)
            } else {
                let id = &self.systems[self.rng.usize(..self.systems.len())];
                let (field, value) = match self.rng.usize(..4) {
                    0 => ("allowSshRootLogin", json!(self.rng.bool())),
                    1 => ("allowSshPasswordAuthentication", json!(self.rng.bool())),
                    2 => ("allowMultiFactorAuthentication", json!(self.rng.bool())),
                    _ => ("description", json!(format!("rack {}", self.rng.usize(..4)))),
                };
                Mutation::update(ResourceKind::System, id.clone()).set(field, value)
            };
            mutations.push(mutation);
        }
        if self.rng.usize(..8) == 0 {
            let name = format!("crash.hire{iteration}");
            mutations.push(Mutation::create(
                ResourceKind::User,
                json!({"username": name, "email": format!("{name}@example.com")}),
            ));
        }
        let mut applied = Vec::new();
        for mutation in mutations {
            let done = self.sim.apply([mutation.clone()]).context("applying a mutation")?;
            let changed = done.iter().any(|a| a.changes.iter().any(|c| c.from != c.to));
            // A boolean set to the value it had: flip it instead, so every batch changes
            // something.
            let flipped = match (&mutation.set, changed) {
                (Some(set), false) => {
                    set.iter().find_map(|(field, value)| Some((field.clone(), !value.as_bool()?)))
                }
                _ => None,
            };
            applied.extend(done);
            if let (Some((field, value)), Some(id)) = (flipped, mutation.id) {
                let again = Mutation::update(mutation.kind, id).set(field, json!(value));
                applied.extend(self.sim.apply([again]).context("applying a mutation")?);
            }
        }
        Ok(applied)
    }

    /// Starts `jumpwatch watch` (or `watch --once`), logging at `-vv` in JSON to a file.
    fn start(&mut self, once: bool) -> Result<Daemon> {
        self.runs += 1;
        let log = self.dir.join(format!("watch-{}.log", self.runs));
        let stderr =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(&self.binary);
        command
            .args(["-vv", "--log-format", "json", "watch", "--config"])
            .arg(&self.config)
            .env("JUMPCLOUD_API_KEY", self.sim.api_key())
            .env("RUST_LOG", LOG_FILTER)
            .env_remove("JUMPWATCH_DB")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        if once {
            command.args(["--once", "--drain-timeout", "30s"]);
        }
        let child =
            command.spawn().with_context(|| format!("starting {}", self.binary.display()))?;
        Ok(Daemon { child, started: Instant::now(), log })
    }

    /// One run: start, kill by `plan`, check the database.
    fn run_and_kill(&mut self, plan: Plan) -> Result<Kill> {
        let polls_before = self.polls();
        let deliveries_before = self.sink.deliveries().len();
        let mut daemon = self.start(false)?;
        let after = match plan {
            Plan::Timed => {
                let at = Duration::from_millis(self.rng.u64(200..=4000));
                std::thread::sleep(at.saturating_sub(daemon.started.elapsed()));
                daemon.started.elapsed()
            }
            Plan::Delivery | Plan::Held => {
                self.sink.hold(plan == Plan::Held);
                self.runtime.block_on(self.sink.wait_for(deliveries_before + 1, DELIVERY_PATIENCE));
                if plan == Plan::Delivery {
                    std::thread::sleep(Duration::from_millis(self.rng.u64(0..=30)));
                }
                daemon.started.elapsed()
            }
        };
        let exited = daemon.child.try_wait().ok().flatten().map(|status| status.to_string());
        let _ = daemon.child.kill();
        let status = daemon.child.wait().context("waiting for the killed child")?;
        self.sink.hold(false);
        let exited = exited.or_else(|| status.code().map(|code| format!("exit code {code}")));
        let deliveries = self.sink.deliveries();
        let held = deliveries[deliveries_before.min(deliveries.len())..]
            .iter()
            .any(|d| !d.answered && plan == Plan::Held);
        let phase = if held { "delivery: sent, answer held" } else { phase_of(&daemon.log) };
        let integrity = self.integrity();
        let polls = self.polls() - polls_before;
        let keep = integrity != "ok" || exited.is_some();
        let log = daemon.log.clone();
        drop(daemon);
        if !keep {
            let _ = std::fs::remove_file(&log);
        }
        Ok(Kill {
            plan,
            after,
            phase,
            polls,
            deliveries: deliveries.len() - deliveries_before,
            integrity,
            exited,
            log: keep.then_some(log),
        })
    }

    /// `jumpwatch watch --once` until it has delivered everything (exit 0). Returns the exit
    /// statuses.
    fn drain(&mut self) -> Result<Vec<String>> {
        self.sink.fail_at_random(0.0);
        self.sink.hold(false);
        let mut statuses = Vec::new();
        for _ in 0..FINAL_RUNS {
            let mut daemon = self.start(true)?;
            let deadline = Instant::now() + Duration::from_secs(120);
            let status: ExitStatus = loop {
                if let Some(status) = daemon.child.try_wait()? {
                    break status;
                }
                if Instant::now() >= deadline {
                    bail!("`jumpwatch watch --once` did not finish in 120 s");
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            statuses.push(status.code().map_or_else(|| status.to_string(), |c| c.to_string()));
            if status.success() {
                return Ok(statuses);
            }
            let log = std::fs::read_to_string(&daemon.log).unwrap_or_default();
            note(&format!(
                "`watch --once` exited with {status}; again ({} log lines)",
                log.lines().count()
            ));
        }
        Ok(statuses)
    }

    /// A read-only connection to the database.
    fn open(&self) -> Result<Connection> {
        Connection::open_with_flags(&self.db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("opening {}", self.db.display()))
    }

    /// `ok`, or what the check said.
    fn integrity(&self) -> String {
        if !self.db.exists() {
            return "ok".into();
        }
        let check = || -> Result<String> {
            let db = self.open()?;
            let mut statement = db.prepare("PRAGMA integrity_check")?;
            let rows: Vec<String> =
                statement.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?;
            Ok(rows.join("; "))
        };
        check().unwrap_or_else(|error| format!("could not check: {error:#}"))
    }

    /// Polls committed so far (0 without a database).
    fn polls(&self) -> i64 {
        if !self.db.exists() {
            return 0;
        }
        self.open()
            .and_then(|db| {
                db.query_row("SELECT count(*) FROM polls", [], |row| row.get(0))
                    .context("counting polls")
            })
            .unwrap_or(0)
    }
}

const DEPARTMENTS: [&str; 5] = ["Engineering", "Finance", "Sales", "Support", "Legal"];

fn config_text(sim: &Simulator, sink: &WebhookSink, db: &Path) -> String {
    let kinds: Vec<String> = KINDS.iter().map(|k| format!("{:?}", k.name())).collect();
    // Quick retries and a circuit that never opens, so a restart delivers at once; no repeats,
    // so every copy the webhook gets is a crash's doing.
    format!(
        r#"[[tenants]]
name = "acme"
api_key = "${{JUMPCLOUD_API_KEY}}"
base_url = "{base}"

[poll]
interval = "1s"
jitter = 0.0
kinds = [{kinds}]

[store]
path = {db:?}

[rules]
builtin = true

[notify]
backoff_base = "200ms"
backoff_cap = "1s"
breaker_failures = 1000
breaker_cooldown = "1s"

[notify.defaults]
receiver = "hook"
group_by = ["type", "kind", "rule"]
group_wait = "0s"
group_interval = "1s"
repeat_interval = "30d"

[[notify.receivers]]
name = "hook"
type = "webhook"
url = "{url}"
secret = "{SECRET}"
"#,
        base = sim.base_url(),
        kinds = kinds.join(", "),
        db = db.display().to_string(),
        url = sink.url(),
    )
}

/// What the child was doing when it was killed, from its log (JSON lines).
fn phase_of(log: &Path) -> &'static str {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut phase = "start-up";
    let mut listed = 0;
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else { continue };
        let message = entry["fields"]["message"].as_str().unwrap_or_default();
        let target = entry["target"].as_str().unwrap_or_default();
        phase = match message {
            "poll committed" => {
                listed = 0;
                "after a commit: idle or delivering"
            }
            "listed" => {
                listed += 1;
                if listed >= KINDS.len() {
                    "poll: judging and committing"
                } else {
                    "poll: collecting"
                }
            }
            "notification sent" | "send failed; will retry" => "after a delivery",
            _ if target.starts_with("jumpwatch_api") && listed < KINDS.len() => "poll: collecting",
            _ if target.starts_with("jumpwatch_api") => "poll: collecting (audit log)",
            _ => continue,
        };
    }
    phase
}

/// Runs the kills and the oracle; returns the report.
fn crash(options: &Options, binary: &Path) -> Result<Value> {
    let started = Instant::now();
    let mut world = World::new(options, binary)?;
    world.sink.fail_at_random(0.2);
    let mut expected = Expected::default();
    let mut kills = Vec::new();
    for iteration in 0..options.kills {
        let applied = world.mutate(iteration)?;
        expected.record(&applied);
        let plan = match world.rng.usize(..10) {
            0..=5 => Plan::Timed,
            6 | 7 => Plan::Delivery,
            _ => Plan::Held,
        };
        let kill = world.run_and_kill(plan)?;
        if kill.polls > 0 {
            expected.commit_point();
        }
        if kill.integrity != "ok" {
            note(&format!("kill {}: integrity check: {}", iteration + 1, kill.integrity));
        }
        if (iteration + 1) % 10 == 0 || iteration + 1 == options.kills {
            note(&format!(
                "{}/{} kills, {:.0} s",
                iteration + 1,
                options.kills,
                started.elapsed().as_secs_f64()
            ));
        }
        kills.push(kill);
    }
    let final_runs = world.drain()?;
    expected.commit_point();
    let final_integrity = world.integrity();
    let db = world.open()?;
    let changes = check_changes(&db, &world.sink.deliveries(), &expected)?;
    let findings = check_findings(&db, &world.sink.deliveries())?;
    let outbox = outbox_states(&db)?;
    let duplicates = duplicates(&world.sink.deliveries());
    drop(db);

    let integrity_failures =
        kills.iter().filter(|k| k.integrity != "ok").count() + usize::from(final_integrity != "ok");
    let open_entries = ["pending", "in_flight", "dead"]
        .iter()
        .map(|s| outbox.get(*s).copied().unwrap_or(0))
        .sum::<u64>();
    let events_lost = changes["lost"].as_u64().unwrap_or(0);
    let alerts_lost = changes["alerts_lost"].as_u64().unwrap_or(0)
        + findings["alerts_lost"].as_u64().unwrap_or(0);
    let unverified = world.sink.deliveries().iter().filter(|d| !d.verified).count();
    let passed = integrity_failures == 0
        && events_lost == 0
        && alerts_lost == 0
        && open_entries == 0
        && unverified == 0
        && final_runs.last().is_some_and(|s| s == "0");
    let report = json!({
        "command": format!("cargo xtask crash --kills {} --seed {} --size {}", options.kills, options.seed, options.size),
        "seed": options.seed,
        "size": options.size,
        "binary": binary.display().to_string(),
        "kills": kills.len(),
        "seconds": round(started.elapsed().as_secs_f64()),
        "kill_points": kill_points(&kills),
        "integrity_failures": integrity_failures,
        "integrity_final": final_integrity,
        "early_exits": kills.iter().filter(|k| k.exited.is_some()).count(),
        "final_runs": final_runs,
        "mutations": expected.mutations,
        "changes": changes,
        "findings": findings,
        "outbox": outbox,
        "duplicates": duplicates,
        "deliveries": world.sink.deliveries().len(),
        "webhook_attempts": world.sink.attempts(),
        "unverified_deliveries": unverified,
        "events_lost": events_lost,
        "alerts_lost": alerts_lost,
        "passed": passed,
        "kill_log": kills.iter().enumerate().map(|(n, k)| json!({
            "kill": n + 1,
            "plan": k.plan.name(),
            "ms": k.after.as_millis() as u64,
            "phase": k.phase,
            "polls_committed": k.polls,
            "deliveries": k.deliveries,
            "integrity": k.integrity,
            "exited": k.exited,
            "log": k.log.as_ref().map(|p| p.display().to_string()),
        })).collect::<Vec<_>>(),
        "dir": world.dir.display().to_string(),
    });
    if passed {
        let _ = std::fs::remove_dir_all(&world.dir);
    }
    Ok(report)
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Kills by plan, by time bucket and by phase.
fn kill_points(kills: &[Kill]) -> Value {
    let mut plans: BTreeMap<&str, usize> = BTreeMap::new();
    let mut buckets: BTreeMap<String, usize> = BTreeMap::new();
    let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
    for kill in kills {
        *plans.entry(kill.plan.name()).or_default() += 1;
        let second = kill.after.as_secs();
        let bucket =
            if second >= 4 { "4 s+".to_owned() } else { format!("{second}–{} s", second + 1) };
        *buckets.entry(bucket).or_default() += 1;
        *phases.entry(kill.phase).or_default() += 1;
    }
    json!({ "plans": plans, "time_buckets": buckets, "phases": phases,
            "runs_that_committed": kills.iter().filter(|k| k.polls > 0).count() })
}

/// The items delivered, with the `webhook-id` of the notification that carried each.
fn items(deliveries: &[Delivery]) -> Vec<(&Value, &str)> {
    deliveries
        .iter()
        .flat_map(|d| {
            d.body["items"].as_array().into_iter().flatten().map(move |item| (item, d.id.as_str()))
        })
        .collect()
}

/// Change events against deliveries and against the simulator's record.
fn check_changes(db: &Connection, deliveries: &[Delivery], expected: &Expected) -> Result<Value> {
    let mut statement = db.prepare(
        "SELECT event_id, kind, resource_id, op, changes FROM change_events ORDER BY seq",
    )?;
    let rows: Vec<(String, String, String, String, String)> = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<Result<_, _>>()?;
    let delivered: BTreeSet<&str> = items(deliveries)
        .into_iter()
        .filter(|(item, _)| item["kind"] == "change")
        .filter_map(|(item, _)| item["fingerprint"].as_str())
        .collect();
    let stored: BTreeSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let undelivered: Vec<&str> = stored.difference(&delivered).copied().collect();
    let phantom: Vec<&str> = delivered.difference(&stored).copied().collect();

    // Each tracked field's `after` values, in order, from the updated events.
    let mut afters: BTreeMap<FieldKey, Vec<Value>> = BTreeMap::new();
    let mut created: BTreeSet<&str> = BTreeSet::new();
    for (_, kind, id, op, changes) in &rows {
        if op == "created" {
            created.insert(id);
        }
        if op != "updated" {
            continue;
        }
        let changes: Value = serde_json::from_str(changes).context("a change event's changes")?;
        for change in changes.as_array().into_iter().flatten() {
            let path = match &change["path"] {
                Value::String(path) => path.clone(),
                other => other.to_string(),
            };
            let key = (kind.clone(), id.clone(), path);
            if expected.observed.contains_key(&key) {
                afters.entry(key).or_default().push(change["after"].clone());
            }
        }
    }
    let mut lost = 0usize;
    let mut extra = 0usize;
    let mut wrong = Vec::new();
    let mut tracked = 0usize;
    for (key, seen) in &expected.observed {
        let want = &seen[1.min(seen.len())..];
        tracked += want.len();
        let got = afters.get(key).map_or(&[][..], Vec::as_slice);
        if want != got {
            lost += want.len().saturating_sub(got.len());
            extra += got.len().saturating_sub(want.len());
            if wrong.len() < 20 {
                wrong.push(json!({ "resource": format!("{} {}", key.0, key.1), "field": key.2,
                                   "expected": want, "events": got }));
            }
        }
    }
    let mut missing_creates = 0usize;
    for (id, observed) in &expected.created {
        if *observed && !created.contains(id.as_str()) {
            missing_creates += 1;
            lost += 1;
        }
    }
    Ok(json!({
        "events": rows.len(),
        "delivered": stored.len() - undelivered.len(),
        "alerts_lost": undelivered.len(),
        "undelivered": undelivered.iter().take(20).collect::<Vec<_>>(),
        "phantom_deliveries": phantom.len(),
        "field_changes_expected": tracked,
        "fields_tracked": expected.observed.len(),
        "users_created": expected.created.len(),
        "lost": lost,
        "missing_creates": missing_creates,
        "extra_events": extra,
        "mismatches": wrong,
    }))
}

/// Finding transitions against the firing and resolved items delivered.
fn check_findings(db: &Connection, deliveries: &[Delivery]) -> Result<Value> {
    let mut statement = db.prepare(
        "SELECT t.fingerprint, t.to_state, f.rule_type FROM finding_transitions AS t
         JOIN findings AS f USING (fingerprint) ORDER BY t.seq",
    )?;
    let rows: Vec<(String, String, String)> = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    // Transitions that raise an alert, counted by (fingerprint, status).
    let mut wanted: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for (fingerprint, to, rule_type) in &rows {
        let status = if to == "open" { "firing" } else { "resolved" };
        if rule_type == "event" && status == "resolved" {
            continue;
        }
        *wanted.entry((fingerprint.clone(), status)).or_default() += 1;
    }
    // Distinct items delivered by (fingerprint, status): a firing one by its reopen count, a
    // resolved one by its end.
    let mut delivered: BTreeMap<(String, &str), BTreeSet<String>> = BTreeMap::new();
    for (item, _) in items(deliveries) {
        if item["kind"] != "finding" && item["kind"] != "event" {
            continue;
        }
        let Some(fingerprint) = item["fingerprint"].as_str() else { continue };
        let (status, identity) = if item["status"] == "resolved" {
            ("resolved", item["ends_at"].to_string())
        } else {
            ("firing", item["evidence"]["reopened"].to_string())
        };
        delivered.entry((fingerprint.to_owned(), status)).or_default().insert(identity);
    }
    // The outbox's entry of each (fingerprint, status), and its state.
    let mut statement = db.prepare(
        "SELECT fingerprint, status, state FROM outbox WHERE json_extract(alert, '$.kind') IN ('finding', 'event')",
    )?;
    let entries: BTreeMap<(String, String), Vec<String>> = statement
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        })?
        .try_fold(BTreeMap::new(), |mut map: BTreeMap<_, Vec<String>>, row| {
            let (fingerprint, status, state) = row?;
            map.entry((fingerprint, status)).or_default().push(state);
            Ok::<_, rusqlite::Error>(map)
        })?;
    let (mut expected, mut arrived, mut dropped) = (0usize, 0usize, 0usize);
    let (mut never_enqueued, mut undelivered) = (0usize, 0usize);
    let mut examples = Vec::new();
    for ((fingerprint, status), count) in &wanted {
        expected += count;
        let got = delivered.get(&(fingerprint.clone(), *status)).map_or(0, BTreeSet::len);
        let missing = count.saturating_sub(got);
        arrived += count - missing;
        if missing == 0 {
            continue;
        }
        let states = entries.get(&(fingerprint.clone(), (*status).to_owned()));
        let enqueued = states.map_or(0, Vec::len);
        let by_design = states.map_or(0, |s| s.iter().filter(|s| *s == "dropped").count());
        // An entry dropped by design accounts for one missing item; transitions with no entry
        // of their own were never enqueued; the rest were enqueued and not delivered.
        let excused = by_design.min(missing);
        dropped += excused;
        let missing = missing - excused;
        let not_enqueued = count.saturating_sub(enqueued).min(missing);
        never_enqueued += not_enqueued;
        undelivered += missing - not_enqueued;
        if missing > 0 && examples.len() < 20 {
            examples.push(json!({ "fingerprint": fingerprint, "status": status,
                                  "transitions": count, "delivered": got,
                                  "outbox": states }));
        }
    }
    Ok(json!({
        "transitions": rows.len(),
        "alerts_expected": expected,
        "delivered": arrived,
        "dropped_by_design": dropped,
        "alerts_lost": never_enqueued + undelivered,
        "lost_never_enqueued": never_enqueued,
        "lost_enqueued_not_delivered": undelivered,
        "examples": examples,
    }))
}

/// Outbox entries by state.
fn outbox_states(db: &Connection) -> Result<BTreeMap<String, u64>> {
    let mut statement = db.prepare("SELECT state, count(*) FROM outbox GROUP BY state")?;
    let states = statement
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        .map(|row| row.map(|(state, n)| (state, u64::try_from(n).unwrap_or(0))))
        .collect::<Result<_, _>>()?;
    Ok(states)
}

/// Items delivered more than once, and how many copies had a `webhook-id` already seen for the
/// same item.
fn duplicates(deliveries: &[Delivery]) -> Value {
    let mut seen: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let (mut copies, mut same_id) = (0usize, 0usize);
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for (item, id) in items(deliveries) {
        let identity = format!(
            "{}|{}|{}|{}",
            item["fingerprint"], item["status"], item["ends_at"], item["evidence"]["reopened"]
        );
        let ids = seen.entry(identity).or_default();
        if !ids.is_empty() {
            copies += 1;
            *by_kind.entry(item["kind"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
            if ids.contains(id) {
                same_id += 1;
            }
        }
        ids.insert(id);
    }
    let notifications: BTreeSet<&str> = deliveries.iter().map(|d| d.id.as_str()).collect();
    json!({
        "items_delivered": seen.len(),
        "copies": copies,
        "copies_same_webhook_id": same_id,
        "copies_new_webhook_id": copies - same_id,
        "copies_by_kind": by_kind,
        "notifications": notifications.len(),
        "notifications_redelivered": deliveries.len() - notifications.len(),
    })
}

fn table(report: &Value) -> String {
    let mut out = String::new();
    let n = |v: &Value| v.as_u64().map_or_else(|| v.to_string(), |n| n.to_string());
    let rows = [
        ("kills", n(&report["kills"])),
        ("runs that committed a poll", n(&report["kill_points"]["runs_that_committed"])),
        ("seconds", report["seconds"].to_string()),
        ("integrity failures", n(&report["integrity_failures"])),
        ("mutations applied", n(&report["mutations"])),
        ("change events", n(&report["changes"]["events"])),
        ("field changes expected (simulator)", n(&report["changes"]["field_changes_expected"])),
        ("change events lost", n(&report["changes"]["lost"])),
        ("change events extra", n(&report["changes"]["extra_events"])),
        ("change alerts lost", n(&report["changes"]["alerts_lost"])),
        ("finding transitions", n(&report["findings"]["transitions"])),
        ("finding alerts expected", n(&report["findings"]["alerts_expected"])),
        ("finding alerts dropped by design", n(&report["findings"]["dropped_by_design"])),
        ("finding alerts lost (never enqueued)", n(&report["findings"]["lost_never_enqueued"])),
        (
            "finding alerts lost (not delivered)",
            n(&report["findings"]["lost_enqueued_not_delivered"]),
        ),
        ("outbox", report["outbox"].to_string()),
        ("deliveries (notifications accepted)", n(&report["deliveries"])),
        ("duplicate items delivered", n(&report["duplicates"]["copies"])),
        ("  with the same webhook-id", n(&report["duplicates"]["copies_same_webhook_id"])),
        ("  with a new webhook-id", n(&report["duplicates"]["copies_new_webhook_id"])),
        ("final `watch --once` exit codes", report["final_runs"].to_string()),
        ("passed", report["passed"].to_string()),
    ];
    let _ = writeln!(out, "{:<40} {}", "seed", report["seed"]);
    for (name, value) in rows {
        let _ = writeln!(out, "{name:<40} {value}");
    }
    let _ = writeln!(out, "\nkill points");
    for section in ["plans", "time_buckets", "phases"] {
        if let Some(map) = report["kill_points"][section].as_object() {
            for (name, count) in map {
                let _ = writeln!(out, "  {section:<13} {name:<36} {count}");
            }
        }
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
        let o = Options::parse(&["--kills", "3", "--seed", "1", "--out", "x.json"])?;
        assert_eq!((o.kills, o.seed, o.size.as_str()), (3, 1, "small"));
        assert_eq!(o.out, PathBuf::from("x.json"));
        assert!(Options::parse(&["--kills"]).is_err());
        assert!(Options::parse(&["--size", "enormous"]).is_err());
        Ok(())
    }

    #[test]
    fn the_expected_values_are_those_a_commit_saw() {
        let mut expected = Expected::default();
        let key: FieldKey = ("user".into(), "u1".into(), "sudo".into());
        expected.current.insert(key.clone(), json!(false));
        expected.commit_point();
        expected.current.insert(key.clone(), json!(true));
        expected.current.insert(key.clone(), json!(false));
        expected.commit_point();
        expected.current.insert(key.clone(), json!(true));
        expected.commit_point();
        expected.commit_point();
        assert_eq!(expected.observed[&key], vec![json!(false), json!(true)]);
    }
}
