//! [`Inventory`]: one tenant's resources at one poll, by kind and id, with a relation index.
//!
//! Relations (group memberships, bindings) are resources of relation kinds. The index answers
//! "which groups is this user in", "which users are bound to this system" and "which policies
//! apply to this system, directly, through its groups or through policy groups" in time
//! proportional to the answer.

use std::collections::{BTreeMap, HashMap};

use crate::resource::ResourceError;
use crate::{
    ApplicationId, ContentHash, PolicyGroupId, PolicyId, Resource, ResourceId, ResourceKind,
    SystemGroupId, SystemId, TenantId, UserGroupId, UserId,
};

/// One edge of a relation, with the resource that carries its attributes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge<'a> {
    /// The parent end (the group, the system, the policy...).
    pub from: &'a ResourceId,
    /// The other end (the member, the bound user...).
    pub to: &'a ResourceId,
    /// The relation resource (its document has the edge's attributes, such as
    /// `compiledAttributes.sudo` of a binding).
    pub resource: &'a Resource,
}

/// How a policy reaches a system.
///
/// | the policy is | `via_system_group` | `via_policy_group` |
/// |---|---|---|
/// | bound to the system | `None` | `None` |
/// | bound to a system group of the system | the group | `None` |
/// | in a policy group bound to the system | `None` | the policy group |
/// | in a policy group bound to a system group of the system | the group | the policy group |
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolicyBinding<'a> {
    /// The policy.
    pub policy: &'a ResourceId,
    /// The system group the binding reaches the system through; `None` when the policy (or its
    /// policy group) is bound to the system itself.
    pub via_system_group: Option<&'a ResourceId>,
    /// The policy group the policy is a member of, when it reaches the system through one;
    /// `None` when the policy itself is bound.
    pub via_policy_group: Option<&'a ResourceId>,
}

#[derive(Debug, Default, Clone)]
struct EdgeIndex {
    /// Parent id → (edge id, target id).
    by_parent: HashMap<ResourceId, Vec<(ResourceId, ResourceId)>>,
    /// Target id → (edge id, parent id).
    by_target: HashMap<ResourceId, Vec<(ResourceId, ResourceId)>>,
}

impl EdgeIndex {
    fn add(&mut self, edge: &ResourceId, parent: &ResourceId, target: &ResourceId) {
        self.by_parent.entry(parent.clone()).or_default().push((edge.clone(), target.clone()));
        self.by_target.entry(target.clone()).or_default().push((edge.clone(), parent.clone()));
    }

    fn remove(&mut self, edge: &ResourceId, parent: &ResourceId, target: &ResourceId) {
        fn drop_from(
            map: &mut HashMap<ResourceId, Vec<(ResourceId, ResourceId)>>,
            key: &ResourceId,
            edge: &ResourceId,
        ) {
            if let Some(list) = map.get_mut(key) {
                list.retain(|(e, _)| e != edge);
                if list.is_empty() {
                    map.remove(key);
                }
            }
        }
        drop_from(&mut self.by_parent, parent, edge);
        drop_from(&mut self.by_target, target, edge);
    }
}

/// One tenant's resources at one poll.
///
/// ```
/// use jumpwatch_model::{Inventory, Resource, ResourceId, ResourceKind, TenantId, UserId};
/// use serde_json::json;
///
/// let mut inventory = Inventory::new(TenantId::new("acme").unwrap());
/// inventory.insert(Resource::from_doc(ResourceKind::User, json!({"_id": "u1", "username": "ada"})).unwrap()).unwrap();
/// let group = ResourceId::new("g1").unwrap();
/// let member = json!({"to": {"id": "u1", "type": "user"}});
/// inventory.insert(Resource::from_child_doc(ResourceKind::UserGroupMember, group, member).unwrap()).unwrap();
///
/// let ada = UserId::new("u1").unwrap();
/// let groups: Vec<_> = inventory.user_groups_of(&ada).map(|edge| edge.from.as_str()).collect();
/// assert_eq!(groups, ["g1"]);
/// ```
#[derive(Debug, Clone)]
pub struct Inventory {
    tenant: TenantId,
    kinds: BTreeMap<ResourceKind, BTreeMap<ResourceId, Resource>>,
    edges: HashMap<ResourceKind, EdgeIndex>,
    /// Content hashes already computed (by the engine, or stored), so they are not computed twice.
    hashes: HashMap<ResourceKind, HashMap<ResourceId, ContentHash>>,
}

/// Resources taken out of an inventory or a store, each with its content hash when one is
/// recorded.
pub type HashedResources = Vec<(Resource, Option<ContentHash>)>;

impl Inventory {
    /// An empty inventory of a tenant.
    #[must_use]
    pub fn new(tenant: TenantId) -> Self {
        Self { tenant, kinds: BTreeMap::new(), edges: HashMap::new(), hashes: HashMap::new() }
    }

    /// The tenant.
    #[must_use]
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// Adds a resource, replacing (and returning) the one of the same kind and id. A relation
    /// needs its parent and the other end's id.
    pub fn insert(&mut self, resource: Resource) -> Result<Option<Resource>, ResourceError> {
        let kind = resource.kind;
        if let Some(hashes) = self.hashes.get_mut(&kind) {
            hashes.remove(&resource.id);
        }
        if kind.is_relation() {
            let parent = resource.parent.clone().ok_or(ResourceError::MissingParent { kind })?;
            let target = resource.target().ok_or(ResourceError::MissingId {
                kind,
                path: kind.meta().relation.map_or("", |r| r.to_id),
            })?;
            let replaced = self.remove(kind, &resource.id);
            self.edges.entry(kind).or_default().add(&resource.id, &parent, &target);
            self.kinds.entry(kind).or_default().insert(resource.id.clone(), resource);
            return Ok(replaced);
        }
        Ok(self.kinds.entry(kind).or_default().insert(resource.id.clone(), resource))
    }

    /// Adds a resource with the content hash of its document, already known.
    pub fn insert_hashed(
        &mut self,
        resource: Resource,
        hash: ContentHash,
    ) -> Result<Option<Resource>, ResourceError> {
        let (kind, id) = (resource.kind, resource.id.clone());
        let replaced = self.insert(resource)?;
        self.hashes.entry(kind).or_default().insert(id, hash);
        Ok(replaced)
    }

    /// Records the content hash of a resource's document
    /// ([`Normalizer::hash`](crate::Normalizer::hash)), computed elsewhere.
    pub fn set_hash(&mut self, kind: ResourceKind, id: &ResourceId, hash: ContentHash) {
        if self.get(kind, id).is_some() {
            self.hashes.entry(kind).or_default().insert(id.clone(), hash);
        }
    }

    /// Computes and records the content hash of every resource of a kind (`hash` is usually
    /// [`Normalizer::hash`](crate::Normalizer::hash) of the document).
    pub fn record_hashes(&mut self, kind: ResourceKind, hash: impl Fn(&Resource) -> ContentHash) {
        let Some(resources) = self.kinds.get(&kind) else { return };
        let hashes = self.hashes.entry(kind).or_default();
        hashes.reserve(resources.len());
        for (id, resource) in resources {
            hashes.insert(id.clone(), hash(resource));
        }
    }

    /// The content hash of a resource's document, if it was recorded.
    #[must_use]
    pub fn hash(&self, kind: ResourceKind, id: &ResourceId) -> Option<ContentHash> {
        self.hashes.get(&kind)?.get(id).copied()
    }

    /// The content hash of a resource's document: recorded, or computed now.
    #[must_use]
    pub fn hash_or_compute(&self, resource: &Resource) -> ContentHash {
        self.hash(resource.kind, &resource.id)
            .unwrap_or_else(|| crate::Normalizer::for_kind(resource.kind).hash(&resource.doc))
    }

    /// Removes a resource.
    pub fn remove(&mut self, kind: ResourceKind, id: &ResourceId) -> Option<Resource> {
        if let Some(hashes) = self.hashes.get_mut(&kind) {
            hashes.remove(id);
        }
        let removed = self.kinds.get_mut(&kind)?.remove(id)?;
        if let (Some(index), Some(parent), Some(target)) =
            (self.edges.get_mut(&kind), removed.parent.as_ref(), removed.target())
        {
            index.remove(&removed.id, parent, &target);
        }
        Some(removed)
    }

    /// Takes every resource of a kind out, each with its recorded content hash, in id order.
    /// The cheap way to move a kind from one inventory to another: nothing is cloned.
    pub fn take_kind(&mut self, kind: ResourceKind) -> HashedResources {
        self.edges.remove(&kind);
        let mut hashes = self.hashes.remove(&kind).unwrap_or_default();
        let Some(resources) = self.kinds.remove(&kind) else { return Vec::new() };
        resources
            .into_values()
            .map(|resource| {
                let hash = hashes.remove(&resource.id);
                (resource, hash)
            })
            .collect()
    }

    /// Replaces every resource of a kind with those of `other`, moved with their recorded hashes
    /// and relation index as they are (nothing is cloned or indexed again); `other` is left
    /// without the kind. Returns the resources the kind had here, with their hashes.
    pub fn replace_kind(&mut self, kind: ResourceKind, other: &mut Self) -> HashedResources {
        let replaced = self.take_kind(kind);
        if let Some(resources) = other.kinds.remove(&kind) {
            self.kinds.insert(kind, resources);
        }
        if let Some(edges) = other.edges.remove(&kind) {
            self.edges.insert(kind, edges);
        }
        if let Some(hashes) = other.hashes.remove(&kind) {
            self.hashes.insert(kind, hashes);
        }
        replaced
    }

    /// A resource by kind and id.
    #[must_use]
    pub fn get(&self, kind: ResourceKind, id: &ResourceId) -> Option<&Resource> {
        self.kinds.get(&kind)?.get(id)
    }

    /// The resources of a kind, in id order.
    pub fn resources(&self, kind: ResourceKind) -> impl Iterator<Item = &Resource> {
        self.kinds.get(&kind).into_iter().flat_map(BTreeMap::values)
    }

    /// The resources of a kind, by id.
    #[must_use]
    pub fn kind(&self, kind: ResourceKind) -> Option<&BTreeMap<ResourceId, Resource>> {
        self.kinds.get(&kind)
    }

    /// Every resource, by kind then id.
    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.kinds.values().flat_map(BTreeMap::values)
    }

    /// The kinds that have at least one resource.
    pub fn kinds(&self) -> impl Iterator<Item = ResourceKind> + '_ {
        self.kinds.iter().filter(|(_, r)| !r.is_empty()).map(|(k, _)| *k)
    }

    /// The number of resources of a kind.
    #[must_use]
    pub fn count(&self, kind: ResourceKind) -> usize {
        self.kinds.get(&kind).map_or(0, BTreeMap::len)
    }

    /// The number of resources of every kind.
    #[must_use]
    pub fn len(&self) -> usize {
        self.kinds.values().map(BTreeMap::len).sum()
    }

    /// No resources at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The edges of a relation kind whose parent end is `parent`.
    pub fn edges_from<'a>(
        &'a self,
        relation: ResourceKind,
        parent: &ResourceId,
    ) -> impl Iterator<Item = Edge<'a>> + 'a {
        let list = self.edges.get(&relation).and_then(|index| index.by_parent.get(parent));
        let resources = self.kinds.get(&relation);
        list.into_iter().flatten().filter_map(move |(edge, target)| {
            let resource = resources?.get(edge)?;
            Some(Edge { from: resource.parent.as_ref()?, to: target, resource })
        })
    }

    /// The edges of a relation kind whose other end is `target`.
    pub fn edges_to<'a>(
        &'a self,
        relation: ResourceKind,
        target: &ResourceId,
    ) -> impl Iterator<Item = Edge<'a>> + 'a {
        let entry =
            self.edges.get(&relation).and_then(|index| index.by_target.get_key_value(target));
        let resources = self.kinds.get(&relation);
        entry.into_iter().flat_map(move |(to, list)| {
            list.iter().filter_map(move |(edge, _)| {
                let resource = resources?.get(edge)?;
                Some(Edge { from: resource.parent.as_ref()?, to, resource })
            })
        })
    }

    /// The user groups a user is a direct member of (`edge.from` is the group).
    pub fn user_groups_of<'a>(&'a self, user: &UserId) -> impl Iterator<Item = Edge<'a>> + 'a {
        self.edges_to(ResourceKind::UserGroupMember, user.as_resource_id())
    }

    /// The direct members of a user group (`edge.to` is the user).
    pub fn members_of_user_group<'a>(
        &'a self,
        group: &UserGroupId,
    ) -> impl Iterator<Item = Edge<'a>> + 'a {
        self.edges_from(ResourceKind::UserGroupMember, group.as_resource_id())
    }

    /// The system groups a system is a member of (`edge.from` is the group).
    pub fn system_groups_of<'a>(
        &'a self,
        system: &SystemId,
    ) -> impl Iterator<Item = Edge<'a>> + 'a {
        self.edges_to(ResourceKind::SystemGroupMember, system.as_resource_id())
    }

    /// The members of a system group (`edge.to` is the system).
    pub fn members_of_system_group<'a>(
        &'a self,
        group: &SystemGroupId,
    ) -> impl Iterator<Item = Edge<'a>> + 'a {
        self.edges_from(ResourceKind::SystemGroupMember, group.as_resource_id())
    }

    /// The users bound to a system, directly or through groups (`edge.to` is the user; the
    /// edge's document has the effective `compiledAttributes`, such as sudo).
    pub fn users_bound_to<'a>(&'a self, system: &SystemId) -> impl Iterator<Item = Edge<'a>> + 'a {
        self.edges_from(ResourceKind::SystemUserBinding, system.as_resource_id())
    }

    /// The systems a user is bound to (`edge.from` is the system).
    pub fn systems_bound_to<'a>(&'a self, user: &UserId) -> impl Iterator<Item = Edge<'a>> + 'a {
        self.edges_to(ResourceKind::SystemUserBinding, user.as_resource_id())
    }

    /// The user groups bound to an application (`edge.to` is the group).
    pub fn user_groups_of_application<'a>(
        &'a self,
        application: &ApplicationId,
    ) -> impl Iterator<Item = Edge<'a>> + 'a {
        self.edges_from(ResourceKind::ApplicationUserGroupBinding, application.as_resource_id())
    }

    /// The systems a policy is bound to directly (`edge.to` is the system).
    pub fn systems_of_policy<'a>(
        &'a self,
        policy: &PolicyId,
    ) -> impl Iterator<Item = Edge<'a>> + 'a {
        self.edges_from(ResourceKind::PolicySystemBinding, policy.as_resource_id())
    }

    /// The member policies of a policy group (`edge.to` is the policy).
    pub fn members_of_policy_group<'a>(
        &'a self,
        group: &PolicyGroupId,
    ) -> impl Iterator<Item = Edge<'a>> + 'a {
        self.edges_from(ResourceKind::PolicyGroupMember, group.as_resource_id())
    }

    /// The policies that apply to a system: bound to it directly, or to a system group it is a
    /// member of, or members of a policy group bound to the system or to one of its system groups
    /// (see [`PolicyBinding`]). A policy that reaches the system several ways appears once for
    /// each way.
    #[must_use]
    pub fn policies_applying_to(&self, system: &SystemId) -> Vec<PolicyBinding<'_>> {
        let system = system.as_resource_id();
        let mut out = Vec::new();
        // Policies and policy groups bound to the system, then to each of its groups.
        let groups = self.edges_to(ResourceKind::SystemGroupMember, system).map(|m| m.from);
        for (target, via_system_group, policy_binding, policy_group_binding) in std::iter::once((
            system,
            None,
            ResourceKind::PolicySystemBinding,
            ResourceKind::PolicyGroupSystemBinding,
        ))
        .chain(groups.map(|group| {
            (
                group,
                Some(group),
                ResourceKind::PolicySystemGroupBinding,
                ResourceKind::PolicyGroupSystemGroupBinding,
            )
        })) {
            out.extend(self.edges_to(policy_binding, target).map(|edge| PolicyBinding {
                policy: edge.from,
                via_system_group,
                via_policy_group: None,
            }));
            for bound in self.edges_to(policy_group_binding, target) {
                out.extend(self.edges_from(ResourceKind::PolicyGroupMember, bound.from).map(
                    |member| PolicyBinding {
                        policy: member.to,
                        via_system_group,
                        via_policy_group: Some(bound.from),
                    },
                ));
            }
        }
        out
    }

    /// The systems a policy applies to — the converse of [`Inventory::policies_applying_to`]:
    /// bound directly, through a system group, or through a policy group it is a member of
    /// (bound to the system or to one of its groups). Each system once, in the order found.
    #[must_use]
    pub fn systems_of_policy_reached(&self, policy: &PolicyId) -> Vec<&ResourceId> {
        let policy = policy.as_resource_id();
        // The policy itself, then each policy group it is a member of.
        let holders = std::iter::once((
            policy,
            ResourceKind::PolicySystemBinding,
            ResourceKind::PolicySystemGroupBinding,
        ))
        .chain(self.edges_to(ResourceKind::PolicyGroupMember, policy).map(|m| {
            (
                m.from,
                ResourceKind::PolicyGroupSystemBinding,
                ResourceKind::PolicyGroupSystemGroupBinding,
            )
        }));
        let mut out: Vec<&ResourceId> = Vec::new();
        for (holder, system_binding, group_binding) in holders {
            let direct = self.edges_from(system_binding, holder).map(|e| e.to);
            let through_groups = self
                .edges_from(group_binding, holder)
                .flat_map(|g| self.edges_from(ResourceKind::SystemGroupMember, g.to).map(|m| m.to));
            for system in direct.chain(through_groups) {
                if !out.contains(&system) {
                    out.push(system);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Normalizer;

    fn rid(text: &str) -> ResourceId {
        ResourceId::new(text).unwrap()
    }

    /// An edge of a relation kind whose items are graph connections (`{to: {id, type}}`).
    fn edge(kind: ResourceKind, parent: &str, target: &str) -> Resource {
        let to_type = kind.meta().relation.unwrap().to_type_value.unwrap();
        let doc = json!({"to": {"id": target, "type": to_type}});
        Resource::from_child_doc(kind, rid(parent), doc).unwrap()
    }

    fn inventory_of(edges: &[(ResourceKind, &str, &str)]) -> Inventory {
        let mut inventory = Inventory::new(TenantId::new("t").unwrap());
        for &(kind, parent, target) in edges {
            inventory.insert(edge(kind, parent, target)).unwrap();
        }
        inventory
    }

    /// (policy, system group, policy group) of each binding, sorted.
    fn applying(
        inventory: &Inventory,
        system: &str,
    ) -> Vec<(String, Option<String>, Option<String>)> {
        let system = SystemId::new(system).unwrap();
        let mut out: Vec<_> = inventory
            .policies_applying_to(&system)
            .into_iter()
            .map(|b| {
                (
                    b.policy.to_string(),
                    b.via_system_group.map(ToString::to_string),
                    b.via_policy_group.map(ToString::to_string),
                )
            })
            .collect();
        out.sort();
        out
    }

    fn row(
        policy: &str,
        system_group: Option<&str>,
        policy_group: Option<&str>,
    ) -> (String, Option<String>, Option<String>) {
        (policy.into(), system_group.map(Into::into), policy_group.map(Into::into))
    }

    #[test]
    fn a_policy_bound_to_the_system_applies_directly() {
        let inventory = inventory_of(&[(ResourceKind::PolicySystemBinding, "p1", "s1")]);
        assert_eq!(applying(&inventory, "s1"), [row("p1", None, None)]);
        assert!(applying(&inventory, "s2").is_empty());
    }

    #[test]
    fn a_policy_bound_to_a_system_group_applies_to_its_members() {
        let inventory = inventory_of(&[
            (ResourceKind::SystemGroupMember, "sg1", "s1"),
            (ResourceKind::PolicySystemGroupBinding, "p1", "sg1"),
            (ResourceKind::PolicySystemGroupBinding, "p2", "sg2"),
        ]);
        assert_eq!(applying(&inventory, "s1"), [row("p1", Some("sg1"), None)]);
    }

    #[test]
    fn the_policies_of_a_policy_group_bound_to_the_system_apply() {
        let inventory = inventory_of(&[
            (ResourceKind::PolicyGroupMember, "pg1", "p1"),
            (ResourceKind::PolicyGroupMember, "pg1", "p2"),
            (ResourceKind::PolicyGroupMember, "pg2", "p3"),
            (ResourceKind::PolicyGroupSystemBinding, "pg1", "s1"),
        ]);
        assert_eq!(
            applying(&inventory, "s1"),
            [row("p1", None, Some("pg1")), row("p2", None, Some("pg1"))]
        );
        assert!(applying(&inventory, "s2").is_empty());
        let members: Vec<_> = inventory
            .members_of_policy_group(&PolicyGroupId::new("pg1").unwrap())
            .map(|e| e.to.to_string())
            .collect();
        assert_eq!(members, ["p1", "p2"]);
    }

    #[test]
    fn the_policies_of_a_policy_group_bound_to_a_system_group_apply_to_its_members() {
        let mut inventory = inventory_of(&[
            (ResourceKind::SystemGroupMember, "sg1", "s1"),
            (ResourceKind::SystemGroupMember, "sg2", "s2"),
            (ResourceKind::PolicyGroupMember, "pg1", "p1"),
            (ResourceKind::PolicyGroupMember, "pg1", "p2"),
            (ResourceKind::PolicyGroupSystemGroupBinding, "pg1", "sg1"),
        ]);
        assert_eq!(
            applying(&inventory, "s1"),
            [row("p1", Some("sg1"), Some("pg1")), row("p2", Some("sg1"), Some("pg1"))]
        );
        assert!(applying(&inventory, "s2").is_empty(), "not a member of the bound group");
        // A policy leaving the policy group no longer applies.
        let membership = ResourceId::composite(["pg1", "p2"]).unwrap();
        inventory.remove(ResourceKind::PolicyGroupMember, &membership).unwrap();
        assert_eq!(applying(&inventory, "s1"), [row("p1", Some("sg1"), Some("pg1"))]);
    }

    #[test]
    fn a_policy_reaches_the_systems_of_every_path_once() {
        let inventory = inventory_of(&[
            (ResourceKind::SystemGroupMember, "sg1", "s1"),
            (ResourceKind::SystemGroupMember, "sg1", "s2"),
            (ResourceKind::SystemGroupMember, "sg2", "s3"),
            (ResourceKind::PolicySystemBinding, "p1", "s1"),
            (ResourceKind::PolicySystemGroupBinding, "p1", "sg1"),
            (ResourceKind::PolicyGroupMember, "pg1", "p1"),
            (ResourceKind::PolicyGroupSystemBinding, "pg1", "s4"),
            (ResourceKind::PolicyGroupSystemGroupBinding, "pg1", "sg2"),
            (ResourceKind::PolicySystemBinding, "p2", "s5"),
        ]);
        let reached: Vec<String> = inventory
            .systems_of_policy_reached(&PolicyId::new("p1").unwrap())
            .into_iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(reached, ["s1", "s2", "s4", "s3"]);
        // The converse agrees for every system.
        for system in ["s1", "s2", "s3", "s4", "s5"] {
            let applies = applying(&inventory, system).iter().any(|(p, ..)| p == "p1");
            assert_eq!(applies, reached.iter().any(|s| s == system), "{system}");
        }
    }

    #[test]
    fn a_policy_reaching_a_system_several_ways_appears_once_a_way() {
        let inventory = inventory_of(&[
            (ResourceKind::SystemGroupMember, "sg1", "s1"),
            (ResourceKind::PolicySystemBinding, "p1", "s1"),
            (ResourceKind::PolicySystemGroupBinding, "p1", "sg1"),
            (ResourceKind::PolicyGroupMember, "pg1", "p1"),
            (ResourceKind::PolicyGroupSystemBinding, "pg1", "s1"),
            (ResourceKind::PolicyGroupSystemGroupBinding, "pg1", "sg1"),
        ]);
        assert_eq!(
            applying(&inventory, "s1"),
            [
                row("p1", None, None),
                row("p1", None, Some("pg1")),
                row("p1", Some("sg1"), None),
                row("p1", Some("sg1"), Some("pg1")),
            ]
        );
    }

    #[test]
    fn recorded_hashes_are_used_until_the_resource_changes() {
        let mut inventory = Inventory::new(TenantId::new("t").unwrap());
        let user =
            Resource::from_doc(ResourceKind::User, json!({"_id": "u1", "username": "a"})).unwrap();
        let id = user.id.clone();
        let real = Normalizer::for_kind(ResourceKind::User).hash(&user.doc);
        let fake = ContentHash([7; 32]);
        inventory.insert_hashed(user.clone(), fake).unwrap();
        assert_eq!(inventory.hash(ResourceKind::User, &id), Some(fake));
        assert_eq!(inventory.hash_or_compute(&user), fake);
        // A new document drops the recorded hash.
        inventory.insert(user.clone()).unwrap();
        assert_eq!(inventory.hash(ResourceKind::User, &id), None);
        assert_eq!(inventory.hash_or_compute(&user), real);
        assert_eq!(ContentHash::from_hex(&real.to_hex()), Some(real));
        assert_eq!(ContentHash::from_hex("xyz"), None);
        inventory.remove(ResourceKind::User, &id);
        inventory.set_hash(ResourceKind::User, &id, fake);
        assert_eq!(
            inventory.hash(ResourceKind::User, &id),
            None,
            "no hash for a resource not there"
        );
    }

    #[test]
    fn a_kind_replaced_moves_its_resources_hashes_and_edges() {
        let tenant = TenantId::new("t").unwrap();
        let (mut old, mut new) = (Inventory::new(tenant.clone()), Inventory::new(tenant));
        let member = |group: &str, user: &str| {
            let doc = json!({"to": {"type": "user", "id": user}});
            Resource::from_child_doc(
                ResourceKind::UserGroupMember,
                ResourceId::new(group).unwrap(),
                doc,
            )
            .unwrap()
        };
        old.insert_hashed(member("g1", "u1"), ContentHash([1; 32])).unwrap();
        new.insert_hashed(member("g1", "u2"), ContentHash([2; 32])).unwrap();
        new.insert(member("g2", "u2")).unwrap();
        let replaced = old.replace_kind(ResourceKind::UserGroupMember, &mut new);
        assert_eq!(replaced.len(), 1);
        assert_eq!(replaced[0].1, Some(ContentHash([1; 32])));
        assert!(new.is_empty());
        assert_eq!(old.count(ResourceKind::UserGroupMember), 2);
        let u2 = UserId::new("u2").unwrap();
        let groups: Vec<_> = old.user_groups_of(&u2).map(|e| e.from.as_str()).collect();
        assert_eq!(groups, ["g1", "g2"]);
        assert_eq!(old.user_groups_of(&UserId::new("u1").unwrap()).count(), 0);
        let id = ResourceId::composite(["g1", "u2"]).unwrap();
        assert_eq!(old.hash(ResourceKind::UserGroupMember, &id), Some(ContentHash([2; 32])));
    }

    #[test]
    fn a_kind_is_hashed_at_once_and_its_hashes_move_with_it() {
        let mut inventory = Inventory::new(TenantId::new("t").unwrap());
        for id in ["u1", "u2"] {
            let doc = json!({"_id": id, "username": id});
            inventory.insert(Resource::from_doc(ResourceKind::User, doc).unwrap()).unwrap();
        }
        let normalizer = Normalizer::for_kind(ResourceKind::User);
        inventory.record_hashes(ResourceKind::User, |r| normalizer.hash(&r.doc));
        inventory.record_hashes(ResourceKind::System, |_| unreachable!("no systems"));
        let taken = inventory.take_kind(ResourceKind::User);
        assert_eq!(taken.len(), 2);
        for (resource, hash) in &taken {
            assert_eq!(*hash, Some(normalizer.hash(&resource.doc)));
        }
        assert_ne!(taken[0].1, taken[1].1);
        assert!(inventory.is_empty());
        assert_eq!(inventory.hash(ResourceKind::User, &taken[0].0.id), None);
    }
}
