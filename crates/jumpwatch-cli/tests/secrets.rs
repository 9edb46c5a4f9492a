//! The secrets sweep: known secret values go in — the API key, a webhook URL's token, the webhook
//! signing secret, and the secrets inside the tenant's documents (RADIUS shared secrets, SAML
//! private keys) — and none may come out anywhere: the output and the logs at the most verbose
//! level (`-vv`), the database file and its WAL, the notifications, and the errors.
//!
//! The soak (`cargo xtask soak`) checks the database and the notifications of a long run too.

#![allow(clippy::unwrap_used, missing_docs, reason = "tests fail loudly")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use jumpwatch::model::ResourceKind;
use jumpwatch_notify::channel::webhook::SigningSecret;
use jumpwatch_notify::sink::WebhookSink;
use jumpwatch_sim::{Scenario, Simulator, Size};

const KEY: &str = "sweep-api-key-SECRET-8812";
const SIGNING: &str = "whsec_U2VjcmV0U3dlZXBTaWduaW5nS2V5MjAyNg==";
const URL_TOKEN: &str = "sweep-url-token-SECRET-3141";

fn temp(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("jumpwatch-cli-secrets-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn jumpwatch(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::cargo_bin("jumpwatch").unwrap();
    command.args(args).env_remove("JUMPWATCH_DB").env_remove("RUST_LOG");
    for (name, value) in envs {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// The secrets inside a simulated tenant's documents.
fn document_secrets(sim: &Simulator) -> Vec<String> {
    let tenant = sim.tenant(0).unwrap();
    let mut secrets = Vec::new();
    for radius in tenant.resources(ResourceKind::RadiusServer) {
        secrets.extend(radius.doc["sharedSecret"].as_str().map(str::to_owned));
    }
    for app in tenant.resources(ResourceKind::Application) {
        secrets.extend(
            app.doc
                .pointer("/config/idpPrivateKey/value")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
        );
    }
    assert!(!secrets.is_empty(), "the tenant has document secrets to look for");
    secrets
}

/// Every place a secret could leak to, as text: the output, and the database and its WAL.
fn everywhere(output: &Output, db: &Path) -> Vec<(String, Vec<u8>)> {
    let mut places = vec![
        ("stdout".to_owned(), output.stdout.clone()),
        ("stderr (-vv)".to_owned(), output.stderr.clone()),
    ];
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", db.display());
        if let Ok(bytes) = std::fs::read(&path) {
            places.push((path, bytes));
        }
    }
    places
}

fn assert_absent(places: &[(String, Vec<u8>)], secrets: &[String]) {
    for (place, bytes) in places {
        for secret in secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a secret ({}…) is in {place}",
                &secret[..secret.len().min(6)]
            );
        }
    }
}

#[test]
fn the_demo_at_trace_level_leaks_no_secret() {
    // The demo's tenant: seed 42, small. The same simulator here gives its API key and secrets.
    let sim = Simulator::builder().seed(42).size(Size::Small).spawn().unwrap();
    let mut secrets = document_secrets(&sim);
    secrets.push(sim.api_key().to_owned());
    drop(sim);
    let dir = temp("demo");
    let db = dir.join("demo.db");
    let output = jumpwatch(&["-vv", "demo", "--db", db.to_str().unwrap()], &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!output.stderr.is_empty(), "-vv logs");
    let places = everywhere(&output, &db);
    assert!(places.len() >= 3, "the database was written");
    assert_absent(&places, &secrets);
    // The demo's webhook signing secret is random: no Standard Webhooks secret at all.
    assert_absent(&places, &["whsec_".to_owned()]);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn config(dir: &Path, api: &str, hook: &str) -> PathBuf {
    let path = dir.join("jumpwatch.toml");
    let text = format!(
        r#"[[tenants]]
name = "acme"
base_url = "{api}"

[store]
path = "{db}"

[notify]
backoff_base = "1s"

[[notify.receivers]]
name = "hook"
type = "webhook"
url = "{hook}?token=${{HOOK_TOKEN}}"
secret = "${{HOOK_SECRET}}"

[[notify.routes]]
receiver = "hook"
group_wait = "0s"
group_interval = "1s"
"#,
        db = dir.join("watch.db").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_at_trace_level_leaks_no_secret_to_output_store_or_notifications() {
    let sim = Simulator::builder().seed(8).api_key(KEY).start().await.unwrap();
    let mut secrets = document_secrets(&sim);
    let sink = WebhookSink::start(Some(SigningSecret::parse(SIGNING).unwrap())).await.unwrap();
    let dir = temp("watch");
    let config = config(&dir, sim.base_url(), &sink.url());
    let envs = [("JUMPCLOUD_API_KEY", KEY), ("HOOK_SECRET", SIGNING), ("HOOK_TOKEN", URL_TOKEN)];
    let run = |config: PathBuf| {
        let config = config.to_str().unwrap().to_owned();
        tokio::task::spawn_blocking(move || {
            jumpwatch(
                &["-vv", "watch", "--config", &config, "--once", "--drain-timeout", "30s"],
                &envs,
            )
        })
    };
    // A baseline, then risky changes, so that findings and changes are notified.
    let first = run(config.clone()).await.unwrap();
    assert!(first.status.success(), "{}: {}", first.status, String::from_utf8_lossy(&first.stdout));
    sim.scenario(Scenario::Risky).unwrap();
    let second = run(config.clone()).await.unwrap();
    assert!(
        second.status.success(),
        "{}: {}",
        second.status,
        String::from_utf8_lossy(&second.stdout)
    );
    let deliveries = sink.deliveries();
    assert!(!deliveries.is_empty(), "notifications were sent");
    assert!(deliveries.iter().all(|d| d.verified), "signed with the secret");

    secrets.extend([KEY, SIGNING, URL_TOKEN].map(str::to_owned));
    let db = dir.join("watch.db");
    let mut places = everywhere(&first, &db);
    places.extend(everywhere(&second, &db).into_iter().take(2));
    for delivery in &deliveries {
        places.push(("a notification".to_owned(), delivery.body.to_string().into_bytes()));
    }
    assert_absent(&places, &secrets);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn configuration_errors_name_the_place_not_the_secret() {
    let dir = temp("errors");
    let cases = [
        // A secret where a receiver type belongs.
        ("type = \"${HOOK_SECRET}\"", "type"),
        // A secret URL that is not a URL.
        ("type = \"webhook\"\nurl = \"${HOOK_SECRET}\"", "url"),
    ];
    for (receiver, key) in cases {
        let path = dir.join("bad.toml");
        std::fs::write(
            &path,
            format!(
                "[[tenants]]\nname = \"acme\"\n\n[notify]\n\n[[notify.receivers]]\nname = \"hook\"\n{receiver}\n"
            ),
        )
        .unwrap();
        let output = jumpwatch(
            &["-vv", "watch", "--config", path.to_str().unwrap(), "--once"],
            &[("JUMPCLOUD_API_KEY", KEY), ("HOOK_SECRET", "not-a-url SECRET-2718")],
        );
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("bad.toml") && stderr.contains(key), "{stderr}");
        assert_absent(
            &[("stderr".to_owned(), output.stderr.clone()), ("stdout".to_owned(), output.stdout)],
            &["SECRET-2718".to_owned(), KEY.to_owned()],
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
