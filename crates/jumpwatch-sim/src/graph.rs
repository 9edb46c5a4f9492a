//! The directory graph: group memberships and associations (bindings) between objects, and the
//! views JumpCloud gives of it: direct edges (`/associations`, `/members`), group memberships
//! (`/memberof`) and traversals through groups (`/systems/{id}/users`, `/policies/{id}/systems`)
//! with their paths and the attributes compiled over them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jumpwatch_model::{ResourceId, ResourceKind};
use serde_json::{Value, json};

use crate::store::OrgState;

/// A graph type (`user`, `system_group`), its v2 collection name and its catalog kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GraphType {
    pub(crate) name: &'static str,
    pub(crate) collection: &'static str,
    pub(crate) kind: ResourceKind,
}

/// The graph types the simulator serves graph routes for.
pub(crate) const GRAPH_TYPES: &[GraphType] = &[
    GraphType { name: "user", collection: "users", kind: ResourceKind::User },
    GraphType { name: "user_group", collection: "usergroups", kind: ResourceKind::UserGroup },
    GraphType { name: "system", collection: "systems", kind: ResourceKind::System },
    GraphType { name: "system_group", collection: "systemgroups", kind: ResourceKind::SystemGroup },
    GraphType { name: "policy", collection: "policies", kind: ResourceKind::Policy },
    GraphType { name: "policy_group", collection: "policygroups", kind: ResourceKind::PolicyGroup },
    GraphType { name: "application", collection: "applications", kind: ResourceKind::Application },
    GraphType { name: "command", collection: "commands", kind: ResourceKind::Command },
    GraphType {
        name: "radius_server",
        collection: "radiusservers",
        kind: ResourceKind::RadiusServer,
    },
    GraphType { name: "ldap_server", collection: "ldapservers", kind: ResourceKind::LdapServer },
    GraphType { name: "g_suite", collection: "gsuites", kind: ResourceKind::Gsuite },
    GraphType { name: "office_365", collection: "office365s", kind: ResourceKind::Office365 },
    GraphType {
        name: "active_directory",
        collection: "activedirectories",
        kind: ResourceKind::ActiveDirectory,
    },
    GraphType { name: "software_app", collection: "softwareapps", kind: ResourceKind::SoftwareApp },
];

/// The graph type of a kind; a kind the table does not know uses its catalog name.
pub(crate) fn graph_type_of(kind: ResourceKind) -> &'static str {
    GRAPH_TYPES.iter().find(|t| t.kind == kind).map_or_else(|| kind.name(), |t| t.name)
}

/// The graph type with this name.
pub(crate) fn graph_type_named(name: &str) -> Option<&'static str> {
    GRAPH_TYPES
        .iter()
        .map(|t| t.name)
        .chain(ResourceKind::ALL.iter().map(|k| k.name()))
        .find(|t| *t == name)
}

/// Group types, which traversals pass through.
pub(crate) fn is_group(ty: &str) -> bool {
    matches!(ty, "user_group" | "system_group" | "policy_group")
}

/// An edge between a group and a member of the group's kind is a membership (`/members`,
/// `/memberof`); every other edge is an association (`/associations`).
pub(crate) fn is_membership(a: &str, b: &str) -> bool {
    matches!(
        (a, b),
        ("user_group", "user")
            | ("user", "user_group")
            | ("system_group", "system")
            | ("system", "system_group")
            | ("policy_group", "policy")
            | ("policy", "policy_group")
    )
}

/// The group type whose members have type `member`.
pub(crate) fn group_type_for_member(member: &str) -> Option<&'static str> {
    match member {
        "user" => Some("user_group"),
        "system" => Some("system_group"),
        "policy" => Some("policy_group"),
        _ => None,
    }
}

/// One end of an edge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Node {
    pub(crate) ty: &'static str,
    pub(crate) id: ResourceId,
}

impl Node {
    pub(crate) fn new(ty: &'static str, id: ResourceId) -> Self {
        Self { ty, id }
    }
}

/// Undirected edges with attributes, by node and then by the other end's type and id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Graph {
    adjacency: HashMap<Node, BTreeMap<&'static str, BTreeMap<ResourceId, Value>>>,
}

impl Graph {
    /// Adds or replaces the edge between two nodes. Returns the attributes it replaced.
    pub(crate) fn link(&mut self, a: &Node, b: &Node, attributes: Value) -> Option<Value> {
        self.adjacency
            .entry(b.clone())
            .or_default()
            .entry(a.ty)
            .or_default()
            .insert(a.id.clone(), attributes.clone());
        self.adjacency
            .entry(a.clone())
            .or_default()
            .entry(b.ty)
            .or_default()
            .insert(b.id.clone(), attributes)
    }

    /// Removes the edge between two nodes. Returns its attributes.
    pub(crate) fn unlink(&mut self, a: &Node, b: &Node) -> Option<Value> {
        let removed = remove_half(&mut self.adjacency, a, b);
        remove_half(&mut self.adjacency, b, a);
        removed
    }

    /// The attributes of the edge between two nodes, if they are linked.
    pub(crate) fn edge(&self, a: &Node, b: &Node) -> Option<&Value> {
        self.adjacency.get(a)?.get(b.ty)?.get(&b.id)
    }

    /// The neighbours of a node of one type, in id order, with the edge attributes.
    pub(crate) fn neighbours<'g>(
        &'g self,
        node: &Node,
        ty: &str,
    ) -> impl Iterator<Item = (&'g ResourceId, &'g Value)> + 'g {
        self.adjacency.get(node).and_then(|by_type| by_type.get(ty)).into_iter().flatten()
    }

    /// Every edge of a node, as (other end, attributes).
    pub(crate) fn edges_of(&self, node: &Node) -> Vec<(Node, Value)> {
        self.adjacency
            .get(node)
            .into_iter()
            .flat_map(|by_type| {
                by_type.iter().flat_map(|(ty, ends)| {
                    ends.iter()
                        .map(|(id, attributes)| (Node::new(ty, id.clone()), attributes.clone()))
                })
            })
            .collect()
    }

    /// Removes a node and its edges. Returns the edges removed.
    pub(crate) fn remove_node(&mut self, node: &Node) -> Vec<(Node, Value)> {
        let edges = self.edges_of(node);
        for (other, _) in &edges {
            remove_half(&mut self.adjacency, other, node);
        }
        self.adjacency.remove(node);
        edges
    }

    /// Whether any edge joins a node of type `a` to one of type `b`.
    pub(crate) fn has_edges_between(&self, a: &str, b: &str) -> bool {
        self.adjacency.iter().any(|(node, by_type)| {
            node.ty == a && by_type.get(b).is_some_and(|ends| !ends.is_empty())
        })
    }
}

fn remove_half(
    adjacency: &mut HashMap<Node, BTreeMap<&'static str, BTreeMap<ResourceId, Value>>>,
    from: &Node,
    to: &Node,
) -> Option<Value> {
    let by_type = adjacency.get_mut(from)?;
    let ends = by_type.get_mut(to.ty)?;
    let removed = ends.remove(&to.id);
    if ends.is_empty() {
        by_type.remove(to.ty);
    }
    if by_type.is_empty() {
        adjacency.remove(from);
    }
    removed
}

/// A direct edge as JumpCloud lists it (a graph connection).
pub(crate) fn connection(to: &Node, attributes: &Value) -> Value {
    json!({
        "attributes": attributes,
        "to": {"attributes": Value::Null, "id": to.id.as_str(), "type": to.ty},
    })
}

/// How a relation kind of the catalog is read from the graph.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RelationShape {
    /// Direct edges as graph connections (`{to: {id, type}}`).
    Direct { from: &'static str, to: &'static str },
    /// Objects reached through groups, with their paths (`{id, type, paths}`).
    Traversal { from: &'static str, to: &'static str },
}

/// How a relation kind is served, from its catalog metadata: items that carry the other end in
/// `to.id` are direct edges; items that carry it in `id` are traversals.
pub(crate) fn relation_shape(kind: ResourceKind) -> Option<RelationShape> {
    let meta = kind.meta();
    let relation = meta.relation?;
    let parent = meta.parent?;
    let from = graph_type_of(parent.kind);
    let to = relation.to_type_value.unwrap_or_else(|| graph_type_of(relation.to));
    let to = graph_type_named(to).unwrap_or_else(|| graph_type_of(relation.to));
    Some(if relation.to_id.starts_with("to.") {
        RelationShape::Direct { from, to }
    } else {
        RelationShape::Traversal { from, to }
    })
}

/// The items of a relation kind under one parent, as the list endpoint returns them.
pub(crate) fn relation_items(
    org: &OrgState,
    kind: ResourceKind,
    parent: &ResourceId,
) -> Vec<Value> {
    match relation_shape(kind) {
        Some(RelationShape::Direct { from, to }) => {
            direct(&org.graph, &Node::new(from, parent.clone()), to)
        }
        Some(RelationShape::Traversal { from, to }) => {
            traverse(org, &Node::new(from, parent.clone()), to)
        }
        None => Vec::new(),
    }
}

/// The number of items of a relation kind over every parent.
pub(crate) fn relation_count(org: &OrgState, kind: ResourceKind) -> usize {
    let Some(parent) = kind.meta().parent else { return 0 };
    let Some(parents) = org.collection(parent.kind) else { return 0 };
    parents.iter().map(|(id, _)| relation_items(org, kind, id).len()).sum()
}

/// Direct edges of a node to nodes of one type.
pub(crate) fn direct(graph: &Graph, node: &Node, to: &'static str) -> Vec<Value> {
    graph
        .neighbours(node, to)
        .map(|(id, attributes)| connection(&Node::new(to, id.clone()), attributes))
        .collect()
}

/// The groups a node is a member of, as graph objects with paths.
pub(crate) fn member_of(graph: &Graph, node: &Node) -> Vec<Value> {
    let Some(group_type) = group_type_for_member(node.ty) else { return Vec::new() };
    graph
        .neighbours(node, group_type)
        .map(|(id, attributes)| {
            let group = Node::new(group_type, id.clone());
            json!({
                "id": id.as_str(),
                "type": group_type,
                "paths": [[connection(&group, attributes)]],
                "compiledAttributes": {},
            })
        })
        .collect()
}

/// Objects of type `to` reached from `from` directly or through groups (at most three edges,
/// every intermediate a group), each with every path and, between users and systems, the sudo
/// rights compiled over the paths.
pub(crate) fn traverse(org: &OrgState, from: &Node, to: &'static str) -> Vec<Value> {
    let mut found: BTreeMap<ResourceId, Vec<Vec<(Node, Value)>>> = BTreeMap::new();
    let mut path: Vec<(Node, Value)> = Vec::new();
    walk(&org.graph, from, to, &mut path, &mut found, 3);
    let sudo_relevant = matches!((from.ty, to), ("system", "user") | ("user", "system"));
    found
        .into_iter()
        .map(|(id, paths)| {
            let mut item = json!({
                "id": id.as_str(),
                "type": to,
                "paths": paths
                    .iter()
                    .map(|p| p.iter().map(|(n, a)| connection(n, a)).collect::<Vec<_>>())
                    .collect::<Vec<_>>(),
            });
            if sudo_relevant {
                item["compiledAttributes"] = compiled_sudo(org, &paths);
            }
            item
        })
        .collect()
}

/// The ids of the objects of type `to` that [`traverse`] reaches, without their paths.
pub(crate) fn reach(graph: &Graph, from: &Node, to: &'static str) -> BTreeSet<ResourceId> {
    fn go(
        graph: &Graph,
        at: &Node,
        to: &'static str,
        seen: &mut Vec<Node>,
        out: &mut BTreeSet<ResourceId>,
        budget: usize,
    ) {
        if budget == 0 {
            return;
        }
        for (id, _) in graph.neighbours(at, to) {
            out.insert(id.clone());
        }
        if budget == 1 {
            return;
        }
        for group_type in ["user_group", "system_group", "policy_group"] {
            if group_type == to {
                continue;
            }
            for (id, _) in graph.neighbours(at, group_type) {
                let next = Node::new(group_type, id.clone());
                if seen.contains(&next) {
                    continue;
                }
                seen.push(next.clone());
                go(graph, &next, to, seen, out, budget - 1);
                seen.pop();
            }
        }
    }
    let mut out = BTreeSet::new();
    go(graph, from, to, &mut vec![from.clone()], &mut out, 3);
    out
}

fn walk(
    graph: &Graph,
    at: &Node,
    target: &'static str,
    path: &mut Vec<(Node, Value)>,
    found: &mut BTreeMap<ResourceId, Vec<Vec<(Node, Value)>>>,
    budget: usize,
) {
    if budget == 0 {
        return;
    }
    for (id, attributes) in graph.neighbours(at, target) {
        let end = Node::new(target, id.clone());
        if path.iter().any(|(n, _)| *n == end) {
            continue;
        }
        let mut complete = path.clone();
        complete.push((end, attributes.clone()));
        found.entry(id.clone()).or_default().push(complete);
    }
    if budget == 1 {
        return;
    }
    for group_type in ["user_group", "system_group", "policy_group"] {
        if group_type == target {
            continue;
        }
        for (id, attributes) in graph.neighbours(at, group_type) {
            let next = Node::new(group_type, id.clone());
            if path.iter().any(|(n, _)| *n == next) {
                continue;
            }
            path.push((next.clone(), attributes.clone()));
            walk(graph, &next, target, path, found, budget - 1);
            path.pop();
        }
    }
}

/// The sudo rights a set of paths between a user and a system grant: an edge whose attributes
/// grant sudo, or a user group on the path whose attributes do.
fn compiled_sudo(org: &OrgState, paths: &[Vec<(Node, Value)>]) -> Value {
    let mut enabled = false;
    let mut without_password = false;
    let mut groups: HashMap<ResourceId, Option<Value>> = HashMap::new();
    for path in paths {
        let mut path_enabled = false;
        let mut path_nopasswd = false;
        for (node, attributes) in path {
            let mut grant = |sudo: Option<&Value>| {
                if let Some(sudo) = sudo
                    && sudo.get("enabled").and_then(Value::as_bool) == Some(true)
                {
                    path_enabled = true;
                    path_nopasswd |=
                        sudo.get("withoutPassword").and_then(Value::as_bool) == Some(true);
                }
            };
            grant(attributes.get("sudo"));
            if node.ty == "user_group" {
                let sudo = groups.entry(node.id.clone()).or_insert_with(|| {
                    let group = org.collection(ResourceKind::UserGroup)?.get(&node.id)?.value();
                    group.get("attributes")?.get("sudo").cloned()
                });
                grant(sudo.as_ref());
            }
        }
        enabled |= path_enabled;
        without_password |= path_enabled && path_nopasswd;
    }
    json!({"sudo": {"enabled": enabled, "withoutPassword": without_password}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> ResourceId {
        ResourceId::new(text).unwrap()
    }

    #[test]
    fn traversal_goes_through_groups_and_compiles_sudo() {
        let mut org = OrgState::new("o".into());
        org.put(
            ResourceKind::UserGroup,
            json!({"id": "g1", "name": "ops", "attributes": {"sudo": {"enabled": true, "withoutPassword": true}}}),
        )
        .unwrap();
        let system = Node::new("system", id("s1"));
        let sysgroup = Node::new("system_group", id("sg1"));
        let group = Node::new("user_group", id("g1"));
        let ada = Node::new("user", id("u1"));
        let bob = Node::new("user", id("u2"));
        org.graph.link(
            &system,
            &ada,
            json!({"sudo": {"enabled": false, "withoutPassword": false}}),
        );
        org.graph.link(&system, &sysgroup, Value::Null);
        org.graph.link(&sysgroup, &group, Value::Null);
        org.graph.link(&group, &bob, Value::Null);
        let items = traverse(&org, &system, "user");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["id"], "u1");
        assert_eq!(items[0]["compiledAttributes"]["sudo"]["enabled"], false);
        assert_eq!(items[1]["id"], "u2");
        assert_eq!(items[1]["paths"][0].as_array().unwrap().len(), 3);
        assert_eq!(items[1]["compiledAttributes"]["sudo"]["withoutPassword"], true);
        assert_eq!(direct(&org.graph, &system, "user").len(), 1);
        org.graph.remove_node(&sysgroup);
        assert_eq!(traverse(&org, &system, "user").len(), 1);
        assert_eq!(org.graph.neighbours(&group, "system_group").count(), 0);
    }
}
