//! A typed JumpCloud API client that never silently truncates: every item exactly once, as fast
//! as the API allows, or an error that says precisely why not.
//!
//! - One generic listing for every kind of the [resource catalog](jumpwatch_model::ResourceKind):
//!   v1 `{totalCount, results}` envelopes, v2 bare arrays and named wrappers, child collections
//!   and associations per parent, System Insights tables with pages of up to 10 000 rows.
//! - Pages of the largest size the endpoint takes, fetched in parallel when the total is known,
//!   yielded in order; duplicates dropped; counts checked against the announced total, with one
//!   more pass before an [`Error::Incomplete`].
//! - Retries of 429, 5xx, timeouts, broken connections and truncated bodies, with exponential
//!   backoff and full jitter, honouring `Retry-After`; a client-wide rate limit and a concurrency
//!   limit that halves on 429 and recovers slowly, so one client can serve many tenants.
//! - API keys or OAuth 2.0 service accounts, as [`SecretString`]s that
//!   never appear in `Debug`, logs, errors or URLs; `x-org-id` for multi-tenant administrators,
//!   left off the routes that refuse it.
//! - Directory Insights events as a stream over `search_after` ([`Client::events`]).
//! - A [`Transport`](transport::Transport) seam to route requests through your own code.
//!
//! # Listing with a custom concurrency
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use jumpwatch_api::{Client, Filter};
//! use jumpwatch_model::{ResourceKind, types::User};
//!
//! # async fn example() -> Result<(), jumpwatch_api::Error> {
//! let client = Client::builder()
//!     .api_key_from_env()?          // JUMPCLOUD_API_KEY
//!     .concurrency(16)              // up to 16 requests in flight
//!     .rate_limit(20)               // at most 20 requests a second
//!     .build()?;
//! let mut users = client.list(ResourceKind::User).filter(Filter::eq("state", "ACTIVATED")).typed::<User>();
//! while let Some(user) = users.try_next().await? {
//!     if user.value.sudo == Some(true) {
//!         println!("{} has sudo everywhere", user.resource.name.unwrap_or_default());
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Handling an incomplete listing
//!
//! ```no_run
//! use jumpwatch_api::{Client, Error};
//! use jumpwatch_model::ResourceKind;
//!
//! # async fn example(client: Client) -> Result<(), Error> {
//! match client.list(ResourceKind::System).collect().await {
//!     Ok(listing) => println!("{} systems", listing.resources.len()),
//!     // The API announced more (or fewer) items than arrived, twice: do not treat what came
//!     // as the whole set (no deletions from it!), and try again later.
//!     Err(Error::Incomplete(incomplete)) => eprintln!("incomplete: {incomplete}"),
//!     Err(error) => return Err(error),
//! }
//! # Ok(()) }
//! ```

mod auth;
mod client;
mod error;
mod filter;
mod insights;
mod limiter;
mod list;
pub mod page;
pub mod retry;
pub mod transport;

pub use auth::{Credentials, DEFAULT_TOKEN_URL};
pub use client::{Client, ClientBuilder, Region, Stats, accepts_org_header};
pub use error::{ApiError, ApiErrorBody, Error, Incomplete, UnreadableRecord};
pub use filter::{Filter, Op};
pub use insights::{EVENTS_PATH, EventQuery, MAX_PAGE_SIZE};
pub use list::{ListRequest, Listing, Typed};
pub use retry::RetryPolicy;
pub use secrecy::SecretString;
