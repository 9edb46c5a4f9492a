//! Findings, their transitions and suppressions: the rule engine's
//! [`FindingStore`](jumpwatch_rules::FindingStore) port on SQLite. An audit is written in the
//! transaction of the poll it judges.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use jumpwatch_changes::{PollCommit, StoreError};
use jumpwatch_model::TenantId;
use jumpwatch_rules::{AuditCommit, Finding, FindingStore, Suppression};
use rusqlite::{Row, Transaction, params};
use serde_json::{Value, json};

use crate::{Error, SqliteStore, now_text};

/// Writes an audit's findings (whole rows, or `last_seen` alone for those seen again unchanged)
/// and transitions.
pub(crate) fn write_audit(tx: &Transaction<'_>, audit: &AuditCommit) -> Result<(), Error> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO findings (fingerprint, tenant, rule, rule_type, severity, kind, resource_id, name, state, message, evidence, first_seen, last_seen, resolved_at, reopened, suppression, opened_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (fingerprint) DO UPDATE SET severity = excluded.severity, name = excluded.name,
           state = excluded.state, message = excluded.message, evidence = excluded.evidence,
           last_seen = excluded.last_seen, resolved_at = excluded.resolved_at,
           reopened = excluded.reopened, suppression = excluded.suppression,
           opened_at = excluded.opened_at",
    )?;
    for f in &audit.findings {
        upsert.execute(params![
            f.fingerprint,
            f.tenant.as_str(),
            f.rule,
            f.rule_type.to_string(),
            f.severity.to_string(),
            f.kind.map(jumpwatch_model::ResourceKind::name),
            f.resource,
            f.name,
            f.state.as_str(),
            f.message,
            serde_json::to_string(&f.evidence).unwrap_or_else(|_| "[]".to_owned()),
            now_text(f.first_seen),
            now_text(f.last_seen),
            f.resolved_at.map(now_text),
            f.reopened,
            f.suppression,
            now_text(f.opened_at),
        ])?;
    }
    // The findings seen again unchanged: `last_seen` alone, one statement an instant (there is
    // usually one).
    let mut seen_at: BTreeMap<DateTime<Utc>, Vec<&str>> = BTreeMap::new();
    for (print, at) in &audit.seen {
        seen_at.entry(*at).or_default().push(print);
    }
    let mut touch = tx.prepare_cached(
        "UPDATE findings SET last_seen = ?1 WHERE fingerprint IN (SELECT value FROM json_each(?2))",
    )?;
    for (at, prints) in seen_at {
        touch.execute(params![now_text(at), serde_json::to_string(&prints).unwrap_or_default()])?;
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO finding_transitions (fingerprint, tenant, from_state, to_state, reason, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for t in &audit.transitions {
        insert.execute(params![
            t.fingerprint,
            audit.tenant.as_str(),
            t.from.map(jumpwatch_rules::FindingState::as_str),
            t.to.as_str(),
            t.reason.as_str(),
            now_text(t.at),
        ])?;
    }
    Ok(())
}

fn corrupt(what: &str, id: &str, error: impl std::fmt::Display) -> Error {
    Error::Corrupt { kind: what.to_owned(), id: id.to_owned(), message: error.to_string() }
}

fn finding_of(row: &Row<'_>) -> Result<Finding, Error> {
    let fingerprint: String = row.get(0)?;
    let evidence: String = row.get(10)?;
    let evidence: Value =
        serde_json::from_str(&evidence).map_err(|e| corrupt("finding", &fingerprint, e))?;
    let value = json!({
        "fingerprint": fingerprint,
        "tenant": row.get::<_, String>(1)?,
        "rule": row.get::<_, String>(2)?,
        "rule_type": row.get::<_, String>(3)?,
        "severity": row.get::<_, String>(4)?,
        "kind": row.get::<_, Option<String>>(5)?,
        "resource": row.get::<_, String>(6)?,
        "name": row.get::<_, Option<String>>(7)?,
        "state": row.get::<_, String>(8)?,
        "message": row.get::<_, Option<String>>(9)?,
        "evidence": evidence,
        "first_seen": row.get::<_, String>(11)?,
        "opened_at": row.get::<_, String>(16)?,
        "last_seen": row.get::<_, String>(12)?,
        "resolved_at": row.get::<_, Option<String>>(13)?,
        "reopened": row.get::<_, u32>(14)?,
        "suppression": row.get::<_, Option<String>>(15)?,
    });
    serde_json::from_value(value).map_err(|e| corrupt("finding", &fingerprint, e))
}

fn suppression_of(row: &Row<'_>) -> Result<Suppression, Error> {
    let id: String = row.get(0)?;
    let value = json!({
        "id": id,
        "tenant": row.get::<_, Option<String>>(1)?,
        "rule": row.get::<_, String>(2)?,
        "resource": row.get::<_, Option<String>>(3)?,
        "reason": row.get::<_, String>(4)?,
        "owner": row.get::<_, String>(5)?,
        "expires": row.get::<_, String>(6)?,
        "created": row.get::<_, String>(7)?,
    });
    serde_json::from_value(value).map_err(|e| corrupt("suppression", &id, e))
}

impl SqliteStore {
    /// The findings of a tenant, in any state.
    pub fn load_findings(&self, tenant: &TenantId) -> Result<Vec<Finding>, Error> {
        let db = self.writer()?;
        let mut statement = db.prepare_cached(
            "SELECT fingerprint, tenant, rule, rule_type, severity, kind, resource_id, name, state, message, evidence, first_seen, last_seen, resolved_at, reopened, suppression,
                    COALESCE(opened_at, first_seen)
             FROM findings WHERE tenant = ?1 ORDER BY rule, resource_id",
        )?;
        let mut rows = statement.query([tenant.as_str()])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(finding_of(row)?);
        }
        Ok(out)
    }

    /// Every suppression, expired ones too, oldest first.
    pub fn load_suppressions(&self) -> Result<Vec<Suppression>, Error> {
        let db = self.writer()?;
        let mut statement = db.prepare_cached(
            "SELECT id, tenant, rule, resource, reason, owner, expires, created FROM suppressions ORDER BY created, id",
        )?;
        let mut rows = statement.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(suppression_of(row)?);
        }
        Ok(out)
    }

    /// Stores a suppression.
    pub fn insert_suppression(&self, s: &Suppression) -> Result<(), Error> {
        self.writer()?.execute(
            "INSERT INTO suppressions (id, tenant, rule, resource, reason, owner, expires, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                s.id,
                s.tenant.as_ref().map(TenantId::as_str),
                s.rule,
                s.resource,
                s.reason,
                s.owner,
                now_text(s.expires),
                now_text(s.created),
            ],
        )?;
        Ok(())
    }

    /// The tenants that have a stored snapshot.
    pub fn tenants(&self) -> Result<Vec<TenantId>, Error> {
        let db = self.writer()?;
        let mut statement =
            db.prepare_cached("SELECT DISTINCT tenant FROM snapshot_kinds ORDER BY tenant")?;
        let names: Vec<String> =
            statement.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?;
        Ok(names.into_iter().filter_map(|n| TenantId::new(n).ok()).collect())
    }

    /// When the last poll of a tenant finished.
    pub fn last_poll(&self, tenant: &TenantId) -> Result<Option<DateTime<Utc>>, Error> {
        let db = self.writer()?;
        let at: Option<String> = db.query_row(
            "SELECT max(finished_at) FROM polls WHERE tenant = ?1",
            [tenant.as_str()],
            |row| row.get(0),
        )?;
        Ok(at.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.to_utc()))
    }
}

impl FindingStore for SqliteStore {
    fn findings(&self, tenant: &TenantId) -> Result<Vec<Finding>, StoreError> {
        Ok(self.load_findings(tenant)?)
    }

    fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        Ok(self.load_suppressions()?)
    }

    fn add_suppression(&self, suppression: &Suppression) -> Result<(), StoreError> {
        Ok(self.insert_suppression(suppression)?)
    }

    fn commit_audited(
        &self,
        poll: &PollCommit,
        audit: &AuditCommit,
    ) -> Result<Vec<i64>, StoreError> {
        Ok(self.commit_poll(poll, Some(audit), &[])?)
    }

    fn commit_audit(&self, audit: &AuditCommit) -> Result<(), StoreError> {
        let mut db = self.writer().map_err(StoreError::from)?;
        let tx = db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(Error::from)?;
        write_audit(&tx, audit)?;
        tx.commit().map_err(Error::from)?;
        Ok(())
    }
}
