//! Jumpwatch keeps a JumpCloud tenant secure and compliant: it collects every directory asset,
//! keeps every version and change in SQL, judges it against security rules, and reports what
//! changed and what is at risk.
//!
//! This is the facade crate: the [`Monitor`] that runs the poll cycle on an interval for one or
//! more tenants, the [`Config`](config::Config) of `jumpwatch watch`, and re-exports of the
//! libraries it is made of:
//!
//! - [`model`]: the resource catalog, typed resources and ids, inventories;
//! - [`api`]: the JumpCloud client;
//! - [`changes`]: collection, diff and poll policy;
//! - [`rules`]: the rule engine, the built-in pack, findings and suppressions;
//! - [`notify`]: alerts, routing, the outbox and the channels (the [`alerts`] module makes
//!   alerts of what the Monitor sees);
//! - [`store`]: the SQLite store and its SQL views.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let config = jumpwatch::config::Config::load("jumpwatch.toml")?;
//! let monitor = jumpwatch::Monitor::from_config(&config)?;
//! for (tenant, result) in monitor.poll_once().await {
//!     let polled = result?;
//!     let open = polled.audit.map_or(0, |a| a.findings.in_state(jumpwatch::rules::FindingState::Open).count());
//!     println!("{tenant}: {} changes, {open} open findings", polled.outcome.events.len());
//! }
//! # Ok(()) }
//! ```

pub mod alerts;
pub mod config;
mod monitor;
mod monitor_store;

pub use jumpwatch_api as api;
pub use jumpwatch_changes as changes;
pub use jumpwatch_model as model;
pub use jumpwatch_notify as notify;
pub use jumpwatch_rules as rules;
pub use jumpwatch_store as store;
pub use monitor::{Monitor, MonitorBuilder, MonitorError, MonitorEvent, Polled, client_for};
pub use monitor_store::{MemoryMonitorStore, MonitorStore};
