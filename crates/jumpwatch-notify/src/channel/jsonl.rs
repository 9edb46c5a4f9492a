//! The JSONL channel: each notification appended to a file (or written to standard output) as
//! one line of JSON — Jumpwatch's envelope, as webhooks receive it. For log shippers, SIEM file
//! inputs and scripts.
//!
//! ```toml
//! [[notify.receivers]]
//! name = "archive"
//! type = "jsonl"
//! path = "/var/log/jumpwatch/notifications.jsonl"   # "-" for standard output
//! ```
//!
//! The file is created when missing and opened in append mode for each line; the line is written
//! with one call and flushed, so lines from several writers do not interleave, and a rotated
//! file is simply created again. A write error is retried.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use super::fields::{FieldError, Fields};
use super::{Channel, Rate, SendError};
use crate::notification::Notification;

/// The channel's type name.
pub const KIND: &str = "jsonl";

/// The `path` that means standard output.
pub const STDOUT: &str = "-";

/// A JSONL receiver's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonlConfig {
    /// The file to append to; `-` is standard output.
    pub path: String,
}

impl JsonlConfig {
    /// Reads `path`; the caller calls [`Fields::finish`].
    pub fn from_fields(fields: &mut Fields<'_>) -> Result<Self, FieldError> {
        let path = fields.required("path")?;
        if path.trim().is_empty() {
            return Err(FieldError { field: "path".to_owned(), message: "is empty".to_owned() });
        }
        Ok(Self { path })
    }
}

/// A notification's line: its envelope as compact JSON, then `\n`.
#[must_use]
pub fn line(notification: &Notification) -> String {
    let mut line = notification.envelope().to_string();
    line.push('\n');
    line
}

/// Appends notifications to a file, one JSON line each.
pub struct JsonlChannel {
    config: JsonlConfig,
    /// One line at a time from this process.
    lock: Mutex<()>,
}

impl JsonlChannel {
    /// A channel for `config`.
    pub fn new(config: JsonlConfig) -> Result<Self, String> {
        Ok(Self { config, lock: Mutex::new(()) })
    }

    fn write(&self, line: &[u8]) -> std::io::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        if self.config.path == STDOUT {
            let mut out = std::io::stdout().lock();
            out.write_all(line)?;
            out.flush()
        } else {
            let mut file = OpenOptions::new().create(true).append(true).open(&self.config.path)?;
            file.write_all(line)?;
            file.flush()
        }
    }
}

impl fmt::Debug for JsonlChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonlChannel").field("config", &self.config).finish_non_exhaustive()
    }
}

#[async_trait]
impl Channel for JsonlChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn default_rate(&self) -> Option<Rate> {
        None
    }

    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let line = line(notification);
        self.write(line.as_bytes()).map_err(|e| {
            let target = if self.config.path == STDOUT {
                "standard output".to_owned()
            } else {
                self.config.path.clone()
            };
            SendError::retry(format!("could not append to {target}: {e}"))
        })
    }
}
