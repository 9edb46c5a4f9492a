//! The generated tenant: every kind, decodable, consistent, deterministic, risky where rules look.

use jumpwatch_model::{Resource, ResourceKind};
use jumpwatch_sim::{Dataset, Size, Tenant};

fn small() -> Tenant {
    let dataset = Dataset::builder()
        .seed(42)
        .size(Size::Small)
        .now(jumpwatch_sim::fixtures::now())
        .generate();
    dataset.tenants()[0].clone()
}

#[test]
fn every_kind_has_data_that_decodes_without_issues() {
    let tenant = small();
    let mut problems = Vec::new();
    for &kind in ResourceKind::ALL {
        let resources = tenant.resources(kind);
        if resources.is_empty() {
            problems.push(format!("{kind}: no data"));
        }
        for resource in &resources {
            match kind.decode_typed(&resource.doc) {
                Ok(decoded) => {
                    for issue in decoded.issues {
                        problems.push(format!("{kind} {}: {issue}", resource.id));
                    }
                }
                Err(error) => problems.push(format!("{kind} {}: {error}", resource.id)),
            }
        }
    }
    problems.truncate(40);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn sizes_are_as_asked() {
    let tenant = small();
    assert_eq!(tenant.resources(ResourceKind::User).len(), 50);
    assert_eq!(tenant.resources(ResourceKind::System).len(), 40);
    let custom = Dataset::builder().size(Size::Custom { users: 7, systems: 3 }).generate();
    assert_eq!(custom.tenants()[0].resources(ResourceKind::User).len(), 7);
    assert_eq!(custom.tenants()[0].resources(ResourceKind::System).len(), 3);
    assert_eq!("200x150".parse::<Size>().unwrap(), Size::Custom { users: 200, systems: 150 });
    assert!("huge".parse::<Size>().is_err());
}

#[test]
fn the_same_seed_and_clock_give_the_same_tenant() {
    let a = small();
    let b = small();
    for &kind in ResourceKind::ALL {
        assert_eq!(a.resources(kind), b.resources(kind), "{kind}");
    }
    assert_eq!(a.events(), b.events());
    let other = Dataset::builder()
        .seed(43)
        .size(Size::Small)
        .now(jumpwatch_sim::fixtures::now())
        .generate();
    assert_ne!(a.resources(ResourceKind::User), other.tenants()[0].resources(ResourceKind::User));
}

#[test]
fn resources_are_made_where_the_catalog_says() {
    let tenant = small();
    let inventory = tenant.inventory();
    for &kind in ResourceKind::ALL {
        for resource in tenant.resources(kind) {
            let rebuilt = match &resource.parent {
                Some(parent) => {
                    Resource::from_child_doc(kind, parent.clone(), resource.doc.clone())
                }
                None => Resource::from_doc(kind, resource.doc.clone()),
            };
            assert!(rebuilt.is_ok(), "{kind} {}", resource.id);
        }
        assert_eq!(inventory.count(kind), tenant.resources(kind).len(), "{kind}");
    }
}

#[test]
fn tiny_and_empty_tenants_generate() {
    for (users, systems) in [(0, 0), (1, 0), (0, 1), (1, 1), (3, 2)] {
        let dataset = Dataset::builder().size(Size::Custom { users, systems }).generate();
        let tenant = &dataset.tenants()[0];
        assert_eq!(tenant.resources(ResourceKind::User).len(), users);
        assert_eq!(tenant.resources(ResourceKind::System).len(), systems);
        for &kind in ResourceKind::ALL {
            for resource in tenant.resources(kind) {
                assert!(kind.decode_typed(&resource.doc).unwrap().issues.is_empty(), "{kind}");
            }
        }
    }
}
