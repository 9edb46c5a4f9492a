//! Misbehaviour on demand, deterministic for a seed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jumpwatch_sim::Faults;
use serde_json::Value;

use crate::support::{Api, builder, http};

#[tokio::test]
async fn latency_delays_every_api_response() {
    let sim = builder().latency(Duration::from_millis(150)).start().await.unwrap();
    let api = Api::new(&sim);
    let started = Instant::now();
    api.ok("/api/systemusers?limit=1").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(sim.stats().faults.delayed, 1);
}

#[tokio::test]
async fn server_errors_come_as_json_or_as_a_gateways_html() {
    let sim = builder().faults(Faults::default().error_rate(1.0)).start().await.unwrap();
    let api = Api::new(&sim);
    let mut seen = std::collections::BTreeSet::new();
    for skip in 0..40 {
        let reply = api.get(&format!("/api/systemusers?skip={skip}")).await;
        assert!(matches!(reply.status, 500 | 502 | 503 | 504), "{}", reply.status);
        if matches!(reply.status, 502 | 504) {
            assert_eq!(reply.header("content-type"), Some("text/html"));
        } else {
            assert!(reply.json()["message"].is_string());
        }
        seen.insert(reply.status);
    }
    assert!(seen.len() > 1);
    assert_eq!(sim.stats().faults.server_errors, 40);
}

#[tokio::test]
async fn bursts_of_429_pass_after_retries_with_retry_after() {
    let faults = Faults::default().burst_429_rate(0.5).burst_length(2).retry_after(Some(1));
    let sim = builder().faults(faults).start().await.unwrap();
    let api = Api::new(&sim);
    let mut refused = 0;
    for skip in 0..10 {
        let path = format!("/api/systemusers?limit=5&skip={skip}");
        let mut attempts = 0;
        loop {
            attempts += 1;
            let reply = api.get(&path).await;
            if reply.status == 200 {
                break;
            }
            assert_eq!(reply.status, 429);
            assert_eq!(reply.header("retry-after"), Some("1"));
            assert_eq!(reply.message(), "Too Many Requests");
            refused += 1;
            assert!(attempts < 50, "{path} never got through");
        }
    }
    assert!(refused > 0);
}

#[tokio::test]
async fn a_rate_limit_refuses_requests_over_it() {
    let sim = builder().faults(Faults::default().rate_limit_per_sec(2.0)).start().await.unwrap();
    let api = Api::new(&sim);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(api.get("/api/systemusers?limit=1").await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(sim.stats().faults.rate_limited > 0);
}

#[tokio::test]
async fn truncated_bodies_are_not_json_and_resets_break_the_connection() {
    let sim = builder().faults(Faults::default().truncate_rate(1.0)).start().await.unwrap();
    let api = Api::new(&sim);
    let reply = api.get("/api/systemusers").await;
    assert_eq!(reply.status, 200);
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
    sim.set_faults(Faults::default().reset_rate(1.0)).unwrap();
    let result = http()
        .get(format!("{}/api/systemusers?limit=100", sim.base_url()))
        .header("x-api-key", sim.api_key())
        .send()
        .await;
    let failed = match result {
        Err(_) => true,
        Ok(response) => response.bytes().await.is_err(),
    };
    assert!(failed, "the body should not arrive whole");
    assert_eq!(sim.stats().faults.resets, 1);
}

#[tokio::test]
async fn short_pages_return_fewer_items_while_more_remain() {
    let sim = builder().faults(Faults::default().short_page_rate(1.0)).start().await.unwrap();
    let api = Api::new(&sim);
    let page = api.ok("/api/systemusers?limit=20").await;
    assert_eq!(page["totalCount"], 50);
    assert!(page["results"].as_array().unwrap().len() < 20);
    // The last page is not shortened: nothing remains after it.
    let last = api.ok("/api/systemusers?limit=20&skip=40").await;
    assert_eq!(last["results"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn items_move_between_pages_unless_sorted_by_id() {
    let sim = builder().faults(Faults::default().move_items(true)).start().await.unwrap();
    let api = Api::new(&sim);
    let mut ids = Vec::new();
    for skip in (0..50).step_by(10) {
        let page = api.ok(&format!("/api/systemusers?limit=10&skip={skip}")).await;
        ids.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["_id"].as_str().unwrap().to_owned()),
        );
    }
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert!(unique.len() < 50, "the default order moved under the client");
    let mut sorted = Vec::new();
    for skip in (0..50).step_by(10) {
        let page = api.ok(&format!("/api/systemusers?limit=10&skip={skip}&sort=_id")).await;
        sorted.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["_id"].as_str().unwrap().to_owned()),
        );
    }
    let unique: std::collections::HashSet<&String> = sorted.iter().collect();
    assert_eq!(unique.len(), 50, "sorting by id is immune");
    assert!(sim.stats().faults.moved_items >= 8);
}

#[tokio::test]
async fn clock_skew_moves_the_servers_date() {
    let sim = builder().faults(Faults::default().clock_skew_s(-3600)).start().await.unwrap();
    let reply = Api::new(&sim).get("/api/systemusers?limit=1").await;
    assert_eq!(reply.header("date"), Some("Wed, 31 Dec 2025 23:00:00 GMT"));
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults_whatever_the_interleaving() {
    let faults = Faults::default().error_rate(0.3).burst_429_rate(0.1).short_page_rate(0.3);
    let paths: Vec<String> =
        (0..12).map(|i| format!("/api/systemusers?limit=5&skip={}", i * 5)).collect();
    let a = builder().faults(faults.clone()).start().await.unwrap();
    let b = builder().faults(faults).start().await.unwrap();
    let (api_a, api_b) = (Api::new(&a), Api::new(&b));
    // Each path three times in a row on one simulator...
    let mut first: HashMap<&str, Vec<(u16, Vec<u8>)>> = HashMap::new();
    for path in &paths {
        for _ in 0..3 {
            let reply = api_a.get(path).await;
            first.entry(path).or_default().push((reply.status, reply.body));
        }
    }
    // ...and interleaved the other way round on the other: attempt n of a request meets the
    // same faults.
    let mut second: HashMap<&str, Vec<(u16, Vec<u8>)>> = HashMap::new();
    for _ in 0..3 {
        for path in paths.iter().rev() {
            let reply = api_b.get(path).await;
            second.entry(path).or_default().push((reply.status, reply.body));
        }
    }
    assert_eq!(first, second);
    let statuses: Vec<u16> = first.values().flatten().map(|(s, _)| *s).collect();
    assert!(statuses.iter().any(|s| *s != 200) && statuses.contains(&200));
}
