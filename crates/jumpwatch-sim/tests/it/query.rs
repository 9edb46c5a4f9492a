//! sort, fields and filter in the v1, v2 and System Insights dialects.

use serde_json::Value;

use crate::support::{Api, sim};

fn items(page: &Value) -> Vec<Value> {
    page.get("results").unwrap_or(page).as_array().unwrap().clone()
}

fn strings(items: &[Value], field: &str) -> Vec<String> {
    items.iter().map(|i| i[field].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn sort_is_space_separated_in_v1_and_comma_separated_in_v2() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let users = items(&api.ok("/api/systemusers?limit=100&sort=-username").await);
    let names = strings(&users, "username");
    let mut sorted = names.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(names, sorted);
    let users = items(&api.ok("/api/systemusers?limit=100&sort=department%20-username").await);
    let pairs: Vec<(String, String)> = users
        .iter()
        .map(|u| {
            (
                u["department"].as_str().unwrap().to_owned(),
                u["username"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut expected = pairs.clone();
    expected.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    assert_eq!(pairs, expected);
    let groups = items(&api.ok("/api/v2/usergroups?limit=100&sort=membershipMethod,-name").await);
    let keys: Vec<(String, String)> = groups
        .iter()
        .map(|g| {
            (
                g["membershipMethod"].as_str().unwrap().to_owned(),
                g["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut expected = keys.clone();
    expected.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    assert_eq!(keys, expected);
    let ids = strings(&items(&api.ok("/api/v2/usergroups?limit=100&sort=-id").await), "id");
    let mut expected = ids.clone();
    expected.sort();
    expected.reverse();
    assert_eq!(ids, expected);
    for (path, needle) in [
        ("/api/systemusers?sort=username,-email", "space-separated"),
        ("/api/v2/usergroups?sort=name%20-id", "comma-separated"),
    ] {
        let reply = api.get(path).await;
        assert_eq!(reply.status, 400, "{path}");
        assert!(
            reply.message().contains("\"sort\"") && reply.message().contains(needle),
            "{}",
            reply.message()
        );
    }
}

#[tokio::test]
async fn fields_project_items_and_keep_the_id() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let users = items(&api.ok("/api/systemusers?limit=3&fields=username%20mfa.configured").await);
    for user in &users {
        let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["_id", "mfa", "username"]);
        assert_eq!(user["mfa"].as_object().unwrap().len(), 1);
    }
    let groups = items(&api.ok("/api/v2/usergroups?limit=3&fields=name,attributes.sudo").await);
    for group in &groups {
        assert!(group["id"].is_string() && group["name"].is_string());
        assert!(group.get("membershipMethod").is_none());
    }
    let id = users[0]["_id"].as_str().unwrap();
    let one = api.ok(&format!("/api/systemusers/{id}?fields=email")).await;
    assert_eq!(one.as_object().unwrap().len(), 2);
}

/// One filter case: the path, and the check every returned item must pass (with the count it
/// must reach).
async fn check(api: &Api<'_>, path: &str, test: impl Fn(&Value) -> bool, at_least: usize) -> usize {
    let page = api.ok(path).await;
    let items = items(&page);
    assert!(items.len() >= at_least, "{path}: {} items", items.len());
    for item in &items {
        assert!(test(item), "{path}: {item}");
    }
    let total = page.get("totalCount").and_then(Value::as_u64).unwrap_or(items.len() as u64);
    assert_eq!(total as usize, items.len(), "{path}: total counts the filtered items");
    items.len()
}

#[tokio::test]
async fn filters_in_every_dialect() {
    let sim = sim().await;
    let api = Api::new(&sim);
    check(
        &api,
        "/api/systemusers?limit=100&filter=state:$eq:SUSPENDED",
        |u| u["state"] == "SUSPENDED",
        1,
    )
    .await;
    check(&api, "/api/systemusers?limit=100&filter=sudo:$eq:true", |u| u["sudo"] == true, 2).await;
    check(
        &api,
        "/api/systemusers?limit=100&filter=mfa.configured:$ne:true",
        |u| u["mfa"]["configured"] != true,
        2,
    )
    .await;
    check(
        &api,
        "/api/systemusers?limit=100&filter=unix_uid:$gte:5040",
        |u| u["unix_uid"].as_i64() >= Some(5040),
        5,
    )
    .await;
    check(
        &api,
        "/api/systemusers?limit=100&filter=created:$lt:2025-01-01",
        |u| u["created"].as_str() < Some("2025"),
        1,
    )
    .await;
    let both = check(
        &api,
        "/api/systemusers?limit=100&filter[0]=state:$eq:ACTIVATED&filter[1]=sudo:$eq:true",
        |u| u["state"] == "ACTIVATED" && u["sudo"] == true,
        1,
    )
    .await;
    let either = check(
        &api,
        "/api/systemusers?limit=100&filter[or][0]=state:$eq:STAGED&filter[or][1]=state:$eq:SUSPENDED",
        |u| u["state"] == "STAGED" || u["state"] == "SUSPENDED",
        4,
    )
    .await;
    assert!(both > 0 && either > 0);
    check(
        &api,
        "/api/systems?limit=100&filter=osFamily:$eq:darwin",
        |s| s["osFamily"] == "darwin",
        10,
    )
    .await;
    check(
        &api,
        "/api/v2/usergroups?limit=100&filter=attributes.sudo.enabled:eq:true",
        |g| g["attributes"]["sudo"]["enabled"] == true,
        2,
    )
    .await;
    check(
        &api,
        "/api/v2/usergroups?limit=100&filter=name:in:IT%20Admins|Break%20Glass",
        |g| g["name"] == "IT Admins" || g["name"] == "Break Glass",
        2,
    )
    .await;
    check(
        &api,
        "/api/v2/systemgroups?limit=100&filter=name:search:mac",
        |g| g["name"].as_str().unwrap().to_lowercase().contains("mac"),
        2,
    )
    .await;
    check(
        &api,
        "/api/v2/systeminsights/alf?filter=global_state:eq:0",
        |r| r["global_state"] == 0,
        1,
    )
    .await;
    let system = check(&api, "/api/v2/systeminsights/os_version?limit=1", |_| true, 1).await;
    assert_eq!(system, 1);
}

#[tokio::test]
async fn what_filters_do_not_support_is_a_clear_400() {
    let sim = sim().await;
    let api = Api::new(&sim);
    for (path, needle) in [
        ("/api/systemusers?filter=state:eq:ACTIVATED", "start with \"$\""),
        ("/api/systemusers?filter=state:$in:ACTIVATED", "unsupported operator"),
        ("/api/systemusers?filter=state", "field:$op:value"),
        ("/api/systemusers?filter[weird][0]=state:$eq:x", "filter[or][n]"),
        ("/api/v2/usergroups?filter=name:$eq:x", "no \"$\""),
        ("/api/v2/usergroups?filter=name:between:a|b", "between"),
        ("/api/v2/usergroups?filter=name:gte:a", "ge and le"),
        ("/api/v2/usergroups?filter=color:eq:red", "not a filterable field"),
        ("/api/v2/usergroups?filter[0]=name:eq:x", "repeated"),
        ("/api/v2/systeminsights/alf?filter=global_state:gt:0", "only eq and in"),
        ("/api/systemusers?search=ada", "\"search\""),
    ] {
        let reply = api.get(path).await;
        assert_eq!(reply.status, 400, "{path}");
        let message = reply.message();
        assert!(
            message.starts_with("Bad Request: ") && message.contains(needle),
            "{path}: {message}"
        );
    }
}
