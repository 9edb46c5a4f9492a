//! The admin API under /__sim/: mutations, scenarios, faults, stats, reset, clock.

use jumpwatch_model::ResourceKind;
use jumpwatch_sim::{Faults, Mutation, Op, Scenario};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Api, sim};

#[tokio::test]
async fn mutations_create_update_and_delete_through_http() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let tenant = sim.tenant(0).unwrap();
    let system = tenant.resources(ResourceKind::System)[0].id.as_str().to_owned();
    let group = tenant.resources(ResourceKind::UserGroup)[0].id.as_str().to_owned();
    let body = json!({
        "actor": "auditor@example.com",
        "mutations": [
            {"op": "create", "kind": "user", "doc": {"username": "grace.new", "email": "grace.new@example.com", "state": "STAGED"}},
            {"op": "delete", "kind": "system", "id": system},
        ]
    });
    let reply = api.admin(Method::POST, "/mutations", Some(&body)).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let applied = reply.json()["applied"].clone();
    let user = applied[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(applied[0]["op"], "create");
    assert_eq!(applied[1]["kind"], "system");
    // The created user is served, with an id and the organization filled in.
    let doc = api.ok(&format!("/api/systemusers/{user}")).await;
    assert_eq!(doc["username"], "grace.new");
    assert_eq!(doc["organization"], sim.org_ids()[0].as_str());
    assert_eq!(api.get(&format!("/api/systems/{system}")).await.status, 404);
    // The deleted system's System Insights rows and bindings went with it.
    let rows =
        api.ok(&format!("/api/v2/systeminsights/os_version?filter=system_id:eq:{system}")).await;
    assert_eq!(rows, json!([]));
    // Update with dotted paths, and a membership.
    let body = json!([
        {"op": "update", "kind": "user", "id": user, "set": {"mfa.configured": true, "department": "Security"}},
        {"op": "create", "kind": "user_group_member", "parent": group, "target": user},
    ]);
    let reply = api.admin(Method::POST, "/mutations", Some(&body)).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let applied = reply.json()["applied"].clone();
    assert_eq!(applied[0]["fields"], json!(["department", "mfa.configured"]));
    assert_eq!(
        applied[0]["changes"][1],
        json!({"field": "mfa.configured", "from": null, "to": true})
    );
    assert_eq!(applied[1]["id"], Value::String(format!("{group}:{user}")));
    let doc = api.ok(&format!("/api/systemusers/{user}")).await;
    assert_eq!(doc["mfa"]["configured"], true);
    let members = api.ok(&format!("/api/v2/usergroups/{group}/members?limit=100")).await;
    assert!(
        members.as_array().unwrap().iter().any(|m| m["to"]["id"] == Value::String(user.clone()))
    );
}

#[tokio::test]
async fn refused_mutations_say_which_and_why() {
    let sim = sim().await;
    let api = Api::new(&sim);
    for (body, needle, index) in [
        (json!([{"op": "create", "kind": "planet", "doc": {}}]), "planet", 0),
        (json!([{"op": "upsert", "kind": "user", "doc": {}}]), "upsert", 0),
        (json!([{"op": "update", "kind": "user", "id": "x", "sett": {}}]), "sett", 0),
        (
            json!([{"op": "create", "kind": "user", "doc": {"username": "a"}}, {"op": "delete", "kind": "user", "id": "nope"}]),
            "no user with id nope",
            1,
        ),
        (
            json!([{"op": "create", "kind": "user_group_member", "parent": "g", "target": "u"}]),
            "no user_group",
            0,
        ),
        (
            json!([{"op": "delete", "kind": "user", "id": "u", "set": {"sudo": true}}]),
            "\"set\" has no meaning",
            0,
        ),
        (
            json!([{"op": "update", "kind": "user", "id": "u", "target": "x"}]),
            "\"target\" has no meaning",
            0,
        ),
        (json!([{"op": "update", "kind": "user", "id": ""}]), "empty", 0),
    ] {
        let reply = api.admin(Method::POST, "/mutations", Some(&body)).await;
        assert_eq!(reply.status, 400, "{body}");
        let json = reply.json();
        assert_eq!(json["index"], index, "{json}");
        assert!(json["message"].as_str().unwrap().contains(needle), "{json}");
        assert_eq!(json["applied"].as_array().unwrap().len(), index, "{json}");
    }
}

#[tokio::test]
async fn scenarios_report_what_they_changed() {
    let sim = sim().await;
    let api = Api::new(&sim);
    for name in ["drift", "risky"] {
        let reply = api.admin(Method::POST, &format!("/scenarios/{name}"), None).await;
        assert_eq!(reply.status, 200, "{name}: {}", String::from_utf8_lossy(&reply.body));
        let report = reply.json();
        let changes = report["changes"].as_array().unwrap();
        assert!(changes.len() >= 10, "{name}: {}", changes.len());
        for change in changes {
            assert!(
                change["kind"].is_string() && change["id"].is_string() && change["op"].is_string()
            );
            assert!(change["event_id"].is_string());
        }
    }
    let logins = api.admin(Method::POST, "/scenarios/logins", None).await.json();
    assert!(
        logins["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event_type"] == "admin_login_attempt" && e["mfa"] == false)
    );
    let unknown = api.admin(Method::POST, "/scenarios/chaos", None).await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn the_risky_scenario_trips_the_rules_it_names() {
    let sim = sim().await;
    let report = sim.scenario(Scenario::Risky).unwrap();
    let changed = |kind: ResourceKind, field: &str| {
        report.changes.iter().any(|c| c.kind == kind && c.fields.iter().any(|f| f == field))
    };
    assert!(changed(ResourceKind::User, "passwordless_sudo"));
    assert!(changed(ResourceKind::User, "enable_user_portal_multifactor"));
    assert!(changed(ResourceKind::Organization, "settings.passwordPolicy.minLength"));
    assert!(changed(ResourceKind::System, "fde.active"));
    assert!(changed(ResourceKind::System, "allowSshRootLogin"));
    assert!(changed(ResourceKind::AuthnPolicy, "disabled"));
    assert!(changed(ResourceKind::IpList, "ips"));
    assert!(changed(ResourceKind::RadiusServer, "mfa"));
    assert!(
        report
            .changes
            .iter()
            .any(|c| c.kind == ResourceKind::PolicySystemGroupBinding && c.op == Op::Delete)
    );
    assert!(
        report
            .changes
            .iter()
            .any(|c| c.kind == ResourceKind::UserGroupMember && c.op == Op::Create)
    );
    // What the report says is what a client sees.
    let api = Api::new(&sim);
    let fde = report.changes.iter().find(|c| c.kind == ResourceKind::System).unwrap();
    let system = api.ok(&format!("/api/systems/{}", fde.id)).await;
    assert_eq!(system["fde"]["active"], false);
}

#[tokio::test]
async fn faults_are_set_as_json_and_typos_are_refused() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let reply = api.admin(Method::PUT, "/faults", Some(&json!({"error_rat": 0.5}))).await;
    assert_eq!(reply.status, 400);
    assert!(reply.message().contains("error_rat"), "{}", reply.message());
    let reply = api.admin(Method::PUT, "/faults", Some(&json!({"error_rate": 2}))).await;
    assert_eq!(reply.status, 400);
    let reply = api
        .admin(Method::PUT, "/faults", Some(&json!({"latency_ms": 5, "move_items": true})))
        .await;
    assert_eq!(reply.status, 200);
    let faults: Faults =
        serde_json::from_value(api.admin(Method::GET, "/faults", None).await.json()).unwrap();
    assert_eq!(
        faults,
        Faults::default().latency(std::time::Duration::from_millis(5)).move_items(true)
    );
    assert_eq!(sim.faults(), faults);
}

#[tokio::test]
async fn stats_count_routes_and_statuses_and_reset_restores_everything() {
    let sim = sim().await;
    let api = Api::new(&sim);
    api.ok("/api/systemusers").await;
    api.ok("/api/systemusers?skip=10").await;
    let group = sim.tenant(0).unwrap().resources(ResourceKind::UserGroup)[0].id.as_str().to_owned();
    api.ok(&format!("/api/v2/usergroups/{group}/members")).await;
    let _ = api.get("/api/systemusers?limit=1000").await;
    let stats = api.admin(Method::GET, "/stats", None).await.json();
    assert_eq!(stats["requests"], 4);
    assert_eq!(stats["routes"]["GET /api/systemusers"]["statuses"]["200"], 2);
    assert_eq!(stats["routes"]["GET /api/systemusers"]["statuses"]["400"], 1);
    assert_eq!(stats["routes"]["GET /api/v2/usergroups/{group_id}/members"]["requests"], 1);
    assert!(stats["bytes"].as_u64().unwrap() > 100);
    assert_eq!(sim.stats().requests, 4);

    let user = sim.tenant(0).unwrap().resources(ResourceKind::User)[0].id.clone();
    sim.apply([Mutation::delete(ResourceKind::User, user.clone())]).unwrap();
    assert_eq!(api.get(&format!("/api/systemusers/{user}")).await.status, 404);
    assert_eq!(api.admin(Method::POST, "/reset", None).await.status, 200);
    assert_eq!(api.get(&format!("/api/systemusers/{user}")).await.status, 200);
    assert_eq!(sim.stats().requests, 1);
}

#[tokio::test]
async fn a_fixed_clock_moves_only_when_advanced() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let clock = api.admin(Method::GET, "/clock", None).await.json();
    assert_eq!(clock["now"], "2026-01-01T00:00:00.000Z");
    assert_eq!(clock["fixed"], true);
    let clock = api.admin(Method::POST, "/clock", Some(&json!({"advance_s": 3600}))).await.json();
    assert_eq!(clock["now"], "2026-01-01T01:00:00.000Z");
    let reply = api.get("/api/systemusers?limit=1").await;
    assert_eq!(reply.header("date"), Some("Thu, 01 Jan 2026 01:00:00 GMT"));
    let info = api.admin(Method::GET, "/info", None).await.json();
    assert_eq!(info["orgs"][0]["counts"]["user"], 50);
}
