//! The notifier's tests: each channel against a local mock server, routing, the outbox and the
//! delivery worker.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod email;
mod fuzz;
mod jsonl;
mod notifier;
mod outbox;
mod pagerduty;
mod routing;
mod slack;
mod support;
mod teams;
mod webhook;
