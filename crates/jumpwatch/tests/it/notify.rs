//! The Monitor notifies: against the simulator, every change and every finding at or above high
//! reaches a signed local webhook once, grouped; a quiet poll sends nothing; a fix sends the
//! resolutions; refused credentials raise a health alert; no secret reaches the store, the
//! payloads or `Debug`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use jumpwatch::alerts::{Health, HealthPolicy};
use jumpwatch::changes::{KindReport, KindStatus};
use jumpwatch::notify::channel::webhook::{SigningSecret, WebhookChannel, WebhookConfig};
use jumpwatch::notify::{
    AlertKind, Matchers, NotifyConfig, ReceiverConfig, Route, RouteTree, Status, Timing,
};
use jumpwatch::rules::{Engine, FindingState};
use jumpwatch::{Monitor, Polled};
use jumpwatch_api::{Client, SecretString};
use jumpwatch_model::{ResourceKind, TenantId};
use jumpwatch_notify::sink::WebhookSink;
use jumpwatch_sim::{Scenario, Simulator};
use jumpwatch_store::SqliteStore;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn notify_config(sink: &WebhookSink, url_token: &str) -> NotifyConfig {
    let channel = WebhookChannel::new(WebhookConfig {
        url: SecretString::from(format!("{}?token={url_token}", sink.url())),
        secret: Some(SigningSecret::parse(SECRET).unwrap()),
        github_secret: None,
        headers: Vec::new(),
    })
    .unwrap();
    let timing = Timing {
        group_wait: Duration::ZERO,
        group_interval: Duration::from_millis(200),
        repeat_interval: Duration::from_secs(3600),
    };
    let mut config = NotifyConfig::default();
    config.receivers.push(ReceiverConfig::new("hook", Arc::new(channel)));
    config.routes = RouteTree::of(vec![
        Route::to("hook")
            .matching(Matchers::pairs(&[("type", "finding"), ("severity", ">=high")]).unwrap())
            .group_by(["rule"])
            .timing(timing),
        Route::to("hook")
            .matching(Matchers::pairs(&[("type", "change")]).unwrap())
            .group_by(["kind"])
            .timing(timing),
    ]);
    config
}

async fn poll(monitor: &Monitor) -> Polled {
    monitor.poll_once().await.into_iter().next().unwrap().1.unwrap()
}

/// Every alert delivered so far: (fingerprint, status) → how many times.
fn delivered(sink: &WebhookSink) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for delivery in sink.deliveries() {
        assert!(delivery.verified, "every delivery is signed");
        for item in delivery.body["items"].as_array().unwrap() {
            let key = (
                item["fingerprint"].as_str().unwrap().to_owned(),
                item["status"].as_str().unwrap().to_owned(),
            );
            *out.entry(key).or_insert(0) += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_and_findings_reach_the_webhook_once() {
    let sim = Simulator::builder().seed(11).start().await.unwrap();
    let client = Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url())
        .build()
        .unwrap();
    let sink = WebhookSink::start(Some(SigningSecret::parse(SECRET).unwrap())).await.unwrap();
    let dir = std::env::temp_dir().join(format!("jumpwatch-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("store.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let token = "url-token-4f9c1e";
    let monitor = Monitor::builder()
        .sqlite_store(Arc::clone(&store), Duration::from_secs(86_400))
        .tenant("acme", client)
        .unwrap()
        .rules(Arc::new(Engine::builtin().unwrap()))
        .notify(notify_config(&sink, token))
        .build()
        .unwrap();

    // Baseline: no changes; every open finding at or above high, one digest a rule.
    let baseline = poll(&monitor).await;
    let drained = monitor.drain(Duration::from_secs(30)).await.unwrap().unwrap();
    assert!(drained.pending.is_empty(), "{drained:?}");
    let audit = baseline.audit.as_ref().unwrap();
    let high: BTreeSet<String> = audit
        .findings
        .in_state(FindingState::Open)
        .filter(|f| f.severity >= jumpwatch::rules::Severity::High)
        .map(|f| f.fingerprint.clone())
        .collect();
    assert!(!high.is_empty());
    let after_baseline = delivered(&sink);
    let firing: BTreeSet<String> =
        after_baseline.keys().filter(|(_, s)| s == "firing").map(|(f, _)| f.clone()).collect();
    assert_eq!(firing, high, "every high finding, and nothing else");
    let rules: BTreeSet<&str> = audit
        .findings
        .in_state(FindingState::Open)
        .filter(|f| high.contains(&f.fingerprint))
        .map(|f| f.rule.as_str())
        .collect();
    assert_eq!(sink.deliveries().len(), rules.len(), "one digest a rule");

    // Risky changes: every change event is delivered exactly once.
    sim.scenario(Scenario::Risky).unwrap();
    let second = poll(&monitor).await;
    assert!(!second.outcome.events.is_empty());
    monitor.drain(Duration::from_secs(30)).await.unwrap().unwrap();
    let counts = delivered(&sink);
    for event in &second.outcome.events {
        assert_eq!(
            counts.get(&(event.event_id.to_string(), "firing".to_owned())),
            Some(&1),
            "change {} {} {}",
            event.op,
            event.kind,
            event.resource_id
        );
    }
    assert!(counts.values().all(|n| *n == 1), "no alert twice: {counts:?}");
    let opened: Vec<_> = second
        .alerts
        .iter()
        .filter(|a| {
            a.kind == AlertKind::Finding
                && a.status == Status::Firing
                && a.severity >= jumpwatch::rules::Severity::High
        })
        .collect();
    assert!(!opened.is_empty(), "the risky scenario opens high findings");
    for alert in &opened {
        assert_eq!(alert.label_value("tenant"), "acme");
        assert!(alert.label_value("rule").starts_with("jc."), "{:?}", alert.labels);
        assert!(!alert.label_value("resource_id").is_empty());
        assert!(alert.summary.contains("Remediation:"), "{}", alert.summary);
    }
    for alert in opened {
        assert!(
            counts.contains_key(&(alert.fingerprint.clone(), "firing".to_owned())),
            "{}",
            alert.title
        );
    }

    // A quiet poll sends nothing new.
    let before = sink.deliveries().len();
    let quiet = poll(&monitor).await;
    assert!(quiet.outcome.events.is_empty());
    monitor.drain(Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(sink.deliveries().len(), before, "nothing changed, nothing is sent");

    // No secret anywhere: the store file, the payloads, Debug.
    let database = std::fs::read(&path).unwrap();
    let payloads: String = sink.deliveries().iter().map(|d| d.body.to_string()).collect();
    for secret in [sim.api_key(), token, SECRET, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] {
        assert!(
            !database.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} in the database"
        );
        assert!(!payloads.contains(secret), "{secret} in a notification");
        assert!(!format!("{monitor:?}").contains(secret));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_raise_a_health_alert() {
    let sim = Simulator::builder().seed(3).start().await.unwrap();
    let client = Client::builder()
        .api_key(SecretString::from("not-the-key".to_owned()))
        .base_url(sim.base_url())
        .build()
        .unwrap();
    let sink = WebhookSink::start(None).await.unwrap();
    let mut config = notify_config(&sink, "t");
    config.routes = RouteTree::of(vec![
        Route::to("hook").timing(Timing { group_wait: Duration::ZERO, ..Timing::default() }),
    ]);
    let monitor = Monitor::builder()
        .tenant("acme", client)
        .unwrap()
        .kinds([ResourceKind::User, ResourceKind::System])
        .notify(config)
        .build()
        .unwrap();
    let polled = poll(&monitor).await;
    let health: Vec<_> = polled.alerts.iter().filter(|a| a.kind == AlertKind::Health).collect();
    assert_eq!(health.len(), 1, "{:?}", polled.alerts);
    assert_eq!(health[0].label_value("check"), "auth");
    assert_eq!(health[0].severity, jumpwatch::rules::Severity::Critical);
    assert!(!health[0].summary.contains("not-the-key"));
}

fn report(kind: ResourceKind, status: KindStatus) -> KindReport {
    KindReport::new(kind, status, 0, Duration::ZERO)
}

#[test]
fn health_fires_after_polls_in_a_row_and_resolves_when_it_clears() {
    let tenant = TenantId::new("acme").unwrap();
    let policy = HealthPolicy::default();
    let mut health = Health::default();
    let now = chrono::Utc::now();
    let incomplete = || {
        vec![
            report(
                ResourceKind::System,
                KindStatus::Incomplete { reason: "page 3: HTTP 500".into() },
            ),
            report(ResourceKind::User, KindStatus::Complete),
        ]
    };
    assert!(health.observe(&tenant, &incomplete(), policy, &[], now).is_empty());
    assert!(health.observe(&tenant, &incomplete(), policy, &[], now).is_empty());
    let third = health.observe(&tenant, &incomplete(), policy, &[], now);
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].label_value("check"), "incomplete");
    assert_eq!(third[0].label_value("kind"), "system");
    // Still incomplete: the same alert, with its first start (so it is not enqueued again).
    let later = now + chrono::Duration::minutes(5);
    let fourth = health.observe(&tenant, &incomplete(), policy, &third, later);
    assert_eq!(fourth[0].starts_at, third[0].starts_at);
    assert_eq!(fourth[0].dedup_key(), third[0].dedup_key());
    // Complete again: it resolves.
    let fine = vec![report(ResourceKind::System, KindStatus::Complete)];
    let cleared = health.observe(&tenant, &fine, policy, &third, later);
    assert_eq!(cleared.len(), 1);
    assert_eq!(cleared[0].status, Status::Resolved);
    let rate_limited = || {
        vec![report(
            ResourceKind::User,
            KindStatus::Incomplete {
                reason: "rate limited: GET /api/systemusers answered 429 5 times".into(),
            },
        )]
    };
    let mut health = Health::default();
    for _ in 0..2 {
        assert!(
            health
                .observe(&tenant, &rate_limited(), policy, &[], now)
                .iter()
                .all(|a| a.label_value("check") != "rate_limited")
        );
    }
    let third = health.observe(&tenant, &rate_limited(), policy, &[], now);
    assert!(third.iter().any(|a| a.label_value("check") == "rate_limited"));
}

#[test]
fn an_unreadable_audit_log_fires_and_a_gap_is_a_notice() {
    use jumpwatch::changes::{Gap, InsightsCommit};
    let tenant = TenantId::new("acme").unwrap();
    let policy = HealthPolicy::default();
    let mut health = Health::default();
    let now = chrono::Utc::now();
    let mut failed = InsightsCommit::default();
    failed.error = Some("HTTP 403: forbidden".into());
    assert!(health.observe_events(&tenant, &failed, policy, &[], now).is_empty());
    assert!(health.observe_events(&tenant, &failed, policy, &[], now).is_empty());
    let third = health.observe_events(&tenant, &failed, policy, &[], now);
    assert_eq!(third.len(), 1);
    assert_eq!((third[0].kind, third[0].label_value("check")), (AlertKind::Health, "events"));
    let mut fine = InsightsCommit::default();
    fine.gap =
        Some(Gap { from: now - chrono::Duration::days(120), to: now - chrono::Duration::days(90) });
    let after = health.observe_events(&tenant, &fine, policy, &third, now);
    assert_eq!(after.len(), 2);
    assert_eq!(after[0].status, Status::Resolved, "the read works again");
    assert_eq!((after[1].kind, after[1].label_value("check")), (AlertKind::Notice, "events_gap"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finding_that_reopens_is_notified_again_and_so_is_its_second_resolution() {
    use jumpwatch::model::ResourceKind;
    use jumpwatch_sim::Mutation;
    let sim = Simulator::builder().seed(12).start().await.unwrap();
    let client = Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url())
        .build()
        .unwrap();
    let sink = WebhookSink::start(Some(SigningSecret::parse(SECRET).unwrap())).await.unwrap();
    let dir = std::env::temp_dir().join(format!("jumpwatch-reopen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(SqliteStore::open(dir.join("store.db")).unwrap());
    let monitor = Monitor::builder()
        .sqlite_store(Arc::clone(&store), Duration::from_secs(86_400))
        .tenant("acme", client)
        .unwrap()
        .rules(Arc::new(Engine::builtin().unwrap()))
        .notify(notify_config(&sink, "token"))
        .build()
        .unwrap();
    poll(&monitor).await;
    // A user without MFA, made an administrator of every device and back, three times.
    let user = sim
        .tenant(0)
        .unwrap()
        .resources(ResourceKind::User)
        .into_iter()
        .find(|u| u.doc["mfa"]["configured"] != true && u.doc["sudo"] != true)
        .unwrap()
        .id;
    let mut fingerprint = None;
    for (round, sudo) in [true, false, true, false].into_iter().enumerate() {
        sim.apply([Mutation::update(ResourceKind::User, user.clone()).set("sudo", sudo.into())])
            .unwrap();
        let polled = poll(&monitor).await;
        monitor.drain(Duration::from_secs(30)).await.unwrap().unwrap();
        if round == 0 {
            let opened = polled
                .alerts
                .iter()
                .find(|a| {
                    a.kind == AlertKind::Finding
                        && a.severity >= jumpwatch::rules::Severity::High
                        && a.label_value("resource_id") == user.as_str()
                })
                .expect("granting sudo without MFA opens a high finding");
            fingerprint = Some(opened.fingerprint.clone());
        }
    }
    let fingerprint = fingerprint.unwrap();
    let counts = delivered(&sink);
    assert_eq!(counts.get(&(fingerprint.clone(), "firing".to_owned())), Some(&2), "{counts:?}");
    assert_eq!(counts.get(&(fingerprint, "resolved".to_owned())), Some(&2), "{counts:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
