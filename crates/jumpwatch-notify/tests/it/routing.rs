//! Matchers, the routing tree, inhibitions and the `[notify]` configuration.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use jumpwatch_notify::{
    Alert, AlertKind, Inhibition, Matcher, Matchers, NotifyConfig, RawNotify, Route, RouteTree,
    Severity, Status,
};

fn alert(rule: &str, severity: Severity) -> Alert {
    Alert::new(
        AlertKind::Finding,
        format!("fp-{rule}"),
        Status::Firing,
        severity,
        rule,
        Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
    )
    .label("tenant", "acme")
    .label("rule", rule)
}

fn matchers(pairs: &[(&str, &str)]) -> Matchers {
    Matchers::pairs(pairs).unwrap()
}

#[test]
fn matchers_test_labels() {
    let a = alert("jc.user.mfa", Severity::High);
    assert!(Matcher::parse("rule", "jc.user.mfa").unwrap().matches(&a));
    assert!(Matcher::parse("rule", "=jc.user.mfa").unwrap().matches(&a));
    assert!(!Matcher::parse("rule", "!=jc.user.mfa").unwrap().matches(&a));
    assert!(Matcher::parse("rule", "=~jc\\.user\\..*").unwrap().matches(&a));
    assert!(!Matcher::parse("rule", "=~user").unwrap().matches(&a), "expressions are anchored");
    assert!(Matcher::parse("rule", "!~jc\\.system\\..*").unwrap().matches(&a));
    assert!(Matcher::parse("severity", ">=medium").unwrap().matches(&a));
    assert!(Matcher::parse("severity", ">=high").unwrap().matches(&a));
    assert!(!Matcher::parse("severity", ">=critical").unwrap().matches(&a));
    assert!(Matcher::parse("missing", "").unwrap().matches(&a), "a missing label reads as empty");
    let changed = a.clone().label("fields", "totp_enabled mfa.configured");
    assert!(Matcher::parse("fields", "any=~mfa\\..*").unwrap().matches(&changed));
    assert!(
        !Matcher::parse("fields", "any=~mfa").unwrap().matches(&changed),
        "each value is matched whole"
    );
    assert!(Matcher::parse("missing", "!=x").unwrap().matches(&a));
    let bad = Matcher::parse("severity", ">=urgent").unwrap_err();
    assert!(bad.to_string().contains("severity") && bad.to_string().contains("urgent"), "{bad}");
    assert!(Matcher::parse("rule", "=~(").is_err());
}

#[test]
fn the_first_matching_route_takes_the_alert_unless_it_continues() {
    let tree = RouteTree::of(vec![
        Route::to("pager").matching(matchers(&[("severity", ">=high")])).group_by(["rule"]),
        Route::to("chat"),
    ]);
    let high = tree.destinations(&alert("jc.user.mfa", Severity::High));
    assert_eq!(high.len(), 1);
    assert_eq!(high[0].receiver, "pager");
    assert_eq!(high[0].group_key, "root.routes[0]:{rule=\"jc.user.mfa\"}");
    let low = tree.destinations(&alert("jc.user.mfa", Severity::Low));
    assert_eq!(low.len(), 1);
    assert_eq!(low[0].receiver, "chat");
    assert_eq!(
        low[0].group_labels.get("tenant").map(String::as_str),
        Some("acme"),
        "grouped by tenant and type by default"
    );

    let tree = RouteTree::of(vec![Route::to("pager").and_continue(), Route::to("chat")]);
    let both: Vec<String> =
        tree.destinations(&alert("r", Severity::Low)).into_iter().map(|d| d.receiver).collect();
    assert_eq!(both, ["pager", "chat"]);
}

#[test]
fn children_inherit_and_override() {
    let parent = Route::to("chat")
        .matching(matchers(&[("tenant", "acme")]))
        .group_by(["rule"])
        .timing(jumpwatch_notify::Timing {
            group_wait: Duration::from_secs(5),
            group_interval: Duration::from_secs(60),
            repeat_interval: Duration::from_secs(600),
        })
        .child(
            Route::inherit().wait(Duration::ZERO).matching(matchers(&[("severity", ">=critical")])),
        );
    let tree = RouteTree::of(vec![parent]);
    let critical = tree.destinations(&alert("r", Severity::Critical));
    assert_eq!(critical.len(), 1);
    assert_eq!(critical[0].receiver, "chat", "the receiver is inherited");
    assert_eq!(critical[0].timing.group_wait, Duration::ZERO, "group_wait is overridden");
    assert_eq!(
        critical[0].timing.group_interval,
        Duration::from_secs(60),
        "group_interval is inherited"
    );
    let medium = tree.destinations(&alert("r", Severity::Medium));
    assert_eq!(
        medium[0].timing.group_wait,
        Duration::from_secs(5),
        "no child matched: the parent takes it"
    );
    assert!(
        RouteTree::of(vec![Route::to("x").matching(matchers(&[("tenant", "other")]))])
            .destinations(&alert("r", Severity::High))
            .is_empty()
    );
}

#[test]
fn ungrouped_routes_give_each_alert_its_group() {
    let tree = RouteTree::of(vec![Route::to("hook").group_by(["..."])]);
    let a = tree.destinations(&alert("a", Severity::Low));
    let b = tree.destinations(&alert("b", Severity::Low));
    assert_ne!(a[0].group_key, b[0].group_key);
}

#[test]
fn inhibitions_mute_targets_while_a_source_fires() {
    let rule = Inhibition::new(
        matchers(&[("type", "health"), ("check", "auth")]),
        matchers(&[("type", "finding")]),
        vec!["tenant".into()],
    );
    let outage = Alert::new(
        AlertKind::Health,
        "auth:acme",
        Status::Firing,
        Severity::Critical,
        "auth",
        Utc::now(),
    )
    .label("tenant", "acme")
    .label("check", "auth");
    let finding = alert("jc.user.mfa", Severity::High);
    assert!(rule.mutes(&finding, std::slice::from_ref(&outage)));
    let other_tenant = finding.clone().label("tenant", "globex");
    assert!(
        !rule.mutes(&other_tenant, std::slice::from_ref(&outage)),
        "equal labels must be equal"
    );
    let resolved = outage.clone().resolved(Utc::now());
    assert!(!rule.mutes(&finding, &[resolved]), "a resolved source inhibits nothing");
    assert!(
        !rule.mutes(&outage, std::slice::from_ref(&outage)),
        "the source is not its own target"
    );
}

#[derive(serde::Deserialize)]
struct File {
    notify: RawNotify,
}

fn parse(text: &str) -> Result<NotifyConfig, jumpwatch_notify::NotifyConfigError> {
    let file: File = toml::from_str(text).unwrap();
    let env = |text: &str| -> Result<String, String> {
        Ok(text
            .replace("${SEC_WEBHOOK_URL}", "http://127.0.0.1:9/hook")
            .replace("${SEC_WEBHOOK_SECRET}", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
    };
    NotifyConfig::from_raw(file.notify, &env, Utc::now())
}

#[test]
fn the_issue_s_configuration_works() {
    let config = parse(
        r#"
[[notify.receivers]]
name = "sec-webhook"
type = "webhook"
url = "${SEC_WEBHOOK_URL}"
secret = "${SEC_WEBHOOK_SECRET}"

[[notify.routes]]
receiver = "sec-webhook"
match = { severity = ">=high" }
group_by = ["rule"]
group_wait = "0s"
"#,
    )
    .unwrap();
    assert_eq!(config.receivers.len(), 1);
    assert_eq!(config.receivers[0].channel.kind(), "webhook");
    let to = config.routes.destinations(&alert("jc.user.mfa", Severity::Critical));
    assert_eq!(to.len(), 1);
    assert_eq!(to[0].timing.group_wait, Duration::ZERO);
    assert!(config.routes.destinations(&alert("jc.user.mfa", Severity::Medium)).is_empty());
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("127.0.0.1:9") && !debug.contains("whsec_"),
        "no secret in Debug: {debug}"
    );
}

#[test]
fn configuration_errors_name_the_key() {
    let cases = [
        ("[[notify.routes]]\nreceiver = \"nobody\"\n", "notify.routes[0].receiver"),
        (
            "[[notify.receivers]]\nname = \"a\"\ntype = \"carrier-pigeon\"\n",
            "notify.receivers[0].type",
        ),
        ("[[notify.receivers]]\nname = \"a\"\ntype = \"slack\"\n", "notify.receivers[0].url"),
        (
            "[[notify.receivers]]\nname = \"a\"\ntype = \"jsonl\"\npath = \"-\"\ncolour = \"red\"\n",
            "notify.receivers[0].colour",
        ),
        (
            "[[notify.receivers]]\nname = \"a\"\ntype = \"jsonl\"\npath = \"-\"\n[[notify.routes]]\nreceiver = \"a\"\ngroup_wait = \"soon\"\n",
            "notify.routes[0].group_wait",
        ),
        (
            "[[notify.receivers]]\nname = \"a\"\ntype = \"jsonl\"\npath = \"-\"\n[[notify.routes]]\nreceiver = \"a\"\nmatch = { severity = \">=urgent\" }\n",
            "notify.routes[0].match",
        ),
        ("[notify]\nops_receiver = \"ops\"\n", "notify.ops_receiver"),
        (
            "[[notify.receivers]]\nname = \"a\"\ntype = \"jsonl\"\npath = \"-\"\n[[notify.receivers]]\nname = \"a\"\ntype = \"jsonl\"\npath = \"-\"\n",
            "notify.receivers[1].name",
        ),
    ];
    for (text, key) in cases {
        let error = parse(text).unwrap_err();
        assert_eq!(error.key, key, "{text}: {error}");
        assert!(error.span.is_some(), "{key} has a place in the file");
    }
}
