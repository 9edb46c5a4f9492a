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

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use cel::common::types::CelList;
use cel::common::value::Val;
use jumpwatch_model::catalog::Api;
use jumpwatch_model::{Inventory, PolicyBinding, Resource, ResourceId, ResourceKind};
use serde_json::Value;

use crate::compile::{Extra, Obj, RelView, Related, Stop, V};
use crate::demand::Demand;
use crate::value::{Shared, cel_map, cel_merged, cel_pruned, cel_val, shared_pruned};

/// The documents rules see: secret paths replaced by their markers. A document of a kind with
/// secret paths is copied and redacted the first time a rule reads it, not before; the index of a
/// kind's documents is built the first time one of them is read (most evaluations read none of
/// the thousands of policy results and statuses).
#[derive(Debug)]
pub(crate) struct Docs<'a> {
    inventory: &'a Inventory,
    /// The kinds with secret paths, each with its documents by resource address once read.
    redacted: Vec<(ResourceKind, OnceCell<Redacted>)>,
}

/// One kind's documents by resource address, each redacted the first time it is read.
type Redacted = ByAddress<usize, OnceCell<Value>>;

impl<'a> Docs<'a> {
    pub(crate) fn new(inventory: &'a Inventory) -> Self {
        let redacted = inventory
            .kinds()
            .filter(|kind| !kind.meta().secret.is_empty())
            .map(|kind| (kind, OnceCell::new()))
            .collect();
        Self { inventory, redacted }
    }

    /// The inventory.
    pub(crate) const fn inventory(&self) -> &'a Inventory {
        self.inventory
    }

    /// A resource's document as rules see it.
    pub(crate) fn doc<'s>(&'s self, resource: &'a Resource) -> &'s Value {
        // Only the kinds with secret paths are in `redacted`: the others need no look-up.
        if resource.kind.meta().secret.is_empty() {
            return &resource.doc;
        }
        let Some((_, index)) = self.redacted.iter().find(|(kind, _)| *kind == resource.kind) else {
            return &resource.doc;
        };
        let index = index.get_or_init(|| {
            self.inventory
                .resources(resource.kind)
                .map(|resource| (address(resource), OnceCell::new()))
                .collect()
        });
        let Some(cell) = index.get(&address(resource)) else {
            // A copy of a resource the inventory holds is redacted as the inventory's.
            return match self.inventory.get(resource.kind, &resource.id) {
                Some(held) if !std::ptr::eq(held, resource) => self.doc(held),
                _ => &resource.doc,
            };
        };
        cell.get_or_init(|| {
            let mut doc = resource.doc.clone();
            jumpwatch_model::Normalizer::for_kind(resource.kind).redact(&mut doc);
            doc
        })
    }
}

/// A hasher for keys made of addresses (a resource's, a demand's) or of the inventory's ids:
/// addresses are unique within an evaluation and ids are the service's, so neither needs a
/// defence against chosen collisions, and one multiplication a word mixes them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        // The multiplications leave the mixed bits high; the table indexes with the low ones.
        self.0.rotate_left(26)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut le = [0; 8];
            le.copy_from_slice(word);
            self.write_u64(u64::from_le_bytes(le));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut le = [0; 8];
            le[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(le));
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
    /// Of each System Insights kind and of policy statuses: system id → the rows that name the
    /// device, indexed the first time a rule reads the kind.
    by_system: Vec<(ResourceKind, OnceCell<RowsBySystem<'a>>)>,
    /// Policy id → its statuses, indexed the first time a rule reads them.
    statuses: OnceCell<HashMap<&'a ResourceId, Vec<&'a Resource>>>,
    /// Lower-case email → the administrator.
    admins: HashMap<String, &'a Resource>,
    /// The System Insights kinds, with their table names (`alf` for `si_alf`).
    insights: Vec<(ResourceKind, &'static str)>,
    /// (resource, demand) → its document's value. The demands outlive the evaluation.
    converted: RefCell<ByAddress<(usize, usize), Shared<'a>>>,
    /// (policy, demand, system group, policy group) → the policy's value as a device's policy.
    policies: RefCell<ByAddress<[usize; 4], Shared<'a>>>,
    /// Of each kind, its resources by id, indexed the first time a relation looks one up (a
    /// hash is cheaper than the inventory's ordered map).
    by_id: Vec<(ResourceKind, OnceCell<ByAddress<&'a str, &'a Resource>>)>,
    /// System group id → the policies bound to it, each with the policy group it comes through
    /// (`None`: bound itself), found once an evaluation: the devices of a group share them.
    group_policies: RefCell<ByAddress<&'a str, Rc<[GroupPolicy<'a>]>>>,
}

/// System id → the rows of one kind that name the device.
type RowsBySystem<'a> = ByAddress<&'a str, Vec<&'a Resource>>;

/// A policy bound to a target, with the policy group it comes through (`None`: bound itself).
type GroupPolicy<'a> = (&'a ResourceId, Option<&'a ResourceId>);

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
        let by_system = insights
            .iter()
            .map(|&(kind, _)| kind)
            .chain([ResourceKind::PolicyStatus])
            .map(|kind| (kind, OnceCell::new()))
            .collect();
        let admins = inventory
            .resources(ResourceKind::Administrator)
            .filter_map(|a| Some((a.doc.get("email")?.as_str()?.to_lowercase(), a)))
            .collect();
        Self {
            docs,
            by_system,
            statuses: OnceCell::new(),
            admins,
            insights,
            converted: RefCell::default(),
            policies: RefCell::default(),
            by_id: inventory.kinds().map(|kind| (kind, OnceCell::new())).collect(),
            group_policies: RefCell::default(),
        }
    }

    /// A resource of the inventory by kind and id.
    pub(crate) fn get(&self, kind: ResourceKind, id: &ResourceId) -> Option<&'a Resource> {
        let inventory = self.docs.inventory();
        // `kinds()` gives the kinds in order.
        let Ok(at) = self.by_id.binary_search_by_key(&kind, |(k, _)| *k) else {
            return inventory.get(kind, id);
        };
        let index = self.by_id[at].1.get_or_init(|| {
            inventory.resources(kind).map(|resource| (resource.id.as_str(), resource)).collect()
        });
        index.get(id.as_str()).copied()
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
        let index = self.by_system.iter().find(|(k, _)| *k == kind).map(|(_, index)| {
            index.get_or_init(|| {
                // Rows name their device under `system_id`; statuses under `systemID`.
                let key = if kind == ResourceKind::PolicyStatus { "systemID" } else { "system_id" };
                let mut index: RowsBySystem<'a> = ByAddress::default();
                for row in self.docs.inventory().resources(kind) {
                    if let Some(system) = row.doc.get(key).and_then(Value::as_str) {
                        index.entry(system).or_default().push(row);
                    }
                }
                index
            })
        });
        index.and_then(|index| index.get(system)).into_iter().flatten().copied()
    }

    /// What `resource` is related to under `name` of `rel`, before it is converted: `None` when
    /// its kind has no such relation, or the one document it names is missing.
    pub(crate) fn related(&self, resource: &Resource, name: &str) -> Option<Relation<'a>> {
        let inventory = self.docs.inventory();
        let id = &resource.id;
        let meta = resource.kind.meta();
        Some(match (resource.kind, name) {
            (_, "parent") => Relation::One(self.get(meta.parent?.kind, resource.parent.as_ref()?)?),
            (_, "target") => Relation::One(self.get(meta.relation?.to, &resource.target()?)?),
            (ResourceKind::User, "groups") => Relation::Shared(self.user_groups(id).collect()),
            (ResourceKind::User, "applications") => {
                let applications = self.user_groups(id).flat_map(|g| {
                    inventory
                        .edges_to(ResourceKind::ApplicationUserGroupBinding, &g.id)
                        .filter_map(|e| self.get(ResourceKind::Application, e.from))
                });
                Relation::Shared(dedupe(applications))
            }
            (ResourceKind::User, "systems") => Relation::Shared(
                inventory
                    .edges_to(ResourceKind::SystemUserBinding, id)
                    .filter_map(|e| self.get(ResourceKind::System, e.from))
                    .collect(),
            ),
            (ResourceKind::User, "bindings") => Relation::Joined {
                key: "system",
                items: inventory
                    .edges_to(ResourceKind::SystemUserBinding, id)
                    .map(|e| (e.resource, self.get(ResourceKind::System, e.from)))
                    .collect(),
            },
            (ResourceKind::User, "admin") => {
                let email = resource.doc.get("email").and_then(Value::as_str)?;
                Relation::One(self.admins.get(&email.to_lowercase())?)
            }
            (ResourceKind::System, "users") => Relation::Shared(
                inventory
                    .edges_from(ResourceKind::SystemUserBinding, id)
                    .filter_map(|e| self.get(ResourceKind::User, e.to))
                    .collect(),
            ),
            (ResourceKind::System, "bindings") => Relation::Joined {
                key: "user",
                items: inventory
                    .edges_from(ResourceKind::SystemUserBinding, id)
                    .map(|e| (e.resource, self.get(ResourceKind::User, e.to)))
                    .collect(),
            },
            (ResourceKind::System, "groups") => Relation::Shared(
                inventory
                    .edges_to(ResourceKind::SystemGroupMember, id)
                    .filter_map(|e| self.get(ResourceKind::SystemGroup, e.from))
                    .collect(),
            ),
            (ResourceKind::System, "policies") => Relation::Policies(self.policies_of_system(id)),
            (ResourceKind::System, "policy_statuses") => Relation::Joined {
                key: "policy",
                items: self
                    .rows_of(id.as_str(), ResourceKind::PolicyStatus)
                    .map(|status| {
                        let policy =
                            status.parent.as_ref().and_then(|p| self.get(ResourceKind::Policy, p));
                        (status, policy)
                    })
                    .collect(),
            },
            (ResourceKind::System, "insights") => Relation::Tables(id.as_str().to_owned()),
            (ResourceKind::UserGroup, "members") => Relation::Shared(
                inventory
                    .edges_from(ResourceKind::UserGroupMember, id)
                    .filter_map(|e| self.get(ResourceKind::User, e.to))
                    .collect(),
            ),
            (ResourceKind::UserGroup, "applications") => Relation::Shared(
                inventory
                    .edges_to(ResourceKind::ApplicationUserGroupBinding, id)
                    .filter_map(|e| self.get(ResourceKind::Application, e.from))
                    .collect(),
            ),
            (ResourceKind::SystemGroup, "members") => Relation::Shared(
                inventory
                    .edges_from(ResourceKind::SystemGroupMember, id)
                    .filter_map(|e| self.get(ResourceKind::System, e.to))
                    .collect(),
            ),
            (ResourceKind::SystemGroup, "policies") => {
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
                Relation::Shared(dedupe(policies))
            }
            (ResourceKind::Policy, "systems") => Relation::Shared(
                inventory
                    .systems_of_policy_reached(&jumpwatch_model::PolicyId::from(id.clone()))
                    .into_iter()
                    .filter_map(|s| self.get(ResourceKind::System, s))
                    .collect(),
            ),
            (ResourceKind::Policy, "statuses") => {
                let statuses = self.statuses.get_or_init(|| {
                    let mut statuses: HashMap<&'a ResourceId, Vec<&'a Resource>> = HashMap::new();
                    for status in inventory.resources(ResourceKind::PolicyStatus) {
                        if let Some(policy) = &status.parent {
                            statuses.entry(policy).or_default().push(status);
                        }
                    }
                    statuses
                });
                Relation::Rows(statuses.get(id).into_iter().flatten().copied().collect())
            }
            (ResourceKind::Application, "groups") => Relation::Shared(
                inventory
                    .edges_from(ResourceKind::ApplicationUserGroupBinding, id)
                    .filter_map(|e| self.get(ResourceKind::UserGroup, e.to))
                    .collect(),
            ),
            (ResourceKind::Organization, _) => {
                let kind = match name {
                    "administrators" => ResourceKind::Administrator,
                    "authn_policies" => ResourceKind::AuthnPolicy,
                    "policies" => ResourceKind::Policy,
                    "ip_lists" => ResourceKind::IpList,
                    _ => return None,
                };
                Relation::Shared(inventory.resources(kind).collect())
            }
            _ => return None,
        })
    }

    /// The user groups a user is a direct member of.
    fn user_groups<'s>(&'s self, user: &'s ResourceId) -> impl Iterator<Item = &'a Resource> + 's {
        self.docs
            .inventory()
            .edges_to(ResourceKind::UserGroupMember, user)
            .filter_map(|e| self.get(ResourceKind::UserGroup, e.from))
    }

    /// The `rel` value of a resource, with what `demand` reads of it (the relations it does not
    /// name are left out: a user bound to 40 000 devices costs nothing to a rule that reads only
    /// its groups; and of each document, only the fields read).
    pub(crate) fn of(&self, resource: &Resource, demand: &'a Demand) -> Box<dyn Val + 'a> {
        let names = relation_names(resource.kind).iter().chain(&["parent", "target"]);
        let entries = names.filter_map(|&name| {
            let wanted = demand.member(name)?;
            let related = self.related(resource, name)?;
            Some((name, self.cel(related, wanted)))
        });
        Box::new(Shared::new(cel_map(entries)))
    }

    /// A relation as a CEL value, with what `demand` reads of it.
    fn cel(&self, related: Relation<'a>, demand: &'a Demand) -> Box<dyn Val + 'a> {
        match related {
            Relation::One(resource) => self.doc(resource, demand),
            Relation::Shared(resources) => self.list(resources, demand),
            Relation::Rows(resources) => self.rows(resources, demand),
            Relation::Policies(policies) => {
                let d = demand.element();
                let policies: Vec<Box<dyn Val + 'a>> =
                    policies.iter().map(|(policy, via)| self.policy(policy, via, d)).collect();
                Box::new(Shared::new(CelList::from(policies)))
            }
            Relation::Joined { key, items } => {
                let demand = demand.element();
                let other_demand = demand.member(key);
                let items: Vec<Box<dyn Val + 'a>> = items
                    .into_iter()
                    .map(|(resource, other)| {
                        let extra = other_demand
                            .and_then(|wanted| Some((key, self.doc(other?, wanted))))
                            .into_iter()
                            .collect();
                        Box::new(cel_merged(self.docs.doc(resource), demand, extra))
                            as Box<dyn Val + 'a>
                    })
                    .collect();
                Box::new(Shared::new(CelList::from(items)))
            }
            Relation::Tables(system) => {
                let tables = self.insights.iter().filter_map(|&(kind, table)| {
                    let wanted = demand.member(table)?;
                    Some((table, self.rows(self.rows_of(&system, kind), wanted)))
                });
                Box::new(Shared::new(cel_map(tables)))
            }
        }
    }

    /// A relation as compiled code reads it; of `insights`, the tables `demand` names.
    pub(crate) fn native(&self, related: Relation<'a>, demand: &Demand) -> Option<Related<'a>> {
        let doc = |resource: &'a Resource| Obj::plain(self.docs.doc(resource));
        Some(match related {
            Relation::One(resource) => Related::One(doc(resource)),
            Relation::Shared(resources) => Related::List(
                resources
                    .into_iter()
                    .map(|resource| Obj::shared(self.docs.doc(resource), Extra::None))
                    .collect(),
            ),
            Relation::Rows(resources) => Related::List(resources.into_iter().map(doc).collect()),
            Relation::Policies(policies) => Related::List(
                policies
                    .into_iter()
                    .map(|(policy, via)| {
                        let vias = Extra::Vias(
                            via.via_system_group.map(ResourceId::as_str),
                            via.via_policy_group.map(ResourceId::as_str),
                        );
                        Obj::shared(self.docs.doc(policy), vias)
                    })
                    .collect(),
            ),
            Relation::Joined { key, items } => Related::List(
                items
                    .into_iter()
                    .map(|(resource, other)| Obj {
                        doc: self.docs.doc(resource),
                        extra: other
                            .map_or(Extra::None, |other| Extra::Doc(key, self.docs.doc(other))),
                        shared: false,
                    })
                    .collect(),
            ),
            Relation::Tables(system) => {
                let Demand::Fields { fields, .. } = demand else { return None };
                if demand.whole_object() {
                    return None;
                }
                Related::Tables(
                    self.insights
                        .iter()
                        .filter(|(_, table)| fields.contains_key(*table))
                        .map(|&(kind, table)| {
                            (table, self.rows_of(&system, kind).map(doc).collect())
                        })
                        .collect(),
                )
            }
        })
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

    /// The policies that apply to a system, once each, with the way they come through
    /// ([`Inventory::policies_applying_to`]: bound to the system, to one of its system groups, or a
    /// member of a policy group bound to either). A policy that comes several ways keeps the first:
    /// bound to the system before through a group, and on one target the policy before a policy
    /// group.
    ///
    /// The same traversal as the inventory's, with what is bound to each system group found once
    /// an evaluation.
    fn policies_of_system(&self, system: &ResourceId) -> Vec<(&'a Resource, PolicyBinding<'a>)> {
        let inventory = self.docs.inventory();
        let mut out: Vec<(&'a Resource, PolicyBinding<'a>)> = Vec::new();
        let mut add = |bound: &[GroupPolicy<'a>], via_system_group: Option<&'a ResourceId>| {
            for &(policy, via_policy_group) in bound {
                if let Some(policy) = self.get(ResourceKind::Policy, policy)
                    && !out.iter().any(|(p, _)| p.id == policy.id)
                {
                    let binding =
                        PolicyBinding { policy: &policy.id, via_system_group, via_policy_group };
                    out.push((policy, binding));
                }
            }
        };
        let direct = ResourceKind::PolicySystemBinding;
        add(&self.bound_to(system, direct, ResourceKind::PolicyGroupSystemBinding), None);
        for member in inventory.edges_to(ResourceKind::SystemGroupMember, system) {
            let group = member.from;
            let known = self.group_policies.borrow().get(group.as_str()).cloned();
            let bound = known.unwrap_or_else(|| {
                let bound: Rc<[GroupPolicy<'a>]> = self
                    .bound_to(
                        group,
                        ResourceKind::PolicySystemGroupBinding,
                        ResourceKind::PolicyGroupSystemGroupBinding,
                    )
                    .into();
                self.group_policies.borrow_mut().insert(group.as_str(), Rc::clone(&bound));
                bound
            });
            add(&bound, Some(group));
        }
        out
    }

    /// The policies bound to `target` through `policy_binding` edges, then the members of the
    /// policy groups bound to it through `policy_group_binding` edges, in the inventory's order.
    fn bound_to(
        &self,
        target: &ResourceId,
        policy_binding: ResourceKind,
        policy_group_binding: ResourceKind,
    ) -> Vec<GroupPolicy<'a>> {
        let inventory = self.docs.inventory();
        let mut out: Vec<GroupPolicy<'a>> =
            inventory.edges_to(policy_binding, target).map(|edge| (edge.from, None)).collect();
        for bound in inventory.edges_to(policy_group_binding, target) {
            out.extend(
                inventory
                    .edges_from(ResourceKind::PolicyGroupMember, bound.from)
                    .map(|member| (member.to, Some(bound.from))),
            );
        }
        out
    }
}

/// What a resource is related to under one name of `rel`, before it is converted.
pub(crate) enum Relation<'a> {
    /// One document (`admin`, `parent`, `target`).
    One(&'a Resource),
    /// Documents that other subjects' relations share (converted once an evaluation).
    Shared(Vec<&'a Resource>),
    /// Documents of this subject alone: its System Insights rows, a policy's statuses.
    Rows(Vec<&'a Resource>),
    /// A device's policies, with the groups they come through.
    Policies(Vec<(&'a Resource, PolicyBinding<'a>)>),
    /// Binding or status documents, each with the resource at its other end under `key`.
    Joined { key: &'static str, items: Vec<(&'a Resource, Option<&'a Resource>)> },
    /// `insights`: the System Insights rows of a device (its id), by table.
    Tables(String),
}

/// The names of `rel` of a kind, besides `parent` and `target`.
const fn relation_names(kind: ResourceKind) -> &'static [&'static str] {
    match kind {
        ResourceKind::User => &["groups", "applications", "systems", "bindings", "admin"],
        ResourceKind::System => {
            &["users", "bindings", "groups", "policies", "policy_statuses", "insights"]
        }
        ResourceKind::UserGroup => &["members", "applications"],
        ResourceKind::SystemGroup => &["members", "policies"],
        ResourceKind::Policy => &["systems", "statuses"],
        ResourceKind::Application => &["groups"],
        ResourceKind::Organization => &["administrators", "authn_policies", "policies", "ip_lists"],
        _ => &[],
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

/// The most relations a kind's rules read natively (every name of `rel` of a kind, `parent` and
/// `target` included, fits).
const SLOTS: usize = 8;

/// `rel` of one resource as compiled code reads it: each relation the rules of its kind read is
/// computed the first time a rule reads it, then kept for the resource's other rules.
pub(crate) struct RelCache<'r, 'a> {
    relations: &'r Relations<'a>,
    resource: &'a Resource,
    /// What the kind's rules read of `rel`.
    demand: &'r Demand,
    /// The relations read by name, each with its value once computed.
    names: &'r [&'r str],
    slots: [OnceCell<Result<Option<Related<'r>>, Stop>>; SLOTS],
}

impl<'r, 'a: 'r> RelCache<'r, 'a> {
    pub(crate) fn new(
        relations: &'r Relations<'a>,
        resource: &'a Resource,
        demand: &'r Demand,
        names: &'r [&'r str],
    ) -> Self {
        Self { relations, resource, demand, names, slots: std::array::from_fn(|_| OnceCell::new()) }
    }

    /// The names of `rel` that `demand` reads by name (none when it reads `rel` whole: compiled
    /// code then leaves `rel` to CEL).
    pub(crate) fn names(demand: &Demand) -> Vec<&str> {
        match demand {
            Demand::Fields { fields, .. } if !demand.whole_object() => {
                fields.keys().map(String::as_str).take(SLOTS).collect()
            }
            _ => Vec::new(),
        }
    }
}

impl<'r, 'a: 'r> RelView<'r> for RelCache<'r, 'a> {
    fn relation(&'r self, name: &str) -> Result<Option<V<'r>>, Stop> {
        let slot = self.names.iter().position(|n| *n == name).ok_or(Stop::Defer)?;
        let value = self.slots[slot].get_or_init(|| {
            let Some(related) = self.relations.related(self.resource, name) else {
                return Ok(None);
            };
            let wanted = self.demand.member(name).ok_or(Stop::Defer)?;
            self.relations.native(related, wanted).map(Some).ok_or(Stop::Defer)
        });
        match value {
            Ok(related) => Ok(related.as_ref().map(Related::value)),
            Err(stop) => Err(*stop),
        }
    }
}
