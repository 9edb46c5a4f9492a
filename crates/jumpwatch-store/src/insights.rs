//! Directory Insights in the store: audit events (raw, with their common fields indexed) and each
//! tenant's cursor, written in the poll's transaction; read back for the `events` view, the
//! `jumpwatch events` command and the next poll's overlap.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use jumpwatch_changes::insights::{EventCursor, Gap, event_key};
use jumpwatch_changes::{InsightsCommit, StoredState};
use jumpwatch_model::Timestamp;
use jumpwatch_model::event::DirectoryEvent;
use rusqlite::{Connection, Transaction, params};

use crate::{Error, SqliteStore, now_text};

/// How far before the cursor the keys of stored events are loaded: a read overlapping them
/// does not store or judge them again. The overlap a tenant is read with must stay within it.
pub const KNOWN_EVENTS_SPAN: chrono::Duration = chrono::Duration::days(1);

/// Writes a poll's audit events (a stored event is left as it is), its cursor and its gap.
pub(crate) fn write_insights(
    tx: &Transaction<'_>,
    tenant: &str,
    poll_id: &str,
    insights: &InsightsCommit,
    at: &str,
) -> Result<(), Error> {
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO audit_events (tenant, id, timestamp, event_type, service, initiator_id, initiator_type, initiator_email,
           resource_type, resource_id, resource_name, success, client_ip, raw, poll_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    for event in &insights.events {
        let initiator = event.initiated_by.as_ref();
        let resource = event.resource.as_ref();
        insert.execute(params![
            tenant,
            event_key(event),
            event.timestamp.as_ref().map(|t| now_text(t.to_utc())),
            event.event_type,
            event.service,
            initiator.and_then(|i| i.id.clone()),
            initiator.and_then(|i| i.kind.clone()),
            initiator.and_then(|i| i.email.clone()),
            resource.and_then(|r| r.kind.clone()),
            resource.and_then(|r| r.id.clone()),
            resource.and_then(|r| r.name.clone()),
            event.success,
            event.client_ip,
            event.raw.to_string(),
            poll_id,
        ])?;
    }
    if let Some(cursor) = &insights.cursor {
        tx.prepare_cached(
            "INSERT INTO event_cursors (tenant, read_until, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant) DO UPDATE SET read_until = excluded.read_until, updated_at = excluded.updated_at",
        )?
        .execute(params![tenant, now_text(cursor.read_until), at])?;
    }
    if let Some(gap) = &insights.gap {
        tx.prepare_cached(
            "INSERT INTO event_gaps (tenant, from_at, to_at, noticed_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![tenant, now_text(gap.from), now_text(gap.to), at])?;
    }
    Ok(())
}

/// Adds the tenant's cursor and the keys of its recent events to a loaded state.
pub(crate) fn load_insights(db: &Connection, state: &mut StoredState) -> Result<(), Error> {
    let tenant = state.inventory.tenant().as_str().to_owned();
    let cursor: Option<String> = db
        .query_row("SELECT read_until FROM event_cursors WHERE tenant = ?1", [&tenant], |row| {
            row.get(0)
        })
        .ok();
    let Some(read_until) =
        cursor.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.to_utc())
    else {
        return Ok(());
    };
    state.event_cursor = Some(EventCursor { read_until });
    let since = now_text(read_until - KNOWN_EVENTS_SPAN);
    let mut select = db.prepare_cached(
        "SELECT id FROM audit_events WHERE tenant = ?1 AND (timestamp IS NULL OR timestamp >= ?2)",
    )?;
    let keys: BTreeSet<String> =
        select.query_map(params![tenant, since], |row| row.get(0))?.collect::<Result<_, _>>()?;
    state.known_events = keys;
    Ok(())
}

/// A stored audit event.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoredEvent {
    /// The tenant.
    pub tenant: String,
    /// The event.
    pub event: DirectoryEvent,
}

impl SqliteStore {
    /// The stored audit events of a tenant (or all), newest first, at or after `since`.
    pub fn audit_events(
        &self,
        tenant: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, Error> {
        let db = self.writer()?;
        let mut select = db.prepare_cached(
            "SELECT tenant, raw FROM audit_events WHERE (?1 IS NULL OR tenant = ?1) AND (?2 IS NULL OR timestamp >= ?2)
             ORDER BY timestamp DESC, id DESC LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = select.query_map(params![tenant, since.map(now_text), limit], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (tenant, raw) = row?;
            let raw = serde_json::from_str(&raw).map_err(|e| Error::Corrupt {
                kind: "audit_event".into(),
                id: tenant.clone(),
                message: e.to_string(),
            })?;
            out.push(StoredEvent { tenant, event: DirectoryEvent::from_raw(raw) });
        }
        Ok(out)
    }

    /// The gaps of the audit log that could not be read, by tenant.
    pub fn event_gaps(&self) -> Result<Vec<(String, Gap)>, Error> {
        let db = self.writer()?;
        let mut select =
            db.prepare_cached("SELECT tenant, from_at, to_at FROM event_gaps ORDER BY noticed_at")?;
        let rows = select.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (tenant, from, to) = row?;
            let time = |t: &str| Timestamp::parse(t).map(|t| t.to_utc()).unwrap_or_default();
            out.push((tenant, Gap { from: time(&from), to: time(&to) }));
        }
        Ok(out)
    }
}
