//! The webhook channel: Jumpwatch's JSON envelope POSTed to any URL, signed as
//! [Standard Webhooks](https://www.standardwebhooks.com/) do.
//!
//! The body is [`Notification::envelope`], serialized once: the bytes signed are the bytes sent.
//! Every request carries
//!
//! - `webhook-id`: the notification's id, the same on every retry — the receiver's idempotency
//!   key;
//! - `webhook-timestamp`: the unix time of this attempt, in seconds;
//! - `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` when a
//!   `secret` is configured (`whsec_<base64 key>`);
//! - `X-Hub-Signature-256`: `sha256=<hex HMAC-SHA256(github_secret, body)>` when a
//!   `github_secret` is configured, for receivers written for GitHub's webhooks (it signs no
//!   timestamp, so it does not protect against replays);
//! - the configured custom `headers`, whose values are secrets.
//!
//! A receiver checks a delivery with [`verify`] (or [`verify_github`]), which compare in constant
//! time and refuse timestamps more than [`TOLERANCE_SECONDS`] away from now.
//!
//! ```toml
//! [[notify.receivers]]
//! name = "siem"
//! type = "webhook"
//! url = "${SIEM_WEBHOOK_URL}"
//! secret = "${SIEM_WEBHOOK_SECRET}"   # whsec_...
//! headers = { Authorization = "Bearer ${SIEM_TOKEN}" }
//! ```

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::Sha256;

use super::fields::{FieldError, Fields};
use super::{Channel, Rate, SendError, http};
use crate::notification::Notification;

/// The channel's type name.
pub const KIND: &str = "webhook";

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("jumpwatch/", env!("CARGO_PKG_VERSION"));

/// How far a `webhook-timestamp` may be from now for [`verify`] to accept it (Standard
/// Webhooks' five minutes).
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// The prefix of a Standard Webhooks signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Headers Jumpwatch sets itself, which custom `headers` may not replace.
const RESERVED_HEADERS: [&str; 8] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-hub-signature-256",
    "content-type",
    "content-length",
    "host",
    "user-agent",
];

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (longer ones are hashed): this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// A Standard Webhooks signing secret: the key decoded from `whsec_<base64>`.
#[derive(Clone)]
pub struct SigningSecret(SecretSlice<u8>);

impl SigningSecret {
    /// Reads `whsec_<base64>`. The error never shows the value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let encoded = text.trim().strip_prefix(SECRET_PREFIX).ok_or_else(|| {
            format!("must start with {SECRET_PREFIX} (a Standard Webhooks secret)")
        })?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| format!("must be {SECRET_PREFIX} followed by base64"))?;
        if key.is_empty() {
            return Err(format!("has no key after {SECRET_PREFIX}"));
        }
        Ok(Self(SecretSlice::from(key)))
    }

    /// A secret from the raw key bytes.
    #[must_use]
    pub fn from_bytes(key: Vec<u8>) -> Self {
        Self(SecretSlice::from(key))
    }

    fn key(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

/// A webhook receiver's configuration.
#[derive(Clone)]
pub struct WebhookConfig {
    /// Where to POST (a secret: URLs often carry tokens).
    pub url: SecretString,
    /// The Standard Webhooks signing secret.
    pub secret: Option<SigningSecret>,
    /// The GitHub-style `X-Hub-Signature-256` secret.
    pub github_secret: Option<SecretString>,
    /// Custom headers: names, and secret values.
    pub headers: Vec<(String, SecretString)>,
}

impl WebhookConfig {
    /// Reads `url`, `secret`, `github_secret` and `headers`; the caller calls
    /// [`Fields::finish`].
    pub fn from_fields(fields: &mut Fields<'_>) -> Result<Self, FieldError> {
        let url = fields.secret_url("url")?;
        let secret = fields
            .secret("secret")?
            .map(|text| SigningSecret::parse(text.expose_secret()))
            .transpose()
            .map_err(|message| FieldError { field: "secret".to_owned(), message })?;
        let github_secret = fields.secret("github_secret")?;
        let headers = fields.secret_table("headers")?;
        for (name, value) in &headers {
            let field = || format!("headers.{name}");
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(FieldError {
                    field: field(),
                    message: "is not a valid header name".to_owned(),
                });
            }
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(FieldError {
                    field: field(),
                    message: "is set by Jumpwatch and cannot be configured".to_owned(),
                });
            }
            if reqwest::header::HeaderValue::from_str(value.expose_secret()).is_err() {
                return Err(FieldError {
                    field: field(),
                    message: "is not a valid header value (control characters?)".to_owned(),
                });
            }
        }
        Ok(Self { url, secret, github_secret, headers })
    }
}

const REDACTED: &str = "[redacted]";

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> =
            self.headers.iter().map(|(name, _)| (name.as_str(), REDACTED)).collect();
        f.debug_struct("WebhookConfig")
            .field("url", &REDACTED)
            .field("secret", &self.secret.as_ref().map(|_| REDACTED))
            .field("github_secret", &self.github_secret.as_ref().map(|_| REDACTED))
            .field("headers", &headers)
            .finish()
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes.chunks_exact(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

fn standard_mac(secret: &SigningSecret, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = hmac(secret.key());
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The Standard Webhooks signature of a delivery: `v1,<base64 HMAC-SHA256(key,
/// "{id}.{timestamp}.{body}")>`.
#[must_use]
pub fn sign(secret: &SigningSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = standard_mac(secret, id, timestamp, body).finalize().into_bytes();
    format!("v1,{}", STANDARD.encode(tag))
}

/// GitHub's `X-Hub-Signature-256` value: `sha256=<hex HMAC-SHA256(secret, body)>`.
#[must_use]
pub fn github_signature(secret: &SecretString, body: &[u8]) -> String {
    let mut mac = hmac(secret.expose_secret().as_bytes());
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// Why [`verify`] refused a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// `webhook-timestamp` is not a number of seconds.
    #[error("the webhook-timestamp header is not a unix time")]
    InvalidTimestamp,
    /// The timestamp is more than [`TOLERANCE_SECONDS`] old.
    #[error("the message is too old")]
    TooOld,
    /// The timestamp is more than [`TOLERANCE_SECONDS`] in the future.
    #[error("the message's timestamp is in the future")]
    TooNew,
    /// No `v1` signature matches.
    #[error("no signature matches")]
    Mismatch,
}

/// Checks a Standard Webhooks delivery, as a receiver does: `id`, `timestamp` and `signatures`
/// are the `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, `body` the raw
/// body, `now` the receiver's unix time. The timestamp must be within [`TOLERANCE_SECONDS`] of
/// `now`, and one of the space-separated `v1,` signatures must match (compared in constant
/// time).
pub fn verify(
    secret: &SigningSecret,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let timestamp: i64 = timestamp.trim().parse().map_err(|_| VerifyError::InvalidTimestamp)?;
    if now.saturating_sub(timestamp) > TOLERANCE_SECONDS {
        return Err(VerifyError::TooOld);
    }
    if timestamp.saturating_sub(now) > TOLERANCE_SECONDS {
        return Err(VerifyError::TooNew);
    }
    let mac = standard_mac(secret, id, timestamp, body);
    let matches = signatures
        .split_whitespace()
        .filter_map(|signature| signature.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .any(|tag| mac.clone().verify_slice(&tag).is_ok());
    if matches { Ok(()) } else { Err(VerifyError::Mismatch) }
}

/// Checks a GitHub-style `X-Hub-Signature-256` header against the raw body, in constant time.
#[must_use]
pub fn verify_github(secret: &SecretString, body: &[u8], signature: &str) -> bool {
    let Some(tag) = signature.trim().strip_prefix("sha256=").and_then(unhex) else {
        return false;
    };
    let mut mac = hmac(secret.expose_secret().as_bytes());
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

/// The body of a notification: its envelope as compact JSON.
#[must_use]
pub fn body(notification: &Notification) -> Vec<u8> {
    notification.envelope().to_string().into_bytes()
}

/// The headers of one attempt (besides `Content-Type`): the Standard Webhooks headers, the
/// signatures the configuration asks for, the user agent and the custom headers (whose values
/// are secrets: do not log them).
#[must_use]
pub fn headers(
    config: &WebhookConfig,
    notification: &Notification,
    body: &[u8],
    timestamp: i64,
) -> Vec<(String, String)> {
    let mut headers = vec![
        ("user-agent".to_owned(), USER_AGENT.to_owned()),
        ("webhook-id".to_owned(), notification.id.clone()),
        ("webhook-timestamp".to_owned(), timestamp.to_string()),
    ];
    if let Some(secret) = &config.secret {
        headers.push((
            "webhook-signature".to_owned(),
            sign(secret, &notification.id, timestamp, body),
        ));
    }
    if let Some(secret) = &config.github_secret {
        headers.push(("x-hub-signature-256".to_owned(), github_signature(secret, body)));
    }
    headers.extend(
        config.headers.iter().map(|(name, value)| (name.clone(), value.expose_secret().to_owned())),
    );
    headers
}

/// Sends notifications to a webhook.
pub struct WebhookChannel {
    config: WebhookConfig,
    client: reqwest::Client,
}

impl WebhookChannel {
    /// A channel for `config`.
    pub fn new(config: WebhookConfig) -> Result<Self, String> {
        Ok(Self { config, client: http::client()? })
    }
}

impl fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookChannel").field("config", &self.config).finish_non_exhaustive()
    }
}

#[async_trait]
impl Channel for WebhookChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn default_rate(&self) -> Option<Rate> {
        None
    }

    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let body = body(notification);
        let timestamp = chrono::Utc::now().timestamp();
        let headers = headers(&self.config, notification, &body, timestamp);
        http::post(&self.client, &self.config.url, &headers, "application/json", body).await?;
        Ok(())
    }
}
