//! The engine's port: loading the last snapshot, and committing a poll in one transaction.

use std::collections::{HashMap, HashSet};

use jumpwatch_changes::{ChangeEvent, InventoryStore, PollCommit, StoreError, StoredState};
use jumpwatch_model::{
    ContentHash, HashedResources, Inventory, Normalizer, Resource, ResourceId, ResourceKind,
    TenantId,
};
use jumpwatch_notify::NewEntry;
use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::{Value, json};

use crate::{Error, SqliteStore, now_text};

fn parse(kind: &str, id: &str, text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt {
        kind: kind.to_owned(),
        id: id.to_owned(),
        message: e.to_string(),
    })
}

/// A document as it is stored: its JSON text, and `doc_hash`, the first 32 hexadecimal digits of
/// the BLAKE3 hash of that text. The text is written into the thread's buffer and hashed in one
/// go (BLAKE3 is slow on many tiny updates), and `f` reads both there: it makes the text into a
/// string only when it has to store it.
fn with_stored_text<R>(doc: &Value, f: impl FnOnce(&str, &str) -> R) -> R {
    thread_local! {
        static TEXT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    TEXT.with(|text| {
        let mut text = text.borrow_mut();
        text.clear();
        // Writing into a vector cannot fail, and a `Value` always serializes.
        let _ = serde_json::to_writer(&mut *text, doc);
        let hex = blake3::hash(&text).to_hex();
        // serde_json writes UTF-8.
        f(std::str::from_utf8(&text).unwrap_or_default(), &hex[..32])
    })
}

/// A row of `kind, id, parent_id, doc, hash` as a resource with its stored content hash; `None`
/// for a kind this build no longer knows (left alone).
fn stored_resource(
    row: &rusqlite::Row<'_>,
) -> Result<Option<(Resource, Option<ContentHash>)>, Error> {
    let (kind, id, parent, hash): (String, String, Option<String>, String) =
        (row.get(0)?, row.get(1)?, row.get(2)?, row.get(4)?);
    let Ok(kind_value) = kind.parse::<ResourceKind>() else { return Ok(None) };
    // Parsed from SQLite's own buffer, not a copy of it.
    let text = row.get_ref(3)?.as_str().map_err(|e| Error::Corrupt {
        kind: kind.clone(),
        id: id.clone(),
        message: e.to_string(),
    })?;
    let doc = parse(&kind, &id, text)?;
    let parent = parent.and_then(|p| ResourceId::new(p).ok());
    let resource = match parent {
        Some(parent) => Resource::from_child_doc(kind_value, parent, doc),
        None => Resource::from_doc(kind_value, doc),
    };
    match resource {
        // The stored hash saves hashing the previous snapshot again at the next diff.
        Ok(resource) => Ok(Some((resource, ContentHash::from_hex(&hash)))),
        Err(error) => Err(Error::Corrupt { kind, id, message: error.to_string() }),
    }
}

fn insert_stored(inventory: &mut Inventory, resource: Resource, hash: Option<ContentHash>) {
    let _ = match hash {
        Some(hash) => inventory.insert_hashed(resource, hash),
        None => inventory.insert(resource),
    };
}

/// A resource as stored, for the comparison with a new snapshot.
struct Stored {
    hash: Option<ContentHash>,
    version: i64,
    deleted: bool,
    doc_hash: Option<String>,
}

impl SqliteStore {
    /// A tenant's state: the snapshot's kinds, held deletions and audit-log cursor, with every
    /// document (`documents`) or with the index of content hashes only.
    fn load_state(&self, tenant: &TenantId, documents: bool) -> Result<StoredState, Error> {
        let db = self.writer()?;
        let mut state = StoredState::empty(tenant.clone());
        let mut kinds = db.prepare("SELECT kind FROM snapshot_kinds WHERE tenant = ?1")?;
        for kind in kinds.query_map([tenant.as_str()], |row| row.get::<_, String>(0))? {
            if let Ok(kind) = kind?.parse::<ResourceKind>() {
                state.snapshot_kinds.insert(kind);
            }
        }
        if documents {
            let mut resources = db.prepare(
                "SELECT kind, id, parent_id, doc, hash FROM resources WHERE tenant = ?1 AND deleted_at IS NULL ORDER BY kind, id",
            )?;
            let mut rows = resources.query([tenant.as_str()])?;
            while let Some(row) = rows.next()? {
                if let Some((resource, hash)) = stored_resource(row)? {
                    insert_stored(&mut state.inventory, resource, hash);
                }
            }
        } else {
            let mut resources = db.prepare(
                "SELECT kind, id, hash FROM resources WHERE tenant = ?1 AND deleted_at IS NULL",
            )?;
            let mut rows = resources.query([tenant.as_str()])?;
            while let Some(row) = rows.next()? {
                let (kind, id): (String, String) = (row.get(0)?, row.get(1)?);
                // A kind this build no longer knows is left alone.
                let Ok(kind_value) = kind.parse::<ResourceKind>() else { continue };
                let id = ResourceId::new(id.as_str()).map_err(|e| Error::Corrupt {
                    kind,
                    id,
                    message: e.to_string(),
                })?;
                // An unreadable hash is `None`: the poll fetches the document and hashes it.
                let hash = row.get_ref(2)?.as_str().ok().and_then(ContentHash::from_hex);
                state.index.insert(kind_value, id, hash);
            }
        }
        let mut held = db.prepare("SELECT kind, id FROM held_deletions WHERE tenant = ?1")?;
        let mut rows = held.query([tenant.as_str()])?;
        while let Some(row) = rows.next()? {
            let (kind, id): (String, String) = (row.get(0)?, row.get(1)?);
            if let (Ok(kind), Ok(id)) = (kind.parse::<ResourceKind>(), ResourceId::new(id)) {
                state.held.entry(kind).or_default().insert(id);
            }
        }
        crate::insights::load_insights(&db, &mut state)?;
        Ok(state)
    }

    /// Stored resources of one kind: those of `ids`, or all.
    fn load_kind(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        ids: Option<&[ResourceId]>,
    ) -> Result<HashedResources, Error> {
        let db = self.writer()?;
        let mut found = Vec::new();
        let columns = "SELECT kind, id, parent_id, doc, hash FROM resources WHERE tenant = ?1 AND kind = ?2 AND deleted_at IS NULL";
        match ids {
            Some(ids) => {
                let mut select = db.prepare_cached(&format!("{columns} AND id = ?3"))?;
                for id in ids {
                    let mut rows =
                        select.query(params![tenant.as_str(), kind.name(), id.as_str()])?;
                    while let Some(row) = rows.next()? {
                        found.extend(stored_resource(row)?);
                    }
                }
            }
            None => {
                let mut select = db.prepare(&format!("{columns} ORDER BY id"))?;
                let mut rows = select.query(params![tenant.as_str(), kind.name()])?;
                while let Some(row) = rows.next()? {
                    found.extend(stored_resource(row)?);
                }
            }
        }
        Ok(found)
    }

    /// Commits a poll, the audit of it when there is one, and the alerts they raised, in one
    /// transaction.
    pub(crate) fn commit_poll(
        &self,
        commit: &PollCommit,
        audit: Option<&jumpwatch_rules::AuditCommit>,
        outbox: &[NewEntry],
    ) -> Result<Vec<i64>, Error> {
        let mut db = self.writer()?;
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let tenant = commit.tenant.as_str();
        let at = now_text(commit.finished_at);
        let poll_id = commit.poll_id.to_string();
        let complete = commit.reports.iter().all(|r| r.status.is_complete());
        tx.execute(
            "INSERT INTO polls (poll_id, tenant, started_at, finished_at, complete, reports) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![poll_id, tenant, now_text(commit.started_at), at, complete, serde_json::to_string(&commit.reports).unwrap_or_default()],
        )?;
        for &kind in &commit.committed_kinds {
            self.write_kind(&tx, commit, kind, &at)?;
        }
        let mut seqs = Vec::with_capacity(commit.events.len());
        for event in &commit.events {
            seqs.push(insert_event(&tx, &poll_id, event)?);
        }
        if let Some(insights) = &commit.insights {
            crate::insights::write_insights(&tx, tenant, &poll_id, insights, &at)?;
        }
        if let Some(audit) = audit {
            crate::findings::write_audit(&tx, audit)?;
        }
        crate::outbox::enqueue_in(&tx, outbox)?;
        tx.commit()?;
        Ok(seqs)
    }

    /// Commits a poll, the audit of it when there is one, and the alerts they raised: the poll
    /// (its resources, versions and change events), its findings and transitions, and its alerts
    /// enqueued in the outbox are written in one transaction — all of them, or none. An alert
    /// already queued for its receiver (same [`dedup key`](NewEntry::dedup_key)) is not queued
    /// again, so a poll redone after a failure notifies nothing twice. Returns the change events'
    /// sequence numbers.
    pub fn commit_notified(
        &self,
        commit: &PollCommit,
        audit: Option<&jumpwatch_rules::AuditCommit>,
        outbox: &[NewEntry],
    ) -> Result<Vec<i64>, Error> {
        self.commit_poll(commit, audit, outbox)
    }

    /// Replaces the stored snapshot of one kind with the commit's.
    fn write_kind(
        &self,
        tx: &Transaction<'_>,
        commit: &PollCommit,
        kind: ResourceKind,
        at: &str,
    ) -> Result<(), Error> {
        let tenant = commit.tenant.as_str();
        let name = kind.name();
        let normalizer = Normalizer::for_kind(kind);
        tx.execute(
            "INSERT INTO snapshot_kinds (tenant, kind, first_poll, last_complete) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (tenant, kind) DO UPDATE SET last_complete = ?4",
            params![tenant, name, commit.poll_id.to_string(), at],
        )?;
        // What is stored now: id → (hash, version, deleted).
        let mut stored: HashMap<String, Stored> = HashMap::new();
        {
            let mut select = tx.prepare_cached(
                "SELECT id, hash, version, deleted_at IS NOT NULL, doc_hash FROM resources WHERE tenant = ?1 AND kind = ?2",
            )?;
            let mut rows = select.query(params![tenant, name])?;
            while let Some(row) = rows.next()? {
                let entry = Stored {
                    hash: row.get_ref(1)?.as_str().ok().and_then(ContentHash::from_hex),
                    version: row.get(2)?,
                    deleted: row.get(3)?,
                    doc_hash: row.get(4)?,
                };
                stored.insert(row.get(0)?, entry);
            }
        }
        let mut seen = HashSet::new();
        for resource in commit.snapshot.resources(kind) {
            let id = resource.id.as_str();
            seen.insert(id);
            let hash = commit.snapshot.hash_or_compute(resource);
            // A kind with secret paths is copied and redacted first.
            let redacted = (!kind.meta().secret.is_empty()).then(|| {
                let mut doc = resource.doc.clone();
                normalizer.redact(&mut doc);
                doc
            });
            let doc = redacted.as_ref().unwrap_or(&resource.doc);
            let parent = resource.parent.as_ref().map(ResourceId::as_str);
            with_stored_text(doc, |text, doc_hash| -> Result<(), Error> {
                match stored.get(id) {
                    // Exactly as stored: nothing to write (the kind's poll records when it was
                    // seen).
                    Some(old)
                        if !old.deleted
                            && old.hash == Some(hash)
                            && old.doc_hash.as_deref() == Some(doc_hash) => {}
                    Some(old) if !old.deleted && old.hash == Some(hash) => {
                        // Unchanged, but volatile fields moved: keep the latest document, no
                        // version.
                        tx.prepare_cached(
                            "UPDATE resources SET doc = ?4, doc_hash = ?5, name = ?6, last_seen = ?7 WHERE tenant = ?1 AND kind = ?2 AND id = ?3",
                        )?
                        .execute(params![tenant, name, id, text, doc_hash, resource.name, at])?;
                    }
                    existing => {
                        let hash = hash.to_hex();
                        let version = existing.map_or(1, |old| old.version + 1);
                        tx.prepare_cached("UPDATE resource_versions SET valid_to = ?4 WHERE tenant = ?1 AND kind = ?2 AND id = ?3 AND valid_to IS NULL")?
                            .execute(params![tenant, name, id, at])?;
                        tx.prepare_cached(
                            "INSERT INTO resource_versions (tenant, kind, id, version, parent_id, name, doc, hash, valid_from) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        )?
                        .execute(params![tenant, name, id, version, parent, resource.name, text, hash, at])?;
                        tx.prepare_cached(
                            "INSERT INTO resources (tenant, kind, id, parent_id, name, doc, hash, version, first_seen, last_seen, deleted_at, doc_hash)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, NULL, ?10)
                             ON CONFLICT (tenant, kind, id) DO UPDATE SET parent_id = ?4, name = ?5, doc = ?6, hash = ?7, version = ?8, last_seen = ?9, deleted_at = NULL, doc_hash = ?10",
                        )?
                        .execute(params![tenant, name, id, parent, resource.name, text, hash, version, at, doc_hash])?;
                    }
                }
                Ok(())
            })?;
        }
        for (id, old) in &stored {
            if !old.deleted && !seen.contains(id.as_str()) {
                tx.prepare_cached("UPDATE resources SET deleted_at = ?4 WHERE tenant = ?1 AND kind = ?2 AND id = ?3")?
                    .execute(params![tenant, name, id, at])?;
                tx.prepare_cached("UPDATE resource_versions SET valid_to = ?4 WHERE tenant = ?1 AND kind = ?2 AND id = ?3 AND valid_to IS NULL")?
                    .execute(params![tenant, name, id, at])?;
            }
        }
        tx.execute(
            "DELETE FROM held_deletions WHERE tenant = ?1 AND kind = ?2",
            params![tenant, name],
        )?;
        for id in commit.held.get(&kind).into_iter().flatten() {
            tx.execute(
                "INSERT INTO held_deletions (tenant, kind, id) VALUES (?1, ?2, ?3)",
                params![tenant, name, id.as_str()],
            )?;
        }
        Ok(())
    }

    /// The change events of a tenant after sequence number `after`, oldest first.
    pub fn events_since(
        &self,
        tenant: &TenantId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<ChangeEvent>, Error> {
        let db = self.writer()?;
        let mut select = db.prepare(
            "SELECT seq, event_id, kind, resource_id, parent_id, name, op, observed_at, changes, before, after, actor
             FROM change_events WHERE tenant = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let mut rows = select.query(params![
            tenant.as_str(),
            after,
            i64::try_from(limit).unwrap_or(i64::MAX)
        ])?;
        let mut events = Vec::new();
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let record = json!({
                "event_id": row.get::<_, String>(1)?,
                "seq": seq,
                "tenant": tenant.as_str(),
                "kind": row.get::<_, String>(2)?,
                "resource_id": row.get::<_, String>(3)?,
                "parent": row.get::<_, Option<String>>(4)?,
                "name": row.get::<_, Option<String>>(5)?,
                "op": row.get::<_, String>(6)?,
                "observed_at": row.get::<_, String>(7)?,
                "changes": stored_changes(parse("change event", &seq.to_string(), &row.get::<_, String>(8)?)?),
                "before": row.get::<_, Option<String>>(9)?.map(|t| parse("change event", &seq.to_string(), &t)).transpose()?,
                "after": row.get::<_, Option<String>>(10)?.map(|t| parse("change event", &seq.to_string(), &t)).transpose()?,
                "actor": row.get::<_, Option<String>>(11)?.map(|t| parse("change event", &seq.to_string(), &t)).transpose()?,
            });
            let event: ChangeEvent =
                serde_json::from_value(record).map_err(|e| Error::Corrupt {
                    kind: "change event".into(),
                    id: seq.to_string(),
                    message: e.to_string(),
                })?;
            events.push(event);
        }
        Ok(events)
    }

    /// The number of stored versions of a resource.
    pub fn version_count(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &ResourceId,
    ) -> Result<i64, Error> {
        let db = self.writer()?;
        let count = db
            .query_row(
                "SELECT count(*) FROM resource_versions WHERE tenant = ?1 AND kind = ?2 AND id = ?3",
                params![tenant.as_str(), kind.name(), id.as_str()],
                |row| row.get(0),
            )
            .optional()?;
        Ok(count.unwrap_or(0))
    }
}

/// Stored field changes (`{path, segments, op, before, after}`) as `FieldChange` reads them.
fn stored_changes(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|mut item| {
                    if let Some(object) = item.as_object_mut()
                        && let Some(segments) = object.remove("segments")
                    {
                        object.insert("path".into(), segments);
                    }
                    item
                })
                .collect(),
        ),
        other => other,
    }
}

fn insert_event(tx: &Transaction<'_>, poll_id: &str, event: &ChangeEvent) -> Result<i64, Error> {
    let changes: Vec<Value> = event
        .changes
        .iter()
        .map(|c| json!({"path": c.path.render(), "segments": c.path, "op": c.op, "before": c.before, "after": c.after}))
        .collect();
    let text = |v: &Option<Value>| v.as_ref().map(Value::to_string);
    let actor = event.actor.as_ref().map(|a| serde_json::to_string(a).unwrap_or_default());
    let attribution = serde_json::to_string(&event.attribution).unwrap_or_default();
    tx.prepare_cached(
        "INSERT INTO change_events (event_id, poll_id, tenant, kind, resource_id, parent_id, name, op, observed_at, changes, before, after, actor, attribution)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        event.event_id.to_string(),
        poll_id,
        event.tenant.as_str(),
        event.kind.name(),
        event.resource_id.as_str(),
        event.parent.as_ref().map(ResourceId::as_str),
        event.name,
        event.op.as_str(),
        now_text(event.observed_at),
        Value::Array(changes).to_string(),
        text(&event.before),
        text(&event.after),
        actor,
        attribution,
    ])?;
    Ok(tx.last_insert_rowid())
}

impl InventoryStore for SqliteStore {
    fn load(&self, tenant: &TenantId) -> Result<StoredState, StoreError> {
        Ok(self.load_state(tenant, true)?)
    }

    fn load_index(&self, tenant: &TenantId) -> Result<StoredState, StoreError> {
        Ok(self.load_state(tenant, false)?)
    }

    fn load_resources(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        ids: Option<&[ResourceId]>,
    ) -> Result<HashedResources, StoreError> {
        Ok(self.load_kind(tenant, kind, ids)?)
    }

    fn commit(&self, commit: &PollCommit) -> Result<Vec<i64>, StoreError> {
        Ok(self.commit_poll(commit, None, &[])?)
    }
}
