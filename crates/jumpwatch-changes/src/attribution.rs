//! Who made each change: a change seen by polling, linked to the Directory Insights events that
//! explain it.
//!
//! An audit event explains a change when, within the poll's window of events:
//!
//! - it succeeded (or does not say);
//! - it is about the changed resource: the same id, or for a child or a relation its parent or
//!   target (an association event names both ends) — or the change is a deletion that follows
//!   from the deletion it records (a device's System Insights rows and memberships go with it);
//!   or, when nothing names it directly, a relation that follows from an association the event
//!   records (a user who joins a group bound to devices gets a binding to each);
//! - where it lists the fields it changed, one of them is a field the poll saw change.
//!
//! Of the events that explain a change, those whose type names the same operation (`_create`,
//! `_update`, `_delete`) are preferred; the change's actor is the latest one's initiator. A
//! change that no event explains is unattributed: made outside the API and the console (the
//! agent, a directory sync) — or an event the log has not indexed yet.

use chrono::{DateTime, Utc};
use jumpwatch_model::event::DirectoryEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{Actor, ChangeEvent, ChangeOp};
use crate::insights::event_key;

/// Whether a change was linked to the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Attribution {
    /// The audit log was not read (not configured, or the read failed).
    #[default]
    Unknown,
    /// These events explain it (their keys, oldest first).
    Attributed {
        /// The events' ids.
        events: Vec<String>,
    },
    /// No event explains it.
    Unattributed,
}

impl Attribution {
    /// `unknown`, `attributed` or `unattributed`.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Attributed { .. } => "attributed",
            Self::Unattributed => "unattributed",
        }
    }
}

/// The actor of an audit event: its initiator, client address and user agent.
#[must_use]
pub fn actor_of(event: &DirectoryEvent) -> Option<Actor> {
    let initiator = event.initiated_by.as_ref()?;
    let user_agent = match event.raw.get("useragent") {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Object(ua)) => {
            let part = |k: &str| ua.get(k).and_then(Value::as_str).unwrap_or_default();
            let text = format!("{} {} ({})", part("name"), part("version"), part("os"));
            Some(text.trim().to_owned()).filter(|t| t != "()")
        }
        _ => None,
    };
    Some(Actor {
        kind: initiator.kind.clone(),
        id: initiator.id.clone(),
        email: initiator.email.clone(),
        ip: event.client_ip.clone(),
        user_agent,
    })
}

/// The ids an event is about: its resource, and both ends of an association.
fn subjects(event: &DirectoryEvent) -> Vec<&str> {
    let mut ids: Vec<&str> = event.resource.iter().filter_map(|r| r.id.as_deref()).collect();
    if let Some(connection) = event.raw.pointer("/association/connection") {
        for end in ["from", "to"] {
            if let Some(id) =
                connection.pointer(&format!("/{end}/object_id")).and_then(Value::as_str)
            {
                ids.push(id);
            }
        }
    }
    ids
}

/// Whether `change` is a deletion that follows from the deletion `event` records: a device's
/// System Insights rows and group memberships go with the device.
fn cascades(event: &DirectoryEvent, change: &ChangeEvent) -> bool {
    if change.op != ChangeOp::Deleted
        || !event.event_type.as_deref().is_some_and(|t| t.ends_with("_delete"))
    {
        return false;
    }
    let Some(deleted) = event.resource.as_ref().and_then(|r| r.id.as_deref()) else { return false };
    change.parent.as_ref().is_some_and(|p| p.as_str() == deleted)
        || change.resource_id.as_str().split(':').any(|part| part == deleted)
}

fn verb(op: ChangeOp) -> &'static str {
    match op {
        ChangeOp::Created => "_create",
        ChangeOp::Updated => "_update",
        ChangeOp::Deleted => "_delete",
    }
}

/// Whether `event` explains `change`.
fn explains(event: &DirectoryEvent, change: &ChangeEvent) -> bool {
    if event.success == Some(false) {
        return false;
    }
    let ids = subjects(event);
    let resource = change.resource_id.as_str();
    // A relation's id is `<parent>:<target>`: an association event names both.
    let about = match (&change.parent, resource.split_once(':')) {
        (Some(parent), Some((_, target))) => {
            ids.contains(&parent.as_str()) && (ids.contains(&target) || ids.len() == 1)
        }
        (Some(parent), None) => ids.contains(&resource) || ids.contains(&parent.as_str()),
        (None, _) => ids.contains(&resource),
    };
    if !about {
        return cascades(event, change);
    }
    if event.changes.is_empty() || change.changes.is_empty() {
        return true;
    }
    let fields = change.changed_fields();
    event.changes.iter().any(|c| {
        let top = c.field.split(['.', '[']).next().unwrap_or(&c.field);
        fields.contains(&top)
    })
}

/// Whether `event`, an association made or removed, explains `change`, a relation that follows
/// from it: a user who joins a group bound to devices gets a binding to each of them.
fn derives(event: &DirectoryEvent, change: &ChangeEvent) -> bool {
    if event.success == Some(false) || event.raw.get("association").is_none() {
        return false;
    }
    let Some((parent, target)) = change.resource_id.as_str().split_once(':') else { return false };
    let ids = subjects(event);
    ids.contains(&parent) || ids.contains(&target)
}

/// Links each change to the events that explain it (see the module's documentation), setting
/// its actor and [`Attribution`]. `events` are the audit events of the poll's window.
pub fn attribute(changes: &mut [ChangeEvent], events: &[DirectoryEvent]) {
    for change in changes {
        let mut matching: Vec<&DirectoryEvent> =
            events.iter().filter(|e| explains(e, change)).collect();
        if matching.is_empty() {
            matching = events.iter().filter(|e| derives(e, change)).collect();
        }
        // A relation: an event that names both its ends (the association itself) says more
        // than one that names only the parent (an edit of the group, say).
        if let (Some(_), Some((_, target))) =
            (&change.parent, change.resource_id.as_str().split_once(':'))
        {
            let both: Vec<&DirectoryEvent> =
                matching.iter().copied().filter(|e| subjects(e).contains(&target)).collect();
            if !both.is_empty() {
                matching = both;
            }
        }
        let same_op: Vec<&DirectoryEvent> = matching
            .iter()
            .copied()
            .filter(|e| e.event_type.as_deref().is_some_and(|t| t.ends_with(verb(change.op))))
            .collect();
        if !same_op.is_empty() {
            matching = same_op;
        }
        matching.sort_by_key(|e| e.timestamp.as_ref().map(jumpwatch_model::Timestamp::to_utc));
        match matching.last() {
            Some(latest) => {
                change.actor = actor_of(latest);
                change.attribution = Attribution::Attributed {
                    events: matching.iter().map(|e| event_key(e)).collect(),
                };
            }
            None => change.attribution = Attribution::Unattributed,
        }
    }
}

/// The events of a window, by time: those at or after `from`.
#[must_use]
pub fn in_window(events: &[DirectoryEvent], from: DateTime<Utc>) -> Vec<DirectoryEvent> {
    events
        .iter()
        .filter(|e| e.timestamp.as_ref().is_none_or(|t| t.to_utc() >= from))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use serde_json::json;

    use super::*;

    fn change(
        kind: jumpwatch_model::ResourceKind,
        id: &str,
        parent: Option<&str>,
        op: ChangeOp,
    ) -> ChangeEvent {
        let mut inventory =
            jumpwatch_model::Inventory::new(jumpwatch_model::TenantId::new("t").unwrap());
        let _ = &mut inventory;
        ChangeEvent {
            event_id: uuid::Uuid::now_v7(),
            seq: None,
            tenant: jumpwatch_model::TenantId::new("t").unwrap(),
            kind,
            resource_id: jumpwatch_model::ResourceId::new(id).unwrap(),
            parent: parent.map(|p| jumpwatch_model::ResourceId::new(p).unwrap()),
            name: None,
            op,
            observed_at: Utc::now(),
            changes: Vec::new(),
            before: None,
            after: None,
            actor: None,
            attribution: Attribution::Unknown,
        }
    }

    #[test]
    fn a_group_membership_explains_the_bindings_it_brings() {
        let event = DirectoryEvent::from_raw(json!({
            "id": "e1", "event_type": "association_change", "success": true, "timestamp": "2026-12-05T01:23:03.298Z",
            "association": {"op": "add", "connection": {"from": {"object_id": "g1", "type": "user_group"}, "to": {"object_id": "u1", "type": "user"}}},
            "changes": [{"field": "attributes", "from": null, "to": null}],
            "initiated_by": {"email": "keiko@example.com", "type": "admin", "id": "a1"},
        }));
        let mut changes = vec![
            change(
                jumpwatch_model::ResourceKind::SystemUserBinding,
                "s1:u1",
                Some("s1"),
                ChangeOp::Created,
            ),
            change(
                jumpwatch_model::ResourceKind::SystemUserBinding,
                "s1:u2",
                Some("s1"),
                ChangeOp::Created,
            ),
        ];
        attribute(&mut changes, &[event]);
        assert_eq!(changes[0].attribution, Attribution::Attributed { events: vec!["e1".into()] });
        assert_eq!(changes[0].actor.as_ref().unwrap().email.as_deref(), Some("keiko@example.com"));
        assert_eq!(changes[1].attribution, Attribution::Unattributed);
    }

    #[test]
    fn a_membership_removed_is_the_association_s_not_a_later_edit_of_the_group() {
        let removed = DirectoryEvent::from_raw(json!({
            "id": "e1", "event_type": "association_change", "success": true, "timestamp": "2026-12-05T01:23:03Z",
            "association": {"op": "remove", "connection": {"from": {"object_id": "g1", "type": "user_group"}, "to": {"object_id": "u1", "type": "user"}}},
            "initiated_by": {"email": "kofi@example.com", "type": "admin", "id": "a1"},
        }));
        let edited = DirectoryEvent::from_raw(json!({
            "id": "e2", "event_type": "usergroup_update", "success": true, "timestamp": "2026-12-05T01:24:00Z",
            "resource": {"id": "g1", "type": "user_group"},
            "changes": [{"field": "description", "from": "a", "to": "b"}],
            "initiated_by": {"email": "larry@example.com", "type": "admin", "id": "a2"},
        }));
        let mut changes = vec![change(
            jumpwatch_model::ResourceKind::UserGroupMember,
            "g1:u1",
            Some("g1"),
            ChangeOp::Deleted,
        )];
        attribute(&mut changes, &[removed, edited]);
        assert_eq!(changes[0].actor.as_ref().unwrap().email.as_deref(), Some("kofi@example.com"));
        assert_eq!(changes[0].attribution, Attribution::Attributed { events: vec!["e1".into()] });
    }
}
