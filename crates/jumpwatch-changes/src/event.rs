//! [`ChangeEvent`]: what changed in one resource between two polls, field by field.

use std::fmt;

use chrono::{DateTime, Utc};
use jumpwatch_model::{ResourceId, ResourceKind, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// What happened to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangeOp {
    /// It appeared.
    Created,
    /// Some of its fields changed.
    Updated,
    /// It disappeared.
    Deleted,
}

impl ChangeOp {
    /// `created`, `updated` or `deleted`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        }
    }
}

impl fmt::Display for ChangeOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Segment {
    /// An object member.
    Key(String),
    /// An element of an ordered array, by position.
    Index(usize),
    /// The element of a keyed array whose `field` has this value (`attributes[name=sudo]`).
    Keyed {
        /// The key field.
        field: String,
        /// Its value.
        value: Value,
    },
    /// A member of a set-like array (the value is in the change's `before` or `after`).
    Member,
}

/// Where a field change is: a path through the document that names keyed elements by key, not
/// by position.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// The path one step further.
    #[must_use]
    pub fn child(&self, segment: Segment) -> Self {
        let mut segments = self.0.clone();
        segments.push(segment);
        Self(segments)
    }

    /// The path as it is displayed and stored: `attributes[name=sudo].value`, `tags[]`,
    /// `networkInterfaces[1].address`.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        for segment in &self.0 {
            match segment {
                Segment::Key(key) => jumpwatch_model::path::push_key(&mut out, key),
                Segment::Index(index) => jumpwatch_model::path::push_index(&mut out, *index),
                Segment::Keyed { field, value } => {
                    out.push('[');
                    out.push_str(field);
                    out.push('=');
                    match value {
                        Value::String(s) => out.push_str(s),
                        other => out.push_str(&other.to_string()),
                    }
                    out.push(']');
                }
                Segment::Member => out.push_str("[]"),
            }
        }
        out
    }

    /// The first key: the top-level field a change is in.
    #[must_use]
    pub fn top(&self) -> Option<&str> {
        match self.0.first() {
            Some(Segment::Key(key)) => Some(key),
            _ => None,
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// How a field changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldOp {
    /// It was not there before.
    Added,
    /// It is not there any more.
    Removed,
    /// Its value changed.
    Modified,
}

/// One field's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Where.
    pub path: FieldPath,
    /// How.
    pub op: FieldOp,
    /// The value before (`None` when added). Secrets are shown as their hash marker.
    pub before: Option<Value>,
    /// The value after (`None` when removed).
    pub after: Option<Value>,
}

impl FieldChange {
    /// The same change seen backwards.
    #[must_use]
    pub fn inverse(&self) -> Self {
        let op = match self.op {
            FieldOp::Added => FieldOp::Removed,
            FieldOp::Removed => FieldOp::Added,
            FieldOp::Modified => FieldOp::Modified,
        };
        Self { path: self.path.clone(), op, before: self.after.clone(), after: self.before.clone() }
    }
}

/// Who made a change, from the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Actor {
    /// `admin`, `api`, `user`, `system`...
    pub kind: Option<String>,
    /// The administrator's or key's id.
    pub id: Option<String>,
    /// The email address.
    pub email: Option<String>,
    /// The client's IP address.
    pub ip: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
}

/// A change of one resource between two polls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChangeEvent {
    /// A UUIDv7: unique, and ordered by time; also the idempotency key of notifications.
    pub event_id: Uuid,
    /// The store's sequence number, once committed.
    pub seq: Option<i64>,
    /// The tenant.
    pub tenant: TenantId,
    /// The kind.
    pub kind: ResourceKind,
    /// The resource's id.
    pub resource_id: ResourceId,
    /// The parent, for child kinds and relations.
    pub parent: Option<ResourceId>,
    /// The display name (after the change; before it for a deletion).
    pub name: Option<String>,
    /// What happened.
    pub op: ChangeOp,
    /// When the poll that saw it ran.
    pub observed_at: DateTime<Utc>,
    /// The fields that changed (empty for creations and deletions).
    pub changes: Vec<FieldChange>,
    /// The normalized document before (secrets as hash markers).
    pub before: Option<Value>,
    /// The normalized document after (secrets as hash markers).
    pub after: Option<Value>,
    /// Who made it, when the audit log says.
    pub actor: Option<Actor>,
    /// Whether the audit log explains it, and with which events.
    #[serde(default)]
    pub attribution: crate::attribution::Attribution,
}

impl ChangeEvent {
    /// The top-level fields that changed, once each, in order.
    #[must_use]
    pub fn changed_fields(&self) -> Vec<&str> {
        let mut fields: Vec<&str> = Vec::new();
        for change in &self.changes {
            if let Some(top) = change.path.top()
                && !fields.contains(&top)
            {
                fields.push(top);
            }
        }
        fields
    }
}
