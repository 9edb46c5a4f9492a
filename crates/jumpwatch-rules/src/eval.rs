//! Evaluation: each (rule, resource) gives pass, fail, unknown or not applicable.
//!
//! - `applies` false ⇒ not applicable;
//! - `unknown` true ⇒ unknown (the evidence is missing);
//! - `fails` true ⇒ fail, false ⇒ pass;
//! - a condition that reads a field the document does not have, or that does not give a boolean,
//!   ⇒ unknown, with the reason — never a silent pass.

use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::Key;
use cel::{Context, Env, ExecutionError, Value as Cel};
use chrono::{DateTime, Utc};
use jumpwatch_model::{Inventory, Normalizer, Resource, ResourceKind};
use serde::Serialize;
use serde_json::Value;

use crate::rule::{Condition, Rule};

/// The outcome of one rule on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The resource meets the rule.
    Pass,
    /// It does not.
    Fail,
    /// The evidence is missing.
    Unknown,
    /// The rule does not apply to it.
    NotApplicable,
}

/// A rule's verdict on a resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RuleResult {
    /// The rule.
    pub rule: String,
    /// The resource's kind.
    pub kind: ResourceKind,
    /// The resource's id.
    pub resource: String,
    /// The resource's name.
    pub name: Option<String>,
    /// The outcome.
    pub outcome: Outcome,
    /// The message for a failure; the reason for an unknown.
    pub message: Option<String>,
}

/// Converts a JSON value into a CEL value.
pub(crate) fn to_cel(value: &Value) -> Cel {
    match value {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cel::Int(i),
            None => n.as_u64().map_or_else(|| Cel::Float(n.as_f64().unwrap_or(0.0)), Cel::UInt),
        },
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(items) => Cel::List(Arc::new(items.iter().map(to_cel).collect())),
        // `null` is the same as missing: `has(r.mfa)` is false for `"mfa": null`.
        Value::Object(object) => {
            let map: HashMap<Key, Cel> = object
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (Key::from(k.clone()), to_cel(v)))
                .collect();
            Cel::Map(map.into())
        }
    }
}

/// Evaluates rules at one instant, with one organization's settings.
pub struct Evaluator {
    env: Arc<Env>,
    now: DateTime<Utc>,
    org: Cel,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator").field("now", &self.now).finish_non_exhaustive()
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    jumpwatch_model::Timestamp::parse(text).map(|t| t.to_utc())
}

impl Evaluator {
    /// An evaluator at `now`, with the organization's document (`org` in conditions), if known.
    #[must_use]
    pub fn new(now: DateTime<Utc>, org: Option<&Value>) -> Self {
        Self { env: Arc::new(Env::stdlib()), now, org: org.map_or(Cel::Null, to_cel) }
    }

    fn context(&self) -> Context<'static, 'static> {
        let mut context = Context::with_env(Arc::clone(&self.env));
        let now = self.now;
        // Registering can only fail on a name the standard library declares; ours do not clash.
        let _ = context.add_function(
            "age",
            move |text: Arc<String>| -> Result<chrono::Duration, ExecutionError> {
                parse_time(&text).map(|at| now - at).ok_or_else(|| {
                    ExecutionError::function_error("age", format!("{text:?} is not a timestamp"))
                })
            },
        );
        let _ = context.add_function("days", |n: i64| chrono::Duration::days(n));
        let _ = context.add_function("hours", |n: i64| chrono::Duration::hours(n));
        let _ = context.add_function("lower", |text: Arc<String>| text.to_lowercase());
        let _ = context.add_function("cidr_prefix", |text: Arc<String>| -> i64 {
            // `10.0.0.0/8` → 8; a bare address is a host (32 or 128).
            match text.split_once('/') {
                Some((_, prefix)) => prefix.trim().parse().unwrap_or(-1),
                None if text.contains(':') => 128,
                None => 32,
            }
        });
        context.add_variable_from_value("now", Cel::Timestamp(now.fixed_offset()));
        context.add_variable_from_value("org", self.org.clone());
        context
    }

    fn check(context: &Context<'_, '_>, condition: &Condition) -> Result<bool, String> {
        match condition.program.execute(context) {
            Ok(Cel::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("`{}` gave {other:?}, not a boolean", condition.source)),
            Err(error) => Err(format!("`{}`: {error}", condition.source)),
        }
    }

    /// One rule on one resource document.
    #[must_use]
    pub fn evaluate_doc(&self, rule: &Rule, doc: &Value) -> (Outcome, Option<String>) {
        // Secrets never reach a condition or a message.
        let mut doc = doc.clone();
        Normalizer::for_kind(rule.kind).redact(&mut doc);
        let mut context = self.context();
        context.add_variable_from_value("r", to_cel(&doc));
        let params: HashMap<Key, Cel> =
            rule.params.iter().map(|(k, v)| (Key::from(k.clone()), to_cel(v))).collect();
        context.add_variable_from_value("params", Cel::Map(params.into()));
        if let Some(applies) = &rule.applies {
            match Self::check(&context, applies) {
                Ok(false) => return (Outcome::NotApplicable, None),
                Ok(true) => {}
                Err(reason) => return (Outcome::Unknown, Some(reason)),
            }
        }
        if let Some(unknown) = &rule.unknown {
            match Self::check(&context, unknown) {
                Ok(true) => {
                    return (
                        Outcome::Unknown,
                        Some(format!("the evidence is missing (`{}`)", unknown.source)),
                    );
                }
                Ok(false) => {}
                Err(reason) => return (Outcome::Unknown, Some(reason)),
            }
        }
        match Self::check(&context, &rule.fails) {
            Ok(true) => (Outcome::Fail, Some(render(&rule.message, &doc, &rule.params))),
            Ok(false) => (Outcome::Pass, None),
            Err(reason) => (Outcome::Unknown, Some(reason)),
        }
    }

    /// One rule on one resource.
    #[must_use]
    pub fn evaluate(&self, rule: &Rule, resource: &Resource) -> RuleResult {
        let (outcome, message) = self.evaluate_doc(rule, &resource.doc);
        RuleResult {
            rule: rule.id.clone(),
            kind: resource.kind,
            resource: resource.id.to_string(),
            name: resource.name.clone(),
            outcome,
            message,
        }
    }

    /// Every rule on every resource of its kind.
    #[must_use]
    pub fn evaluate_all(&self, rules: &[Rule], inventory: &Inventory) -> Vec<RuleResult> {
        let mut results = Vec::new();
        for rule in rules {
            for resource in inventory.resources(rule.kind) {
                results.push(self.evaluate(rule, resource));
            }
        }
        results
    }
}

/// Fills `{{r.path}}` and `{{params.name}}` placeholders.
fn render(
    template: &str,
    doc: &Value,
    params: &std::collections::BTreeMap<String, Value>,
) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let path = rest[start + 2..start + end].trim();
        let value = if let Some(path) = path.strip_prefix("r.") {
            path.split('.').try_fold(doc, |v, key| v.get(key))
        } else if let Some(name) = path.strip_prefix("params.") {
            params.get(name)
        } else {
            None
        };
        match value {
            Some(Value::String(s)) => out.push_str(s),
            Some(other) => out.push_str(&other.to_string()),
            None => out.push('?'),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}
