//! [`Alert`]: what the notifier routes, groups and delivers. Findings, change events, audit-event
//! hits and collection health all become alerts (the `jumpwatch` facade makes them); the notifier
//! knows only their labels, status and text.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
pub use jumpwatch_model::Severity;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Whether the alerted condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It holds (a finding is open, a change happened).
    Firing,
    /// It no longer holds (the finding resolved).
    Resolved,
}

impl Status {
    /// `firing` or `resolved`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an alert is about. A finding or a health condition is a state, repeated while it fires
/// and resolved later; a change or an event happened once and is sent once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    /// A rule's finding opened, reopened or resolved.
    Finding,
    /// A resource changed (from polling).
    Change,
    /// An audit event matched an event rule.
    Event,
    /// Collection or delivery health, a state: authentication failing, a kind incomplete, rate
    /// limiting, a receiver's circuit open.
    Health,
    /// A one-off operational notice: a notification became a dead letter.
    Notice,
}

impl AlertKind {
    /// `finding`, `change`, `event`, `health` or `notice`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Finding => "finding",
            Self::Change => "change",
            Self::Event => "event",
            Self::Health => "health",
            Self::Notice => "notice",
        }
    }

    /// Whether the alert is a state that stays firing until resolved (and may be repeated).
    #[must_use]
    pub const fn is_state(self) -> bool {
        matches!(self, Self::Finding | Self::Health)
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A link to read more (the resource in the JumpCloud console, the rule's documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// What it shows.
    pub title: String,
    /// Where.
    pub url: String,
}

/// One thing to tell someone about.
///
/// Its labels are what routes, silences and inhibitions match: the constructor sets `type`
/// (the [`AlertKind`]), `severity` and `status`; the producer adds `tenant`, `kind`, `rule`,
/// `resource`, `op` and whatever else it knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Alert {
    /// Identity of the alerted condition: a finding's fingerprint, a change event's id, a
    /// health condition's key. The same fingerprint fires and later resolves.
    pub fingerprint: String,
    /// What it is about.
    pub kind: AlertKind,
    /// Firing or resolved.
    pub status: Status,
    /// How bad.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// A few lines: what, where, by whom.
    pub summary: String,
    /// Labels to route and match on.
    pub labels: BTreeMap<String, String>,
    /// Where to read more.
    #[serde(default)]
    pub links: Vec<Link>,
    /// The evidence: field values, the change's field changes, the event.
    #[serde(default)]
    pub evidence: Value,
    /// When the condition started (a finding's first sight, a change's observation).
    pub starts_at: DateTime<Utc>,
    /// When it ended (resolved alerts).
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
}

impl Alert {
    /// An alert with no text beyond its title; the labels `type`, `severity` and `status` set.
    #[must_use]
    pub fn new(
        kind: AlertKind,
        fingerprint: impl Into<String>,
        status: Status,
        severity: Severity,
        title: impl Into<String>,
        starts_at: DateTime<Utc>,
    ) -> Self {
        let mut labels = BTreeMap::new();
        labels.insert("type".to_owned(), kind.as_str().to_owned());
        labels.insert("severity".to_owned(), severity.to_string());
        labels.insert("status".to_owned(), status.as_str().to_owned());
        Self {
            fingerprint: fingerprint.into(),
            kind,
            status,
            severity,
            title: title.into(),
            summary: String::new(),
            labels,
            links: Vec::new(),
            evidence: Value::Null,
            starts_at,
            ends_at: None,
        }
    }

    /// With a summary.
    #[must_use]
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }

    /// With a label (an empty value removes it).
    #[must_use]
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        if value.is_empty() {
            self.labels.remove(&name);
        } else {
            self.labels.insert(name, value);
        }
        self
    }

    /// With a link.
    #[must_use]
    pub fn link(mut self, title: impl Into<String>, url: impl Into<String>) -> Self {
        self.links.push(Link { title: title.into(), url: url.into() });
        self
    }

    /// With evidence.
    #[must_use]
    pub fn evidence(mut self, evidence: Value) -> Self {
        self.evidence = evidence;
        self
    }

    /// Resolved at `at`.
    #[must_use]
    pub fn resolved(mut self, at: DateTime<Utc>) -> Self {
        self.status = Status::Resolved;
        self.ends_at = Some(at);
        self.labels.insert("status".to_owned(), Status::Resolved.as_str().to_owned());
        self
    }

    /// A label's value; a label the alert does not have reads as the empty string, as in
    /// Alertmanager.
    #[must_use]
    pub fn label_value(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }

    /// The key that makes enqueueing idempotent for one receiver: a change or event is sent
    /// once (its fingerprint); a state is sent once per status and start (so a finding that
    /// reopens is sent again, and a re-enqueue of the same transition is not).
    #[must_use]
    pub fn dedup_key(&self) -> String {
        if self.kind.is_state() {
            format!("{}:{}:{}", self.fingerprint, self.status, self.starts_at.timestamp_millis())
        } else {
            self.fingerprint.clone()
        }
    }
}
