//! The simulator's errors.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::mutation::Applied;

/// What can go wrong starting or driving the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime of a simulator started with [`SimulatorBuilder::spawn`](crate::SimulatorBuilder::spawn)
    /// could not be made.
    #[error("cannot start the simulator's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// Fault settings out of range.
    #[error("invalid faults: {0}")]
    Faults(String),
    /// A mutation was refused; the ones before it were applied.
    #[error("mutation {index} refused: {message}")]
    Mutation {
        /// The position of the refused mutation in the batch.
        index: usize,
        /// Why it was refused.
        message: String,
        /// The mutations applied before it.
        applied: Box<Vec<Applied>>,
    },
    /// A scenario could not run.
    #[error("scenario failed: {0}")]
    Scenario(String),
    /// A fixture file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A fixture file does not hold what it should.
    #[error("{path}: {message}")]
    Fixture {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Committed fixtures differ from what the generator makes now.
    #[error("stale fixtures (run `cargo xtask fixtures`): {}", .0.join(", "))]
    StaleFixtures(Vec<String>),
}
