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

use std::cell::RefCell;
use std::collections::HashMap;

use cel::common::types::CelList;
use cel::common::value::Val;
use jumpwatch_model::catalog::Api;
use jumpwatch_model::{Inventory, PolicyBinding, Resource, ResourceId, ResourceKind, SystemId};
use serde_json::Value;

use crate::demand::Demand;
use crate::value::{Shared, cel_map, cel_merged, cel_pruned, cel_val, shared_pruned};

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

/// A hasher for keys made of addresses (a resource's, a demand's): they are unique within an
/// evaluation and need no defence against collisions, so one multiplication mixes them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type ByAddress<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<AddressHasher>>;

/// The address of a value: an evaluation's key for it.
fn address<T>(value: &T) -> usize {
    std::ptr::from_ref(value) as usize
}

/// Indexes the relations that are not edges of the inventory: rows that name their device.
/// Keeps the CEL values of the documents that relations share (a policy that applies to every
/// device, a group of many users), converted once an evaluation for each demand.
#[derive(Debug)]
pub(crate) struct Relations<'a> {
    docs: &'a Docs<'a>,
    /// System id → the System Insights rows and policy statuses of a device.
    by_system: HashMap<&'a str, Vec<&'a Resource>>,
    /// Policy id → its statuses.
    statuses: HashMap<&'a ResourceId, Vec<&'a Resource>>,
    /// Lower-case email → the administrator.
    admins: HashMap<String, &'a Resource>,
    /// The System Insights kinds, with their table names (`alf` for `si_alf`).
    insights: Vec<(ResourceKind, &'static str)>,
    /// (resource, demand) → its document's value. The demands outlive the evaluation.
    converted: RefCell<ByAddress<(usize, usize), Shared<'a>>>,
    /// (policy, demand, system group, policy group) → the policy's value as a device's policy.
    policies: RefCell<ByAddress<[usize; 4], Shared<'a>>>,
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
        let mut by_system: HashMap<&'a str, Vec<&'a Resource>> = HashMap::new();
        for &(kind, _) in &insights {
            for row in inventory.resources(kind) {
                if let Some(system) = row.doc.get("system_id").and_then(Value::as_str) {
                    by_system.entry(system).or_default().push(row);
                }
            }
        }
        let mut statuses: HashMap<&'a ResourceId, Vec<&'a Resource>> = HashMap::new();
        for status in inventory.resources(ResourceKind::PolicyStatus) {
            if let Some(system) = status.doc.get("systemID").and_then(Value::as_str) {
                by_system.entry(system).or_default().push(status);
            }
            if let Some(policy) = &status.parent {
                statuses.entry(policy).or_default().push(status);
            }
        }
        let admins = inventory
            .resources(ResourceKind::Administrator)
            .filter_map(|a| Some((a.doc.get("email")?.as_str()?.to_lowercase(), a)))
            .collect();
        Self {
            docs,
            by_system,
            statuses,
            admins,
            insights,
            converted: RefCell::default(),
            policies: RefCell::default(),
        }
    }

    fn get(&self, kind: ResourceKind, id: &ResourceId) -> Option<&'a Resource> {
        self.docs.inventory().get(kind, id)
    }

    /// A resource's document as a CEL value, with what `demand` reads of it: converted once an
    /// evaluation, then shared. (A whole user or device document is converted anew each time
    /// rather than kept: there are many of them.)
    pub(crate) fn doc(&self, resource: &'a Resource, demand: &'a Demand) -> Box<dyn Val + 'a> {
        if matches!(demand, Demand::All)
            && matches!(resource.kind, ResourceKind::User | ResourceKind::System)
        {
            return cel_val(self.docs.doc(resource));
        }
        let key = (address(resource), address(demand));
        if let Some(found) = self.converted.borrow().get(&key) {
            return found.boxed();
        }
        let value = shared_pruned(self.docs.doc(resource), demand);
        let boxed = value.boxed();
        self.converted.borrow_mut().insert(key, value);
        boxed
    }

    /// A list of documents shared with other subjects; `demand` is the list's.
    fn list(
        &self,
        resources: impl IntoIterator<Item = &'a Resource>,
        demand: &'a Demand,
    ) -> Box<dyn Val + 'a> {
        let each = demand.element();
        let items: Vec<_> = resources.into_iter().map(|r| self.doc(r, each)).collect();
        Box::new(Shared::new(CelList::from(items)))
    }

    /// A list of documents of this subject alone (its System Insights rows); `demand` is the
    /// list's.
    fn rows(
        &self,
        resources: impl IntoIterator<Item = &'a Resource>,
        demand: &'a Demand,
    ) -> Box<dyn Val + 'a> {
        let each = demand.element();
        let items: Vec<_> =
            resources.into_iter().map(|r| cel_pruned(self.docs.doc(r), each)).collect();
        Box::new(Shared::new(CelList::from(items)))
    }

    /// The rows of a kind that name a device.
    fn rows_of(&self, system: &str, kind: ResourceKind) -> impl Iterator<Item = &'a Resource> {
        self.by_system.get(system).into_iter().flatten().copied().filter(move |r| r.kind == kind)
    }

    /// The `rel` value of a resource, with what `demand` reads of it (the relations it does not
    /// name are left out: a user bound to 40 000 devices costs nothing to a rule that reads only
    /// its groups; and of each document, only the fields read).
    pub(crate) fn of(&self, resource: &Resource, demand: &'a Demand) -> Box<dyn Val + 'a> {
        let inventory = self.docs.inventory();
        let id = &resource.id;
        let mut entries: Vec<(&'a str, Box<dyn Val + 'a>)> = Vec::new();
        let mut add = |name: &'a str, make: &dyn Fn(&'a Demand) -> Option<Box<dyn Val + 'a>>| {
            if let Some(wanted) = demand.member(name)
                && let Some(value) = make(wanted)
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
                add("groups", &|d| Some(self.list(groups(), d)));
                add("applications", &|d| {
                    let applications = groups().flat_map(|g| {
                        inventory
                            .edges_to(ResourceKind::ApplicationUserGroupBinding, &g.id)
                            .filter_map(|e| self.get(ResourceKind::Application, e.from))
                    });
                    Some(self.list(dedupe(applications), d))
                });
                let bindings = || inventory.edges_to(ResourceKind::SystemUserBinding, id);
                add("systems", &|d| {
                    Some(
                        self.list(
                            bindings().filter_map(|e| self.get(ResourceKind::System, e.from)),
                            d,
                        ),
                    )
                });
                add("bindings", &|d| {
                    Some(self.edges(
                        &bindings().collect::<Vec<_>>(),
                        "system",
                        ResourceKind::System,
                        true,
                        d,
                    ))
                });
                add("admin", &|d| {
                    let email = resource.doc.get("email").and_then(Value::as_str)?;
                    let admin = self.admins.get(&email.to_lowercase())?;
                    Some(self.doc(admin, d))
                });
            }
            ResourceKind::System => {
                let bindings = || inventory.edges_from(ResourceKind::SystemUserBinding, id);
                add("users", &|d| {
                    Some(
                        self.list(bindings().filter_map(|e| self.get(ResourceKind::User, e.to)), d),
                    )
                });
                add("bindings", &|d| {
                    Some(self.edges(
                        &bindings().collect::<Vec<_>>(),
                        "user",
                        ResourceKind::User,
                        false,
                        d,
                    ))
                });
                add("groups", &|d| {
                    let groups = inventory
                        .edges_to(ResourceKind::SystemGroupMember, id)
                        .filter_map(|e| self.get(ResourceKind::SystemGroup, e.from));
                    Some(self.list(groups, d))
                });
                let system = resource.id.as_str();
                add("policies", &|d| {
                    let d = d.element();
                    let policies: Vec<Box<dyn Val + 'a>> = self
                        .policies_of_system(id)
                        .into_iter()
                        .map(|(policy, via)| self.policy(policy, &via, d))
                        .collect();
                    Some(Box::new(Shared::new(CelList::from(policies))))
                });
                add("policy_statuses", &|d| {
                    let d = d.element();
                    let statuses: Vec<Box<dyn Val + 'a>> = self
                        .rows_of(system, ResourceKind::PolicyStatus)
                        .map(|status| {
                            let policy = d.member("policy").and_then(|wanted| {
                                let policy = status
                                    .parent
                                    .as_ref()
                                    .and_then(|p| self.get(ResourceKind::Policy, p))?;
                                Some(("policy", self.doc(policy, wanted)))
                            });
                            Box::new(cel_merged(
                                self.docs.doc(status),
                                d,
                                policy.into_iter().collect(),
                            )) as Box<dyn Val + 'a>
                        })
                        .collect();
                    Some(Box::new(Shared::new(CelList::from(statuses))))
                });
                add("insights", &|d| {
                    let tables = self.insights.iter().filter_map(|&(kind, table)| {
                        let wanted = d.member(table)?;
                        Some((table, self.rows(self.rows_of(system, kind), wanted)))
                    });
                    Some(Box::new(Shared::new(cel_map(tables))))
                });
            }
            ResourceKind::UserGroup => {
                add("members", &|d| {
                    let members = inventory
                        .edges_from(ResourceKind::UserGroupMember, id)
                        .filter_map(|e| self.get(ResourceKind::User, e.to));
                    Some(self.list(members, d))
                });
                add("applications", &|d| {
                    let applications = inventory
                        .edges_to(ResourceKind::ApplicationUserGroupBinding, id)
                        .filter_map(|e| self.get(ResourceKind::Application, e.from));
                    Some(self.list(applications, d))
                });
            }
            ResourceKind::SystemGroup => {
                add("members", &|d| {
                    let members = inventory
                        .edges_from(ResourceKind::SystemGroupMember, id)
                        .filter_map(|e| self.get(ResourceKind::System, e.to));
                    Some(self.list(members, d))
                });
                add("policies", &|d| {
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
                    Some(self.list(dedupe(policies), d))
                });
            }
            ResourceKind::Policy => {
                add("systems", &|d| {
                    let systems = inventory
                        .systems_of_policy_reached(&jumpwatch_model::PolicyId::from(id.clone()))
                        .into_iter()
                        .filter_map(|s| self.get(ResourceKind::System, s));
                    Some(self.list(systems, d))
                });
                add("statuses", &|d| {
                    Some(self.rows(self.statuses.get(id).into_iter().flatten().copied(), d))
                });
            }
            ResourceKind::Application => {
                add("groups", &|d| {
                    let groups = inventory
                        .edges_from(ResourceKind::ApplicationUserGroupBinding, id)
                        .filter_map(|e| self.get(ResourceKind::UserGroup, e.to));
                    Some(self.list(groups, d))
                });
            }
            ResourceKind::Organization => {
                for (name, kind) in [
                    ("administrators", ResourceKind::Administrator),
                    ("authn_policies", ResourceKind::AuthnPolicy),
                    ("policies", ResourceKind::Policy),
                    ("ip_lists", ResourceKind::IpList),
                ] {
                    add(name, &|d| Some(self.list(inventory.resources(kind), d)));
                }
            }
            _ => {}
        }
        let meta = resource.kind.meta();
        add("parent", &|d| {
            let parent = self.get(meta.parent?.kind, resource.parent.as_ref()?)?;
            Some(self.doc(parent, d))
        });
        add("target", &|d| {
            let target = self.get(meta.relation?.to, &resource.target()?)?;
            Some(self.doc(target, d))
        });
        Box::new(Shared::new(cel_map(entries)))
    }

    /// A policy as a device's relation: its document, with the system group (`via_group`) and
    /// policy group (`via_policy_group`) it comes through.
    fn policy(
        &self,
        policy: &'a Resource,
        via: &PolicyBinding<'a>,
        demand: &'a Demand,
    ) -> Box<dyn Val + 'a> {
        let vias =
            [("via_group", via.via_system_group), ("via_policy_group", via.via_policy_group)];
        if vias.iter().all(|(key, group)| group.is_none() || demand.member(key).is_none()) {
            return self.doc(policy, demand);
        }
        let key = [
            address(policy),
            address(demand),
            via.via_system_group.map_or(0, address),
            via.via_policy_group.map_or(0, address),
        ];
        if let Some(found) = self.policies.borrow().get(&key) {
            return found.boxed();
        }
        let extra = vias
            .into_iter()
            .filter_map(|(key, group)| Some((key, cel_val_str(group?.as_str()))))
            .collect();
        let value = cel_merged(self.docs.doc(policy), demand, extra);
        let boxed = value.boxed();
        self.policies.borrow_mut().insert(key, value);
        boxed
    }

    /// Binding documents with the resource at their other end under `key`; `demand` is the
    /// list's.
    fn edges(
        &self,
        edges: &[jumpwatch_model::Edge<'a>],
        key: &'static str,
        kind: ResourceKind,
        from: bool,
        demand: &'a Demand,
    ) -> Box<dyn Val + 'a> {
        let demand = demand.element();
        let other_demand = demand.member(key);
        let items: Vec<Box<dyn Val + 'a>> = edges
            .iter()
            .map(|edge| {
                let extra = other_demand
                    .and_then(|wanted| {
                        let other = self.get(kind, if from { edge.from } else { edge.to })?;
                        Some((key, self.doc(other, wanted)))
                    })
                    .into_iter()
                    .collect();
                Box::new(cel_merged(self.docs.doc(edge.resource), demand, extra))
                    as Box<dyn Val + 'a>
            })
            .collect();
        Box::new(Shared::new(CelList::from(items)))
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
