//! How a [`CelRule`] judges a subject: the CEL context (variables and Jumpwatch's functions), the
//! three-valued outcome, the evidence and the message.
//!
//! - `applies` false ⇒ not applicable;
//! - `unknown` true ⇒ unknown (the evidence is missing);
//! - `fails` true ⇒ fail, false ⇒ pass;
//! - a condition that reads a field the subject does not have, or that does not give a boolean,
//!   ⇒ unknown, with the reason — never a silent pass.

use std::sync::Arc;

use cel::common::value::Val;
use cel::{Context, Env, ExecutionError, Value as Cel};
use chrono::{DateTime, Utc};
use jumpwatch_changes::{FieldChange, FieldOp};
use serde_json::Value;

use crate::compile::{CompiledRule, Frame};
use crate::pack::{CelRule, Condition, MessagePart};
use crate::rule::{Evidence, Outcome, Verdict};
use crate::value::{cel_map, cel_val, to_cel};

pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    jumpwatch_model::Timestamp::parse(text).map(|t| t.to_utc())
}

/// Compiled regular expressions by pattern, for `re(text, pattern)`: each pattern is compiled
/// once per engine, where CEL's `matches` compiles it at every call.
#[derive(Debug, Default)]
pub(crate) struct Patterns(
    std::sync::RwLock<std::collections::HashMap<String, Result<regex::Regex, String>>>,
);

impl Patterns {
    /// `pattern` compiled (a clone of the one kept, which is cheap), or why it cannot be.
    pub(crate) fn regex(&self, pattern: &str) -> Result<regex::Regex, String> {
        let found = self.0.read().ok().and_then(|cache| cache.get(pattern).cloned());
        found.unwrap_or_else(|| {
            let compiled = regex::Regex::new(pattern).map_err(|e| e.to_string());
            if let Ok(mut cache) = self.0.write() {
                cache.insert(pattern.to_owned(), compiled.clone());
            }
            compiled
        })
    }

    fn is_match(&self, text: &str, pattern: &str) -> Result<bool, ExecutionError> {
        let found = self.0.read().ok().and_then(|cache| {
            cache
                .get(pattern)
                .map(|compiled| compiled.as_ref().map(|re| re.is_match(text)).map_err(Clone::clone))
        });
        let outcome = match found {
            Some(outcome) => outcome,
            None => self.regex(pattern).map(|re| re.is_match(text)),
        };
        outcome.map_err(|e| {
            ExecutionError::function_error(
                "re",
                format!("{pattern:?} is not a regular expression: {e}"),
            )
        })
    }
}

/// The root context of an evaluation: Jumpwatch's functions, `now` and `org`.
pub(crate) fn root_context<'v>(
    env: &Arc<Env>,
    patterns: &Arc<Patterns>,
    now: DateTime<Utc>,
    org: Option<&'v Value>,
) -> Context<'v, 'v> {
    let mut context = Context::with_env(Arc::clone(env));
    let patterns = Arc::clone(patterns);
    let _ = context.add_function("re", move |text: Arc<String>, pattern: Arc<String>| {
        patterns.is_match(&text, &pattern)
    });
    // Registering only fails on a name the standard library declares; ours do not clash.
    let _ = context.add_function(
        "age",
        move |text: Arc<String>| -> Result<chrono::Duration, ExecutionError> {
            parse_time(&text).map(|at| now - at).ok_or_else(|| {
                ExecutionError::function_error("age", format!("{text:?} is not a timestamp"))
            })
        },
    );
    // A count read from a document may be anything: out of range is an error, not a panic.
    let _ = context.add_function("days", |n: i64| -> Result<chrono::Duration, ExecutionError> {
        chrono::Duration::try_days(n).ok_or_else(|| {
            ExecutionError::function_error("days", format!("{n} days is out of range"))
        })
    });
    let _ = context.add_function("hours", |n: i64| -> Result<chrono::Duration, ExecutionError> {
        chrono::Duration::try_hours(n).ok_or_else(|| {
            ExecutionError::function_error("hours", format!("{n} hours is out of range"))
        })
    });
    let _ = context.add_function("lower", |text: Arc<String>| text.to_lowercase());
    let _ = context.add_function("cidr_prefix", |text: Arc<String>| cidr_prefix(&text));
    context.add_variable_from_value("now", Cel::Timestamp(now.fixed_offset()));
    match org {
        Some(org) => context.add_variable_as_val("org", cel_val(org)),
        None => context.add_variable_from_value("org", Cel::Null),
    }
    context
}

/// `10.0.0.0/8` → 8; a bare address is a host (32 or 128); anything else −1.
pub(crate) fn cidr_prefix(text: &str) -> i64 {
    match text.split_once('/') {
        Some((_, prefix)) => prefix.trim().parse().unwrap_or(-1),
        None if text.contains(':') => 128,
        None => 32,
    }
}

/// A change as change rules see it.
#[derive(Debug, Clone)]
pub(crate) struct ChangeView<'a> {
    pub op: &'static str,
    pub changes: &'a [FieldChange],
    pub before: Option<&'a Value>,
    pub after: Option<&'a Value>,
    pub actor: Option<&'a Value>,
    /// `attributed`, `unattributed` or `unknown`.
    pub attribution: &'static str,
}

fn lookup<'v>(doc: Option<&'v Value>, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(doc?, |v, key| v.get(key)).filter(|v| !v.is_null())
}

/// Adds `changed('path')` and `became('path', value)` for one change.
pub(crate) fn add_change_functions(context: &mut Context<'_, '_>, view: &ChangeView<'_>) {
    let created = view.op == "created";
    let deleted = view.op == "deleted";
    let paths: Arc<Vec<String>> = Arc::new(view.changes.iter().map(|c| c.path.render()).collect());
    let before = Arc::new(view.before.cloned());
    let after = Arc::new(view.after.cloned());
    let (b, a) = (Arc::clone(&before), Arc::clone(&after));
    let _ = context.add_function("changed", move |path: Arc<String>| -> bool {
        let path = path.as_str();
        if created {
            return lookup(a.as_ref().as_ref(), path).is_some();
        }
        if deleted {
            return lookup(b.as_ref().as_ref(), path).is_some();
        }
        paths.iter().any(|p| {
            p == path
                || p.strip_prefix(path).is_some_and(|rest| rest.starts_with(['.', '[']))
                || path.strip_prefix(p.as_str()).is_some_and(|rest| rest.starts_with('.'))
        })
    });
    let _ = context.add_function("became", move |path: Arc<String>, value: Cel| -> bool {
        let now = lookup(after.as_ref().as_ref(), &path).map(to_cel);
        let was = lookup(before.as_ref().as_ref(), &path).map(to_cel);
        now.as_ref() == Some(&value) && was.as_ref() != Some(&value)
    });
}

/// The `change` variable.
pub(crate) fn change_val<'v>(view: &ChangeView<'v>) -> Box<dyn Val + 'v> {
    let fields: Vec<Box<dyn Val + 'v>> = view
        .changes
        .iter()
        .map(|change| {
            let op = match change.op {
                FieldOp::Added => "added",
                FieldOp::Removed => "removed",
                FieldOp::Modified => "modified",
            };
            let mut entries: Vec<(&'v str, Box<dyn Val + 'v>)> = vec![
                ("path", Box::new(cel::common::types::CelString::from(change.path.render()))),
                ("op", Box::new(cel::common::types::CelString::from(op))),
            ];
            if let Some(before) = change.before.as_ref().filter(|v| !v.is_null()) {
                entries.push(("before", cel_val(before)));
            }
            if let Some(after) = change.after.as_ref().filter(|v| !v.is_null()) {
                entries.push(("after", cel_val(after)));
            }
            Box::new(cel_map(entries)) as Box<dyn Val + 'v>
        })
        .collect();
    let mut entries: Vec<(&'v str, Box<dyn Val + 'v>)> = vec![
        ("op", Box::new(cel::common::types::CelString::from(view.op))),
        ("fields", Box::new(cel::common::types::CelList::from(fields))),
        ("attribution", Box::new(cel::common::types::CelString::from(view.attribution))),
    ];
    if let Some(actor) = view.actor {
        entries.push(("actor", cel_val(actor)));
    }
    Box::new(cel_map(entries))
}

/// The value `null` (for `before`, `after` or `actor` when there is none).
pub(crate) fn null_val<'v>() -> Box<dyn Val + 'v> {
    Box::new(cel::common::types::CelNull)
}

/// A condition's value: a boolean, or why there is none.
pub(crate) fn check(context: &Context<'_, '_>, condition: &Condition) -> Result<bool, String> {
    match condition.program.execute(context) {
        Ok(Cel::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("`{}` gave {other:?}, not a boolean", condition.source)),
        Err(error) => Err(format!("`{}`: {error}", condition.source)),
    }
}

/// `scope` with the rule's parameters, when it has some.
fn with_params<'s, 'v>(rule: &'v CelRule, scope: &'s Context<'_, 'v>) -> Option<Context<'s, 'v>> {
    if rule.info.params.is_empty() {
        return None;
    }
    let mut inner = scope.new_inner_scope();
    inner.add_variable_as_val(
        "params",
        Box::new(cel_map(rule.info.params.iter().map(|(k, v)| (k.as_str(), cel_val(v))))),
    );
    Some(inner)
}

/// Which of a rule's conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Applies,
    Unknown,
    Fails,
}

/// What answers a rule's conditions and writes its message: the interpreter, or compiled code
/// with the interpreter behind it.
pub(crate) trait Answers {
    /// A condition's value, or why there is none.
    fn check(&mut self, part: Part, condition: &Condition) -> Result<bool, String>;

    /// The message of a failure.
    fn message(&mut self) -> String;
}

/// The interpreter, in a scope with the subject's variables.
struct Interpreted<'s, 'p, 'v> {
    rule: &'v CelRule,
    scope: &'s Context<'p, 'v>,
    params: Option<Context<'s, 'v>>,
}

impl<'s, 'p, 'v> Interpreted<'s, 'p, 'v> {
    fn new(rule: &'v CelRule, scope: &'s Context<'p, 'v>) -> Self {
        Self { rule, scope, params: with_params(rule, scope) }
    }

    fn context(&self) -> &Context<'_, 'v> {
        self.params.as_ref().map_or(self.scope, |inner| inner)
    }
}

impl Answers for Interpreted<'_, '_, '_> {
    fn check(&mut self, _: Part, condition: &Condition) -> Result<bool, String> {
        check(self.context(), condition)
    }

    fn message(&mut self) -> String {
        render(&self.rule.message_parts, self.context())
    }
}

/// Where the interpreter's scope comes from when compiled code leaves a question to it.
pub(crate) trait Fallback<'v> {
    /// The subject's scope; with `rel` when `relations`.
    fn scope(&mut self, relations: bool) -> &Context<'_, 'v>;
}

/// A scope built beforehand.
pub(crate) struct Ready<'s, 'p, 'v>(pub(crate) &'s Context<'p, 'v>);

impl<'v> Fallback<'v> for Ready<'_, '_, 'v> {
    fn scope(&mut self, _: bool) -> &Context<'_, 'v> {
        self.0
    }
}

/// Compiled code first; the interpreter for what it is not sure of.
pub(crate) struct Compiled<'x, 'f, 'v, F> {
    pub(crate) rule: &'v CelRule,
    pub(crate) compiled: &'x CompiledRule,
    pub(crate) frame: &'x Frame<'f>,
    pub(crate) fallback: &'x mut F,
}

impl<'v, F: Fallback<'v>> Answers for Compiled<'_, '_, 'v, F> {
    fn check(&mut self, part: Part, condition: &Condition) -> Result<bool, String> {
        let compiled = match part {
            Part::Applies => self.compiled.applies.as_ref(),
            Part::Unknown => self.compiled.unknown.as_ref(),
            Part::Fails => Some(&self.compiled.fails),
        };
        if let Some(value) = compiled.and_then(|c| c.check(self.frame)) {
            return Ok(value);
        }
        let scope = self.fallback.scope(self.rule.conditions_read_relations);
        Interpreted::new(self.rule, scope).check(part, condition)
    }

    fn message(&mut self) -> String {
        if let Some(message) = self.compiled.message(self.frame) {
            return message;
        }
        let scope = self.fallback.scope(self.rule.relations.any());
        Interpreted::new(self.rule, scope).message()
    }
}

/// Judges one subject in `scope` (which has the subject's variables), with the interpreter.
pub(crate) fn judge(rule: &CelRule, scope: &Context<'_, '_>, subject: &Value) -> Verdict {
    decide(rule, subject, &mut Interpreted::new(rule, scope))
}

/// Judges one subject, the conditions answered by `answers`.
pub(crate) fn decide(rule: &CelRule, subject: &Value, answers: &mut impl Answers) -> Verdict {
    let verdict = |outcome: Outcome, message: Option<String>| {
        let evidence = if outcome == Outcome::Pass || outcome == Outcome::NotApplicable {
            Vec::new()
        } else {
            rule.evidence_paths
                .iter()
                .map(|path| Evidence {
                    path: path.clone(),
                    value: lookup(Some(subject), path).cloned(),
                })
                .collect()
        };
        Verdict { outcome, message, evidence }
    };
    if let Some(applies) = &rule.applies {
        match answers.check(Part::Applies, applies) {
            Ok(false) => return Verdict::not_applicable(),
            Ok(true) => {}
            Err(reason) => return verdict(Outcome::Unknown, Some(reason)),
        }
    }
    if let Some(unknown) = &rule.unknown {
        match answers.check(Part::Unknown, unknown) {
            Ok(true) => {
                return verdict(
                    Outcome::Unknown,
                    Some(format!("the evidence is missing (`{}`)", unknown.source)),
                );
            }
            Ok(false) => {}
            Err(reason) => return verdict(Outcome::Unknown, Some(reason)),
        }
    }
    match answers.check(Part::Fails, &rule.fails) {
        Ok(true) => verdict(Outcome::Fail, Some(answers.message())),
        Ok(false) => Verdict::pass(),
        Err(reason) => verdict(Outcome::Unknown, Some(reason)),
    }
}

/// A message with its placeholders evaluated in the rule's context; one that cannot be (a
/// missing field) shows as `?`.
fn render(parts: &[MessagePart], context: &Context<'_, '_>) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            MessagePart::Text(text) => out.push_str(text),
            MessagePart::Expression(expression) => match expression.program.execute(context) {
                Ok(value) => out.push_str(&text_of(&value)),
                Err(_) => out.push('?'),
            },
        }
    }
    out
}

/// A CEL value as message text.
fn text_of(value: &Cel) -> String {
    match value {
        Cel::String(s) => s.to_string(),
        Cel::Int(i) => i.to_string(),
        Cel::UInt(u) => u.to_string(),
        Cel::Float(f) => f.to_string(),
        Cel::Bool(b) => b.to_string(),
        Cel::Null => "null".to_owned(),
        Cel::Timestamp(t) => t.to_rfc3339(),
        Cel::Duration(d) => format!("{}s", d.num_seconds()),
        Cel::List(items) => {
            let items: Vec<String> = items.iter().map(text_of).collect();
            format!("[{}]", items.join(", "))
        }
        Cel::Map(map) => {
            let mut entries: Vec<String> =
                map.map.iter().map(|(k, v)| format!("{k}: {}", text_of(v))).collect();
            entries.sort();
            format!("{{{}}}", entries.join(", "))
        }
        _ => "?".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_prefixes() {
        for (text, want) in [
            ("10.0.0.0/8", 8),
            ("0.0.0.0/0", 0),
            ("1.2.3.4", 32),
            ("::1", 128),
            ("2001:db8::/32", 32),
            ("x/y", -1),
        ] {
            assert_eq!(cidr_prefix(text), want, "{text}");
        }
    }

    #[test]
    fn message_values_read_as_text() {
        let cases = [
            (Cel::String(Arc::new("ada".into())), "ada"),
            (Cel::Int(-3), "-3"),
            (Cel::Bool(false), "false"),
            (Cel::Null, "null"),
            (Cel::List(Arc::new(vec![Cel::Int(1), Cel::Int(2)])), "[1, 2]"),
        ];
        for (value, want) in cases {
            assert_eq!(text_of(&value), want);
        }
    }
}
