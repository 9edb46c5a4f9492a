//! Channels: how a [`Notification`] reaches people. Each channel is a module with its
//! configuration, its encoder (a pure function from a notification to what is sent, tested with
//! exact payloads) and its client.
//!
//! A channel only sends; retries, rate limits, circuit breaking and dead letters are the
//! [`Notifier`](crate::Notifier)'s, driven by the [`SendError`] a send returns.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use async_trait::async_trait;

use crate::notification::Notification;

pub mod email;
pub mod fields;
pub mod http;
pub mod jsonl;
pub mod pagerduty;
pub mod slack;
pub mod teams;
pub mod webhook;

pub use fields::{Expand, FieldError, Fields};

/// Why a send failed, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Try again later (HTTP 429, 408 or 5xx, a network error, an SMTP transient error); `after`
    /// is what the server asked for (`Retry-After`).
    #[error("{message} (will retry)")]
    Retry {
        /// The wait the server asked for.
        after: Option<Duration>,
        /// What happened (never a URL or a secret).
        message: String,
    },
    /// Do not try again (HTTP 400, 401, 403, 404, 413, an SMTP permanent error): the message
    /// becomes a dead letter.
    #[error("{message} (permanent)")]
    Permanent {
        /// What happened.
        message: String,
    },
    /// The endpoint is gone (HTTP 410): the receiver is disabled.
    #[error("{message} (endpoint gone)")]
    Gone {
        /// What happened.
        message: String,
    },
}

impl SendError {
    /// A retryable error.
    pub fn retry(message: impl Into<String>) -> Self {
        Self::Retry { after: None, message: message.into() }
    }

    /// A permanent error.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Permanent { message: message.into() }
    }
}

/// A steady rate of messages and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Messages a second.
    pub per_second: NonZeroU32,
    /// Messages allowed at once.
    pub burst: NonZeroU32,
}

impl Rate {
    /// `per_second` messages a second, with a burst of as many.
    #[must_use]
    pub const fn per_second(per_second: NonZeroU32) -> Self {
        Self { per_second, burst: per_second }
    }
}

/// Sends notifications somewhere.
#[async_trait]
pub trait Channel: Send + Sync + fmt::Debug {
    /// The channel's type name (`slack`, `webhook`...).
    fn kind(&self) -> &'static str;

    /// The rate the endpoint accepts, when it has a limit (Slack about one message a second).
    fn default_rate(&self) -> Option<Rate>;

    /// Sends one notification. Sending the same notification again (a retry) must be safe:
    /// idempotent where the endpoint allows it (`webhook-id`, PagerDuty's `dedup_key`).
    async fn send(&self, notification: &Notification) -> Result<(), SendError>;
}
