//! Integration tests of the `jumpwatch` facade, one module a topic.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

mod config;
mod fuzz;
mod insights;
mod monitor;
mod notify;
mod rules;
