//! The storage port for findings and suppressions, beside the inventory's: the findings of an
//! audit are committed in the same transaction as the poll they judge. `jumpwatch-store`
//! implements it on SQLite; [`MemoryFindingStore`] is the in-memory test double.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use jumpwatch_changes::{InventoryStore, MemoryStore, PollCommit, StoreError, StoredState};
use jumpwatch_model::{HashedResources, ResourceId, ResourceKind, TenantId};

use crate::finding::{Finding, Transition};
use crate::suppression::Suppression;

/// What an audit writes: the findings that changed and their transitions.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuditCommit {
    /// The tenant.
    pub tenant: TenantId,
    /// The findings that changed (whole).
    pub findings: Vec<Finding>,
    /// The open findings seen again unchanged, each with its new `last_seen`: only that is
    /// written (a tenant's open findings fail again at every poll, and most are as they were).
    pub seen: Vec<(String, DateTime<Utc>)>,
    /// Their moves between states.
    pub transitions: Vec<Transition>,
}

impl AuditCommit {
    /// The changes of an audit.
    #[must_use]
    pub fn of(tenant: TenantId, audit: &crate::audit::Audit) -> Self {
        Self {
            tenant,
            findings: audit.findings.changed_findings().cloned().collect(),
            seen: audit
                .findings
                .seen_findings()
                .map(|f| (f.fingerprint.clone(), f.last_seen))
                .collect(),
            transitions: audit.findings.transitions.clone(),
        }
    }
}

/// A store of findings and suppressions, and of the inventory they judge.
pub trait FindingStore: InventoryStore {
    /// Every finding of a tenant, in any state.
    fn findings(&self, tenant: &TenantId) -> Result<Vec<Finding>, StoreError>;

    /// Every suppression, expired ones too.
    fn suppressions(&self) -> Result<Vec<Suppression>, StoreError>;

    /// Adds a suppression.
    fn add_suppression(&self, suppression: &Suppression) -> Result<(), StoreError>;

    /// Commits a poll and the audit of it in one transaction. Returns the change events' sequence
    /// numbers, as [`InventoryStore::commit`] does.
    fn commit_audited(
        &self,
        poll: &PollCommit,
        audit: &AuditCommit,
    ) -> Result<Vec<i64>, StoreError>;

    /// Commits an audit alone (of an inventory already stored).
    fn commit_audit(&self, audit: &AuditCommit) -> Result<(), StoreError>;
}

/// Findings and suppressions in memory, beside a [`MemoryStore`].
#[derive(Debug, Default)]
pub struct MemoryFindingStore {
    inventory: MemoryStore,
    state: Mutex<Findings>,
}

#[derive(Debug, Default)]
struct Findings {
    findings: HashMap<TenantId, BTreeMap<String, Finding>>,
    transitions: Vec<Transition>,
    suppressions: Vec<Suppression>,
}

fn poisoned() -> StoreError {
    StoreError::new("the memory store's lock is poisoned")
}

impl MemoryFindingStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Every transition committed, in order.
    #[must_use]
    pub fn transitions(&self) -> Vec<Transition> {
        self.state.lock().map(|s| s.transitions.clone()).unwrap_or_default()
    }

    /// The inventory store beneath.
    #[must_use]
    pub const fn inventory(&self) -> &MemoryStore {
        &self.inventory
    }

    fn write(&self, audit: &AuditCommit) -> Result<(), StoreError> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        let findings = state.findings.entry(audit.tenant.clone()).or_default();
        for finding in &audit.findings {
            findings.insert(finding.fingerprint.clone(), finding.clone());
        }
        for (print, at) in &audit.seen {
            if let Some(finding) = findings.get_mut(print) {
                finding.last_seen = *at;
            }
        }
        state.transitions.extend(audit.transitions.iter().cloned());
        Ok(())
    }
}

impl InventoryStore for MemoryFindingStore {
    fn load(&self, tenant: &TenantId) -> Result<StoredState, StoreError> {
        self.inventory.load(tenant)
    }

    fn load_index(&self, tenant: &TenantId) -> Result<StoredState, StoreError> {
        self.inventory.load_index(tenant)
    }

    fn load_resources(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        ids: Option<&[ResourceId]>,
    ) -> Result<HashedResources, StoreError> {
        self.inventory.load_resources(tenant, kind, ids)
    }

    fn commit(&self, commit: &PollCommit) -> Result<Vec<i64>, StoreError> {
        self.inventory.commit(commit)
    }
}

impl FindingStore for MemoryFindingStore {
    fn findings(&self, tenant: &TenantId) -> Result<Vec<Finding>, StoreError> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        Ok(state.findings.get(tenant).map(|f| f.values().cloned().collect()).unwrap_or_default())
    }

    fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        Ok(self.state.lock().map_err(|_| poisoned())?.suppressions.clone())
    }

    fn add_suppression(&self, suppression: &Suppression) -> Result<(), StoreError> {
        self.state.lock().map_err(|_| poisoned())?.suppressions.push(suppression.clone());
        Ok(())
    }

    fn commit_audited(
        &self,
        poll: &PollCommit,
        audit: &AuditCommit,
    ) -> Result<Vec<i64>, StoreError> {
        let seqs = self.inventory.commit(poll)?;
        self.write(audit)?;
        Ok(seqs)
    }

    fn commit_audit(&self, audit: &AuditCommit) -> Result<(), StoreError> {
        self.write(audit)
    }
}
