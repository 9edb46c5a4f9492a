//! [`CelRule`]: a security rule as data — TOML with CEL conditions — loaded and compiled once;
//! [`load_pack`] reads a pack file, [`builtin`] the JumpCloud pack.
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

use crate::demand::Reads;
use crate::rule::{DEFAULT_OPEN_FOR, Outcome, References, RuleInfo, RuleType, Severity};

/// What a rule is asked to judge, as JSON: a test case's input, or a document to try a rule on.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Input {
    /// The resource document (state rules); the document after the change, `null` for a
    /// deletion (change rules); the event (event rules).
    pub doc: Value,
    /// The document before the change (change rules; `None` for a creation).
    pub before: Option<Value>,
    /// The relations (`rel`), as the engine builds them from the inventory.
    pub rel: Option<Value>,
    /// The organization's document, when the rule reads it.
    pub org: Option<Value>,
    /// Who made the change (change rules).
    pub actor: Option<Value>,
    /// Whether the audit log explains the change (change rules): `attributed`, `unattributed`
    /// or `unknown` (the default).
    pub attribution: Option<String>,
}

impl Input {
    /// A document alone.
    #[must_use]
    pub fn doc(doc: Value) -> Self {
        Self { doc, ..Self::default() }
    }

    /// With the relations.
    #[must_use]
    pub fn rel(mut self, rel: Value) -> Self {
        self.rel = Some(rel);
        self
    }

    /// With the organization's document.
    #[must_use]
    pub fn org(mut self, org: Value) -> Self {
        self.org = Some(org);
        self
    }

    /// With the document before the change.
    #[must_use]
    pub fn before(mut self, before: Value) -> Self {
        self.before = Some(before);
        self
    }
}

/// A test case of a rule: its input and the outcome it must give.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TestCase {
    /// What it shows.
    pub name: String,
    /// The outcome it must give.
    pub expect: Outcome,
    /// What the rule judges.
    pub input: Input,
    /// Where it was defined (`file:line`).
    pub source: String,
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

/// The relations (`rel.<name>`) an expression set reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Relations {
    /// These names.
    Some(std::collections::BTreeSet<String>),
    /// Every one (`rel` read as a whole).
    #[default]
    All,
}

impl Relations {
    pub(crate) const fn none() -> Self {
        Self::Some(std::collections::BTreeSet::new())
    }

    fn or_all(self, whole: bool) -> Self {
        if whole { Self::All } else { self }
    }

    /// Whether any relation is read.
    pub(crate) fn any(&self) -> bool {
        match self {
            Self::Some(names) => !names.is_empty(),
            Self::All => true,
        }
    }
}

/// A piece of a message: text, or a placeholder's expression.
#[derive(Debug, Clone)]
pub(crate) enum MessagePart {
    Text(String),
    Expression(Condition),
}

/// Splits a message into text and `{{expression}}` placeholders.
fn message_pieces(message: &str) -> Result<Vec<(bool, String)>, String> {
    let mut out = Vec::new();
    let mut rest = message;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push((false, rest[..start].to_owned()));
        }
        let end = rest[start..].find("}}").ok_or("a `{{` without its `}}`")?;
        let expression = rest[start + 2..start + end].trim();
        if expression.is_empty() {
            return Err("an empty `{{}}`".to_owned());
        }
        out.push((true, expression.to_owned()));
        rest = &rest[start + end + 2..];
    }
    if !rest.is_empty() {
        out.push((false, rest.to_owned()));
    }
    Ok(out)
}

/// A rule written as data: TOML with CEL conditions, loaded and compiled once.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CelRule {
    /// What it is.
    pub info: RuleInfo,
    /// When it applies (default: always).
    pub applies: Option<Condition>,
    /// When the subject fails.
    pub fails: Condition,
    /// When the evidence is missing (a device that never reported): the outcome is unknown.
    pub unknown: Option<Condition>,
    /// The finding's message as written: text with `{{expression}}` placeholders, each a CEL
    /// expression over the rule's variables (`{{r.username}}`, `{{rel.target.username}}`,
    /// `{{params.stale_device_days}}`).
    pub message: String,
    /// The message, split into text and compiled placeholders.
    pub(crate) message_parts: Vec<MessagePart>,
    /// Its test cases.
    pub tests: Vec<TestCase>,
    /// The relations its expressions read (the engine builds only those, and only for rules
    /// that read some).
    pub(crate) relations: Relations,
    /// Whether a condition reads `rel`; when only the message does, the relations are built for
    /// failures alone.
    pub(crate) conditions_read_relations: bool,
    /// The document paths the conditions read (`r.mfa.configured`), shown as evidence.
    pub(crate) evidence_paths: Vec<String>,
    /// What its expressions read of `r` and `rel`, from their syntax trees: a state evaluation
    /// converts only that much to CEL.
    pub(crate) reads: Reads,
}

impl std::ops::Deref for CelRule {
    type Target = RuleInfo;

    fn deref(&self) -> &RuleInfo {
        &self.info
    }
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
    kind: Option<Spanned<String>>,
    #[serde(default, rename = "type")]
    rule_type: Option<Spanned<RuleType>>,
    applies: Option<Spanned<String>>,
    fails: Spanned<String>,
    unknown: Option<Spanned<String>>,
    message: Spanned<String>,
    rationale: String,
    remediation: String,
    open_for: Option<Spanned<String>>,
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
    before: Option<String>,
    rel: Option<String>,
    org: Option<String>,
    actor: Option<String>,
    attribution: Option<String>,
}

/// The variables a condition may read, by rule type (see `docs/rules.md`).
#[must_use]
pub const fn variables(rule_type: RuleType) -> &'static [&'static str] {
    match rule_type {
        RuleType::State => &["r", "rel", "params", "now", "org"],
        RuleType::Change => {
            &["r", "rel", "change", "before", "after", "actor", "params", "now", "org"]
        }
        RuleType::Event => &["e", "params", "now", "org"],
    }
}

/// The functions Jumpwatch adds to CEL (see `docs/rules.md`); `changed` and `became` are for
/// change rules.
pub const FUNCTIONS: &[&str] =
    &["age", "days", "hours", "lower", "cidr_prefix", "re", "changed", "became"];

fn line_of(text: &str, span: Range<usize>) -> usize {
    text.get(..span.start).map_or(1, |before| before.matches('\n').count() + 1)
}

/// A TOML value as JSON (a date-time as its text): how parameters are read, from a pack or
/// from the configuration.
#[must_use]
pub fn toml_to_json(value: toml::Value) -> Value {
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
pub fn load_pack(file: &str, text: &str) -> Result<Vec<CelRule>, RuleError> {
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
        let rule_span = spanned.span();
        let raw = spanned.into_inner();
        let id = raw.id.clone();
        let rule_type = raw.rule_type.as_ref().map_or(RuleType::State, |t| *t.get_ref());
        let kind = match (&raw.kind, rule_type) {
            (Some(kind), RuleType::State | RuleType::Change) => Some(
                kind.get_ref()
                    .parse::<ResourceKind>()
                    .map_err(|e| error(Some(kind.span()), format!("{id}: {e}")))?,
            ),
            (None, RuleType::State | RuleType::Change) => {
                return Err(error(
                    Some(rule_span),
                    format!("{id}: a {rule_type} rule names the `kind` it judges"),
                ));
            }
            (Some(kind), RuleType::Event) => {
                return Err(error(
                    Some(kind.span()),
                    format!("{id}: an event rule judges Directory Insights events, not a `kind`"),
                ));
            }
            (None, RuleType::Event) => None,
        };
        let open_for = match &raw.open_for {
            None => DEFAULT_OPEN_FOR,
            Some(_) if rule_type == RuleType::State => {
                return Err(error(
                    Some(rule_span),
                    format!(
                        "{id}: `open_for` is for change and event rules; a state rule's finding stays open while it fails"
                    ),
                ));
            }
            Some(span) => jumpwatch_model::parse_span(span.get_ref())
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .ok_or_else(|| {
                    error(
                        Some(span.span()),
                        format!(
                            "{id}: `open_for` is {:?}, not a span such as 7d, 12h or 30m",
                            span.get_ref()
                        ),
                    )
                })?,
        };
        let params: BTreeMap<String, Value> =
            raw.params.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect();
        let allowed = variables(rule_type);
        let compile = |field: &str, source: &Spanned<String>| -> Result<Condition, RuleError> {
            let text_of = source.get_ref();
            let program = env.compile(text_of).map_err(|e| {
                error(Some(source.span()), format!("{id}: `{field}` does not parse: {e}"))
            })?;
            let references = program.references();
            let bound = macro_variables(text_of);
            for variable in references.variables() {
                if !allowed.contains(&variable) && !bound.iter().any(|b| b == variable) {
                    return Err(error(
                        Some(source.span()),
                        format!(
                            "{id}: `{field}` reads `{variable}`, which is not a variable of a {rule_type} rule (use {})",
                            allowed.join(", ")
                        ),
                    ));
                }
            }
            for function in references.functions() {
                if matches!(function, "changed" | "became") && rule_type != RuleType::Change {
                    return Err(error(
                        Some(source.span()),
                        format!("{id}: `{field}` calls `{function}`, which only change rules have"),
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
        let mut message_parts = Vec::new();
        let pieces = message_pieces(raw.message.get_ref())
            .map_err(|e| error(Some(raw.message.span()), format!("{id}: `message` has {e}")))?;
        for (is_expression, piece) in pieces {
            message_parts.push(if is_expression {
                let spanned = Spanned::new(raw.message.span(), piece);
                MessagePart::Expression(compile("message", &spanned)?)
            } else {
                MessagePart::Text(piece)
            });
        }
        let unknown = raw.unknown.as_ref().map(|s| compile("unknown", s)).transpose()?;
        let conditions: Vec<&Condition> =
            applies.iter().chain(std::iter::once(&fails)).chain(unknown.iter()).collect();
        let expressions: Vec<&Condition> = conditions
            .iter()
            .copied()
            .chain(message_parts.iter().filter_map(|p| match p {
                MessagePart::Expression(c) => Some(c),
                MessagePart::Text(_) => None,
            }))
            .collect();
        let mut demand = Reads::default();
        for expression in &expressions {
            demand.add(expression.program.expression());
        }
        let reads = |c: &Condition| c.program.references().has_variable("rel");
        let reads_relations = expressions.iter().any(|c| reads(c));
        // Which relations: the names read as `rel.<name>`; all of them when `rel` is read whole.
        let relations = if reads_relations {
            let mut names = std::collections::BTreeSet::new();
            let mut whole = false;
            for c in &expressions {
                whole |= reads(c) && reads_whole(&c.source, "rel");
                names.extend(
                    document_paths(&c.source, "rel")
                        .into_iter()
                        .map(|path| path.split('.').next().unwrap_or_default().to_owned()),
                );
            }
            Relations::Some(names).or_all(whole)
        } else {
            Relations::none()
        };
        let conditions_read_relations = conditions.iter().any(|c| reads(c));
        // The evidence: the subject's paths the conditions read (a change rule's subject is the
        // document after the change, so `before.x` and `after.x` name its paths too).
        let roots: &[&str] = match rule_type {
            RuleType::State => &["r"],
            RuleType::Change => &["r", "after", "before"],
            RuleType::Event => &["e"],
        };
        let mut evidence_paths = Vec::new();
        for condition in &conditions {
            for root in roots {
                for path in document_paths(&condition.source, root) {
                    if !evidence_paths.contains(&path) {
                        evidence_paths.push(path);
                    }
                }
            }
        }
        let mut tests = Vec::new();
        for (index, test) in raw.tests.into_iter().enumerate() {
            let span = test.span();
            let test = test.into_inner();
            let expect: Outcome = test.expect.parse().map_err(|e| {
                error(Some(span.clone()), format!("{id}: test {index}: `expect` is {e}"))
            })?;
            let parse = |field: &str, text: &str| -> Result<Value, RuleError> {
                serde_json::from_str(text).map_err(|e| {
                    error(
                        Some(span.clone()),
                        format!("{id}: test {index}: `{field}` is not JSON: {e}"),
                    )
                })
            };
            if rule_type != RuleType::Change && (test.before.is_some() || test.actor.is_some()) {
                return Err(error(
                    Some(span),
                    format!("{id}: test {index}: `before` and `actor` are for change rules"),
                ));
            }
            tests.push(TestCase {
                name: test.name.unwrap_or_else(|| format!("test {index}")),
                expect,
                input: Input {
                    doc: parse("doc", &test.doc)?,
                    before: test.before.as_deref().map(|t| parse("before", t)).transpose()?,
                    rel: test.rel.as_deref().map(|t| parse("rel", t)).transpose()?,
                    org: test.org.as_deref().map(|t| parse("org", t)).transpose()?,
                    actor: test.actor.as_deref().map(|t| parse("actor", t)).transpose()?,
                    attribution: test.attribution.clone(),
                },
                source: format!("{file}:{}", line_of(text, span)),
            });
        }
        rules.push(CelRule {
            info: RuleInfo {
                id: raw.id,
                title: raw.title,
                severity: raw.severity,
                rule_type,
                kind,
                rationale: raw.rationale,
                remediation: raw.remediation,
                params,
                references: raw.references,
                open_for,
                source: format!("{file}:{}", line_of(text, rule_span)),
            },
            applies,
            fails,
            unknown,
            message: raw.message.into_inner(),
            message_parts,
            tests,
            relations,
            conditions_read_relations,
            evidence_paths,
            reads: demand,
        });
    }
    let mut ids = std::collections::BTreeSet::new();
    for rule in &rules {
        if !ids.insert(&rule.info.id) {
            return Err(RuleError {
                file: file.to_owned(),
                line: 1,
                message: format!("{}: defined twice", rule.info.id),
            });
        }
    }
    Ok(rules)
}

/// Whether an expression reads the variable `root` other than as `root.<name>` (`size(rel)`).
fn reads_whole(source: &str, root: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    source.match_indices(root).any(|(at, _)| {
        let before = source[..at].chars().next_back();
        let after = source[at + root.len()..].chars().next();
        let standalone = !before.is_some_and(|c| ident(c) || c == '.' || c == '\'' || c == '"')
            && !after.is_some_and(ident);
        standalone && after != Some('.')
    })
}

/// The document paths an expression reads through `root` (`r.mfa.configured` → `mfa.configured`).
fn document_paths(source: &str, root: &str) -> Vec<String> {
    let mut out = Vec::new();
    let prefix = format!("{root}.");
    let mut rest = source;
    while let Some(at) = rest.find(&prefix) {
        let before_ok = at == 0
            || !rest[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        let after = &rest[at + prefix.len()..];
        let path: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        let path = path.trim_end_matches('.').to_owned();
        rest = &after[path.len()..];
        // `r.ips.exists(...)`: the path ends before a method call.
        let path = if rest.starts_with('(') {
            path.rsplit_once('.').map(|(head, _)| head.to_owned()).unwrap_or_default()
        } else {
            path
        };
        if before_ok && !path.is_empty() && !out.contains(&path) {
            out.push(path);
        }
    }
    out
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
pub fn builtin() -> Result<Vec<CelRule>, RuleError> {
    const PACKS: &[(&str, &str)] = &[
        ("pack/users.toml", include_str!("../pack/users.toml")),
        ("pack/systems.toml", include_str!("../pack/systems.toml")),
        ("pack/organization.toml", include_str!("../pack/organization.toml")),
        ("pack/access.toml", include_str!("../pack/access.toml")),
        ("pack/administrators.toml", include_str!("../pack/administrators.toml")),
        ("pack/policies.toml", include_str!("../pack/policies.toml")),
        ("pack/directories.toml", include_str!("../pack/directories.toml")),
        ("pack/insights.toml", include_str!("../pack/insights.toml")),
        ("pack/changes.toml", include_str!("../pack/changes.toml")),
        ("pack/events.toml", include_str!("../pack/events.toml")),
    ];
    let mut rules = Vec::new();
    for (file, text) in PACKS {
        rules.extend(load_pack(file, text)?);
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_read_by_name_or_whole() {
        assert!(!reads_whole("rel.groups.exists(g, g.x) || size(rel.groups) > 0", "rel"));
        assert!(!reads_whole("r.release == 'x' && r.rel == 1", "rel"));
        assert!(reads_whole("size(rel) > 0", "rel"));
        assert!(reads_whole("has(rel)", "rel"));
        assert_eq!(
            document_paths("rel.groups.exists(g, true) || size(rel.admin.x) > 0", "rel"),
            ["groups", "admin.x"]
        );
    }
}
