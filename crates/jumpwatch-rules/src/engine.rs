//! The [`Engine`]: a set of rules — the pack's, the user's, native ones — and their evaluation
//! over an inventory (state rules), the changes of a poll (change rules) and Directory Insights
//! events (event rules).
//!
//! A state evaluation converts each resource's document into a CEL value once, and builds its
//! relations (`rel`) only when a rule of its kind reads them; every rule of the kind then judges
//! that one value.

use std::path::Path;
use std::sync::Arc;

use cel::{Context, Env};
use chrono::{DateTime, Utc};
use jumpwatch_changes::diff::{ArrayRules, diff_documents};
use jumpwatch_changes::{ChangeEvent, ChangeOp};
use jumpwatch_model::event::DirectoryEvent;
use jumpwatch_model::{Inventory, Normalizer, Resource, ResourceKind};
use serde::Serialize;
use serde_json::Value;

use crate::compile::{CompiledRule, Fields, Frame, JsonRel, Memo};
use crate::demand::{Demand, Reads};
use crate::eval::{
    ChangeView, Compiled, Fallback, Patterns, Ready, add_change_functions, change_val, decide,
    judge, null_val, root_context,
};
use crate::pack::{CelRule, Input, RuleError, builtin, load_pack};
use crate::relations::{Docs, RelCache, Relations};
use crate::rule::{Evidence, Outcome, Rule, RuleInfo, RuleType, Scope, Severity, Subject, Verdict};
use crate::value::{cel_map, cel_pruned, cel_val};

/// One rule's verdict on one subject.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RuleResult {
    /// The rule.
    pub rule: String,
    /// The rule's type.
    pub rule_type: RuleType,
    /// The rule's severity.
    pub severity: Severity,
    /// The subject's kind (`None` for a Directory Insights event).
    pub kind: Option<ResourceKind>,
    /// The subject's id: the resource's; for an event, the resource it names, else who did it.
    pub resource: String,
    /// The subject's name.
    pub name: Option<String>,
    /// The outcome.
    pub outcome: Outcome,
    /// The message of a failure; the reason of an unknown.
    pub message: Option<String>,
    /// The values that decided it.
    pub evidence: Vec<Evidence>,
}

impl RuleResult {
    fn new(
        info: &RuleInfo,
        kind: Option<ResourceKind>,
        resource: String,
        name: Option<String>,
        verdict: Verdict,
    ) -> Self {
        Self {
            rule: info.id.clone(),
            rule_type: info.rule_type,
            severity: info.severity,
            kind,
            resource,
            name,
            outcome: verdict.outcome,
            message: verdict.message,
            evidence: verdict.evidence,
        }
    }
}

/// A rule's test case that did not give the outcome it expects.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TestFailure {
    /// The rule.
    pub rule: String,
    /// The test case's name.
    pub test: String,
    /// Where it is defined.
    pub source: String,
    /// What it expects.
    pub expected: Outcome,
    /// What the rule gave.
    pub got: Outcome,
    /// The rule's message or reason.
    pub message: Option<String>,
}

impl std::fmt::Display for TestFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} / {}: expected {}, got {}",
            self.source, self.rule, self.test, self.expected, self.got
        )?;
        if let Some(message) = &self.message {
            write!(f, " ({message})")?;
        }
        Ok(())
    }
}

/// Rules, ready to evaluate.
pub struct Engine {
    cel: Vec<CelRule>,
    native: Vec<Arc<dyn Rule>>,
    env: Arc<Env>,
    patterns: Arc<Patterns>,
    /// Whether state rules' conditions run compiled where they can (else always interpreted).
    compiled: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rules", &self.cel.len())
            .field("native", &self.native.len())
            .finish()
    }
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    /// An engine without rules.
    #[must_use]
    pub fn new() -> Self {
        Self {
            cel: Vec::new(),
            native: Vec::new(),
            env: Arc::new(Env::stdlib()),
            patterns: Arc::new(Patterns::default()),
            compiled: true,
        }
    }

    /// Whether the conditions and messages of state rules run compiled to Rust where they can
    /// (the default: the same outcomes, reasons and messages, several times faster), or always
    /// through the CEL interpreter — to compare the two, or to rule the compiler out.
    #[must_use]
    pub fn compiled(mut self, compiled: bool) -> Self {
        self.compiled = compiled;
        self
    }

    /// An engine with the built-in JumpCloud pack, and the built-in rules written in Rust.
    pub fn builtin() -> Result<Self, RuleError> {
        let mut engine = Self::new();
        engine.add_rules(builtin()?)?;
        for rule in crate::native::builtin() {
            engine.add_native(rule)?;
        }
        Ok(engine)
    }

    fn refuse_duplicate(&self, id: &str, source: &str) -> Result<(), RuleError> {
        if let Some(existing) = self.rules().find(|r| r.id == id) {
            let (file, line) = split_source(source);
            return Err(RuleError {
                file,
                line,
                message: format!("{id}: already defined at {}", existing.source),
            });
        }
        Ok(())
    }

    /// Adds data rules; an id already known is refused.
    pub fn add_rules(&mut self, rules: Vec<CelRule>) -> Result<(), RuleError> {
        for rule in &rules {
            self.refuse_duplicate(&rule.info.id, &rule.info.source)?;
        }
        self.cel.extend(rules);
        Ok(())
    }

    /// Loads and adds the rules of a pack file's text (`file` names it in errors).
    pub fn add_pack(&mut self, file: &str, text: &str) -> Result<(), RuleError> {
        self.add_rules(load_pack(file, text)?)
    }

    /// Loads every `*.toml` file of a directory (in name order) or a single file. Returns how many
    /// rules were added.
    pub fn load_path(&mut self, path: &Path) -> Result<usize, RuleError> {
        let unreadable = |path: &Path, e: std::io::Error| RuleError {
            file: path.display().to_string(),
            line: 1,
            message: format!("cannot be read: {e}"),
        };
        let files = if path.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| unreadable(path, e))?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            files.sort();
            files
        } else {
            vec![path.to_path_buf()]
        };
        let before = self.cel.len();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| unreadable(&file, e))?;
            self.add_pack(&file.display().to_string(), &text)?;
        }
        Ok(self.cel.len() - before)
    }

    /// Adds a rule written in Rust.
    pub fn add_native(&mut self, rule: Arc<dyn Rule>) -> Result<(), RuleError> {
        let info = rule.info();
        self.refuse_duplicate(&info.id, &info.source)?;
        if info.rule_type != RuleType::Event && info.kind.is_none() {
            return Err(RuleError {
                file: info.source.clone(),
                line: 1,
                message: format!("{}: a {} rule names the kind it judges", info.id, info.rule_type),
            });
        }
        self.native.push(rule);
        Ok(())
    }

    /// Sets a parameter of a rule (a threshold from the configuration). The rule must declare
    /// it, and the new value must be of the same type as the default. A native rule must not be
    /// shared outside the engine while it is set.
    pub fn set_param(&mut self, rule: &str, name: &str, value: Value) -> Result<(), String> {
        let same_type = |current: Option<&Value>| {
            let current = current.ok_or_else(|| format!("{rule} has no parameter {name:?}"))?;
            if std::mem::discriminant(current) == std::mem::discriminant(&value)
                && (current.is_f64() == value.is_f64())
            {
                Ok(())
            } else {
                Err(format!("{rule}.{name} is {current}, so {value} is not a value of its type"))
            }
        };
        if let Some(found) = self.cel.iter_mut().find(|r| r.info.id == rule) {
            same_type(found.info.params.get(name))?;
            found.info.params.insert(name.to_owned(), value);
            return Ok(());
        }
        let found = self
            .native
            .iter_mut()
            .find(|r| r.info().id == rule)
            .ok_or_else(|| format!("no rule {rule}"))?;
        same_type(found.info().params.get(name))?;
        Arc::get_mut(found)
            .ok_or_else(|| format!("{rule} is shared outside the engine, so it cannot be changed"))?
            .set_param(name, value)
    }

    /// Drops a rule (one turned off in the configuration). Returns whether it was there.
    pub fn remove(&mut self, id: &str) -> bool {
        let before = self.cel.len() + self.native.len();
        self.cel.retain(|r| r.info.id != id);
        self.native.retain(|r| r.info().id != id);
        before != self.cel.len() + self.native.len()
    }

    /// Every rule, data rules first.
    pub fn rules(&self) -> impl Iterator<Item = &RuleInfo> {
        self.cel.iter().map(|r| &r.info).chain(self.native.iter().map(|r| r.info()))
    }

    /// A rule by id.
    #[must_use]
    pub fn rule(&self, id: &str) -> Option<&RuleInfo> {
        self.rules().find(|r| r.id == id)
    }

    /// The data rules.
    #[must_use]
    pub fn cel_rules(&self) -> &[CelRule] {
        &self.cel
    }

    /// How many rules there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.cel.len() + self.native.len()
    }

    /// Whether there is none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs every data rule's test cases; returns the ones that fail.
    #[must_use]
    pub fn test(&self, now: DateTime<Utc>) -> Vec<TestFailure> {
        let mut failures = Vec::new();
        for rule in &self.cel {
            for case in &rule.tests {
                let verdict = self.check(rule, &case.input, now);
                if verdict.outcome != case.expect {
                    failures.push(TestFailure {
                        rule: rule.info.id.clone(),
                        test: case.name.clone(),
                        source: case.source.clone(),
                        expected: case.expect,
                        got: verdict.outcome,
                        message: verdict.message,
                    });
                }
            }
        }
        failures
    }

    /// One data rule on an input given as JSON (what a test case does).
    #[must_use]
    pub fn check(&self, rule: &CelRule, input: &Input, now: DateTime<Utc>) -> Verdict {
        let root = root_context(&self.env, &self.patterns, now, input.org.as_ref());
        let empty = Value::Object(serde_json::Map::new());
        let rel = input.rel.as_ref().unwrap_or(&empty);
        match rule.info.rule_type {
            RuleType::State => {
                let mut doc = input.doc.clone();
                if let Some(kind) = rule.info.kind {
                    Normalizer::for_kind(kind).redact(&mut doc);
                }
                let mut scope = root.new_inner_scope();
                scope.add_variable_as_val("r", cel_val(&doc));
                scope.add_variable_as_val("rel", cel_val(rel));
                let compiled =
                    CompiledRule::new(rule, self.compiled, &Fields::default(), &self.patterns);
                let json_rel = JsonRel(rel);
                let org = input.org.as_ref();
                // No document of a test case is shared: nothing to memoize.
                let frame =
                    Frame { r: &doc, fields: &[], rel: Some(&json_rel), org, now, memo: None };
                let mut fallback = Ready(&scope);
                let mut answers =
                    Compiled { rule, compiled: &compiled, frame: &frame, fallback: &mut fallback };
                decide(rule, &doc, &mut answers)
            }
            RuleType::Change => {
                let after = Some(&input.doc).filter(|d| !d.is_null());
                let before = input.before.as_ref();
                let changes = match (before, after, rule.info.kind) {
                    (Some(before), Some(after), Some(kind)) => {
                        diff_documents(before, after, &ArrayRules::for_kind(kind))
                    }
                    _ => Vec::new(),
                };
                let op = match (before, after) {
                    (None, _) => ChangeOp::Created,
                    (Some(_), None) => ChangeOp::Deleted,
                    (Some(_), Some(_)) => ChangeOp::Updated,
                };
                let view = ChangeView {
                    op: op.as_str(),
                    changes: &changes,
                    before,
                    after,
                    actor: input.actor.as_ref(),
                    attribution: input.attribution.as_deref().map_or("unknown", attribution_name),
                };
                judge_change(self, rule, &view, cel_val(rel), now, input.org.as_ref())
            }
            RuleType::Event => {
                let mut scope = root.new_inner_scope();
                scope.add_variable_as_val("e", cel_val(&input.doc));
                judge(rule, &scope, &input.doc)
            }
        }
    }

    /// The state rules over every resource of their kinds.
    #[must_use]
    pub fn evaluate_state(&self, inventory: &Inventory, now: DateTime<Utc>) -> Vec<RuleResult> {
        // What each kind's rules read: a resource's document and relations are converted to that
        // much, and the documents relations share are converted once for all.
        let plans: Vec<KindPlan<'_>> = inventory
            .kinds()
            .filter_map(|kind| KindPlan::new(self, kind, RuleType::State))
            .collect();
        let docs = Docs::new(inventory);
        let relations = Relations::new(&docs);
        let org_resource = inventory.resources(ResourceKind::Organization).next();
        let org = org_resource.map(|o| docs.doc(o));
        let root = root_context(&self.env, &self.patterns, now, org);
        let scope = Scope::new(now, Some(inventory), org);
        let evaluations =
            plans.iter().map(|p| inventory.count(p.kind) * (p.rules.len() + p.native.len())).sum();
        let mut results = Vec::with_capacity(evaluations);
        for plan in &plans {
            let kind = plan.kind;
            let fields = Fields::of(&plan.reads.subject);
            let compiled: Vec<CompiledRule> = plan
                .rules
                .iter()
                .map(|r| CompiledRule::new(r, self.compiled, &fields, &self.patterns))
                .collect();
            let rel_names = RelCache::names(&plan.reads.rel);
            // After `compiled`, so that it goes first: its keys name compiled code.
            let memo = Memo::default();
            for resource in inventory.resources(kind) {
                // The document is redacted (a copy, with a keyed hash of each secret) only when
                // the rules read a part of it that has secrets.
                let doc = if plan.reads_secrets { docs.doc(resource) } else { &resource.doc };
                let rel = RelCache::new(&relations, resource, &plan.reads.rel, &rel_names);
                let slots = fields.slots();
                let frame =
                    Frame { r: doc, fields: &slots, rel: Some(&rel), org, now, memo: Some(&memo) };
                // The interpreter's scope, built when compiled code first leaves it a question.
                let mut fallback = LazyScope {
                    root: &root,
                    doc,
                    subject: &plan.reads.subject,
                    rel: &plan.reads.rel,
                    relations: &relations,
                    resource,
                    scope: None,
                    with_relations: false,
                };
                let name = display_name(&relations, resource);
                let result = |info: &RuleInfo, verdict| {
                    RuleResult::new(
                        info,
                        Some(kind),
                        resource.id.as_str().to_owned(),
                        name.clone(),
                        verdict,
                    )
                };
                for (rule, compiled) in plan.rules.iter().zip(&compiled) {
                    let mut answers =
                        Compiled { rule, compiled, frame: &frame, fallback: &mut fallback };
                    results.push(result(&rule.info, decide(rule, doc, &mut answers)));
                }
                for rule in &plan.native {
                    results.push(result(
                        rule.info(),
                        rule.evaluate(Subject::Resource(resource), &scope),
                    ));
                }
            }
        }
        results
    }

    /// The change rules over the changes of a poll; `inventory` is the snapshot after it.
    #[must_use]
    pub fn evaluate_changes(
        &self,
        events: &[ChangeEvent],
        inventory: &Inventory,
        now: DateTime<Utc>,
    ) -> Vec<RuleResult> {
        let docs = Docs::new(inventory);
        let relations = Relations::new(&docs);
        let org = inventory.resources(ResourceKind::Organization).next().map(|o| docs.doc(o));
        let scope = Scope::new(now, Some(inventory), org);
        let mut results = Vec::new();
        for event in events {
            let of_kind = |info: &RuleInfo| {
                info.rule_type == RuleType::Change && info.kind == Some(event.kind)
            };
            let rules: Vec<&CelRule> = self.cel.iter().filter(|r| of_kind(&r.info)).collect();
            let native: Vec<&Arc<dyn Rule>> =
                self.native.iter().filter(|r| of_kind(r.info())).collect();
            if rules.is_empty() && native.is_empty() {
                continue;
            }
            let actor = event.actor.as_ref().and_then(|a| serde_json::to_value(a).ok());
            let view = ChangeView {
                op: event.op.as_str(),
                changes: &event.changes,
                before: event.before.as_ref(),
                after: event.after.as_ref(),
                actor: actor.as_ref(),
                attribution: event.attribution.as_str(),
            };
            // A deleted resource is not in the inventory: its relations come from its last document.
            let gone;
            let resource = match inventory.get(event.kind, &event.resource_id) {
                Some(resource) => Some(resource),
                None => {
                    gone = event.before.clone().and_then(|doc| match &event.parent {
                        Some(parent) => {
                            Resource::from_child_doc(event.kind, parent.clone(), doc).ok()
                        }
                        None => Resource::from_doc(event.kind, doc).ok(),
                    });
                    gone.as_ref()
                }
            };
            let name =
                resource.and_then(|r| display_name(&relations, r)).or_else(|| event.name.clone());
            let result = |info: &RuleInfo, verdict| {
                RuleResult::new(
                    info,
                    Some(event.kind),
                    event.resource_id.to_string(),
                    name.clone(),
                    verdict,
                )
            };
            for rule in rules {
                let rel = match resource {
                    Some(resource) if rule.relations.any() => {
                        relations.of(resource, &rule.reads.rel)
                    }
                    _ => Box::new(cel_map(std::iter::empty())),
                };
                results.push(result(&rule.info, judge_change(self, rule, &view, rel, now, org)));
            }
            for rule in native {
                results.push(result(rule.info(), rule.evaluate(Subject::Change(event), &scope)));
            }
        }
        results
    }

    /// The event rules over Directory Insights events: a poll's new events, judged one at a
    /// time; native rules also see them all ([`Scope::events`]).
    #[must_use]
    pub fn evaluate_events(
        &self,
        events: &[DirectoryEvent],
        inventory: Option<&Inventory>,
        now: DateTime<Utc>,
    ) -> Vec<RuleResult> {
        let org =
            inventory.and_then(|i| i.resources(ResourceKind::Organization).next()).map(|o| &o.doc);
        let rules: Vec<&CelRule> =
            self.cel.iter().filter(|r| r.info.rule_type == RuleType::Event).collect();
        let native: Vec<&Arc<dyn Rule>> =
            self.native.iter().filter(|r| r.info().rule_type == RuleType::Event).collect();
        let root = root_context(&self.env, &self.patterns, now, org);
        let scope = Scope::new(now, inventory, org).with_events(events);
        let mut results = Vec::new();
        for event in events {
            let mut context = root.new_inner_scope();
            context.add_variable_as_val("e", cel_val(&event.raw));
            let (id, name) = event_subject(event);
            let result = |info: &RuleInfo, verdict| {
                RuleResult::new(info, None, id.clone(), name.clone(), verdict)
            };
            for rule in &rules {
                results.push(result(&rule.info, judge(rule, &context, &event.raw)));
            }
            for rule in &native {
                results.push(result(rule.info(), rule.evaluate(Subject::Event(event), &scope)));
            }
        }
        results
    }
}

/// The rules of one kind and type, and what they read.
struct KindPlan<'e> {
    kind: ResourceKind,
    rules: Vec<&'e CelRule>,
    native: Vec<&'e Arc<dyn Rule>>,
    /// What the data rules read, together.
    reads: Reads,
    /// Whether the data rules read — in their conditions, messages or evidence — a field of the
    /// document under which the kind has secrets: then they see the redacted document, else
    /// the document itself, which is the same in every part they read.
    reads_secrets: bool,
}

impl<'e> KindPlan<'e> {
    /// `None` when no rule judges the kind.
    fn new(engine: &'e Engine, kind: ResourceKind, rule_type: RuleType) -> Option<Self> {
        let rules: Vec<&CelRule> = engine
            .cel
            .iter()
            .filter(|r| r.info.rule_type == rule_type && r.info.kind == Some(kind))
            .collect();
        let native: Vec<&Arc<dyn Rule>> = engine
            .native
            .iter()
            .filter(|r| r.info().rule_type == rule_type && r.info().kind == Some(kind))
            .collect();
        if rules.is_empty() && native.is_empty() {
            return None;
        }
        let reads = rules.iter().fold(Reads::default(), |mut all, rule| {
            all.union(&rule.reads);
            all
        });
        // A secret's path starts with a field of the document (`stdOut`, `values[...]...`).
        let top = |path: &str| path.split(['.', '[']).next().unwrap_or_default().to_owned();
        let secret: Vec<String> = kind.meta().secret.iter().map(|path| top(path)).collect();
        let reads_secrets = secret.iter().any(|field| reads.subject.member(field).is_some())
            || rules
                .iter()
                .flat_map(|rule| &rule.evidence_paths)
                .any(|path| secret.contains(&top(path)));
        Some(Self { kind, rules, native, reads, reads_secrets })
    }
}

/// The interpreter's scope of one resource, built when compiled code first leaves it a
/// question: `r` with what the kind's rules read of it, and `rel` once a rule that reads it asks.
struct LazyScope<'s, 'v> {
    root: &'s Context<'v, 'v>,
    doc: &'v Value,
    subject: &'v Demand,
    rel: &'v Demand,
    relations: &'s Relations<'v>,
    resource: &'v Resource,
    scope: Option<Context<'s, 'v>>,
    with_relations: bool,
}

impl<'v> Fallback<'v> for LazyScope<'_, 'v> {
    fn scope(&mut self, relations: bool) -> &Context<'_, 'v> {
        let scope = self.scope.get_or_insert_with(|| {
            let mut scope = self.root.new_inner_scope();
            scope.add_variable_as_val("r", cel_pruned(self.doc, self.subject));
            scope
        });
        if relations && !self.with_relations {
            scope.add_variable_as_val("rel", self.relations.of(self.resource, self.rel));
            self.with_relations = true;
        }
        scope
    }
}

/// The CEL value of a test case's `attribution`: one of the three names, else `unknown`.
fn attribution_name(text: &str) -> &'static str {
    match text {
        "attributed" => "attributed",
        "unattributed" => "unattributed",
        _ => "unknown",
    }
}

/// A resource's name for people: its own, or for a relation "parent → target" by their names.
fn display_name(relations: &Relations<'_>, resource: &Resource) -> Option<String> {
    if resource.name.is_some() {
        return resource.name.clone();
    }
    let meta = resource.kind.meta();
    let end = |kind: Option<ResourceKind>, id: Option<&jumpwatch_model::ResourceId>| {
        let id = id?;
        Some(
            kind.and_then(|k| relations.get(k, id))
                .and_then(|r| r.name.clone())
                .unwrap_or_else(|| id.to_string()),
        )
    };
    let target = resource.target();
    let parent = end(meta.parent.map(|p| p.kind), resource.parent.as_ref());
    let target = end(meta.relation.map(|r| r.to), target.as_ref());
    match (parent, target) {
        (Some(parent), Some(target)) => Some(format!("{parent} → {target}")),
        (Some(one), None) | (None, Some(one)) => Some(one),
        (None, None) => None,
    }
}

/// What an event is about: the resource it names, else who did it, else the event itself.
fn event_subject(event: &DirectoryEvent) -> (String, Option<String>) {
    if let Some(resource) = &event.resource
        && let Some(id) = &resource.id
    {
        return (id.clone(), resource.name.clone());
    }
    if let Some(initiator) = &event.initiated_by
        && let Some(id) = initiator.id.as_ref().or(initiator.email.as_ref())
    {
        return (id.clone(), initiator.email.clone());
    }
    (event.id.clone().unwrap_or_else(|| "event".to_owned()), event.event_type.clone())
}

/// One change rule on one change.
fn judge_change<'v>(
    engine: &Engine,
    rule: &CelRule,
    view: &ChangeView<'v>,
    rel: Box<dyn cel::common::value::Val + 'v>,
    now: DateTime<Utc>,
    org: Option<&'v Value>,
) -> Verdict {
    let mut root: Context<'v, 'v> = root_context(&engine.env, &engine.patterns, now, org);
    add_change_functions(&mut root, view);
    let subject = view.after.or(view.before);
    let empty = Value::Null;
    let value = |doc: Option<&'v Value>| doc.map_or_else(null_val, cel_val);
    root.add_variable_as_val("r", value(subject));
    root.add_variable_as_val("before", value(view.before));
    root.add_variable_as_val("after", value(view.after));
    root.add_variable_as_val("actor", value(view.actor));
    root.add_variable_as_val("change", change_val(view));
    root.add_variable_as_val("rel", rel);
    judge(rule, &root, subject.unwrap_or(&empty))
}

fn split_source(source: &str) -> (String, usize) {
    match source.rsplit_once(':') {
        Some((file, line)) if line.parse::<usize>().is_ok() => {
            (file.to_owned(), line.parse().unwrap_or(1))
        }
        _ => (source.to_owned(), 1),
    }
}
