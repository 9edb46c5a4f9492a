//! Integration tests of `jumpwatch-store`, one module a topic.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

mod commits;
mod crash;
mod outbox;
mod queries;
mod support;
