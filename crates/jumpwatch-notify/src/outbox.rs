//! The outbox: the durable queue between a committed poll and the channels.
//!
//! The store enqueues the poll's alerts in the poll's own transaction (the transactional outbox
//! pattern), one [`Entry`] per receiver and alert, unique per receiver and
//! [`Alert::dedup_key`] — so a poll redone after a crash enqueues nothing twice. The
//! [`Notifier`](crate::Notifier) then claims due groups with a lease, sends, and
//! [`settles`](Outbox::settle) them. A lease that expires (the process died mid-send) returns its
//! entries to the queue: delivery is at least once.
//!
//! The rules of dueness, shared by every implementation (the [`conformance`](crate::conformance)
//! suite checks them):
//!
//! - a group's pending entries are due together once the earliest one's `not_before` has come
//!   (its creation plus `group_wait` for a group never sent, its creation otherwise) and the
//!   group's last notification is `group_interval` old;
//! - a notification being retried takes exactly the entries of its first attempt (so its id —
//!   the receiver's idempotency key — always names the same content), when its retry is due;
//! - a group whose last notification left findings firing is repeated after `repeat_interval`
//!   when nothing else is pending for it;
//! - a receiver whose circuit is open, or that is disabled, is skipped;
//! - an idle group is forgotten (at the start of a claim): one with no pending or in-flight
//!   entries, no dead letters (which [`Outbox::requeue_dead`] may return to it), nothing left
//!   firing, no notification under way, and whose last notification (if any) is at least
//!   `group_interval` old. Forgetting it changes no pacing, but a new alert in it is then a new
//!   group's: due after `group_wait` again rather than at once. That is Alertmanager's
//!   behaviour too, which removes an aggregation group once it is empty. It keeps the groups
//!   an implementation walks to those with something to do, whatever the history.
//!
//! [`MemoryOutbox`] is the in-memory implementation; `jumpwatch-store` has the SQLite one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Status};
use crate::notification::Reason;
use crate::route::{Destination, Timing};
use crate::silence::Silence;

/// An outbox failed; nothing is lost, the caller retries.
#[derive(Debug, thiserror::Error)]
#[error("outbox: {message}")]
pub struct OutboxError {
    /// What went wrong.
    pub message: String,
}

impl OutboxError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// Waiting to be sent (or retried).
    Pending,
    /// Claimed by a worker, under a lease.
    InFlight,
    /// Sent.
    Delivered,
    /// Given up on: a permanent error, or too old. Visible with `jumpwatch outbox --state dead`.
    Dead,
    /// Muted by a silence.
    Silenced,
    /// Muted by an inhibition.
    Inhibited,
    /// Not sent because it no longer mattered: a finding that resolved before its firing was
    /// ever sent.
    Dropped,
}

impl EntryState {
    /// Every state.
    pub const ALL: [Self; 7] = [
        Self::Pending,
        Self::InFlight,
        Self::Delivered,
        Self::Dead,
        Self::Silenced,
        Self::Inhibited,
        Self::Dropped,
    ];

    /// The state's name (`pending`, `in_flight`, `delivered`, `dead`...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InFlight => "in_flight",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
            Self::Silenced => "silenced",
            Self::Inhibited => "inhibited",
            Self::Dropped => "dropped",
        }
    }

    /// Whether the entry still waits for delivery.
    #[must_use]
    pub const fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::InFlight)
    }
}

impl std::fmt::Display for EntryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EntryState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
            format!("{text:?} is not an outbox state ({})", names.join(", "))
        })
    }
}

/// An alert to enqueue for one receiver.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewEntry {
    /// The receiver.
    pub receiver: String,
    /// Its group there.
    pub group_key: String,
    /// The group's labels.
    pub group_labels: BTreeMap<String, String>,
    /// The group's timings.
    pub timing: Timing,
    /// The alert.
    pub alert: Alert,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
}

impl NewEntry {
    /// An alert bound for a routed destination.
    #[must_use]
    pub fn new(destination: &Destination, alert: Alert, created_at: DateTime<Utc>) -> Self {
        Self {
            receiver: destination.receiver.clone(),
            group_key: destination.group_key.clone(),
            group_labels: destination.group_labels.clone(),
            timing: destination.timing,
            alert,
            created_at,
        }
    }

    /// The key that makes enqueueing it twice harmless.
    #[must_use]
    pub fn dedup_key(&self) -> String {
        self.alert.dedup_key()
    }
}

/// An alert in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Entry {
    /// Its id, increasing in enqueue order.
    pub id: i64,
    /// The receiver.
    pub receiver: String,
    /// Its group.
    pub group_key: String,
    /// The dedup key (unique per receiver).
    pub dedup_key: String,
    /// The alert.
    pub alert: Alert,
    /// Where it stands.
    pub state: EntryState,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// Not sent before this.
    pub not_before: DateTime<Utc>,
    /// How many times it was attempted.
    pub attempts: u32,
    /// The notification it was (or is being) sent in.
    pub notification_id: Option<String>,
    /// The last error.
    pub last_error: Option<String>,
    /// When it reached its final state.
    pub settled_at: Option<DateTime<Utc>>,
}

/// A group claimed for delivery.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Batch {
    /// The receiver.
    pub receiver: String,
    /// The group.
    pub group_key: String,
    /// The group's labels.
    pub group_labels: BTreeMap<String, String>,
    /// The notification's id: the same on every retry of these entries.
    pub notification_id: String,
    /// New alerts, or a repeat of still-firing findings.
    pub reason: Reason,
    /// The entries to send, in enqueue order (none for a repeat).
    pub entries: Vec<Entry>,
    /// The alerts the group's last notification left firing.
    pub firing: Vec<Alert>,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    /// The group's timings.
    pub timing: Timing,
}

impl Batch {
    /// A batch (outbox implementations make them when they claim a group).
    #[must_use]
    #[allow(clippy::too_many_arguments, reason = "a plain record; every field is needed")]
    pub fn new(
        receiver: String,
        group_key: String,
        group_labels: BTreeMap<String, String>,
        notification_id: String,
        reason: Reason,
        entries: Vec<Entry>,
        firing: Vec<Alert>,
        attempt: u32,
        timing: Timing,
    ) -> Self {
        Self {
            receiver,
            group_key,
            group_labels,
            notification_id,
            reason,
            entries,
            firing,
            attempt,
            timing,
        }
    }
}

/// What came of a claimed batch.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// Sent. `firing` is what the group now has firing (for repeats and inhibition).
    Delivered {
        /// The group's firing alerts after this notification.
        firing: Vec<Alert>,
    },
    /// Nothing was sent: the entries not muted return to the queue as new (without a
    /// notification id), and the group's state is otherwise unchanged.
    Nothing,
    /// Failed; try again at `at`.
    Retry {
        /// When.
        at: DateTime<Utc>,
        /// Why it failed.
        error: String,
    },
    /// Given up: the entries are dead letters.
    Dead {
        /// Why.
        error: String,
    },
}

/// How a batch is settled: the entries muted (final whatever the outcome) and the outcome for the
/// rest.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Settlement {
    /// Entries not sent, with why: silenced, inhibited or dropped.
    pub muted: Vec<(i64, EntryState)>,
    /// What happened to the others.
    pub outcome: Outcome,
}

impl Settlement {
    /// A settlement.
    #[must_use]
    pub const fn new(muted: Vec<(i64, EntryState)>, outcome: Outcome) -> Self {
        Self { muted, outcome }
    }
}

/// A receiver's health, as the circuit breaker keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReceiverState {
    /// Failed sends in a row.
    pub consecutive_failures: u32,
    /// The circuit is open (nothing is sent) until then.
    pub open_until: Option<DateTime<Utc>>,
    /// Disabled (an endpoint answered 410 Gone), and why; a person re-enables it.
    pub disabled: Option<String>,
}

impl ReceiverState {
    /// Whether the receiver may be sent to at `now`.
    #[must_use]
    pub fn is_available(&self, now: DateTime<Utc>) -> bool {
        self.disabled.is_none() && self.open_until.is_none_or(|until| until <= now)
    }
}

/// The durable queue port. Every method is one atomic step.
pub trait Outbox: Send + Sync {
    /// Adds entries; one whose (receiver, dedup key) is already queued is skipped. Returns how
    /// many were added.
    fn enqueue(&self, entries: &[NewEntry]) -> Result<usize, OutboxError>;

    /// Claims up to `limit` due groups under a lease until `now + lease` (leases that expired
    /// first return to the queue, and idle groups are forgotten: see the [module](self)
    /// documentation).
    fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Batch>, OutboxError>;

    /// Records what came of a claimed batch.
    fn settle(
        &self,
        batch: &Batch,
        settlement: &Settlement,
        now: DateTime<Utc>,
    ) -> Result<(), OutboxError>;

    /// Returns every leased entry to the queue (at start-up, when no other worker runs).
    fn release_all(&self) -> Result<usize, OutboxError>;

    /// Entries, newest first; of one state, or all.
    fn entries(&self, state: Option<EntryState>, limit: usize) -> Result<Vec<Entry>, OutboxError>;

    /// How many entries are in each state.
    fn counts(&self) -> Result<BTreeMap<EntryState, usize>, OutboxError>;

    /// When the next pending entry becomes due, if any is pending (repeats aside).
    fn next_due(&self) -> Result<Option<DateTime<Utc>>, OutboxError>;

    /// The alerts firing now: the groups' last firing sets and the firing entries still pending,
    /// less those a later entry resolves. Inhibitions read it.
    fn firing(&self) -> Result<Vec<Alert>, OutboxError>;

    /// A receiver's state.
    fn receiver_state(&self, receiver: &str) -> Result<ReceiverState, OutboxError>;

    /// Sets a receiver's state.
    fn set_receiver_state(&self, receiver: &str, state: &ReceiverState) -> Result<(), OutboxError>;

    /// Every receiver with a recorded state.
    fn receivers(&self) -> Result<BTreeMap<String, ReceiverState>, OutboxError>;

    /// Returns dead letters (of one receiver, or all) to the queue as new entries, after the
    /// cause was fixed. Returns how many.
    fn requeue_dead(
        &self,
        receiver: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<usize, OutboxError>;

    /// Every silence, expired ones too.
    fn silences(&self) -> Result<Vec<Silence>, OutboxError>;

    /// Adds a silence.
    fn add_silence(&self, silence: &Silence) -> Result<(), OutboxError>;

    /// Ends a silence at `now`; false when there is no such silence.
    fn expire_silence(&self, id: &str, now: DateTime<Utc>) -> Result<bool, OutboxError>;
}

/// When an entry enqueued into a group becomes due: after `group_wait` for a group never sent,
/// at once otherwise (the group's `group_interval` then paces it).
#[must_use]
pub fn not_before(created_at: DateTime<Utc>, timing: &Timing, group_sent: bool) -> DateTime<Utc> {
    if group_sent { created_at } else { created_at + span(timing.group_wait) }
}

/// When a group's pending entries are due: at their notification's retry time when one is under
/// way; else once the earliest is due (`first_open`) and the group's last notification is
/// `group_interval` old.
#[must_use]
pub fn pending_due(
    first_open: DateTime<Utc>,
    retry_at: Option<DateTime<Utc>>,
    last_sent_at: Option<DateTime<Utc>>,
    timing: &Timing,
) -> DateTime<Utc> {
    match retry_at {
        Some(at) => at,
        None => last_sent_at
            .and_then(|t| t.checked_add_signed(span(timing.group_interval)))
            .map_or(first_open, |paced| paced.max(first_open)),
    }
}

/// `due`, held back by the receiver's open circuit; `None` for a disabled receiver.
#[must_use]
pub fn gated(due: DateTime<Utc>, receiver: Option<&ReceiverState>) -> Option<DateTime<Utc>> {
    match receiver {
        Some(r) if r.disabled.is_some() => None,
        Some(r) => Some(r.open_until.map_or(due, |until| due.max(until))),
        None => Some(due),
    }
}

/// A `std` duration as a `chrono` one (saturating).
#[must_use]
pub fn span(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// The alerts firing among a group's last firing set and its entries: each fingerprint's latest
/// status wins.
#[must_use]
pub fn firing_of<'a>(sets: impl IntoIterator<Item = &'a Alert>) -> Vec<Alert> {
    let mut latest: BTreeMap<&str, &Alert> = BTreeMap::new();
    let mut order = Vec::new();
    for alert in sets {
        if latest.insert(&alert.fingerprint, alert).is_none() {
            order.push(alert.fingerprint.as_str());
        }
    }
    order
        .into_iter()
        .filter_map(|f| latest.get(f).copied())
        .filter(|a| a.status == Status::Firing)
        .cloned()
        .collect()
}

#[derive(Debug, Default)]
struct Group {
    labels: BTreeMap<String, String>,
    timing: Timing,
    last_sent_at: Option<DateTime<Utc>>,
    firing: Vec<Alert>,
    lease_until: Option<DateTime<Utc>>,
    /// The notification under way (claimed at least once, not settled for good): its id, when
    /// it may be attempted next and its attempts so far. Its entries are the ones carrying its
    /// id; a lease that expires leaves it in place, so the next attempt has the same id.
    current: Option<(String, DateTime<Utc>, u32)>,
    /// The repeat notification in flight.
    repeat: Option<String>,
    /// The ids of its open (pending or in-flight) entries: all that claiming, `next_due` and
    /// `firing` read of it.
    open: BTreeSet<i64>,
    /// How many of its entries are dead letters ([`Outbox::requeue_dead`] may return them, so
    /// the group is kept while there are any).
    dead: usize,
}

impl Group {
    /// Whether the group may be forgotten at `now`: nothing open, firing, under way or dead,
    /// and its last notification (if any) at least `group_interval` old — so forgetting it
    /// changes no pacing.
    fn is_idle(&self, now: DateTime<Utc>) -> bool {
        self.open.is_empty()
            && self.dead == 0
            && self.firing.is_empty()
            && self.current.is_none()
            && self.lease_until.is_none()
            && self.repeat.is_none()
            && self.last_sent_at.is_none_or(|t| {
                t.checked_add_signed(span(self.timing.group_interval)).is_some_and(|end| end <= now)
            })
    }

    /// Keeps `open` and `dead` in step with an entry moving from `from` to `to`.
    fn moved(&mut self, id: i64, from: EntryState, to: EntryState) {
        if to.is_open() {
            self.open.insert(id);
        } else {
            self.open.remove(&id);
        }
        match (from == EntryState::Dead, to == EntryState::Dead) {
            (false, true) => self.dead += 1,
            (true, false) => self.dead = self.dead.saturating_sub(1),
            _ => {}
        }
    }
}

#[derive(Debug, Default)]
struct State {
    next_id: i64,
    entries: BTreeMap<i64, Entry>,
    keys: HashMap<(String, String), i64>,
    groups: BTreeMap<(String, String), Group>,
    receivers: BTreeMap<String, ReceiverState>,
    silences: Vec<Silence>,
}

/// An outbox in memory: for tests and for embedders who do not need delivery to survive a
/// restart.
///
/// Each group indexes its open entries, so a claim costs the groups plus their open entries,
/// whatever the history; idle groups are forgotten at the start of each claim (see the
/// [module](self) documentation).
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    state: Mutex<State>,
}

impl MemoryOutbox {
    /// An empty outbox.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, OutboxError> {
        self.state.lock().map_err(|_| OutboxError::new("the memory outbox's lock is poisoned"))
    }
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Outbox for MemoryOutbox {
    fn enqueue(&self, entries: &[NewEntry]) -> Result<usize, OutboxError> {
        let mut state = self.lock()?;
        let state = &mut *state;
        let mut added = 0;
        for new in entries {
            let key = (new.receiver.clone(), new.dedup_key());
            if state.keys.contains_key(&key) {
                continue;
            }
            let group =
                state.groups.entry((new.receiver.clone(), new.group_key.clone())).or_default();
            group.labels.clone_from(&new.group_labels);
            group.timing = new.timing;
            let sent = group.last_sent_at.is_some();
            state.next_id += 1;
            let id = state.next_id;
            group.open.insert(id);
            state.entries.insert(
                id,
                Entry {
                    id,
                    receiver: new.receiver.clone(),
                    group_key: new.group_key.clone(),
                    dedup_key: key.1.clone(),
                    alert: new.alert.clone(),
                    state: EntryState::Pending,
                    created_at: new.created_at,
                    not_before: not_before(new.created_at, &new.timing, sent),
                    attempts: 0,
                    notification_id: None,
                    last_error: None,
                    settled_at: None,
                },
            );
            state.keys.insert(key, id);
            added += 1;
        }
        Ok(added)
    }

    fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Batch>, OutboxError> {
        let mut state = self.lock()?;
        let state = &mut *state;
        // Expired leases return first.
        for group in state.groups.values_mut() {
            if group.lease_until.is_some_and(|until| until <= now) {
                group.lease_until = None;
                group.repeat = None;
                for id in &group.open {
                    if let Some(entry) = state.entries.get_mut(id)
                        && entry.state == EntryState::InFlight
                    {
                        entry.state = EntryState::Pending;
                    }
                }
            }
        }
        // Then idle groups are forgotten.
        state.groups.retain(|_, group| !group.is_idle(now));
        let mut due: Vec<(DateTime<Utc>, &(String, String))> = Vec::new();
        for (id, group) in &state.groups {
            if group.lease_until.is_some() {
                continue;
            }
            if !state.receivers.get(&id.0).is_none_or(|r| r.is_available(now)) {
                continue;
            }
            let first_pending = group
                .open
                .iter()
                .filter_map(|id| state.entries.get(id))
                .filter(|e| e.state == EntryState::Pending)
                .map(|e| e.not_before)
                .min();
            let retry = group.current.as_ref().map(|(_, at, _)| *at);
            let at = if let Some(first) = first_pending.or(retry) {
                Some(pending_due(first, retry, group.last_sent_at, &group.timing))
            } else if !group.firing.is_empty() {
                group.last_sent_at.map(|t| t + span(group.timing.repeat_interval))
            } else {
                None
            };
            if let Some(at) = at.filter(|at| *at <= now) {
                due.push((at, id));
            }
        }
        due.sort();
        due.truncate(limit);
        let due: Vec<(String, String)> = due.into_iter().map(|(_, id)| id.clone()).collect();
        let mut out = Vec::with_capacity(due.len());
        for id in due {
            let Some(group) = state.groups.get_mut(&id) else { continue };
            group.lease_until = Some(now + span(lease));
            let (notification_id, attempt, reason) = match &group.current {
                Some((nid, _, attempts)) => (nid.clone(), attempts + 1, Reason::New),
                None => {
                    let has_pending = group.open.iter().any(|id| {
                        state.entries.get(id).is_some_and(|e| e.state == EntryState::Pending)
                    });
                    (new_id(), 1, if has_pending { Reason::New } else { Reason::Repeat })
                }
            };
            let mut entries = Vec::new();
            if reason == Reason::New {
                let part = group.current.as_ref().map(|(nid, _, _)| nid.as_str());
                for entry_id in &group.open {
                    let Some(entry) = state.entries.get_mut(entry_id) else { continue };
                    if entry.state == EntryState::Pending
                        && entry.notification_id.as_deref() == part
                    {
                        entry.state = EntryState::InFlight;
                        entry.attempts += 1;
                        entry.notification_id = Some(notification_id.clone());
                        entries.push(entry.clone());
                    }
                }
                group.current = Some((notification_id.clone(), now, attempt));
            } else {
                group.repeat = Some(notification_id.clone());
            }
            out.push(Batch {
                receiver: id.0,
                group_key: id.1,
                group_labels: group.labels.clone(),
                notification_id,
                reason,
                entries,
                firing: group.firing.clone(),
                attempt,
                timing: group.timing,
            });
        }
        Ok(out)
    }

    fn settle(
        &self,
        batch: &Batch,
        settlement: &Settlement,
        now: DateTime<Utc>,
    ) -> Result<(), OutboxError> {
        let mut state = self.lock()?;
        let state = &mut *state;
        let muted: HashMap<i64, EntryState> = settlement.muted.iter().copied().collect();
        let mut group = state.groups.get_mut(&(batch.receiver.clone(), batch.group_key.clone()));
        for id in batch.entries.iter().map(|e| e.id) {
            let Some(entry) = state.entries.get_mut(&id) else { continue };
            let from = entry.state;
            if let Some(why) = muted.get(&id) {
                entry.state = *why;
                entry.settled_at = Some(now);
            } else {
                match &settlement.outcome {
                    Outcome::Delivered { .. } => {
                        entry.state = EntryState::Delivered;
                        entry.settled_at = Some(now);
                        entry.last_error = None;
                    }
                    Outcome::Nothing => {
                        entry.state = EntryState::Pending;
                        entry.notification_id = None;
                    }
                    Outcome::Retry { error, .. } => {
                        entry.state = EntryState::Pending;
                        entry.last_error = Some(error.clone());
                    }
                    Outcome::Dead { error } => {
                        entry.state = EntryState::Dead;
                        entry.settled_at = Some(now);
                        entry.last_error = Some(error.clone());
                    }
                }
            }
            if let Some(group) = group.as_deref_mut() {
                group.moved(id, from, entry.state);
            }
        }
        let Some(group) = group else {
            return Ok(());
        };
        group.lease_until = None;
        group.repeat = None;
        match &settlement.outcome {
            Outcome::Delivered { firing } => {
                group.last_sent_at = Some(now);
                group.firing.clone_from(firing);
                group.current = None;
            }
            Outcome::Nothing | Outcome::Dead { .. } => group.current = None,
            Outcome::Retry { at, .. } if batch.reason != Reason::Repeat => {
                group.current = Some((batch.notification_id.clone(), *at, batch.attempt));
            }
            // A repeat that failed is simply due again.
            Outcome::Retry { .. } => {}
        }
        Ok(())
    }

    fn release_all(&self) -> Result<usize, OutboxError> {
        let mut state = self.lock()?;
        let state = &mut *state;
        let mut released = 0;
        for group in state.groups.values_mut() {
            group.lease_until = None;
            group.repeat = None;
            for id in &group.open {
                if let Some(entry) = state.entries.get_mut(id)
                    && entry.state == EntryState::InFlight
                {
                    entry.state = EntryState::Pending;
                    released += 1;
                }
            }
        }
        Ok(released)
    }

    fn entries(
        &self,
        state_filter: Option<EntryState>,
        limit: usize,
    ) -> Result<Vec<Entry>, OutboxError> {
        let state = self.lock()?;
        Ok(state
            .entries
            .values()
            .rev()
            .filter(|e| state_filter.is_none_or(|s| e.state == s))
            .take(limit)
            .cloned()
            .collect())
    }

    fn counts(&self) -> Result<BTreeMap<EntryState, usize>, OutboxError> {
        let state = self.lock()?;
        let mut out = BTreeMap::new();
        for entry in state.entries.values() {
            *out.entry(entry.state).or_insert(0) += 1;
        }
        Ok(out)
    }

    fn next_due(&self) -> Result<Option<DateTime<Utc>>, OutboxError> {
        let state = self.lock()?;
        let mut next: Option<DateTime<Utc>> = None;
        for ((receiver, _), group) in &state.groups {
            let first = group
                .open
                .iter()
                .filter_map(|id| state.entries.get(id))
                .map(|e| e.not_before)
                .min();
            let Some(first) = first else { continue };
            let retry = group.current.as_ref().map(|(_, at, _)| *at);
            let due = pending_due(first, retry, group.last_sent_at, &group.timing);
            let Some(at) = gated(due, state.receivers.get(receiver)) else { continue };
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        Ok(next)
    }

    fn firing(&self) -> Result<Vec<Alert>, OutboxError> {
        let state = self.lock()?;
        let sets = state.groups.values().flat_map(|g| g.firing.iter());
        // The open entries in enqueue order, so that the latest status wins.
        let mut open: Vec<i64> =
            state.groups.values().flat_map(|g| g.open.iter().copied()).collect();
        open.sort_unstable();
        let open = open.iter().filter_map(|id| state.entries.get(id)).map(|e| &e.alert);
        Ok(firing_of(sets.chain(open)))
    }

    fn receiver_state(&self, receiver: &str) -> Result<ReceiverState, OutboxError> {
        Ok(self.lock()?.receivers.get(receiver).cloned().unwrap_or_default())
    }

    fn set_receiver_state(
        &self,
        receiver: &str,
        receiver_state: &ReceiverState,
    ) -> Result<(), OutboxError> {
        self.lock()?.receivers.insert(receiver.to_owned(), receiver_state.clone());
        Ok(())
    }

    fn receivers(&self) -> Result<BTreeMap<String, ReceiverState>, OutboxError> {
        Ok(self.lock()?.receivers.clone())
    }

    fn requeue_dead(
        &self,
        receiver: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<usize, OutboxError> {
        let mut state = self.lock()?;
        let state = &mut *state;
        let mut requeued = 0;
        for entry in state.entries.values_mut() {
            if entry.state == EntryState::Dead && receiver.is_none_or(|r| r == entry.receiver) {
                entry.state = EntryState::Pending;
                entry.notification_id = None;
                entry.attempts = 0;
                entry.settled_at = None;
                entry.not_before = now;
                // A group with dead letters is never forgotten, so it is there.
                if let Some(group) =
                    state.groups.get_mut(&(entry.receiver.clone(), entry.group_key.clone()))
                {
                    group.moved(entry.id, EntryState::Dead, EntryState::Pending);
                }
                requeued += 1;
            }
        }
        Ok(requeued)
    }

    fn silences(&self) -> Result<Vec<Silence>, OutboxError> {
        Ok(self.lock()?.silences.clone())
    }

    fn add_silence(&self, silence: &Silence) -> Result<(), OutboxError> {
        self.lock()?.silences.push(silence.clone());
        Ok(())
    }

    fn expire_silence(&self, id: &str, now: DateTime<Utc>) -> Result<bool, OutboxError> {
        let mut state = self.lock()?;
        match state.silences.iter_mut().find(|s| s.id == id) {
            Some(silence) => {
                silence.ends_at = silence.ends_at.min(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// The outbox entries for alerts: one for each destination the routing tree gives each alert.
#[must_use]
pub fn route(
    tree: &crate::route::RouteTree,
    alerts: &[Alert],
    now: DateTime<Utc>,
) -> Vec<NewEntry> {
    alerts
        .iter()
        .flat_map(|alert| {
            tree.destinations(alert).into_iter().map(move |d| NewEntry::new(&d, alert.clone(), now))
        })
        .collect()
}
