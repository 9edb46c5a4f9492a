//! The JumpCloud resource model of [Jumpwatch](https://github.com/jumpwatch/jumpwatch): what a
//! JumpCloud resource is, with no I/O.
//!
//! - The **catalog**: [`ResourceKind`] lists every kind Jumpwatch collects (users, systems,
//!   groups, policies and their results, applications, commands, RADIUS servers, directories,
//!   authentication policies, IP lists, System Insights tables) and the relations between them
//!   (group memberships, bindings). [`ResourceKind::meta`] says where each is listed, how pages
//!   are wrapped, which field is the id, which paths are volatile or secret, how arrays compare,
//!   and the columns of its SQL view. It is generated from `catalog/kinds/*.toml` by
//!   `cargo xtask codegen`; `docs/resources.md` lists it.
//! - **Resources**: a [`Resource`] is a raw JSON document, kept losslessly, with its kind, id and
//!   display name. The [`types`] module has one typed struct a kind, read leniently
//!   ([`Resource::typed`]): a field of an unexpected type is reported, never fatal, and decoding
//!   then encoding gives back the same document.
//! - **Typed ids** ([`UserId`], [`SystemId`], ...) so ids of different kinds never mix.
//! - An [`Inventory`]: one tenant's resources at one poll, with a relation index.
//! - The [`Normalizer`]: the catalog's volatile, secret, array and null rules applied to a
//!   document, and a canonical [`ContentHash`] that ignores key order.
//! - A [`DirectoryEvent`](event::DirectoryEvent): a Directory Insights audit event, raw, with a
//!   tolerant typed view of its common fields.
//!
//! ```
//! use jumpwatch_model::{Inventory, Normalizer, Resource, ResourceKind, SystemId, TenantId};
//! use jumpwatch_model::types::System;
//! use serde_json::json;
//!
//! // A system as JumpCloud's v1 API lists it.
//! let doc = json!({
//!     "_id": "5e8c9f0a1b2c3d4e5f607182",
//!     "displayName": "ada-mbp",
//!     "osFamily": "darwin",
//!     "fde": {"active": false, "keyPresent": false},
//!     "lastContact": "2026-11-28T10:00:00Z",
//! });
//! let system = Resource::from_doc(ResourceKind::System, doc.clone())?;
//! assert_eq!(system.name.as_deref(), Some("ada-mbp"));
//!
//! // Typed access.
//! let typed: System = system.typed()?;
//! assert_eq!(typed.fde.and_then(|fde| fde.active), Some(false));
//!
//! // A check-in changes `lastContact`, which the catalog marks volatile: the hash stays.
//! let normalizer = Normalizer::for_kind(ResourceKind::System);
//! let mut later = doc.clone();
//! later["lastContact"] = json!("2026-11-29T10:00:00Z");
//! assert_eq!(normalizer.hash(&doc), normalizer.hash(&later));
//!
//! // An inventory of one tenant.
//! let mut inventory = Inventory::new(TenantId::new("acme")?);
//! inventory.insert(system)?;
//! let id = SystemId::new("5e8c9f0a1b2c3d4e5f607182")?;
//! assert!(inventory.get(ResourceKind::System, id.as_resource_id()).is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod catalog;
pub mod event;
// Printed by prettyplease (`cargo xtask codegen`), not rustfmt.
#[rustfmt::skip]
mod generated;
mod id;
pub mod inventory;
pub mod normalizer;
pub mod path;
pub mod resource;
mod severity;
mod timestamp;
pub mod typed;

pub use catalog::KindMeta;
pub use generated::ids::*;
pub use generated::kinds::ResourceKind;
pub use id::{InvalidId, ResourceId, TenantId};
pub use inventory::{Edge, HashedResources, Inventory, PolicyBinding};
pub use normalizer::{ContentHash, Normalizer};
pub use resource::{Resource, ResourceError};
pub use severity::Severity;
pub use timestamp::{Timestamp, parse_span};
pub use typed::{DecodeError, DecodeIssue, Decoded, Decoder, TypedResource, TypedValue, decode};

/// One typed struct a catalog kind (and the structs and enums of their nested fields),
/// generated from the catalog. See [`TypedValue`] for how they read and write JSON.
pub mod types {
    pub use crate::generated::types::*;
}
