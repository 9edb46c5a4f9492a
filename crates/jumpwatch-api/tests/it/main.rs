//! Integration tests of `jumpwatch-api`, one module a topic. Only 127.0.0.1 is reached: mockito
//! servers, and in-process stub transports.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

mod events;
mod fuzz;
mod http;
mod paging;
mod secrets;
mod support;
