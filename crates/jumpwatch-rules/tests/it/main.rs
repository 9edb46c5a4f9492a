//! Integration tests of `jumpwatch-rules`, one module a topic.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

mod compiled;
mod events;
mod findings;
mod fuzz;
mod loading;
mod output;
mod pack;
