//! PagerDuty, through the [Events API v2](https://developer.pagerduty.com/docs/events-api-v2/overview).
//!
//! Each alert of a notification becomes one event, sent in the alerts' order:
//!
//! - a finding, a health condition, an audit-event hit or a notice becomes an **alert event** to
//!   `{url}/v2/enqueue`: a firing alert `trigger`s, with `dedup_key` = the alert's fingerprint
//!   (cut to 255 characters), a `payload` (`summary` = title and summary on one line, cut to
//!   1024 characters; `source`; `severity` critical → `critical`, high → `error`, medium →
//!   `warning`, low and info → `info`; `timestamp` = when it started; `component` = the `kind`
//!   label; `group` = the `tenant` label; `class` = the `rule` label or the alert's kind;
//!   `custom_details` = the labels and the evidence), its `links` and `client`; a resolved
//!   alert `resolve`s, with only the routing key, the action and the `dedup_key`;
//! - a change becomes a **change event** to `{url}/v2/change/enqueue` (change events never page;
//!   PagerDuty keeps them 90 days): a `payload` with `summary`, `source`, `timestamp` and
//!   `custom_details`, and the `links`.
//!
//! An event over 512 KB loses its evidence (replaced by a note of its size).
//!
//! PagerDuty answers 202 when it accepts an event, 400 for an invalid one (not retried), 429 and
//! 5xx to be retried; it allows about 120 events a minute per routing key: the
//! [default rate](Channel::default_rate) is two notifications a second.
//!
//! When an event fails, the send stops and returns its error; the events sent before it are not
//! remembered. Retrying the whole notification is safe for alert events, which PagerDuty
//! deduplicates on `dedup_key` (a trigger for an open alert updates it, a repeated resolve is
//! dropped); a change event has no `dedup_key`, so one sent before the failure is sent again.
//!
//! The routing key travels in the body; it is kept out of `Debug` output and errors (an error
//! message quoting it has it replaced by `[redacted]`).

use std::fmt;

use async_trait::async_trait;
use chrono::SecondsFormat;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

use super::fields::{FieldError, Fields};
use super::http;
use super::{Channel, Rate, SendError};
use crate::alert::{Alert, AlertKind, Severity, Status};
use crate::notification::Notification;

/// PagerDuty's Events API.
pub const DEFAULT_URL: &str = "https://events.pagerduty.com";
/// The `source` of events unless configured.
pub const DEFAULT_SOURCE: &str = "jumpwatch";
/// The most characters of a `dedup_key`.
pub const MAX_DEDUP_KEY_CHARS: usize = 255;
/// The most characters of a `summary`.
pub const MAX_SUMMARY_CHARS: usize = 1024;
/// The most bytes of an event.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

/// Where an event goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// Alert events: `/v2/enqueue`.
    Alert,
    /// Change events: `/v2/change/enqueue`.
    Change,
}

impl Endpoint {
    /// The path under the API's URL.
    #[must_use]
    pub const fn path(self) -> &'static str {
        match self {
            Self::Alert => "/v2/enqueue",
            Self::Change => "/v2/change/enqueue",
        }
    }
}

/// A PagerDuty receiver's configuration.
#[derive(Clone)]
pub struct PagerDutyConfig {
    /// The integration's routing key (a secret).
    pub routing_key: SecretString,
    /// The API's URL, without a trailing `/` ([`DEFAULT_URL`] unless configured).
    pub url: String,
    /// The events' `source` ([`DEFAULT_SOURCE`] unless configured).
    pub source: String,
}

impl fmt::Debug for PagerDutyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PagerDutyConfig")
            .field("routing_key", &"[redacted]")
            .field("url", &self.url)
            .field("source", &self.source)
            .finish()
    }
}

impl PagerDutyConfig {
    /// Reads `routing_key` (required, a secret), `url` (an `http://` or `https://` URL,
    /// [`DEFAULT_URL`] by default) and `source`; the caller then calls [`Fields::finish`].
    pub fn from_fields(fields: &mut Fields<'_>) -> Result<Self, FieldError> {
        let routing_key = fields.required_secret("routing_key")?;
        let url = match fields.string("url")? {
            None => DEFAULT_URL.to_owned(),
            Some(url) => {
                let url = url.trim();
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(FieldError {
                        field: "url".to_owned(),
                        message: "must be an http:// or https:// URL".to_owned(),
                    });
                }
                url.trim_end_matches('/').to_owned()
            }
        };
        let source = match fields.string("source")? {
            Some(source) if source.trim().is_empty() => {
                return Err(FieldError {
                    field: "source".to_owned(),
                    message: "is empty".to_owned(),
                });
            }
            Some(source) => source.trim().to_owned(),
            None => DEFAULT_SOURCE.to_owned(),
        };
        Ok(Self { routing_key, url, source })
    }
}

/// The events for `notification`, in order, each with where it goes (see the
/// [module](self)). The bodies carry the routing key: do not log them.
#[must_use]
pub fn encode(notification: &Notification, config: &PagerDutyConfig) -> Vec<(Endpoint, Value)> {
    let key = config.routing_key.expose_secret();
    // A test (`jumpwatch notify test`) goes to the change timeline: it proves the key works
    // without paging anyone or leaving an incident open.
    let test = notification.reason == crate::notification::Reason::Test;
    notification
        .alerts
        .iter()
        .map(|alert| match alert.kind {
            _ if test => (Endpoint::Change, change_event(alert, key, &config.source)),
            AlertKind::Change => (Endpoint::Change, change_event(alert, key, &config.source)),
            AlertKind::Finding | AlertKind::Health | AlertKind::Event | AlertKind::Notice => {
                (Endpoint::Alert, alert_event(alert, key, &config.source))
            }
        })
        .collect()
}

/// A trigger or resolve event.
fn alert_event(alert: &Alert, key: &str, source: &str) -> Value {
    let dedup_key = truncate(&alert.fingerprint, MAX_DEDUP_KEY_CHARS);
    if alert.status == Status::Resolved {
        return json!({ "routing_key": key, "event_action": "resolve", "dedup_key": dedup_key });
    }
    let mut payload = Map::new();
    payload.insert("summary".to_owned(), json!(summary(alert)));
    payload.insert("source".to_owned(), json!(source));
    payload.insert("severity".to_owned(), json!(severity(alert.severity)));
    payload.insert("timestamp".to_owned(), json!(timestamp(alert)));
    for (field, label) in [("component", "kind"), ("group", "tenant")] {
        let value = alert.label_value(label);
        if !value.is_empty() {
            payload.insert(field.to_owned(), json!(value));
        }
    }
    let class = match alert.label_value("rule") {
        "" => alert.kind.as_str(),
        rule => rule,
    };
    payload.insert("class".to_owned(), json!(class));
    payload.insert("custom_details".to_owned(), details(alert));
    let mut event = json!({
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": payload,
        "client": "Jumpwatch",
    });
    if !alert.links.is_empty() {
        event["links"] = links(alert);
    }
    fit(event, alert)
}

/// A change event.
fn change_event(alert: &Alert, key: &str, source: &str) -> Value {
    let mut event = json!({
        "routing_key": key,
        "payload": {
            "summary": summary(alert),
            "source": source,
            "timestamp": timestamp(alert),
            "custom_details": details(alert),
        },
    });
    if !alert.links.is_empty() {
        event["links"] = links(alert);
    }
    fit(event, alert)
}

/// `event`, its evidence replaced by a note when it is over [`MAX_EVENT_BYTES`].
fn fit(mut event: Value, alert: &Alert) -> Value {
    let size = event.to_string().len();
    if size > MAX_EVENT_BYTES {
        event["payload"]["custom_details"] = json!({
            "labels": alert.labels,
            "evidence": format!("omitted: the event was {size} bytes, over PagerDuty's 512 KB"),
        });
    }
    event
}

/// The title and the summary, on one line, cut to [`MAX_SUMMARY_CHARS`].
fn summary(alert: &Alert) -> String {
    let title = alert.title.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = alert.summary.split_whitespace().collect::<Vec<_>>().join(" ");
    let line = match (title.is_empty(), text.is_empty()) {
        (false, false) => format!("{title}: {text}"),
        (false, true) => title,
        (true, false) => text,
        (true, true) => format!("Jumpwatch {}", alert.kind),
    };
    truncate(&line, MAX_SUMMARY_CHARS)
}

/// PagerDuty's severity for ours.
const fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "info",
    }
}

fn timestamp(alert: &Alert) -> String {
    alert.starts_at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn details(alert: &Alert) -> Value {
    json!({ "labels": alert.labels, "evidence": alert.evidence })
}

fn links(alert: &Alert) -> Value {
    alert.links.iter().map(|l| json!({ "href": l.url, "text": l.title })).collect()
}

/// `text` cut to at most `max` characters, on a character boundary (the cut text ends with
/// `…`).
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `error` with any occurrence of `secret` in its message replaced by `[redacted]`.
fn scrub(error: SendError, secret: &str) -> SendError {
    let clean = |message: String| {
        if secret.is_empty() { message } else { message.replace(secret, "[redacted]") }
    };
    match error {
        SendError::Retry { after, message } => SendError::Retry { after, message: clean(message) },
        SendError::Permanent { message } => SendError::Permanent { message: clean(message) },
        SendError::Gone { message } => SendError::Gone { message: clean(message) },
    }
}

/// Sends notifications to PagerDuty's Events API.
#[derive(Debug)]
pub struct PagerDutyChannel {
    config: PagerDutyConfig,
    alert_url: SecretString,
    change_url: SecretString,
    client: reqwest::Client,
}

impl PagerDutyChannel {
    /// A channel for `config`; fails when the HTTP client cannot be built.
    pub fn new(config: PagerDutyConfig) -> Result<Self, String> {
        let base = config.url.trim_end_matches('/');
        let alert_url = SecretString::from(format!("{base}{}", Endpoint::Alert.path()));
        let change_url = SecretString::from(format!("{base}{}", Endpoint::Change.path()));
        Ok(Self { config, alert_url, change_url, client: http::client()? })
    }
}

#[async_trait]
impl Channel for PagerDutyChannel {
    fn kind(&self) -> &'static str {
        "pagerduty"
    }

    fn default_rate(&self) -> Option<Rate> {
        crate::notifier::rate(2, 2)
    }

    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let key = self.config.routing_key.expose_secret();
        for (endpoint, event) in encode(notification, &self.config) {
            let url = match endpoint {
                Endpoint::Alert => &self.alert_url,
                Endpoint::Change => &self.change_url,
            };
            let body = serde_json::to_vec(&event)
                .map_err(|e| SendError::permanent(format!("could not encode an event: {e}")))?;
            http::post(&self.client, url, &[], "application/json", body)
                .await
                .map_err(|e| scrub(e, key))?;
        }
        Ok(())
    }
}
