//! One-request behaviours against a mockito server on 127.0.0.1.

use std::time::Duration;

use jumpwatch_api::{Client, Error, RetryPolicy, SecretString};
use jumpwatch_model::{ResourceId, ResourceKind};
use mockito::Matcher;

fn client(server: &mockito::Server) -> Client {
    Client::builder()
        .api_key(SecretString::from("test-api-key-7f3a9c"))
        .base_url(server.url())
        .retry_policy(
            RetryPolicy::default()
                .min_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(20)),
        )
        .build()
        .unwrap()
}

const ONE_USER: &str =
    r#"{"totalCount": 1, "results": [{"_id": "64a1f0c2e4b0a1b2c3d4e5f6", "username": "ada"}]}"#;

#[tokio::test]
async fn requests_carry_the_key_json_headers_max_limit_and_sort() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("GET", "/api/systemusers")
        .match_header("x-api-key", "test-api-key-7f3a9c")
        .match_header("accept", "application/json")
        .match_header("x-org-id", Matcher::Missing)
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("limit".into(), "100".into()),
            Matcher::UrlEncoded("skip".into(), "0".into()),
            Matcher::UrlEncoded("sort".into(), "_id".into()),
            Matcher::UrlEncoded("filter".into(), "state:$eq:ACTIVATED".into()),
        ]))
        .with_body(ONE_USER)
        .create_async()
        .await;
    let listing = client(&server)
        .list(ResourceKind::User)
        .filter(jumpwatch_api::Filter::eq("state", "ACTIVATED"))
        .collect()
        .await
        .unwrap();
    assert_eq!(listing.resources[0].name.as_deref(), Some("ada"));
    mock.assert_async().await;
}

#[tokio::test]
async fn retries_429_honouring_retry_after_then_succeeds() {
    let mut server = mockito::Server::new_async().await;
    let throttled = server
        .mock("GET", "/api/systemusers")
        .match_query(Matcher::Any)
        .with_status(429)
        .with_header("retry-after", "0")
        .with_body(r#"{"message":"Too Many Requests"}"#)
        .expect(2)
        .create_async()
        .await;
    let ok = server
        .mock("GET", "/api/systemusers")
        .match_query(Matcher::Any)
        .with_body(ONE_USER)
        .create_async()
        .await;
    let client = client(&server);
    let listing = client.list(ResourceKind::User).collect().await.unwrap();
    assert_eq!(listing.resources.len(), 1);
    throttled.assert_async().await;
    ok.assert_async().await;
    let stats = client.stats();
    assert_eq!((stats.throttled, stats.retries, stats.requests), (2, 2, 3));
    assert!(client.current_concurrency() < 8, "429s lower the concurrency");
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_and_gives_up_with_rate_limited() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("GET", "/api/systemusers")
        .match_query(Matcher::Any)
        .with_status(429)
        .expect(6)
        .create_async()
        .await;
    match client(&server).list(ResourceKind::User).collect().await {
        Err(Error::RateLimited { attempts, retry_after, .. }) => {
            assert_eq!(attempts, 6);
            assert_eq!(retry_after, None);
        }
        other => panic!("{other:?}"),
    }
    mock.assert_async().await;
}

#[tokio::test]
async fn a_503_then_success() {
    let mut server = mockito::Server::new_async().await;
    let unavailable = server
        .mock("GET", "/api/v2/usergroups")
        .match_query(Matcher::Any)
        .with_status(503)
        .expect(1)
        .create_async()
        .await;
    let ok = server
        .mock("GET", "/api/v2/usergroups")
        .match_query(Matcher::Any)
        .with_header("x-total-count", "1")
        .with_body(r#"[{"id": "650000000000000000000001", "name": "admins"}]"#)
        .create_async()
        .await;
    let listing = client(&server).list(ResourceKind::UserGroup).collect().await.unwrap();
    assert_eq!(listing.resources.len(), 1);
    unavailable.assert_async().await;
    ok.assert_async().await;
}

async fn error_for(status: usize, body: &str, headers: &[(&str, &str)]) -> Error {
    let mut server = mockito::Server::new_async().await;
    let mut mock = server
        .mock("GET", "/api/systemusers")
        .match_query(Matcher::Any)
        .with_status(status)
        .with_body(body);
    for (name, value) in headers {
        mock = mock.with_header(*name, value);
    }
    let _mock = mock.create_async().await;
    client(&server).list(ResourceKind::User).collect().await.unwrap_err()
}

#[tokio::test]
async fn errors_are_told_apart_with_jumpclouds_bodies() {
    match error_for(401, r#"{"message":"Unauthorized"}"#, &[("x-request-id", "req-42")]).await {
        Error::Unauthorized(e) => {
            assert_eq!(e.status, 401);
            assert_eq!(e.request_id.as_deref(), Some("req-42"));
            assert_eq!(e.path, "/api/systemusers");
            assert!(
                e.to_string().contains("Unauthorized") && e.to_string().contains("req-42"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    match error_for(401, r#"{"message":"Unauthorized: no organization selected"}"#, &[]).await {
        Error::OrgSelection(e) => {
            assert_eq!(e.body.message.as_deref(), Some("Unauthorized: no organization selected"));
        }
        other => panic!("{other:?}"),
    }
    let refusal = r#"{"message":"Forbidden: organization selection not allowed via header","error":"Forbidden: organization selection not allowed via header"}"#;
    assert!(matches!(error_for(403, refusal, &[]).await, Error::OrgSelection(_)));
    assert!(matches!(error_for(403, r#"{"message":"Forbidden"}"#, &[]).await, Error::Forbidden(_)));
    match error_for(
        400,
        r#"{"message":"Bad Request","code":"E42","details":[{"field":"limit"}]}"#,
        &[],
    )
    .await
    {
        Error::Api(e) => {
            assert_eq!(e.body.code, Some(serde_json::json!("E42")));
            assert!(e.body.details.is_some());
        }
        other => panic!("{other:?}"),
    }
    match error_for(404, r#"{"code": 404, "message": "Not Found"}"#, &[]).await {
        Error::Api(e) => assert_eq!(e.body.code, Some(serde_json::json!(404))),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_gateway_page_and_an_empty_body_are_reported_as_such() {
    match error_for(400, "<html><body>Bad Gateway</body></html>", &[]).await {
        Error::Api(e) => assert!(e.to_string().contains("HTML"), "{e}"),
        other => panic!("{other:?}"),
    }
    match error_for(400, "", &[]).await {
        Error::Api(e) => assert!(e.to_string().contains("empty body"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_truncated_body_is_retried_and_then_reported_with_its_position() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("GET", "/api/systemusers")
        .match_query(Matcher::Any)
        .with_body(r#"{"totalCount": 2, "results": [{"_id": "a"}, {"_i"#)
        .expect(6)
        .create_async()
        .await;
    match client(&server).list(ResourceKind::User).collect().await {
        Err(Error::Decode { kind, path, message, .. }) => {
            assert_eq!(kind, Some(ResourceKind::User));
            assert!(path.starts_with("line 1 column"), "{path}");
            assert!(message.contains("ends too early"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    mock.assert_async().await;
}

#[tokio::test]
async fn one_undecodable_record_never_fails_the_page() {
    let mut server = mockito::Server::new_async().await;
    let body = r#"{"totalCount": 3, "results": [{"_id": "a1", "username": "ada"}, {"username": "no id"}, {"_id": "a3", "unix_uid": "x"}]}"#;
    let _mock = server
        .mock("GET", "/api/systemusers")
        .match_query(Matcher::Any)
        .with_body(body)
        .create_async()
        .await;
    let listing = client(&server).list(ResourceKind::User).collect().await.unwrap();
    let ids: Vec<&str> = listing.resources.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a1", "a3"]);
    assert_eq!(listing.unreadable.len(), 1);
    assert_eq!(listing.unreadable[0].index, 1);
    assert_eq!(listing.unreadable[0].raw["username"], "no id");
    assert!(listing.unreadable[0].error.to_string().contains("$._id"));
    // The typed view reports the bad field and keeps the record.
    let mut typed =
        client(&server).list(ResourceKind::User).typed::<jumpwatch_model::types::User>();
    let mut issues = Vec::new();
    while let Some(item) = futures::StreamExt::next(&mut typed).await {
        if let Ok(user) = item {
            issues.extend(user.issues.into_iter().map(|i| i.path));
        }
    }
    assert_eq!(issues, ["$.unix_uid"]);
}

#[tokio::test]
async fn org_header_is_sent_where_allowed_and_not_where_refused() {
    let mut server = mockito::Server::new_async().await;
    let users = server
        .mock("GET", "/api/systemusers")
        .match_query(Matcher::Any)
        .match_header("x-org-id", "5f00000000000000000000aa")
        .with_body(ONE_USER)
        .create_async()
        .await;
    let orgs = server
        .mock("GET", "/api/organizations")
        .match_query(Matcher::Any)
        .match_header("x-org-id", Matcher::Missing)
        .with_body(r#"{"totalCount": 1, "results": [{"_id": "5f00000000000000000000aa", "displayName": "Acme"}]}"#)
        .create_async()
        .await;
    let org = server
        .mock("GET", "/api/organizations/5f00000000000000000000aa")
        .match_header("x-org-id", Matcher::Missing)
        .with_body(r#"{"_id": "5f00000000000000000000aa", "displayName": "Acme", "settings": {"requireAdminMFA": true}}"#)
        .create_async()
        .await;
    let client = Client::builder()
        .api_key(SecretString::from("k"))
        .org_id("5f00000000000000000000aa")
        .base_url(server.url())
        .build()
        .unwrap();
    client.list(ResourceKind::User).collect().await.unwrap();
    // Organizations are listed, then each is completed by its get: both without the header.
    let listing = client.list(ResourceKind::Organization).collect().await.unwrap();
    assert_eq!(listing.resources[0].doc["settings"]["requireAdminMFA"], true);
    users.assert_async().await;
    orgs.assert_async().await;
    org.assert_async().await;
}

#[tokio::test]
async fn child_kinds_need_their_parent_and_use_it_in_the_path() {
    let mut server = mockito::Server::new_async().await;
    let members = server
        .mock("GET", "/api/v2/usergroups/650000000000000000000001/members")
        .match_query(Matcher::UrlEncoded("limit".into(), "100".into()))
        .with_header("x-total-count", "1")
        .with_body(r#"[{"to": {"id": "64a1f0c2e4b0a1b2c3d4e5f6", "type": "user"}}]"#)
        .create_async()
        .await;
    let client = client(&server);
    let group = ResourceId::new("650000000000000000000001").unwrap();
    let listing =
        client.list(ResourceKind::UserGroupMember).parent(group.clone()).collect().await.unwrap();
    assert_eq!(
        listing.resources[0].id.as_str(),
        "650000000000000000000001:64a1f0c2e4b0a1b2c3d4e5f6"
    );
    assert_eq!(listing.resources[0].parent.as_ref(), Some(&group));
    members.assert_async().await;
    assert!(matches!(
        client.list(ResourceKind::UserGroupMember).collect().await,
        Err(Error::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn associations_send_their_targets() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("GET", "/api/v2/policies/p1/associations")
        .match_query(Matcher::UrlEncoded("targets".into(), "system_group".into()))
        .with_body(r#"[{"to": {"id": "sg1", "type": "system_group"}}]"#)
        .create_async()
        .await;
    let empty = server
        .mock("GET", "/api/v2/policies/p1/associations")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("targets".into(), "system_group".into()),
            Matcher::UrlEncoded("skip".into(), "1".into()),
        ]))
        .with_body("[]")
        .create_async()
        .await;
    let listing = client(&server)
        .list(ResourceKind::PolicySystemGroupBinding)
        .parent(ResourceId::new("p1").unwrap())
        .collect()
        .await
        .unwrap();
    assert_eq!(listing.resources.len(), 1);
    mock.assert_async().await;
    empty.assert_async().await;
}

#[tokio::test]
async fn service_accounts_fetch_refresh_and_send_a_bearer_token() {
    let mut server = mockito::Server::new_async().await;
    // "client-id:client-secret-9q8w" in base64.
    let token = server
        .mock("POST", "/oauth2/token")
        .match_header("authorization", "Basic Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQtOXE4dw==")
        .match_body("grant_type=client_credentials&scope=api")
        .with_body(r#"{"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600}"#)
        .expect(2)
        .create_async()
        .await;
    let refused = server
        .mock("GET", "/api/systemusers")
        .match_query(Matcher::Any)
        .match_header("authorization", "Bearer tok-1")
        .with_status(401)
        .with_body(r#"{"message":"Unauthorized"}"#)
        .expect(2)
        .create_async()
        .await;
    let client = Client::builder()
        .service_account("client-id", SecretString::from("client-secret-9q8w"))
        .base_url(server.url())
        .build()
        .unwrap();
    // A refused token is fetched again once; refused again, the error is Unauthorized.
    assert!(matches!(client.list(ResourceKind::User).collect().await, Err(Error::Unauthorized(_))));
    token.assert_async().await;
    refused.assert_async().await;
}

#[tokio::test]
async fn a_token_is_reused_until_it_nears_expiry() {
    let mut server = mockito::Server::new_async().await;
    let token = server
        .mock("POST", "/oauth2/token")
        .with_body(r#"{"access_token": "tok-2", "expires_in": 3600}"#)
        .expect(1)
        .create_async()
        .await;
    let ok = server
        .mock("GET", "/api/systemusers")
        .match_query(Matcher::Any)
        .match_header("authorization", "Bearer tok-2")
        .with_body(ONE_USER)
        .expect(3)
        .create_async()
        .await;
    let client = Client::builder()
        .service_account("id", SecretString::from("s"))
        .base_url(server.url())
        .build()
        .unwrap();
    for _ in 0..3 {
        client.list(ResourceKind::User).collect().await.unwrap();
    }
    token.assert_async().await;
    ok.assert_async().await;
}

#[tokio::test]
async fn get_by_id_and_404() {
    let mut server = mockito::Server::new_async().await;
    let _found = server
        .mock("GET", "/api/v2/usergroups/g1")
        .with_body(r#"{"id": "g1", "name": "admins", "attributes": {"sudo": {"enabled": true}}}"#)
        .create_async()
        .await;
    let _missing = server
        .mock("GET", "/api/v2/usergroups/g2")
        .with_status(404)
        .with_body(r#"{"message":"Not Found"}"#)
        .create_async()
        .await;
    let client = client(&server);
    let group = client
        .get_typed::<jumpwatch_model::types::UserGroup>(&ResourceId::new("g1").unwrap())
        .await
        .unwrap();
    assert_eq!(group.attributes.and_then(|a| a.sudo).and_then(|s| s.enabled), Some(true));
    let error =
        client.get(ResourceKind::UserGroup, &ResourceId::new("g2").unwrap()).await.unwrap_err();
    assert_eq!(error.status(), Some(404));
}

#[tokio::test]
async fn the_builder_refuses_bad_configuration() {
    assert!(matches!(Client::builder().build(), Err(Error::Config(_))));
    let bad_url = Client::builder().api_key(SecretString::from("k")).base_url("ftp://x").build();
    assert!(matches!(bad_url, Err(Error::Config(_))));
    let bad_org = Client::builder().api_key(SecretString::from("k")).org_id("a\nb").build();
    assert!(matches!(bad_org, Err(Error::Config(_))));
}

#[tokio::test(start_paused = true)]
async fn a_token_is_refreshed_before_it_expires() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&issued);
    let stub = jumpwatch_api::transport::StubTransport::new(move |request| {
        let body = if request.uri().path() == "/oauth2/token" {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            format!(r#"{{"access_token": "tok-{n}", "expires_in": 600}}"#)
        } else {
            r#"{"totalCount": 0, "results": []}"#.to_owned()
        };
        Ok(http::Response::builder().body(bytes::Bytes::from(body)).unwrap())
    });
    let client = Client::builder()
        .service_account("id", SecretString::from("s"))
        .base_url("http://127.0.0.1:9")
        .transport(Arc::new(stub.clone()))
        .build()
        .unwrap();
    let bearer = |i: usize| {
        stub.requests()[i].headers().get("authorization").map(|v| v.to_str().unwrap().to_owned())
    };
    client.list(ResourceKind::User).collect().await.unwrap();
    assert_eq!(bearer(1).as_deref(), Some("Bearer tok-1"));
    // Still fresh after 8 minutes; replaced a minute before its 10 minutes are up.
    tokio::time::advance(Duration::from_secs(480)).await;
    client.list(ResourceKind::User).collect().await.unwrap();
    assert_eq!(bearer(2).as_deref(), Some("Bearer tok-1"));
    tokio::time::advance(Duration::from_secs(61)).await;
    client.list(ResourceKind::User).collect().await.unwrap();
    assert_eq!(bearer(4).as_deref(), Some("Bearer tok-2"));
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}
