//! Members, memberships, associations and traversals through groups.

use jumpwatch_model::ResourceKind;
use serde_json::Value;

use crate::support::{Api, sim};

fn ids(items: &Value, path: &[&str]) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| path.iter().fold(i, |v, k| &v[*k]).as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn members_and_memberof_agree() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let tenant = sim.tenant(0).unwrap();
    let group = tenant
        .resources(ResourceKind::UserGroup)
        .into_iter()
        .find(|g| g.doc["name"] == "IT Admins")
        .unwrap();
    let members = api.ok(&format!("/api/v2/usergroups/{}/members?limit=100", group.id)).await;
    let member_ids = ids(&members, &["to", "id"]);
    assert!(!member_ids.is_empty());
    for member in &member_ids {
        let groups = api.ok(&format!("/api/v2/users/{member}/memberof?limit=100")).await;
        assert!(ids(&groups, &["id"]).contains(&group.id.as_str().to_owned()));
        assert!(
            groups
                .as_array()
                .unwrap()
                .iter()
                .all(|g| g["type"] == "user_group" && g["paths"].is_array())
        );
    }
    let membership = api.ok(&format!("/api/v2/usergroups/{}/membership?limit=100", group.id)).await;
    assert_eq!(ids(&membership, &["id"]), member_ids);
    assert_eq!(api.get("/api/v2/users/000000000000000000000000/memberof").await.status, 404);
}

#[tokio::test]
async fn traversals_reach_through_groups_with_compiled_sudo() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let tenant = sim.tenant(0).unwrap();
    // Linux servers are reached by the on-call group, which grants passwordless sudo.
    let servers = tenant
        .resources(ResourceKind::System)
        .into_iter()
        .filter(|s| s.doc["osFamily"] == "linux" && s.doc["desktopCapable"] == false)
        .collect::<Vec<_>>();
    let server = &servers[0];
    let users = api.ok(&format!("/api/v2/systems/{}/users?limit=100", server.id)).await;
    let users = users.as_array().unwrap();
    assert!(!users.is_empty());
    let through_group = users
        .iter()
        .find(|u| u["paths"][0].as_array().is_some_and(|p| p.len() > 1))
        .expect("a user bound through groups");
    assert_eq!(through_group["compiledAttributes"]["sudo"]["enabled"], true);
    assert_eq!(through_group["compiledAttributes"]["sudo"]["withoutPassword"], true);
    // And the other way.
    let user = through_group["id"].as_str().unwrap();
    let systems = api.ok(&format!("/api/v2/users/{user}/systems?limit=100")).await;
    assert!(ids(&systems, &["id"]).contains(&server.id.as_str().to_owned()));
    // Policies reach systems through system groups and policy groups.
    let baseline = tenant
        .resources(ResourceKind::Policy)
        .into_iter()
        .find(|p| p.doc["name"] == "Gatekeeper")
        .unwrap();
    let reached = api.ok(&format!("/api/v2/policies/{}/systems?limit=100", baseline.id)).await;
    let reached = reached.as_array().unwrap();
    assert!(!reached.is_empty());
    assert!(
        reached.iter().all(|s| s["paths"][0].as_array().unwrap().len() == 3),
        "policy → policy group → system group → system"
    );
    let statuses = api
        .ok(&format!(
            "/api/v2/systems/{}/policystatuses?limit=100",
            reached[0]["id"].as_str().unwrap()
        ))
        .await;
    assert!(!statuses.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn associations_need_targets_and_refuse_memberships() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let tenant = sim.tenant(0).unwrap();
    let group = &tenant.resources(ResourceKind::UserGroup)[0];
    let reply = api.get(&format!("/api/v2/usergroups/{}/associations", group.id)).await;
    assert_eq!(reply.status, 400);
    let reply =
        api.get(&format!("/api/v2/usergroups/{}/associations?targets=user", group.id)).await;
    assert_eq!(reply.status, 400);
    assert!(reply.message().contains("/members"));
    let apps =
        api.ok(&format!("/api/v2/usergroups/{}/associations?targets=application", group.id)).await;
    assert!(apps.as_array().unwrap().iter().all(|a| a["to"]["type"] == "application"));
}
