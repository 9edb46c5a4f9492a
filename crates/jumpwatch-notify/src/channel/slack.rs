//! Slack, through an [incoming webhook](https://api.slack.com/messaging/webhooks).
//!
//! A notification becomes one Block Kit message, a digest of its alerts:
//!
//! - `text`, the fallback shown in notifications: the [headline](Notification::headline),
//!   after the `mention` (such as `<!here>`) when a firing alert is high or critical;
//! - a `header` block with the headline (plain text, at most 150 characters);
//! - `section` blocks in `mrkdwn`, each listing several alerts: a marker for the status and
//!   severity, the title, the severity and status (or kind, for changes and events), the first
//!   lines of the summary, the `tenant`, `kind` and `resource` labels and the first link. The
//!   mention, when there is one, opens the first section;
//! - when not every alert fits, a final `context` block `…and N more`.
//!
//! Slack's limits are kept: at most 50 blocks and 3000 characters of text in a section (each
//! alert's entry is far shorter, its parts truncated on character boundaries); user text is
//! escaped (`&`, `<`, `>`) so it cannot make links or mentions.
//!
//! Slack accepts about one message a second per webhook and answers 429 with `Retry-After`
//! beyond it: the [default rate](Channel::default_rate) is one a second, with no burst. Its
//! errors (`invalid_payload`, `no_text`, a revoked webhook) come with 4xx statuses, classified
//! by [`http::post`].

use std::fmt;

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::fields::{FieldError, Fields};
use super::http;
use super::{Channel, Rate, SendError};
use crate::alert::{Alert, Severity, Status};
use crate::notification::Notification;

/// The most blocks in a message.
pub const MAX_BLOCKS: usize = 50;
/// The most characters in a section's text.
pub const MAX_SECTION_CHARS: usize = 3000;
/// The most characters in a header's text.
pub const MAX_HEADER_CHARS: usize = 150;
/// The most characters of the `mention`.
pub const MAX_MENTION_CHARS: usize = 200;

/// The most characters of the fallback `text` (Slack truncates beyond 40,000).
const MAX_TEXT_CHARS: usize = 3000;
/// Budgets of an alert's entry, in escaped characters; together well under
/// [`MAX_SECTION_CHARS`].
const MAX_TITLE_CHARS: usize = 250;
const MAX_SUMMARY_CHARS: usize = 1200;
const SUMMARY_LINES: usize = 3;
const MAX_LABEL_CHARS: usize = 100;
const MAX_LINK_TITLE_CHARS: usize = 100;
const MAX_LINK_URL_CHARS: usize = 800;
/// The labels an entry shows.
const KEY_LABELS: [&str; 3] = ["tenant", "kind", "resource"];

/// A Slack receiver's configuration.
#[derive(Clone)]
pub struct SlackConfig {
    /// The incoming webhook's URL (a secret: whoever has it can post).
    pub url: SecretString,
    /// A mention put before the message when a firing alert is high or critical (`<!here>`,
    /// `<!channel>`, `<@U024BE7LH>`, `<!subteam^S012345>`).
    pub mention: Option<String>,
}

impl fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackConfig")
            .field("url", &"[redacted]")
            .field("mention", &self.mention)
            .finish()
    }
}

impl SlackConfig {
    /// Reads `url` (required, a secret) and `mention`; the caller then calls
    /// [`Fields::finish`].
    pub fn from_fields(fields: &mut Fields<'_>) -> Result<Self, FieldError> {
        let url = fields.secret_url("url")?;
        let mention = match fields.string("mention")? {
            Some(text) if text.trim().is_empty() => None,
            Some(text) if text.chars().count() > MAX_MENTION_CHARS => {
                return Err(FieldError {
                    field: "mention".to_owned(),
                    message: format!("is longer than {MAX_MENTION_CHARS} characters"),
                });
            }
            Some(text) => Some(text.trim().to_owned()),
            None => None,
        };
        Ok(Self { url, mention })
    }
}

/// The message for `notification`: the fallback `text` and the blocks (see the
/// [module](self)). `mention` is put first when a firing alert is high or critical; it is sent
/// as is (it is Slack markup), cut to [`MAX_MENTION_CHARS`].
#[must_use]
pub fn encode(notification: &Notification, mention: Option<&str>) -> Value {
    let urgent = notification.firing().any(|a| a.severity >= Severity::High);
    let mention = mention
        .map(str::trim)
        .filter(|m| urgent && !m.is_empty())
        .map(|m| truncate(m, MAX_MENTION_CHARS));
    let headline = notification.headline();

    let text = match &mention {
        Some(m) => format!("{m} {}", escape_truncated(&headline, MAX_TEXT_CHARS)),
        None => escape_truncated(&headline, MAX_TEXT_CHARS),
    };

    let mut blocks = vec![json!({
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": truncate(&headline, MAX_HEADER_CHARS),
            "emoji": true,
        },
    })];

    // The header, the sections and room for the closing context block.
    let max_sections = MAX_BLOCKS - 2;
    let mut sections: Vec<String> = Vec::new();
    let mut current = mention.unwrap_or_default();
    let mut shown = 0;
    for alert in &notification.alerts {
        let entry = entry(alert);
        let needed = if current.is_empty() {
            entry.chars().count()
        } else {
            current.chars().count() + 2 + entry.chars().count()
        };
        if needed <= MAX_SECTION_CHARS {
            if !current.is_empty() {
                current.push_str("\n\n");
            }
            current.push_str(&entry);
        } else {
            if sections.len() + 2 > max_sections {
                break;
            }
            sections.push(std::mem::replace(&mut current, entry));
        }
        shown += 1;
    }
    if !current.is_empty() {
        sections.push(current);
    }
    blocks.extend(
        sections
            .into_iter()
            .map(|text| json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })),
    );
    let more = notification.alerts.len() - shown;
    if more > 0 {
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": format!("…and {more} more") }],
        }));
    }
    json!({ "text": text, "blocks": blocks })
}

/// One alert's entry in a section: at most about 2,700 characters.
fn entry(alert: &Alert) -> String {
    let what = if alert.kind.is_state() { alert.status.as_str() } else { alert.kind.as_str() };
    let mut lines = vec![format!(
        "{} *{}* ({}, {what})",
        marker(alert),
        escape_truncated(&alert.title, MAX_TITLE_CHARS),
        alert.severity,
    )];
    let summary: Vec<&str> =
        alert.summary.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect();
    if !summary.is_empty() {
        let mut first = summary.iter().take(SUMMARY_LINES).copied().collect::<Vec<_>>().join("\n");
        if summary.len() > SUMMARY_LINES {
            first.push_str(" …");
        }
        lines.push(escape_truncated(&first, MAX_SUMMARY_CHARS));
    }
    let labels: Vec<String> = KEY_LABELS
        .iter()
        .filter(|name| !alert.label_value(name).is_empty())
        .map(|name| {
            format!("{name}: {}", escape_truncated(alert.label_value(name), MAX_LABEL_CHARS))
        })
        .collect();
    if !labels.is_empty() {
        lines.push(labels.join(" · "));
    }
    if let Some(link) = alert.links.first() {
        let url = escape(&link.url).replace('|', "%7C");
        let title = if link.title.trim().is_empty() { link.url.as_str() } else { &link.title };
        let title = escape_truncated(title, MAX_LINK_TITLE_CHARS);
        if url.chars().count() <= MAX_LINK_URL_CHARS {
            lines.push(format!("<{url}|{title}>"));
        } else {
            lines.push(title);
        }
    }
    let entry = lines.join("\n");
    // The budgets above keep an entry short; this only guards against a mistake in them.
    truncate(&entry, MAX_SECTION_CHARS)
}

/// An emoji for the status and severity.
fn marker(alert: &Alert) -> &'static str {
    if alert.status == Status::Resolved {
        return ":white_check_mark:";
    }
    match alert.severity {
        Severity::Critical => ":red_circle:",
        Severity::High => ":large_orange_circle:",
        Severity::Medium => ":large_yellow_circle:",
        Severity::Low => ":large_blue_circle:",
        Severity::Info => ":white_circle:",
    }
}

/// The escape of one character in Slack's markup.
fn escape_char(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        _ => None,
    }
}

/// `text` with `&`, `<` and `>` escaped, as Slack's markup requires of text that is not a
/// control sequence.
#[must_use]
pub fn escape(text: &str) -> String {
    escape_truncated(text, usize::MAX)
}

/// `text` escaped, then cut to at most `max` characters (the cut text ends with `…`); an
/// escape is never cut in two.
fn escape_truncated(text: &str, max: usize) -> String {
    let width = |c: char| escape_char(c).map_or(1, str::len);
    let total: usize = text.chars().map(width).sum();
    let budget = if total <= max { total } else { max.saturating_sub(1) };
    let mut out = String::with_capacity(text.len().min(budget.saturating_mul(4)));
    let mut used = 0;
    for c in text.chars() {
        let w = width(c);
        if used + w > budget {
            break;
        }
        match escape_char(c) {
            Some(escaped) => out.push_str(escaped),
            None => out.push(c),
        }
        used += w;
    }
    if total > max {
        out.push('…');
    }
    out
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

/// Sends notifications to a Slack incoming webhook.
#[derive(Debug)]
pub struct SlackChannel {
    config: SlackConfig,
    client: reqwest::Client,
}

impl SlackChannel {
    /// A channel for `config`; fails when the HTTP client cannot be built.
    pub fn new(config: SlackConfig) -> Result<Self, String> {
        Ok(Self { config, client: http::client()? })
    }
}

#[async_trait]
impl Channel for SlackChannel {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn default_rate(&self) -> Option<Rate> {
        crate::notifier::rate(1, 1)
    }

    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let body = encode(notification, self.config.mention.as_deref());
        let body = serde_json::to_vec(&body)
            .map_err(|e| SendError::permanent(format!("could not encode the message: {e}")))?;
        http::post(&self.client, &self.config.url, &[], "application/json", body).await?;
        Ok(())
    }
}
