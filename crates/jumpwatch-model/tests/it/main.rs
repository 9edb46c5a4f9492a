//! Integration tests of `jumpwatch-model`, one module a topic.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

mod catalog;
mod inventory;
mod normalizer;
mod support;
mod views;
