//! Jumpwatch's change-detection engine: every change of a JumpCloud tenant, field by field,
//! never one that did not happen, never one missed.
//!
//! - The [`Collector`] lists a tenant through `jumpwatch-api` into an
//!   [`Inventory`](jumpwatch_model::Inventory); each kind is complete or says why not.
//! - The [`diff`] compares two inventories kind by kind and id by id into [`ChangeEvent`]s with
//!   field-level [`FieldChange`]s, after normalization by the catalog (volatile paths ignored,
//!   secrets compared by hash, `null` ≡ missing, keyed and set arrays matched by identity).
//! - The [`policy`] makes a first poll a baseline and holds mass deletions until confirmed.
//! - The [`Poller`] runs one poll cycle into an [`InventoryStore`] — the port a store implements
//!   (`jumpwatch-store` on SQLite; [`MemoryStore`] here) — and streams polls on an interval.
//!
//! Only complete listings are diffed: a kind whose listing failed keeps its previous snapshot and
//! reports no deletions.
//!
//! # Embedding the collector with your own storage
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use jumpwatch_changes::{Collector, MemoryStore, Poller};
//! use jumpwatch_model::TenantId;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let client = jumpwatch_api::Client::from_env()?;
//! // Any `InventoryStore` works here: implement `load` and `commit` for your database.
//! let store = Arc::new(MemoryStore::new());
//! let poller = Poller::new(Collector::new(client), Arc::clone(&store), TenantId::new("acme")?);
//! let baseline = poller.poll_once().await?; // the first poll is a baseline: no events
//! let next = poller.poll_once().await?;
//! for event in &next.events {
//!     println!("{} {} {}: {:?}", event.op, event.kind, event.resource_id, event.changed_fields());
//! }
//! # Ok(()) }
//! ```

pub mod attribution;
pub mod collector;
pub mod diff;
pub mod event;
pub mod insights;
pub mod policy;
pub mod poll;
pub mod store;

pub use attribution::{Attribution, attribute};
pub use collector::{Collection, Collector, KindReport, KindStatus};
pub use event::{Actor, ChangeEvent, ChangeOp, FieldChange, FieldOp, FieldPath, Segment};
pub use insights::{EventCursor, EventPolicy, EventRead, Gap};
pub use policy::PollPolicy;
pub use poll::{PollError, PollOutcome, Poller, PreparedPoll};
pub use store::{
    InsightsCommit, InventoryStore, MemoryStore, PollCommit, SnapshotIndex, StoreError, StoredState,
};
