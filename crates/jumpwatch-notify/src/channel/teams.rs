//! Microsoft Teams, through a Workflows (Power Automate) webhook: "Post to a channel when a
//! webhook request is received". Office 365 connectors, the classic incoming webhooks, are
//! being retired; Workflows take an Adaptive Card wrapped in a `message`.
//!
//! A notification becomes one card (version 1.2, full width):
//!
//! - a bold `TextBlock` with the [headline](Notification::headline);
//! - per alert, a `Container` with the title (coloured by status and severity), the summary, a
//!   `FactSet` (severity, status or kind, and the `tenant`, `kind` and `resource` labels) and the
//!   links as Markdown `[title](url)`; each part is cut to a few hundred characters on character
//!   boundaries;
//! - when not every alert fits, a final `TextBlock` `…and N more`.
//!
//! Teams refuses messages over 28 KB: alerts are added while the serialized body, with room for
//! the closing block, stays within [`MAX_BODY_BYTES`]. Teams throttles beyond four requests a
//! second: the [default rate](Channel::default_rate) is four a second. The URL carries a `sig=`
//! signature and is kept secret.

use std::fmt;

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::fields::{FieldError, Fields};
use super::http;
use super::{Channel, Rate, SendError};
use crate::alert::{Alert, Severity, Status};
use crate::notification::Notification;

/// The most bytes of a serialized message.
pub const MAX_BODY_BYTES: usize = 28 * 1024;

/// Budgets of an alert's parts, in characters.
const MAX_HEADLINE_CHARS: usize = 500;
const MAX_TITLE_CHARS: usize = 300;
const MAX_SUMMARY_CHARS: usize = 2000;
const MAX_FACT_CHARS: usize = 200;
const MAX_LINK_TITLE_CHARS: usize = 100;
const MAX_LINK_URL_CHARS: usize = 2000;
const MAX_LINKS: usize = 5;

/// A Teams receiver's configuration.
#[derive(Clone)]
pub struct TeamsConfig {
    /// The workflow's webhook URL (a secret: it carries a signature).
    pub url: SecretString,
}

impl fmt::Debug for TeamsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeamsConfig").field("url", &"[redacted]").finish()
    }
}

impl TeamsConfig {
    /// Reads `url` (required, a secret); the caller then calls [`Fields::finish`].
    pub fn from_fields(fields: &mut Fields<'_>) -> Result<Self, FieldError> {
        Ok(Self { url: fields.secret_url("url")? })
    }
}

/// The message for `notification`: an Adaptive Card in a `message` (see the [module](self)),
/// at most [`MAX_BODY_BYTES`] serialized.
#[must_use]
pub fn encode(notification: &Notification) -> Value {
    let headline = json!({
        "type": "TextBlock",
        "text": truncate(&notification.headline(), MAX_HEADLINE_CHARS),
        "weight": "Bolder",
        "size": "Medium",
        "wrap": true,
    });
    let total = notification.alerts.len();
    // The bytes of the message with the headline alone; each further block adds its own bytes
    // and a comma.
    let mut used = serialized_len(&message(vec![headline.clone()]));
    let reserve = serialized_len(&more(total)) + 1;
    let mut body = vec![headline];
    for (i, alert) in notification.alerts.iter().enumerate() {
        let block = container(alert);
        let size = serialized_len(&block) + 1;
        let room = if i + 1 == total { 0 } else { reserve };
        if used + size + room > MAX_BODY_BYTES {
            break;
        }
        used += size;
        body.push(block);
    }
    let shown = body.len() - 1;
    if shown < total {
        body.push(more(total - shown));
    }
    message(body)
}

/// The card with `body`, wrapped for a Workflows webhook.
fn message(body: Vec<Value>) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.2",
                "msteams": { "width": "full" },
                "body": Value::Array(body),
            },
        }],
    })
}

/// The closing block.
fn more(n: usize) -> Value {
    json!({ "type": "TextBlock", "text": format!("…and {n} more"), "wrap": true, "isSubtle": true })
}

fn serialized_len(value: &Value) -> usize {
    value.to_string().len()
}

/// One alert's container.
fn container(alert: &Alert) -> Value {
    let mut title = json!({
        "type": "TextBlock",
        "text": format!("**{}**", truncate(&alert.title, MAX_TITLE_CHARS)),
        "wrap": true,
    });
    if let Some(color) = color(alert) {
        title["color"] = json!(color);
    }
    let mut items = vec![title];
    // Teams renders a single newline as a space: lines are kept apart by blank lines.
    let summary: Vec<&str> =
        alert.summary.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect();
    if !summary.is_empty() {
        items.push(json!({
            "type": "TextBlock",
            "text": truncate(&summary.join("\n\n"), MAX_SUMMARY_CHARS),
            "wrap": true,
        }));
    }
    let mut facts = vec![json!({ "title": "Severity", "value": alert.severity.to_string() })];
    if alert.kind.is_state() {
        facts.push(json!({ "title": "Status", "value": alert.status.as_str() }));
    } else {
        facts.push(json!({ "title": "Type", "value": alert.kind.as_str() }));
    }
    for (name, title) in [("tenant", "Tenant"), ("kind", "Kind"), ("resource", "Resource")] {
        let value = alert.label_value(name);
        if !value.is_empty() {
            facts.push(json!({ "title": title, "value": truncate(value, MAX_FACT_CHARS) }));
        }
    }
    items.push(json!({ "type": "FactSet", "facts": facts }));
    let links: Vec<String> = alert
        .links
        .iter()
        .filter(|l| l.url.chars().count() <= MAX_LINK_URL_CHARS)
        .take(MAX_LINKS)
        .map(|l| {
            let title = if l.title.trim().is_empty() { l.url.as_str() } else { l.title.as_str() };
            let title = truncate(title, MAX_LINK_TITLE_CHARS).replace('[', "(").replace(']', ")");
            let url = l.url.replace(' ', "%20").replace('(', "%28").replace(')', "%29");
            format!("[{title}]({url})")
        })
        .collect();
    if !links.is_empty() {
        items.push(json!({ "type": "TextBlock", "text": links.join(" · "), "wrap": true }));
    }
    json!({ "type": "Container", "separator": true, "items": items })
}

/// The title's colour: red for a firing high or critical alert, amber for medium, green once
/// resolved.
fn color(alert: &Alert) -> Option<&'static str> {
    match (alert.status, alert.severity) {
        (Status::Resolved, _) => Some("Good"),
        (Status::Firing, Severity::Critical | Severity::High) => Some("Attention"),
        (Status::Firing, Severity::Medium) => Some("Warning"),
        (Status::Firing, Severity::Low | Severity::Info) => None,
    }
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

/// Sends notifications to a Teams Workflows webhook.
#[derive(Debug)]
pub struct TeamsChannel {
    config: TeamsConfig,
    client: reqwest::Client,
}

impl TeamsChannel {
    /// A channel for `config`; fails when the HTTP client cannot be built.
    pub fn new(config: TeamsConfig) -> Result<Self, String> {
        Ok(Self { config, client: http::client()? })
    }
}

#[async_trait]
impl Channel for TeamsChannel {
    fn kind(&self) -> &'static str {
        "teams"
    }

    fn default_rate(&self) -> Option<Rate> {
        crate::notifier::rate(4, 4)
    }

    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let body = serde_json::to_vec(&encode(notification))
            .map_err(|e| SendError::permanent(format!("could not encode the message: {e}")))?;
        http::post(&self.client, &self.config.url, &[], "application/json", body).await?;
        Ok(())
    }
}
