//! The `rel` variable: what a resource is related to, from the inventory's relation index.
//!
//! | kind | `rel.<name>` |
//! |---|---|
//! | `user` | `groups` (user groups it is a direct member of), `systems` (devices it is bound to), `bindings` (the binding documents, with `compiledAttributes` and the bound `system`), `applications` (through its groups), `admin` (the console administrator with the same email, when there is one) |
//! | `system` | `users`, `bindings` (with the bound `user`), `groups` (system groups), `policies` (each once: bound to it, to one of its groups, or a member of a policy group bound to it or to one of its groups; `via_group` names the system group, `via_policy_group` the policy group), `policy_statuses` (the latest result of each policy on it, with its `policy`), `insights.<table>` (its System Insights rows: `insights.alf`, `insights.disk_encryption`...) |
//! | `user_group` | `members` (users), `applications` |
//! | `system_group` | `members` (systems), `policies` (bound to it, or through a policy group) |
//! | `policy` | `systems` (directly, through system groups or through its policy groups), `statuses` |
//! | `application` | `groups` (user groups bound to it) |
//! | `organization` | `administrators`, `authn_policies`, `policies`, `ip_lists` (every one of the tenant's) |
//! | a relation or child kind | `parent` and, for relations, `target` (the documents at both ends) |
//!
//! Lists are empty (and `parent`, `target`, `admin` missing) when the inventory has nothing.

use std::collections::HashMap;

use cel::common::value::Val;
use jumpwatch_model::catalog::Api;
use jumpwatch_model::{Inventory, PolicyBinding, Resource, ResourceId, ResourceKind, SystemId};
use serde_json::Value;

use crate::value::{cel_list, cel_map, cel_merged, cel_val};

/// The documents rules see: secret paths replaced by their markers.
#[derive(Debug)]
pub(crate) struct Docs<'a> {
    inventory: &'a Inventory,
    redacted: HashMap<(ResourceKind, &'a ResourceId), Value>,
}

impl<'a> Docs<'a> {
    /// Redacts the documents of the kinds that have secret paths (the others are read as they
    /// are, without a copy).
    pub(crate) fn new(inventory: &'a Inventory) -> Self {
        let mut redacted = HashMap::new();
        for kind in inventory.kinds() {
            if kind.meta().secret.is_empty() {
                continue;
            }
            let normalizer = jumpwatch_model::Normalizer::for_kind(kind);
            for resource in inventory.resources(kind) {
                let mut doc = resource.doc.clone();
                normalizer.redact(&mut doc);
                redacted.insert((kind, &resource.id), doc);
            }
        }
        Self { inventory, redacted }
    }

    /// The inventory.
    pub(crate) const fn inventory(&self) -> &'a Inventory {
        self.inventory
    }

    /// A resource's document as rules see it.
    pub(crate) fn doc<'s>(&'s self, resource: &'a Resource) -> &'s Value {
        self.redacted.get(&(resource.kind, &resource.id)).unwrap_or(&resource.doc)
    }
}

/// Indexes the relations that are not edges of the inventory: rows that name their device.
#[derive(Debug)]
pub(crate) struct Relations<'a> {
    docs: &'a Docs<'a>,
    /// (kind, system id) → the System Insights rows and policy statuses of a device.
    by_system: HashMap<(ResourceKind, &'a str), Vec<&'a Resource>>,
    /// Policy id → its statuses.
    statuses: HashMap<&'a ResourceId, Vec<&'a Resource>>,
    /// Lower-case email → the administrator.
    admins: HashMap<String, &'a Resource>,
    /// The System Insights kinds, with their table names (`alf` for `si_alf`).
    insights: Vec<(ResourceKind, &'static str)>,
}

fn is_insights(kind: ResourceKind) -> bool {
    kind.meta().api == Api::Insights
}

impl<'a> Relations<'a> {
    pub(crate) fn new(docs: &'a Docs<'a>) -> Self {
        let inventory = docs.inventory();
        let insights: Vec<(ResourceKind, &'static str)> = ResourceKind::ALL
            .iter()
            .copied()
            .filter(|k| is_insights(*k))
            .map(|k| (k, k.meta().name.trim_start_matches("si_")))
            .collect();
        let mut by_system: HashMap<(ResourceKind, &'a str), Vec<&'a Resource>> = HashMap::new();
        for &(kind, _) in &insights {
            for row in inventory.resources(kind) {
                if let Some(system) = row.doc.get("system_id").and_then(Value::as_str) {
                    by_system.entry((kind, system)).or_default().push(row);
                }
            }
        }
        let mut statuses: HashMap<&'a ResourceId, Vec<&'a Resource>> = HashMap::new();
        for status in inventory.resources(ResourceKind::PolicyStatus) {
            if let Some(system) = status.doc.get("systemID").and_then(Value::as_str) {
                by_system.entry((ResourceKind::PolicyStatus, system)).or_default().push(status);
            }
            if let Some(policy) = &status.parent {
                statuses.entry(policy).or_default().push(status);
            }
        }
        let admins = inventory
            .resources(ResourceKind::Administrator)
            .filter_map(|a| Some((a.doc.get("email")?.as_str()?.to_lowercase(), a)))
            .collect();
        Self { docs, by_system, statuses, admins, insights }
    }

    fn get(&self, kind: ResourceKind, id: &ResourceId) -> Option<&'a Resource> {
        self.docs.inventory().get(kind, id)
    }

    fn list(&self, resources: impl IntoIterator<Item = &'a Resource>) -> Box<dyn Val + 'a> {
        cel_list(resources.into_iter().map(|r| self.docs.doc(r)))
    }

    /// The `rel` value of a resource.
    pub(crate) fn of(&self, resource: &'a Resource) -> Box<dyn Val + 'a> {
        let inventory = self.docs.inventory();
        let id = &resource.id;
        let mut entries: Vec<(&'a str, Box<dyn Val + 'a>)> = Vec::new();
        match resource.kind {
            ResourceKind::User => {
                let groups: Vec<&Resource> = inventory
                    .edges_to(ResourceKind::UserGroupMember, id)
                    .filter_map(|e| self.get(ResourceKind::UserGroup, e.from))
                    .collect();
                let applications = groups.iter().flat_map(|g| {
                    inventory
                        .edges_to(ResourceKind::ApplicationUserGroupBinding, &g.id)
                        .filter_map(|e| self.get(ResourceKind::Application, e.from))
                });
                entries.push(("applications", self.list(dedupe(applications))));
                entries.push(("groups", self.list(groups.iter().copied())));
                let bindings: Vec<_> =
                    inventory.edges_to(ResourceKind::SystemUserBinding, id).collect();
                let systems: Vec<&Resource> = bindings
                    .iter()
                    .filter_map(|e| self.get(ResourceKind::System, e.from))
                    .collect();
                entries.push(("systems", self.list(systems)));
                entries.push((
                    "bindings",
                    self.edges(&bindings, "system", ResourceKind::System, true),
                ));
                let admin = resource
                    .doc
                    .get("email")
                    .and_then(Value::as_str)
                    .and_then(|email| self.admins.get(&email.to_lowercase()));
                if let Some(admin) = admin {
                    entries.push(("admin", cel_val(self.docs.doc(admin))));
                }
            }
            ResourceKind::System => {
                let bindings: Vec<_> =
                    inventory.edges_from(ResourceKind::SystemUserBinding, id).collect();
                let users = bindings.iter().filter_map(|e| self.get(ResourceKind::User, e.to));
                entries.push(("users", self.list(users)));
                entries
                    .push(("bindings", self.edges(&bindings, "user", ResourceKind::User, false)));
                let groups = inventory
                    .edges_to(ResourceKind::SystemGroupMember, id)
                    .filter_map(|e| self.get(ResourceKind::SystemGroup, e.from));
                entries.push(("groups", self.list(groups)));
                let system = resource.id.as_str();
                let policies: Vec<Box<dyn Val + 'a>> = self
                    .policies_of_system(id)
                    .into_iter()
                    .map(|(policy, via)| {
                        let extra = [
                            ("via_group", via.via_system_group),
                            ("via_policy_group", via.via_policy_group),
                        ]
                        .into_iter()
                        .filter_map(|(key, group)| Some((key, cel_val_str(group?.as_str()))))
                        .collect();
                        cel_merged(self.docs.doc(policy), extra)
                    })
                    .collect();
                entries.push(("policies", Box::new(cel::common::types::CelList::from(policies))));
                let statuses: Vec<Box<dyn Val + 'a>> = self
                    .by_system
                    .get(&(ResourceKind::PolicyStatus, system))
                    .into_iter()
                    .flatten()
                    .map(|status| {
                        let policy = status
                            .parent
                            .as_ref()
                            .and_then(|p| self.get(ResourceKind::Policy, p))
                            .map(|p| ("policy", cel_val(self.docs.doc(p))));
                        cel_merged(self.docs.doc(status), policy.into_iter().collect())
                    })
                    .collect();
                entries.push((
                    "policy_statuses",
                    Box::new(cel::common::types::CelList::from(statuses)),
                ));
                let tables = self.insights.iter().map(|&(kind, table)| {
                    let rows = self.by_system.get(&(kind, system)).into_iter().flatten().copied();
                    (table, self.list(rows))
                });
                entries.push(("insights", Box::new(cel_map(tables))));
            }
            ResourceKind::UserGroup => {
                let members = inventory
                    .edges_from(ResourceKind::UserGroupMember, id)
                    .filter_map(|e| self.get(ResourceKind::User, e.to));
                entries.push(("members", self.list(members)));
                let applications = inventory
                    .edges_to(ResourceKind::ApplicationUserGroupBinding, id)
                    .filter_map(|e| self.get(ResourceKind::Application, e.from));
                entries.push(("applications", self.list(applications)));
            }
            ResourceKind::SystemGroup => {
                let members = inventory
                    .edges_from(ResourceKind::SystemGroupMember, id)
                    .filter_map(|e| self.get(ResourceKind::System, e.to));
                entries.push(("members", self.list(members)));
                // Bound to the group, or members of a policy group bound to it.
                let direct =
                    inventory.edges_to(ResourceKind::PolicySystemGroupBinding, id).map(|e| e.from);
                let through_policy_groups = inventory
                    .edges_to(ResourceKind::PolicyGroupSystemGroupBinding, id)
                    .flat_map(|b| inventory.edges_from(ResourceKind::PolicyGroupMember, b.from))
                    .map(|m| m.to);
                let policies = direct
                    .chain(through_policy_groups)
                    .filter_map(|p| self.get(ResourceKind::Policy, p));
                entries.push(("policies", self.list(dedupe(policies))));
            }
            ResourceKind::Policy => {
                let systems = inventory
                    .systems_of_policy_reached(&jumpwatch_model::PolicyId::from(id.clone()))
                    .into_iter()
                    .filter_map(|s| self.get(ResourceKind::System, s));
                entries.push(("systems", self.list(systems)));
                let statuses = self.statuses.get(id).into_iter().flatten().copied();
                entries.push(("statuses", self.list(statuses)));
            }
            ResourceKind::Application => {
                let groups = inventory
                    .edges_from(ResourceKind::ApplicationUserGroupBinding, id)
                    .filter_map(|e| self.get(ResourceKind::UserGroup, e.to));
                entries.push(("groups", self.list(groups)));
            }
            ResourceKind::Organization => {
                for (name, kind) in [
                    ("administrators", ResourceKind::Administrator),
                    ("authn_policies", ResourceKind::AuthnPolicy),
                    ("policies", ResourceKind::Policy),
                    ("ip_lists", ResourceKind::IpList),
                ] {
                    entries.push((name, self.list(inventory.resources(kind))));
                }
            }
            _ => {}
        }
        let meta = resource.kind.meta();
        if let (Some(parent), Some(spec)) = (&resource.parent, meta.parent)
            && let Some(parent) = self.get(spec.kind, parent)
        {
            entries.push(("parent", cel_val(self.docs.doc(parent))));
        }
        if let (Some(target), Some(spec)) = (resource.target(), meta.relation)
            && let Some(target) = self.get(spec.to, &target)
        {
            entries.push(("target", cel_val(self.docs.doc(target))));
        }
        Box::new(cel_map(entries))
    }

    /// Binding documents with the resource at their other end under `key`.
    fn edges(
        &self,
        edges: &[jumpwatch_model::Edge<'a>],
        key: &'static str,
        kind: ResourceKind,
        from: bool,
    ) -> Box<dyn Val + 'a> {
        let items: Vec<Box<dyn Val + 'a>> = edges
            .iter()
            .map(|edge| {
                let other = self.get(kind, if from { edge.from } else { edge.to });
                let extra = other.map(|o| (key, cel_val(self.docs.doc(o)))).into_iter().collect();
                cel_merged(self.docs.doc(edge.resource), extra)
            })
            .collect();
        Box::new(cel::common::types::CelList::from(items))
    }

    /// The policies that apply to a system, once each, with the way they come through
    /// ([`Inventory::policies_applying_to`]: bound to the system, to one of its system groups, or a
    /// member of a policy group bound to either). A policy that comes several ways keeps the first:
    /// bound to the system before through a group, and on one target the policy before a policy
    /// group.
    fn policies_of_system(&self, system: &ResourceId) -> Vec<(&'a Resource, PolicyBinding<'a>)> {
        let inventory = self.docs.inventory();
        let system = SystemId::from(system.clone());
        let mut out: Vec<(&'a Resource, PolicyBinding<'a>)> = Vec::new();
        for binding in inventory.policies_applying_to(&system) {
            if let Some(policy) = self.get(ResourceKind::Policy, binding.policy)
                && !out.iter().any(|(p, _)| p.id == policy.id)
            {
                out.push((policy, binding));
            }
        }
        out
    }
}

fn cel_val_str(text: &str) -> Box<dyn Val + '_> {
    Box::new(cel::common::types::CelString::from(text))
}

/// Each resource once, in the order first seen.
fn dedupe<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> Vec<&'a Resource> {
    let mut out: Vec<&'a Resource> = Vec::new();
    for resource in resources {
        if !out.iter().any(|r| r.id == resource.id) {
            out.push(resource);
        }
    }
    out
}
