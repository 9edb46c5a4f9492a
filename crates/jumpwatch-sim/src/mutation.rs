//! Changes to the tenant made through the admin API (`POST /__sim/mutations`) or the handle: create,
//! update and delete any kind, relations included. Every change is recorded as a Directory
//! Insights event naming its actor and the fields it changed, from and to.

use chrono::{DateTime, Utc};
use jumpwatch_model::catalog::IdSpec;
use jumpwatch_model::{OrganizationId, Resource, ResourceId, ResourceKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::events::{NewEvent, record};
use crate::graph::{Node, RelationShape, graph_type_of, relation_shape};
use crate::ids::ObjectIds;
use crate::store::{Doc, OrgState, id_parts, lookup, set_path};

/// What a mutation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Op {
    /// Adds a resource, or links two resources (relations).
    Create,
    /// Changes fields of a resource, or the attributes of a relation.
    Update,
    /// Removes a resource (with its memberships, bindings and child rows), or unlinks two
    /// resources.
    Delete,
}

/// One change to make to the tenant.
///
/// ```
/// use jumpwatch_model::{ResourceKind, UserGroupId, UserId};
/// use jumpwatch_sim::Mutation;
/// use serde_json::json;
///
/// let ada = UserId::new("64a1f0c2e4b0a1b2c3d4e5f6")?;
/// let admins = UserGroupId::new("65b2c3d4e5f60718293a4b5c")?;
/// let grant = Mutation::update(ResourceKind::User, ada.clone())
///     .set("sudo", json!(true))
///     .set("mfa.configured", json!(false));
/// let join = Mutation::link(ResourceKind::UserGroupMember, admins, ada);
/// let hire = Mutation::create(ResourceKind::User, json!({"username": "new.hire", "email": "new.hire@example.com"}));
/// # let _ = (grant, join, hire);
/// # Ok::<(), jumpwatch_model::InvalidId>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Mutation {
    /// What to do.
    pub op: Op,
    /// The kind of resource (or relation).
    pub kind: ResourceKind,
    /// The resource's id (updates and deletes). For a relation, `<parent id>:<target id>` may be
    /// given instead of `parent` and `target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ResourceId>,
    /// The parent's id, for child kinds and relations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ResourceId>,
    /// The other end's id, for relations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ResourceId>,
    /// The new document (creates). A missing id field gets a new id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<Value>,
    /// Fields to set, by dotted path (updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Map<String, Value>>,
    /// Fields to remove, by dotted path (updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unset: Option<Vec<String>>,
    /// The attributes of a relation's edge (`{"sudo": {"enabled": true}}` on a binding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Value>,
    /// The email of the administrator who makes the change; default: the owner of the API key
    /// (recorded as an API call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The organization to change; default: the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<OrganizationId>,
    /// Made outside the API and the console (by the agent, a directory sync): no Directory
    /// Insights event records it (updates only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unaudited: bool,
}

impl Mutation {
    fn new(op: Op, kind: ResourceKind) -> Self {
        Self {
            op,
            kind,
            id: None,
            parent: None,
            target: None,
            doc: None,
            set: None,
            unset: None,
            attributes: None,
            actor: None,
            org: None,
            unaudited: false,
        }
    }

    /// Creates a resource from a document.
    #[must_use]
    pub fn create(kind: ResourceKind, doc: Value) -> Self {
        Self { doc: Some(doc), ..Self::new(Op::Create, kind) }
    }

    /// Creates a document of a child kind under its parent.
    #[must_use]
    pub fn create_child(kind: ResourceKind, parent: impl Into<ResourceId>, doc: Value) -> Self {
        Self { parent: Some(parent.into()), ..Self::create(kind, doc) }
    }

    /// Updates a resource; add fields with [`Mutation::set`] and [`Mutation::unset`].
    #[must_use]
    pub fn update(kind: ResourceKind, id: impl Into<ResourceId>) -> Self {
        Self { id: Some(id.into()), ..Self::new(Op::Update, kind) }
    }

    /// Deletes a resource.
    #[must_use]
    pub fn delete(kind: ResourceKind, id: impl Into<ResourceId>) -> Self {
        Self { id: Some(id.into()), ..Self::new(Op::Delete, kind) }
    }

    /// Links two resources with a relation kind (`user_group_member`: group, user).
    #[must_use]
    pub fn link(
        kind: ResourceKind,
        parent: impl Into<ResourceId>,
        target: impl Into<ResourceId>,
    ) -> Self {
        Self {
            parent: Some(parent.into()),
            target: Some(target.into()),
            ..Self::new(Op::Create, kind)
        }
    }

    /// Unlinks two resources.
    #[must_use]
    pub fn unlink(
        kind: ResourceKind,
        parent: impl Into<ResourceId>,
        target: impl Into<ResourceId>,
    ) -> Self {
        Self {
            parent: Some(parent.into()),
            target: Some(target.into()),
            ..Self::new(Op::Delete, kind)
        }
    }

    /// Sets a field (dotted paths reach into objects).
    #[must_use]
    pub fn set(mut self, path: impl Into<String>, value: Value) -> Self {
        self.set.get_or_insert_with(Map::new).insert(path.into(), value);
        self
    }

    /// Removes a field.
    #[must_use]
    pub fn unset(mut self, path: impl Into<String>) -> Self {
        self.unset.get_or_insert_with(Vec::new).push(path.into());
        self
    }

    /// The attributes of a relation's edge.
    #[must_use]
    pub fn attributes(mut self, attributes: Value) -> Self {
        self.attributes = Some(attributes);
        self
    }

    /// The administrator who makes the change.
    #[must_use]
    pub fn actor(mut self, email: impl Into<String>) -> Self {
        self.actor = Some(email.into());
        self
    }

    /// The organization to change.
    #[must_use]
    pub fn org(mut self, org: OrganizationId) -> Self {
        self.org = Some(org);
        self
    }

    /// Made outside the API (by the agent, a directory sync): no audit event records it.
    #[must_use]
    pub const fn unaudited(mut self) -> Self {
        self.unaudited = true;
        self
    }
}

/// One field a change set, from and to (`null` when absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FieldChange {
    /// The dotted path.
    pub field: String,
    /// The value before.
    pub from: Value,
    /// The value after.
    pub to: Value,
}

/// A change that was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Applied {
    /// What was done.
    pub op: Op,
    /// The kind.
    pub kind: ResourceKind,
    /// The resource's id as the catalog computes it (`<parent>:<target>` for relations).
    pub id: ResourceId,
    /// The parent's id, for child kinds and relations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ResourceId>,
    /// The organization.
    pub org: OrganizationId,
    /// The fields changed (every field set on a create; none on a delete).
    pub fields: Vec<String>,
    /// The fields changed, from and to.
    pub changes: Vec<FieldChange>,
    /// The id of the Directory Insights event that records the change.
    pub event_id: String,
}

/// The typed id of an organization of the simulator (always a 24-hex-digit object id).
pub(crate) fn org_id(text: &str) -> OrganizationId {
    OrganizationId::new(text).expect("organization ids are object ids")
}

/// Who made a change, as Directory Insights names them.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    pub(crate) id: String,
    pub(crate) kind: &'static str,
    pub(crate) email: String,
}

impl Actor {
    fn json(&self) -> Value {
        json!({"id": self.id, "type": self.kind, "email": self.email})
    }
}

/// The mutation could not be applied; the message says why.
pub(crate) type Refused = String;

/// Everything applying a mutation needs besides the organization.
pub(crate) struct Context<'a> {
    pub(crate) now: DateTime<Utc>,
    pub(crate) actor: &'a Actor,
    pub(crate) ids: &'a mut ObjectIds,
}

fn id_of(text: &str, what: &str) -> Result<ResourceId, Refused> {
    ResourceId::new(text).map_err(|e| format!("{what}: {e}"))
}

/// Applies one mutation to an organization.
pub(crate) fn apply(
    org: &mut OrgState,
    m: &Mutation,
    cx: &mut Context<'_>,
) -> Result<Applied, Refused> {
    check_fields(m)?;
    if m.kind.is_relation() {
        return apply_relation(org, m, cx);
    }
    let meta = m.kind.meta();
    let parent = match (meta.parent, &m.parent) {
        (Some(spec), Some(parent)) => {
            let parent = parent.clone();
            if !org.collection(spec.kind).is_some_and(|c| c.contains(&parent)) {
                return Err(format!("no {} with id {parent}", spec.kind));
            }
            Some(parent)
        }
        (Some(spec), None) => {
            return Err(format!("a {} is listed per {} and needs \"parent\"", m.kind, spec.kind));
        }
        (None, Some(_)) => return Err(format!("a {} has no parent; remove \"parent\"", m.kind)),
        (None, None) => None,
    };
    match m.op {
        Op::Create => create(org, m, parent.as_ref(), cx),
        Op::Update => update(org, m, parent.as_ref(), cx),
        Op::Delete => delete(org, m, parent.as_ref(), cx),
    }
}

/// Refuses fields that the operation would ignore, so a mistake never passes silently.
fn check_fields(m: &Mutation) -> Result<(), Refused> {
    let relation = m.kind.is_relation();
    let unused = [
        ("target", m.target.is_some() && !relation),
        ("attributes", m.attributes.is_some() && (!relation || m.op == Op::Delete)),
        ("doc", m.doc.is_some() && (m.op != Op::Create)),
        ("set", m.set.is_some() && m.op != Op::Update),
        ("unset", m.unset.is_some() && m.op != Op::Update),
        ("unaudited", m.unaudited && m.op != Op::Update),
    ];
    match unused.iter().find(|(_, unused)| *unused) {
        Some((field, _)) => Err(format!(
            "\"{field}\" has no meaning for a {} of a {}",
            serde_json::to_value(m.op)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            m.kind
        )),
        None => Ok(()),
    }
}

fn collection_get(
    org: &OrgState,
    kind: ResourceKind,
    parent: Option<&ResourceId>,
    id: &ResourceId,
) -> Option<Value> {
    match parent {
        Some(parent) => org.child_collection(kind, parent)?.get(id).map(|d| d.value()),
        None => org.collection(kind)?.get(id).map(|d| d.value()),
    }
}

fn store(
    org: &mut OrgState,
    kind: ResourceKind,
    parent: Option<&ResourceId>,
    id: ResourceId,
    doc: &Value,
) {
    let doc = Doc::new(doc);
    match parent {
        Some(parent) => {
            org.children.entry(kind).or_default().entry(parent.clone()).or_default().put(id, doc);
        }
        None => {
            org.collection_mut(kind).put(id, doc);
        }
    }
}

fn create(
    org: &mut OrgState,
    m: &Mutation,
    parent: Option<&ResourceId>,
    cx: &mut Context<'_>,
) -> Result<Applied, Refused> {
    let meta = m.kind.meta();
    let Some(Value::Object(mut doc)) = m.doc.clone() else {
        return Err(format!("creating a {} needs \"doc\", a JSON object", m.kind));
    };
    if let IdSpec::Field(field) = meta.id
        && !doc.contains_key(field)
    {
        doc.insert(field.to_owned(), json!(cx.ids.at(cx.now)));
    }
    for field in meta.fields {
        if field.path == "organization" && !doc.contains_key("organization") {
            doc.insert("organization".into(), json!(org.id));
        }
        if matches!(field.path, "created" | "createdAt")
            && field.ty == "timestamp"
            && !doc.contains_key(field.path)
        {
            doc.insert(field.path.to_owned(), json!(crate::clock::rfc3339(cx.now)));
        }
    }
    let doc = Value::Object(doc);
    let resource = match parent {
        Some(parent) => Resource::from_child_doc(m.kind, parent.clone(), doc),
        None => Resource::from_doc(m.kind, doc),
    }
    .map_err(|e| e.to_string())?;
    if collection_get(org, m.kind, parent, &resource.id).is_some() {
        return Err(format!("a {} with id {} already exists", m.kind, resource.id));
    }
    let changes = leaves(&resource.doc);
    store(org, m.kind, parent, resource.id.clone(), &resource.doc);
    sync_directory_index(org);
    let event = record(&mut org.events, &org.id, event_for(m.kind, "create", &resource, cx, None));
    Ok(applied(m, &resource.id, parent, org, changes, &event))
}

fn update(
    org: &mut OrgState,
    m: &Mutation,
    parent: Option<&ResourceId>,
    cx: &mut Context<'_>,
) -> Result<Applied, Refused> {
    let id = m.id.clone().ok_or_else(|| format!("updating a {} needs \"id\"", m.kind))?;
    let Some(before) = collection_get(org, m.kind, parent, &id) else {
        return Err(format!("no {} with id {id}", m.kind));
    };
    if m.set.is_none() && m.unset.is_none() {
        return Err("an update needs \"set\" or \"unset\"".into());
    }
    let mut after = before.clone();
    let changes = edit(&mut after, m)?;
    let resource = match parent {
        Some(parent) => Resource::from_child_doc(m.kind, parent.clone(), after),
        None => Resource::from_doc(m.kind, after),
    }
    .map_err(|e| e.to_string())?;
    if resource.id != id {
        return Err(format!(
            "an update cannot change the id of a {} ({id} → {})",
            m.kind, resource.id
        ));
    }
    store(org, m.kind, parent, id.clone(), &resource.doc);
    sync_directory_index(org);
    let event = if m.unaudited {
        Value::Null
    } else {
        record(&mut org.events, &org.id, event_for(m.kind, "update", &resource, cx, Some(&changes)))
    };
    Ok(applied(m, &id, parent, org, changes, &event))
}

/// Applies `set` and `unset` to a document; returns what changed.
fn edit(doc: &mut Value, m: &Mutation) -> Result<Vec<FieldChange>, Refused> {
    let mut changes = Vec::new();
    for (path, value) in m.set.iter().flatten() {
        let from = lookup(doc, path).cloned().unwrap_or(Value::Null);
        set_path(doc, path, value.clone())?;
        if from != *value {
            changes.push(FieldChange { field: path.clone(), from, to: value.clone() });
        }
    }
    for path in m.unset.iter().flatten() {
        let (parent_path, key) = path.rsplit_once('.').map_or(("", path.as_str()), |(p, k)| (p, k));
        let container =
            if parent_path.is_empty() { Some(&mut *doc) } else { lookup_mut(doc, parent_path) };
        if let Some(Value::Object(object)) = container
            && let Some(from) = object.remove(key)
        {
            changes.push(FieldChange { field: path.clone(), from, to: Value::Null });
        }
    }
    Ok(changes)
}

fn lookup_mut<'v>(doc: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    path.split('.').try_fold(doc, |value, key| value.get_mut(key))
}

fn delete(
    org: &mut OrgState,
    m: &Mutation,
    parent: Option<&ResourceId>,
    cx: &mut Context<'_>,
) -> Result<Applied, Refused> {
    let id = m.id.clone().ok_or_else(|| format!("deleting a {} needs \"id\"", m.kind))?;
    let removed = match parent {
        Some(parent) => org
            .children
            .get_mut(&m.kind)
            .and_then(|c| c.get_mut(parent))
            .and_then(|c| c.remove(&id)),
        None => org.kinds.get_mut(&m.kind).and_then(|c| c.remove(&id)),
    };
    let Some(removed) = removed else {
        return Err(format!("no {} with id {id}", m.kind));
    };
    cascade(org, m.kind, &id);
    sync_directory_index(org);
    let resource = match parent {
        Some(parent) => Resource::from_child_doc(m.kind, parent.clone(), removed.value()),
        None => Resource::from_doc(m.kind, removed.value()),
    }
    .map_err(|e| e.to_string())?;
    let event = record(&mut org.events, &org.id, event_for(m.kind, "delete", &resource, cx, None));
    Ok(applied(m, &id, parent, org, Vec::new(), &event))
}

/// Removes what belongs to a deleted resource: its edges, its child collections, and the System
/// Insights rows (and other top-level rows) whose id includes it.
fn cascade(org: &mut OrgState, kind: ResourceKind, id: &ResourceId) {
    org.graph.remove_node(&Node::new(graph_type_of(kind), id.clone()));
    for (child, by_parent) in &mut org.children {
        if child.meta().parent.is_some_and(|p| p.kind == kind) {
            by_parent.remove(id);
        }
    }
    let target = format!("id:{}", kind.name());
    for (other, collection) in &mut org.kinds {
        let IdSpec::Composite(parts) = other.meta().id else { continue };
        // The positions, in the composite id, of the fields that refer to the deleted kind.
        let owning: Vec<usize> = parts
            .iter()
            .enumerate()
            .filter(|(_, part)| {
                other.meta().fields.iter().any(|f| f.path == **part && f.ty == target)
            })
            .map(|(k, _)| k)
            .collect();
        if !owning.is_empty() {
            collection.retain(|row| {
                let parts = id_parts(row);
                !owning.iter().any(|&k| parts.get(k).map(String::as_str) == Some(id.as_str()))
            });
        }
    }
}

fn apply_relation(
    org: &mut OrgState,
    m: &Mutation,
    cx: &mut Context<'_>,
) -> Result<Applied, Refused> {
    let meta = m.kind.meta();
    let (Some(parent_spec), Some(relation), Some(shape)) =
        (meta.parent, meta.relation, relation_shape(m.kind))
    else {
        return Err(format!("{} is not a relation the simulator can change", m.kind));
    };
    let (from_ty, to_ty) = match shape {
        RelationShape::Direct { from, to } | RelationShape::Traversal { from, to } => (from, to),
    };
    // The ends: parent and target, or a composite id, or a document naming the other end.
    let (parent, target) = match (&m.parent, &m.target, &m.id, &m.doc) {
        (Some(parent), Some(target), _, _) => (parent.clone(), target.clone()),
        (_, _, Some(id), _) if id.as_str().contains(':') => {
            let parts = id_parts(id);
            (id_of(&parts[0], "id")?, id_of(&parts[1..].join(":"), "id")?)
        }
        (Some(parent), None, _, Some(doc)) => {
            let parent = parent.clone();
            let edge = Resource::from_child_doc(m.kind, parent.clone(), doc.clone())
                .map_err(|e| e.to_string())?;
            let target = edge.target().ok_or("the document does not name the other end")?;
            (parent, target)
        }
        _ => {
            return Err(format!(
                "a {} change needs \"parent\" and \"target\" (or \"id\": \"<parent>:<target>\")",
                m.kind
            ));
        }
    };
    if !org.collection(parent_spec.kind).is_some_and(|c| c.contains(&parent)) {
        return Err(format!("no {} with id {parent}", parent_spec.kind));
    }
    if !org.collection(relation.to).is_some_and(|c| c.contains(&target)) {
        return Err(format!("no {} with id {target}", relation.to));
    }
    let a = Node::new(from_ty, parent.clone());
    let b = Node::new(to_ty, target.clone());
    let before = org.graph.edge(&a, &b).cloned();
    let (op, changes) = match m.op {
        Op::Create => {
            if before.is_some() {
                return Err(format!("{parent} and {target} are already linked ({})", m.kind));
            }
            let attributes = m.attributes.clone().unwrap_or(Value::Null);
            org.graph.link(&a, &b, attributes.clone());
            ("add", leaves(&json!({"attributes": attributes})))
        }
        Op::Update => {
            let Some(mut attributes) = before else {
                return Err(format!("{parent} and {target} are not linked ({})", m.kind));
            };
            let changes = if let Some(replacement) = &m.attributes {
                let from = std::mem::replace(&mut attributes, replacement.clone());
                vec![FieldChange { field: "attributes".into(), from, to: replacement.clone() }]
            } else {
                edit(&mut attributes, m)?
                    .into_iter()
                    .map(|c| FieldChange { field: format!("attributes.{}", c.field), ..c })
                    .collect()
            };
            org.graph.link(&a, &b, attributes);
            ("update", changes)
        }
        Op::Delete => {
            if org.graph.unlink(&a, &b).is_none() {
                return Err(format!("{parent} and {target} are not linked ({})", m.kind));
            }
            ("remove", Vec::new())
        }
    };
    let name = |kind: ResourceKind, id: &ResourceId| -> Value {
        kind.meta()
            .name_field
            .and_then(|f| {
                org.collection(kind).and_then(|c| c.get(id)).and_then(|d| d.value().get(f).cloned())
            })
            .unwrap_or(Value::Null)
    };
    let attributes = org.graph.edge(&a, &b).cloned().unwrap_or(Value::Null);
    let new = NewEvent::new(cx.now, "association_change", "directory")
        .with("initiated_by", cx.actor.json())
        .with("auth_method", json!(if cx.actor.kind == "api" { "api key" } else { "session" }))
        .with("association", json!({
            "op": op,
            "action_source": "manual",
            "connection": {
                "from": {"type": from_ty, "object_id": parent.as_str(), "name": name(parent_spec.kind, &parent)},
                "to": {"type": to_ty, "object_id": target.as_str(), "name": name(relation.to, &target)},
            },
            "attributes": attributes,
        }))
        .with("changes", serde_json::to_value(&changes).unwrap_or(Value::Null))
        .with("client_ip", json!("192.0.2.10"));
    let event = record(&mut org.events, &org.id, new);
    let id =
        ResourceId::composite([parent.as_str(), target.as_str()]).map_err(|e| e.to_string())?;
    Ok(applied(m, &id, Some(&parent), org, changes, &event))
}

fn applied(
    m: &Mutation,
    id: &ResourceId,
    parent: Option<&ResourceId>,
    org: &OrgState,
    changes: Vec<FieldChange>,
    event: &Value,
) -> Applied {
    Applied {
        op: m.op,
        kind: m.kind,
        id: id.clone(),
        parent: parent.cloned(),
        org: org_id(&org.id),
        fields: changes.iter().map(|c| c.field.clone()).collect(),
        changes,
        event_id: event["id"].as_str().unwrap_or_default().to_owned(),
    }
}

/// Every leaf of a document as a change from `null` (what a create sets).
fn leaves(doc: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    if let Value::Object(object) = doc {
        for (key, value) in object {
            out.push(FieldChange { field: key.clone(), from: Value::Null, to: value.clone() });
        }
    }
    out
}

/// The Directory Insights event of a change to a resource.
fn event_for(
    kind: ResourceKind,
    op: &str,
    resource: &Resource,
    cx: &Context<'_>,
    changes: Option<&[FieldChange]>,
) -> NewEvent {
    let ty = graph_type_of(kind);
    // The names of JumpCloud's list of Directory Insights event types: `group_*` for every kind
    // of group, `admin_*` for administrators, `authnpolicy_*` for conditional access policies
    // (whose update the list names `authpolicy_update`).
    let prefix = match (kind, ty) {
        (_, "user_group" | "system_group" | "policy_group") => "group",
        (ResourceKind::Administrator, _) => "admin",
        (ResourceKind::AuthnPolicy, _) if op == "update" => "authpolicy",
        (ResourceKind::AuthnPolicy, _) => "authnpolicy",
        (_, other) => other,
    };
    let mut target = json!({"id": resource.id.as_str(), "type": ty});
    if let (Some(field), Some(name)) = (kind.meta().name_field, &resource.name) {
        target[field] = json!(name);
    }
    let mut event = NewEvent::new(cx.now, format!("{prefix}_{op}"), "directory")
        .with("initiated_by", cx.actor.json())
        .with("auth_method", json!(if cx.actor.kind == "api" { "api key" } else { "session" }))
        .with("resource", target)
        .with("client_ip", json!("192.0.2.10"))
        .with(
            "useragent",
            json!({"name": "Chrome", "version": "130.0.6723", "os": "Mac OS X", "device": "Other"}),
        );
    if let Some(changes) = changes {
        event = event.with("changes", serde_json::to_value(changes).unwrap_or(Value::Null));
    }
    event
}

/// Kinds indexed in the directories list, with their `type` there.
const INDEXED: &[(ResourceKind, &str)] = &[
    (ResourceKind::Gsuite, "g_suite"),
    (ResourceKind::Office365, "office_365"),
    (ResourceKind::LdapServer, "ldap_server"),
    (ResourceKind::ActiveDirectory, "active_directory"),
];

/// Makes the directories index (`/directories`) list exactly one entry, with the same id, for
/// every G Suite, Office 365, LDAP server and Active Directory (and any kind the catalog finds
/// through that index), keeping entries of other types.
pub(crate) fn sync_directory_index(org: &mut OrgState) {
    let index_kind = ResourceKind::Directory;
    let mut indexed: Vec<(ResourceKind, &'static str)> = INDEXED.to_vec();
    for kind in ResourceKind::ALL {
        if let Some((field, value)) = kind.meta().list_filter
            && field == "type"
            && kind.meta().list_path == index_kind.meta().list_path
            && !indexed.iter().any(|(k, _)| k == kind)
        {
            indexed.push((*kind, value));
        }
    }
    let mut entries: Vec<(ResourceId, Value)> = Vec::new();
    for (kind, ty) in &indexed {
        let Some(collection) = org.collection(*kind) else { continue };
        for (id, doc) in collection.iter() {
            let doc = doc.value();
            let name = kind
                .meta()
                .name_field
                .and_then(|f| doc.get(f))
                .cloned()
                .unwrap_or_else(|| json!(id.as_str()));
            let mut entry = json!({"id": id.as_str(), "name": name, "type": ty});
            if let Some(domain) = doc.get("defaultDomain") {
                entry["defaultDomain"] = domain.clone();
            }
            if matches!(*ty, "g_suite" | "office_365") {
                entry["oAuthStatus"] = json!({"expiresAt": "", "error": ""});
            }
            entries.push((id.clone(), entry));
        }
    }
    let types: Vec<&str> = indexed.iter().map(|(_, t)| *t).collect();
    let index = org.collection_mut(index_kind);
    let stale: Vec<ResourceId> = index
        .iter()
        .filter(|(id, doc)| {
            doc.value().get("type").and_then(Value::as_str).is_some_and(|t| types.contains(&t))
                && !entries.iter().any(|(e, _)| e == id)
        })
        .map(|(id, _)| id.clone())
        .collect();
    for id in stale {
        index.remove(&id);
    }
    for (id, entry) in entries {
        if index.get(&id).is_none_or(|doc| doc.value() != entry) {
            index.put(id, Doc::new(&entry));
        }
    }
}
