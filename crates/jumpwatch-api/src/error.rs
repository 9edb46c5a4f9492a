//! [`Error`]: everything that can go wrong talking to JumpCloud, told apart so callers can act on
//! it. No error ever holds a credential: requests are named by method and path only.

use std::fmt;
use std::time::Duration;

use jumpwatch_model::{ResourceError, ResourceId, ResourceKind};
use serde_json::Value;

use crate::transport::TransportError;

/// The body of a JumpCloud error response, as far as it could be read.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ApiErrorBody {
    /// `message`, the usual explanation.
    pub message: Option<String>,
    /// `error`, sometimes sent beside or instead of `message`.
    pub error: Option<String>,
    /// `code`, declared as a number but sometimes a string.
    pub code: Option<Value>,
    /// `status`.
    pub status: Option<String>,
    /// `details`, for validation errors.
    pub details: Option<Value>,
    /// The body as text, when it was not JSON (a gateway's HTML page) or was empty.
    pub raw: Option<String>,
}

impl ApiErrorBody {
    /// Reads an error body; never fails.
    #[must_use]
    pub fn parse(body: &[u8]) -> Self {
        let text = |v: Option<&Value>| match v {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => Self {
                message: text(object.get("message")),
                error: text(object.get("error")),
                code: object.get("code").cloned().filter(|v| !v.is_null()),
                status: text(object.get("status")),
                details: object.get("details").cloned().filter(|v| !v.is_null()),
                raw: None,
            },
            _ => {
                let raw = String::from_utf8_lossy(body);
                let raw: String = raw.trim().chars().take(500).collect();
                Self { raw: Some(raw), ..Self::default() }
            }
        }
    }

    /// The best one-line explanation the body gives.
    #[must_use]
    pub fn summary(&self) -> String {
        if let Some(message) = self.message.as_ref().or(self.error.as_ref()) {
            return message.clone();
        }
        match self.raw.as_deref() {
            Some("") | None => "(empty body)".to_owned(),
            Some(raw) if raw.starts_with('<') => "(an HTML page, likely from a gateway)".to_owned(),
            Some(raw) => raw.to_owned(),
        }
    }
}

/// An error response from JumpCloud.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The request's method.
    pub method: String,
    /// The request's path (no query, no host).
    pub path: String,
    /// The request id JumpCloud gave the response, if any.
    pub request_id: Option<String>,
    /// The parsed body.
    pub body: ApiErrorBody,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} answered {}: {}",
            self.method,
            self.path,
            self.status,
            self.body.summary()
        )?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

/// Why a listing is not complete.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Incomplete {
    /// The kind.
    pub kind: ResourceKind,
    /// The parent, for child kinds and relations.
    pub parent: Option<ResourceId>,
    /// The number of items the API announced.
    pub expected: u64,
    /// The number of distinct items received.
    pub received: u64,
    /// The number of times the whole listing was read.
    pub passes: u32,
}

impl fmt::Display for Incomplete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(parent) = &self.parent {
            write!(f, " of {parent}")?;
        }
        write!(
            f,
            ": the API announced {} items but {} distinct items arrived (after {} passes)",
            self.expected, self.received, self.passes
        )
    }
}

/// A record of a page that could not be made into a resource. The page, and the rest of the
/// listing, are not affected.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UnreadableRecord {
    /// The kind.
    pub kind: ResourceKind,
    /// The record's position in the listing.
    pub index: u64,
    /// The record as it was sent.
    pub raw: Value,
    /// What was wrong with it.
    pub error: ResourceError,
}

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The credentials were refused (401).
    #[error("JumpCloud refused the credentials: {0}")]
    Unauthorized(Box<ApiError>),
    /// The credentials cannot read this (403).
    #[error("the credentials may not read this: {0}")]
    Forbidden(Box<ApiError>),
    /// A multi-tenant key without an organization selected (401), or `x-org-id` sent to a route
    /// that refuses it (403).
    #[error("organization selection: {0}")]
    OrgSelection(Box<ApiError>),
    /// Any other error response.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// Still rate limited (429) after every retry.
    #[error("rate limited: {method} {path} answered 429 {attempts} times")]
    RateLimited {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// How many times it was sent.
        attempts: u32,
        /// The last `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// A listing did not add up: items are missing or were counted twice, even after reading it
    /// again. The items yielded before this error are real, but not all of them.
    #[error("incomplete listing: {0}")]
    Incomplete(Box<Incomplete>),
    /// A page or response could not be decoded.
    #[error("cannot decode {what} at {path}: {message}")]
    Decode {
        /// The kind, for list and get responses.
        kind: Option<ResourceKind>,
        /// What was being decoded (`a page of user`, `a token response`).
        what: String,
        /// The JSON path, or `line L column C` for malformed JSON.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// One record could not be made into a resource. Not fatal: the listing goes on.
    #[error("{} record #{} skipped: {}", .0.kind, .0.index, .0.error)]
    Record(Box<UnreadableRecord>),
    /// The request got no response after every retry.
    #[error("{method} {path}: {source}")]
    Transport {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// What the transport reported.
        source: TransportError,
    },
    /// The OAuth token could not be obtained.
    #[error("service-account authentication failed: {0}")]
    Auth(String),
    /// The client is not configured right (no API key, a bad base URL).
    #[error("client configuration: {0}")]
    Config(String),
    /// The request cannot be made as asked (a filter the API does not support, a missing parent).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl Error {
    /// Whether the listing or request ended: false only for [`Error::Record`].
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Self::Record(_))
    }

    /// The HTTP status of an error response, if this is one.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized(e) | Self::Forbidden(e) | Self::OrgSelection(e) | Self::Api(e) => {
                Some(e.status)
            }
            Self::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// An error response, told apart by status and JumpCloud's message.
    pub(crate) fn from_response(error: ApiError) -> Self {
        let summary = error.body.summary().to_ascii_lowercase();
        let organization = summary.contains("organization");
        match error.status {
            401 | 403 if organization => Self::OrgSelection(Box::new(error)),
            401 => Self::Unauthorized(Box::new(error)),
            403 => Self::Forbidden(Box::new(error)),
            _ => Self::Api(Box::new(error)),
        }
    }
}
