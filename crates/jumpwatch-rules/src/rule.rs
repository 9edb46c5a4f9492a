//! [`Rule`]: what every rule is — data rules ([`CelRule`](crate::CelRule)) and rules written in
//! Rust alike — and what it says of a subject ([`Verdict`]).
//!
//! A native rule implements [`Rule`] and joins the [`Engine`](crate::Engine) beside the pack:
//!
//! ```
//! use jumpwatch_model::{ResourceKind};
//! use jumpwatch_rules::{Engine, Outcome, Rule, RuleInfo, Scope, Severity, Subject, Verdict};
//!
//! /// Usernames must be lower case (a house rule).
//! #[derive(Debug)]
//! struct LowerCaseUsernames(RuleInfo);
//!
//! impl Rule for LowerCaseUsernames {
//!     fn info(&self) -> &RuleInfo {
//!         &self.0
//!     }
//!
//!     fn evaluate(&self, subject: Subject<'_>, _scope: &Scope<'_>) -> Verdict {
//!         let Subject::Resource(user) = subject else { return Verdict::not_applicable() };
//!         match user.doc.get("username").and_then(|v| v.as_str()) {
//!             None => Verdict::unknown("the user has no username"),
//!             Some(name) if name == name.to_lowercase() => Verdict::pass(),
//!             Some(name) => Verdict::fail(format!("{name} is not lower case"))
//!                 .with_evidence("username", Some(name.into())),
//!         }
//!     }
//! }
//!
//! let mut engine = Engine::new();
//! let info = RuleInfo::new("acme.user.lowercase", "Username not lower case", Severity::Low, ResourceKind::User);
//! engine.add_native(std::sync::Arc::new(LowerCaseUsernames(info)))?;
//! # Ok::<(), jumpwatch_rules::RuleError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use jumpwatch_changes::ChangeEvent;
use jumpwatch_model::event::DirectoryEvent;
use jumpwatch_model::{Inventory, Resource, ResourceKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use jumpwatch_model::Severity;

/// The compliance controls a rule supports.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct References {
    /// CIS Controls v8 safeguards.
    #[serde(default)]
    pub cis: Vec<String>,
    /// SOC 2 (2017 TSC) criteria.
    #[serde(default)]
    pub soc2: Vec<String>,
    /// ISO/IEC 27001:2022 Annex A controls.
    #[serde(default)]
    pub iso27001: Vec<String>,
}

impl References {
    /// The frameworks, by name, with the controls the rule supports in each.
    #[must_use]
    pub fn frameworks(&self) -> [(&'static str, &[String]); 3] {
        [("cis", &self.cis), ("soc2", &self.soc2), ("iso27001", &self.iso27001)]
    }
}

/// What a rule judges.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RuleType {
    /// A resource as it is now, with its relations.
    State,
    /// A change of a resource between two polls.
    Change,
    /// A Directory Insights event.
    Event,
}

impl fmt::Display for RuleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::State => "state",
            Self::Change => "change",
            Self::Event => "event",
        })
    }
}

/// What every rule says of itself, whether written as data or in Rust.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct RuleInfo {
    /// A stable id (`jc.user.passwordless_sudo`): findings are keyed by it.
    pub id: String,
    /// A short title.
    pub title: String,
    /// How bad a failure is.
    pub severity: Severity,
    /// What it judges.
    #[serde(rename = "type")]
    pub rule_type: RuleType,
    /// The kind of resource it judges (`None` for event rules).
    pub kind: Option<ResourceKind>,
    /// Why it matters.
    pub rationale: String,
    /// How to fix it.
    pub remediation: String,
    /// Parameters with their values (thresholds).
    pub params: BTreeMap<String, Value>,
    /// Compliance mappings.
    pub references: References,
    /// How long a finding of a change or event rule stays open after it last fired.
    #[serde(skip)]
    pub open_for: chrono::Duration,
    /// Where it was defined (`file:line`, or the Rust type).
    pub source: String,
}

impl RuleInfo {
    /// A state rule's description, to build a native rule with.
    #[must_use]
    pub fn new(id: &str, title: &str, severity: Severity, kind: ResourceKind) -> Self {
        Self {
            id: id.to_owned(),
            title: title.to_owned(),
            severity,
            rule_type: RuleType::State,
            kind: Some(kind),
            rationale: String::new(),
            remediation: String::new(),
            params: BTreeMap::new(),
            references: References::default(),
            open_for: DEFAULT_OPEN_FOR,
            source: String::new(),
        }
    }

    /// With a rationale.
    #[must_use]
    pub fn rationale(mut self, text: &str) -> Self {
        self.rationale = text.to_owned();
        self
    }

    /// With a remediation.
    #[must_use]
    pub fn remediation(mut self, text: &str) -> Self {
        self.remediation = text.to_owned();
        self
    }

    /// With compliance mappings.
    #[must_use]
    pub fn references(mut self, references: References) -> Self {
        self.references = references;
        self
    }

    /// A change rule on `kind` or an event rule (`kind` `None`), instead of a state rule.
    #[must_use]
    pub fn rule_type(mut self, rule_type: RuleType, kind: Option<ResourceKind>) -> Self {
        self.rule_type = rule_type;
        self.kind = kind;
        self
    }
}

/// How long a change or event finding stays open by default.
pub const DEFAULT_OPEN_FOR: chrono::Duration = chrono::Duration::days(7);

/// The outcome of one rule on one subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The subject meets the rule.
    Pass,
    /// It does not.
    Fail,
    /// The evidence is missing.
    Unknown,
    /// The rule does not apply to it.
    NotApplicable,
}

impl Outcome {
    /// `pass`, `fail`, `unknown` or `not_applicable`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Unknown => "unknown",
            Self::NotApplicable => "not_applicable",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Outcome {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "pass" => Ok(Self::Pass),
            "fail" => Ok(Self::Fail),
            "unknown" => Ok(Self::Unknown),
            "not_applicable" => Ok(Self::NotApplicable),
            other => Err(format!("{other:?} is not pass, fail, unknown or not_applicable")),
        }
    }
}

/// A value that decided an outcome: a path of the subject and what was there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The path (`mfa.configured`).
    pub path: String,
    /// Its value; `None` when the subject does not have it.
    pub value: Option<Value>,
}

/// What a rule says of one subject.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Verdict {
    /// The outcome.
    pub outcome: Outcome,
    /// The message of a failure; the reason of an unknown.
    pub message: Option<String>,
    /// The values that decided it.
    pub evidence: Vec<Evidence>,
}

impl Verdict {
    /// The subject meets the rule.
    #[must_use]
    pub const fn pass() -> Self {
        Self { outcome: Outcome::Pass, message: None, evidence: Vec::new() }
    }

    /// The subject fails the rule.
    #[must_use]
    pub fn fail(message: impl Into<String>) -> Self {
        Self { outcome: Outcome::Fail, message: Some(message.into()), evidence: Vec::new() }
    }

    /// The evidence is missing.
    #[must_use]
    pub fn unknown(reason: impl Into<String>) -> Self {
        Self { outcome: Outcome::Unknown, message: Some(reason.into()), evidence: Vec::new() }
    }

    /// The rule does not apply.
    #[must_use]
    pub const fn not_applicable() -> Self {
        Self { outcome: Outcome::NotApplicable, message: None, evidence: Vec::new() }
    }

    /// With a piece of evidence.
    #[must_use]
    pub fn with_evidence(mut self, path: &str, value: Option<Value>) -> Self {
        self.evidence.push(Evidence { path: path.to_owned(), value });
        self
    }
}

/// What a rule judges.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A resource as it is now (state rules).
    Resource(&'a Resource),
    /// A change between two polls (change rules).
    Change(&'a ChangeEvent),
    /// A Directory Insights event (event rules).
    Event(&'a DirectoryEvent),
}

/// What a rule may look at besides its subject.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Scope<'a> {
    /// The tenant's inventory (relations, other resources).
    pub inventory: Option<&'a Inventory>,
    /// The instant of the evaluation.
    pub now: DateTime<Utc>,
    /// The organization's document, when known.
    pub org: Option<&'a Value>,
    /// The Directory Insights events judged together — a poll's new events — so that an event
    /// rule can weigh an event against its neighbours (failures counted per administrator). Empty
    /// for state and change rules.
    pub events: &'a [DirectoryEvent],
}

impl<'a> Scope<'a> {
    /// A scope at `now`, over an inventory, without events.
    #[must_use]
    pub const fn new(
        now: DateTime<Utc>,
        inventory: Option<&'a Inventory>,
        org: Option<&'a Value>,
    ) -> Self {
        Self { inventory, now, org, events: &[] }
    }

    /// With the events judged together.
    #[must_use]
    pub const fn with_events(mut self, events: &'a [DirectoryEvent]) -> Self {
        self.events = events;
        self
    }
}

/// A rule: something that judges subjects of one type (and kind) and says why.
///
/// The pack's rules are [`CelRule`](crate::CelRule)s; implement this trait to write one in Rust.
pub trait Rule: Send + Sync + fmt::Debug {
    /// What the rule is.
    fn info(&self) -> &RuleInfo;

    /// Judges one subject. Called only with subjects of the rule's type and kind.
    fn evaluate(&self, subject: Subject<'_>, scope: &Scope<'_>) -> Verdict;

    /// Sets a parameter that [`RuleInfo::params`] declares (a threshold from the configuration),
    /// for [`Engine::set_param`](crate::Engine::set_param), which has checked that the rule
    /// declares it and that the value is of the default's type. The default refuses: a rule
    /// with parameters overrides it, and keeps `info().params` up to date.
    fn set_param(&mut self, name: &str, value: Value) -> Result<(), String> {
        let _ = value;
        Err(format!("{} has no parameter {name:?}", self.info().id))
    }
}
