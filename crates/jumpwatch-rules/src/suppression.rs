//! [`Suppression`]: an accepted risk — a rule, optionally narrowed to a resource (by id or by a
//! name pattern), with a reason, an owner and an expiry date. While it is active the findings it
//! matches are `suppressed`; once it expires they open again.

use chrono::{DateTime, Utc};
use jumpwatch_model::TenantId;
use serde::{Deserialize, Serialize};

use crate::finding::Finding;

/// An accepted risk, with who accepted it, why, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Suppression {
    /// Its id.
    pub id: String,
    /// The tenant it is for; `None` for every tenant.
    pub tenant: Option<TenantId>,
    /// The rule's id, or a pattern of ids (`jc.system.*`).
    pub rule: String,
    /// The resource: its id, or a pattern of ids or names (`build-*`); `None` for every resource.
    pub resource: Option<String>,
    /// Why the risk is accepted.
    pub reason: String,
    /// Who accepted it.
    pub owner: String,
    /// When it ends.
    pub expires: DateTime<Utc>,
    /// When it was made.
    pub created: DateTime<Utc>,
}

/// A suppression that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("suppression: {0}")]
pub struct SuppressionError(pub String);

impl Suppression {
    /// A suppression of `rule` (an id or a pattern), for every resource until narrowed with
    /// [`resource`](Self::resource). The reason and the owner must be given, and the expiry must
    /// be after `now`.
    pub fn new(
        rule: &str,
        reason: &str,
        owner: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, SuppressionError> {
        let need = |what: &str, text: &str| {
            if text.trim().is_empty() {
                Err(SuppressionError(format!("{what} must not be empty")))
            } else {
                Ok(text.trim().to_owned())
            }
        };
        if expires <= now {
            return Err(SuppressionError(format!(
                "it would expire at {expires}, which is not in the future"
            )));
        }
        Ok(Self {
            id: uuid::Uuid::now_v7().to_string(),
            tenant: None,
            rule: need("the rule", rule)?,
            resource: None,
            reason: need("the reason", reason)?,
            owner: need("the owner", owner)?,
            expires,
            created: now,
        })
    }

    /// Narrowed to a resource id or a pattern of ids and names.
    #[must_use]
    pub fn resource(mut self, pattern: &str) -> Self {
        self.resource = Some(pattern.trim().to_owned()).filter(|p| !p.is_empty());
        self
    }

    /// Narrowed to one tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// Whether it is in force at `now`.
    #[must_use]
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        now < self.expires
    }

    /// Whether it covers a finding (whatever the time).
    #[must_use]
    pub fn covers(&self, finding: &Finding) -> bool {
        if self.tenant.as_ref().is_some_and(|t| *t != finding.tenant) {
            return false;
        }
        if !glob(&self.rule, &finding.rule) {
            return false;
        }
        match &self.resource {
            None => true,
            Some(pattern) => {
                glob(pattern, &finding.resource)
                    || finding.name.as_deref().is_some_and(|name| glob(pattern, name))
            }
        }
    }
}

/// Reads an expiry: a date (`2027-03-01`, the start of that day in UTC) or an RFC 3339 instant.
pub fn parse_expiry(text: &str) -> Result<DateTime<Utc>, SuppressionError> {
    let text = text.trim();
    if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text).map(|t| t.to_utc()).map_err(|_| {
        SuppressionError(format!("{text:?} is not a date (2027-03-01) or an RFC 3339 instant"))
    })
}

/// `*` matches any run of characters, `?` one; case-insensitive.
#[must_use]
pub fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let text: Vec<char> = text.to_lowercase().chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_read_dates_and_instants() {
        assert_eq!(parse_expiry("2027-03-01").unwrap().to_rfc3339(), "2027-03-01T00:00:00+00:00");
        assert_eq!(
            parse_expiry("2027-03-01T12:00:00+02:00").unwrap().to_rfc3339(),
            "2027-03-01T10:00:00+00:00"
        );
        assert!(parse_expiry("next week").unwrap_err().0.contains("not a date"));
    }

    #[test]
    fn globs() {
        let cases = [
            ("jc.system.*", "jc.system.fde_not_active", true),
            ("jc.system.*", "jc.user.global_sudo", false),
            ("build-*", "BUILD-01", true),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*x*y", "axbxy", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(glob(pattern, text), want, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn a_suppression_needs_a_reason_an_owner_and_a_future_expiry() {
        let now = Utc::now();
        let later = now + chrono::Duration::days(30);
        assert!(Suppression::new("jc.user.*", "accepted", "it@example.com", later, now).is_ok());
        let error = |r: Result<Suppression, SuppressionError>| r.unwrap_err().0;
        assert!(error(Suppression::new("x", " ", "me", later, now)).contains("reason"));
        assert!(error(Suppression::new("x", "why", "", later, now)).contains("owner"));
        assert!(error(Suppression::new("x", "why", "me", now, now)).contains("not in the future"));
    }
}
