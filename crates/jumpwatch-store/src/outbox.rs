//! The notifier's durable outbox on SQLite: [`Outbox`] for [`SqliteStore`], with the semantics
//! of [`MemoryOutbox`] (checked by [`jumpwatch_notify::conformance`]).
//!
//! - `outbox`: one row an alert and receiver, unique per receiver and dedup key;
//! - `notify_groups`: one row a receiver's group — its labels and timings, when it was last
//!   sent and what that left firing, its lease, and the notification under way (`current_*`).
//!   Each claim first deletes the idle ones (no open entries or dead letters, nothing firing or
//!   under way, sent at least `group_interval` ago: the rule is in
//!   [`jumpwatch_notify::outbox`]), so the table holds the groups with something to do;
//! - `notify_receivers`: the circuit breaker's state of each receiver;
//! - `notify_silences`: silences.
//!
//! Every method is one transaction (`BEGIN IMMEDIATE` when it writes). A poll's alerts are
//! enqueued in the poll's own transaction ([`SqliteStore::commit_notified`]). A claim lets SQL
//! find, order and limit the due groups, reading stored instants as microseconds since the
//! epoch, and decodes only those it claims.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jumpwatch_notify::outbox::{firing_of, gated, pending_due, span};
use jumpwatch_notify::{
    Alert, Batch, Entry, EntryState, NewEntry, Outbox, OutboxError, Outcome, Reason, ReceiverState,
    Settlement, Silence, Timing,
};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use serde_json::{Value, json};

use crate::{Error, SqliteStore, now_text};

impl From<Error> for OutboxError {
    fn from(error: Error) -> Self {
        Self::new(error.to_string())
    }
}

/// The latest instant stored: later ones would not keep the text format (and its order).
fn latest() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 999_999_000).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The earliest instant stored.
fn earliest() -> DateTime<Utc> {
    DateTime::from_timestamp(-62_167_219_200, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// An instant as stored: [`now_text`], within years 0000 to 9999 so that text order is time
/// order.
fn stamp(at: DateTime<Utc>) -> String {
    now_text(at.clamp(earliest(), latest()))
}

/// `at + by`, saturating.
fn later(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    at.checked_add_signed(span(by)).map_or_else(latest, |t| t.min(latest()))
}

fn corrupt(what: &str, id: impl std::fmt::Display, error: impl std::fmt::Display) -> Error {
    Error::Corrupt { kind: what.to_owned(), id: id.to_string(), message: error.to_string() }
}

fn unstorable(what: &str, error: impl std::fmt::Display) -> Error {
    Error::Unstorable { what: what.to_owned(), message: error.to_string() }
}

fn time_of(what: &str, id: &str, text: &str) -> Result<DateTime<Utc>, Error> {
    DateTime::parse_from_rfc3339(text).map(|t| t.to_utc()).map_err(|e| corrupt(what, id, e))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn duration_of(id: &str, millis: i64) -> Result<Duration, Error> {
    u64::try_from(millis)
        .map(Duration::from_millis)
        .map_err(|_| corrupt("notification group", id, format!("negative duration {millis} ms")))
}

/// An instant as microseconds since the epoch, as [`micros_sql`] reads a stored one.
fn micros(at: DateTime<Utc>) -> i64 {
    at.clamp(earliest(), latest()).timestamp_micros()
}

/// SQL reading a column stored by [`stamp`] (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, fixed width) as
/// microseconds since the epoch, exactly; NULL stays NULL.
fn micros_sql(column: &str) -> String {
    format!(
        "(unixepoch(substr({column}, 1, 19)) * 1000000 + CAST(substr({column}, 21, 6) AS INTEGER))"
    )
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A group as stored.
struct Group {
    receiver: String,
    group_key: String,
    labels: BTreeMap<String, String>,
    timing: Timing,
    last_sent_at: Option<DateTime<Utc>>,
    firing: Vec<Alert>,
    /// The notification under way: its id, when it may be attempted next, its attempts so far.
    current: Option<(String, DateTime<Utc>, u32)>,
}

/// The columns [`group_of`] reads, in order.
const GROUP_COLUMNS: &str = "g.receiver, g.group_key, g.labels, g.group_wait_ms, g.group_interval_ms, g.repeat_interval_ms, g.last_sent_at, g.firing, g.current_id, g.current_at, g.current_attempts";

/// The index of the first column after [`GROUP_COLUMNS`].
const AFTER_GROUP: usize = 11;

fn group_of(row: &Row<'_>) -> Result<Group, Error> {
    const WHAT: &str = "notification group";
    let (receiver, group_key): (String, String) = (row.get(0)?, row.get(1)?);
    let id = format!("{receiver}/{group_key}");
    let labels: String = row.get(2)?;
    let labels = serde_json::from_str(&labels).map_err(|e| corrupt(WHAT, &id, e))?;
    let timing = Timing {
        group_wait: duration_of(&id, row.get(3)?)?,
        group_interval: duration_of(&id, row.get(4)?)?,
        repeat_interval: duration_of(&id, row.get(5)?)?,
    };
    let time = |index: usize| -> Result<Option<DateTime<Utc>>, Error> {
        row.get::<_, Option<String>>(index)?.map(|t| time_of(WHAT, &id, &t)).transpose()
    };
    let (last_sent_at, current_at) = (time(6)?, time(9)?);
    let firing: String = row.get(7)?;
    let firing = serde_json::from_str(&firing).map_err(|e| corrupt(WHAT, &id, e))?;
    let current = match (row.get::<_, Option<String>>(8)?, current_at) {
        (Some(notification), Some(at)) => {
            let attempts: i64 = row.get::<_, Option<i64>>(10)?.unwrap_or(0);
            let attempts = u32::try_from(attempts).map_err(|e| corrupt(WHAT, &id, e))?;
            Some((notification, at, attempts))
        }
        (Some(_), None) => return Err(corrupt(WHAT, &id, "a current notification without a time")),
        (None, _) => None,
    };
    Ok(Group { receiver, group_key, labels, timing, last_sent_at, firing, current })
}

/// The columns [`entry_of`] reads, in order.
const ENTRY_COLUMNS: &str = "id, receiver, group_key, dedup_key, alert, state, created_at, not_before, attempts, notification_id, last_error, settled_at";

fn entry_of(row: &Row<'_>) -> Result<Entry, Error> {
    const WHAT: &str = "outbox entry";
    let id: i64 = row.get(0)?;
    let alert: String = row.get(4)?;
    let alert: Value = serde_json::from_str(&alert).map_err(|e| corrupt(WHAT, id, e))?;
    let value = json!({
        "id": id,
        "receiver": row.get::<_, String>(1)?,
        "group_key": row.get::<_, String>(2)?,
        "dedup_key": row.get::<_, String>(3)?,
        "alert": alert,
        "state": row.get::<_, String>(5)?,
        "created_at": row.get::<_, String>(6)?,
        "not_before": row.get::<_, String>(7)?,
        "attempts": row.get::<_, i64>(8)?,
        "notification_id": row.get::<_, Option<String>>(9)?,
        "last_error": row.get::<_, Option<String>>(10)?,
        "settled_at": row.get::<_, Option<String>>(11)?,
    });
    serde_json::from_value(value).map_err(|e| corrupt(WHAT, id, e))
}

fn silence_of(row: &Row<'_>) -> Result<Silence, Error> {
    const WHAT: &str = "silence";
    let id: String = row.get(0)?;
    let matchers: String = row.get(1)?;
    let matchers: Value = serde_json::from_str(&matchers).map_err(|e| corrupt(WHAT, &id, e))?;
    let value = json!({
        "id": id,
        "matchers": matchers,
        "starts_at": row.get::<_, String>(2)?,
        "ends_at": row.get::<_, String>(3)?,
        "author": row.get::<_, String>(4)?,
        "comment": row.get::<_, String>(5)?,
    });
    serde_json::from_value(value).map_err(|e| corrupt(WHAT, &id, e))
}

fn receivers_in(db: &Connection) -> Result<HashMap<String, ReceiverState>, Error> {
    const WHAT: &str = "receiver";
    let mut select = db.prepare_cached(
        "SELECT receiver, consecutive_failures, open_until, disabled FROM notify_receivers",
    )?;
    let mut rows = select.query([])?;
    let mut out = HashMap::new();
    while let Some(row) = rows.next()? {
        let receiver: String = row.get(0)?;
        let mut state = ReceiverState::default();
        state.consecutive_failures =
            u32::try_from(row.get::<_, i64>(1)?).map_err(|e| corrupt(WHAT, &receiver, e))?;
        state.open_until =
            row.get::<_, Option<String>>(2)?.map(|t| time_of(WHAT, &receiver, &t)).transpose()?;
        state.disabled = row.get(3)?;
        out.insert(receiver, state);
    }
    Ok(out)
}

/// Adds entries in the caller's transaction: one whose (receiver, dedup key) is already queued
/// is skipped. Returns how many were added. Both [`Outbox::enqueue`] and the poll commit use it.
pub(crate) fn enqueue_in(tx: &Transaction<'_>, entries: &[NewEntry]) -> Result<usize, Error> {
    let mut sent = tx.prepare_cached(
        "SELECT last_sent_at IS NOT NULL FROM notify_groups WHERE receiver = ?1 AND group_key = ?2",
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO outbox (receiver, group_key, dedup_key, fingerprint, status, alert, state, created_at, not_before, attempts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)
         ON CONFLICT (receiver, dedup_key) DO NOTHING",
    )?;
    let mut group = tx.prepare_cached(
        "INSERT INTO notify_groups (receiver, group_key, labels, group_wait_ms, group_interval_ms, repeat_interval_ms, firing)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, '[]')
         ON CONFLICT (receiver, group_key) DO UPDATE SET labels = excluded.labels,
           group_wait_ms = excluded.group_wait_ms, group_interval_ms = excluded.group_interval_ms,
           repeat_interval_ms = excluded.repeat_interval_ms",
    )?;
    let mut added = 0;
    for new in entries {
        let was_sent: bool = sent
            .query_row(params![new.receiver, new.group_key], |row| row.get(0))
            .optional()?
            .unwrap_or(false);
        // A new group waits `group_wait`; a sent one is paced by `group_interval` at claim time.
        let not_before =
            if was_sent { new.created_at } else { later(new.created_at, new.timing.group_wait) };
        let alert = serde_json::to_string(&new.alert).map_err(|e| unstorable("alert", e))?;
        let inserted = insert.execute(params![
            new.receiver,
            new.group_key,
            new.dedup_key(),
            new.alert.fingerprint,
            new.alert.status.as_str(),
            alert,
            EntryState::Pending.as_str(),
            stamp(new.created_at),
            stamp(not_before),
        ])?;
        if inserted == 0 {
            continue;
        }
        let labels =
            serde_json::to_string(&new.group_labels).map_err(|e| unstorable("group labels", e))?;
        group.execute(params![
            new.receiver,
            new.group_key,
            labels,
            millis(new.timing.group_wait),
            millis(new.timing.group_interval),
            millis(new.timing.repeat_interval),
        ])?;
        added += 1;
    }
    Ok(added)
}

/// The [`Batch`] of a claimed group.
fn batch_of(
    group: &Group,
    notification_id: String,
    reason: Reason,
    entries: Vec<Entry>,
    attempt: u32,
) -> Batch {
    Batch::new(
        group.receiver.clone(),
        group.group_key.clone(),
        group.labels.clone(),
        notification_id,
        reason,
        entries,
        group.firing.clone(),
        attempt,
        group.timing,
    )
}

/// What a settlement does to the entries it does not mute, and to the group.
#[derive(Clone, Copy)]
enum Action<'a> {
    Delivered(&'a [Alert]),
    Nothing,
    Retry(DateTime<Utc>, &'a str),
    Dead(&'a str),
}

impl SqliteStore {
    /// Enqueues alerts in a transaction of their own: [`Outbox::enqueue`]. An entry whose
    /// (receiver, dedup key) is already queued is skipped; returns how many were added.
    pub fn enqueue_alerts(&self, entries: &[NewEntry]) -> Result<usize, Error> {
        let mut db = self.writer()?;
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let added = enqueue_in(&tx, entries)?;
        tx.commit()?;
        Ok(added)
    }

    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Batch>, Error> {
        let mut db = self.writer()?;
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Expired leases return first.
        let expired: Vec<(String, String)> = {
            let mut select = tx.prepare_cached(
                "SELECT receiver, group_key, lease_until FROM notify_groups WHERE lease_until IS NOT NULL",
            )?;
            let mut rows = select.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let (receiver, key, until): (String, String, String) =
                    (row.get(0)?, row.get(1)?, row.get(2)?);
                if time_of("notification group", &format!("{receiver}/{key}"), &until)? <= now {
                    out.push((receiver, key));
                }
            }
            out
        };
        for (receiver, key) in &expired {
            tx.prepare_cached(
                "UPDATE notify_groups SET lease_until = NULL WHERE receiver = ?1 AND group_key = ?2",
            )?
            .execute(params![receiver, key])?;
            tx.prepare_cached(
                "UPDATE outbox SET state = 'pending' WHERE state = 'in_flight' AND receiver = ?1 AND group_key = ?2",
            )?
            .execute(params![receiver, key])?;
        }
        // Idle groups are forgotten: nothing open or dead (requeue_dead may return dead letters
        // to their group), nothing firing, nothing under way, and sent (if ever) at least
        // group_interval ago. Pending entries, the common case, are looked for first.
        let now_us = micros(now);
        tx.prepare_cached(&format!(
            "DELETE FROM notify_groups AS g
             WHERE g.lease_until IS NULL AND g.current_id IS NULL AND g.firing = '[]'
               AND (g.last_sent_at IS NULL OR {last_sent_at} + g.group_interval_ms * 1000 <= ?1)
               AND NOT EXISTS ({entries} 'pending')
               AND NOT EXISTS ({entries} 'in_flight')
               AND NOT EXISTS ({entries} 'dead')",
            last_sent_at = micros_sql("g.last_sent_at"),
            entries = "SELECT 1 FROM outbox AS o
                 WHERE o.receiver = g.receiver AND o.group_key = g.group_key AND o.state =",
        ))?
        .execute([now_us])?;
        // The due groups, earliest first: not leased, of an available receiver, and with a
        // notification under way (due at its retry time), pending entries (due at the earliest
        // `not_before`, paced by `group_interval`) or findings left firing (due at
        // `repeat_interval`). Times are compared as microseconds since the epoch. Each group's
        // due time is one expression, read once (groups with none sort last); only the first
        // `limit` are looked at further.
        let due: Vec<(String, String, Option<i64>, bool)> = {
            let mut select = tx.prepare_cached(&format!(
                "WITH d AS MATERIALIZED (
                   SELECT g.receiver, g.group_key,
                     CASE WHEN g.current_id IS NOT NULL THEN {current_at}
                     ELSE coalesce(
                       max(
                         (SELECT {first_pending} FROM outbox AS o WHERE o.state = 'pending'
                            AND o.receiver = g.receiver AND o.group_key = g.group_key),
                         coalesce({last_sent_at} + g.group_interval_ms * 1000, {MIN})
                       ),
                       CASE WHEN g.firing <> '[]'
                         THEN {last_sent_at} + g.repeat_interval_ms * 1000 END
                     ) END AS due
                   FROM notify_groups AS g
                   WHERE g.lease_until IS NULL
                     AND NOT EXISTS (SELECT 1 FROM notify_receivers AS r
                       WHERE r.receiver = g.receiver
                         AND (r.disabled IS NOT NULL OR r.open_until > ?1))
                   ORDER BY due NULLS LAST, g.receiver, g.group_key
                   LIMIT ?2
                 )
                 SELECT receiver, group_key, due,
                   EXISTS (SELECT 1 FROM outbox AS o WHERE o.state = 'pending'
                     AND o.receiver = d.receiver AND o.group_key = d.group_key)
                 FROM d ORDER BY due NULLS LAST, receiver, group_key",
                current_at = micros_sql("g.current_at"),
                first_pending = micros_sql("min(o.not_before)"),
                last_sent_at = micros_sql("g.last_sent_at"),
                MIN = i64::MIN + 1,
            ))?;
            let rows = select.query_map(params![stamp(now), count(limit)], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        let due = due
            .into_iter()
            .filter(|(_, _, at, _)| at.is_some_and(|at| at <= now_us))
            .map(|(receiver, group_key, _, has_pending)| (receiver, group_key, has_pending));
        let lease_until = stamp(later(now, lease));
        let mut out = Vec::new();
        for (receiver, group_key, has_pending) in due {
            // Decoded only now that it is claimed.
            let group = {
                let mut select = tx.prepare_cached(&format!(
                    "SELECT {GROUP_COLUMNS} FROM notify_groups AS g
                     WHERE g.receiver = ?1 AND g.group_key = ?2"
                ))?;
                let mut rows = select.query(params![receiver, group_key])?;
                match rows.next()? {
                    Some(row) => group_of(row)?,
                    None => {
                        let id = format!("{receiver}/{group_key}");
                        return Err(corrupt("notification group", id, "vanished while claimed"));
                    }
                }
            };
            let (notification_id, attempt, reason) = match &group.current {
                Some((id, _, attempts)) => (id.clone(), attempts + 1, Reason::New),
                None => (
                    uuid::Uuid::now_v7().to_string(),
                    1,
                    if has_pending { Reason::New } else { Reason::Repeat },
                ),
            };
            let mut entries = Vec::new();
            if reason == Reason::New {
                // A retry takes exactly the entries of its first attempt; a first attempt, the
                // pending entries of no notification yet.
                let part = group.current.as_ref().map(|(id, _, _)| id.as_str());
                {
                    let mut select = tx.prepare_cached(&format!(
                        "SELECT {ENTRY_COLUMNS} FROM outbox
                         WHERE receiver = ?1 AND group_key = ?2 AND state = 'pending' AND notification_id IS ?3
                         ORDER BY id"
                    ))?;
                    let mut rows = select.query(params![group.receiver, group.group_key, part])?;
                    while let Some(row) = rows.next()? {
                        entries.push(entry_of(row)?);
                    }
                }
                let mut update = tx.prepare_cached(
                    "UPDATE outbox SET state = 'in_flight', attempts = attempts + 1, notification_id = ?2 WHERE id = ?1",
                )?;
                for entry in &mut entries {
                    update.execute(params![entry.id, notification_id])?;
                    entry.state = EntryState::InFlight;
                    entry.attempts += 1;
                    entry.notification_id = Some(notification_id.clone());
                }
                tx.prepare_cached(
                    "UPDATE notify_groups SET lease_until = ?3, current_id = ?4, current_at = ?5, current_attempts = ?6
                     WHERE receiver = ?1 AND group_key = ?2",
                )?
                .execute(params![
                    group.receiver,
                    group.group_key,
                    lease_until,
                    notification_id,
                    stamp(now),
                    attempt
                ])?;
            } else {
                tx.prepare_cached(
                    "UPDATE notify_groups SET lease_until = ?3 WHERE receiver = ?1 AND group_key = ?2",
                )?
                .execute(params![group.receiver, group.group_key, lease_until])?;
            }
            out.push(batch_of(&group, notification_id, reason, entries, attempt));
        }
        tx.commit()?;
        Ok(out)
    }

    fn settle_batch(
        &self,
        batch: &Batch,
        settlement: &Settlement,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let action = match &settlement.outcome {
            Outcome::Delivered { firing } => Action::Delivered(firing),
            Outcome::Nothing => Action::Nothing,
            Outcome::Retry { at, error } => Action::Retry(*at, error),
            Outcome::Dead { error } => Action::Dead(error),
            other => {
                return Err(unstorable(
                    "an outcome this store does not know",
                    format!("{other:?}"),
                ));
            }
        };
        let now = stamp(now);
        let muted: HashMap<i64, EntryState> = settlement.muted.iter().copied().collect();
        let mut db = self.writer()?;
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for id in batch.entries.iter().map(|e| e.id) {
            if let Some(why) = muted.get(&id) {
                tx.prepare_cached("UPDATE outbox SET state = ?2, settled_at = ?3 WHERE id = ?1")?
                    .execute(params![id, why.as_str(), now])?;
                continue;
            }
            match action {
                Action::Delivered(_) => tx
                    .prepare_cached(
                        "UPDATE outbox SET state = 'delivered', settled_at = ?2, last_error = NULL WHERE id = ?1",
                    )?
                    .execute(params![id, now])?,
                Action::Nothing => tx
                    .prepare_cached(
                        "UPDATE outbox SET state = 'pending', notification_id = NULL WHERE id = ?1",
                    )?
                    .execute(params![id])?,
                Action::Retry(_, error) => tx
                    .prepare_cached(
                        "UPDATE outbox SET state = 'pending', last_error = ?2 WHERE id = ?1",
                    )?
                    .execute(params![id, error])?,
                Action::Dead(error) => tx
                    .prepare_cached(
                        "UPDATE outbox SET state = 'dead', settled_at = ?2, last_error = ?3 WHERE id = ?1",
                    )?
                    .execute(params![id, now, error])?,
            };
        }
        match action {
            Action::Delivered(firing) => {
                let firing =
                    serde_json::to_string(firing).map_err(|e| unstorable("firing alerts", e))?;
                tx.prepare_cached(
                    "UPDATE notify_groups SET lease_until = NULL, last_sent_at = ?3, firing = ?4,
                       current_id = NULL, current_at = NULL, current_attempts = NULL
                     WHERE receiver = ?1 AND group_key = ?2",
                )?
                .execute(params![batch.receiver, batch.group_key, now, firing])?;
            }
            Action::Nothing | Action::Dead(_) => {
                tx.prepare_cached(
                    "UPDATE notify_groups SET lease_until = NULL,
                       current_id = NULL, current_at = NULL, current_attempts = NULL
                     WHERE receiver = ?1 AND group_key = ?2",
                )?
                .execute(params![batch.receiver, batch.group_key])?;
            }
            // A repeat that failed is simply due again.
            Action::Retry(..) if batch.reason == Reason::Repeat => {
                tx.prepare_cached(
                    "UPDATE notify_groups SET lease_until = NULL WHERE receiver = ?1 AND group_key = ?2",
                )?
                .execute(params![batch.receiver, batch.group_key])?;
            }
            Action::Retry(at, _) => {
                tx.prepare_cached(
                    "UPDATE notify_groups SET lease_until = NULL,
                       current_id = ?3, current_at = ?4, current_attempts = ?5
                     WHERE receiver = ?1 AND group_key = ?2",
                )?
                .execute(params![
                    batch.receiver,
                    batch.group_key,
                    batch.notification_id,
                    stamp(at),
                    batch.attempt
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn release_leases(&self) -> Result<usize, Error> {
        let mut db = self.writer()?;
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let released =
            tx.execute("UPDATE outbox SET state = 'pending' WHERE state = 'in_flight'", [])?;
        tx.execute(
            "UPDATE notify_groups SET lease_until = NULL WHERE lease_until IS NOT NULL",
            [],
        )?;
        tx.commit()?;
        Ok(released)
    }

    fn list_entries(&self, state: Option<EntryState>, limit: usize) -> Result<Vec<Entry>, Error> {
        let mut db = self.writer()?;
        let tx = db.transaction()?;
        let mut out = Vec::new();
        {
            let mut select = tx.prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM outbox WHERE ?1 IS NULL OR state = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let mut rows = select.query(params![state.map(EntryState::as_str), count(limit)])?;
            while let Some(row) = rows.next()? {
                out.push(entry_of(row)?);
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn count_entries(&self) -> Result<BTreeMap<EntryState, usize>, Error> {
        let mut db = self.writer()?;
        let tx = db.transaction()?;
        let mut out = BTreeMap::new();
        {
            let mut select =
                tx.prepare_cached("SELECT state, count(*) FROM outbox GROUP BY state")?;
            let mut rows = select.query([])?;
            while let Some(row) = rows.next()? {
                let (state, n): (String, i64) = (row.get(0)?, row.get(1)?);
                let state =
                    state.parse::<EntryState>().map_err(|e| corrupt("outbox state", &state, e))?;
                out.insert(state, usize::try_from(n).unwrap_or(0));
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn next_due_at(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let mut db = self.writer()?;
        let tx = db.transaction()?;
        let receivers = receivers_in(&tx)?;
        let mut next: Option<DateTime<Utc>> = None;
        {
            let mut select = tx.prepare_cached(&format!(
                "SELECT * FROM (SELECT {GROUP_COLUMNS},
                   (SELECT min(o.not_before) FROM outbox AS o
                    WHERE o.state IN ('pending', 'in_flight') AND o.receiver = g.receiver AND o.group_key = g.group_key) AS first_open
                 FROM notify_groups AS g)
                 WHERE first_open IS NOT NULL"
            ))?;
            let mut rows = select.query([])?;
            while let Some(row) = rows.next()? {
                let group = group_of(row)?;
                let first: String = row.get(AFTER_GROUP)?;
                let first = time_of("outbox entry", &group.group_key, &first)?;
                let retry = group.current.as_ref().map(|(_, at, _)| *at);
                let due = pending_due(first, retry, group.last_sent_at, &group.timing);
                let Some(at) = gated(due, receivers.get(&group.receiver)) else { continue };
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        tx.commit()?;
        Ok(next)
    }

    fn firing_now(&self) -> Result<Vec<Alert>, Error> {
        let mut db = self.writer()?;
        let tx = db.transaction()?;
        let mut alerts: Vec<Alert> = Vec::new();
        {
            let mut select = tx.prepare_cached(&format!(
                "SELECT {GROUP_COLUMNS} FROM notify_groups AS g WHERE g.firing <> '[]' ORDER BY g.receiver, g.group_key"
            ))?;
            let mut rows = select.query([])?;
            while let Some(row) = rows.next()? {
                alerts.extend(group_of(row)?.firing);
            }
            let mut select = tx.prepare_cached(
                "SELECT id, alert FROM outbox WHERE state IN ('pending', 'in_flight') ORDER BY id",
            )?;
            let mut rows = select.query([])?;
            while let Some(row) = rows.next()? {
                let (id, alert): (i64, String) = (row.get(0)?, row.get(1)?);
                alerts.push(
                    serde_json::from_str(&alert).map_err(|e| corrupt("outbox entry", id, e))?,
                );
            }
        }
        tx.commit()?;
        Ok(firing_of(&alerts))
    }

    fn load_receiver_state(&self, receiver: &str) -> Result<ReceiverState, Error> {
        let mut db = self.writer()?;
        let tx = db.transaction()?;
        let state = receivers_in(&tx)?.remove(receiver).unwrap_or_default();
        tx.commit()?;
        Ok(state)
    }

    fn store_receiver_state(&self, receiver: &str, state: &ReceiverState) -> Result<(), Error> {
        let mut db = self.writer()?;
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO notify_receivers (receiver, consecutive_failures, open_until, disabled) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (receiver) DO UPDATE SET consecutive_failures = excluded.consecutive_failures,
               open_until = excluded.open_until, disabled = excluded.disabled",
            params![receiver, state.consecutive_failures, state.open_until.map(stamp), state.disabled],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn load_silences(&self) -> Result<Vec<Silence>, Error> {
        let mut db = self.writer()?;
        let tx = db.transaction()?;
        let mut out = Vec::new();
        {
            let mut select = tx.prepare_cached(
                "SELECT id, matchers, starts_at, ends_at, author, comment FROM notify_silences ORDER BY rowid",
            )?;
            let mut rows = select.query([])?;
            while let Some(row) = rows.next()? {
                out.push(silence_of(row)?);
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn insert_silence(&self, silence: &Silence) -> Result<(), Error> {
        let matchers =
            serde_json::to_string(&silence.matchers).map_err(|e| unstorable("matchers", e))?;
        let mut db = self.writer()?;
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Adding a silence again (a retry) replaces it in place.
        tx.execute(
            "INSERT INTO notify_silences (id, matchers, starts_at, ends_at, author, comment) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers, starts_at = excluded.starts_at,
               ends_at = excluded.ends_at, author = excluded.author, comment = excluded.comment",
            params![
                silence.id,
                matchers,
                stamp(silence.starts_at),
                stamp(silence.ends_at),
                silence.author,
                silence.comment
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn end_silence(&self, id: &str, now: DateTime<Utc>) -> Result<bool, Error> {
        let mut db = self.writer()?;
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ends_at: Option<String> = tx
            .query_row("SELECT ends_at FROM notify_silences WHERE id = ?1", [id], |row| row.get(0))
            .optional()?;
        let Some(ends_at) = ends_at else { return Ok(false) };
        let ends_at = time_of("silence", id, &ends_at)?.min(now);
        tx.execute(
            "UPDATE notify_silences SET ends_at = ?2 WHERE id = ?1",
            params![id, stamp(ends_at)],
        )?;
        tx.commit()?;
        Ok(true)
    }
}

impl Outbox for SqliteStore {
    fn enqueue(&self, entries: &[NewEntry]) -> Result<usize, OutboxError> {
        Ok(self.enqueue_alerts(entries)?)
    }

    fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Batch>, OutboxError> {
        Ok(self.claim_due(now, lease, limit)?)
    }

    fn settle(
        &self,
        batch: &Batch,
        settlement: &Settlement,
        now: DateTime<Utc>,
    ) -> Result<(), OutboxError> {
        Ok(self.settle_batch(batch, settlement, now)?)
    }

    fn release_all(&self) -> Result<usize, OutboxError> {
        Ok(self.release_leases()?)
    }

    fn entries(&self, state: Option<EntryState>, limit: usize) -> Result<Vec<Entry>, OutboxError> {
        Ok(self.list_entries(state, limit)?)
    }

    fn counts(&self) -> Result<BTreeMap<EntryState, usize>, OutboxError> {
        Ok(self.count_entries()?)
    }

    fn next_due(&self) -> Result<Option<DateTime<Utc>>, OutboxError> {
        Ok(self.next_due_at()?)
    }

    fn firing(&self) -> Result<Vec<Alert>, OutboxError> {
        Ok(self.firing_now()?)
    }

    fn receiver_state(&self, receiver: &str) -> Result<ReceiverState, OutboxError> {
        Ok(self.load_receiver_state(receiver)?)
    }

    fn set_receiver_state(&self, receiver: &str, state: &ReceiverState) -> Result<(), OutboxError> {
        Ok(self.store_receiver_state(receiver, state)?)
    }

    fn receivers(&self) -> Result<BTreeMap<String, ReceiverState>, OutboxError> {
        let mut db = self.writer()?;
        let tx = db.transaction().map_err(Error::from)?;
        let receivers = receivers_in(&tx)?;
        tx.commit().map_err(Error::from)?;
        Ok(receivers.into_iter().collect())
    }

    fn requeue_dead(
        &self,
        receiver: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<usize, OutboxError> {
        let mut db = self.writer()?;
        let tx =
            db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(Error::from)?;
        let requeued = tx
            .execute(
                "UPDATE outbox SET state = 'pending', notification_id = NULL, attempts = 0, settled_at = NULL, not_before = ?2
                 WHERE state = 'dead' AND (?1 IS NULL OR receiver = ?1)",
                params![receiver, stamp(now)],
            )
            .map_err(Error::from)?;
        tx.commit().map_err(Error::from)?;
        Ok(requeued)
    }

    fn silences(&self) -> Result<Vec<Silence>, OutboxError> {
        Ok(self.load_silences()?)
    }

    fn add_silence(&self, silence: &Silence) -> Result<(), OutboxError> {
        Ok(self.insert_silence(silence)?)
    }

    fn expire_silence(&self, id: &str, now: DateTime<Utc>) -> Result<bool, OutboxError> {
        Ok(self.end_silence(id, now)?)
    }
}
