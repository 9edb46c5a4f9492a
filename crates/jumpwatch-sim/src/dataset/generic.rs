//! Data for catalog kinds no dedicated generator knows: a kind added to the catalog is served with
//! documents made from its catalog examples, and a new relation with edges between existing
//! objects, without new code.

use chrono::Duration;
use jumpwatch_model::{ResourceId, ResourceKind};
use serde_json::Value;

use super::Gen;
use crate::graph::{Node, RelationShape, relation_shape};

/// The kinds the dedicated generators make (possibly none of, in a tiny tenant).
const GENERATED: &[ResourceKind] = &[
    ResourceKind::ActiveDirectory,
    ResourceKind::Administrator,
    ResourceKind::AppleMdm,
    ResourceKind::Application,
    ResourceKind::AuthnPolicy,
    ResourceKind::Command,
    ResourceKind::CommandResult,
    ResourceKind::Directory,
    ResourceKind::Gsuite,
    ResourceKind::IpList,
    ResourceKind::LdapServer,
    ResourceKind::Office365,
    ResourceKind::Organization,
    ResourceKind::Policy,
    ResourceKind::PolicyGroup,
    ResourceKind::PolicyResult,
    ResourceKind::PolicyStatus,
    ResourceKind::PolicyTemplate,
    ResourceKind::RadiusServer,
    ResourceKind::SoftwareApp,
    ResourceKind::System,
    ResourceKind::SystemGroup,
    ResourceKind::User,
    ResourceKind::UserGroup,
    ResourceKind::SiAlf,
    ResourceKind::SiApps,
    ResourceKind::SiAuthorizedKeys,
    ResourceKind::SiBitlockerInfo,
    ResourceKind::SiDiskEncryption,
    ResourceKind::SiOsVersion,
    ResourceKind::SiPrograms,
    ResourceKind::SiSipConfig,
    ResourceKind::SiUsers,
    ResourceKind::SiWindowsSecurityCenter,
    ResourceKind::ApplicationUserGroupBinding,
    ResourceKind::PolicyGroupMember,
    ResourceKind::PolicyGroupSystemBinding,
    ResourceKind::PolicyGroupSystemGroupBinding,
    ResourceKind::PolicySystemBinding,
    ResourceKind::PolicySystemGroupBinding,
    ResourceKind::SystemGroupMember,
    ResourceKind::SystemUserBinding,
    ResourceKind::UserGroupMember,
];

/// Fills every kind no dedicated generator makes.
pub(crate) fn fill(g: &mut Gen) {
    let mut rng = g.rng("generic");
    for &kind in ResourceKind::ALL {
        if !GENERATED.contains(&kind) {
            fill_kind(g, &mut rng, kind);
        }
    }
    // Documents were made in several passes; the store's default order is id order.
    for collection in g.org.kinds.values_mut() {
        collection.sort_by_id();
    }
    for by_parent in g.org.children.values_mut() {
        for collection in by_parent.values_mut() {
            collection.sort_by_id();
        }
    }
}

/// Makes data for one kind from its catalog metadata, unless it has some.
fn fill_kind(g: &mut Gen, rng: &mut fastrand::Rng, kind: ResourceKind) {
    if kind.is_relation() {
        // A traversal reaches at least the objects linked directly.
        if let Some(RelationShape::Direct { from, to } | RelationShape::Traversal { from, to }) =
            relation_shape(kind)
            && !g.org.graph.has_edges_between(from, to)
        {
            link_some(g, rng, kind, from, to);
        }
        return;
    }
    if g.org.count(kind) > 0 {
        return;
    }
    let parents: Vec<Option<String>> = match kind.meta().parent {
        Some(parent) => ids_of(g, parent.kind).into_iter().take(3).map(Some).collect(),
        None => vec![None; 3],
    };
    for (n, parent) in parents.into_iter().enumerate() {
        if let Some(doc) = from_example(g, rng, kind, parent.as_deref(), n) {
            match parent {
                Some(parent) => g.put_child(kind, &parent, doc),
                None => g.put(kind, doc),
            }
        }
    }
}

fn ids_of(g: &Gen, kind: ResourceKind) -> Vec<String> {
    g.org
        .collection(kind)
        .map(|c| c.iter().map(|(id, _)| id.as_str().to_owned()).collect())
        .unwrap_or_default()
}

fn link_some(
    g: &mut Gen,
    rng: &mut fastrand::Rng,
    kind: ResourceKind,
    from: &'static str,
    to: &'static str,
) {
    let Some(parent) = kind.meta().parent else { return };
    let Some(target) = kind.meta().relation.map(|r| r.to) else { return };
    let froms = ids_of(g, parent.kind);
    let tos = ids_of(g, target);
    if froms.is_empty() || tos.is_empty() {
        return;
    }
    for _ in 0..froms.len().min(5) {
        let a = &froms[rng.usize(..froms.len())];
        let b = &tos[rng.usize(..tos.len())];
        if let (Ok(a), Ok(b)) = (ResourceId::new(a), ResourceId::new(b)) {
            g.org.graph.link(&Node::new(from, a), &Node::new(to, b), Value::Null);
        }
    }
}

/// A document from the kind's first catalog example, with fresh ids, references to existing
/// objects and a distinct name.
fn from_example(
    g: &mut Gen,
    rng: &mut fastrand::Rng,
    kind: ResourceKind,
    parent: Option<&str>,
    n: usize,
) -> Option<Value> {
    let meta = kind.meta();
    let (_, text) = meta.examples.first()?;
    let mut doc: Value = serde_json::from_str(text).ok()?;
    let created = g.now - Duration::days(30 + 10 * i64::try_from(n).unwrap_or(0));
    let parent_kind = meta.parent.map(|p| p.kind.name());
    for field in meta.fields {
        if field.path.contains('.') || field.path.contains('[') {
            continue;
        }
        let Some(target) = field.ty.strip_prefix("id:") else { continue };
        let value = if target == kind.name() {
            g.id_at(created)
        } else if Some(target) == parent_kind {
            parent?.to_owned()
        } else {
            let Ok(target_kind) = target.parse::<ResourceKind>() else { continue };
            let ids = ids_of(g, target_kind);
            if ids.is_empty() {
                continue;
            }
            ids[rng.usize(..ids.len())].clone()
        };
        doc[field.path] = Value::String(value);
    }
    if let jumpwatch_model::catalog::IdSpec::Field(field) = meta.id
        && !meta.fields.iter().any(|f| f.path == field && f.ty.starts_with("id:"))
    {
        doc[field] = Value::String(g.id_at(created));
    }
    if let Some(name) = meta.name_field
        && let Some(Value::String(text)) = doc.get_mut(name)
    {
        text.push_str(&format!(" {}", n + 1));
    }
    Some(doc)
}

#[cfg(test)]
mod tests {
    use jumpwatch_model::Resource;

    use super::*;
    use crate::ids::ObjectIds;
    use crate::store::OrgState;

    fn gen_with_systems() -> Gen {
        let now = crate::fixtures::now();
        let mut g = Gen {
            seed: 1,
            now,
            ids: ObjectIds::new(1),
            org: OrgState::new("5f0901008ea20709d70f4dde".into()),
            org_index: 0,
            domain: "example.com".into(),
            org_name: "Example".into(),
        };
        for _ in 0..4 {
            let id = g.id_at(now);
            g.put(ResourceKind::System, serde_json::json!({"_id": id, "displayName": "s"}));
            let group = g.id_at(now);
            g.put(ResourceKind::UserGroup, serde_json::json!({"id": group, "name": "g"}));
            let user = g.id_at(now);
            g.put(ResourceKind::User, serde_json::json!({"_id": user, "username": "u"}));
        }
        g
    }

    /// A kind no generator knows is made from the catalog: every kind is tried as if it were new.
    #[test]
    fn any_kind_can_be_made_from_its_catalog_metadata() {
        for &kind in ResourceKind::ALL {
            let mut g = gen_with_systems();
            let mut rng = fastrand::Rng::with_seed(3);
            // The kinds at both ends first.
            if let Some(parent) = kind.meta().parent {
                fill_kind(&mut g, &mut rng, parent.kind);
            }
            if let Some(relation) = kind.meta().relation {
                fill_kind(&mut g, &mut rng, relation.to);
            }
            fill_kind(&mut g, &mut rng, kind);
            let resources = super::super::resources(&g.org, kind);
            assert!(!resources.is_empty(), "{kind}");
            for resource in resources {
                let rebuilt = match &resource.parent {
                    Some(parent) => {
                        Resource::from_child_doc(kind, parent.clone(), resource.doc.clone())
                    }
                    None => Resource::from_doc(kind, resource.doc.clone()),
                };
                assert!(rebuilt.is_ok(), "{kind}");
                assert!(
                    kind.decode_typed(&resource.doc).unwrap().issues.is_empty(),
                    "{kind}: {}",
                    resource.doc
                );
            }
        }
    }
}
