//! The notifier's clock: wall-clock time that moves with tokio's clock, so tests can pause and
//! advance time (`tokio::time::pause`) and see grouping, repeats and retries happen.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Wall-clock time anchored once and advanced by tokio's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    anchor: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl Clock {
    /// A clock reading the system's time now, then advancing with tokio's clock.
    #[must_use]
    pub fn system() -> Self {
        Self::starting_at(Utc::now())
    }

    /// A clock that reads `anchor` now (tests).
    #[must_use]
    pub fn starting_at(anchor: DateTime<Utc>) -> Self {
        Self { anchor, start: tokio::time::Instant::now() }
    }

    /// The time now.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.anchor + crate::outbox::span(self.start.elapsed())
    }

    /// Sleeps until `at` (at once when it has passed).
    pub async fn sleep_until(&self, at: DateTime<Utc>) {
        let wait = (at - self.now()).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
    }
}

impl governor::clock::Clock for Clock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}
