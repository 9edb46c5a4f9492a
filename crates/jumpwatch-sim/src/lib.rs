//! A faithful fake JumpCloud for tests, demos and benchmarks — and for your own integration tests.
//!
//! `jumpwatch-sim` serves JumpCloud's API on 127.0.0.1 from a seeded, realistic tenant: every
//! kind of Jumpwatch's resource catalog (users, systems, groups and their members, bindings with
//! compiled sudo rights, policies and their results, applications, commands, RADIUS servers,
//! directories, authentication policies, IP lists, Apple MDM, software, System Insights tables),
//! with JumpCloud's semantics:
//!
//! - `x-api-key` (or an OAuth bearer token from `POST /oauth2/token`) and JumpCloud's 401 bodies;
//!   keys that span several organizations, where `x-org-id` is required (401 without it) and
//!   refused by the routes that refuse it (403);
//! - `limit` (default 10, at most 100, 10,000 for System Insights), `skip`, `sort`, `fields` and
//!   `filter` in the v1 and v2 dialects, with a clear 400 naming the parameter for what is wrong or
//!   unsupported; v1 `{totalCount, results}` envelopes and v2 bare arrays with `x-total-count`;
//! - gets by id (404 `{"message":"Not Found"}`), child collections and relations per parent,
//!   `associations`, `members`, `membership`, `memberof` and traversals through groups;
//! - Directory Insights events with `search_after` paging, made from every change and from
//!   background sign-ins;
//! - faults on demand ([`Faults`]): latency, 429 bursts and a rate limit, 5xx, connection resets,
//!   truncated JSON, short pages, items moving between pages, clock skew — deterministic for a
//!   seed;
//! - an admin API under `/__sim/` and the same operations on the [`Simulator`] handle: mutations
//!   ([`Mutation`]), scenarios ([`Scenario`]), faults, statistics, reset.
//!
//! # Testing code that talks to JumpCloud
//!
//! Start a simulator in the test, point the code under test at [`Simulator::base_url`] with
//! [`Simulator::api_key`], and drive the tenant from the test. The simulator stops when the
//! handle is dropped.
//!
//! ```
//! use jumpwatch_model::{ResourceKind, UserId};
//! use jumpwatch_sim::{Mutation, Simulator, Size};
//! use serde_json::{Value, json};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let _ = rustls::crypto::ring::default_provider().install_default();
//! let sim = Simulator::builder().seed(42).size(Size::Small).start().await?;
//!
//! // A plain HTTP request, as JumpCloud expects it.
//! let http = reqwest::Client::new();
//! let page: Value = http
//!     .get(format!("{}/api/systemusers?limit=100&sort=_id", sim.base_url()))
//!     .header("x-api-key", sim.api_key())
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(page["totalCount"], 50);
//!
//! // Change the tenant between two polls of the code under test: grant sudo to a user.
//! let user = page["results"].as_array().into_iter().flatten().find(|u| u["sudo"] == false);
//! let ada = UserId::new(user.and_then(|u| u["_id"].as_str()).unwrap_or_default())?;
//! let applied = sim.apply([Mutation::update(ResourceKind::User, ada).set("sudo", json!(true))])?;
//! assert_eq!(applied[0].fields, ["sudo"]);
//! # Ok(())
//! # }
//! ```
//!
//! The tenant alone, without a server, is a [`Dataset`]; the committed fixture tenant is in
//! [`fixtures`]. The command-line options of `jumpwatch-sim` (and `jumpwatch sim`) are
//! [`SimArgs`]. `docs/simulator.md` describes the semantics, the admin API and the faults.

// The generator writes documents as large `json!` literals.
#![recursion_limit = "256"]

mod args;
mod clock;
pub mod dataset;
mod error;
mod events;
mod faults;
pub mod fixtures;
mod graph;
mod ids;
mod mutation;
mod query;
mod scenario;
mod server;
mod simulator;
mod stats;
mod store;

pub use args::{SimArgs, shutdown_signal};
pub use dataset::{Dataset, DatasetBuilder, Size, Tenant, UnknownSize};
pub use error::Error;
pub use faults::Faults;
pub use mutation::{Applied, FieldChange, Mutation, Op};
pub use scenario::{Scenario, ScenarioReport, UnknownScenario};
pub use simulator::{Simulator, SimulatorBuilder};
pub use stats::{FaultCounts, RouteStats, Stats};
