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

use cel::common::types::CelList;
use cel::common::value::Val;
use jumpwatch_model::catalog::Api;
use jumpwatch_model::{Inventory, PolicyBinding, Resource, ResourceId, ResourceKind, SystemId};
use serde_json::Value;

use crate::pack::Relations as Wanted;
use crate::value::{cel_list, cel_map, cel_merged, cel_val};

/// The documents rules see: secret paths replaced by their markers. A document of a kind with
/// secret paths is copied and redacted the first time a rule reads it, not before.
#[derive(Debug)]
pub(crate) struct Docs<'a> {
    inventory: &'a Inventory,
    redacted: HashMap<(ResourceKind, &'a ResourceId), std::cell::OnceCell<Value>>,
}

impl<'a> Docs<'a> {
    pub(crate) fn new(inventory: &'a Inventory) -> Self {
        let redacted = inventory
            .kinds()
            .filter(|kind| !kind.meta().secret.is_empty())
            .flat_map(|kind| inventory.resources(kind))
            .map(|resource| ((resource.kind, &resource.id), std::cell::OnceCell::new()))
            .collect();
        Self { inventory, redacted }
    }

    /// The inventory.
    pub(crate) const fn inventory(&self) -> &'a Inventory {
        self.inventory
    }

    /// A resource's document as rules see it.
    pub(crate) fn doc<'s>(&'s self, resource: &'a Resource) -> &'s Value {
        match self.redacted.get(&(resource.kind, &resource.id)) {
            None => &resource.doc,
            Some(cell) => cell.get_or_init(|| {
                let mut doc = resource.doc.clone();
                jumpwatch_model::Normalizer::for_kind(resource.kind).redact(&mut doc);
                doc
            }),
        }
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

    /// The `rel` value of a resource, with the relations `wanted` (the others are left out: a
    /// user bound to 40 000 devices costs nothing to a rule that reads only its groups).
    pub(crate) fn of(&self, resource: &'a Resource, wanted: &Wanted) -> Box<dyn Val + 'a> {
        let inventory = self.docs.inventory();
        let id = &resource.id;
        let mut entries: Vec<(&'a str, Box<dyn Val + 'a>)> = Vec::new();
        let mut add = |name: &'a str, make: &dyn Fn() -> Option<Box<dyn Val + 'a>>| {
            if wanted.wants(name)
                && let Some(value) = make()
            {
                entries.push((name, value));
            }
        };
        match resource.kind {
            ResourceKind::User => {
                let groups = || {
                    inventory
                        .edges_to(ResourceKind::UserGroupMember, id)
                        .filter_map(|e| self.get(ResourceKind::UserGroup, e.from))
                };
                add("groups", &|| Some(self.list(groups())));
                add("applications", &|| {
                    let applications = groups().flat_map(|g| {
                        inventory
                            .edges_to(ResourceKind::ApplicationUserGroupBinding, &g.id)
                            .filter_map(|e| self.get(ResourceKind::Application, e.from))
                    });
                    Some(self.list(dedupe(applications)))
                });
                let bindings = || inventory.edges_to(ResourceKind::SystemUserBinding, id);
                add("systems", &|| {
                    Some(
                        self.list(
                            bindings().filter_map(|e| self.get(ResourceKind::System, e.from)),
                        ),
                    )
                });
                add("bindings", &|| {
                    Some(self.edges(
                        &bindings().collect::<Vec<_>>(),
                        "system",
                        ResourceKind::System,
                        true,
                    ))
                });
                add("admin", &|| {
                    let email = resource.doc.get("email").and_then(Value::as_str)?;
                    let admin = self.admins.get(&email.to_lowercase())?;
                    Some(cel_val(self.docs.doc(admin)))
                });
            }
            ResourceKind::System => {
                let bindings = || inventory.edges_from(ResourceKind::SystemUserBinding, id);
                add("users", &|| {
                    Some(self.list(bindings().filter_map(|e| self.get(ResourceKind::User, e.to))))
                });
                add("bindings", &|| {
                    Some(self.edges(
                        &bindings().collect::<Vec<_>>(),
                        "user",
                        ResourceKind::User,
                        false,
                    ))
                });
                add("groups", &|| {
                    let groups = inventory
                        .edges_to(ResourceKind::SystemGroupMember, id)
                        .filter_map(|e| self.get(ResourceKind::SystemGroup, e.from));
                    Some(self.list(groups))
                });
                let system = resource.id.as_str();
                add("policies", &|| {
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
                    Some(Box::new(CelList::from(policies)))
                });
                add("policy_statuses", &|| {
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
                    Some(Box::new(CelList::from(statuses)))
                });
                add("insights", &|| {
                    let tables = self.insights.iter().map(|&(kind, table)| {
                        let rows =
                            self.by_system.get(&(kind, system)).into_iter().flatten().copied();
                        (table, self.list(rows))
                    });
                    Some(Box::new(cel_map(tables)))
                });
            }
            ResourceKind::UserGroup => {
                add("members", &|| {
                    let members = inventory
                        .edges_from(ResourceKind::UserGroupMember, id)
                        .filter_map(|e| self.get(ResourceKind::User, e.to));
                    Some(self.list(members))
                });
                add("applications", &|| {
                    let applications = inventory
                        .edges_to(ResourceKind::ApplicationUserGroupBinding, id)
                        .filter_map(|e| self.get(ResourceKind::Application, e.from));
                    Some(self.list(applications))
                });
            }
            ResourceKind::SystemGroup => {
                add("members", &|| {
                    let members = inventory
                        .edges_from(ResourceKind::SystemGroupMember, id)
                        .filter_map(|e| self.get(ResourceKind::System, e.to));
                    Some(self.list(members))
                });
                add("policies", &|| {
                    // Bound to the group, or members of a policy group bound to it.
                    let direct = inventory
                        .edges_to(ResourceKind::PolicySystemGroupBinding, id)
                        .map(|e| e.from);
                    let through_policy_groups = inventory
                        .edges_to(ResourceKind::PolicyGroupSystemGroupBinding, id)
                        .flat_map(|b| inventory.edges_from(ResourceKind::PolicyGroupMember, b.from))
                        .map(|m| m.to);
                    let policies = direct
                        .chain(through_policy_groups)
                        .filter_map(|p| self.get(ResourceKind::Policy, p));
                    Some(self.list(dedupe(policies)))
                });
            }
            ResourceKind::Policy => {
                add("systems", &|| {
                    let systems = inventory
                        .systems_of_policy_reached(&jumpwatch_model::PolicyId::from(id.clone()))
                        .into_iter()
                        .filter_map(|s| self.get(ResourceKind::System, s));
                    Some(self.list(systems))
                });
                add("statuses", &|| {
                    Some(self.list(self.statuses.get(id).into_iter().flatten().copied()))
                });
            }
            ResourceKind::Application => {
                add("groups", &|| {
                    let groups = inventory
                        .edges_from(ResourceKind::ApplicationUserGroupBinding, id)
                        .filter_map(|e| self.get(ResourceKind::UserGroup, e.to));
                    Some(self.list(groups))
                });
            }
            ResourceKind::Organization => {
                for (name, kind) in [
                    ("administrators", ResourceKind::Administrator),
                    ("authn_policies", ResourceKind::AuthnPolicy),
                    ("policies", ResourceKind::Policy),
                    ("ip_lists", ResourceKind::IpList),
                ] {
                    add(name, &|| Some(self.list(inventory.resources(kind))));
                }
            }
            _ => {}
        }
        let meta = resource.kind.meta();
        add("parent", &|| {
            let parent = self.get(meta.parent?.kind, resource.parent.as_ref()?)?;
            Some(cel_val(self.docs.doc(parent)))
        });
        add("target", &|| {
            let target = self.get(meta.relation?.to, &resource.target()?)?;
            Some(cel_val(self.docs.doc(target)))
        });
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
        Box::new(CelList::from(items))
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
    let mut seen = std::collections::HashSet::new();
    resources.into_iter().filter(|r| seen.insert(&r.id)).collect()
}
