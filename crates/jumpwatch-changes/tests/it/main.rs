//! Integration tests of `jumpwatch-changes`, one module a topic.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

mod diff_laws;
mod fake;
mod insights;
mod polls;
mod sim;
