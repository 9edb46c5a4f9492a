//! x-api-key, OAuth bearer tokens, and the x-org-id rules of multi-tenant keys.

use serde_json::json;

use crate::support::{Api, builder, http, sim};

#[tokio::test]
async fn requests_without_the_key_get_jumpclouds_401() {
    let sim = sim().await;
    let client = http();
    for request in [
        client.get(format!("{}/api/systemusers", sim.base_url())),
        client.get(format!("{}/api/v2/usergroups", sim.base_url())).header("x-api-key", "wrong"),
        client.get(format!("{}/api/nothing-here", sim.base_url())),
        client
            .post(format!("{}/insights/directory/v1/events", sim.base_url()))
            .json(&json!({"service": ["all"], "start_time": "2025-12-01T00:00:00Z"})),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.text().await.unwrap(), r#"{"message":"Unauthorized"}"#);
    }
}

#[tokio::test]
async fn unknown_routes_and_ids_are_404_and_writes_are_405() {
    let sim = sim().await;
    let api = Api::new(&sim);
    for path in [
        "/api/nothing",
        "/api/systemusers/000000000000000000000000",
        "/api/v2/usergroups/nope/members",
    ] {
        let reply = api.get(path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(String::from_utf8_lossy(&reply.body), r#"{"message":"Not Found"}"#);
    }
    let reply = api
        .send(
            api.http
                .post(format!("{}/api/systemusers", sim.base_url()))
                .header("x-api-key", sim.api_key()),
        )
        .await;
    assert_eq!(reply.status, 405);
}

#[tokio::test]
async fn oauth_client_credentials_give_a_bearer_token() {
    let sim = sim().await;
    let client = http();
    let token_url = format!("{}/oauth2/token", sim.base_url());
    let response = client
        .post(&token_url)
        .basic_auth(sim.client_id(), Some(sim.client_secret()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=api")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token: serde_json::Value = response.json().await.unwrap();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    let access = token["access_token"].as_str().unwrap();
    let users = client
        .get(format!("{}/api/systemusers", sim.base_url()))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 200);
    let forged = client
        .get(format!("{}/api/systemusers", sim.base_url()))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let wrong = client
        .post(&token_url)
        .basic_auth(sim.client_id(), Some("wrong"))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let grant = client
        .post(&token_url)
        .basic_auth(sim.client_id(), Some(sim.client_secret()))
        .body("grant_type=password")
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), 400);
    assert_eq!(grant.json::<serde_json::Value>().await.unwrap()["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn single_tenant_keys_may_omit_or_send_the_org_header() {
    let sim = sim().await;
    let org = sim.org_ids()[0].clone();
    assert_eq!(Api::new(&sim).get("/api/systemusers").await.status, 200);
    assert_eq!(Api::with_org(&sim, org.as_str()).get("/api/systemusers").await.status, 200);
    let unknown = Api::with_org(&sim, "5f0901008ea20709d70f0000").get("/api/systemusers").await;
    assert_eq!(unknown.status, 404);
    let malformed = Api::with_org(&sim, "acme").get("/api/systemusers").await;
    assert_eq!(malformed.status, 400);
}

#[tokio::test]
async fn multi_tenant_keys_need_an_org_and_some_routes_refuse_it() {
    let sim = builder().orgs(3).start().await.unwrap();
    assert_eq!(sim.org_ids().len(), 3);
    let without = Api::new(&sim);
    let reply = without.get("/api/systemusers").await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        String::from_utf8_lossy(&reply.body),
        r#"{"message":"Unauthorized: no organization selected"}"#
    );
    let reply = without
        .post(
            "/insights/directory/v1/events",
            &json!({"service": ["all"], "start_time": "2025-12-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(reply.status, 401);
    // Each organization has its own tenant.
    let first = Api::with_org(&sim, sim.org_ids()[0].as_str()).ok("/api/systemusers?limit=1").await;
    let second =
        Api::with_org(&sim, sim.org_ids()[1].as_str()).ok("/api/systemusers?limit=1").await;
    assert_ne!(first["results"][0]["_id"], second["results"][0]["_id"]);
    // Routes that refuse the header: 403 with it, served without it.
    let with = Api::with_org(&sim, sim.org_ids()[0].as_str());
    for path in [
        "/api/organizations",
        "/api/users",
        "/api/v2/organizations",
        "/api/v2/providers",
        "/api/v2/administrators",
        "/api/v2/integrations",
        &format!("/api/organizations/{}", sim.org_ids()[1]),
    ] {
        let reply = with.get(path).await;
        assert_eq!(reply.status, 403, "{path}");
        assert_eq!(
            String::from_utf8_lossy(&reply.body),
            r#"{"error":"Forbidden: organization selection not allowed via header","message":"Forbidden: organization selection not allowed via header"}"#
        );
    }
    let orgs = without.ok("/api/organizations").await;
    assert_eq!(orgs["totalCount"], 3);
    assert_eq!(without.get("/api/users").await.status, 200);
    // Directory Insights takes several organizations.
    let events = without
        .send(
            without
                .http
                .post(format!("{}/insights/directory/v1/events", sim.base_url()))
                .header("x-api-key", sim.api_key())
                .header("x-org-id", sim.org_ids()[0].as_str())
                .header("x-org-id", sim.org_ids()[1].as_str())
                .json(&json!({"service": ["all"], "start_time": "2025-12-01T00:00:00Z", "limit": 10000})),
        )
        .await;
    assert_eq!(events.status, 200);
    let orgs_seen: std::collections::HashSet<String> = events
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["organization"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(orgs_seen.len(), 2);
}
