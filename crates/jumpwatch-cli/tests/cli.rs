//! The `jumpwatch` binary, run as a user would, against a mock JumpCloud on 127.0.0.1.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use mockito::{Matcher, Mock, Server, ServerGuard};
use serde_json::{Value, json};

const KEY: &str = "cli-test-key-SECRET-91";

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jumpwatch-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn jumpwatch(args: &[&str]) -> Output {
    Command::cargo_bin("jumpwatch")
        .unwrap()
        .args(args)
        .env("JUMPCLOUD_API_KEY", KEY)
        .env_remove("JUMPCLOUD_ORG_ID")
        .env_remove("JUMPWATCH_DB")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn users_mock(server: &mut ServerGuard, users: &[Value]) -> Mock {
    server
        .mock("GET", "/api/systemusers")
        .match_query(Matcher::Any)
        .match_header("x-api-key", KEY)
        .with_body(json!({"totalCount": users.len(), "results": users}).to_string())
        .create()
}

#[test]
fn kinds_lists_the_catalog() {
    let output = jumpwatch(&["kinds", "--format", "csv"]);
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    let mut reader = csv::Reader::from_reader(stdout.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(rows.len() >= 38);
    assert!(
        rows.iter()
            .any(|r| &r[0] == "user_group_member" && &r[1] == "relation" && &r[5] == "user_group")
    );
}

#[test]
fn collect_twice_around_a_change_then_query_and_changes() {
    let dir = temp("collect");
    let db = dir.join("acme.db");
    let db = db.to_str().unwrap();
    let mut server = Server::new();
    let url = server.url();
    let first = users_mock(
        &mut server,
        &[
            json!({"_id": "u1", "username": "ada", "sudo": false}),
            json!({"_id": "u2", "username": "bob"}),
        ],
    );
    let output = jumpwatch(&[
        "collect",
        "--db",
        db,
        "--base-url",
        &url,
        "--kinds",
        "user",
        "--tenant",
        "acme",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("user")
            && stdout.contains("complete")
            && stdout.contains("0 change events (1 kinds baselined)"),
        "{stdout}"
    );
    first.remove();
    let _second = users_mock(&mut server, &[json!({"_id": "u1", "username": "ada", "sudo": true})]);
    let output = jumpwatch(&[
        "collect",
        "--db",
        db,
        "--base-url",
        &url,
        "--kinds",
        "user",
        "--tenant",
        "acme",
        "-vv",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(all.contains("updated user u1 sudo") && all.contains("deleted user u2"), "{all}");
    assert!(!all.contains(KEY), "the API key leaked into the output or the -vv logs");
    assert!(text(&output.stderr).contains("jumpwatch"), "-vv logs are on stderr");

    // The changes, one line a field change.
    let output = jumpwatch(&["changes", "--db", db, "--since", "1h", "--format", "json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let changes: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let summary: Vec<(String, Value)> =
        changes.iter().map(|c| (c["op"].as_str().unwrap().to_owned(), c["path"].clone())).collect();
    assert_eq!(
        summary,
        [("updated".to_owned(), json!("sudo")), ("deleted".to_owned(), Value::Null)]
    );
    let output = jumpwatch(&["changes", "--db", db, "--kind", "user", "--id", "u1"]);
    assert!(text(&output.stdout).contains("(1 row)"), "{}", text(&output.stdout));

    // Queries in every format.
    let sql = "SELECT id, username, sudo FROM users ORDER BY id";
    let json_out: Vec<Value> =
        serde_json::from_slice(&jumpwatch(&["query", "--db", db, "--format", "json", sql]).stdout)
            .unwrap();
    assert_eq!(json_out, [json!({"id": "u1", "username": "ada", "sudo": 1})]);
    let jsonl = text(&jumpwatch(&["query", "--db", db, "--format", "jsonl", sql]).stdout);
    assert_eq!(
        serde_json::from_str::<Value>(jsonl.lines().next().unwrap()).unwrap()["username"],
        "ada"
    );
    let csv_out = text(&jumpwatch(&["query", "--db", db, "--format", "csv", sql]).stdout);
    let records: Vec<csv::StringRecord> =
        csv::Reader::from_reader(csv_out.as_bytes()).records().map(Result::unwrap).collect();
    assert_eq!(&records[0][1], "ada");
    let table = text(&jumpwatch(&["query", "--db", db, sql]).stdout);
    assert!(table.starts_with("id  username  sudo") && table.contains("(1 row)"), "{table}");
    // As it was before the second poll.
    let before = jumpwatch(&[
        "query",
        "--db",
        db,
        "--format",
        "json",
        "--as-of",
        "2000-01-01T00:00:00Z",
        "SELECT count(*) AS n FROM users",
    ]);
    assert_eq!(serde_json::from_slice::<Value>(&before.stdout).unwrap()[0]["n"], 0);
    // Writing is refused.
    let output = jumpwatch(&["query", "--db", db, "DELETE FROM resources"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("read-only"), "{}", text(&output.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_key_exits_2_and_a_failing_kind_exits_3() {
    let dir = temp("codes");
    let db = dir.join("x.db");
    let db = db.to_str().unwrap();
    let mut server = Server::new();
    let url = server.url();
    let refused = server
        .mock("GET", "/api/systemusers")
        .match_query(Matcher::Any)
        .with_status(401)
        .with_body(r#"{"message":"Unauthorized"}"#)
        .create();
    let output = jumpwatch(&["collect", "--db", db, "--base-url", &url]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("refused the credentials"), "{}", text(&output.stderr));
    refused.remove();
    let _users = users_mock(&mut server, &[json!({"_id": "u1"})]);
    let _systems = server
        .mock("GET", "/api/systems")
        .match_query(Matcher::Any)
        .with_status(403)
        .with_body(r#"{"message":"Forbidden"}"#)
        .create();
    let output = jumpwatch(&["collect", "--db", db, "--base-url", &url, "--kinds", "user,system"]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("incomplete: system:"), "{}", text(&output.stderr));
    // No key at all.
    let output = Command::cargo_bin("jumpwatch")
        .unwrap()
        .args(["collect", "--db", db])
        .env_remove("JUMPCLOUD_API_KEY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("JUMPCLOUD_API_KEY is not set"));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn write_config(dir: &std::path::Path, url: &str, interval: &str) -> PathBuf {
    let path = dir.join("jumpwatch.toml");
    let text = format!(
        "[[tenants]]\nname = \"acme\"\napi_key = \"${{JUMPCLOUD_API_KEY}}\"\nbase_url = \"{url}\"\n\n[poll]\ninterval = \"{interval}\"\nkinds = [\"user\"]\n\n[store]\npath = \"{}\"\n",
        dir.join("watch.db").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn watch_once_and_a_malformed_config() {
    let dir = temp("watch-once");
    let mut server = Server::new();
    let _users = users_mock(&mut server, &[json!({"_id": "u1"})]);
    let config = write_config(&dir, &server.url(), "5m");
    let output = jumpwatch(&["watch", "--config", config.to_str().unwrap(), "--once"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("acme: 0 change events"));

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[tenants]]\nname = \"acme\"\n\n[poll]\ninterval = \"often\"\n").unwrap();
    let output = jumpwatch(&["watch", "--config", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("bad.toml:5: poll.interval"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn sigterm_stops_watch_cleanly() {
    let dir = temp("sigterm");
    let mut server = Server::new();
    let _users = users_mock(&mut server, &[json!({"_id": "u1"})]);
    let config = write_config(&dir, &server.url(), "1s");
    let mut child = Command::cargo_bin("jumpwatch")
        .unwrap()
        .args(["watch", "--config", config.to_str().unwrap()])
        .env("JUMPCLOUD_API_KEY", KEY)
        .spawn()
        .unwrap();
    let db = dir.join("watch.db");
    // Wait (bounded) until two polls were committed.
    let mut polls = 0;
    for _ in 0..200 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if db.exists() {
            let out = jumpwatch(&[
                "query",
                "--db",
                db.to_str().unwrap(),
                "--format",
                "json",
                "SELECT count(*) AS n FROM polls",
            ]);
            polls = serde_json::from_slice::<Value>(&out.stdout)
                .map_or(0, |v| v[0]["n"].as_i64().unwrap_or(0));
            if polls >= 2 {
                break;
            }
        }
    }
    assert!(polls >= 2, "watch did not poll");
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let out = jumpwatch(&[
        "query",
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
        "SELECT count(*) AS n FROM users",
    ]);
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap()[0]["n"], 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn demo_runs_the_whole_job_and_leaves_a_database_to_query() {
    let dir = temp("demo");
    let db = dir.join("demo.db");
    let db = db.to_str().unwrap();
    for _ in 0..2 {
        // Twice: a second demo replaces the first one's database.
        let output = jumpwatch(&["demo", "--db", db, "--seed", "7"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let stdout = text(&output.stdout);
        assert!(stdout.contains("a first poll is a baseline: 0 change events"), "{stdout}");
        assert!(stdout.contains("updated  user"), "{stdout}");
        assert!(stdout.contains("jumpwatch query --db"), "{stdout}");
        assert!(stdout.contains("open findings from"), "{stdout}");
        assert!(stdout.contains("jc.user.passwordless_sudo"), "{stdout}");
        assert!(stdout.contains("jc.event.admin_login_without_mfa"), "{stdout}");
        assert!(stdout.contains(" changes attributed, from "), "{stdout}");
        let opened = number_before(&stdout, " findings opened.");
        let resolved = number_before(&stdout, " findings resolved.");
        assert!(opened >= 5 && resolved >= 4, "opened {opened}, resolved {resolved}:\n{stdout}");
    }
    let output =
        jumpwatch(&["query", "--db", db, "--format", "json", "SELECT count(*) AS n FROM polls"]);
    assert_eq!(serde_json::from_slice::<Value>(&output.stdout).unwrap()[0]["n"], 3);
    let output = jumpwatch(&["changes", "--db", db, "--kind", "user", "--format", "jsonl"]);
    let lines: Vec<Value> =
        text(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 3);
    assert!(
        lines.iter().all(|l| l["actor"].as_str().is_some_and(|a| a.contains('@'))),
        "who made each change: {lines:?}"
    );
    let output = jumpwatch(&[
        "events",
        "--db",
        db,
        "--type",
        "admin_login_attempt",
        "--since",
        "1h",
        "--format",
        "json",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let events: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "admin_login_attempt" && e["initiator"].as_str().is_some()),
        "{events}"
    );
    let admin = events[0]["initiator"].as_str().unwrap().to_owned();
    let output = jumpwatch(&[
        "events",
        "--db",
        db,
        "--initiator",
        &admin.to_uppercase(),
        "--format",
        "json",
    ]);
    let mine: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(mine.as_array().unwrap().iter().all(|e| e["initiator"] == admin.as_str()));
    let output = jumpwatch(&["events", "--db", db, "--since", "yesterday"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--since \"yesterday\""));
    // Not a Jumpwatch database: refused, untouched.
    let other = dir.join("notes.db");
    std::fs::write(&other, "my notes").unwrap();
    let output = jumpwatch(&["demo", "--db", other.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "my notes");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The number just before `suffix` in `text`.
fn number_before(text: &str, suffix: &str) -> usize {
    let end = text.find(suffix).unwrap_or_else(|| panic!("no {suffix:?} in {text}"));
    let digits: String = text[..end]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().unwrap()
}

#[test]
fn audit_rules_findings_and_suppress_on_the_demo_database() {
    let dir = temp("audit");
    let db = dir.join("demo.db");
    let db = db.to_str().unwrap();
    assert!(jumpwatch(&["demo", "--db", db]).status.success());

    // The rules.
    let output = jumpwatch(&["rules", "list", "--format", "json"]);
    let rules: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(rules.as_array().unwrap().len() >= 50, "{rules}");
    let output = jumpwatch(&["rules", "list"]);
    assert!(text(&output.stdout).lines().filter(|l| l.contains("jc.")).count() >= 50);
    let output = jumpwatch(&["rules", "show", "jc.user.mfa_not_enrolled"]);
    let shown = text(&output.stdout);
    assert!(
        output.status.success() && shown.contains("Active user has no enrolled MFA factor"),
        "{shown}"
    );
    let output = jumpwatch(&["rules", "show", "jc.nope"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("no rule \"jc.nope\""));
    let output = jumpwatch(&["rules", "test"]);
    assert!(output.status.success(), "{}", text(&output.stdout));
    assert!(text(&output.stdout).contains(" 0 failed"));

    // Rules of one's own: a failing test case exits 1, a broken rule 2 with file and line.
    let rules_dir = dir.join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    let rule = "[[rules]]\nid = \"acme.user.review\"\ntitle = \"User to review this quarter\"\nseverity = \"info\"\nkind = \"user\"\nfails = \"has(r.username)\"\nmessage = \"review {{r.username}}\"\nrationale = \"r\"\nremediation = \"f\"\n\n[[rules.tests]]\nexpect = \"fail\"\ndoc = '{\"_id\": \"u1\"}'\n";
    std::fs::write(rules_dir.join("house.toml"), rule).unwrap();
    let output = jumpwatch(&["rules", "test", rules_dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stdout).contains("FAIL")
            && text(&output.stdout).contains("expected fail, got pass")
    );
    std::fs::write(rules_dir.join("house.toml"), rule.replace("has(r.username)", "r.username =="))
        .unwrap();
    let output = jumpwatch(&["rules", "test", rules_dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("house.toml:6"), "{}", text(&output.stderr));
    std::fs::write(
        rules_dir.join("house.toml"),
        rule.replace("expect = \"fail\"", "expect = \"pass\""),
    )
    .unwrap();

    // The audit: SARIF for code scanning, a compliance summary, an exit code for CI.
    let sarif = dir.join("jumpwatch.sarif");
    let output = jumpwatch(&[
        "audit",
        "--db",
        db,
        "--rules",
        rules_dir.to_str().unwrap(),
        "--format",
        "sarif",
        "--output",
        sarif.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let log: Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert!(results.len() >= 20);
    assert!(
        results.iter().any(|r| r["ruleId"] == "acme.user.review"),
        "the --rules pack is evaluated"
    );
    let output = jumpwatch(&["audit", "--db", db, "--fail-on", "high"]);
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("jc.user.passwordless_sudo"));
    let output = jumpwatch(&["audit", "--db", db, "--compliance", "--format", "json"]);
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["frameworks"].as_array().unwrap().len(), 3);

    // Findings, and a suppression of one of them.
    let output = jumpwatch(&[
        "findings",
        "--db",
        db,
        "--state",
        "open",
        "--severity",
        "high",
        "--format",
        "json",
    ]);
    let open: Value = serde_json::from_slice(&output.stdout).unwrap();
    let open = open.as_array().unwrap();
    assert!(!open.is_empty());
    assert!(open.iter().all(|f| f["severity"] == "high" || f["severity"] == "critical"));
    let target = &open[0];
    let (rule, resource) = (target["rule"].as_str().unwrap(), target["resource"].as_str().unwrap());
    let output = jumpwatch(&[
        "suppress",
        "--db",
        db,
        rule,
        "--resource",
        resource,
        "--reason",
        "accepted for the demo",
        "--owner",
        "it@example.com",
        "--expires",
        "2099-01-01",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("covers 1 finding"), "{}", text(&output.stdout));
    assert!(jumpwatch(&["audit", "--db", db]).status.success());
    let output = jumpwatch(&["findings", "--db", db, "--state", "suppressed", "--format", "json"]);
    let suppressed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(suppressed[0]["fingerprint"], target["fingerprint"]);
    let output = jumpwatch(&[
        "suppress",
        "--db",
        db,
        rule,
        "--reason",
        "r",
        "--owner",
        "o",
        "--expires",
        "2001-01-01",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("not in the future"));
    let output = jumpwatch(&[
        "suppress",
        "--db",
        db,
        rule,
        "--reason",
        "r",
        "--owner",
        "o",
        "--expires",
        "soon",
    ]);
    assert!(text(&output.stderr).contains("--expires"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sim_serves_until_terminated() {
    let mut child = Command::cargo_bin("jumpwatch")
        .unwrap()
        .args(["sim", "--listen", "127.0.0.1:0", "--seed", "5"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    for _ in 0..4 {
        std::io::BufRead::read_line(&mut stdout, &mut banner).unwrap();
    }
    assert!(banner.contains("base URL: http://127.0.0.1:"), "{banner}");
    assert!(banner.contains("API key:"), "{banner}");
    #[cfg(unix)]
    {
        let pid = child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        assert!(child.wait().unwrap().success());
    }
    #[cfg(not(unix))]
    child.kill().unwrap();
}

#[test]
fn record_writes_anonymized_fixtures_that_load() {
    use jumpwatch::model::ResourceKind;
    let sim = jumpwatch_sim::Simulator::builder().seed(9).spawn().unwrap();
    let tenant = sim.tenant(0).unwrap();
    let dir = temp("record");
    let output = Command::cargo_bin("jumpwatch")
        .unwrap()
        .args(["record", "--out", dir.to_str().unwrap(), "--base-url", sim.base_url()])
        .env("JUMPCLOUD_API_KEY", sim.api_key())
        .env_remove("JUMPCLOUD_ORG_ID")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let recorded = jumpwatch_sim::fixtures::load(&dir).unwrap();
    for kind in [
        ResourceKind::User,
        ResourceKind::System,
        ResourceKind::UserGroupMember,
        ResourceKind::SiUsers,
    ] {
        assert_eq!(recorded.count(kind), tenant.resources(kind).len(), "{kind}");
    }
    let mut all = String::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        all.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    for user in tenant.resources(ResourceKind::User) {
        for field in ["username", "email"] {
            let original = user.doc[field].as_str().unwrap();
            assert!(!all.contains(original), "{field} {original} was recorded");
        }
    }
    for radius in tenant.resources(ResourceKind::RadiusServer) {
        let secret = radius.doc["sharedSecret"].as_str().unwrap();
        assert!(!all.contains(secret), "a RADIUS secret was recorded");
    }
    // Ids are kept, so relations still hold.
    let member = recorded.resources(ResourceKind::UserGroupMember).next().unwrap();
    assert!(recorded.get(ResourceKind::User, &member.target().unwrap()).is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}
