//! The [`Notifier`]: the delivery worker between the outbox and the channels.
//!
//! Each pass claims the due groups (under a lease), and for each: mutes what silences and
//! inhibitions cover, drops findings that resolved before their firing was ever sent, renders
//! the rest as one [`Notification`], waits for the receiver's rate limit, sends, and settles the
//! batch:
//!
//! - success: delivered; the group's firing findings are remembered for repeats;
//! - a retryable error: retried after `max(Retry-After, full-jitter backoff)`, the same
//!   notification id, until the oldest entry is `max_age` old — then a dead letter;
//! - a permanent error: a dead letter at once; `410 Gone`: the receiver is disabled too;
//! - failures in a row open the receiver's circuit for a cool-down; the next claim after it is
//!   the probe.
//!
//! Dead letters, open circuits and disabled receivers raise alerts to the operations receiver.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tracing::{debug, info, warn};

use crate::alert::{Alert, AlertKind, Severity, Status};
use crate::channel::{Channel, Rate, SendError};
use crate::clock::Clock;
use crate::notification::{Notification, Reason};
use crate::outbox::{
    Batch, EntryState, NewEntry, Outbox, OutboxError, Outcome, ReceiverState, Settlement,
    firing_of, span,
};
use crate::route::{Destination, Timing};
use crate::silence::{Inhibition, Silence};

/// How delivery retries, gives up and breaks circuits.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryPolicy {
    /// How long a claimed group is leased to a worker (default 5 minutes); a worker that dies
    /// mid-send gives it back when it expires.
    pub lease: Duration,
    /// The first retry's backoff ceiling (default 5 s); it doubles each attempt.
    pub backoff_base: Duration,
    /// The largest backoff (default 1 hour).
    pub backoff_cap: Duration,
    /// After this, an undelivered entry becomes a dead letter (default 24 hours).
    pub max_age: Duration,
    /// Failures in a row that open a receiver's circuit (default 5).
    pub breaker_failures: u32,
    /// How long an open circuit stays open (default 5 minutes).
    pub breaker_cooldown: Duration,
    /// Where dead letters and circuit alerts go (none: they are only logged).
    pub ops_receiver: Option<String>,
    /// Groups claimed in one pass at most (default 32).
    pub claim_limit: usize,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(300),
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(3600),
            max_age: Duration::from_secs(24 * 3600),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(300),
            ops_receiver: None,
            claim_limit: 32,
        }
    }
}

impl DeliveryPolicy {
    /// The wait before attempt `attempt + 1` after attempt `attempt` failed: full jitter,
    /// `random(0, min(cap, base · 2^(attempt-1)))`, never below what the server asked for.
    #[must_use]
    pub fn backoff(&self, attempt: u32, asked: Option<Duration>) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let ceiling = self.backoff_base.saturating_mul(1 << exponent).min(self.backoff_cap);
        let jittered = ceiling.mul_f64(fastrand::f64());
        asked.map_or(jittered, |asked| asked.max(jittered))
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, Clock, NoOpMiddleware<Duration>>;

/// A named channel with its rate limit.
struct Receiver {
    channel: Arc<dyn Channel>,
    limiter: Option<Limiter>,
}

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pass {
    /// Notifications sent.
    pub sent: usize,
    /// Alerts in them.
    pub alerts: usize,
    /// Notifications that failed and will be retried.
    pub retried: usize,
    /// Entries that became dead letters.
    pub dead: usize,
    /// Entries muted (silenced, inhibited, dropped).
    pub muted: usize,
}

impl Pass {
    fn add(&mut self, other: Self) {
        self.sent += other.sent;
        self.alerts += other.alerts;
        self.retried += other.retried;
        self.dead += other.dead;
        self.muted += other.muted;
    }

    /// Whether the pass claimed nothing.
    #[must_use]
    pub const fn is_idle(&self) -> bool {
        self.sent + self.retried + self.dead + self.muted == 0
    }
}

/// What a drain left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Drained {
    /// Everything delivered in the drain.
    pub pass: Pass,
    /// Entries still pending (or in flight) when it stopped, by receiver.
    pub pending: BTreeMap<String, usize>,
    /// Entries that are dead letters, in all.
    pub dead: usize,
}

/// Delivers the outbox.
pub struct Notifier {
    outbox: Arc<dyn Outbox>,
    receivers: HashMap<String, Receiver>,
    inhibitions: Vec<Inhibition>,
    silences: Vec<Silence>,
    policy: DeliveryPolicy,
    clock: Clock,
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let receivers: BTreeSet<&str> = self.receivers.keys().map(String::as_str).collect();
        f.debug_struct("Notifier")
            .field("receivers", &receivers)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Notifier`].
#[must_use]
pub struct NotifierBuilder {
    outbox: Arc<dyn Outbox>,
    receivers: Vec<(String, Arc<dyn Channel>, Option<Rate>)>,
    inhibitions: Vec<Inhibition>,
    silences: Vec<Silence>,
    policy: DeliveryPolicy,
    clock: Option<Clock>,
}

impl std::fmt::Debug for NotifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifierBuilder")
            .field("receivers", &self.receivers.len())
            .finish_non_exhaustive()
    }
}

impl NotifierBuilder {
    /// A receiver: a name and a channel, at the channel's default rate.
    pub fn receiver(self, name: impl Into<String>, channel: Arc<dyn Channel>) -> Self {
        let rate = channel.default_rate();
        self.receiver_with_rate(name, channel, rate)
    }

    /// A receiver at a given rate (`None`: no limit).
    pub fn receiver_with_rate(
        mut self,
        name: impl Into<String>,
        channel: Arc<dyn Channel>,
        rate: Option<Rate>,
    ) -> Self {
        self.receivers.push((name.into(), channel, rate));
        self
    }

    /// Inhibitions.
    pub fn inhibitions(mut self, inhibitions: Vec<Inhibition>) -> Self {
        self.inhibitions = inhibitions;
        self
    }

    /// Silences besides the outbox's (those of the configuration file).
    pub fn silences(mut self, silences: Vec<Silence>) -> Self {
        self.silences = silences;
        self
    }

    /// The delivery policy.
    pub fn policy(mut self, policy: DeliveryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The clock (tests: [`Clock::starting_at`] under a paused tokio clock).
    pub const fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The notifier.
    #[must_use]
    pub fn build(self) -> Notifier {
        let clock = self.clock.unwrap_or_else(Clock::system);
        let receivers = self
            .receivers
            .into_iter()
            .map(|(name, channel, rate)| {
                let limiter = rate.map(|rate| {
                    let quota = Quota::per_second(rate.per_second).allow_burst(rate.burst);
                    RateLimiter::direct_with_clock(quota, clock)
                });
                (name, Receiver { channel, limiter })
            })
            .collect();
        Notifier {
            outbox: self.outbox,
            receivers,
            inhibitions: self.inhibitions,
            silences: self.silences,
            policy: self.policy,
            clock,
            wake: tokio::sync::Notify::new(),
        }
    }
}

/// The entries of a batch to send and those muted.
struct Triage {
    send: Vec<Alert>,
    muted: Vec<(i64, EntryState)>,
}

impl Notifier {
    /// A builder over an outbox.
    pub fn builder(outbox: Arc<dyn Outbox>) -> NotifierBuilder {
        NotifierBuilder {
            outbox,
            receivers: Vec::new(),
            inhibitions: Vec::new(),
            silences: Vec::new(),
            policy: DeliveryPolicy::default(),
            clock: None,
        }
    }

    /// The outbox.
    #[must_use]
    pub fn outbox(&self) -> &Arc<dyn Outbox> {
        &self.outbox
    }

    /// The clock.
    #[must_use]
    pub const fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The receivers' names.
    #[must_use]
    pub fn receivers(&self) -> BTreeSet<&str> {
        self.receivers.keys().map(String::as_str).collect()
    }

    /// Wakes a waiting [`run`](Self::run) (new entries were enqueued).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Sends a sample notification to a receiver now, outside the outbox.
    pub async fn send_test(&self, receiver: &str) -> Result<(), SendError> {
        let target = self.receivers.get(receiver).ok_or_else(|| {
            SendError::permanent(format!("there is no receiver named {receiver:?}"))
        })?;
        let notification = Notification::sample(receiver, self.clock.now());
        target.channel.send(&notification).await
    }

    /// One pass: claims what is due and delivers it, groups concurrently.
    pub async fn deliver_due(&self) -> Result<Pass, OutboxError> {
        let now = self.clock.now();
        let batches = self.outbox.claim(now, self.policy.lease, self.policy.claim_limit)?;
        if batches.is_empty() {
            return Ok(Pass::default());
        }
        let mut silences = self.outbox.silences()?;
        silences.extend(self.silences.iter().cloned());
        // Only inhibitions read what fires, and reading it costs the whole open queue.
        let firing = if self.inhibitions.is_empty() { Vec::new() } else { self.outbox.firing()? };
        let results = futures::future::join_all(
            batches.iter().map(|batch| self.deliver(batch, &silences, &firing)),
        )
        .await;
        let mut pass = Pass::default();
        for result in results {
            pass.add(result?);
        }
        Ok(pass)
    }

    /// Delivers until nothing is pending or `timeout` passes; what is still pending is in the
    /// answer. Repeats of firing findings do not keep it running. Like [`run`](Self::run), it
    /// first returns the entries a stopped worker had claimed, so no other worker may be
    /// delivering the same outbox meanwhile.
    pub async fn drain(&self, timeout: Duration) -> Result<Drained, OutboxError> {
        self.outbox.release_all()?;
        let deadline = self.clock.now() + span(timeout);
        let mut drained = Drained::default();
        loop {
            let pass = self.deliver_due().await?;
            drained.pass.add(pass);
            if !pass.is_idle() {
                continue;
            }
            let Some(next) = self.outbox.next_due()? else { break };
            if next >= deadline {
                break;
            }
            self.clock
                .sleep_until(next.max(self.clock.now() + chrono::Duration::milliseconds(10)))
                .await;
        }
        for entry in self
            .outbox
            .entries(Some(EntryState::Pending), usize::MAX)?
            .into_iter()
            .chain(self.outbox.entries(Some(EntryState::InFlight), usize::MAX)?)
        {
            *drained.pending.entry(entry.receiver).or_insert(0) += 1;
        }
        drained.dead = self.outbox.counts()?.get(&EntryState::Dead).copied().unwrap_or(0);
        Ok(drained)
    }

    /// Delivers until `shutdown` completes: returns leased entries first (a previous run may
    /// have died mid-send), then passes whenever something is due or [`wake`](Self::wake) is
    /// called. An outbox error is logged and retried.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        match self.outbox.release_all() {
            Ok(0) => {}
            Ok(n) => info!(entries = n, "returned entries a stopped worker had claimed"),
            Err(error) => warn!(%error, "could not return leased entries"),
        }
        loop {
            let wait = match self.deliver_due().await {
                Ok(pass) if !pass.is_idle() => continue,
                Ok(_) => match self.outbox.next_due() {
                    Ok(Some(next)) => (next - self.clock.now())
                        .to_std()
                        .unwrap_or(Duration::ZERO)
                        .min(Duration::from_secs(60)),
                    Ok(None) => Duration::from_secs(60),
                    Err(error) => {
                        warn!(%error, "the outbox could not be read");
                        Duration::from_secs(5)
                    }
                },
                Err(error) => {
                    warn!(%error, "a delivery pass failed");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
            }
        }
    }

    /// Decides which of a batch's entries are sent and which are muted.
    fn triage(
        &self,
        batch: &Batch,
        silences: &[Silence],
        firing: &[Alert],
        now: DateTime<Utc>,
    ) -> Triage {
        let muted_by = |alert: &Alert| {
            if silences.iter().any(|s| s.mutes(alert, now)) {
                Some(EntryState::Silenced)
            } else if self.inhibitions.iter().any(|i| i.mutes(alert, firing)) {
                Some(EntryState::Inhibited)
            } else {
                None
            }
        };
        if batch.reason == Reason::Repeat {
            let send = batch.firing.iter().filter(|a| muted_by(a).is_none()).cloned().collect();
            return Triage { send, muted: Vec::new() };
        }
        let told: BTreeSet<&str> = batch.firing.iter().map(|a| a.fingerprint.as_str()).collect();
        // A state that resolves in the same batch it fired in was never sent: drop both.
        let flapped: BTreeSet<&str> = batch
            .entries
            .iter()
            .filter(|e| {
                e.alert.kind.is_state()
                    && e.alert.status == Status::Resolved
                    && !told.contains(e.alert.fingerprint.as_str())
            })
            .map(|e| e.alert.fingerprint.as_str())
            .collect();
        // Of several entries of one fingerprint, the latest speaks.
        let mut latest: HashMap<&str, i64> = HashMap::new();
        for entry in &batch.entries {
            latest.insert(entry.alert.fingerprint.as_str(), entry.id);
        }
        let mut triage = Triage { send: Vec::new(), muted: Vec::new() };
        for entry in &batch.entries {
            let fingerprint = entry.alert.fingerprint.as_str();
            if flapped.contains(fingerprint) || latest.get(fingerprint) != Some(&entry.id) {
                triage.muted.push((entry.id, EntryState::Dropped));
            } else if let Some(why) = muted_by(&entry.alert) {
                triage.muted.push((entry.id, why));
            } else {
                triage.send.push(entry.alert.clone());
            }
        }
        triage
    }

    async fn deliver(
        &self,
        batch: &Batch,
        silences: &[Silence],
        firing: &[Alert],
    ) -> Result<Pass, OutboxError> {
        let now = self.clock.now();
        let triage = self.triage(batch, silences, firing, now);
        let mut pass = Pass { muted: triage.muted.len(), ..Pass::default() };
        // The group's firing states after this notification (changes and notices are one-shot).
        let after =
            firing_of(batch.firing.iter().chain(triage.send.iter()).filter(|a| a.kind.is_state()));
        if triage.send.is_empty() {
            let outcome = if batch.reason == Reason::Repeat {
                Outcome::Delivered { firing: after }
            } else {
                Outcome::Nothing
            };
            self.outbox.settle(batch, &Settlement::new(triage.muted, outcome), now)?;
            return Ok(pass);
        }
        let Some(receiver) = self.receivers.get(&batch.receiver) else {
            // The receiver was removed from the configuration: its entries are dead letters, and
            // its groups' firing findings are no longer repeated.
            let error =
                format!("there is no receiver named {:?} in the configuration", batch.receiver);
            let outcome = if batch.reason == Reason::Repeat {
                Outcome::Delivered { firing: Vec::new() }
            } else {
                pass.dead += batch.entries.len() - triage.muted.len();
                Outcome::Dead { error }
            };
            self.outbox.settle(batch, &Settlement::new(triage.muted, outcome), now)?;
            return Ok(pass);
        };
        let alerts = triage.send.len();
        let notification = Notification::new(
            batch.notification_id.clone(),
            batch.receiver.clone(),
            batch.group_key.clone(),
            batch.group_labels.clone(),
            batch.reason,
            triage.send,
            now,
        );
        if let Some(limiter) = &receiver.limiter {
            while let Err(not_until) = limiter.check() {
                tokio::time::sleep(
                    not_until.wait_time_from(governor::clock::Clock::now(&self.clock)),
                )
                .await;
            }
        }
        let result = receiver.channel.send(&notification).await;
        let now = self.clock.now();
        let mut state = self.outbox.receiver_state(&batch.receiver)?;
        let outcome = match result {
            Ok(()) => {
                debug!(receiver = %batch.receiver, group = %batch.group_key, alerts, "notification sent");
                pass.sent += 1;
                pass.alerts += alerts;
                if state.consecutive_failures > 0 || state.open_until.is_some() {
                    if state.open_until.is_some() {
                        self.raise(breaker_alert(&batch.receiver, &state, now).resolved(now), now)?;
                    }
                    state = ReceiverState::default();
                    self.outbox.set_receiver_state(&batch.receiver, &state)?;
                }
                Outcome::Delivered { firing: after }
            }
            Err(SendError::Retry { after: asked, message }) => {
                state.consecutive_failures += 1;
                if state.consecutive_failures >= self.policy.breaker_failures {
                    let opened = state.open_until.is_none();
                    state.open_until = Some(now + span(self.policy.breaker_cooldown));
                    if opened {
                        warn!(receiver = %batch.receiver, failures = state.consecutive_failures, "circuit opened");
                        self.raise(breaker_alert(&batch.receiver, &state, now), now)?;
                    }
                }
                self.outbox.set_receiver_state(&batch.receiver, &state)?;
                let at = now + span(self.policy.backoff(batch.attempt, asked));
                let oldest = batch.entries.iter().map(|e| e.created_at).min().unwrap_or(now);
                if at > oldest + span(self.policy.max_age) {
                    let error = format!("gave up after {} attempts: {message}", batch.attempt);
                    pass.dead += alerts;
                    self.dead_letter(batch, &error, now)?;
                    Outcome::Dead { error }
                } else {
                    warn!(receiver = %batch.receiver, attempt = batch.attempt, error = %message, "send failed; will retry");
                    pass.retried += 1;
                    Outcome::Retry { at, error: message }
                }
            }
            Err(SendError::Permanent { message }) => {
                pass.dead += alerts;
                self.dead_letter(batch, &message, now)?;
                Outcome::Dead { error: message }
            }
            Err(SendError::Gone { message }) => {
                warn!(receiver = %batch.receiver, "the endpoint is gone; the receiver is disabled");
                state.disabled = Some(message.clone());
                self.outbox.set_receiver_state(&batch.receiver, &state)?;
                self.raise(
                    ops_alert(&batch.receiver, "disabled", Severity::Critical, now)
                        .summary(format!("The receiver {} answered that its endpoint is gone ({message}); it is disabled until re-enabled.", batch.receiver)),
                    now,
                )?;
                pass.dead += alerts;
                Outcome::Dead { error: message }
            }
        };
        // A repeat is a reminder with no entries: one that failed waits for the next
        // repeat_interval rather than being retried at once.
        if batch.reason == Reason::Repeat && !matches!(outcome, Outcome::Delivered { .. }) {
            warn!(receiver = %batch.receiver, group = %batch.group_key, "a repeat failed; the next one waits repeat_interval");
            let outcome = Outcome::Delivered { firing: batch.firing.clone() };
            self.outbox.settle(batch, &Settlement::new(Vec::new(), outcome), now)?;
            return Ok(pass);
        }
        self.outbox.settle(batch, &Settlement::new(triage.muted, outcome), now)?;
        Ok(pass)
    }

    fn dead_letter(
        &self,
        batch: &Batch,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), OutboxError> {
        warn!(receiver = %batch.receiver, group = %batch.group_key, %error, "dead letter");
        let alert = ops_alert(&batch.receiver, &format!("dead-letter:{}", batch.notification_id), Severity::High, now)
            .summary(format!(
                "A notification of {} alert(s) to {} could not be delivered: {error}. See `jumpwatch outbox --state dead`.",
                batch.entries.len(),
                batch.receiver
            ));
        let mut alert = alert;
        alert.kind = AlertKind::Notice;
        alert.labels.insert("type".to_owned(), AlertKind::Notice.as_str().to_owned());
        self.raise(alert, now)
    }

    /// Enqueues an operations alert to the operations receiver (never about itself).
    fn raise(&self, alert: Alert, now: DateTime<Utc>) -> Result<(), OutboxError> {
        let Some(ops) = &self.policy.ops_receiver else { return Ok(()) };
        if alert.label_value("receiver") == ops {
            return Ok(());
        }
        let destination = Destination {
            receiver: ops.clone(),
            group_key: format!("ops:{{receiver={:?}}}", alert.label_value("receiver")),
            group_labels: BTreeMap::from([(
                "receiver".to_owned(),
                alert.label_value("receiver").to_owned(),
            )]),
            timing: Timing { group_wait: Duration::ZERO, ..Timing::default() },
        };
        self.outbox.enqueue(&[NewEntry::new(&destination, alert, now)])?;
        self.wake();
        Ok(())
    }
}

fn ops_alert(receiver: &str, what: &str, severity: Severity, now: DateTime<Utc>) -> Alert {
    Alert::new(
        AlertKind::Health,
        format!("jumpwatch:{what}:{receiver}"),
        Status::Firing,
        severity,
        format!("Notifications to {receiver}: {}", what.split(':').next().unwrap_or(what)),
        now,
    )
    .label("receiver", receiver)
    .label("check", what.split(':').next().unwrap_or(what))
}

fn breaker_alert(receiver: &str, state: &ReceiverState, now: DateTime<Utc>) -> Alert {
    ops_alert(receiver, "circuit-open", Severity::High, now).summary(format!(
        "{} sends to {receiver} failed in a row; nothing is sent to it until {}.",
        state.consecutive_failures,
        state.open_until.map_or_else(|| "it recovers".to_owned(), |t| t.to_rfc3339()),
    ))
}

/// A rate of `n` messages a second (none for zero).
#[must_use]
pub fn rate(per_second: u32, burst: u32) -> Option<Rate> {
    let per_second = NonZeroU32::new(per_second)?;
    Some(Rate { per_second, burst: NonZeroU32::new(burst).unwrap_or(per_second) })
}
