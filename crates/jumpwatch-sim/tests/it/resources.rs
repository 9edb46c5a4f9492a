//! Every kind of the catalog through HTTP: listed completely, fetched by id, hydrated where list
//! items are partial, children and relations per parent, and all of it decodes with the catalog.

use std::collections::HashMap;

use jumpwatch_model::catalog::IdSpec;
use jumpwatch_model::{Resource, ResourceId, ResourceKind};
use serde_json::Value;

use crate::support::{Api, sim};

/// The list URL of a kind (under a parent, for child kinds and relations).
fn list_url(kind: ResourceKind, parent: Option<&str>) -> String {
    let meta = kind.meta();
    let mut path = format!("{}{}", meta.api.base_path(), meta.list_path);
    if let (Some(spec), Some(parent)) = (meta.parent, parent) {
        path = path.replace(&format!("{{{}}}", spec.param), parent);
    }
    let query: Vec<String> = meta.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    path
}

/// Lists every kind the way a collector would, hydrating where the catalog says.
async fn collect(api: &Api<'_>) -> HashMap<ResourceKind, Vec<Resource>> {
    let mut out: HashMap<ResourceKind, Vec<Resource>> = HashMap::new();
    for &kind in ResourceKind::ALL {
        let meta = kind.meta();
        let parents: Vec<Option<String>> = match meta.parent {
            Some(spec) => out[&spec.kind].iter().map(|r| Some(r.id.as_str().to_owned())).collect(),
            None => vec![None],
        };
        let mut resources = Vec::new();
        for parent in parents {
            for mut item in api.all(&list_url(kind, parent.as_deref())).await {
                if let Some((field, value)) = meta.list_filter
                    && item[field] != value
                {
                    continue;
                }
                if meta.hydrate {
                    let id = match meta.id {
                        IdSpec::Field(f) => item[f].as_str().unwrap().to_owned(),
                        _ => unreachable!(),
                    };
                    let get = meta.get_path.unwrap().replace("{id}", &id);
                    item = api.ok(&format!("{}{get}", meta.api.base_path())).await;
                }
                let resource = match &parent {
                    Some(parent) => {
                        Resource::from_child_doc(kind, ResourceId::new(parent).unwrap(), item)
                    }
                    None => Resource::from_doc(kind, item),
                };
                resources.push(resource.unwrap_or_else(|e| panic!("{kind}: {e}")));
            }
        }
        out.insert(kind, resources);
    }
    out
}

#[tokio::test]
async fn every_kind_is_served_completely_and_decodes_with_the_catalog() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let collected = collect(&api).await;
    let tenant = sim.tenant(0).unwrap();
    for &kind in ResourceKind::ALL {
        let mut served: Vec<&Resource> = collected[&kind].iter().collect();
        served.sort_by(|a, b| (&a.parent, &a.id).cmp(&(&b.parent, &b.id)));
        let expected = tenant.resources(kind);
        assert!(!expected.is_empty(), "{kind}: no data");
        assert_eq!(served.len(), expected.len(), "{kind}");
        for (got, want) in served.iter().zip(&expected) {
            assert_eq!(got.doc, want.doc, "{kind} {}", want.id);
        }
        for resource in &served {
            let decoded = kind.decode_typed(&resource.doc).unwrap();
            assert!(decoded.issues.is_empty(), "{kind} {}: {:?}", resource.id, decoded.issues);
        }
    }
}

#[tokio::test]
async fn get_by_id_for_every_kind_with_a_get() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let tenant = sim.tenant(0).unwrap();
    for &kind in ResourceKind::ALL {
        let meta = kind.meta();
        let Some(get) = meta.get_path else { continue };
        let resource = &tenant.resources(kind)[0];
        let path = format!("{}{}", meta.api.base_path(), get.replace("{id}", resource.id.as_str()));
        assert_eq!(api.ok(&path).await, resource.doc, "{kind}");
        let missing =
            format!("{}{}", meta.api.base_path(), get.replace("{id}", "000000000000000000000000"));
        let reply = api.get(&missing).await;
        assert_eq!(reply.status, 404, "{kind}");
        assert_eq!(reply.json(), serde_json::json!({"message": "Not Found"}));
    }
}

#[tokio::test]
async fn hydrated_kinds_list_partial_items() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let orgs = api.ok("/api/organizations").await;
    let keys: Vec<&String> = orgs["results"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["_id", "displayName", "logoUrl"]);
    let policies = api.ok("/api/v2/policies?limit=100").await;
    for policy in policies.as_array().unwrap() {
        let keys: Vec<&String> = policy.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "name", "template"]);
        let full = api.ok(&format!("/api/v2/policies/{}", policy["id"].as_str().unwrap())).await;
        assert!(full["configFields"].is_array() && full["values"].is_array());
    }
    let commands = api.ok("/api/commands?limit=100").await;
    let command = &commands["results"][0];
    assert!(command.get("sudo").is_none() && command.get("command").is_some());
    let full = api.ok(&format!("/api/commands/{}", command["_id"].as_str().unwrap())).await;
    assert!(full.get("sudo").is_some());
}

#[tokio::test]
async fn directories_index_every_directory_and_gsuite_and_office365_are_read_by_id() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let directories = api.ok("/api/v2/directories").await;
    let by_type: HashMap<String, String> = directories
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["type"].as_str().unwrap().to_owned(), d["id"].as_str().unwrap().to_owned()))
        .collect();
    for (ty, path) in [
        ("g_suite", "gsuites"),
        ("office_365", "office365s"),
        ("ldap_server", "ldapservers"),
        ("active_directory", "activedirectories"),
    ] {
        let id = &by_type[ty];
        let doc = api.ok(&format!("/api/v2/{path}/{id}")).await;
        assert_eq!(doc["id"], Value::String(id.clone()), "{ty}");
    }
}

#[tokio::test]
async fn relations_dispatch_on_targets() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let tenant = sim.tenant(0).unwrap();
    let policy = tenant
        .resources(ResourceKind::Policy)
        .into_iter()
        .find(|p| p.doc["name"] == "Windows firewall")
        .unwrap();
    let base = format!("/api/v2/policies/{}/associations", policy.id);
    let systems = api.ok(&format!("{base}?targets=system")).await;
    assert!(systems.as_array().unwrap().iter().all(|e| e["to"]["type"] == "system"));
    assert!(!systems.as_array().unwrap().is_empty());
    let groups = api.ok(&format!("{base}?targets=system_group")).await;
    assert!(groups.as_array().unwrap().iter().all(|e| e["to"]["type"] == "system_group"));
    let missing = api.get(&base).await;
    assert_eq!(missing.status, 400);
    assert!(missing.message().contains("\"targets\""), "{}", missing.message());
    let unknown = api.get(&format!("{base}?targets=planet")).await;
    assert_eq!(unknown.status, 400);
    // A target no catalog kind covers is still served from the graph.
    let app = &tenant.resources(ResourceKind::Application)[0];
    let bound =
        api.ok(&format!("/api/v2/applications/{}/associations?targets=user_group", app.id)).await;
    assert!(!bound.as_array().unwrap().is_empty());
    assert_eq!(
        api.get(&format!("/api/v2/applications/{}/associations?targets=system", app.id))
            .await
            .status,
        200
    );
}
