//! Notifications survive a crash: `jumpwatch watch` is killed (SIGKILL) at three points of a
//! notification's life, restarted, and every change committed in the store still reaches the
//! webhook — at least once, and twice only when the crash fell between the send and its answer,
//! then with the same `webhook-id` so that the receiver can drop the copy.
//!
//! a. before the poll's commit: the redone poll finds the changes and they are delivered once;
//! b. after the commit, before any send succeeded: they are delivered once after the restart;
//! c. after the send, before its answer: they are delivered again, same notification id.
//!
//! The oracle, every time: the change events in the store are exactly the alert fingerprints
//! delivered to the webhook, and the outbox shows them all delivered.

#![allow(clippy::unwrap_used, reason = "a test fails on the first unexpected error")]

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use jumpwatch_notify::channel::webhook::SigningSecret;
use jumpwatch_notify::sink::{Delivery, WebhookSink};
use jumpwatch_sim::{Faults, Scenario, Simulator};
use serde_json::Value;

/// A Standard Webhooks secret (`whsec_` and base64), fixed: the sink is on 127.0.0.1.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// How long any one condition may take to come true before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// A case's world: a simulated tenant, a signed webhook, a configuration and its database.
struct Setup {
    dir: PathBuf,
    db: PathBuf,
    config: PathBuf,
    /// The daemons started so far (each logs to `watch-<n>.log`).
    runs: Cell<usize>,
    sim: Simulator,
    sink: WebhookSink,
    /// Runs the sink; dropped last.
    _runtime: tokio::runtime::Runtime,
}

impl Setup {
    /// A tenant (seed `seed`), a healthy sink, and a configuration polling every `interval`.
    fn new(name: &str, seed: u64, interval: &str) -> Self {
        let dir = std::env::temp_dir()
            .join(format!("jumpwatch-durability-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let sink = runtime
            .block_on(WebhookSink::start(Some(SigningSecret::parse(SECRET).unwrap())))
            .unwrap();
        let sim = Simulator::builder().seed(seed).spawn().unwrap();
        let db = dir.join("jumpwatch.db");
        let config = dir.join("jumpwatch.toml");
        // Retries are quick and the circuit never opens, so a restart delivers at once.
        let text = format!(
            r#"[[tenants]]
name = "acme"
api_key = "${{JUMPCLOUD_API_KEY}}"
base_url = "{base}"

[poll]
interval = "{interval}"
jitter = 0.0
kinds = ["user", "system"]

[store]
path = "{db}"

[rules]
builtin = false

[notify]
backoff_base = "200ms"
backoff_cap = "1s"
breaker_failures = 1000
breaker_cooldown = "1s"

[[notify.receivers]]
name = "hook"
type = "webhook"
url = "{url}"
secret = "{SECRET}"

[[notify.routes]]
receiver = "hook"
match = {{ type = "change" }}
group_by = ["kind"]
group_wait = "0s"
group_interval = "1s"
"#,
            base = sim.base_url(),
            db = db.display(),
            url = sink.url(),
        );
        std::fs::write(&config, text).unwrap();
        Self { dir, db, config, runs: Cell::new(0), sim, sink, _runtime: runtime }
    }

    /// Starts `jumpwatch watch`, and waits until it has committed a poll: only then is the
    /// database opened (opening it at the same time as the daemon may fail).
    fn watch(&self) -> Daemon {
        self.runs.set(self.runs.get() + 1);
        let log = self.dir.join(format!("watch-{}.log", self.runs.get()));
        let child = Command::cargo_bin("jumpwatch")
            .unwrap()
            .args(["watch", "--config", self.config.to_str().unwrap()])
            .env("JUMPCLOUD_API_KEY", self.sim.api_key())
            .env_remove("JUMPWATCH_DB")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let daemon = Daemon { child };
        self.wait_until("the daemon has committed a poll", || {
            std::fs::read_to_string(&log).unwrap_or_default().contains("poll committed")
        });
        daemon
    }

    /// Waits until `condition` holds; fails the test (with the daemon's logs) after `PATIENCE`.
    fn wait_until(&self, what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !condition() {
            if Instant::now() >= deadline {
                let logs: Vec<String> = (1..=self.runs.get())
                    .map(|n| {
                        let log = self.dir.join(format!("watch-{n}.log"));
                        format!(
                            "--- {} ---\n{}",
                            log.display(),
                            std::fs::read_to_string(&log).unwrap_or_default()
                        )
                    })
                    .collect();
                panic!("timed out waiting until {what}\n{}", logs.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A query's rows.
    fn query(&self, sql: &str) -> Vec<Value> {
        let output =
            jumpwatch(&["query", "--db", self.db.to_str().unwrap(), "--format", "json", sql]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Polls committed.
    fn polls(&self) -> i64 {
        self.query("SELECT count(*) AS n FROM polls")[0]["n"].as_i64().unwrap()
    }

    /// The ids of the change events committed.
    fn changes(&self) -> BTreeSet<String> {
        self.query("SELECT event_id FROM changes")
            .iter()
            .map(|row| row["event_id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The outbox's entries, every state.
    fn outbox(&self) -> Vec<Value> {
        let output = jumpwatch(&[
            "outbox",
            "--db",
            self.db.to_str().unwrap(),
            "--limit",
            "10000",
            "--format",
            "json",
        ]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// How many times each change's alert reached the webhook, and in which notifications.
    fn delivered(&self) -> BTreeMap<String, Vec<Delivery>> {
        let mut out: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
        for delivery in self.sink.deliveries() {
            assert!(delivery.verified, "an unsigned delivery was accepted");
            for item in delivery.body["items"].as_array().unwrap() {
                let fingerprint = item["fingerprint"].as_str().unwrap().to_owned();
                out.entry(fingerprint).or_default().push(delivery.clone());
            }
        }
        out
    }

    /// Whether the changes are committed and each has reached the webhook `times` times.
    fn delivered_all(&self, times: usize) -> bool {
        let changes = self.changes();
        let delivered = self.delivered();
        !changes.is_empty()
            && delivered.keys().cloned().collect::<BTreeSet<_>>() == changes
            && delivered.values().all(|d| d.len() >= times)
    }

    /// The oracle: the changes in the store are the alerts delivered, each at least once, and
    /// the outbox has delivered them all. Returns the duplicates (deliveries beyond the first).
    fn check(&self) -> usize {
        let changes = self.changes();
        assert!(!changes.is_empty(), "the drift was not committed");
        let delivered = self.delivered();
        let fingerprints: BTreeSet<String> = delivered.keys().cloned().collect();
        assert_eq!(fingerprints, changes, "delivered alerts != committed changes");
        let entries = self.outbox();
        assert_eq!(entries.len(), changes.len(), "{entries:#?}");
        assert!(entries.iter().all(|e| e["state"] == "delivered" && e["type"] == "change"));
        delivered.values().map(|d| d.len() - 1).sum()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A running `jumpwatch watch`; killed if the test fails.
struct Daemon {
    child: Child,
}

impl Daemon {
    /// SIGKILL: no chance to finish anything.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM: the way an operator stops it; it exits cleanly.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn jumpwatch(args: &[&str]) -> Output {
    Command::cargo_bin("jumpwatch")
        .unwrap()
        .args(args)
        .env_remove("JUMPWATCH_DB")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// Attempts per outbox entry.
fn attempts(entries: &[Value]) -> BTreeSet<i64> {
    entries.iter().map(|e| e["attempts"].as_i64().unwrap()).collect()
}

#[test]
fn killed_before_the_commit_the_redone_poll_delivers_once() {
    let setup = Setup::new("before-commit", 11, "2s");
    let daemon = setup.watch();
    // The next poll is slow: its first request waits 3 s for an answer, so it cannot commit
    // before the kill.
    setup.sim.set_faults(Faults::none().latency(Duration::from_secs(3))).unwrap();
    let drift = setup.sim.scenario(Scenario::Drift).unwrap();
    assert!(!drift.changes.is_empty());
    setup.wait_until("the next poll has started", || setup.sim.stats().faults.delayed > 0);
    daemon.kill();
    assert_eq!(setup.polls(), 1, "the poll in progress was committed");
    assert!(setup.changes().is_empty());
    assert!(setup.outbox().is_empty());

    setup.sim.set_faults(Faults::none()).unwrap();
    let daemon = setup.watch();
    setup.wait_until("the redone poll's changes are delivered", || setup.delivered_all(1));
    daemon.stop();
    assert_eq!(setup.check(), 0, "duplicates");
    assert_eq!(attempts(&setup.outbox()), BTreeSet::from([1]));
}

#[test]
fn killed_after_the_commit_before_a_send_succeeded_delivers_once_after_restart() {
    let setup = Setup::new("before-send", 12, "1s");
    setup.sink.fail_at_random(1.0);
    let daemon = setup.watch();
    setup.sim.scenario(Scenario::Drift).unwrap();
    setup.wait_until("the changes are committed and a send failed", || {
        setup.sink.attempts() >= 1 && !setup.changes().is_empty()
    });
    daemon.kill();
    assert!(setup.sink.deliveries().is_empty());
    let entries = setup.outbox();
    assert_eq!(entries.len(), setup.changes().len());
    assert!(
        entries.iter().all(|e| e["state"] == "pending" || e["state"] == "in_flight"),
        "{entries:#?}"
    );

    setup.sink.fail_at_random(0.0);
    let daemon = setup.watch();
    setup.wait_until("the changes are delivered", || setup.delivered_all(1));
    daemon.stop();
    assert_eq!(setup.check(), 0, "duplicates");
    assert!(attempts(&setup.outbox()).iter().all(|n| *n >= 2));
}

#[test]
fn killed_after_the_send_before_its_answer_the_same_notification_comes_again() {
    let setup = Setup::new("before-answer", 13, "1s");
    setup.sink.hold(true);
    let daemon = setup.watch();
    setup.sim.scenario(Scenario::Drift).unwrap();
    setup.wait_until("every change has reached the webhook", || setup.delivered_all(1));
    daemon.kill();
    let first = setup.sink.deliveries();
    assert!(first.iter().all(|d| !d.answered));
    let changes = setup.changes();

    setup.sink.hold(false);
    let daemon = setup.watch();
    setup.wait_until("every change has reached the webhook again", || setup.delivered_all(2));
    daemon.stop();
    let duplicates = setup.check();
    assert_eq!(duplicates, changes.len(), "each change is delivered twice");
    assert_eq!(attempts(&setup.outbox()), BTreeSet::from([2]));
    // The killed sender never heard back; the copies are the same notifications, by id.
    let deliveries = setup.sink.deliveries();
    let (before, again) = deliveries.split_at(first.len());
    assert!(before.iter().all(|d| !d.answered), "a held answer reached a killed sender");
    let ids = |d: &[Delivery]| d.iter().map(|d| d.id.clone()).collect::<BTreeSet<_>>();
    assert_eq!(ids(before), ids(again));
    assert_eq!(before.len(), again.len());
    for (fingerprint, received) in setup.delivered() {
        assert_eq!(received.len(), 2, "{fingerprint}");
        assert_eq!(received[0].id, received[1].id, "{fingerprint}: a new webhook-id");
        assert!(!received[0].answered && received[1].answered, "{fingerprint}");
        assert_eq!(received[0].body["items"], received[1].body["items"], "{fingerprint}");
    }
}
