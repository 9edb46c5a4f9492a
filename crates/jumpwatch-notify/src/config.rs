//! The `[notify]` section of the configuration: receivers, the routing tree, inhibitions,
//! silences and the delivery policy. The `jumpwatch` facade reads the file; this module turns
//! the section into a [`NotifyConfig`], with errors that carry the place (a span of the file)
//! and the key.
//!
//! ```toml
//! [notify]
//! ops_receiver = "ops"
//!
//! [[notify.receivers]]
//! name = "sec-webhook"
//! type = "webhook"
//! url = "${SEC_WEBHOOK_URL}"
//! secret = "${SEC_WEBHOOK_SECRET}"
//!
//! [[notify.routes]]
//! receiver = "sec-webhook"
//! match = { severity = ">=high" }
//! group_by = ["rule"]
//! group_wait = "0s"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::channel::{self, Channel, Expand, Fields, Rate};
use crate::matcher::Matchers;
use crate::notifier::{DeliveryPolicy, Notifier, rate};
use crate::outbox::Outbox;
use crate::route::{Route, RouteTree};
use crate::silence::{Inhibition, Silence};

/// A `[notify]` section that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct NotifyConfigError {
    /// Where in the file (a byte range), when known.
    pub span: Option<Range<usize>>,
    /// The key (`notify.receivers[0].url`).
    pub key: String,
    /// What is wrong (never a secret's value).
    pub message: String,
}

fn error(
    span: Option<Range<usize>>,
    key: impl Into<String>,
    message: impl Into<String>,
) -> NotifyConfigError {
    NotifyConfigError { span, key: key.into(), message: message.into() }
}

/// The `[notify]` section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    ops_receiver: Option<Spanned<String>>,
    max_age: Option<Spanned<String>>,
    backoff_base: Option<Spanned<String>>,
    backoff_cap: Option<Spanned<String>>,
    breaker_failures: Option<Spanned<i64>>,
    breaker_cooldown: Option<Spanned<String>>,
    defaults: Option<Spanned<RawRoute>>,
    #[serde(default)]
    receivers: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    routes: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    inhibit: Vec<Spanned<RawInhibit>>,
    #[serde(default)]
    silences: Vec<Spanned<RawSilence>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    receiver: Option<String>,
    #[serde(default, rename = "match")]
    matchers: BTreeMap<String, String>,
    #[serde(default, rename = "continue")]
    continue_matching: bool,
    group_by: Option<Vec<String>>,
    group_wait: Option<String>,
    group_interval: Option<String>,
    repeat_interval: Option<String>,
    #[serde(default)]
    routes: Vec<RawRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInhibit {
    source: BTreeMap<String, String>,
    target: BTreeMap<String, String>,
    #[serde(default)]
    equal: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSilence {
    #[serde(rename = "match")]
    matchers: BTreeMap<String, String>,
    starts: Option<String>,
    ends: String,
    author: String,
    comment: String,
}

/// A configured receiver.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReceiverConfig {
    /// Its name (routes name it).
    pub name: String,
    /// Its channel.
    pub channel: Arc<dyn Channel>,
    /// Its rate limit (the channel's default unless `rate_limit` is set; 0 means none).
    pub rate: Option<Rate>,
}

impl ReceiverConfig {
    /// A receiver at its channel's default rate.
    #[must_use]
    pub fn new(name: impl Into<String>, channel: Arc<dyn Channel>) -> Self {
        let rate = channel.default_rate();
        Self { name: name.into(), channel, rate }
    }
}

/// The notifier's configuration.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct NotifyConfig {
    /// The receivers.
    pub receivers: Vec<ReceiverConfig>,
    /// The routing tree.
    pub routes: RouteTree,
    /// The inhibitions.
    pub inhibitions: Vec<Inhibition>,
    /// The silences of the file (those of `jumpwatch silence add` are in the store).
    pub silences: Vec<Silence>,
    /// Retries, dead letters, circuit breakers.
    pub policy: DeliveryPolicy,
}

impl NotifyConfig {
    /// Whether anything is configured to receive notifications.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.receivers.is_empty()
    }

    /// A receiver by name.
    #[must_use]
    pub fn receiver(&self, name: &str) -> Option<&ReceiverConfig> {
        self.receivers.iter().find(|r| r.name == name)
    }

    /// A notifier delivering `outbox` to these receivers.
    #[must_use]
    pub fn notifier(&self, outbox: Arc<dyn Outbox>) -> Notifier {
        let mut builder = Notifier::builder(outbox)
            .inhibitions(self.inhibitions.clone())
            .silences(self.silences.clone())
            .policy(self.policy.clone());
        for receiver in &self.receivers {
            builder = builder.receiver_with_rate(
                receiver.name.clone(),
                Arc::clone(&receiver.channel),
                receiver.rate,
            );
        }
        builder.build()
    }

    /// Reads a `[notify]` section; `parse_span` reads durations (`30s`), `expand` replaces
    /// `${VAR}` references, `now` dates the file's silences.
    pub fn from_raw(
        raw: RawNotify,
        expand: Expand<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, NotifyConfigError> {
        let mut config = Self::default();
        let mut names = BTreeSet::new();
        for (index, table) in raw.receivers.iter().enumerate() {
            let span = Some(table.span());
            let key = |field: &str| format!("notify.receivers[{index}].{field}");
            let receiver = receiver(table.get_ref(), expand)
                .map_err(|e| error(span.clone(), key(&e.field), e.message))?;
            if !names.insert(receiver.name.clone()) {
                return Err(error(
                    span,
                    key("name"),
                    format!("a second receiver named {:?}", receiver.name),
                ));
            }
            config.receivers.push(receiver);
        }
        let duration = |value: &Option<Spanned<String>>, key: &str, default: Duration| match value {
            Some(text) => jumpwatch_model::parse_span(text.get_ref()).ok_or_else(|| {
                error(
                    Some(text.span()),
                    key,
                    format!("{:?} is not a duration like 30s, 5m or 4h", text.get_ref()),
                )
            }),
            None => Ok(default),
        };
        let defaults = DeliveryPolicy::default();
        config.policy.max_age = duration(&raw.max_age, "notify.max_age", defaults.max_age)?;
        config.policy.backoff_base =
            duration(&raw.backoff_base, "notify.backoff_base", defaults.backoff_base)?;
        config.policy.backoff_cap =
            duration(&raw.backoff_cap, "notify.backoff_cap", defaults.backoff_cap)?;
        config.policy.breaker_cooldown =
            duration(&raw.breaker_cooldown, "notify.breaker_cooldown", defaults.breaker_cooldown)?;
        if let Some(n) = &raw.breaker_failures {
            config.policy.breaker_failures =
                u32::try_from(*n.get_ref()).ok().filter(|n| *n > 0).ok_or_else(|| {
                    error(Some(n.span()), "notify.breaker_failures", "must be a positive number")
                })?;
        }
        if let Some(ops) = &raw.ops_receiver {
            if !names.contains(ops.get_ref()) {
                return Err(error(
                    Some(ops.span()),
                    "notify.ops_receiver",
                    format!("there is no receiver named {:?}", ops.get_ref()),
                ));
            }
            config.policy.ops_receiver = Some(ops.get_ref().clone());
        }
        let mut root = match raw.defaults {
            Some(defaults) => {
                let span = defaults.span();
                route(defaults.into_inner(), "notify.defaults", &names)
                    .map_err(|(key, message)| error(Some(span), key, message))?
            }
            None => Route::default(),
        };
        if !root.routes.is_empty() {
            return Err(error(None, "notify.defaults.routes", "routes go in [[notify.routes]]"));
        }
        for (index, raw_route) in raw.routes.into_iter().enumerate() {
            let span = raw_route.span();
            let child = route(raw_route.into_inner(), &format!("notify.routes[{index}]"), &names)
                .map_err(|(key, message)| error(Some(span), key, message))?;
            root.routes.push(child);
        }
        config.routes = RouteTree::new(root);
        for (index, raw_inhibit) in raw.inhibit.iter().enumerate() {
            let span = Some(raw_inhibit.span());
            let raw_inhibit = raw_inhibit.get_ref();
            let key = |field: &str| format!("notify.inhibit[{index}].{field}");
            let source = Matchers::parse(&raw_inhibit.source)
                .map_err(|e| error(span.clone(), key("source"), e.to_string()))?;
            let target = Matchers::parse(&raw_inhibit.target)
                .map_err(|e| error(span.clone(), key("target"), e.to_string()))?;
            config.inhibitions.push(Inhibition::new(source, target, raw_inhibit.equal.clone()));
        }
        for (index, raw_silence) in raw.silences.iter().enumerate() {
            let span = Some(raw_silence.span());
            let s = raw_silence.get_ref();
            let key = |field: &str| format!("notify.silences[{index}].{field}");
            let matchers = Matchers::parse(&s.matchers)
                .map_err(|e| error(span.clone(), key("match"), e.to_string()))?;
            let time = |text: &str, field: &str| {
                chrono::DateTime::parse_from_rfc3339(text)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|e| {
                        error(
                            span.clone(),
                            key(field),
                            format!("{text:?} is not an RFC 3339 time: {e}"),
                        )
                    })
            };
            let ends = time(&s.ends, "ends")?;
            let starts = match &s.starts {
                Some(text) => time(text, "starts")?,
                None => now.min(ends - chrono::Duration::seconds(1)),
            };
            let mut silence = Silence::new(matchers, starts, ends, &s.author, &s.comment)
                .map_err(|e| error(span.clone(), key("match"), e.0))?;
            silence.id = format!("config:{index}");
            config.silences.push(silence);
        }
        Ok(config)
    }
}

fn route(
    raw: RawRoute,
    key: &str,
    receivers: &BTreeSet<String>,
) -> Result<Route, (String, String)> {
    if let Some(receiver) = raw.receiver.as_ref().filter(|r| !receivers.contains(*r)) {
        return Err((
            format!("{key}.receiver"),
            format!("there is no receiver named {receiver:?}"),
        ));
    }
    let matchers =
        Matchers::parse(&raw.matchers).map_err(|e| (format!("{key}.match"), e.to_string()))?;
    let duration = |value: &Option<String>, field: &str| match value {
        Some(text) => jumpwatch_model::parse_span(text).map(Some).ok_or_else(|| {
            (format!("{key}.{field}"), format!("{text:?} is not a duration like 30s, 5m or 4h"))
        }),
        None => Ok(None),
    };
    let mut out = Route {
        receiver: raw.receiver.clone(),
        matchers,
        continue_matching: raw.continue_matching,
        group_by: raw.group_by.clone(),
        group_wait: duration(&raw.group_wait, "group_wait")?,
        group_interval: duration(&raw.group_interval, "group_interval")?,
        repeat_interval: duration(&raw.repeat_interval, "repeat_interval")?,
        routes: Vec::new(),
    };
    if out.group_interval.is_some_and(|d| d.is_zero()) {
        return Err((format!("{key}.group_interval"), "must be more than 0s".to_owned()));
    }
    for (index, child) in raw.routes.into_iter().enumerate() {
        out.routes.push(route(child, &format!("{key}.routes[{index}]"), receivers)?);
    }
    Ok(out)
}

/// Reads one `[[notify.receivers]]` table.
fn receiver(
    table: &toml::Table,
    expand: Expand<'_>,
) -> Result<ReceiverConfig, channel::FieldError> {
    let mut fields = Fields::new(table, expand);
    let name = fields.required("name")?;
    if name.trim().is_empty() {
        return Err(channel::FieldError { field: "name".into(), message: "is empty".into() });
    }
    let kind = fields.required("type")?;
    let built = |result: Result<Arc<dyn Channel>, String>| {
        result.map_err(|message| channel::FieldError { field: "type".into(), message })
    };
    let channel: Arc<dyn Channel> = match kind.as_str() {
        "slack" => {
            let config = channel::slack::SlackConfig::from_fields(&mut fields)?;
            built(
                channel::slack::SlackChannel::new(config).map(|c| Arc::new(c) as Arc<dyn Channel>),
            )?
        }
        "teams" => {
            let config = channel::teams::TeamsConfig::from_fields(&mut fields)?;
            built(
                channel::teams::TeamsChannel::new(config).map(|c| Arc::new(c) as Arc<dyn Channel>),
            )?
        }
        "webhook" => {
            let config = channel::webhook::WebhookConfig::from_fields(&mut fields)?;
            built(
                channel::webhook::WebhookChannel::new(config)
                    .map(|c| Arc::new(c) as Arc<dyn Channel>),
            )?
        }
        "pagerduty" => {
            let config = channel::pagerduty::PagerDutyConfig::from_fields(&mut fields)?;
            built(
                channel::pagerduty::PagerDutyChannel::new(config)
                    .map(|c| Arc::new(c) as Arc<dyn Channel>),
            )?
        }
        "email" => {
            let config = channel::email::EmailConfig::from_fields(&mut fields)?;
            built(
                channel::email::EmailChannel::new(config).map(|c| Arc::new(c) as Arc<dyn Channel>),
            )?
        }
        "jsonl" => {
            let config = channel::jsonl::JsonlConfig::from_fields(&mut fields)?;
            built(
                channel::jsonl::JsonlChannel::new(config).map(|c| Arc::new(c) as Arc<dyn Channel>),
            )?
        }
        other => {
            // Shown as written: the expanded text may be an environment variable's secret.
            let written = table.get("type").and_then(toml::Value::as_str).unwrap_or(other);
            return Err(channel::FieldError {
                field: "type".into(),
                message: format!(
                    "{written:?} is not a receiver type (slack, teams, webhook, pagerduty, email, jsonl)"
                ),
            });
        }
    };
    let per_second = fields.integer("rate_limit")?;
    let burst = fields.integer("burst")?;
    fields.finish()?;
    let rate = match per_second {
        None => channel.default_rate(),
        Some(n) => {
            let n = u32::try_from(n).map_err(|_| channel::FieldError {
                field: "rate_limit".into(),
                message: "must be 0 or more messages a second".into(),
            })?;
            let burst = burst.map_or(Ok(n), u32::try_from).map_err(|_| channel::FieldError {
                field: "burst".into(),
                message: "must be 0 or more".into(),
            })?;
            rate(n, burst)
        }
    };
    Ok(ReceiverConfig { name, channel, rate })
}
