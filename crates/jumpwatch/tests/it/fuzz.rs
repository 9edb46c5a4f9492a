//! The fuzz target `config` as a property in plain `cargo test` (see `docs/reliability.md`): the
//! documented configuration with a few lines changed, dropped or repeated loads, or is refused
//! with the file, a line of it and the key, and never shows a secret. Raise the number of cases
//! with `PROPTEST_CASES`.

use jumpwatch::config::Config;
use proptest::prelude::*;

/// `n` cases, or `PROPTEST_CASES` when it is set (`ProptestConfig::with_cases` alone ignores it).
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(n)
}

/// The configuration of `docs/configuration.md`, without rule files (they would be read from
/// disk).
const BASE: &str = r#"
[[tenants]]
name = "acme"
api_key = "${JUMPCLOUD_API_KEY}"
region = "us"

[[tenants]]
name = "acme-eu"
api_key = "${ACME_EU_KEY}"
region = "eu"

[poll]
interval = "5m"
jitter = 0.1
kinds = ["user", "system", "user_group", "user_group_member"]
concurrency = 8
rate_limit = 20

[store]
path = "jumpwatch.db"
retention = "365d"

[rules]
builtin = true
disabled = ["jc.user.global_sudo"]

[rules.params."jc.system.not_reporting"]
stale_device_days = 14

[[suppressions]]
rule = "jc.system.not_reporting"
resource = "lab-*"
tenant = "acme"
reason = "lab devices are off between courses"
owner = "it@example.com"
expires = "2027-03-01"

[events]
enabled = true
services = ["all"]
overlap = "5m"
backfill = "1d"

[health]
incomplete_polls = 3
rate_limited_polls = 3

[notify]
ops_receiver = "ops"

[[notify.receivers]]
name = "sec-webhook"
type = "webhook"
url = "${SEC_WEBHOOK_URL}"
secret = "${SEC_WEBHOOK_SECRET}"

[[notify.receivers]]
name = "ops"
type = "slack"
url = "${OPS_SLACK_URL}"

[[notify.routes]]
receiver = "sec-webhook"
match = { severity = ">=high" }
group_by = ["rule"]
group_wait = "0s"
"#;

const SECRETS: &[&str] = &[
    "env-key-s3cr3t",
    "eu-key-s3cr3t",
    "whsec_czNjcjN0LXNpZ25pbmcta2V5LTAxMjM0NTY3",
    "https://hooks.example.com/s3cr3t",
];

fn env(name: &str) -> Option<String> {
    match name {
        "JUMPCLOUD_API_KEY" => Some(SECRETS[0].into()),
        "ACME_EU_KEY" => Some(SECRETS[1].into()),
        "SEC_WEBHOOK_SECRET" => Some(SECRETS[2].into()),
        "SEC_WEBHOOK_URL" | "OPS_SLACK_URL" => Some(SECRETS[3].into()),
        _ => None,
    }
}

/// Values to put on the right of a `key = ...` line.
const VALUES: &[&str] = &[
    "\"\"",
    "\" \"",
    "\"acme\"",
    "\"x\"",
    "0",
    "-1",
    "1",
    "257",
    "9223372036854775807",
    "0.6",
    "-0.1",
    "nan",
    "inf",
    "true",
    "[]",
    "[\"userz\"]",
    "[\"user\", 1]",
    "{}",
    "{ severity = \"~(\" }",
    "\"5 minutes\"",
    "\"0s\"",
    "\"999999999999999999999d\"",
    "\"18446744073709551615ms\"",
    "\"1d\"",
    "\"91d\"",
    "\"2d\"",
    "\"${UNSET}\"",
    "\"${\"",
    "\"${JUMPCLOUD_API_KEY}\"",
    "\"ftp://x\"",
    "\"http://127.0.0.1:1\"",
    "\"mars\"",
    "\"2020-01-01\"",
    "\"tomorrow\"",
    "\"jc.*\"",
    "\"[\"",
    "\"sec-webhook\"",
    "\"nobody\"",
    "1979-05-27T07:32:00Z",
    "\"\\u0000\"",
    "'''a\nb'''",
];

#[derive(Debug, Clone)]
enum Edit {
    /// The value of a line changed.
    Value(prop::sample::Index, &'static str),
    /// A line dropped.
    Drop(prop::sample::Index),
    /// A line written twice.
    Repeat(prop::sample::Index),
    /// A line added with a key no table has.
    Stray(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<prop::sample::Index>(), prop::sample::select(VALUES)).prop_map(|(i, v)| Edit::Value(i, v)),
        1 => any::<prop::sample::Index>().prop_map(Edit::Drop),
        1 => any::<prop::sample::Index>().prop_map(Edit::Repeat),
        1 => any::<prop::sample::Index>().prop_map(Edit::Stray),
    ]
}

fn apply(edits: &[Edit]) -> String {
    let mut lines: Vec<String> = BASE.lines().map(str::to_owned).collect();
    for edit in edits {
        let at = |i: &prop::sample::Index| i.index(lines.len());
        match edit {
            Edit::Value(i, value) => {
                let n = at(i);
                if let Some((key, _)) = lines[n].split_once(" = ") {
                    lines[n] = format!("{key} = {value}");
                }
            }
            Edit::Drop(i) => {
                let n = at(i);
                lines.remove(n);
            }
            Edit::Repeat(i) => {
                let n = at(i);
                let line = lines[n].clone();
                lines.insert(n, line);
            }
            Edit::Stray(i) => {
                let n = at(i);
                lines.insert(n, "stray = 1".into());
            }
        }
    }
    lines.join("\n")
}

#[test]
fn the_base_configuration_loads() {
    let config = Config::parse("fuzz.toml", BASE, &env).unwrap();
    assert_eq!(config.tenants.len(), 2);
}

proptest! {
    // A configuration that loads compiles the built-in rule pack (~70 ms in debug): few cases.
    #![proptest_config(ProptestConfig::with_cases(cases(48)))]

    #[test]
    fn edited_configurations_load_or_name_the_file_line_and_key(edits in prop::collection::vec(edit(), 1..4)) {
        let text = apply(&edits);
        if let Err(error) = Config::parse("fuzz.toml", &text, &env) {
            let lines = text.lines().count() + 1;
            prop_assert_eq!(&error.file, "fuzz.toml");
            prop_assert!(error.line <= lines, "line {} of {}: {}", error.line, lines, error);
            prop_assert!(!error.message.is_empty(), "{:?}", error);
            let shown = format!("{error} {error:?}");
            prop_assert!(shown.starts_with(&format!("fuzz.toml:{}: ", error.line)), "{}", shown);
            for secret in SECRETS {
                prop_assert!(!shown.contains(secret), "a secret in {}", shown);
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,160}|\\[\\[tenants\\]\\]\nname = \"a\"\n[a-z_\\[\\]\\.]{1,12}\n[a-z_]{1,10} = [\"a-z0-9{}\\[\\], =$\n.]{0,60}") {
        if let Err(error) = Config::parse("fuzz.toml", &text, &env) {
            prop_assert!(error.line <= text.lines().count() + 1, "{}", error);
            prop_assert!(!error.message.is_empty());
        }
    }
}
