//! The simulator's clock: the instant the generated tenant is relative to, and the time of the
//! events it records.

use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

/// The simulator's notion of now.
///
/// By default it starts at the real time when the simulator starts and runs with it, so the
/// tenant looks current to rules that compare timestamps with now. A fixed clock
/// ([`Clock::fixed`]) stands still (it moves only when advanced), which makes every response
/// reproducible.
#[derive(Debug)]
pub(crate) struct Clock {
    start: DateTime<Utc>,
    mode: Mode,
    /// Time added by [`Clock::advance`].
    offset: Mutex<Duration>,
}

#[derive(Debug)]
enum Mode {
    Fixed,
    Running(Instant),
}

impl Clock {
    /// A clock that starts at `start` and runs with real time.
    pub(crate) fn running(start: DateTime<Utc>) -> Self {
        Self { start, mode: Mode::Running(Instant::now()), offset: Mutex::new(Duration::zero()) }
    }

    /// A clock that stands at `start`.
    pub(crate) fn fixed(start: DateTime<Utc>) -> Self {
        Self { start, mode: Mode::Fixed, offset: Mutex::new(Duration::zero()) }
    }

    /// The instant the tenant was generated at.
    pub(crate) fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// Whether the clock stands still.
    pub(crate) fn is_fixed(&self) -> bool {
        matches!(self.mode, Mode::Fixed)
    }

    /// Now.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let offset = *self.offset.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let elapsed = match self.mode {
            Mode::Fixed => Duration::zero(),
            Mode::Running(started) => {
                Duration::from_std(started.elapsed()).unwrap_or_else(|_| Duration::zero())
            }
        };
        let by = offset.checked_add(&elapsed).unwrap_or(offset);
        self.start.checked_add_signed(by).unwrap_or(self.start)
    }

    /// Moves the clock forward.
    pub(crate) fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Past the end of time the clock stops.
        if let Some(moved) = offset.checked_add(&by)
            && self.start.checked_add_signed(moved).is_some()
        {
            *offset = moved;
        }
    }
}

/// RFC 3339 with milliseconds and `Z`, as JumpCloud writes most timestamps.
pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 timestamp (with any offset) or a bare `YYYY-MM-DD` date (midnight UTC).
pub(crate) fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text.trim()) {
        return Some(at.to_utc());
    }
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_stands_still_until_advanced() {
        let start = parse_instant("2026-01-01T00:00:00Z").unwrap();
        let clock = Clock::fixed(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::seconds(90));
        assert_eq!(rfc3339(clock.now()), "2026-01-01T00:01:30.000Z");
        assert!(Clock::running(start).now() >= start);
    }

    #[test]
    fn dates_and_timestamps_parse() {
        assert!(parse_instant("2021-10-24").is_some());
        assert!(parse_instant("2021-10-24T10:00:00+02:00").is_some());
        assert!(parse_instant("yesterday").is_none());
    }
}
