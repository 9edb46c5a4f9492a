//! The examples, run as programs: `list_resources` against a mock JumpCloud, `changes` against
//! the simulator.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::process::Command;

/// The example's binary, built by `cargo test` beside this test's.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo test -p jumpwatch-examples`",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_every_resource_of_a_kind_as_json_lines() {
    let mut server = mockito::Server::new_async().await;
    let body = r#"{"totalCount": 2, "results": [{"_id": "u1", "username": "ada"}, {"_id": "u2", "username": "bob"}]}"#;
    let mock = server
        .mock("GET", "/api/systemusers")
        .match_header("x-api-key", "example-key")
        .match_query(mockito::Matcher::Any)
        .with_body(body)
        .create_async()
        .await;
    let url = server.url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(example("list_resources"))
            .args(["--kind", "user", "--base-url", &url])
            .env("JUMPCLOUD_API_KEY", "example-key")
            .env_remove("JUMPCLOUD_ORG_ID")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["username"], "bob");
    assert!(stderr.contains("2 items (0 skipped), 1 requests, 0 retries"), "{stderr}");
    assert!(!stderr.contains("example-key"));
    mock.assert_async().await;
}

#[test]
fn a_missing_key_is_a_clear_error() {
    let output = Command::new(example("list_resources"))
        .args(["--kind", "user", "--base-url", "http://127.0.0.1:9"])
        .env_remove("JUMPCLOUD_API_KEY")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("JUMPCLOUD_API_KEY is not set"));
}

#[test]
fn changes_prints_the_drift_of_the_simulated_tenant() {
    let output = Command::new(example("changes")).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("baseline:") && stdout.contains(", 0 events"), "{stdout}");
    let events: usize =
        stdout.lines().last().unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(events > 5, "{stdout}");
    assert!(stdout.contains("updated user"), "{stdout}");
}

#[test]
fn the_monitor_simulator_and_enrichment_examples_run() {
    let monitor = Command::new(example("monitor")).output().unwrap();
    let stdout = String::from_utf8_lossy(&monitor.stdout);
    assert!(monitor.status.success(), "{}", String::from_utf8_lossy(&monitor.stderr));
    assert!(
        stdout.contains("poll 1 committed: 0 changes") && stdout.contains("poll 2 committed"),
        "{stdout}"
    );
    assert!(stdout.contains("] user "), "the drift's user changes were seen: {stdout}");

    let tests = Command::new(example("simulator_in_tests")).output().unwrap();
    assert!(tests.status.success(), "{}", String::from_utf8_lossy(&tests.stderr));
    assert!(String::from_utf8_lossy(&tests.stdout).starts_with("ok: "));

    let enrichment = Command::new(example("enrichment")).output().unwrap();
    let stdout = String::from_utf8_lossy(&enrichment.stdout);
    assert!(enrichment.status.success(), "{}", String::from_utf8_lossy(&enrichment.stderr));
    assert!(stdout.contains("systems have an owner") && stdout.contains("@"), "{stdout}");

    let rules = Command::new(example("custom_rules")).output().unwrap();
    let stdout = String::from_utf8_lossy(&rules.stdout);
    assert!(rules.status.success(), "{}", String::from_utf8_lossy(&rules.stderr));
    assert!(
        stdout.contains("acme.system.factory_hostname")
            && stdout.contains("acme.user.contractor_on_company_devices"),
        "the native rule found something: {stdout}"
    );
    assert!(stdout.contains(" suppressed") && stdout.contains("CIS Controls v8"), "{stdout}");
}

#[test]
fn a_custom_channel_opens_one_ticket_a_rule_after_a_retry() {
    let output = Command::new(example("custom_channel")).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("baseline: ") && stdout.contains(" 1 retried"), "{stdout}");
    assert!(
        stdout.contains("\"type\":\"jumpwatch.notification\""),
        "changes printed as JSON lines: {stdout}"
    );
    let tickets: Vec<&str> = stdout.lines().filter(|l| l.starts_with("  ticket ")).collect();
    assert!(tickets.len() >= 3, "{stdout}");
    assert!(tickets.iter().all(|t| t.contains("firing")), "{stdout}");
}
