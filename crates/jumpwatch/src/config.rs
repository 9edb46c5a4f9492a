//! [`Config`]: the TOML configuration of `jumpwatch watch` (see `docs/configuration.md`).
//!
//! Every error names the file, the line and the key. Secrets come from the environment
//! (`${JUMPCLOUD_API_KEY}`-style references) and become `SecretString`s at once.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jumpwatch_api::Region;
use jumpwatch_model::{ResourceKind, TenantId};
use jumpwatch_rules::{Engine, Suppression};
use secrecy::SecretString;
use serde::Deserialize;
use toml::Spanned;

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {key}: {message}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// The line (1-based; 0 when the error has no place).
    pub line: usize,
    /// The key (`tenants[0].api_key`, `poll.interval`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// One JumpCloud organization to watch.
#[non_exhaustive]
pub struct TenantConfig {
    /// The tenant's name in Jumpwatch (labels, the store).
    pub name: String,
    /// The API key.
    pub api_key: SecretString,
    /// The organization id, for multi-tenant administrators.
    pub org_id: Option<String>,
    /// The region.
    pub region: Region,
    /// An explicit origin (the simulator, a proxy), instead of the region's.
    pub base_url: Option<String>,
}

impl fmt::Debug for TenantConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantConfig")
            .field("name", &self.name)
            .field("api_key", &"[redacted]")
            .field("org_id", &self.org_id)
            .field("region", &self.region)
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// How often and what to poll.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PollConfig {
    /// The time between polls (default 5 minutes).
    pub interval: Duration,
    /// A random share of the interval added or removed, so many tenants do not poll in step
    /// (default 0.1).
    pub jitter: f64,
    /// The kinds to collect (default: every kind of the catalog).
    pub kinds: Vec<ResourceKind>,
    /// Requests in flight at most, a tenant (default 8).
    pub concurrency: usize,
    /// Requests a second at most, a tenant (default: no limit).
    pub rate_limit: Option<u32>,
}

/// Where the store is and how long it keeps history.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoreConfig {
    /// The SQLite file (default `jumpwatch.db`).
    pub path: PathBuf,
    /// How long versions and change events are kept (default 365 days).
    pub retention: Duration,
}

/// The rules: which, with which thresholds, and the accepted risks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RulesConfig {
    /// The rules, loaded: the built-in pack (unless `builtin = false`), the `packs`, without the
    /// `disabled` ones, with the `params` set.
    pub engine: Arc<Engine>,
    /// The `[[suppressions]]` of the file (the store keeps those made with `jumpwatch suppress`).
    pub suppressions: Vec<Suppression>,
}

/// The whole configuration.
#[derive(Debug)]
#[non_exhaustive]
pub struct Config {
    /// The tenants.
    pub tenants: Vec<TenantConfig>,
    /// Polling.
    pub poll: PollConfig,
    /// The store.
    pub store: StoreConfig,
    /// The rules.
    pub rules: RulesConfig,
    /// Receivers, routes, inhibitions and silences of notifications (empty: none are sent).
    pub notify: jumpwatch_notify::NotifyConfig,
    /// How the audit log (Directory Insights) is read; `None` when `[events] enabled = false`.
    pub events: Option<jumpwatch_changes::EventPolicy>,
    /// When collection health raises alerts.
    pub health: crate::alerts::HealthPolicy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    tenants: Spanned<Vec<RawTenant>>,
    #[serde(default)]
    poll: Option<RawPoll>,
    #[serde(default)]
    store: Option<RawStore>,
    #[serde(default)]
    rules: Option<RawRules>,
    #[serde(default)]
    suppressions: Vec<Spanned<RawSuppression>>,
    #[serde(default)]
    notify: Option<jumpwatch_notify::RawNotify>,
    #[serde(default)]
    events: Option<RawEvents>,
    #[serde(default)]
    health: Option<RawHealth>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    incomplete_polls: Option<Spanned<i64>>,
    rate_limited_polls: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvents {
    enabled: Option<bool>,
    services: Option<Vec<String>>,
    overlap: Option<Spanned<String>>,
    backfill: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    builtin: Option<bool>,
    #[serde(default)]
    packs: Vec<Spanned<String>>,
    #[serde(default)]
    disabled: Vec<Spanned<String>>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuppression {
    rule: String,
    resource: Option<String>,
    tenant: Option<String>,
    reason: String,
    owner: String,
    expires: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    name: Spanned<String>,
    api_key: Option<Spanned<String>>,
    org_id: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    base_url: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPoll {
    interval: Option<Spanned<String>>,
    jitter: Option<Spanned<f64>>,
    kinds: Option<Vec<Spanned<String>>>,
    concurrency: Option<Spanned<i64>>,
    rate_limit: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<Spanned<String>>,
    retention: Option<Spanned<String>>,
}

/// Reads a duration: `30s`, `5m`, `1h`, `365d` (a number and a unit).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(jumpwatch::config::parse_duration("5m"), Ok(Duration::from_secs(300)));
/// assert!(jumpwatch::config::parse_duration("5 minutes").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    jumpwatch_model::parse_span(text)
        .ok_or_else(|| format!("{:?} is not a duration like 30s, 5m, 1h or 7d", text.trim()))
}

/// Replaces `${VAR}` references with the environment's values.
fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| "an unclosed `${`".to_owned())?;
        let name = &after[..end];
        let value =
            env(name).ok_or_else(|| format!("the environment variable {name} is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

struct Source<'a> {
    file: String,
    text: &'a str,
}

impl Source<'_> {
    fn line(&self, span: Range<usize>) -> usize {
        self.text.get(..span.start).map_or(0, |before| before.matches('\n').count() + 1)
    }

    fn error(
        &self,
        span: Option<Range<usize>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: span.map_or(0, |s| self.line(s)),
            key: key.into(),
            message: message.into(),
        }
    }
}

impl Config {
    /// Reads a configuration file; `${VAR}` references come from the process environment.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 0,
            key: String::new(),
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(&path.display().to_string(), &text, &|name| std::env::var(name).ok())
    }

    /// Reads a configuration from text; `file` names it in errors, `env` resolves `${VAR}`.
    pub fn parse(
        file: &str,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let source = Source { file: file.to_owned(), text };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let message = e.message().to_owned();
            // serde names the field in its message (`unknown field `x``, `missing field `y``).
            let key = match message.split_once("field `") {
                Some((_, rest)) => rest.split('`').next().unwrap_or_default().to_owned(),
                None => String::new(),
            };
            source.error(e.span(), key, message)
        })?;
        let tenants_span = raw.tenants.span();
        let raw_tenants = raw.tenants.into_inner();
        if raw_tenants.is_empty() {
            return Err(source.error(
                Some(tenants_span),
                "tenants",
                "at least one [[tenants]] is needed",
            ));
        }
        let mut tenants = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for (index, tenant) in raw_tenants.into_iter().enumerate() {
            let key = |field: &str| format!("tenants[{index}].{field}");
            let name = tenant.name.get_ref().trim().to_owned();
            if name.is_empty() || !names.insert(name.clone()) {
                return Err(source.error(
                    Some(tenant.name.span()),
                    key("name"),
                    "names must be non-empty and unique",
                ));
            }
            let api_key = match &tenant.api_key {
                Some(value) => expand(value.get_ref(), env)
                    .map_err(|m| source.error(Some(value.span()), key("api_key"), m))?,
                None => env("JUMPCLOUD_API_KEY").ok_or_else(|| {
                    source.error(
                        Some(tenant.name.span()),
                        key("api_key"),
                        "no api_key, and JUMPCLOUD_API_KEY is not set",
                    )
                })?,
            };
            if api_key.trim().is_empty() {
                let span = tenant.api_key.as_ref().map(Spanned::span);
                return Err(source.error(span, key("api_key"), "the API key is empty"));
            }
            let region = match &tenant.region {
                Some(value) => value
                    .get_ref()
                    .parse::<Region>()
                    .map_err(|e| source.error(Some(value.span()), key("region"), e.to_string()))?,
                None => Region::Us,
            };
            if let (Some(region), Some(_)) = (&tenant.region, &tenant.base_url) {
                return Err(source.error(
                    Some(region.span()),
                    key("region"),
                    "give region or base_url, not both",
                ));
            }
            let base_url = match tenant.base_url {
                Some(value) => {
                    let url = expand(value.get_ref(), env)
                        .map_err(|m| source.error(Some(value.span()), key("base_url"), m))?;
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(source.error(
                            Some(value.span()),
                            key("base_url"),
                            format!("{url:?} is not an http(s) URL"),
                        ));
                    }
                    Some(url)
                }
                None => None,
            };
            let org_id = match tenant.org_id {
                Some(value) => Some(
                    expand(value.get_ref(), env)
                        .map_err(|m| source.error(Some(value.span()), key("org_id"), m))?,
                ),
                None => None,
            };
            tenants.push(TenantConfig {
                name,
                api_key: SecretString::from(api_key),
                org_id,
                region,
                base_url,
            });
        }

        let mut poll = PollConfig {
            interval: Duration::from_secs(300),
            jitter: 0.1,
            kinds: ResourceKind::ALL.to_vec(),
            concurrency: 8,
            rate_limit: None,
        };
        if let Some(raw) = raw.poll {
            if let Some(value) = raw.interval {
                poll.interval = parse_duration(value.get_ref())
                    .map_err(|m| source.error(Some(value.span()), "poll.interval", m))?;
                if poll.interval < Duration::from_secs(1) {
                    return Err(source.error(
                        Some(value.span()),
                        "poll.interval",
                        "must be at least 1s",
                    ));
                }
            }
            if let Some(value) = raw.jitter {
                if !(0.0..=0.5).contains(value.get_ref()) {
                    return Err(source.error(
                        Some(value.span()),
                        "poll.jitter",
                        "must be between 0 and 0.5",
                    ));
                }
                poll.jitter = *value.get_ref();
            }
            if let Some(kinds) = raw.kinds {
                let mut parsed = Vec::new();
                for value in kinds {
                    let kind = value.get_ref().parse::<ResourceKind>().map_err(|e| {
                        source.error(Some(value.span()), "poll.kinds", e.to_string())
                    })?;
                    parsed.push(kind);
                }
                poll.kinds = parsed;
            }
            if let Some(value) = raw.concurrency {
                poll.concurrency = usize::try_from(*value.get_ref())
                    .ok()
                    .filter(|n| (1..=256).contains(n))
                    .ok_or_else(|| {
                        source.error(
                            Some(value.span()),
                            "poll.concurrency",
                            "must be between 1 and 256",
                        )
                    })?;
            }
            if let Some(value) = raw.rate_limit {
                poll.rate_limit = Some(
                    u32::try_from(*value.get_ref()).ok().filter(|n| *n > 0).ok_or_else(|| {
                        source.error(
                            Some(value.span()),
                            "poll.rate_limit",
                            "must be a positive number of requests a second",
                        )
                    })?,
                );
            }
        }

        let mut store = StoreConfig {
            path: PathBuf::from("jumpwatch.db"),
            retention: Duration::from_secs(365 * 86_400),
        };
        if let Some(raw) = raw.store {
            if let Some(value) = raw.path {
                let path = expand(value.get_ref(), env)
                    .map_err(|m| source.error(Some(value.span()), "store.path", m))?;
                store.path = PathBuf::from(path);
            }
            if let Some(value) = raw.retention {
                store.retention = parse_duration(value.get_ref())
                    .map_err(|m| source.error(Some(value.span()), "store.retention", m))?;
            }
        }
        let rules = rules_config(&source, raw.rules, raw.suppressions, file, env)?;
        let notify = match raw.notify {
            Some(raw) => {
                let expand = |text: &str| expand(text, env);
                jumpwatch_notify::NotifyConfig::from_raw(raw, &expand, chrono::Utc::now())
                    .map_err(|e| source.error(e.span, e.key, e.message))?
            }
            None => jumpwatch_notify::NotifyConfig::default(),
        };
        let events = events_config(&source, raw.events)?;
        let mut health = crate::alerts::HealthPolicy::default();
        if let Some(raw) = raw.health {
            let polls = |value: &Spanned<i64>, key: &str| {
                u32::try_from(*value.get_ref()).ok().filter(|n| (1..=1000).contains(n)).ok_or_else(
                    || source.error(Some(value.span()), key, "must be between 1 and 1000 polls"),
                )
            };
            if let Some(value) = &raw.incomplete_polls {
                health.incomplete_polls = polls(value, "health.incomplete_polls")?;
            }
            if let Some(value) = &raw.rate_limited_polls {
                health.rate_limited_polls = polls(value, "health.rate_limited_polls")?;
            }
        }
        Ok(Self { tenants, poll, store, rules, notify, events, health })
    }
}

fn events_config(
    source: &Source<'_>,
    raw: Option<RawEvents>,
) -> Result<Option<jumpwatch_changes::EventPolicy>, ConfigError> {
    let mut policy = jumpwatch_changes::EventPolicy::default();
    let Some(raw) = raw else { return Ok(Some(policy)) };
    if raw.enabled == Some(false) {
        return Ok(None);
    }
    if let Some(services) = raw.services {
        if services.is_empty() {
            return Err(source.error(
                None,
                "events.services",
                "name at least one service, or \"all\"",
            ));
        }
        policy.services = services;
    }
    let limited = |value: &Spanned<String>, key: &str, max: Duration| {
        let duration = parse_duration(value.get_ref())
            .map_err(|m| source.error(Some(value.span()), key, m))?;
        if duration > max {
            return Err(source.error(
                Some(value.span()),
                key,
                format!("at most {} days", max.as_secs() / 86_400),
            ));
        }
        Ok(duration)
    };
    if let Some(value) = &raw.overlap {
        let max =
            jumpwatch_store::KNOWN_EVENTS_SPAN.to_std().unwrap_or(Duration::from_secs(86_400));
        policy.overlap = limited(value, "events.overlap", max)?;
    }
    if let Some(value) = &raw.backfill {
        policy.backfill =
            limited(value, "events.backfill", jumpwatch_changes::insights::RETENTION)?;
    }
    Ok(Some(policy))
}

fn rules_config(
    source: &Source<'_>,
    raw: Option<RawRules>,
    suppressions: Vec<Spanned<RawSuppression>>,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<RulesConfig, ConfigError> {
    let raw = raw.unwrap_or(RawRules {
        builtin: None,
        packs: Vec::new(),
        disabled: Vec::new(),
        params: BTreeMap::new(),
    });
    let mut engine = if raw.builtin.unwrap_or(true) {
        Engine::builtin().map_err(|e| source.error(None, "rules.builtin", e.to_string()))?
    } else {
        Engine::new()
    };
    // Relative pack paths are relative to the configuration file.
    let base = Path::new(file).parent().unwrap_or_else(|| Path::new(""));
    for (index, pack) in raw.packs.iter().enumerate() {
        let path = expand(pack.get_ref(), env)
            .map_err(|m| source.error(Some(pack.span()), format!("rules.packs[{index}]"), m))?;
        let path = base.join(path);
        engine.load_path(&path).map_err(|e| {
            source.error(Some(pack.span()), format!("rules.packs[{index}]"), e.to_string())
        })?;
    }
    for (index, id) in raw.disabled.iter().enumerate() {
        if !engine.remove(id.get_ref()) {
            return Err(source.error(
                Some(id.span()),
                format!("rules.disabled[{index}]"),
                format!("there is no rule {:?}", id.get_ref()),
            ));
        }
    }
    for (rule, table) in raw.params {
        let span = table.span();
        for (name, value) in table.into_inner() {
            engine.set_param(&rule, &name, jumpwatch_rules::pack::toml_to_json(value)).map_err(
                |m| source.error(Some(span.clone()), format!("rules.params.\"{rule}\".{name}"), m),
            )?;
        }
    }
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for (index, spanned) in suppressions.into_iter().enumerate() {
        let span = spanned.span();
        let raw = spanned.into_inner();
        let key = |field: &str| format!("suppressions[{index}].{field}");
        let expires = jumpwatch_rules::parse_expiry(raw.expires.get_ref())
            .map_err(|e| source.error(Some(raw.expires.span()), key("expires"), e.0))?;
        // A suppression in a file may have expired: it is kept, and no longer covers anything.
        let created = expires.min(now) - chrono::Duration::seconds(1);
        let mut suppression =
            Suppression::new(&raw.rule, &raw.reason, &raw.owner, expires, created)
                .map_err(|e| source.error(Some(span.clone()), key("rule"), e.0))?;
        suppression.id = format!("config:{index}");
        if let Some(resource) = &raw.resource {
            suppression = suppression.resource(resource);
        }
        if let Some(tenant) = &raw.tenant {
            let tenant = TenantId::new(tenant.as_str())
                .map_err(|e| source.error(Some(span.clone()), key("tenant"), e.to_string()))?;
            suppression = suppression.tenant(tenant);
        }
        out.push(suppression);
    }
    Ok(RulesConfig { engine: Arc::new(engine), suppressions: out })
}
