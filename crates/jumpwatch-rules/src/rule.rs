//! [`Rule`]: a security rule as data — TOML with CEL conditions — loaded and compiled once.
//!
//! ```toml
//! [[rules]]
//! id = "jc.user.passwordless_sudo"
//! title = "User has passwordless sudo"
//! severity = "high"
//! kind = "user"
//! applies = "!has(r.suspended) || r.suspended != true"
//! fails = "has(r.passwordless_sudo) && r.passwordless_sudo == true"
//! message = "{{r.username}} can run sudo without a password on every device they are bound to"
//! rationale = "..."
//! remediation = "..."
//! references = { cis = ["5.4"], soc2 = ["CC6.1"], iso27001 = ["A.8.2"] }
//!
//! [[rules.tests]]
//! expect = "fail"
//! doc = '''{"_id": "u1", "username": "ada", "passwordless_sudo": true}'''
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use cel::{Env, Program};
use jumpwatch_model::ResourceKind;
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use crate::eval::Outcome;

/// How bad a failure is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        })
    }
}

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

/// A test case of a rule: a document and the outcome it must give.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TestCase {
    /// What it shows.
    pub name: String,
    /// The outcome it must give.
    pub expect: Outcome,
    /// The resource document.
    pub doc: Value,
    /// The organization's document, when the rule reads it.
    pub org: Option<Value>,
}

/// A CEL condition, compiled.
#[derive(Clone)]
pub struct Condition {
    /// The expression as written.
    pub source: String,
    pub(crate) program: Arc<Program>,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Condition").field(&self.source).finish()
    }
}

/// A rule, loaded and compiled.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Rule {
    /// A stable id (`jc.user.passwordless_sudo`).
    pub id: String,
    /// A short title.
    pub title: String,
    /// How bad a failure is.
    pub severity: Severity,
    /// The kind of resource it judges.
    pub kind: ResourceKind,
    /// When it applies (default: always).
    pub applies: Option<Condition>,
    /// When the resource fails.
    pub fails: Condition,
    /// When the evidence is missing (a device that never reported): the outcome is unknown.
    pub unknown: Option<Condition>,
    /// The finding's message, with `{{r.path}}` and `{{params.name}}` placeholders.
    pub message: String,
    /// Why it matters.
    pub rationale: String,
    /// How to fix it.
    pub remediation: String,
    /// Parameters with their defaults (thresholds).
    pub params: BTreeMap<String, Value>,
    /// Compliance mappings.
    pub references: References,
    /// Its test cases.
    pub tests: Vec<TestCase>,
    /// Where it was loaded from (`file:line`).
    pub source: String,
}

/// A rule file could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct RuleError {
    /// The file.
    pub file: String,
    /// The line (1-based).
    pub line: usize,
    /// What is wrong (the rule's id and the expression's error, when it is one).
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPack {
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    title: String,
    severity: Severity,
    kind: Spanned<String>,
    #[serde(default, rename = "type")]
    rule_type: Option<Spanned<String>>,
    applies: Option<Spanned<String>>,
    fails: Spanned<String>,
    unknown: Option<Spanned<String>>,
    message: String,
    rationale: String,
    remediation: String,
    #[serde(default)]
    params: toml::Table,
    #[serde(default)]
    references: References,
    #[serde(default)]
    tests: Vec<Spanned<RawTest>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    #[serde(default)]
    name: Option<String>,
    expect: String,
    doc: String,
    org: Option<String>,
}

/// The variables a condition may read.
pub const VARIABLES: &[&str] = &["r", "params", "now", "org"];

/// The functions Jumpwatch adds to CEL (see `docs/rules.md`).
pub const FUNCTIONS: &[&str] = &["age", "days", "hours", "lower", "cidr_prefix"];

fn line_of(text: &str, span: Range<usize>) -> usize {
    text.get(..span.start).map_or(1, |before| before.matches('\n').count() + 1)
}

fn toml_to_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => Value::from(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => {
            Value::Object(table.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

/// Loads the rules of one pack file. `file` names it in errors.
pub fn load_pack(file: &str, text: &str) -> Result<Vec<Rule>, RuleError> {
    let error = |span: Option<Range<usize>>, message: String| RuleError {
        file: file.to_owned(),
        line: span.map_or(1, |s| line_of(text, s)),
        message,
    };
    let pack: RawPack =
        toml::from_str(text).map_err(|e| error(e.span(), e.message().to_owned()))?;
    let env = Env::stdlib();
    let mut rules = Vec::new();
    for spanned in pack.rules {
        let rule_line = line_of(text, spanned.span());
        let raw = spanned.into_inner();
        let id = raw.id.clone();
        let kind = raw
            .kind
            .get_ref()
            .parse::<ResourceKind>()
            .map_err(|e| error(Some(raw.kind.span()), format!("{id}: {e}")))?;
        if let Some(rule_type) = &raw.rule_type
            && rule_type.get_ref() != "state"
        {
            return Err(error(
                Some(rule_type.span()),
                format!("{id}: only `state` rules are supported so far"),
            ));
        }
        let params: BTreeMap<String, Value> =
            raw.params.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect();
        let compile = |field: &str, source: &Spanned<String>| -> Result<Condition, RuleError> {
            let text_of = source.get_ref();
            let program = env.compile(text_of).map_err(|e| {
                error(Some(source.span()), format!("{id}: `{field}` does not parse: {e}"))
            })?;
            let references = program.references();
            let bound = macro_variables(text_of);
            for variable in references.variables() {
                if !VARIABLES.contains(&variable) && !bound.iter().any(|b| b == variable) {
                    return Err(error(
                        Some(source.span()),
                        format!(
                            "{id}: `{field}` reads `{variable}`, which is not a variable (use {})",
                            VARIABLES.join(", ")
                        ),
                    ));
                }
            }
            for name in params_used(text_of) {
                if !params.contains_key(&name) {
                    return Err(error(
                        Some(source.span()),
                        format!(
                            "{id}: `{field}` reads params.{name}, which the rule does not declare"
                        ),
                    ));
                }
            }
            Ok(Condition { source: text_of.clone(), program: Arc::new(program) })
        };
        let applies = raw.applies.as_ref().map(|s| compile("applies", s)).transpose()?;
        let fails = compile("fails", &raw.fails)?;
        let unknown = raw.unknown.as_ref().map(|s| compile("unknown", s)).transpose()?;
        let mut tests = Vec::new();
        for (index, test) in raw.tests.into_iter().enumerate() {
            let span = test.span();
            let test = test.into_inner();
            let expect = match test.expect.as_str() {
                "pass" => Outcome::Pass,
                "fail" => Outcome::Fail,
                "unknown" => Outcome::Unknown,
                "not_applicable" => Outcome::NotApplicable,
                other => {
                    return Err(error(
                        Some(span),
                        format!(
                            "{id}: test {index}: `expect` is {other:?}, not pass, fail, unknown or not_applicable"
                        ),
                    ));
                }
            };
            let parse = |text: &str| -> Result<Value, RuleError> {
                serde_json::from_str(text).map_err(|e| {
                    error(
                        Some(span.clone()),
                        format!("{id}: test {index}: the document is not JSON: {e}"),
                    )
                })
            };
            tests.push(TestCase {
                name: test.name.unwrap_or_else(|| format!("test {index}")),
                expect,
                doc: parse(&test.doc)?,
                org: test.org.as_deref().map(parse).transpose()?,
            });
        }
        rules.push(Rule {
            id: raw.id,
            title: raw.title,
            severity: raw.severity,
            kind,
            applies,
            fails,
            unknown,
            message: raw.message,
            rationale: raw.rationale,
            remediation: raw.remediation,
            params,
            references: raw.references,
            tests,
            source: format!("{file}:{rule_line}"),
        });
    }
    let mut ids = std::collections::BTreeSet::new();
    for rule in &rules {
        if !ids.insert(&rule.id) {
            return Err(RuleError {
                file: file.to_owned(),
                line: 1,
                message: format!("{}: defined twice", rule.id),
            });
        }
    }
    Ok(rules)
}

/// The variables comprehension macros bind (`r.ips.exists(ip, ...)` binds `ip`).
fn macro_variables(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["exists_one(", "exists(", "all(", "map(", "filter("] {
        let mut rest = source;
        while let Some(at) = rest.find(name) {
            let after = &rest[at + name.len()..];
            let variable: String = after
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !variable.is_empty()
                && after.trim_start()[variable.len()..].trim_start().starts_with(',')
            {
                out.push(variable);
            }
            rest = after;
        }
    }
    out
}

/// The names read as `params.<name>` in an expression.
fn params_used(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("params.") {
        let before_ok = at == 0
            || !rest[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        let after = &rest[at + "params.".len()..];
        let name: String =
            after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if before_ok && !name.is_empty() && !out.contains(&name) {
            out.push(name.clone());
        }
        rest = &after[name.len()..];
    }
    out
}

/// The built-in JumpCloud pack.
pub fn builtin() -> Result<Vec<Rule>, RuleError> {
    const PACKS: &[(&str, &str)] = &[
        ("pack/users.toml", include_str!("../pack/users.toml")),
        ("pack/systems.toml", include_str!("../pack/systems.toml")),
        ("pack/organization.toml", include_str!("../pack/organization.toml")),
        ("pack/access.toml", include_str!("../pack/access.toml")),
    ];
    let mut rules = Vec::new();
    for (file, text) in PACKS {
        rules.extend(load_pack(file, text)?);
    }
    Ok(rules)
}
