//! The email channel: one message per notification over SMTP (lettre), with a plain-text and an
//! HTML part.
//!
//! The `Message-ID` is `<{notification id}@jumpwatch>`, so a retry carries the same one and mail
//! clients and filters can deduplicate.
//!
//! ```toml
//! [[notify.receivers]]
//! name = "secops-mail"
//! type = "email"
//! host = "smtp.example.com"
//! # port = 587                     # default: 587 for starttls, 465 for tls, 25 for none
//! tls = "starttls"                  # starttls (default) | tls (implicit, port 465) | none
//! username = "jumpwatch@example.com"
//! password = "${SMTP_PASSWORD}"
//! from = "Jumpwatch <jumpwatch@example.com>"
//! to = ["secops@example.com"]
//! # subject_prefix = "[jumpwatch]"
//! ```
//!
//! `tls = "none"` sends in plaintext, credentials included: it is only for a local test sink
//! (MailHog, Mailpit, a relay on the same host).
//!
//! An SMTP transient error (4xx), a timeout or a connection failure is retried; a permanent error
//! (5xx) or a client-side mismatch (the server offers no STARTTLS, no usable authentication
//! mechanism) is not.

use std::fmt;
use std::fmt::Write as _;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use super::fields::{FieldError, Fields};
use super::{Channel, Rate, SendError};
use crate::alert::{Alert, Status};
use crate::notification::Notification;

/// The channel's type name.
pub const KIND: &str = "email";

/// The longest an SMTP command may take.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The subject prefix when none is configured.
pub const DEFAULT_SUBJECT_PREFIX: &str = "[jumpwatch]";

/// The longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plaintext, upgraded with STARTTLS (required); port 587 by default.
    StartTls,
    /// Implicit TLS ("SMTPS"); port 465 by default.
    Tls,
    /// Plaintext: only for a local test sink. Port 25 by default.
    None,
}

impl TlsMode {
    /// The port used when none is configured.
    #[must_use]
    pub const fn default_port(self) -> u16 {
        match self {
            Self::StartTls => 587,
            Self::Tls => 465,
            Self::None => 25,
        }
    }

    /// `starttls`, `tls` or `none`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StartTls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        }
    }
}

/// An email receiver's configuration.
#[derive(Clone)]
pub struct EmailConfig {
    /// The SMTP server.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is secured.
    pub tls: TlsMode,
    /// The SMTP user, when the server wants authentication.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<SecretString>,
    /// The sender.
    pub from: Mailbox,
    /// The recipients (at least one).
    pub to: Vec<Mailbox>,
    /// Put before the headline in the subject.
    pub subject_prefix: String,
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

impl EmailConfig {
    /// Reads `host`, `port`, `tls`, `username`, `password`, `from`, `to` and `subject_prefix`;
    /// the caller calls [`Fields::finish`].
    pub fn from_fields(fields: &mut Fields<'_>) -> Result<Self, FieldError> {
        let host = fields.required("host")?.trim().to_owned();
        if host.is_empty() {
            return Err(field_error("host", "is empty"));
        }
        let tls = match fields.string("tls")?.as_deref().map(str::trim) {
            None | Some("starttls") => TlsMode::StartTls,
            Some("tls") => TlsMode::Tls,
            Some("none") => TlsMode::None,
            Some(other) => {
                return Err(field_error(
                    "tls",
                    format!("{other:?} is not one of starttls, tls, none"),
                ));
            }
        };
        let port = match fields.integer("port")? {
            None => tls.default_port(),
            Some(port) => u16::try_from(port)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| field_error("port", format!("{port} is not a TCP port")))?,
        };
        let username = fields.string("username")?.filter(|u| !u.is_empty());
        let password = fields.secret("password")?;
        match (&username, &password) {
            (Some(_), None) => return Err(field_error("password", "is required with username")),
            (None, Some(_)) => return Err(field_error("username", "is required with password")),
            _ => {}
        }
        let from = parse_mailbox("from", &fields.required("from")?)?;
        let to = fields
            .strings("to")?
            .iter()
            .enumerate()
            .map(|(i, text)| parse_mailbox(&format!("to[{i}]"), text))
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err(field_error("to", "needs at least one address"));
        }
        let subject_prefix =
            fields.string("subject_prefix")?.unwrap_or_else(|| DEFAULT_SUBJECT_PREFIX.to_owned());
        Ok(Self { host, port, tls, username, password, from, to, subject_prefix })
    }
}

fn parse_mailbox(field: &str, text: &str) -> Result<Mailbox, FieldError> {
    text.trim()
        .parse::<Mailbox>()
        .map_err(|e| field_error(field, format!("{text:?} is not an email address: {e}")))
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let to: Vec<String> = self.to.iter().map(ToString::to_string).collect();
        f.debug_struct("EmailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("from", &self.from.to_string())
            .field("to", &to)
            .field("subject_prefix", &self.subject_prefix)
            .finish()
    }
}

/// Replaces control characters (line breaks included) by spaces.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The subject: the prefix, then the headline, on one line of at most [`MAX_SUBJECT_CHARS`]
/// characters.
#[must_use]
pub fn subject(notification: &Notification, prefix: &str) -> String {
    let headline = notification.headline();
    let full = if prefix.trim().is_empty() {
        one_line(&headline)
    } else {
        one_line(&format!("{} {headline}", prefix.trim()))
    };
    if full.chars().count() <= MAX_SUBJECT_CHARS {
        full
    } else {
        let mut short: String = full.chars().take(MAX_SUBJECT_CHARS - 1).collect();
        short.push('…');
        short
    }
}

/// The `Message-ID`: `<{id}@jumpwatch>`, the id's characters outside `[A-Za-z0-9._-]` replaced by
/// `-`.
#[must_use]
pub fn message_id(notification: &Notification) -> String {
    let id: String = notification
        .id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .collect();
    format!("<{id}@jumpwatch>")
}

fn status_word(alert: &Alert) -> &'static str {
    match alert.status {
        Status::Firing => "FIRING",
        Status::Resolved => "RESOLVED",
    }
}

/// The labels worth listing: those the status line does not already show.
fn extra_labels(alert: &Alert) -> impl Iterator<Item = (&String, &String)> {
    alert.labels.iter().filter(|(k, _)| !matches!(k.as_str(), "type" | "severity" | "status"))
}

fn labels_line(alert: &Alert) -> String {
    extra_labels(alert).map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// The plain-text part: the headline, then every alert with its status, severity, title,
/// summary, labels and links.
#[must_use]
pub fn text_body(notification: &Notification) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", notification.headline());
    for alert in &notification.alerts {
        let _ = writeln!(out);
        let _ = writeln!(out, "[{}] {}: {}", status_word(alert), alert.severity, alert.title);
        for line in alert.summary.lines().filter(|l| !l.trim().is_empty()) {
            let _ = writeln!(out, "  {line}");
        }
        if extra_labels(alert).next().is_some() {
            let _ = writeln!(out, "  Labels: {}", labels_line(alert));
        }
        for link in &alert.links {
            let _ = writeln!(out, "  {}: {}", link.title, link.url);
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "-- ");
    let _ = writeln!(
        out,
        "Jumpwatch, receiver {} (notification {})",
        notification.receiver, notification.id
    );
    out
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
#[must_use]
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML part: the same as [`text_body`], every piece of alert text escaped; only `http(s)`
/// links are clickable.
#[must_use]
pub fn html_body(notification: &Notification) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n<body style=\"font-family: sans-serif\">\n",
    );
    let _ = writeln!(out, "<h2>{}</h2>", escape_html(&notification.headline()));
    for alert in &notification.alerts {
        let color = match (alert.status, alert.severity) {
            (Status::Resolved, _) => "#2e7d32",
            (_, crate::alert::Severity::Critical | crate::alert::Severity::High) => "#c62828",
            (_, crate::alert::Severity::Medium) => "#ef6c00",
            _ => "#546e7a",
        };
        let _ = writeln!(
            out,
            "<div style=\"border-left: 4px solid {color}; padding-left: 8px; margin: 12px 0\">"
        );
        let _ = writeln!(
            out,
            "<p><strong>[{}] {}</strong>: {}</p>",
            status_word(alert),
            escape_html(&alert.severity.to_string()),
            escape_html(&alert.title)
        );
        if !alert.summary.trim().is_empty() {
            let summary: Vec<String> = alert.summary.lines().map(escape_html).collect();
            let _ = writeln!(out, "<p>{}</p>", summary.join("<br>\n"));
        }
        if extra_labels(alert).next().is_some() {
            let labels: Vec<String> = extra_labels(alert)
                .map(|(k, v)| format!("<code>{}={}</code>", escape_html(k), escape_html(v)))
                .collect();
            let _ = writeln!(out, "<p>Labels: {}</p>", labels.join(" "));
        }
        if !alert.links.is_empty() {
            out.push_str("<ul>\n");
            for link in &alert.links {
                let url = link.url.trim();
                if url.starts_with("https://") || url.starts_with("http://") {
                    let _ = writeln!(
                        out,
                        "<li><a href=\"{}\">{}</a></li>",
                        escape_html(url),
                        escape_html(&link.title)
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "<li>{}: {}</li>",
                        escape_html(&link.title),
                        escape_html(url)
                    );
                }
            }
            out.push_str("</ul>\n");
        }
        out.push_str("</div>\n");
    }
    let _ = writeln!(
        out,
        "<p style=\"color: #777; font-size: small\">Jumpwatch, receiver {} (notification {})</p>",
        escape_html(&notification.receiver),
        escape_html(&notification.id)
    );
    out.push_str("</body></html>\n");
    out
}

/// The email for a notification: subject, stable `Message-ID`, and a multipart/alternative body
/// (text and HTML).
pub fn message(notification: &Notification, config: &EmailConfig) -> Result<Message, String> {
    let mut builder = Message::builder()
        .from(config.from.clone())
        .subject(subject(notification, &config.subject_prefix))
        .message_id(Some(message_id(notification)))
        .user_agent(concat!("jumpwatch/", env!("CARGO_PKG_VERSION")).to_owned());
    for to in &config.to {
        builder = builder.to(to.clone());
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            text_body(notification),
            html_body(notification),
        ))
        .map_err(|e| format!("could not build the email: {e}"))
}

/// What a transport error means for delivery.
fn classify(error: &(dyn std::error::Error + 'static)) -> SendError {
    let Some(smtp) = error.downcast_ref::<lettre::transport::smtp::Error>() else {
        return SendError::retry(format!("the mail transport failed: {error}"));
    };
    if smtp.is_permanent() {
        SendError::permanent(format!("the SMTP server refused the message: {smtp}"))
    } else if smtp.is_client() {
        SendError::permanent(format!("SMTP: {smtp}"))
    } else if smtp.is_transient() {
        SendError::retry(format!("the SMTP server deferred the message: {smtp}"))
    } else if smtp.is_timeout() {
        SendError::retry(format!("SMTP timed out: {smtp}"))
    } else {
        SendError::retry(format!("SMTP: {smtp}"))
    }
}

/// A lettre transport with its errors classified.
#[async_trait]
trait Transport: Send + Sync {
    async fn send(&self, message: Message) -> Result<(), SendError>;
}

struct Lettre<T>(T);

#[async_trait]
impl<T> Transport for Lettre<T>
where
    T: AsyncTransport + Send + Sync,
    T::Ok: Send,
    T::Error: std::error::Error + Send + 'static,
{
    async fn send(&self, message: Message) -> Result<(), SendError> {
        self.0.send(message).await.map(|_| ()).map_err(|e| classify(&e))
    }
}

/// Sends notifications by email.
pub struct EmailChannel {
    config: EmailConfig,
    transport: Box<dyn Transport>,
}

impl EmailChannel {
    /// A channel that sends over SMTP as `config` says.
    pub fn new(config: EmailConfig) -> Result<Self, String> {
        type Smtp = AsyncSmtpTransport<Tokio1Executor>;
        let host = config.host.as_str();
        let builder = match config.tls {
            TlsMode::StartTls => Smtp::starttls_relay(host),
            TlsMode::Tls => Smtp::relay(host),
            TlsMode::None => Ok(Smtp::builder_dangerous(host)),
        }
        .map_err(|e| format!("SMTP TLS for {host}: {e}"))?;
        let mut builder = builder.port(config.port).timeout(Some(TIMEOUT));
        if let (Some(username), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(
                username.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        let transport = builder.build();
        Ok(Self { config, transport: Box::new(Lettre(transport)) })
    }

    /// A channel that sends through `transport` (lettre's `AsyncStubTransport` in tests). Errors
    /// that are not SMTP errors are retried.
    pub fn with_transport<T>(config: EmailConfig, transport: T) -> Self
    where
        T: AsyncTransport + Send + Sync + 'static,
        T::Ok: Send,
        T::Error: std::error::Error + Send + 'static,
    {
        Self { config, transport: Box::new(Lettre(transport)) }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &EmailConfig {
        &self.config
    }
}

impl fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailChannel").field("config", &self.config).finish_non_exhaustive()
    }
}

#[async_trait]
impl Channel for EmailChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn default_rate(&self) -> Option<Rate> {
        None
    }

    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let message = message(notification, &self.config).map_err(SendError::permanent)?;
        self.transport.send(message).await
    }
}
