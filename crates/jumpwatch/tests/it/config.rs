//! Configuration: the documented shape works, and every mistake names its file, line and key.

use std::time::Duration;

use jumpwatch::config::{Config, ConfigError};
use jumpwatch_model::ResourceKind;
use secrecy::ExposeSecret;

fn env(name: &str) -> Option<String> {
    match name {
        "JUMPCLOUD_API_KEY" => Some("env-key-123".into()),
        "OTHER_KEY" => Some("other-key-456".into()),
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
fn a_missing_file_is_a_clear_error() {
    let error = Config::load("/nonexistent/jumpwatch.toml").unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent/jumpwatch.toml")
            && error.message.contains("cannot read"),
        "{error}"
    );
}
