//! [`MonitorStore`]: what the Monitor stores through — the inventory, the findings and the
//! outbox, with one commit for all three, so a poll's changes, its findings and the alerts they
//! raise are stored together or not at all.

use std::sync::Arc;

use jumpwatch_changes::{InventoryStore, PollCommit, StoreError, StoredState};
use jumpwatch_model::{HashedResources, ResourceId, ResourceKind, TenantId};
use jumpwatch_notify::{MemoryOutbox, NewEntry, Outbox};
use jumpwatch_rules::{AuditCommit, Finding, FindingStore, MemoryFindingStore, Suppression};
use jumpwatch_store::SqliteStore;

/// A store of inventories, findings and alerts, committed together.
pub trait MonitorStore: FindingStore {
    /// Commits a poll, the audit of it and the alerts they raise in one transaction; returns
    /// the change events' sequence numbers.
    fn commit_cycle(
        &self,
        poll: &PollCommit,
        audit: Option<&AuditCommit>,
        alerts: &[NewEntry],
    ) -> Result<Vec<i64>, StoreError>;

    /// The outbox the alerts are enqueued in.
    fn outbox(self: Arc<Self>) -> Arc<dyn Outbox>;
}

impl MonitorStore for SqliteStore {
    fn commit_cycle(
        &self,
        poll: &PollCommit,
        audit: Option<&AuditCommit>,
        alerts: &[NewEntry],
    ) -> Result<Vec<i64>, StoreError> {
        Ok(self.commit_notified(poll, audit, alerts)?)
    }

    fn outbox(self: Arc<Self>) -> Arc<dyn Outbox> {
        self
    }
}

/// Everything in memory: for tests, and for embedders who keep no history.
#[derive(Debug, Default)]
pub struct MemoryMonitorStore {
    findings: MemoryFindingStore,
    outbox: Arc<MemoryOutbox>,
}

impl MemoryMonitorStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The findings store beneath.
    #[must_use]
    pub const fn findings(&self) -> &MemoryFindingStore {
        &self.findings
    }

    /// The outbox beneath.
    #[must_use]
    pub fn memory_outbox(&self) -> &MemoryOutbox {
        &self.outbox
    }
}

impl InventoryStore for MemoryMonitorStore {
    fn load(&self, tenant: &TenantId) -> Result<StoredState, StoreError> {
        self.findings.load(tenant)
    }

    fn load_index(&self, tenant: &TenantId) -> Result<StoredState, StoreError> {
        self.findings.load_index(tenant)
    }

    fn load_resources(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        ids: Option<&[ResourceId]>,
    ) -> Result<HashedResources, StoreError> {
        self.findings.load_resources(tenant, kind, ids)
    }

    fn commit(&self, commit: &PollCommit) -> Result<Vec<i64>, StoreError> {
        self.findings.commit(commit)
    }
}

impl FindingStore for MemoryMonitorStore {
    fn findings(&self, tenant: &TenantId) -> Result<Vec<Finding>, StoreError> {
        self.findings.findings(tenant)
    }

    fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        self.findings.suppressions()
    }

    fn add_suppression(&self, suppression: &Suppression) -> Result<(), StoreError> {
        self.findings.add_suppression(suppression)
    }

    fn commit_audited(
        &self,
        poll: &PollCommit,
        audit: &AuditCommit,
    ) -> Result<Vec<i64>, StoreError> {
        self.findings.commit_audited(poll, audit)
    }

    fn commit_audit(&self, audit: &AuditCommit) -> Result<(), StoreError> {
        self.findings.commit_audit(audit)
    }
}

impl MonitorStore for MemoryMonitorStore {
    fn commit_cycle(
        &self,
        poll: &PollCommit,
        audit: Option<&AuditCommit>,
        alerts: &[NewEntry],
    ) -> Result<Vec<i64>, StoreError> {
        let seqs = match audit {
            Some(audit) => self.findings.commit_audited(poll, audit)?,
            None => self.findings.commit(poll)?,
        };
        self.outbox.enqueue(alerts).map_err(|e| StoreError::new(e.message))?;
        Ok(seqs)
    }

    fn outbox(self: Arc<Self>) -> Arc<dyn Outbox> {
        Arc::clone(&self.outbox) as Arc<dyn Outbox>
    }
}
