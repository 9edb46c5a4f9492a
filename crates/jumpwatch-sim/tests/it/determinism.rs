//! The same seed, size and clock give byte-identical responses.

use serde_json::json;

use crate::support::{Api, sim};

#[tokio::test]
async fn two_simulators_answer_byte_for_byte_the_same() {
    let a = sim().await;
    let b = sim().await;
    assert_eq!(a.api_key(), b.api_key());
    assert_eq!(a.org_ids(), b.org_ids());
    let (api_a, api_b) = (Api::new(&a), Api::new(&b));
    let group = a.tenant(0).unwrap().resources(jumpwatch_model::ResourceKind::UserGroup)[0]
        .id
        .as_str()
        .to_owned();
    let system = a.tenant(0).unwrap().resources(jumpwatch_model::ResourceKind::System)[0]
        .id
        .as_str()
        .to_owned();
    for path in [
        "/api/systemusers?limit=100".to_owned(),
        "/api/systems?limit=100&sort=-lastContact".to_owned(),
        "/api/organizations".to_owned(),
        "/api/v2/usergroups?limit=100".to_owned(),
        "/api/v2/policies?limit=100".to_owned(),
        "/api/v2/systeminsights/users?limit=1000".to_owned(),
        format!("/api/v2/usergroups/{group}/members"),
        format!("/api/v2/systems/{system}/users"),
    ] {
        let (x, y) = (api_a.get(&path).await, api_b.get(&path).await);
        assert_eq!(x.status, 200, "{path}");
        assert_eq!(x.body, y.body, "{path}");
        assert_eq!(x.header("date"), y.header("date"), "{path}");
    }
    let query = json!({"service": ["all"], "start_time": "2025-10-01T00:00:00Z", "limit": 10000});
    let (x, y) = (
        api_a.post("/insights/directory/v1/events", &query).await,
        api_b.post("/insights/directory/v1/events", &query).await,
    );
    assert_eq!(x.body, y.body);
    assert_eq!(x.header("x-request-id"), y.header("x-request-id"));
    // Changes made the same way are recorded the same way.
    let (x, y) = (
        a.scenario(jumpwatch_sim::Scenario::Drift).unwrap(),
        b.scenario(jumpwatch_sim::Scenario::Drift).unwrap(),
    );
    assert_eq!(x, y);
}
