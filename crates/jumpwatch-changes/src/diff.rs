//! The diff: two normalized documents → field changes; two inventories → change events.
//!
//! Documents are first normalized with the catalog's rules ([`Normalizer`]): volatile paths are
//! gone, secrets are hash markers, `null` is the same as missing, set and keyed arrays are in
//! canonical order. Unchanged resources are skipped by comparing hashes. Arrays compare as the
//! catalog says: keyed arrays element by key (`attributes[name=sudo].value`), sets as members
//! added and removed, other arrays by position. A change of type is one `Modified` at that node.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use jumpwatch_model::catalog::ArrayIdentity;
use jumpwatch_model::{
    ContentHash, Inventory, Normalizer, Resource, ResourceId, ResourceKind, TenantId,
};
use serde_json::{Map, Value};

use crate::event::{ChangeEvent, ChangeOp, FieldChange, FieldOp, FieldPath, Segment};
use crate::store::SnapshotIndex;

/// The array identities of a kind, by the array's schema path (`attributes`, `a[].b`).
#[derive(Debug, Clone, Default)]
pub struct ArrayRules {
    by_path: HashMap<String, ArrayIdentity>,
}

impl ArrayRules {
    /// The rules of a catalog kind.
    #[must_use]
    pub fn for_kind(kind: ResourceKind) -> Self {
        Self::new(kind.meta().arrays.iter().map(|(path, identity)| ((*path).to_owned(), *identity)))
    }

    /// Rules from `(path, identity)` pairs.
    pub fn new(rules: impl IntoIterator<Item = (String, ArrayIdentity)>) -> Self {
        Self { by_path: rules.into_iter().collect() }
    }

    fn identity(&self, schema_path: &str) -> ArrayIdentity {
        self.by_path.get(schema_path).copied().unwrap_or(ArrayIdentity::Ordered)
    }
}

fn schema_child(schema: &str, key: &str) -> String {
    if schema.is_empty() { key.to_owned() } else { format!("{schema}.{key}") }
}

/// The field changes that turn normalized document `before` into normalized document `after`.
///
/// ```
/// use jumpwatch_changes::diff::{ArrayRules, diff_documents};
/// use jumpwatch_model::catalog::ArrayIdentity;
/// use serde_json::json;
/// let rules = ArrayRules::new([("attributes".to_owned(), ArrayIdentity::Keyed("name"))]);
/// let before = json!({"attributes": [{"name": "sudo", "value": false}, {"name": "team", "value": "a"}]});
/// let after = json!({"attributes": [{"name": "team", "value": "a"}, {"name": "sudo", "value": true}]});
/// let changes = diff_documents(&before, &after, &rules);
/// assert_eq!(changes.len(), 1);
/// assert_eq!(changes[0].path.render(), "attributes[name=sudo].value");
/// ```
#[must_use]
pub fn diff_documents(before: &Value, after: &Value, rules: &ArrayRules) -> Vec<FieldChange> {
    let mut out = Vec::new();
    diff_value(&FieldPath::default(), "", before, after, rules, &mut out);
    out
}

fn modified(path: &FieldPath, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
    out.push(FieldChange {
        path: path.clone(),
        op: FieldOp::Modified,
        before: Some(before.clone()),
        after: Some(after.clone()),
    });
}

fn diff_value(
    path: &FieldPath,
    schema: &str,
    a: &Value,
    b: &Value,
    rules: &ArrayRules,
    out: &mut Vec<FieldChange>,
) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => diff_objects(path, schema, a, b, rules, out),
        (Value::Array(a_items), Value::Array(b_items)) => {
            let element_schema = format!("{schema}[]");
            match rules.identity(schema) {
                ArrayIdentity::Set => {
                    for item in b_items.iter().filter(|item| !a_items.contains(item)) {
                        out.push(FieldChange {
                            path: path.child(Segment::Member),
                            op: FieldOp::Added,
                            before: None,
                            after: Some(item.clone()),
                        });
                    }
                    for item in a_items.iter().filter(|item| !b_items.contains(item)) {
                        out.push(FieldChange {
                            path: path.child(Segment::Member),
                            op: FieldOp::Removed,
                            before: Some(item.clone()),
                            after: None,
                        });
                    }
                }
                ArrayIdentity::Keyed(field) if keyed(a_items, field) && keyed(b_items, field) => {
                    let key = |item: &Value| item.get(field).cloned().unwrap_or(Value::Null);
                    for b_item in b_items {
                        let k = key(b_item);
                        let child = path
                            .child(Segment::Keyed { field: field.to_owned(), value: k.clone() });
                        match a_items.iter().find(|a_item| key(a_item) == k) {
                            Some(a_item) => {
                                diff_value(&child, &element_schema, a_item, b_item, rules, out)
                            }
                            None => out.push(FieldChange {
                                path: child,
                                op: FieldOp::Added,
                                before: None,
                                after: Some(b_item.clone()),
                            }),
                        }
                    }
                    for a_item in a_items {
                        let k = key(a_item);
                        if !b_items.iter().any(|b_item| key(b_item) == k) {
                            let child =
                                path.child(Segment::Keyed { field: field.to_owned(), value: k });
                            out.push(FieldChange {
                                path: child,
                                op: FieldOp::Removed,
                                before: Some(a_item.clone()),
                                after: None,
                            });
                        }
                    }
                }
                // Ordered, or keyed elements without a unique key: by position.
                _ => {
                    for (index, (a_item, b_item)) in a_items.iter().zip(b_items).enumerate() {
                        diff_value(
                            &path.child(Segment::Index(index)),
                            &element_schema,
                            a_item,
                            b_item,
                            rules,
                            out,
                        );
                    }
                    for (index, item) in b_items.iter().enumerate().skip(a_items.len()) {
                        out.push(FieldChange {
                            path: path.child(Segment::Index(index)),
                            op: FieldOp::Added,
                            before: None,
                            after: Some(item.clone()),
                        });
                    }
                    for (index, item) in a_items.iter().enumerate().skip(b_items.len()) {
                        out.push(FieldChange {
                            path: path.child(Segment::Index(index)),
                            op: FieldOp::Removed,
                            before: Some(item.clone()),
                            after: None,
                        });
                    }
                }
            }
        }
        (a, b) => modified(path, a, b, out),
    }
}

fn diff_objects(
    path: &FieldPath,
    schema: &str,
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    rules: &ArrayRules,
    out: &mut Vec<FieldChange>,
) {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys {
        let child = path.child(Segment::Key(key.clone()));
        match (a.get(key), b.get(key)) {
            (Some(x), Some(y)) => diff_value(&child, &schema_child(schema, key), x, y, rules, out),
            (None, Some(y)) => out.push(FieldChange {
                path: child,
                op: FieldOp::Added,
                before: None,
                after: Some(y.clone()),
            }),
            (Some(x), None) => out.push(FieldChange {
                path: child,
                op: FieldOp::Removed,
                before: Some(x.clone()),
                after: None,
            }),
            (None, None) => {}
        }
    }
}

/// Every element is an object with a distinct value at `field`.
fn keyed(items: &[Value], field: &str) -> bool {
    let mut seen = Vec::with_capacity(items.len());
    for item in items {
        match item.get(field) {
            Some(key) if !key.is_null() && !seen.contains(&key) => seen.push(key),
            _ => return false,
        }
    }
    true
}

/// Applies field changes to a normalized document (the inverse of [`diff_documents`], up to
/// the order of set and keyed arrays: normalize the result to compare it).
pub fn apply(doc: &mut Value, changes: &[FieldChange]) {
    // Positional removals from the end, so earlier indexes stay valid.
    let mut ordered: Vec<&FieldChange> = changes.iter().collect();
    ordered.sort_by_key(|c| match (c.op, c.path.0.last()) {
        (FieldOp::Removed, Some(Segment::Index(i))) => std::cmp::Reverse(*i),
        _ => std::cmp::Reverse(0),
    });
    for change in ordered {
        apply_one(doc, &change.path.0, change);
    }
}

fn apply_one(doc: &mut Value, segments: &[Segment], change: &FieldChange) {
    let Some((last, parents)) = segments.split_last() else {
        if let Some(after) = &change.after {
            *doc = after.clone();
        }
        return;
    };
    let Some(target) = parents.iter().try_fold(doc, step) else { return };
    match (last, change.op) {
        (Segment::Key(key), FieldOp::Removed) => {
            if let Value::Object(object) = target {
                object.remove(key);
            }
        }
        (Segment::Key(key), _) => {
            if let (Value::Object(object), Some(after)) = (target, &change.after) {
                object.insert(key.clone(), after.clone());
            }
        }
        (Segment::Member | Segment::Keyed { .. } | Segment::Index(_), FieldOp::Added) => {
            if let (Value::Array(items), Some(after)) = (target, &change.after) {
                match last {
                    Segment::Index(i) if *i < items.len() => items.insert(*i, after.clone()),
                    _ => items.push(after.clone()),
                }
            }
        }
        (Segment::Member, FieldOp::Removed) => {
            if let (Value::Array(items), Some(before)) = (target, &change.before) {
                items.retain(|item| item != before);
            }
        }
        (Segment::Keyed { field, value }, FieldOp::Removed) => {
            if let Value::Array(items) = target {
                items.retain(|item| item.get(field) != Some(value));
            }
        }
        (Segment::Index(i), FieldOp::Removed) => {
            if let Value::Array(items) = target
                && *i < items.len()
            {
                items.remove(*i);
            }
        }
        (segment, FieldOp::Modified) => {
            if let (Some(slot), Some(after)) = (step(target, segment), &change.after) {
                *slot = after.clone();
            }
        }
    }
}

fn step<'v>(value: &'v mut Value, segment: &Segment) -> Option<&'v mut Value> {
    match (segment, value) {
        (Segment::Key(key), Value::Object(object)) => object.get_mut(key),
        (Segment::Index(i), Value::Array(items)) => items.get_mut(*i),
        (Segment::Keyed { field, value }, Value::Array(items)) => {
            items.iter_mut().find(|item| item.get(field) == Some(value))
        }
        _ => None,
    }
}

/// The change events between two inventories of a tenant, kind by kind and id by id. Only the
/// kinds in `kinds` are compared (a kind whose listing was not complete must not be).
///
/// Creations are reported for every kind here; the poll policy decides whether a first poll is
/// a baseline ([`crate::policy`]).
#[must_use]
pub fn diff_inventories(
    previous: &Inventory,
    current: &Inventory,
    kinds: &[ResourceKind],
    observed_at: DateTime<Utc>,
) -> Vec<ChangeEvent> {
    let mut events = Vec::new();
    let empty = BTreeMap::new();
    for &kind in kinds {
        diff_kind(
            kind,
            previous.kind(kind).unwrap_or(&empty),
            |then| Some(previous.hash_or_compute(then)),
            |_, then| Some(then),
            current,
            observed_at,
            &mut events,
        );
    }
    events
}

/// The change events of one kind between the previous snapshot's index (the content hash of each
/// resource, `None` when unknown) and a listing, reading only the previous documents of the
/// resources whose hash moved or that are gone, from `documents`. A resource whose document is
/// not there is skipped: give every document [`documents_needed`] names.
#[must_use]
pub fn diff_indexed(
    kind: ResourceKind,
    index: &SnapshotIndex,
    documents: &Inventory,
    current: &Inventory,
    observed_at: DateTime<Utc>,
) -> Vec<ChangeEvent> {
    let mut events = Vec::new();
    let empty = BTreeMap::new();
    diff_kind(
        kind,
        index.kind(kind).unwrap_or(&empty),
        |hash| *hash,
        |id, _| documents.get(kind, id),
        current,
        observed_at,
        &mut events,
    );
    events
}

/// The previous documents [`diff_indexed`] reads for one kind: the resources of the index whose
/// hash is unknown or differs from the listing's, and those the listing no longer has.
#[must_use]
pub fn documents_needed(
    kind: ResourceKind,
    index: &SnapshotIndex,
    current: &Inventory,
) -> Vec<ResourceId> {
    let Some(before) = index.kind(kind) else { return Vec::new() };
    before
        .iter()
        .filter(|(id, hash)| match (hash, current.get(kind, id)) {
            (Some(hash), Some(now)) => *hash != current.hash_or_compute(now),
            _ => true,
        })
        .map(|(id, _)| id.clone())
        .collect()
}

/// One kind's diff over the previous side's entries `before` (documents, or index entries),
/// with their hash (`None`: hash the document) and their document when one is needed.
fn diff_kind<'p, V>(
    kind: ResourceKind,
    before: &'p BTreeMap<ResourceId, V>,
    before_hash: impl Fn(&'p V) -> Option<ContentHash>,
    before_doc: impl Fn(&ResourceId, &'p V) -> Option<&'p Resource>,
    current: &Inventory,
    observed_at: DateTime<Utc>,
    events: &mut Vec<ChangeEvent>,
) {
    let normalizer = Normalizer::for_kind(kind);
    let rules = ArrayRules::for_kind(kind);
    let empty = BTreeMap::new();
    let after = current.kind(kind).unwrap_or(&empty);
    let tenant = current.tenant();
    for (id, now) in after {
        let Some(entry) = before.get(id) else {
            events.push(event(
                tenant,
                now,
                ChangeOp::Created,
                observed_at,
                Vec::new(),
                None,
                Some(normalizer.normalize(&now.doc)),
            ));
            continue;
        };
        let then = before_doc(id, entry);
        // The fast path: equal hashes (recorded ones when the inventories have them), no change.
        let then_hash = before_hash(entry).or_else(|| then.map(|r| normalizer.hash(&r.doc)));
        if then_hash == Some(current.hash_or_compute(now)) {
            continue;
        }
        let Some(then) = then else { continue };
        let (a, b) = (normalizer.normalize(&then.doc), normalizer.normalize(&now.doc));
        let changes = diff_documents(&a, &b, &rules);
        if !changes.is_empty() {
            events.push(event(
                tenant,
                now,
                ChangeOp::Updated,
                observed_at,
                changes,
                Some(a),
                Some(b),
            ));
        }
    }
    for (id, entry) in before {
        if after.contains_key(id) {
            continue;
        }
        if let Some(then) = before_doc(id, entry) {
            events.push(event(
                tenant,
                then,
                ChangeOp::Deleted,
                observed_at,
                Vec::new(),
                Some(normalizer.normalize(&then.doc)),
                None,
            ));
        }
    }
}

fn event(
    tenant: &TenantId,
    resource: &Resource,
    op: ChangeOp,
    observed_at: DateTime<Utc>,
    changes: Vec<FieldChange>,
    before: Option<Value>,
    after: Option<Value>,
) -> ChangeEvent {
    ChangeEvent {
        event_id: uuid::Uuid::now_v7(),
        seq: None,
        tenant: tenant.clone(),
        kind: resource.kind,
        resource_id: resource.id.clone(),
        parent: resource.parent.clone(),
        name: resource.name.clone(),
        op,
        observed_at,
        changes,
        before,
        after,
        actor: None,
        attribution: crate::attribution::Attribution::Unknown,
    }
}
