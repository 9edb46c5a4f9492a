//! Jumpwatch's notifier: timely notifications that arrive once, grouped, and never get lost.
//!
//! - [`alert`]: the [`Alert`] — findings, changes, audit events and collection health, as one
//!   shape with labels;
//! - [`matcher`], [`route`], [`silence`]: Alertmanager's model — a routing tree with grouping
//!   and timings, silences and inhibitions;
//! - [`outbox`]: the durable queue port (the store enqueues alerts in the poll's transaction)
//!   and [`MemoryOutbox`];
//! - [`notification`]: one message to one receiver;
//! - [`channel`]: Slack, Microsoft Teams, signed webhooks, PagerDuty, email and JSONL;
//! - [`notifier`]: the delivery worker — claims due groups, mutes, renders, sends at each
//!   endpoint's rate, retries with backoff, dead-letters, opens circuit breakers;
//! - [`config`]: the `[notify]` section of the configuration file;
//! - [`clock`]: time that moves with tokio's clock, so tests can pause it;
//! - [`conformance`]: the outbox's rules as checks, for implementers of the port;
//! - `sink` (feature `sink`): a local webhook receiver for demos and tests.
//!
//! The delivery guarantee and every channel's configuration: `docs/notifications.md`.

pub mod alert;
pub mod channel;
pub mod clock;
pub mod config;
pub mod conformance;
pub mod matcher;
pub mod notification;
pub mod notifier;
pub mod outbox;
pub mod route;
pub mod silence;
#[cfg(feature = "sink")]
pub mod sink;

pub use alert::{Alert, AlertKind, Link, Severity, Status};
pub use channel::{Channel, Rate, SendError};
pub use clock::Clock;
pub use config::{NotifyConfig, NotifyConfigError, RawNotify, ReceiverConfig};
pub use matcher::{Matcher, MatcherError, Matchers};
pub use notification::{Notification, Reason};
pub use notifier::{DeliveryPolicy, Drained, Notifier, NotifierBuilder, Pass};
pub use outbox::{
    Batch, Entry, EntryState, MemoryOutbox, NewEntry, Outbox, OutboxError, Outcome, ReceiverState,
    Settlement,
};
pub use route::{Destination, Route, RouteTree, Timing};
pub use silence::{Inhibition, Silence, SilenceError};
