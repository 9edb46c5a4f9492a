//! The delivery worker under tokio's paused clock: grouping, group_interval, repeats, flapping,
//! silences, inhibitions, retries with `Retry-After`, dead letters, disabled receivers, circuit
//! breakers and rate limits.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use jumpwatch_notify::outbox::route;
use jumpwatch_notify::{
    Alert, AlertKind, Channel, Clock, DeliveryPolicy, EntryState, Inhibition, Matchers,
    MemoryOutbox, Notification, Notifier, Outbox, Rate, Reason, Route, RouteTree, SendError,
    Severity, Silence, Status, Timing,
};

/// A channel that records what it is sent and answers from a script (then `Ok`).
#[derive(Debug, Default)]
struct Recorder {
    sent: Mutex<Vec<(Duration, Notification)>>,
    script: Mutex<VecDeque<Result<(), SendError>>>,
    start: Option<tokio::time::Instant>,
    rate: Option<Rate>,
}

impl Recorder {
    fn new() -> Arc<Self> {
        Arc::new(Self { start: Some(tokio::time::Instant::now()), ..Self::default() })
    }

    fn failing(script: Vec<Result<(), SendError>>) -> Arc<Self> {
        Arc::new(Self {
            start: Some(tokio::time::Instant::now()),
            script: Mutex::new(script.into()),
            ..Self::default()
        })
    }

    fn sent(&self) -> Vec<(Duration, Notification)> {
        self.sent.lock().unwrap().clone()
    }

    fn fingerprints(&self) -> Vec<Vec<String>> {
        self.sent()
            .into_iter()
            .map(|(_, n)| {
                n.alerts.iter().map(|a| format!("{}:{}", a.fingerprint, a.status)).collect()
            })
            .collect()
    }
}

#[async_trait]
impl Channel for Recorder {
    fn kind(&self) -> &'static str {
        "recorder"
    }

    fn default_rate(&self) -> Option<Rate> {
        self.rate
    }

    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let at = self.start.map(|s| s.elapsed()).unwrap_or_default();
        self.sent.lock().unwrap().push((at, notification.clone()));
        self.script.lock().unwrap().pop_front().unwrap_or(Ok(()))
    }
}

fn t0() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

fn finding(fingerprint: &str) -> Alert {
    Alert::new(
        AlertKind::Finding,
        fingerprint,
        Status::Firing,
        Severity::High,
        format!("finding {fingerprint}"),
        t0(),
    )
    .label("tenant", "acme")
    .label("rule", "jc.user.mfa")
}

fn change(id: &str) -> Alert {
    Alert::new(AlertKind::Change, id, Status::Firing, Severity::Info, format!("change {id}"), t0())
        .label("tenant", "acme")
}

fn timing() -> Timing {
    Timing {
        group_wait: Duration::from_secs(30),
        group_interval: Duration::from_secs(300),
        repeat_interval: Duration::from_secs(3600),
    }
}

struct Rig {
    outbox: Arc<MemoryOutbox>,
    notifier: Notifier,
    tree: RouteTree,
    clock: Clock,
}

impl Rig {
    fn new(
        receivers: Vec<(&str, Arc<Recorder>)>,
        tree: RouteTree,
        policy: DeliveryPolicy,
        inhibitions: Vec<Inhibition>,
    ) -> Self {
        let outbox = Arc::new(MemoryOutbox::new());
        let clock = Clock::starting_at(t0());
        let mut builder = Notifier::builder(Arc::clone(&outbox) as Arc<dyn Outbox>)
            .clock(clock)
            .policy(policy)
            .inhibitions(inhibitions);
        for (name, recorder) in receivers {
            builder = builder.receiver(name, recorder);
        }
        Self { outbox, notifier: builder.build(), tree, clock }
    }

    fn simple(recorder: &Arc<Recorder>) -> Self {
        Self::new(
            vec![("chat", Arc::clone(recorder))],
            RouteTree::of(vec![Route::to("chat").timing(timing())]),
            DeliveryPolicy::default(),
            Vec::new(),
        )
    }

    fn raise(&self, alerts: &[Alert]) {
        self.outbox.enqueue(&route(&self.tree, alerts, self.clock.now())).unwrap();
    }

    /// Advances the paused clock by `seconds` and runs one pass.
    async fn at(&self, seconds: u64) {
        let target = t0() + chrono::Duration::seconds(i64::try_from(seconds).unwrap());
        let wait = (target - self.clock.now()).to_std().unwrap_or_default();
        tokio::time::advance(wait).await;
        self.notifier.deliver_due().await.unwrap();
    }

    fn states(&self) -> Vec<EntryState> {
        let mut entries = self.outbox.entries(None, 100).unwrap();
        entries.sort_by_key(|e| e.id);
        entries.into_iter().map(|e| e.state).collect()
    }
}

#[tokio::test(start_paused = true)]
async fn group_wait_batches_alerts_into_one_notification() {
    let recorder = Recorder::new();
    let rig = Rig::simple(&recorder);
    rig.raise(&[finding("a"), finding("b")]);
    rig.at(10).await;
    rig.raise(&[finding("c")]);
    rig.at(29).await;
    assert!(recorder.sent().is_empty(), "nothing before group_wait");
    rig.at(30).await;
    assert_eq!(recorder.fingerprints(), [["a:firing", "b:firing", "c:firing"]]);
    let (_, notification) = &recorder.sent()[0];
    assert_eq!(notification.reason, Reason::New);
    assert_eq!(rig.states(), [EntryState::Delivered; 3]);
}

#[tokio::test(start_paused = true)]
async fn group_interval_paces_later_alerts_and_repeat_interval_repeats_open_findings() {
    let recorder = Recorder::new();
    let tree = RouteTree::of(vec![Route::to("chat").group_by(["tenant"]).timing(timing())]);
    let rig = Rig::new(
        vec![("chat", Arc::clone(&recorder))],
        tree,
        DeliveryPolicy::default(),
        Vec::new(),
    );
    rig.raise(&[finding("a"), change("c1")]);
    rig.at(30).await;
    rig.at(40).await;
    rig.raise(&[finding("b")]);
    rig.at(329).await;
    assert_eq!(
        recorder.fingerprints(),
        [["a:firing", "c1:firing"]],
        "the group waits group_interval"
    );
    rig.at(330).await;
    assert_eq!(recorder.fingerprints()[1], ["b:firing"]);
    // An hour after the last notification the open findings repeat; the change does not.
    rig.at(330 + 3599).await;
    assert_eq!(recorder.sent().len(), 2);
    rig.at(330 + 3600).await;
    let sent = recorder.sent();
    assert_eq!(sent[2].1.reason, Reason::Repeat);
    assert_eq!(recorder.fingerprints()[2], ["a:firing", "b:firing"]);
    // Once resolved, a finding is sent resolved, and no longer repeats.
    rig.raise(&[finding("a").resolved(t0()), finding("b").resolved(t0())]);
    rig.at(330 + 3600 + 300).await;
    assert_eq!(recorder.fingerprints()[3], ["a:resolved", "b:resolved"]);
    rig.at(330 + 3600 + 300 + 10 * 3600).await;
    assert_eq!(recorder.sent().len(), 4, "nothing fires, nothing repeats");
}

#[tokio::test(start_paused = true)]
async fn a_finding_resolved_within_group_wait_is_never_sent() {
    let recorder = Recorder::new();
    let rig = Rig::simple(&recorder);
    rig.raise(&[finding("flap"), finding("stays")]);
    rig.at(10).await;
    let resolved = finding("flap").resolved(t0() + chrono::Duration::seconds(10));
    rig.raise(&[resolved]);
    rig.at(30).await;
    assert_eq!(recorder.fingerprints(), [["stays:firing"]]);
    assert_eq!(rig.states(), [EntryState::Dropped, EntryState::Delivered, EntryState::Dropped]);
}

#[tokio::test(start_paused = true)]
async fn a_silence_made_after_enqueue_still_mutes_and_ends() {
    let recorder = Recorder::new();
    let rig = Rig::simple(&recorder);
    rig.raise(&[finding("a"), change("c1")]);
    let matchers = Matchers::pairs(&[("type", "change")]).unwrap();
    let silence =
        Silence::new(matchers, t0(), t0() + chrono::Duration::seconds(100), "ana", "migration")
            .unwrap();
    rig.outbox.add_silence(&silence).unwrap();
    rig.at(30).await;
    assert_eq!(recorder.fingerprints(), [["a:firing"]]);
    assert_eq!(rig.states(), [EntryState::Delivered, EntryState::Silenced]);
    rig.raise(&[change("c2")]);
    rig.at(400).await;
    assert_eq!(recorder.fingerprints()[1], ["c2:firing"], "the silence ended at 100 s");
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_tenant_inhibits_its_other_alerts() {
    let recorder = Recorder::new();
    let source = Matchers::pairs(&[("check", "auth")]).unwrap();
    let target = Matchers::pairs(&[("type", "finding")]).unwrap();
    let rig = Rig::new(
        vec![("chat", Arc::clone(&recorder))],
        RouteTree::of(vec![Route::to("chat").timing(timing())]),
        DeliveryPolicy::default(),
        vec![Inhibition::new(source, target, vec!["tenant".into()])],
    );
    let outage = Alert::new(
        AlertKind::Health,
        "auth:acme",
        Status::Firing,
        Severity::Critical,
        "authentication fails",
        t0(),
    )
    .label("tenant", "acme")
    .label("check", "auth");
    rig.raise(&[outage, finding("a")]);
    rig.at(30).await;
    assert_eq!(recorder.fingerprints(), [["auth:acme:firing"]]);
    assert_eq!(rig.states(), [EntryState::Delivered, EntryState::Inhibited]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_honours_retry_after_and_keeps_the_notification_id() {
    let recorder = Recorder::failing(vec![Err(SendError::Retry {
        after: Some(Duration::from_secs(120)),
        message: "HTTP 429".into(),
    })]);
    let rig = Rig::simple(&recorder);
    rig.raise(&[finding("a")]);
    rig.at(30).await;
    rig.at(149).await;
    assert_eq!(recorder.sent().len(), 1, "not before Retry-After");
    rig.at(150).await;
    let sent = recorder.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].1.id, sent[1].1.id, "the same id on every attempt");
    assert_eq!(rig.states(), [EntryState::Delivered]);
    let entry = &rig.outbox.entries(None, 1).unwrap()[0];
    assert_eq!(entry.attempts, 2);
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_dead_letter_at_once_and_tell_the_operations_receiver() {
    let broken = Recorder::failing(vec![Err(SendError::permanent("HTTP 404"))]);
    let ops = Recorder::new();
    let policy = DeliveryPolicy { ops_receiver: Some("ops".into()), ..DeliveryPolicy::default() };
    let tree = RouteTree::of(vec![Route::to("chat").timing(timing())]);
    let rig = Rig::new(
        vec![("chat", Arc::clone(&broken)), ("ops", Arc::clone(&ops))],
        tree,
        policy,
        Vec::new(),
    );
    rig.raise(&[finding("a")]);
    rig.at(30).await;
    rig.at(31).await;
    assert_eq!(broken.sent().len(), 1, "no retry");
    let dead = rig.outbox.entries(Some(EntryState::Dead), 10).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 404"));
    let told = ops.sent();
    assert_eq!(told.len(), 1, "the operations receiver hears of it");
    assert_eq!(told[0].1.alerts[0].kind, AlertKind::Notice);
    assert!(told[0].1.alerts[0].summary.contains("HTTP 404"));
}

#[tokio::test(start_paused = true)]
async fn a_gone_endpoint_disables_its_receiver() {
    let gone = Recorder::failing(vec![Err(SendError::Gone { message: "HTTP 410".into() })]);
    let rig = Rig::simple(&gone);
    rig.raise(&[finding("a")]);
    rig.at(30).await;
    rig.raise(&[finding("b")]);
    rig.at(10_000).await;
    assert_eq!(gone.sent().len(), 1);
    assert_eq!(rig.outbox.receiver_state("chat").unwrap().disabled.as_deref(), Some("HTTP 410"));
    assert_eq!(rig.states(), [EntryState::Dead, EntryState::Pending]);
}

#[tokio::test(start_paused = true)]
async fn failures_in_a_row_open_the_circuit_until_the_cool_down_passes() {
    let failures = (0..5).map(|_| Err(SendError::retry("HTTP 503"))).collect();
    let flaky = Recorder::failing(failures);
    let ops = Recorder::new();
    let policy = DeliveryPolicy {
        ops_receiver: Some("ops".into()),
        backoff_base: Duration::from_secs(1),
        backoff_cap: Duration::from_secs(1),
        breaker_failures: 5,
        breaker_cooldown: Duration::from_secs(600),
        ..DeliveryPolicy::default()
    };
    let tree = RouteTree::of(vec![Route::to("flaky").timing(timing())]);
    let rig = Rig::new(
        vec![("flaky", Arc::clone(&flaky)), ("ops", Arc::clone(&ops))],
        tree,
        policy,
        Vec::new(),
    );
    rig.raise(&[finding("a")]);
    for second in 30..40 {
        rig.at(second).await;
    }
    assert_eq!(flaky.sent().len(), 5, "five failures, then the circuit is open");
    let state = rig.outbox.receiver_state("flaky").unwrap();
    assert_eq!(state.consecutive_failures, 5);
    assert!(state.open_until.is_some());
    rig.at(34 + 599).await;
    assert_eq!(flaky.sent().len(), 5, "nothing while open");
    rig.at(34 + 601).await;
    assert_eq!(flaky.sent().len(), 6, "the probe after the cool-down succeeds");
    assert_eq!(
        rig.outbox.receiver_state("flaky").unwrap(),
        jumpwatch_notify::ReceiverState::default()
    );
    rig.at(34 + 601 + 300).await;
    let told: Vec<String> = ops
        .sent()
        .iter()
        .flat_map(|(_, n)| {
            n.alerts.iter().map(|a| format!("{}:{}", a.label_value("check"), a.status))
        })
        .collect();
    assert_eq!(told, ["circuit-open:firing", "circuit-open:resolved"]);
}

#[tokio::test(start_paused = true)]
async fn entries_older_than_max_age_become_dead_letters() {
    let failures = (0..100).map(|_| Err(SendError::retry("connection refused"))).collect();
    let down = Recorder::failing(failures);
    let policy = DeliveryPolicy {
        max_age: Duration::from_secs(600),
        backoff_base: Duration::from_secs(60),
        backoff_cap: Duration::from_secs(60),
        breaker_failures: 1000,
        ..DeliveryPolicy::default()
    };
    let rig = Rig::new(
        vec![("chat", Arc::clone(&down))],
        RouteTree::of(vec![Route::to("chat").timing(timing())]),
        policy,
        Vec::new(),
    );
    rig.raise(&[finding("a")]);
    for minute in 0..20 {
        rig.at(30 + minute * 60).await;
    }
    let dead = rig.outbox.entries(Some(EntryState::Dead), 10).unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].last_error.as_deref().unwrap().starts_with("gave up after"),
        "{:?}",
        dead[0].last_error
    );
    assert!(down.sent().len() < 20);
}

#[tokio::test(start_paused = true)]
async fn a_receiver_s_rate_limit_spaces_its_messages() {
    let recorder = Arc::new(Recorder {
        start: Some(tokio::time::Instant::now()),
        rate: jumpwatch_notify::notifier::rate(2, 1),
        ..Recorder::default()
    });
    let tree = RouteTree::of(vec![
        Route::to("chat")
            .group_by(["..."])
            .timing(Timing { group_wait: Duration::ZERO, ..timing() }),
    ]);
    let rig = Rig::new(
        vec![("chat", Arc::clone(&recorder))],
        tree,
        DeliveryPolicy::default(),
        Vec::new(),
    );
    let alerts: Vec<Alert> = (0..10).map(|i| change(&format!("c{i}"))).collect();
    rig.raise(&alerts);
    let drained = rig.notifier.drain(Duration::from_secs(60)).await.unwrap();
    assert!(drained.pending.is_empty());
    let times: Vec<Duration> = recorder.sent().into_iter().map(|(at, _)| at).collect();
    assert_eq!(times.len(), 10);
    let span = *times.last().unwrap() - times[0];
    assert!(
        span >= Duration::from_millis(4400) && span <= Duration::from_millis(4600),
        "10 messages at 2/s take 4.5 s: {span:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn drain_stops_at_its_timeout_and_says_what_is_pending() {
    let failures = (0..100).map(|_| Err(SendError::retry("HTTP 503"))).collect();
    let down = Recorder::failing(failures);
    let rig = Rig::simple(&down);
    rig.raise(&[finding("a"), finding("b")]);
    let drained = rig.notifier.drain(Duration::from_secs(120)).await.unwrap();
    assert_eq!(drained.pending.get("chat"), Some(&2));
    assert!(drained.pass.retried >= 1);
    let recorder = Recorder::new();
    let rig = Rig::simple(&recorder);
    rig.raise(&[finding("a")]);
    let drained = rig.notifier.drain(Duration::from_secs(120)).await.unwrap();
    assert!(drained.pending.is_empty());
    assert_eq!(drained.pass.sent, 1);
}

#[tokio::test(start_paused = true)]
async fn notify_test_sends_a_sample_outside_the_outbox() {
    let recorder = Recorder::new();
    let rig = Rig::simple(&recorder);
    rig.notifier.send_test("chat").await.unwrap();
    assert_eq!(recorder.sent()[0].1.reason, Reason::Test);
    assert!(rig.outbox.entries(None, 10).unwrap().is_empty());
    let error = rig.notifier.send_test("nobody").await.unwrap_err();
    assert!(error.to_string().contains("nobody"));
}

#[tokio::test(start_paused = true)]
async fn a_failed_repeat_waits_for_the_next_repeat_interval() {
    let recorder = Recorder::new();
    let rig = Rig::simple(&recorder);
    rig.raise(&[finding("a")]);
    rig.at(30).await;
    recorder.script.lock().unwrap().push_back(Err(SendError::retry("HTTP 503")));
    rig.at(30 + 3600).await;
    assert_eq!(recorder.sent().len(), 2, "the repeat was attempted");
    for second in 1..10 {
        rig.at(30 + 3600 + second).await;
    }
    assert_eq!(recorder.sent().len(), 2, "not retried at once");
    rig.at(30 + 2 * 3600).await;
    assert_eq!(recorder.sent().len(), 3, "the next repeat comes after repeat_interval");
}
