//! [`DirectoryEvent`]: a Directory Insights audit event, kept as raw JSON with a typed view of the
//! fields every event shares.
//!
//! The shape of events changes between services and over time: `changes` is sometimes an array of
//! `{field, from, to}` and sometimes an object, `from` and `to` can be of any type, `provider` is
//! often `null`. The view reads what it can and never fails; the raw event is always kept.

use serde_json::Value;

use crate::Timestamp;

/// Who or what made an audited change.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Initiator {
    /// The id of the administrator, user or API key.
    pub id: Option<String>,
    /// `admin`, `user`, `api`, `system`...
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The email address, when the event has one.
    pub email: Option<String>,
}

/// The object an event is about.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct EventResource {
    /// Its id.
    pub id: Option<String>,
    /// Its type (`user`, `system`, `user_group`...).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Its name, when the event has one (`username`, `displayName`, `name`).
    pub name: Option<String>,
}

/// One field an audited update changed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EventChange {
    /// The field (`sudo`, `attributes.department`).
    pub field: String,
    /// The value before, if the event says.
    pub from: Option<Value>,
    /// The value after, if the event says.
    pub to: Option<Value>,
}

/// A Directory Insights event.
///
/// ```
/// use jumpwatch_model::event::DirectoryEvent;
/// let raw = serde_json::json!({
///     "id": "e1", "event_type": "user_update", "service": "directory",
///     "timestamp": "2026-11-28T10:00:00.123Z",
///     "initiated_by": {"id": "a1", "type": "admin", "email": "it@example.com"},
///     "resource": {"id": "u1", "type": "user", "username": "ada"},
///     "changes": {"sudo": {"from": false, "to": true}},
///     "success": true,
/// });
/// let event = DirectoryEvent::from_raw(raw);
/// assert_eq!(event.changes[0].field, "sudo");
/// assert_eq!(event.initiated_by.unwrap().email.as_deref(), Some("it@example.com"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DirectoryEvent {
    /// The event's id.
    pub id: Option<String>,
    /// What happened (`user_update`, `admin_login_attempt`...).
    pub event_type: Option<String>,
    /// The service that logged it (`directory`, `sso`, `systems`...).
    pub service: Option<String>,
    /// When it happened.
    pub timestamp: Option<Timestamp>,
    /// Who did it.
    pub initiated_by: Option<Initiator>,
    /// What it was done to.
    pub resource: Option<EventResource>,
    /// The fields an update changed.
    pub changes: Vec<EventChange>,
    /// Whether it succeeded.
    pub success: Option<bool>,
    /// The organization's id.
    pub organization: Option<String>,
    /// The client's IP address.
    pub client_ip: Option<String>,
    /// The event as JumpCloud sent it.
    pub raw: Value,
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl DirectoryEvent {
    /// Reads an event. Never fails: what cannot be read is left `None`, and `raw` keeps it all.
    #[must_use]
    pub fn from_raw(raw: Value) -> Self {
        let get = |key: &str| raw.get(key);
        let initiated_by = get("initiated_by").filter(|v| v.is_object()).map(|v| Initiator {
            id: text(v.get("id")),
            kind: text(v.get("type")),
            email: text(v.get("email")).or_else(|| text(v.get("username"))),
        });
        let resource = get("resource").filter(|v| v.is_object()).map(|v| EventResource {
            id: text(v.get("id")),
            kind: text(v.get("type")),
            name: ["name", "username", "displayName", "hostname"]
                .iter()
                .find_map(|key| text(v.get(*key))),
        });
        let timestamp = match get("timestamp") {
            Some(Value::String(s)) => Timestamp::parse(s),
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(Timestamp::from_utc),
            _ => None,
        };
        let success = match get("success") {
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        Self {
            id: text(get("id")),
            event_type: text(get("event_type")),
            service: text(get("service")),
            timestamp,
            initiated_by,
            resource,
            changes: changes(get("changes")),
            success,
            organization: text(get("organization")),
            client_ip: text(get("client_ip")),
            raw,
        }
    }
}

/// `changes` as an array of `{field, from, to}`, or an object of `field: {from, to}` (or of
/// `field: value`).
fn changes(value: Option<&Value>) -> Vec<EventChange> {
    let some = |v: Option<&Value>| v.cloned().filter(|v| !v.is_null());
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| {
                let field = text(item.get("field"))
                    .or_else(|| text(item.get("key")))
                    .or_else(|| text(item.get("name")))?;
                Some(EventChange { field, from: some(item.get("from")), to: some(item.get("to")) })
            })
            .collect(),
        Some(Value::Object(object)) => object
            .iter()
            .map(|(field, change)| match change {
                Value::Object(pair) if pair.contains_key("from") || pair.contains_key("to") => {
                    EventChange {
                        field: field.clone(),
                        from: some(pair.get("from")),
                        to: some(pair.get("to")),
                    }
                }
                other => EventChange { field: field.clone(), from: None, to: some(Some(other)) },
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_changes_in_every_known_shape() {
        let array =
            json!({"changes": [{"field": "sudo", "from": false, "to": true}, {"no": "field"}]});
        let event = DirectoryEvent::from_raw(array);
        assert_eq!(
            event.changes,
            vec![EventChange {
                field: "sudo".into(),
                from: Some(json!(false)),
                to: Some(json!(true))
            }]
        );
        let object = json!({"changes": {"department": {"from": {"a": 1}, "to": "Sales"}, "state": "SUSPENDED"}});
        let event = DirectoryEvent::from_raw(object);
        assert_eq!(event.changes.len(), 2);
        assert_eq!(event.changes[1].to, Some(json!("SUSPENDED")));
    }

    #[test]
    fn never_fails_on_odd_events() {
        for raw in [
            json!(null),
            json!([1]),
            json!({"timestamp": 12, "success": "yes", "initiated_by": "x"}),
            json!({"changes": 5}),
        ] {
            let event = DirectoryEvent::from_raw(raw.clone());
            assert_eq!(event.raw, raw);
            assert!(event.changes.is_empty());
        }
        let event = DirectoryEvent::from_raw(json!({"timestamp": 1_576_181_718_000_i64}));
        assert_eq!(event.timestamp.unwrap().to_utc().timestamp(), 1_576_181_718);
    }
}
