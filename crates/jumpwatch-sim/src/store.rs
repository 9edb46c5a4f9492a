//! The in-memory tenant: documents per kind (kept serialized as well, so a page is served without
//! serializing it again), child collections per parent, the directory graph, and the Directory
//! Insights event log.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use jumpwatch_model::{Resource, ResourceId, ResourceKind};
use serde_json::Value;

use crate::graph::Graph;

/// One stored document, kept serialized: pages are served without serializing again, and a large
/// tenant takes a fraction of the memory its parsed form would.
#[derive(Debug)]
pub(crate) struct Doc {
    pub(crate) json: Bytes,
}

impl Doc {
    /// Stores a value.
    pub(crate) fn new(value: &Value) -> Arc<Self> {
        Arc::new(Self { json: Bytes::from(serde_json::to_vec(value).unwrap_or_default()) })
    }

    /// The document as a JSON value.
    pub(crate) fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// Whether the serialized document contains a text (a cheap test before parsing).
    pub(crate) fn mentions(&self, text: &str) -> bool {
        let needle = text.as_bytes();
        !needle.is_empty() && self.json.windows(needle.len()).any(|w| w == needle)
    }
}

/// The parts of an id as the catalog composes them (`ResourceId::composite`): split at `:`,
/// with `%3A` and `%25` read back.
pub(crate) fn id_parts(id: &ResourceId) -> Vec<String> {
    id.as_str().split(':').map(|part| part.replace("%3A", ":").replace("%25", "%")).collect()
}

/// The documents of one kind (or of one parent's child collection), in the store's default
/// order: creation order, except that the `move_items` fault moves documents to the end.
#[derive(Debug, Default)]
pub(crate) struct Collection {
    entries: Vec<(ResourceId, Arc<Doc>)>,
    index: HashMap<ResourceId, usize>,
    /// Filtered and sorted orders already computed, by query; cleared by every write.
    views: Mutex<HashMap<String, Arc<[u32]>>>,
}

impl Clone for Collection {
    fn clone(&self) -> Self {
        Self { entries: self.entries.clone(), index: self.index.clone(), views: Mutex::default() }
    }
}

impl Collection {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn get(&self, id: &ResourceId) -> Option<&Arc<Doc>> {
        self.index.get(id).map(|&i| &self.entries[i].1)
    }

    pub(crate) fn contains(&self, id: &ResourceId) -> bool {
        self.index.contains_key(id)
    }

    /// The document at a position of the default order.
    pub(crate) fn at(&self, position: usize) -> Option<&(ResourceId, Arc<Doc>)> {
        self.entries.get(position)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(ResourceId, Arc<Doc>)> {
        self.entries.iter()
    }

    /// Adds a document at the end, or replaces the one with the same id in place.
    pub(crate) fn put(&mut self, id: ResourceId, doc: Arc<Doc>) -> Option<Arc<Doc>> {
        self.invalidate();
        if let Some(&i) = self.index.get(&id) {
            return Some(std::mem::replace(&mut self.entries[i].1, doc));
        }
        self.index.insert(id.clone(), self.entries.len());
        self.entries.push((id, doc));
        None
    }

    pub(crate) fn remove(&mut self, id: &ResourceId) -> Option<Arc<Doc>> {
        let i = self.index.remove(id)?;
        self.invalidate();
        let (_, doc) = self.entries.remove(i);
        self.reindex_from(i);
        Some(doc)
    }

    /// Moves the document at `position` to the end of the default order.
    pub(crate) fn move_to_end(&mut self, position: usize) {
        if position + 1 >= self.entries.len() {
            return;
        }
        self.invalidate();
        let entry = self.entries.remove(position);
        self.entries.push(entry);
        self.reindex_from(position);
    }

    /// Keeps the documents whose id passes.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&ResourceId) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|(id, _)| keep(id));
        if self.entries.len() != before {
            self.invalidate();
            self.reindex_from(0);
        }
        before - self.entries.len()
    }

    /// Puts the documents in id order.
    pub(crate) fn sort_by_id(&mut self) {
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        self.invalidate();
        self.reindex_from(0);
    }

    fn reindex_from(&mut self, from: usize) {
        for (i, (id, _)) in self.entries.iter().enumerate().skip(from) {
            self.index.insert(id.clone(), i);
        }
    }

    fn invalidate(&mut self) {
        self.views.get_mut().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// The positions selected and ordered by a query, computed once per query until the next
    /// write.
    pub(crate) fn view(&self, key: &str, compute: impl FnOnce(&Self) -> Vec<u32>) -> Arc<[u32]> {
        if let Some(view) = self.views.lock().unwrap_or_else(PoisonError::into_inner).get(key) {
            return Arc::clone(view);
        }
        let view: Arc<[u32]> = compute(self).into();
        let mut views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
        if views.len() >= 64 {
            views.clear();
        }
        views.insert(key.to_owned(), Arc::clone(&view));
        view
    }
}

/// One Directory Insights event.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    /// Milliseconds since the epoch: the first sort key.
    pub(crate) ts_ms: i64,
    /// The event's id: the second sort key.
    pub(crate) id: Arc<str>,
    pub(crate) service: Arc<str>,
    pub(crate) doc: Arc<Doc>,
}

/// The Directory Insights events of one organization, in (timestamp, id) order.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventLog {
    events: Vec<Event>,
    /// The seed event ids are drawn from, and the number of events recorded so far.
    pub(crate) seed: u64,
    pub(crate) seq: u64,
}

impl EventLog {
    pub(crate) fn push(&mut self, event: Event) {
        let at = self.events.partition_point(|e| (e.ts_ms, &e.id) <= (event.ts_ms, &event.id));
        self.events.insert(at, event);
    }

    /// Sorts events added out of order.
    pub(crate) fn extend_sorted(&mut self, mut events: Vec<Event>) {
        self.events.append(&mut events);
        self.events.sort_by(|a, b| (a.ts_ms, &a.id).cmp(&(b.ts_ms, &b.id)));
    }

    pub(crate) fn all(&self) -> &[Event] {
        &self.events
    }

    pub(crate) fn last_ts_ms(&self) -> Option<i64> {
        self.events.last().map(|e| e.ts_ms)
    }
}

/// One organization's tenant.
#[derive(Debug, Clone)]
pub(crate) struct OrgState {
    /// The organization's id (its `x-org-id`).
    pub(crate) id: String,
    /// Top-level kinds (no parent), including System Insights tables.
    pub(crate) kinds: BTreeMap<ResourceKind, Collection>,
    /// Child collections (kinds with a parent that are not relations), per parent id.
    pub(crate) children: BTreeMap<ResourceKind, BTreeMap<ResourceId, Collection>>,
    /// Memberships and associations; relation kinds are served from it.
    pub(crate) graph: Graph,
    pub(crate) events: EventLog,
}

impl OrgState {
    pub(crate) fn new(id: String) -> Self {
        Self {
            id,
            kinds: BTreeMap::new(),
            children: BTreeMap::new(),
            graph: Graph::default(),
            events: EventLog::default(),
        }
    }

    pub(crate) fn collection(&self, kind: ResourceKind) -> Option<&Collection> {
        self.kinds.get(&kind)
    }

    pub(crate) fn collection_mut(&mut self, kind: ResourceKind) -> &mut Collection {
        self.kinds.entry(kind).or_default()
    }

    pub(crate) fn child_collection(
        &self,
        kind: ResourceKind,
        parent: &ResourceId,
    ) -> Option<&Collection> {
        self.children.get(&kind).and_then(|by_parent| by_parent.get(parent))
    }

    /// Stores a top-level document, taking its id where the catalog says. Returns the id.
    pub(crate) fn put(&mut self, kind: ResourceKind, value: Value) -> Result<ResourceId, String> {
        let resource = Resource::from_doc(kind, value).map_err(|e| e.to_string())?;
        let id = resource.id.clone();
        self.collection_mut(kind).put(resource.id, Doc::new(&resource.doc));
        Ok(id)
    }

    /// Stores a document of a child kind under its parent. Returns its id.
    pub(crate) fn put_child(
        &mut self,
        kind: ResourceKind,
        parent: &ResourceId,
        value: Value,
    ) -> Result<ResourceId, String> {
        let resource =
            Resource::from_child_doc(kind, parent.clone(), value).map_err(|e| e.to_string())?;
        let id = resource.id.clone();
        self.children
            .entry(kind)
            .or_default()
            .entry(parent.clone())
            .or_default()
            .put(resource.id, Doc::new(&resource.doc));
        Ok(id)
    }

    /// The number of stored documents of a kind (over every parent for child kinds).
    pub(crate) fn count(&self, kind: ResourceKind) -> usize {
        if kind.is_relation() {
            return crate::graph::relation_count(self, kind);
        }
        if kind.meta().parent.is_some() {
            return self
                .children
                .get(&kind)
                .map_or(0, |by_parent| by_parent.values().map(Collection::len).sum());
        }
        self.kinds.get(&kind).map_or(0, Collection::len)
    }
}

/// The value at a dotted path of a document.
pub(crate) fn lookup<'v>(doc: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(doc, |value, key| value.get(key))
}

/// Sets the value at a dotted path, creating objects on the way. Fails when a step of the path
/// is a value that is not an object.
pub(crate) fn set_path(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let mut current = doc;
    let mut keys = path.split('.').peekable();
    while let Some(key) = keys.next() {
        if key.is_empty() {
            return Err(format!("empty segment in path {path:?}"));
        }
        if current.is_null() {
            *current = Value::Object(serde_json::Map::new());
        }
        let Value::Object(object) = current else {
            return Err(format!(
                "cannot set {path:?}: {key:?} is inside a value that is not an object"
            ));
        };
        if keys.peek().is_none() {
            object.insert(key.to_owned(), value);
            return Ok(());
        }
        current = object.entry(key.to_owned()).or_insert(Value::Null);
    }
    Err(format!("empty path {path:?}"))
}
