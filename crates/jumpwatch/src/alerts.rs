//! Alerts from everything the Monitor sees: findings that open, reopen or resolve; change
//! events; event-rule hits; and the health of collection (credentials refused, a kind incomplete
//! for polls in a row, rate limiting that lasts). The notifier routes them by their labels:
//!
//! | label | on |
//! |---|---|
//! | `type` | `finding`, `change`, `event`, `health` |
//! | `severity`, `status` | every alert |
//! | `tenant` | every alert |
//! | `rule`, `rule_type` | findings and event hits |
//! | `kind`, `resource`, `resource_id` | findings, changes (the resource's kind, name and id) |
//! | `op`, `fields`, `actor` | changes: `created`/`updated`/`deleted`, the changed field paths (space-separated; match one with `fields = "any=~mfa.*"`), who made it when known |
//! | `attribution` | changes: `attributed`, `unattributed` (no audit event explains it), `unknown` (the audit log was not read) |
//! | `check` | health: `auth`, `incomplete`, `rate_limited`, `events` (the audit log unreadable); notices: `events_gap` |

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use jumpwatch_changes::{ChangeEvent, ChangeOp, InsightsCommit, KindReport};
use jumpwatch_model::TenantId;
use jumpwatch_notify::{Alert, AlertKind, Severity, Status};
use jumpwatch_rules::{Engine, Finding, FindingState, RuleType, Transition};
use serde_json::json;

/// Where a rule's documentation is.
const RULES_DOC: &str = "https://github.com/jumpwatch/jumpwatch/blob/main/docs/rules.md";

/// The alert for a finding's transition: firing when it opens or reopens, resolved when it
/// resolves or is suppressed. An event rule's hit is sent once, when it opens.
#[must_use]
pub fn finding_alert(
    finding: &Finding,
    transition: &Transition,
    engine: Option<&Engine>,
) -> Option<Alert> {
    let event_rule = finding.rule_type == RuleType::Event;
    let firing = transition.to == FindingState::Open;
    if event_rule && !firing {
        return None;
    }
    let info = engine.and_then(|e| e.rule(&finding.rule));
    let title = info.map_or_else(|| finding.rule.clone(), |i| i.title.clone());
    let subject = finding.name.clone().unwrap_or_else(|| finding.resource.clone());
    let kind = if event_rule { AlertKind::Event } else { AlertKind::Finding };
    let status = if firing { Status::Firing } else { Status::Resolved };
    let mut summary =
        finding.message.clone().unwrap_or_else(|| format!("{subject} fails {}", finding.rule));
    match (firing, transition.reason) {
        (true, jumpwatch_rules::Reason::Reopened) => summary.push_str(" (reopened)"),
        (false, reason) => {
            summary = format!("{subject}: resolved ({})", reason.as_str().replace('_', " "))
        }
        _ => {}
    }
    if let Some(info) = info.filter(|i| firing && !i.remediation.trim().is_empty()) {
        summary.push_str("\nRemediation: ");
        summary.push_str(info.remediation.trim());
    }
    let mut alert = Alert::new(
        kind,
        finding.fingerprint.clone(),
        Status::Firing,
        finding.severity,
        format!("{title}: {subject}"),
        // The episode's start: a reopened finding's alerts are new alerts, not the first ones.
        finding.opened_at,
    )
    .summary(summary)
    .label("tenant", finding.tenant.as_str())
    .label("rule", finding.rule.clone())
    .label("rule_type", finding.rule_type.to_string())
    .label("resource", subject)
    .label("resource_id", finding.resource.clone())
    .label("kind", finding.kind.map(jumpwatch_model::ResourceKind::name).unwrap_or_default())
    .link(
        format!("Rule {}", finding.rule),
        format!("{RULES_DOC}#{}", finding.rule.replace('.', "")),
    )
    .evidence(json!({
        "rule": finding.rule,
        "message": finding.message,
        "evidence": finding.evidence,
        "first_seen": finding.first_seen,
        "opened_at": finding.opened_at,
        "last_seen": finding.last_seen,
        "reopened": finding.reopened,
        "transition": transition.reason.as_str(),
    }));
    if status == Status::Resolved {
        alert = alert.resolved(transition.at);
    }
    Some(alert)
}

/// The alert for a change event: sent once, `info` severity (route on `kind`, `op` and
/// `fields` to pick the changes that matter).
#[must_use]
pub fn change_alert(event: &ChangeEvent) -> Alert {
    let fields = event.changed_fields();
    let name = event.name.clone().unwrap_or_else(|| event.resource_id.to_string());
    let mut title = format!("{} {name} {}", event.kind.name(), event.op);
    if event.op == ChangeOp::Updated && !fields.is_empty() {
        let shown: Vec<&str> = fields.iter().take(5).copied().collect();
        title.push_str(&format!(": {}", shown.join(", ")));
        if fields.len() > 5 {
            title.push_str(&format!(" and {} more", fields.len() - 5));
        }
    }
    let actor = event.actor.as_ref().and_then(|a| a.email.clone().or_else(|| a.id.clone()));
    let mut summary = String::new();
    for change in event.changes.iter().take(20) {
        let show = |v: &Option<serde_json::Value>| {
            v.as_ref().map_or_else(|| "∅".to_owned(), serde_json::Value::to_string)
        };
        summary.push_str(&format!(
            "{}: {} → {}\n",
            change.path,
            show(&change.before),
            show(&change.after)
        ));
    }
    if event.changes.len() > 20 {
        summary.push_str(&format!("…and {} more field changes\n", event.changes.len() - 20));
    }
    if let Some(actor) = &actor {
        summary.push_str(&format!("by {actor}"));
    }
    Alert::new(
        AlertKind::Change,
        event.event_id.to_string(),
        Status::Firing,
        Severity::Info,
        title,
        event.observed_at,
    )
    .summary(summary.trim_end().to_owned())
    .label("tenant", event.tenant.as_str())
    .label("kind", event.kind.name())
    .label("op", event.op.as_str())
    .label("resource", name)
    .label("resource_id", event.resource_id.to_string())
    .label("fields", fields.join(" "))
    .label("actor", actor.unwrap_or_default())
    .label("attribution", event.attribution.as_str())
    .evidence(json!({ "changes": event.changes, "actor": event.actor }))
}

/// When collection health raises alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthPolicy {
    /// Polls in a row a kind must be incomplete for (default 3).
    pub incomplete_polls: u32,
    /// Polls in a row the API must rate-limit for (default 3).
    pub rate_limited_polls: u32,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self { incomplete_polls: 3, rate_limited_polls: 3 }
    }
}

/// One tenant's collection health across polls: how many polls in a row each condition held.
#[derive(Debug, Clone, Default)]
pub struct Health {
    incomplete: BTreeMap<String, u32>,
    rate_limited: u32,
    events_failed: u32,
}

/// What troubles a kind's listing, read from its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    /// JumpCloud refused the credentials (or the organization selection).
    Auth,
    /// Still rate limited after every retry.
    RateLimited,
    /// Anything else.
    Other,
}

fn trouble(report: &KindReport) -> Option<(Trouble, &str)> {
    match &report.status {
        jumpwatch_changes::KindStatus::Incomplete { reason } => {
            // The prefixes of jumpwatch-api's `Error` messages (Unauthorized, OrgSelection,
            // RateLimited); `auth_failure_raises_a_health_alert` pins them.
            let kind = if reason.starts_with("JumpCloud refused the credentials")
                || reason.starts_with("organization selection")
            {
                Trouble::Auth
            } else if reason.starts_with("rate limited") {
                Trouble::RateLimited
            } else {
                Trouble::Other
            };
            Some((kind, reason.as_str()))
        }
        _ => None,
    }
}

fn health_alert(
    tenant: &TenantId,
    check: &str,
    subject: Option<&str>,
    severity: Severity,
    title: String,
    summary: String,
    at: DateTime<Utc>,
) -> Alert {
    let fingerprint = match subject {
        Some(subject) => format!("health:{tenant}:{check}:{subject}"),
        None => format!("health:{tenant}:{check}"),
    };
    Alert::new(AlertKind::Health, fingerprint, Status::Firing, severity, title, at)
        .summary(summary)
        .label("tenant", tenant.as_str())
        .label("check", check)
        .label("kind", subject.unwrap_or_default())
}

impl Health {
    /// The audit log's health after a poll: a read that keeps failing fires (and resolves when a
    /// read completes); a stretch that could no longer be read is a notice, sent once.
    pub fn observe_events(
        &mut self,
        tenant: &TenantId,
        insights: &InsightsCommit,
        policy: HealthPolicy,
        firing: &[Alert],
        at: DateTime<Utc>,
    ) -> Vec<Alert> {
        let mut out = Vec::new();
        let fingerprint = format!("health:{tenant}:events");
        match &insights.error {
            Some(error) => {
                self.events_failed += 1;
                if self.events_failed >= policy.incomplete_polls {
                    let mut alert = health_alert(
                        tenant,
                        "events",
                        None,
                        Severity::High,
                        format!("The audit log of {tenant} cannot be read"),
                        format!(
                            "{} polls in a row could not read Directory Insights: {error}. Changes are not attributed and event rules do not run; the events will be read when it recovers, if within the retention.",
                            self.events_failed
                        ),
                        at,
                    );
                    if let Some(previous) = firing.iter().find(|a| a.fingerprint == fingerprint) {
                        alert.starts_at = previous.starts_at;
                    }
                    out.push(alert);
                }
            }
            None => {
                self.events_failed = 0;
                if let Some(previous) = firing.iter().find(|a| a.fingerprint == fingerprint) {
                    out.push(previous.clone().resolved(at));
                }
            }
        }
        if let Some(gap) = &insights.gap {
            let mut alert = health_alert(
                tenant,
                "events_gap",
                None,
                Severity::High,
                format!("Audit events of {tenant} were lost to retention"),
                format!(
                    "Directory Insights keeps 90 days: the events from {} to {} could not be read (the tenant was not read for longer than that). Changes in that stretch have no audit trail in Jumpwatch.",
                    gap.from.to_rfc3339(),
                    gap.to.to_rfc3339()
                ),
                at,
            );
            alert.kind = AlertKind::Notice;
            alert.labels.insert("type".to_owned(), AlertKind::Notice.as_str().to_owned());
            alert.fingerprint = format!("{}:{}", alert.fingerprint, gap.from.timestamp());
            out.push(alert);
        }
        out
    }

    /// The health alerts after a poll: conditions that now hold long enough fire; those that
    /// fired (`firing`, from the outbox) and no longer hold resolve.
    pub fn observe(
        &mut self,
        tenant: &TenantId,
        reports: &[KindReport],
        policy: HealthPolicy,
        firing: &[Alert],
        at: DateTime<Utc>,
    ) -> Vec<Alert> {
        let mut holding = Vec::new();
        let troubles: Vec<(&KindReport, Trouble, &str)> =
            reports.iter().filter_map(|r| trouble(r).map(|(t, why)| (r, t, why))).collect();
        if let Some((_, _, why)) = troubles.iter().find(|(_, t, _)| *t == Trouble::Auth) {
            holding.push(health_alert(tenant, "auth", None, Severity::Critical, format!("JumpCloud refuses the credentials of {tenant}"), format!("Nothing can be collected: {why}. Check the API key (and the organization id of a multi-tenant key)."), at));
        }
        let limited = troubles.iter().any(|(_, t, _)| *t == Trouble::RateLimited);
        self.rate_limited = if limited { self.rate_limited + 1 } else { 0 };
        if self.rate_limited >= policy.rate_limited_polls {
            holding.push(health_alert(
                tenant,
                "rate_limited",
                None,
                Severity::Medium,
                format!("JumpCloud rate-limits {tenant}"),
                format!(
                    "{} polls in a row were rate limited: lower [poll] concurrency or rate_limit.",
                    self.rate_limited
                ),
                at,
            ));
        }
        let mut counts = BTreeMap::new();
        for (report, kind, why) in &troubles {
            if *kind == Trouble::Auth {
                continue;
            }
            let name = report.kind.name().to_owned();
            let count = self.incomplete.get(&name).copied().unwrap_or(0) + 1;
            if count >= policy.incomplete_polls {
                holding.push(health_alert(
                    tenant,
                    "incomplete",
                    Some(&name),
                    Severity::High,
                    format!("{name} of {tenant} incomplete for {count} polls"),
                    format!("Its changes and findings are not updated while it is: {why}"),
                    at,
                ));
            }
            counts.insert(name, count);
        }
        self.incomplete = counts;
        let mut out = Vec::new();
        for alert in firing
            .iter()
            .filter(|a| a.kind == AlertKind::Health && a.label_value("tenant") == tenant.as_str())
            .filter(|a| a.label_value("check") != "events")
        {
            if !holding.iter().any(|h| h.fingerprint == alert.fingerprint) {
                out.push(alert.clone().resolved(at));
            }
        }
        // Keep a condition's original start, so a firing alert is not enqueued again each poll.
        for mut alert in holding {
            if let Some(previous) = firing.iter().find(|a| a.fingerprint == alert.fingerprint) {
                alert.starts_at = previous.starts_at;
            }
            out.push(alert);
        }
        out
    }
}
