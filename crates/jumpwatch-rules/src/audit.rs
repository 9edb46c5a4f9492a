//! [`Audit`]: one evaluation of every rule — state rules over the inventory, change rules over
//! the poll's changes, event rules over the audit events — reconciled with the stored findings
//! and the suppressions.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use jumpwatch_changes::ChangeEvent;
use jumpwatch_model::event::DirectoryEvent;
use jumpwatch_model::{Inventory, ResourceId};

use crate::engine::{Engine, RuleResult};
use crate::finding::{Finding, Lifecycle, Reconciled, reconcile};
use crate::rule::{Outcome, RuleInfo};
use crate::suppression::Suppression;

/// What an audit looks at.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AuditInput<'a> {
    /// The tenant's inventory after the poll.
    pub inventory: &'a Inventory,
    /// The poll's changes.
    pub changes: &'a [ChangeEvent],
    /// Directory Insights events since the last audit.
    pub events: &'a [DirectoryEvent],
    /// The suppressions.
    pub suppressions: &'a [Suppression],
    /// The instant of the evaluation.
    pub now: DateTime<Utc>,
}

impl<'a> AuditInput<'a> {
    /// An audit of an inventory alone, at `now`.
    #[must_use]
    pub const fn new(inventory: &'a Inventory, now: DateTime<Utc>) -> Self {
        Self { inventory, changes: &[], events: &[], suppressions: &[], now }
    }

    /// With the poll's changes.
    #[must_use]
    pub const fn changes(mut self, changes: &'a [ChangeEvent]) -> Self {
        self.changes = changes;
        self
    }

    /// With Directory Insights events.
    #[must_use]
    pub const fn events(mut self, events: &'a [DirectoryEvent]) -> Self {
        self.events = events;
        self
    }

    /// With the suppressions.
    #[must_use]
    pub const fn suppressions(mut self, suppressions: &'a [Suppression]) -> Self {
        self.suppressions = suppressions;
        self
    }
}

/// The outcome of an audit.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Audit {
    /// Every rule's verdict on every subject.
    pub results: Vec<RuleResult>,
    /// The findings after it, and what changed.
    pub findings: Reconciled,
}

impl Audit {
    /// How many results had each outcome.
    #[must_use]
    pub fn counts(&self) -> HashMap<Outcome, usize> {
        let mut counts = HashMap::new();
        for result in &self.results {
            *counts.entry(result.outcome).or_default() += 1;
        }
        counts
    }
}

impl Engine {
    /// Evaluates every rule and reconciles the findings stored before (`previous`).
    #[must_use]
    pub fn audit(&self, input: AuditInput<'_>, previous: Vec<Finding>) -> Audit {
        let mut results = self.evaluate_state(input.inventory, input.now);
        results.extend(self.evaluate_changes(input.changes, input.inventory, input.now));
        results.extend(self.evaluate_events(input.events, Some(input.inventory), input.now));
        let rules: HashMap<&str, &RuleInfo> = self.rules().map(|r| (r.id.as_str(), r)).collect();
        let exists = |kind, id: &str| {
            ResourceId::new(id).is_ok_and(|id| input.inventory.get(kind, &id).is_some())
        };
        let lifecycle = Lifecycle {
            tenant: input.inventory.tenant(),
            now: input.now,
            rules: &rules,
            exists: &exists,
            suppressions: input.suppressions,
        };
        let findings = reconcile(previous, &results, &lifecycle);
        Audit { results, findings }
    }
}
