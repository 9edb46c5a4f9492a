//! [`Notification`]: one message to one receiver — a group's alerts, as the channels render them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::alert::{Alert, AlertKind, Severity, Status};

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// New alerts in the group (firing or resolved).
    New,
    /// The group's findings still fire after `repeat_interval`.
    Repeat,
    /// `jumpwatch notify test`.
    Test,
}

impl Reason {
    /// `new`, `repeat` or `test`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Repeat => "repeat",
            Self::Test => "test",
        }
    }
}

/// The version of the JSON envelope (webhook bodies, JSONL lines).
pub const ENVELOPE_VERSION: &str = "1";

/// One message to one receiver: a group's alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Notification {
    /// Stable across the retries of this message (`webhook-id`, the email's Message-ID); a
    /// receiver deduplicates on it.
    pub id: String,
    /// The receiver.
    pub receiver: String,
    /// The group's key.
    pub group_key: String,
    /// The grouping labels' values.
    pub group_labels: BTreeMap<String, String>,
    /// Why it is sent.
    pub reason: Reason,
    /// The alerts: firing first, then resolved, each in the order they were raised.
    pub alerts: Vec<Alert>,
    /// When it was first attempted.
    pub created_at: DateTime<Utc>,
}

impl Notification {
    /// A notification; alerts are put firing first, keeping their order otherwise.
    #[must_use]
    pub fn new(
        id: impl Into<String>,
        receiver: impl Into<String>,
        group_key: impl Into<String>,
        group_labels: BTreeMap<String, String>,
        reason: Reason,
        mut alerts: Vec<Alert>,
        created_at: DateTime<Utc>,
    ) -> Self {
        alerts.sort_by_key(|a| a.status == Status::Resolved);
        Self {
            id: id.into(),
            receiver: receiver.into(),
            group_key: group_key.into(),
            group_labels,
            reason,
            alerts,
            created_at,
        }
    }

    /// The firing alerts.
    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| a.status == Status::Firing)
    }

    /// The resolved alerts.
    pub fn resolved(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| a.status == Status::Resolved)
    }

    /// Firing when any alert fires.
    #[must_use]
    pub fn status(&self) -> Status {
        if self.firing().next().is_some() { Status::Firing } else { Status::Resolved }
    }

    /// The highest severity among the firing alerts (or all, when none fires).
    #[must_use]
    pub fn severity(&self) -> Severity {
        let firing = self.firing().map(|a| a.severity).max();
        firing.or_else(|| self.alerts.iter().map(|a| a.severity).max()).unwrap_or(Severity::Info)
    }

    /// One line that says what the message holds: `acme: 3 findings firing, 1 resolved, 2
    /// changes`.
    #[must_use]
    pub fn headline(&self) -> String {
        let count = |kind: AlertKind, status: Status| {
            self.alerts.iter().filter(|a| a.kind == kind && a.status == status).count()
        };
        let mut parts = Vec::new();
        for (kind, singular, plural) in [
            (AlertKind::Finding, "finding", "findings"),
            (AlertKind::Health, "health alert", "health alerts"),
        ] {
            let firing = count(kind, Status::Firing);
            let resolved = count(kind, Status::Resolved);
            if firing > 0 {
                parts.push(format!(
                    "{firing} {} firing",
                    if firing == 1 { singular } else { plural }
                ));
            }
            if resolved > 0 {
                parts.push(format!(
                    "{resolved} {} resolved",
                    if resolved == 1 { singular } else { plural }
                ));
            }
        }
        for (kind, singular, plural) in
            [(AlertKind::Change, "change", "changes"), (AlertKind::Event, "event", "events")]
        {
            let n = self.alerts.iter().filter(|a| a.kind == kind).count();
            if n > 0 {
                parts.push(format!("{n} {}", if n == 1 { singular } else { plural }));
            }
        }
        let scope: Vec<&str> =
            self.group_labels.values().filter(|v| !v.is_empty()).map(String::as_str).collect();
        let what = if parts.is_empty() { "nothing".to_owned() } else { parts.join(", ") };
        let prefix = if self.reason == Reason::Repeat { "still firing: " } else { "" };
        if scope.is_empty() {
            format!("{prefix}{what}")
        } else {
            format!("{}: {prefix}{what}", scope.join(" / "))
        }
    }

    /// Jumpwatch's JSON envelope: `version`, `type`, `id`, `receiver`, `group_key`,
    /// `group_labels`, `reason`, `status`, and the alerts as `items`. Webhook bodies and JSONL
    /// lines are this.
    #[must_use]
    pub fn envelope(&self) -> Value {
        json!({
            "version": ENVELOPE_VERSION,
            "type": "jumpwatch.notification",
            "id": self.id,
            "receiver": self.receiver,
            "group_key": self.group_key,
            "group_labels": self.group_labels,
            "reason": self.reason.as_str(),
            "status": self.status().as_str(),
            "headline": self.headline(),
            "created_at": self.created_at,
            "items": self.alerts,
        })
    }

    /// A sample notification, for `jumpwatch notify test`.
    #[must_use]
    pub fn sample(receiver: &str, now: DateTime<Utc>) -> Self {
        let alert = Alert::new(
            AlertKind::Finding,
            "jumpwatch-test",
            Status::Firing,
            Severity::Info,
            "Jumpwatch test notification",
            now,
        )
        .summary(format!("A test of the receiver {receiver}: if you read this, it works."))
        .label("tenant", "test")
        .label("rule", "jumpwatch.test");
        let labels = BTreeMap::from([("tenant".to_owned(), "test".to_owned())]);
        Self::new(
            format!("test-{}", uuid::Uuid::now_v7()),
            receiver,
            "test",
            labels,
            Reason::Test,
            vec![alert],
            now,
        )
    }
}
