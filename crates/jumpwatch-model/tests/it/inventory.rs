//! The relation index answers like a brute-force scan of the inventory.

use std::collections::BTreeSet;

use jumpwatch_model::{
    Inventory, Resource, ResourceId, ResourceKind, SystemGroupId, SystemId, TenantId, UserGroupId,
    UserId,
};
use proptest::prelude::*;
use serde_json::json;

fn id(prefix: &str, n: u8) -> ResourceId {
    ResourceId::new(format!("{prefix}{n:02}")).unwrap()
}

fn edge(kind: ResourceKind, parent: &ResourceId, target: &ResourceId) -> Resource {
    let to_type = match kind.meta().relation.unwrap().to {
        ResourceKind::User => "user",
        ResourceKind::System => "system",
        ResourceKind::SystemGroup => "system_group",
        ResourceKind::Policy => "policy",
        other => panic!("{other}"),
    };
    let doc = match kind {
        ResourceKind::SystemUserBinding => {
            json!({"id": target.as_str(), "type": to_type, "paths": []})
        }
        _ => json!({"to": {"id": target.as_str(), "type": to_type}}),
    };
    Resource::from_child_doc(kind, parent.clone(), doc).unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    /// Add an edge of relation `kind` from parent `p` to target `t`.
    Add(ResourceKind, u8, u8),
    /// Remove it.
    Remove(ResourceKind, u8, u8),
}

/// The relation kinds the operations touch.
const RELATIONS: [ResourceKind; 8] = [
    ResourceKind::UserGroupMember,
    ResourceKind::SystemGroupMember,
    ResourceKind::SystemUserBinding,
    ResourceKind::PolicySystemBinding,
    ResourceKind::PolicySystemGroupBinding,
    ResourceKind::PolicyGroupMember,
    ResourceKind::PolicyGroupSystemBinding,
    ResourceKind::PolicyGroupSystemGroupBinding,
];

fn relation_kinds() -> impl Strategy<Value = ResourceKind> {
    prop::sample::select(RELATIONS.to_vec())
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        (relation_kinds(), 0..6u8, 0..6u8, prop::bool::weighted(0.75)).prop_map(
            |(k, p, t, add)| {
                if add { Op::Add(k, p, t) } else { Op::Remove(k, p, t) }
            },
        ),
        0..80,
    )
}

/// Id prefixes by kind, so parents and targets of different kinds never share an id.
fn prefix(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::UserGroup => "ug",
        ResourceKind::User => "u",
        ResourceKind::SystemGroup => "sg",
        ResourceKind::System => "s",
        ResourceKind::Policy => "p",
        ResourceKind::PolicyGroup => "pg",
        other => panic!("{other}"),
    }
}

fn ends(kind: ResourceKind, p: u8, t: u8) -> (ResourceId, ResourceId) {
    let meta = kind.meta();
    (id(prefix(meta.parent.unwrap().kind), p), id(prefix(meta.relation.unwrap().to), t))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_index_agrees_with_a_scan(ops in ops()) {
        let mut inventory = Inventory::new(TenantId::new("t").unwrap());
        for op in &ops {
            match *op {
                Op::Add(kind, p, t) => {
                    let (parent, target) = ends(kind, p, t);
                    inventory.insert(edge(kind, &parent, &target)).unwrap();
                }
                Op::Remove(kind, p, t) => {
                    let (parent, target) = ends(kind, p, t);
                    let edge_id = ResourceId::composite([parent.as_str(), target.as_str()]).unwrap();
                    inventory.remove(kind, &edge_id);
                }
            }
        }
        // The brute force: every edge resource, scanned.
        let scan = |kind: ResourceKind| -> BTreeSet<(String, String)> {
            inventory
                .resources(kind)
                .map(|r| (r.parent.clone().unwrap().to_string(), r.target().unwrap().to_string()))
                .collect()
        };
        for kind in RELATIONS {
            let edges = scan(kind);
            for n in 0..6u8 {
                let (parent, target) = ends(kind, n, n);
                let from: BTreeSet<_> = inventory.edges_from(kind, &parent).map(|e| (e.from.to_string(), e.to.to_string())).collect();
                let expected: BTreeSet<_> = edges.iter().filter(|(p, _)| *p == parent.as_str()).cloned().collect();
                prop_assert_eq!(from, expected);
                let to: BTreeSet<_> = inventory.edges_to(kind, &target).map(|e| (e.from.to_string(), e.to.to_string())).collect();
                let expected: BTreeSet<_> = edges.iter().filter(|(_, t)| *t == target.as_str()).cloned().collect();
                prop_assert_eq!(to, expected);
            }
        }
        // Policies applying to a system: direct bindings, bindings of its groups, and the member
        // policies of policy groups bound to it or to its groups.
        let direct = scan(ResourceKind::PolicySystemBinding);
        let memberships = scan(ResourceKind::SystemGroupMember);
        let group_bindings = scan(ResourceKind::PolicySystemGroupBinding);
        let policy_group_members = scan(ResourceKind::PolicyGroupMember);
        let policy_group_direct = scan(ResourceKind::PolicyGroupSystemBinding);
        let policy_group_group_bindings = scan(ResourceKind::PolicyGroupSystemGroupBinding);
        let members_of = |policy_group: &str| -> Vec<String> {
            policy_group_members
                .iter()
                .filter(|(pg, _)| pg == policy_group)
                .map(|(_, policy)| policy.clone())
                .collect()
        };
        for n in 0..6u8 {
            let system = SystemId::from(id("s", n));
            let got: Vec<(String, Option<String>, Option<String>)> = inventory
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
            let mut expected = BTreeSet::new();
            for (policy, s) in &direct {
                if s == system.as_str() {
                    expected.insert((policy.clone(), None, None));
                }
            }
            for (policy_group, s) in &policy_group_direct {
                if s == system.as_str() {
                    for policy in members_of(policy_group) {
                        expected.insert((policy, None, Some(policy_group.clone())));
                    }
                }
            }
            for (group, s) in &memberships {
                if s == system.as_str() {
                    for (policy, g) in &group_bindings {
                        if g == group {
                            expected.insert((policy.clone(), Some(group.clone()), None));
                        }
                    }
                    for (policy_group, g) in &policy_group_group_bindings {
                        if g == group {
                            for policy in members_of(policy_group) {
                                expected.insert((
                                    policy,
                                    Some(group.clone()),
                                    Some(policy_group.clone()),
                                ));
                            }
                        }
                    }
                }
            }
            // Each way once.
            prop_assert_eq!(got.len(), expected.len());
            prop_assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expected);
        }
    }
}

#[test]
fn typed_shortcuts_answer_the_common_questions() {
    let mut inventory = Inventory::new(TenantId::new("acme").unwrap());
    let (ada, bob) = (id("u", 1), id("u", 2));
    let (admins, laptop, fleet) = (id("ug", 1), id("s", 1), id("sg", 1));
    let policy = id("p", 1);
    for r in [
        edge(ResourceKind::UserGroupMember, &admins, &ada),
        edge(ResourceKind::UserGroupMember, &admins, &bob),
        edge(ResourceKind::SystemUserBinding, &laptop, &ada),
        edge(ResourceKind::SystemGroupMember, &fleet, &laptop),
        edge(ResourceKind::PolicySystemGroupBinding, &policy, &fleet),
    ] {
        inventory.insert(r).unwrap();
    }
    let ada = UserId::from(ada);
    let groups: Vec<_> = inventory.user_groups_of(&ada).map(|e| e.from.to_string()).collect();
    assert_eq!(groups, ["ug01"]);
    let members: BTreeSet<_> = inventory
        .members_of_user_group(&UserGroupId::from(admins))
        .map(|e| e.to.to_string())
        .collect();
    assert_eq!(members, BTreeSet::from(["u01".to_owned(), "u02".to_owned()]));
    let laptop = SystemId::from(laptop);
    let users: Vec<_> = inventory.users_bound_to(&laptop).map(|e| e.to.to_string()).collect();
    assert_eq!(users, ["u01"]);
    let systems: Vec<_> = inventory.systems_bound_to(&ada).map(|e| e.from.to_string()).collect();
    assert_eq!(systems, ["s01"]);
    let groups: Vec<_> = inventory.system_groups_of(&laptop).map(|e| e.from.to_string()).collect();
    assert_eq!(groups, ["sg01"]);
    let members: Vec<_> = inventory
        .members_of_system_group(&SystemGroupId::from(fleet))
        .map(|e| e.to.to_string())
        .collect();
    assert_eq!(members, ["s01"]);
    let policies = inventory.policies_applying_to(&laptop);
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].policy.as_str(), "p01");
    assert_eq!(policies[0].via_system_group.map(ResourceId::as_str), Some("sg01"));
    assert_eq!(policies[0].via_policy_group, None);

    // Replacing an edge keeps one copy; removing it clears the index.
    inventory
        .insert(edge(ResourceKind::UserGroupMember, &id("ug", 1), ada.as_resource_id()))
        .unwrap();
    assert_eq!(inventory.user_groups_of(&ada).count(), 1);
    let edge_id = ResourceId::composite(["ug01", "u01"]).unwrap();
    assert!(inventory.remove(ResourceKind::UserGroupMember, &edge_id).is_some());
    assert_eq!(inventory.user_groups_of(&ada).count(), 0);
    assert_eq!(inventory.count(ResourceKind::UserGroupMember), 1);
    assert_eq!(inventory.len(), 4);
}
