//! Reading Directory Insights without losing an event: a durable cursor per tenant, an overlap
//! for late events, a bounded back-fill, and gaps reported rather than skipped.
//!
//! - The [`EventCursor`] says how far the audit log has been read completely (`read_until`). It
//!   is stored with the events, in the poll's transaction, so a crash never moves it past events
//!   that were not stored.
//! - A read starts `overlap` (default 5 minutes) before the cursor, so an event that JumpCloud
//!   indexes late, but within the overlap, is still read. Events already stored are recognized
//!   by id and not stored or judged again.
//! - A first read back-fills `backfill` (default 1 day, at most the 90 days JumpCloud keeps).
//! - A cursor older than the retention cannot be caught up: the unreadable stretch is reported
//!   as a [`Gap`] (and alerted on), and reading resumes at the oldest event JumpCloud still has.
//! - A read that fails midway keeps the events it got (they are stored, idempotently) and leaves
//!   the cursor where it was: the next poll reads the stretch again.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use jumpwatch_api::{Client, EventQuery};
use jumpwatch_model::event::DirectoryEvent;
use serde::{Deserialize, Serialize};

/// How long JumpCloud keeps Directory Insights events.
pub const RETENTION: Duration = Duration::from_secs(90 * 86_400);

/// How far a tenant's audit log has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCursor {
    /// Every event before this instant (less the overlap) has been read.
    pub read_until: DateTime<Utc>,
}

/// A stretch of the audit log that can no longer be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// From.
    pub from: DateTime<Utc>,
    /// To.
    pub to: DateTime<Utc>,
}

/// What to read, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventPolicy {
    /// The services (default `all`).
    pub services: Vec<String>,
    /// How far before the cursor a read starts (default 5 minutes).
    pub overlap: Duration,
    /// How far back a first read goes (default 1 day; at most [`RETENTION`]).
    pub backfill: Duration,
    /// Events a page (default 1000).
    pub page_size: u32,
}

impl Default for EventPolicy {
    fn default() -> Self {
        Self {
            services: vec!["all".to_owned()],
            overlap: Duration::from_secs(300),
            backfill: Duration::from_secs(86_400),
            page_size: 1000,
        }
    }
}

/// One read of the audit log.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct EventRead {
    /// The events read, once each, oldest first (some may be stored already: see
    /// [`EventRead::new_since`]).
    pub events: Vec<DirectoryEvent>,
    /// The cursor after the read, when it completed (otherwise the stored one stays).
    pub cursor: Option<EventCursor>,
    /// A stretch that could not be read: older than the retention.
    pub gap: Option<Gap>,
    /// Why the read stopped early, if it did.
    pub error: Option<String>,
}

/// The key that identifies an event: its id, or a hash of its JSON when it has none.
#[must_use]
pub fn event_key(event: &DirectoryEvent) -> String {
    match &event.id {
        Some(id) => id.clone(),
        None => format!("sha:{}", &blake3::hash(event.raw.to_string().as_bytes()).to_hex()[..32]),
    }
}

/// Where a read starts, and the gap before it: `cursor - overlap`, or `now - backfill` for a
/// first read; never before `now - retention`.
#[must_use]
pub fn window_start(
    cursor: Option<&EventCursor>,
    policy: &EventPolicy,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, Option<Gap>) {
    let span = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    let oldest = now - span(RETENTION);
    match cursor {
        None => ((now - span(policy.backfill.min(RETENTION))).max(oldest), None),
        Some(cursor) => {
            let start = cursor.read_until - span(policy.overlap);
            if start < oldest {
                (oldest, Some(Gap { from: start, to: oldest }))
            } else {
                (start, None)
            }
        }
    }
}

impl EventRead {
    /// Reads the audit log from where `cursor` says, up to `now`.
    pub async fn read(
        client: &Client,
        cursor: Option<&EventCursor>,
        policy: &EventPolicy,
        now: DateTime<Utc>,
    ) -> Self {
        let (start, gap) = window_start(cursor, policy, now);
        // Read ahead by the overlap too: JumpCloud's clock may run ahead of ours, and an event
        // it stamps after our now must still explain the change this poll saw. The cursor stays
        // at our now, so the next read sees it again, and stored events are not stored twice.
        let ahead =
            chrono::Duration::from_std(policy.overlap).unwrap_or_else(|_| chrono::Duration::zero());
        let query = EventQuery::since(start)
            .until(now.checked_add_signed(ahead).unwrap_or(now))
            .services(policy.services.iter().cloned())
            .page_size(policy.page_size);
        let mut stream = client.events(query);
        let mut events: BTreeMap<String, DirectoryEvent> = BTreeMap::new();
        let mut error = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    events.entry(event_key(&event)).or_insert(event);
                }
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        let mut events: Vec<DirectoryEvent> = events.into_values().collect();
        events.sort_by_key(|e| e.timestamp.as_ref().map(jumpwatch_model::Timestamp::to_utc));
        let cursor = error.is_none().then_some(EventCursor { read_until: now });
        Self { events, cursor, gap, error }
    }

    /// The events not in `known` (keys of events already stored).
    #[must_use]
    pub fn new_since(&self, known: &std::collections::BTreeSet<String>) -> Vec<DirectoryEvent> {
        self.events.iter().filter(|e| !known.contains(&event_key(e))).cloned().collect()
    }
}
