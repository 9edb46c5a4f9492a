//! Configuration: the documented shape works, and every mistake names its file, line and key.

use std::time::Duration;

use jumpwatch::config::{Config, ConfigError};
use jumpwatch_model::ResourceKind;
use secrecy::ExposeSecret;

fn env(name: &str) -> Option<String> {
    match name {
        "JUMPCLOUD_API_KEY" => Some("env-key-123".into()),
        "OTHER_KEY" => Some("other-key-456".into()),
        "SEC_WEBHOOK_URL" => Some("https://hooks.example.com/T000/B000/s3cr3t-path".into()),
        "SEC_WEBHOOK_SECRET" => Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
        "SMTP_PASSWORD" => Some("smtp-pa55word".into()),
        "PD_KEY" => Some("R0UT1NGKEY0000000000000000000000".into()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse("jumpwatch.toml", text, &env)
}

#[test]
fn the_documented_shape_works() {
    let config = parse(
        r#"
[[tenants]]
name = "acme"
api_key = "${JUMPCLOUD_API_KEY}"
base_url = "http://127.0.0.1:8089"    # or: region = "eu"
# org_id = "..."                      # multi-tenant administrators

[poll]
interval = "5m"

[store]
path = "jumpwatch.db"
"#,
    )
    .unwrap();
    assert_eq!(config.tenants[0].name, "acme");
    assert_eq!(config.tenants[0].api_key.expose_secret(), "env-key-123");
    assert_eq!(config.tenants[0].base_url.as_deref(), Some("http://127.0.0.1:8089"));
    assert_eq!(config.poll.interval, Duration::from_secs(300));
    assert_eq!(config.poll.kinds.len(), ResourceKind::ALL.len());
    assert_eq!(config.store.retention, Duration::from_secs(365 * 86_400));
    assert!(!format!("{config:?}").contains("env-key-123"), "the key leaked into Debug");
}

#[test]
fn every_key_is_read() {
    let config = parse(
        r#"
[[tenants]]
name = "eu-corp"
api_key = "${OTHER_KEY}"
region = "eu"
org_id = "5f00000000000000000000aa"

[[tenants]]
name = "env"

[poll]
interval = "90s"
jitter = 0.2
kinds = ["user", "system", "user_group_member"]
concurrency = 16
rate_limit = 20

[store]
path = "/var/lib/jumpwatch/db.sqlite"
retention = "30d"
"#,
    )
    .unwrap();
    assert_eq!(config.tenants.len(), 2);
    assert_eq!(
        config.tenants[1].api_key.expose_secret(),
        "env-key-123",
        "the environment is the default"
    );
    assert_eq!(
        config.poll.kinds,
        [ResourceKind::User, ResourceKind::System, ResourceKind::UserGroupMember]
    );
    assert_eq!(
        (config.poll.concurrency, config.poll.rate_limit, config.poll.jitter),
        (16, Some(20), 0.2)
    );
    assert_eq!(config.store.retention, Duration::from_secs(30 * 86_400));
}

#[test]
fn mistakes_name_the_file_line_and_key() {
    let cases = [
        (
            "[[tenants]]\nname = \"a\"\napi_key = \"${NOPE}\"\n",
            3,
            "tenants[0].api_key",
            "NOPE is not set",
        ),
        (
            "[[tenants]]\nname = \"a\"\n\n[poll]\ninterval = \"5 minutes\"\n",
            5,
            "poll.interval",
            "not a duration",
        ),
        (
            "[[tenants]]\nname = \"a\"\n[poll]\nkinds = [\"user\", \"users\"]\n",
            4,
            "poll.kinds",
            "unknown resource kind \"users\"",
        ),
        (
            "[[tenants]]\nname = \"a\"\nregion = \"mars\"\n",
            3,
            "tenants[0].region",
            "unknown region",
        ),
        (
            "[[tenants]]\nname = \"a\"\nbase_url = \"ftp://x\"\n",
            3,
            "tenants[0].base_url",
            "not an http(s) URL",
        ),
        ("[[tenants]]\nname = \"a\"\napi_keey = \"x\"\n", 3, "api_keey", "unknown field"),
        ("[[tenants]]\nname = \"a\"\n[[tenants]]\nname = \"a\"\n", 4, "tenants[1].name", "unique"),
        ("[poll]\ninterval = \"5m\"\n", 1, "tenants", "missing field"),
        (
            "[[tenants]]\nname = \"a\"\n[poll]\nconcurrency = 0\n",
            4,
            "poll.concurrency",
            "between 1 and 256",
        ),
        ("[[tenants]\nname = \"a\"\n", 1, "", "unclosed"),
        (
            "[[tenants]]\nname = \"a\"\n[rules]\ndisabled = [\"jc.nope\"]\n",
            4,
            "rules.disabled[0]",
            "there is no rule \"jc.nope\"",
        ),
        (
            "[[tenants]]\nname = \"a\"\n[rules.params.\"jc.system.not_reporting\"]\nstale_device_days = \"soon\"\n",
            3,
            "rules.params.\"jc.system.not_reporting\".stale_device_days",
            "not a value of its type",
        ),
        (
            "[[tenants]]\nname = \"a\"\n[rules]\npacks = [\"no/such/dir\"]\n",
            4,
            "rules.packs[0]",
            "cannot be read",
        ),
        (
            "[[tenants]]\nname = \"a\"\n[[suppressions]]\nrule = \"x\"\nreason = \"r\"\nowner = \"o\"\nexpires = \"soon\"\n",
            7,
            "suppressions[0].expires",
            "not a date",
        ),
        (
            "[[tenants]]\nname = \"a\"\n[[suppressions]]\nrule = \"x\"\nreason = \" \"\nowner = \"o\"\nexpires = \"2030-01-01\"\n",
            3,
            "suppressions[0].rule",
            "the reason must not be empty",
        ),
    ];
    for (text, line, key, message) in cases {
        let error = parse(text).unwrap_err();
        assert_eq!(error.file, "jumpwatch.toml");
        assert_eq!(error.line, line, "{error}");
        assert_eq!(error.key, key, "{error}");
        assert!(error.message.contains(message), "{error}");
        assert!(error.to_string().starts_with(&format!("jumpwatch.toml:{line}:")), "{error}");
    }
}

#[test]
fn rules_are_configured_with_packs_thresholds_and_suppressions() {
    let dir = std::env::temp_dir().join(format!("jumpwatch-config-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(
        dir.join("rules/house.toml"),
        "[[rules]]\nid = \"acme.user.no_department\"\ntitle = \"t\"\nseverity = \"low\"\nkind = \"user\"\nfails = \"!has(r.department)\"\nmessage = \"m\"\nrationale = \"r\"\nremediation = \"f\"\n",
    )
    .unwrap();
    let text = "[[tenants]]\nname = \"a\"\n[rules]\npacks = [\"rules\"]\ndisabled = [\"jc.user.global_sudo\"]\n[rules.params.\"jc.system.not_reporting\"]\nstale_device_days = 14\n[[suppressions]]\nrule = \"jc.system.*\"\nresource = \"lab-*\"\nreason = \"lab\"\nowner = \"it@example.com\"\nexpires = \"2020-01-01\"\n";
    let path = dir.join("jumpwatch.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::parse(&path.display().to_string(), text, &env).unwrap();
    let engine = &config.rules.engine;
    assert!(engine.rule("acme.user.no_department").is_some(), "packs are relative to the file");
    assert!(engine.rule("jc.user.global_sudo").is_none());
    assert_eq!(engine.rule("jc.system.not_reporting").unwrap().params["stale_device_days"], 14);
    let suppression = &config.rules.suppressions[0];
    assert_eq!(
        (suppression.rule.as_str(), suppression.resource.as_deref()),
        ("jc.system.*", Some("lab-*"))
    );
    assert!(!suppression.is_active(chrono::Utc::now()), "an expired suppression is kept, inactive");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let error = Config::load("/nonexistent/jumpwatch.toml").unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent/jumpwatch.toml")
            && error.message.contains("cannot read"),
        "{error}"
    );
}

const NOTIFY: &str = r#"
[[tenants]]
name = "acme"

[notify]
ops_receiver = "ops"

[[notify.receivers]]
name = "sec-webhook"
type = "webhook"
url = "${SEC_WEBHOOK_URL}"
secret = "${SEC_WEBHOOK_SECRET}"

[[notify.receivers]]
name = "pager"
type = "pagerduty"
routing_key = "${PD_KEY}"

[[notify.receivers]]
name = "mail"
type = "email"
host = "smtp.example.com"
username = "jumpwatch"
password = "${SMTP_PASSWORD}"
from = "jumpwatch@example.com"
to = ["secops@example.com"]

[[notify.receivers]]
name = "ops"
type = "jsonl"
path = "-"

[[notify.routes]]
receiver = "sec-webhook"
match = { severity = ">=high" }
group_by = ["rule"]
group_wait = "0s"

[[notify.routes]]
receiver = "pager"
match = { severity = "critical", type = "finding" }
continue = true

[[notify.routes]]
receiver = "mail"
match = { type = "change", kind = "=~user|system", fields = "any=~mfa.*" }
group_interval = "10m"

[[notify.inhibit]]
source = { type = "health", check = "auth" }
target = { type = "finding" }
equal = ["tenant"]

[[notify.silences]]
match = { rule = "jc.system.not_reporting" }
ends = "2099-01-01T00:00:00Z"
author = "ana@example.com"
comment = "lab devices"
"#;

#[test]
fn notifications_are_configured_and_their_secrets_kept() {
    let config = parse(NOTIFY).unwrap();
    let notify = &config.notify;
    let kinds: Vec<&str> = notify.receivers.iter().map(|r| r.channel.kind()).collect();
    assert_eq!(kinds, ["webhook", "pagerduty", "email", "jsonl"]);
    assert_eq!(notify.routes.root().routes.len(), 3);
    assert_eq!(notify.inhibitions.len(), 1);
    assert_eq!(notify.silences.len(), 1);
    assert_eq!(notify.policy.ops_receiver.as_deref(), Some("ops"));
    let debug = format!("{config:?}");
    for secret in ["s3cr3t-path", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "smtp-pa55word", "R0UT1NGKEY"]
    {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
}

#[test]
fn notification_mistakes_name_the_line_and_key() {
    let cases = [
        ("[[notify.routes]]\nreceiver = \"nobody\"\n", "notify.routes[0].receiver"),
        (
            "[[notify.receivers]]\nname = \"x\"\ntype = \"webhook\"\nurl = \"${NOT_SET}\"\n",
            "notify.receivers[0].url",
        ),
        (
            "[[notify.receivers]]\nname = \"x\"\ntype = \"webhook\"\nurl = \"ftp://x\"\n",
            "notify.receivers[0].url",
        ),
        (
            "[[notify.receivers]]\nname = \"x\"\ntype = \"webhook\"\nurl = \"https://x\"\nsecret = \"nope\"\n",
            "notify.receivers[0].secret",
        ),
        ("[notify]\nmax_age = \"forever\"\n", "notify.max_age"),
        ("[notify]\nunknown = 1\n", "unknown"),
    ];
    for (section, key) in cases {
        let text = format!("[[tenants]]\nname = \"acme\"\n\n{section}");
        let error = parse(&text).unwrap_err();
        assert_eq!(error.key, key, "{section}: {error}");
        assert_eq!(error.file, "jumpwatch.toml");
        assert!(error.line >= 4, "{section}: line {}", error.line);
        assert!(
            !error.to_string().contains("nope") || key != "notify.receivers[0].secret",
            "a secret's value is not shown: {error}"
        );
    }
}

/// The ```toml blocks of a document under `docs/`.
fn toml_blocks(doc: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs").join(doc);
    let text = std::fs::read_to_string(path).unwrap();
    text.split("```toml\n").skip(1).map(|b| b.split("```").next().unwrap().to_owned()).collect()
}

fn doc_env(name: &str) -> Option<String> {
    Some(match name {
        n if n.ends_with("_URL") => "https://hooks.example.com/T0/B0/abc".to_owned(),
        n if n.ends_with("WEBHOOK_SECRET") => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
        _ => format!("value-of-{name}"),
    })
}

#[test]
fn the_documented_examples_parse() {
    let example = toml_blocks("configuration.md").remove(0).replace("packs = [\"rules\"]", "");
    let config = Config::parse("configuration.md", &example, &doc_env).unwrap();
    assert_eq!(config.notify.receivers.len(), 2);
    assert_eq!(config.notify.routes.root().routes.len(), 2);

    let notifications =
        format!("[[tenants]]\nname = \"acme\"\n\n{}", toml_blocks("notifications.md").join("\n"));
    let config = Config::parse("notifications.md", &notifications, &doc_env).unwrap();
    let kinds: Vec<&str> = config.notify.receivers.iter().map(|r| r.channel.kind()).collect();
    assert_eq!(kinds, ["slack", "teams", "webhook", "pagerduty", "email", "jsonl"]);
    assert_eq!(config.notify.routes.root().routes.len(), 3);
    assert_eq!(config.notify.silences.len(), 1);
    assert_eq!(config.notify.inhibitions.len(), 1);

    let events =
        format!("[[tenants]]\nname = \"acme\"\n\n{}", toml_blocks("audit-events.md").join("\n"));
    let config = Config::parse("audit-events.md", &events, &doc_env).unwrap();
    let policy = config.events.unwrap();
    assert_eq!(policy.overlap, Duration::from_secs(300));
    assert_eq!(policy.backfill, Duration::from_secs(86_400));
}

#[test]
fn the_audit_log_is_read_unless_disabled_and_its_limits_are_kept() {
    let base = "[[tenants]]\nname = \"acme\"\n\n";
    assert!(parse(base).unwrap().events.is_some(), "read by default");
    assert!(parse(&format!("{base}[events]\nenabled = false\n")).unwrap().events.is_none());
    for (section, key) in [
        ("[events]\noverlap = \"2d\"\n", "events.overlap"),
        ("[events]\nbackfill = \"100d\"\n", "events.backfill"),
        ("[events]\nbackfill = \"soon\"\n", "events.backfill"),
        ("[events]\nservices = []\n", "events.services"),
    ] {
        let error = parse(&format!("{base}{section}")).unwrap_err();
        assert_eq!(error.key, key, "{section}: {error}");
    }
}

#[test]
fn health_thresholds_are_configured() {
    let base = "[[tenants]]\nname = \"acme\"\n\n";
    let config =
        parse(&format!("{base}[health]\nincomplete_polls = 5\nrate_limited_polls = 2\n")).unwrap();
    assert_eq!((config.health.incomplete_polls, config.health.rate_limited_polls), (5, 2));
    let error = parse(&format!("{base}[health]\nincomplete_polls = 0\n")).unwrap_err();
    assert_eq!((error.key.as_str(), error.line), ("health.incomplete_polls", 5));
}
