//! Silences and inhibitions: alerts that are routed but not sent.
//!
//! A [`Silence`] mutes the alerts its matchers pass between its start and end (made by a person,
//! with a comment, through `jumpwatch silence add`). An [`Inhibition`] mutes alerts while another
//! alert fires: "tenant unreachable" mutes the tenant's other alerts. Both are checked when a
//! group is delivered, not when it is enqueued, so a silence made after an alert was queued still
//! mutes it. Muted alerts are kept in the outbox, marked, not deleted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Status};
use crate::matcher::Matchers;

/// A time-boxed mute.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Silence {
    /// Its id.
    pub id: String,
    /// The alerts it mutes.
    pub matchers: Matchers,
    /// From when.
    pub starts_at: DateTime<Utc>,
    /// Until when.
    pub ends_at: DateTime<Utc>,
    /// Who made it.
    pub author: String,
    /// Why.
    pub comment: String,
}

/// A silence cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("silence: {0}")]
pub struct SilenceError(pub String);

impl Silence {
    /// A silence; it needs at least one matcher, an author, a comment, and an end after its
    /// start.
    pub fn new(
        matchers: Matchers,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        author: impl Into<String>,
        comment: impl Into<String>,
    ) -> Result<Self, SilenceError> {
        let (author, comment) = (author.into(), comment.into());
        if matchers.is_empty() {
            return Err(SilenceError("a silence needs at least one matcher".into()));
        }
        if ends_at <= starts_at {
            return Err(SilenceError("a silence must end after it starts".into()));
        }
        if author.trim().is_empty() || comment.trim().is_empty() {
            return Err(SilenceError("a silence needs an author and a comment".into()));
        }
        Ok(Self {
            id: uuid::Uuid::now_v7().to_string(),
            matchers,
            starts_at,
            ends_at,
            author,
            comment,
        })
    }

    /// Whether it is in force at `now`.
    #[must_use]
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// Whether it mutes `alert` at `now`.
    #[must_use]
    pub fn mutes(&self, alert: &Alert, now: DateTime<Utc>) -> bool {
        self.is_active(now) && self.matchers.matches(alert)
    }
}

/// Mutes the alerts `target` passes while an alert `source` passes is firing with the same
/// values of the `equal` labels.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Inhibition {
    /// The inhibiting alerts.
    pub source: Matchers,
    /// The inhibited alerts.
    pub target: Matchers,
    /// Labels whose values must be equal in both.
    #[serde(default)]
    pub equal: Vec<String>,
}

impl Inhibition {
    /// An inhibition.
    #[must_use]
    pub const fn new(source: Matchers, target: Matchers, equal: Vec<String>) -> Self {
        Self { source, target, equal }
    }

    /// Whether `alert` is muted by one of the `firing` alerts. An alert never inhibits itself,
    /// and one that passes both sides is not inhibited by this rule (as in Alertmanager).
    #[must_use]
    pub fn mutes(&self, alert: &Alert, firing: &[Alert]) -> bool {
        if !self.target.matches(alert) || self.source.matches(alert) {
            return false;
        }
        firing.iter().any(|source| {
            source.status == Status::Firing
                && source.fingerprint != alert.fingerprint
                && self.source.matches(source)
                && self.equal.iter().all(|l| source.label_value(l) == alert.label_value(l))
        })
    }
}
