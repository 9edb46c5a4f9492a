//! The poll policy: what a poll may report.
//!
//! - **Baseline.** The first complete listing of a kind is a baseline: it becomes the snapshot and
//!   reports no `Created` events (unless asked to).
//! - **Mass-deletion breaker.** A poll that would delete more than `max(10, 20 %)` of a kind holds
//!   those deletions: they are not reported and the resources stay in the snapshot, until the next
//!   poll confirms them (they are still gone) — then they are reported.

use std::collections::BTreeSet;

use jumpwatch_model::ResourceId;

use crate::event::{ChangeEvent, ChangeOp};

/// The rules of what a poll reports.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPolicy {
    /// Report the first listing of a kind as creations (default: no, it is a baseline).
    pub emit_baseline: bool,
    /// The breaker trips above `max(breaker_min, breaker_ratio × previous count)` deletions.
    pub breaker_min: usize,
    /// See [`breaker_min`](Self::breaker_min).
    pub breaker_ratio: f64,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self { emit_baseline: false, breaker_min: 10, breaker_ratio: 0.2 }
    }
}

/// What the policy made of one kind's raw events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KindPlan {
    /// The events to report.
    pub events: Vec<ChangeEvent>,
    /// This was the kind's baseline.
    pub baseline: bool,
    /// Deletions held by the breaker (the resources stay in the snapshot).
    pub held: BTreeSet<ResourceId>,
    /// Deletions held last time and confirmed now.
    pub confirmed: usize,
}

impl PollPolicy {
    /// The most deletions a kind of `previous` resources may have in one poll.
    #[must_use]
    pub fn deletion_threshold(&self, previous: usize) -> usize {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let ratio = (self.breaker_ratio * previous as f64).ceil() as usize;
        self.breaker_min.max(ratio)
    }

    /// Applies the policy to the raw events of one kind.
    ///
    /// `has_snapshot`: a complete listing of the kind was committed before. `previous`: how many
    /// resources the snapshot holds. `held_before`: the deletions held by the last poll.
    #[must_use]
    pub fn plan(
        &self,
        events: Vec<ChangeEvent>,
        has_snapshot: bool,
        previous: usize,
        held_before: &BTreeSet<ResourceId>,
    ) -> KindPlan {
        if !has_snapshot {
            let events = if self.emit_baseline { events } else { Vec::new() };
            return KindPlan { events, baseline: true, ..KindPlan::default() };
        }
        let deletions = events.iter().filter(|e| e.op == ChangeOp::Deleted).count();
        if deletions <= self.deletion_threshold(previous) {
            return KindPlan { events, ..KindPlan::default() };
        }
        let mut plan = KindPlan::default();
        for event in events {
            if event.op != ChangeOp::Deleted {
                plan.events.push(event);
            } else if held_before.contains(&event.resource_id) {
                plan.confirmed += 1;
                plan.events.push(event);
            } else {
                plan.held.insert(event.resource_id.clone());
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use jumpwatch_model::{ResourceKind, TenantId};

    use super::*;

    fn deleted(n: usize) -> Vec<ChangeEvent> {
        (0..n)
            .map(|i| ChangeEvent {
                event_id: uuid::Uuid::now_v7(),
                seq: None,
                tenant: TenantId::new("t").unwrap(),
                kind: ResourceKind::User,
                resource_id: ResourceId::new(format!("u{i}")).unwrap(),
                parent: None,
                name: None,
                op: ChangeOp::Deleted,
                observed_at: Utc::now(),
                changes: Vec::new(),
                before: None,
                after: None,
                actor: None,
                attribution: crate::attribution::Attribution::Unknown,
            })
            .collect()
    }

    #[test]
    fn thresholds() {
        let policy = PollPolicy::default();
        assert_eq!(policy.deletion_threshold(0), 10);
        assert_eq!(policy.deletion_threshold(50), 10);
        assert_eq!(policy.deletion_threshold(51), 11);
        assert_eq!(policy.deletion_threshold(1000), 200);
    }

    #[test]
    fn the_breaker_holds_then_confirms() {
        let policy = PollPolicy::default();
        let plan = policy.plan(deleted(30), true, 100, &BTreeSet::new());
        assert!(plan.events.is_empty());
        assert_eq!(plan.held.len(), 30);
        // Next poll: 25 of them still gone, 5 new deletions.
        let mut next = deleted(25);
        next.extend(deleted(30).into_iter().skip(25).map(|mut e| {
            e.resource_id = ResourceId::new(format!("x{}", e.resource_id)).unwrap();
            e
        }));
        let again = policy.plan(next, true, 100, &plan.held);
        assert_eq!(again.confirmed, 25);
        assert_eq!(again.events.len(), 25);
        assert_eq!(again.held.len(), 5);
        // Few deletions pass straight through.
        assert_eq!(policy.plan(deleted(10), true, 100, &BTreeSet::new()).events.len(), 10);
    }

    #[test]
    fn the_first_listing_is_a_baseline() {
        let plan = PollPolicy::default().plan(deleted(3), false, 0, &BTreeSet::new());
        assert!(plan.baseline && plan.events.is_empty());
        let loud = PollPolicy { emit_baseline: true, ..PollPolicy::default() };
        assert_eq!(loud.plan(deleted(3), false, 0, &BTreeSet::new()).events.len(), 3);
    }
}
