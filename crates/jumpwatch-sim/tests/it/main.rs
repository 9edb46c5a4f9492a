//! Integration tests of the simulator, through its HTTP interface with a plain HTTP client.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

mod admin;
mod auth;
mod dataset;
mod determinism;
mod faults;
mod fixtures;
mod fuzz;
mod graph;
mod handle;
mod insights;
mod paging;
mod query;
mod resources;
mod risks;
mod support;
