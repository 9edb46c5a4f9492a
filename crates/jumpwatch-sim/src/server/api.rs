//! JumpCloud's v1 and v2 routes: lists with paging, sorting, projection and filters in JumpCloud's
//! envelopes; gets by id; child collections and relations per parent; graph views.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use jumpwatch_model::catalog::{Api, Envelope, IdSpec};
use jumpwatch_model::{ResourceId, ResourceKind};
use serde_json::Value;

use super::auth::{OrgSelection, authenticate, org_header_refused, select_orgs};
use super::routes::{Action, GraphView};
use super::{Shared, json_bytes, lock, message};
use crate::faults::Plan;
use crate::graph::{self, Node, graph_type_named, is_membership};
use crate::query::{self, Dialect, ListQuery, order_keys};
use crate::store::{Collection, Doc, OrgState, id_parts};

/// Every request to `/api/...` that is not the admin API.
pub(crate) async fn dispatch(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let plan = request.extensions().get::<Plan>().copied().unwrap_or_default();
    let (parts, _) = request.into_parts();
    handle(&shared, &plan, &parts.method, &parts.uri, &parts.headers)
}

fn handle(
    shared: &Shared,
    plan: &Plan,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    if let Err(response) = authenticate(shared, headers) {
        return response;
    }
    let path = uri.path();
    let Some(matched) = shared.routes.resolve(path) else {
        if shared.routes.refuses_org_header(path) && headers.contains_key("x-org-id") {
            return org_header_refused();
        }
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    if method != Method::GET {
        return message(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    let selection = match select_orgs(shared, headers, matched.route.refuses_org, false) {
        Ok(selection) => selection,
        Err(response) => return response,
    };
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let id = matched.params.first().map(String::as_str).unwrap_or_default();
    match &matched.route.action {
        Action::List(kinds) => {
            list(shared, plan, &selection, kinds, id, &params, matched.route.api)
        }
        Action::Get(kind) => get(shared, &selection, *kind, id, &params, matched.route.api),
        Action::Graph(view) => graph_view(shared, plan, &selection, *view, id, &params),
        Action::SystemPolicyStatuses => {
            system_policy_statuses(shared, plan, &selection, id, &params)
        }
    }
}

fn dialect(api: Api) -> Dialect {
    match api {
        Api::V1 => Dialect::V1,
        Api::Insights => Dialect::Insights,
        _ => Dialect::V2,
    }
}

fn bad_request(text: &str) -> Response {
    message(StatusCode::BAD_REQUEST, text)
}

fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "Not Found")
}

/// Which of the kinds served at a path a request lists.
enum Choice {
    Kind(ResourceKind),
    /// Direct associations to a graph type no catalog kind covers at this path.
    Associations(&'static str),
}

fn choose(kinds: &[ResourceKind], params: &[(String, String)]) -> Result<Choice, Response> {
    let with_query: Vec<ResourceKind> =
        kinds.iter().copied().filter(|k| !k.meta().query.is_empty()).collect();
    if with_query.is_empty() {
        let kind =
            kinds.iter().copied().find(|k| k.meta().list_filter.is_none()).unwrap_or(kinds[0]);
        return Ok(Choice::Kind(kind));
    }
    if let Some(kind) = with_query.iter().copied().find(|k| {
        k.meta()
            .query
            .iter()
            .all(|(name, value)| params.iter().any(|(n, v)| n == name && v == value))
    }) {
        return Ok(Choice::Kind(kind));
    }
    let (name, _) = with_query[0].meta().query[0];
    let values: Vec<&str> = with_query
        .iter()
        .flat_map(|k| k.meta().query.iter().filter(|(n, _)| *n == name).map(|(_, v)| *v))
        .collect();
    match params.iter().find(|(n, _)| n == name) {
        None => Err(bad_request(&format!(
            "Bad Request: request parameter \"{name}\" is required (e.g. {name}={})",
            values.join(&format!(" or {name}="))
        ))),
        Some((_, value)) if name == "targets" => match graph_type_named(value) {
            Some(ty) => Ok(Choice::Associations(ty)),
            None => Err(bad_request(&format!(
                "Bad Request: request parameter \"targets\" has an unknown type {value:?}"
            ))),
        },
        Some((_, value)) => Err(bad_request(&format!(
            "Bad Request: request parameter \"{name}\" must be one of {}, got {value:?}",
            values.join(", ")
        ))),
    }
}

/// The documents a list reads.
enum Docs<'a> {
    Stored(&'a Collection),
    Owned(Vec<Arc<Doc>>),
}

impl Docs<'_> {
    fn len(&self) -> usize {
        match self {
            Docs::Stored(c) => c.len(),
            Docs::Owned(v) => v.len(),
        }
    }

    fn get(&self, i: usize) -> Option<&Doc> {
        match self {
            Docs::Stored(c) => c.at(i).map(|(_, d)| &**d),
            Docs::Owned(v) => v.get(i).map(|d| &**d),
        }
    }
}

/// How a list is written.
struct Render {
    envelope: Envelope,
    id_fields: Vec<&'static str>,
    /// For hydrated kinds: the fields list items carry.
    partial: Option<Vec<&'static str>>,
}

impl Render {
    fn of(kind: ResourceKind) -> Self {
        let meta = kind.meta();
        let id_fields = match meta.id {
            IdSpec::Field(field) => vec![field],
            IdSpec::Composite(fields) => fields.to_vec(),
            _ => meta
                .relation
                .map(|r| vec![r.to_id.split('.').next().unwrap_or(r.to_id)])
                .unwrap_or_default(),
        };
        Self { envelope: meta.envelope, id_fields, partial: list_fields(kind) }
    }

    fn graph() -> Self {
        Self { envelope: Envelope::Array, id_fields: vec!["id", "to"], partial: None }
    }
}

/// The fields of a list item of a hydrated kind (the full document comes from its get).
fn list_fields(kind: ResourceKind) -> Option<Vec<&'static str>> {
    let meta = kind.meta();
    if !meta.hydrate || meta.get_path.is_none() || meta.list_filter.is_some() {
        return None;
    }
    Some(match kind {
        ResourceKind::Organization => vec!["_id", "displayName", "logoUrl"],
        ResourceKind::Policy => vec!["id", "name", "template"],
        ResourceKind::Command => vec![
            "_id",
            "name",
            "command",
            "commandType",
            "description",
            "launchType",
            "listensTo",
            "schedule",
            "scheduleRepeatType",
            "trigger",
            "organization",
            "aiGenerated",
            "templatingRequired",
        ],
        // Kinds added to the catalog later: the id and the name.
        other => match (other.meta().id, other.meta().name_field) {
            (IdSpec::Field(id), Some(name)) => vec![id, name],
            _ => return None,
        },
    })
}

fn cache_key(query: &ListQuery) -> String {
    format!("{:?}|{:?}|{}", query.filter, query.sort, query.ignore_case)
}

/// A document's id fields as an object (`{"_id": ...}`, `{"system_id": ..., "name": ...}`).
fn id_value(id: &ResourceId, fields: &[&str]) -> Value {
    let parts = if fields.len() == 1 { vec![id.as_str().to_owned()] } else { id_parts(id) };
    Value::Object(
        fields.iter().zip(parts).map(|(f, p)| ((*f).to_owned(), Value::String(p))).collect(),
    )
}

/// The positions a query selects, in its order. Documents are parsed only when the query reads
/// more than their id.
fn select(docs: &Docs<'_>, query: &ListQuery, id_fields: &[&str]) -> Vec<u32> {
    let by_id = matches!(docs, Docs::Stored(_)) && query.reads_only(id_fields);
    let mut keyed: Vec<(u32, Vec<Value>)> = Vec::new();
    for i in 0..docs.len() {
        let value = match docs {
            Docs::Stored(c) => match c.at(i) {
                Some((id, _)) if by_id => id_value(id, id_fields),
                Some((_, doc)) => doc.value(),
                None => continue,
            },
            Docs::Owned(v) => v[i].value(),
        };
        if query.filter.matches(&value)
            && let Ok(position) = u32::try_from(i)
        {
            keyed.push((position, query.sort_keys(&value)));
        }
    }
    if !query.sort.is_empty() {
        keyed.sort_by(|a, b| order_keys(&a.1, &b.1, &query.sort, query.ignore_case));
    }
    keyed.into_iter().map(|(i, _)| i).collect()
}

/// Writes one page of a list in its envelope.
fn render(
    shared: &Shared,
    plan: &Plan,
    docs: &Docs<'_>,
    query: &ListQuery,
    how: &Render,
) -> Response {
    let identity = query.filter.is_empty() && query.sort.is_empty();
    let positions: Option<Arc<[u32]>> = if identity {
        None
    } else {
        Some(match docs {
            Docs::Stored(collection) => {
                collection.view(&cache_key(query), |_| select(docs, query, &how.id_fields))
            }
            Docs::Owned(_) => select(docs, query, &how.id_fields).into(),
        })
    };
    let total = positions.as_ref().map_or(docs.len(), |p| p.len());
    let start = query.skip.min(total);
    let mut end = start.saturating_add(query.limit).min(total);
    if let Some(share) = plan.short_page
        && end - start == query.limit
        && end < total
        && query.limit > 1
    {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let kept = ((share * query.limit as f64) as usize).clamp(1, query.limit - 1);
        end = start + kept;
        lock(&shared.stats).faults.short_pages += 1;
    }
    // Asked-for fields, or the fields of a hydrated kind's list items.
    let fields: Option<Vec<String>> = query
        .fields
        .clone()
        .or_else(|| how.partial.as_ref().map(|p| p.iter().map(|f| (*f).to_owned()).collect()));
    let mut items: Vec<u8> = Vec::with_capacity((end - start) * 512 + 2);
    items.push(b'[');
    for (n, i) in (start..end).enumerate() {
        let index = positions.as_ref().map_or(i, |p| p[i] as usize);
        let Some(doc) = docs.get(index) else { continue };
        if n > 0 {
            items.push(b',');
        }
        match &fields {
            Some(fields) => {
                let value = doc.value();
                let mut projected = query::project(&value, fields);
                for id in &how.id_fields {
                    if let Some(value) = value.get(*id) {
                        projected[*id] = value.clone();
                    }
                }
                items.extend(serde_json::to_vec(&projected).unwrap_or_default());
            }
            None => items.extend_from_slice(&doc.json),
        }
    }
    items.push(b']');
    let (body, count_header) = match how.envelope {
        Envelope::V1 => {
            let mut body = format!("{{\"totalCount\":{total},\"results\":").into_bytes();
            body.extend(items);
            body.push(b'}');
            (body, false)
        }
        Envelope::Wrapper(key) => {
            let mut body = format!("{{\"{key}\":").into_bytes();
            body.extend(items);
            body.extend(format!(",\"totalCount\":{total}}}").into_bytes());
            (body, true)
        }
        _ => (items, true),
    };
    let mut response = json_bytes(StatusCode::OK, body);
    if count_header {
        response.headers_mut().insert("x-total-count", HeaderValue::from(total));
    }
    response
}

fn one_org(selection: &OrgSelection) -> usize {
    match selection {
        OrgSelection::One(i) => *i,
        OrgSelection::Many(v) => v.first().copied().unwrap_or(0),
        OrgSelection::All => 0,
    }
}

fn exists(org: &OrgState, kind: ResourceKind, id: &str) -> bool {
    ResourceId::new(id).is_ok_and(|id| org.collection(kind).is_some_and(|c| c.contains(&id)))
}

fn list(
    shared: &Shared,
    plan: &Plan,
    selection: &OrgSelection,
    kinds: &[ResourceKind],
    parent: &str,
    params: &[(String, String)],
    api: Api,
) -> Response {
    let kind = match choose(kinds, params) {
        Ok(Choice::Kind(kind)) => kind,
        Ok(Choice::Associations(ty)) => {
            let Some(parent_kind) = kinds[0].meta().parent.map(|p| p.kind) else {
                return not_found();
            };
            return associations(
                shared,
                plan,
                selection,
                graph::graph_type_of(parent_kind),
                parent_kind,
                parent,
                ty,
                params,
            );
        }
        Err(response) => return response,
    };
    let meta = kind.meta();
    let query = match query::parse(params, dialect(api), meta.max_limit, meta.filterable) {
        Ok(query) => query,
        Err(text) => return bad_request(&text),
    };
    let org_index = one_org(selection);
    if plan.move_items && query.skip > 0 && meta.parent.is_none() && *selection != OrgSelection::All
    {
        let mut world = shared.write();
        if let Some(collection) = world.orgs.get_mut(org_index).and_then(|o| o.kinds.get_mut(&kind))
            && collection.len() > 1
        {
            collection.move_to_end(0);
            lock(&shared.stats).faults.moved_items += 1;
        }
    }
    let world = shared.read();
    let Some(org) = world.orgs.get(org_index) else { return not_found() };
    let how = Render::of(kind);
    if let Some(spec) = meta.parent {
        if !exists(org, spec.kind, parent) {
            return not_found();
        }
        let Ok(parent_id) = ResourceId::new(parent) else { return not_found() };
        if kind.is_relation() {
            let items: Vec<Arc<Doc>> =
                graph::relation_items(org, kind, &parent_id).iter().map(Doc::new).collect();
            return render(shared, plan, &Docs::Owned(items), &query, &how);
        }
        return match org.child_collection(kind, &parent_id) {
            Some(collection) => render(shared, plan, &Docs::Stored(collection), &query, &how),
            None => render(shared, plan, &Docs::Owned(Vec::new()), &query, &how),
        };
    }
    if *selection == OrgSelection::All && world.orgs.len() > 1 {
        let mut seen = std::collections::HashSet::new();
        let docs: Vec<Arc<Doc>> = world
            .orgs
            .iter()
            .filter_map(|o| o.collection(kind))
            .flat_map(Collection::iter)
            .filter(|(id, _)| seen.insert(id.clone()))
            .map(|(_, doc)| Arc::clone(doc))
            .collect();
        return render(shared, plan, &Docs::Owned(docs), &query, &how);
    }
    match org.collection(kind) {
        Some(collection) => render(shared, plan, &Docs::Stored(collection), &query, &how),
        None => render(shared, plan, &Docs::Owned(Vec::new()), &query, &how),
    }
}

fn get(
    shared: &Shared,
    selection: &OrgSelection,
    kind: ResourceKind,
    id: &str,
    params: &[(String, String)],
    api: Api,
) -> Response {
    let query = match query::parse(params, dialect(api), u32::MAX, &[]) {
        Ok(query) => query,
        Err(text) => return bad_request(&text),
    };
    let Ok(id) = ResourceId::new(id) else { return not_found() };
    let world = shared.read();
    let orgs: Vec<&OrgState> = match selection {
        OrgSelection::All => world.orgs.iter().collect(),
        other => world.orgs.get(one_org(other)).into_iter().collect(),
    };
    let Some(doc) = orgs.iter().find_map(|o| o.collection(kind).and_then(|c| c.get(&id))) else {
        return not_found();
    };
    match &query.fields {
        Some(fields) => {
            let value = doc.value();
            let mut projected = query::project(&value, fields);
            for field in Render::of(kind).id_fields {
                if let Some(value) = value.get(field) {
                    projected[field] = value.clone();
                }
            }
            json_bytes(StatusCode::OK, serde_json::to_vec(&projected).unwrap_or_default())
        }
        None => json_bytes(StatusCode::OK, doc.json.clone()),
    }
}

#[allow(clippy::too_many_arguments)]
fn associations(
    shared: &Shared,
    plan: &Plan,
    selection: &OrgSelection,
    source: &'static str,
    source_kind: ResourceKind,
    id: &str,
    target: &'static str,
    params: &[(String, String)],
) -> Response {
    if is_membership(source, target) {
        return bad_request(&format!(
            "Bad Request: request parameter \"targets\": {target} is a membership of {source}; use /members or /memberof"
        ));
    }
    let world = shared.read();
    let Some(org) = world.orgs.get(one_org(selection)) else { return not_found() };
    if !exists(org, source_kind, id) {
        return not_found();
    }
    let Ok(id) = ResourceId::new(id) else { return not_found() };
    let items = graph::direct(&org.graph, &Node::new(source, id), target);
    render_values(shared, plan, &items, params)
}

fn render_values(
    shared: &Shared,
    plan: &Plan,
    items: &[Value],
    params: &[(String, String)],
) -> Response {
    let query = match query::parse(params, Dialect::V2, 100, &[]) {
        Ok(query) => query,
        Err(text) => return bad_request(&text),
    };
    let docs = Docs::Owned(items.iter().map(Doc::new).collect());
    render(shared, plan, &docs, &query, &Render::graph())
}

fn graph_view(
    shared: &Shared,
    plan: &Plan,
    selection: &OrgSelection,
    view: GraphView,
    id: &str,
    params: &[(String, String)],
) -> Response {
    let source = match view {
        GraphView::Associations(s)
        | GraphView::Members(s)
        | GraphView::Membership(s)
        | GraphView::MemberOf(s)
        | GraphView::Traversal(s, _) => s,
    };
    if let GraphView::Associations(source) = view {
        let Some((_, target)) = params.iter().find(|(k, _)| k == "targets") else {
            return bad_request("Bad Request: request parameter \"targets\" is required");
        };
        let Some(target) = graph_type_named(target) else {
            return bad_request(&format!(
                "Bad Request: request parameter \"targets\" has an unknown type {target:?}"
            ));
        };
        return associations(shared, plan, selection, source.name, source.kind, id, target, params);
    }
    let items = {
        let world = shared.read();
        let Some(org) = world.orgs.get(one_org(selection)) else { return not_found() };
        if !exists(org, source.kind, id) {
            return not_found();
        }
        let Ok(id) = ResourceId::new(id) else { return not_found() };
        let node = Node::new(source.name, id);
        match view {
            GraphView::Members(group) => match member_type(group.name) {
                Some(member) => graph::direct(&org.graph, &node, member),
                None => Vec::new(),
            },
            GraphView::Membership(group) => match member_type(group.name) {
                Some(member) => graph::traverse(org, &node, member),
                None => Vec::new(),
            },
            GraphView::MemberOf(_) => graph::member_of(&org.graph, &node),
            GraphView::Traversal(_, target) => graph::traverse(org, &node, target.name),
            GraphView::Associations(_) => Vec::new(),
        }
    };
    render_values(shared, plan, &items, params)
}

fn member_type(group: &str) -> Option<&'static str> {
    match group {
        "user_group" => Some("user"),
        "system_group" => Some("system"),
        "policy_group" => Some("policy"),
        _ => None,
    }
}

fn system_policy_statuses(
    shared: &Shared,
    plan: &Plan,
    selection: &OrgSelection,
    system: &str,
    params: &[(String, String)],
) -> Response {
    let items: Vec<Value> = {
        let world = shared.read();
        let Some(org) = world.orgs.get(one_org(selection)) else { return not_found() };
        if !exists(org, ResourceKind::System, system) {
            return not_found();
        }
        org.children
            .get(&ResourceKind::PolicyStatus)
            .into_iter()
            .flat_map(|by_policy| by_policy.values())
            .flat_map(Collection::iter)
            .filter(|(_, doc)| doc.mentions(system))
            .map(|(_, doc)| doc.value())
            .filter(|doc| doc.get("systemID").and_then(Value::as_str) == Some(system))
            .collect()
    };
    render_values(shared, plan, &items, params)
}
