//! Jumpwatch keeps a JumpCloud tenant secure and compliant: it collects every directory asset,
//! keeps every version and change in SQL, and reports what changed.
//!
//! This is the facade crate: the [`Monitor`] that runs the poll cycle on an interval for one or
//! more tenants, the [`Config`](config::Config) of `jumpwatch watch`, and re-exports of the
//! libraries it is made of:
//!
//! - [`model`]: the resource catalog, typed resources and ids, inventories;
//! - [`api`]: the JumpCloud client;
//! - [`changes`]: collection, diff and poll policy;
//! - [`store`]: the SQLite store and its SQL views.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let config = jumpwatch::config::Config::load("jumpwatch.toml")?;
//! let monitor = jumpwatch::Monitor::from_config(&config)?;
//! for (tenant, result) in monitor.poll_once().await {
//!     println!("{tenant}: {} changes", result?.events.len());
//! }
//! # Ok(()) }
//! ```

pub mod config;
mod monitor;

pub use jumpwatch_api as api;
pub use jumpwatch_changes as changes;
pub use jumpwatch_model as model;
pub use jumpwatch_store as store;
pub use monitor::{Monitor, MonitorBuilder, MonitorError, MonitorEvent, client_for};
