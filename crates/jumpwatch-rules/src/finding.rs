//! [`Finding`]: a rule's failure on one subject, kept across polls — its lifecycle from open to
//! resolved (and back, on a regression), and suppression.
//!
//! [`reconcile`] takes the findings as stored and one evaluation's results, and gives the
//! findings after it with the [`Transition`]s that happened:
//!
//! - a failure opens a finding, keyed by its fingerprint — hash of (tenant, rule, subject) — or
//!   refreshes it (`last_seen`, message, evidence); a resolved one reopens (`reopened` counts);
//! - a state rule's pass or not-applicable resolves it; so does its resource's deletion;
//! - an unknown changes nothing: missing evidence neither opens nor resolves;
//! - a change or event rule's finding resolves once it has not fired for the rule's `open_for`;
//! - a finding whose rule is gone (removed from the configuration) resolves;
//! - an open finding an active [`Suppression`] covers becomes suppressed; a suppressed one whose
//!   suppression expired (or was removed) opens again.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use jumpwatch_model::{ResourceKind, TenantId};
use serde::{Deserialize, Serialize};

use crate::engine::RuleResult;
use crate::rule::{Evidence, Outcome, RuleInfo, RuleType, Severity};
use crate::suppression::Suppression;

/// Where a finding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingState {
    /// The subject fails the rule.
    Open,
    /// It no longer does (or is gone).
    Resolved,
    /// It fails, and the risk is accepted until the suppression expires.
    Suppressed,
}

impl FindingState {
    /// `open`, `resolved` or `suppressed`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
            Self::Suppressed => "suppressed",
        }
    }
}

impl std::fmt::Display for FindingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FindingState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "open" => Ok(Self::Open),
            "resolved" => Ok(Self::Resolved),
            "suppressed" => Ok(Self::Suppressed),
            other => Err(format!("{other:?} is not open, resolved or suppressed")),
        }
    }
}

/// A rule's failure on one subject, across polls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// Hash of (tenant, rule, subject): stable across polls and restarts.
    pub fingerprint: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The rule.
    pub rule: String,
    /// The rule's type.
    pub rule_type: RuleType,
    /// The rule's severity.
    pub severity: Severity,
    /// The subject's kind (`None` for a Directory Insights event).
    pub kind: Option<ResourceKind>,
    /// The subject's id.
    pub resource: String,
    /// The subject's name.
    pub name: Option<String>,
    /// Where it stands.
    pub state: FindingState,
    /// The rule's message, the last time it failed.
    pub message: Option<String>,
    /// The values that decided it, the last time it failed.
    pub evidence: Vec<Evidence>,
    /// When it first failed.
    pub first_seen: DateTime<Utc>,
    /// When its current episode began (or its last, once resolved): `first_seen`, or when it
    /// last reopened. An episode's alerts, firing and resolved, start here, so a reopened
    /// finding is notified again.
    pub opened_at: DateTime<Utc>,
    /// When it last failed.
    pub last_seen: DateTime<Utc>,
    /// When it was resolved (while it is).
    pub resolved_at: Option<DateTime<Utc>>,
    /// How many times it reopened after being resolved.
    pub reopened: u32,
    /// The suppression that covers it (while it is suppressed).
    pub suppression: Option<String>,
}

/// The fingerprint of a finding: hash of (tenant, rule, subject), 32 hexadecimal digits.
#[must_use]
pub fn fingerprint(tenant: &TenantId, rule: &str, resource: &str) -> String {
    let mut hasher = blake3::Hasher::new();
    for part in [tenant.as_str(), rule, resource] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().to_hex()[..32].to_owned()
}

/// Why a finding moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// A first failure.
    Opened,
    /// A failure after it was resolved.
    Reopened,
    /// The rule passes (or no longer applies).
    Passed,
    /// The resource is gone.
    Deleted,
    /// A change or event rule's finding that has not fired for the rule's `open_for`.
    Expired,
    /// The rule is no longer evaluated.
    RuleRemoved,
    /// A suppression covers it.
    Suppressed,
    /// Its suppression expired or was removed.
    Unsuppressed,
}

impl Reason {
    /// The reason in snake case.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Reopened => "reopened",
            Self::Passed => "passed",
            Self::Deleted => "deleted",
            Self::Expired => "expired",
            Self::RuleRemoved => "rule_removed",
            Self::Suppressed => "suppressed",
            Self::Unsuppressed => "unsuppressed",
        }
    }
}

/// A finding's move from one state to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Transition {
    /// The finding.
    pub fingerprint: String,
    /// Its state before (`None` for a new finding).
    pub from: Option<FindingState>,
    /// Its state after.
    pub to: FindingState,
    /// Why.
    pub reason: Reason,
    /// When.
    pub at: DateTime<Utc>,
}

/// The findings after an evaluation, with what changed.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Reconciled {
    /// Every finding of the tenant, by fingerprint.
    pub findings: BTreeMap<String, Finding>,
    /// The fingerprints of the findings that changed (to store whole).
    pub changed: Vec<String>,
    /// The fingerprints of the open findings that failed again exactly as before: only their
    /// `last_seen` moved (to store, that alone).
    pub seen: Vec<String>,
    /// The moves between states.
    pub transitions: Vec<Transition>,
}

impl Reconciled {
    /// The findings that changed.
    pub fn changed_findings(&self) -> impl Iterator<Item = &Finding> {
        self.changed.iter().filter_map(|f| self.findings.get(f))
    }

    /// The findings seen again unchanged (only `last_seen` moved).
    pub fn seen_findings(&self) -> impl Iterator<Item = &Finding> {
        self.seen.iter().filter_map(|f| self.findings.get(f))
    }

    /// The findings in a state.
    pub fn in_state(&self, state: FindingState) -> impl Iterator<Item = &Finding> {
        self.findings.values().filter(move |f| f.state == state)
    }
}

/// What [`reconcile`] needs to know besides the results.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct Lifecycle<'a> {
    /// The tenant.
    pub tenant: &'a TenantId,
    /// The instant of the evaluation.
    pub now: DateTime<Utc>,
    /// The rules evaluated, by id.
    pub rules: &'a HashMap<&'a str, &'a RuleInfo>,
    /// Whether a resource still exists (the state rules' findings on deleted ones resolve).
    pub exists: &'a dyn Fn(ResourceKind, &str) -> bool,
    /// The suppressions (active or not).
    pub suppressions: &'a [Suppression],
}

impl std::fmt::Debug for Lifecycle<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("tenant", &self.tenant)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// The findings after one evaluation; see the module's documentation.
#[must_use]
pub fn reconcile(
    previous: Vec<Finding>,
    results: &[RuleResult],
    scope: &Lifecycle<'_>,
) -> Reconciled {
    let now = scope.now;
    // The findings by rule and resource: a result finds its finding without hashing a
    // fingerprint, and the many results with none (most pass) are passed over.
    let mut known: HashMap<String, HashMap<String, String>> = HashMap::new();
    for finding in &previous {
        known
            .entry(finding.rule.clone())
            .or_default()
            .insert(finding.resource.clone(), finding.fingerprint.clone());
    }
    let mut out = Reconciled {
        findings: previous.into_iter().map(|f| (f.fingerprint.clone(), f)).collect(),
        ..Reconciled::default()
    };
    let mut moves: Vec<(String, Option<FindingState>, FindingState, Reason)> = Vec::new();
    let mut touched = std::collections::HashSet::new();
    for result in results {
        let found = known.get(&result.rule).and_then(|by| by.get(&result.resource)).cloned();
        match result.outcome {
            Outcome::Fail => {
                let print = found.unwrap_or_else(|| {
                    let print = fingerprint(scope.tenant, &result.rule, &result.resource);
                    known
                        .entry(result.rule.clone())
                        .or_default()
                        .insert(result.resource.clone(), print.clone());
                    print
                });
                touched.insert(print.clone());
                match out.findings.get_mut(&print) {
                    Some(finding) => {
                        finding.last_seen = now;
                        if finding.state != FindingState::Resolved
                            && finding.message == result.message
                            && finding.evidence == result.evidence
                            && finding.severity == result.severity
                            && finding.name == result.name
                        {
                            // As before: only `last_seen` is written.
                            out.seen.push(print);
                            continue;
                        }
                        finding.message.clone_from(&result.message);
                        finding.evidence.clone_from(&result.evidence);
                        finding.severity = result.severity;
                        finding.name.clone_from(&result.name);
                        if finding.state == FindingState::Resolved {
                            finding.state = FindingState::Open;
                            finding.resolved_at = None;
                            finding.reopened += 1;
                            finding.opened_at = now;
                            moves.push((
                                print,
                                Some(FindingState::Resolved),
                                FindingState::Open,
                                Reason::Reopened,
                            ));
                        } else {
                            out.changed.push(print);
                        }
                    }
                    None => {
                        out.findings.insert(
                            print.clone(),
                            Finding {
                                fingerprint: print.clone(),
                                tenant: scope.tenant.clone(),
                                rule: result.rule.clone(),
                                rule_type: result.rule_type,
                                severity: result.severity,
                                kind: result.kind,
                                resource: result.resource.clone(),
                                name: result.name.clone(),
                                state: FindingState::Open,
                                message: result.message.clone(),
                                evidence: result.evidence.clone(),
                                first_seen: now,
                                opened_at: now,
                                last_seen: now,
                                resolved_at: None,
                                reopened: 0,
                                suppression: None,
                            },
                        );
                        moves.push((print, None, FindingState::Open, Reason::Opened));
                    }
                }
            }
            Outcome::Pass | Outcome::NotApplicable if result.rule_type == RuleType::State => {
                // No finding: nothing to resolve.
                let Some(print) = found else { continue };
                touched.insert(print.clone());
                if let Some(finding) = out.findings.get(&print)
                    && finding.state != FindingState::Resolved
                {
                    moves.push((
                        print,
                        Some(finding.state),
                        FindingState::Resolved,
                        Reason::Passed,
                    ));
                }
            }
            _ => {
                touched.extend(found);
            }
        }
    }
    // Findings no result spoke of this time.
    for finding in out.findings.values() {
        if finding.state == FindingState::Resolved || touched.contains(&finding.fingerprint) {
            continue;
        }
        let reason = match scope.rules.get(finding.rule.as_str()) {
            None => Some(Reason::RuleRemoved),
            Some(rule) if rule.rule_type == RuleType::State => finding
                .kind
                .filter(|kind| !(scope.exists)(*kind, &finding.resource))
                .map(|_| Reason::Deleted),
            Some(rule) => (now - finding.last_seen > rule.open_for).then_some(Reason::Expired),
        };
        if let Some(reason) = reason {
            moves.push((
                finding.fingerprint.clone(),
                Some(finding.state),
                FindingState::Resolved,
                reason,
            ));
        }
    }
    for (print, from, to, reason) in moves {
        out.apply(&print, from, to, reason, now);
    }
    // Suppressions, last: they decide between open and suppressed.
    let mut suppression_moves = Vec::new();
    for finding in out.findings.values() {
        let cover = scope
            .suppressions
            .iter()
            .find(|s| s.is_active(now) && s.covers(finding))
            .map(|s| s.id.clone());
        match (finding.state, cover) {
            (FindingState::Open, Some(id)) => {
                suppression_moves.push((
                    finding.fingerprint.clone(),
                    FindingState::Suppressed,
                    Reason::Suppressed,
                    Some(id),
                ));
            }
            (FindingState::Suppressed, None) => {
                suppression_moves.push((
                    finding.fingerprint.clone(),
                    FindingState::Open,
                    Reason::Unsuppressed,
                    None,
                ));
            }
            (FindingState::Suppressed, Some(id)) if finding.suppression.as_ref() != Some(&id) => {
                suppression_moves.push((
                    finding.fingerprint.clone(),
                    FindingState::Suppressed,
                    Reason::Suppressed,
                    Some(id),
                ));
            }
            _ => {}
        }
    }
    for (print, to, reason, id) in suppression_moves {
        let from = out.findings.get(&print).map(|f| f.state);
        if let Some(finding) = out.findings.get_mut(&print) {
            finding.suppression = id;
        }
        out.apply(&print, from, to, reason, now);
    }
    out.changed.sort();
    out.changed.dedup();
    // A finding seen again and then moved (suppressed, say) is stored whole.
    out.seen.retain(|print| out.changed.binary_search(print).is_err());
    out.seen.sort();
    out
}

impl Reconciled {
    fn apply(
        &mut self,
        print: &str,
        from: Option<FindingState>,
        to: FindingState,
        reason: Reason,
        now: DateTime<Utc>,
    ) {
        let Some(finding) = self.findings.get_mut(print) else { return };
        finding.state = to;
        match to {
            FindingState::Resolved => {
                finding.resolved_at = Some(now);
                finding.suppression = None;
            }
            FindingState::Open => finding.suppression = None,
            FindingState::Suppressed => {}
        }
        self.changed.push(print.to_owned());
        if from != Some(to) || reason == Reason::Suppressed {
            self.transitions.push(Transition {
                fingerprint: print.to_owned(),
                from,
                to,
                reason,
                at: now,
            });
        }
    }
}
