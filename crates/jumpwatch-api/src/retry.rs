//! [`RetryPolicy`]: which failures are sent again, and how long to wait.
//!
//! Retried: 429, 502, 503, 504, 500 on reads, timeouts, broken connections, and pages that do not
//! decode (a body cut short). The wait is the server's `Retry-After` when it sends one (seconds or
//! an HTTP date), otherwise exponential backoff with full jitter. Attempts and the total time are
//! capped.

use std::time::{Duration, SystemTime};

use backon::BackoffBuilder;

/// How failed requests are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) min_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) max_elapsed: Duration,
    pub(crate) max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// Six attempts, from 250 ms to 30 s apart, for at most two minutes; a `Retry-After` of up to
    /// five minutes is honoured.
    fn default() -> Self {
        Self {
            max_attempts: 6,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(120),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    #[must_use]
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// How many times a request is sent at most (at least once).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first backoff delay; each later one doubles, up to [`max_delay`](Self::max_delay).
    #[must_use]
    pub fn min_delay(mut self, delay: Duration) -> Self {
        self.min_delay = delay;
        self
    }

    /// The longest backoff delay.
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The longest time spent on one request, waits included.
    #[must_use]
    pub fn max_elapsed(mut self, elapsed: Duration) -> Self {
        self.max_elapsed = elapsed;
        self
    }

    /// The longest `Retry-After` honoured; a longer one is cut to this.
    #[must_use]
    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait;
        self
    }

    /// The exponential schedule (without jitter) for one request.
    pub(crate) fn schedule(&self) -> impl Iterator<Item = Duration> + use<> {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .without_max_times()
            .build()
    }
}

/// Full jitter: a uniformly random wait between zero and `delay`.
pub(crate) fn full_jitter(delay: Duration) -> Duration {
    let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(fastrand::u64(0..=millis))
}

/// Whether a status is worth sending again.
pub(crate) fn retryable_status(status: u16, idempotent: bool) -> bool {
    matches!(status, 429 | 502 | 503 | 504) || (status == 500 && idempotent)
}

/// Reads a `Retry-After` header: seconds, or an HTTP date (a date in the past is zero).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use jumpwatch_api::retry::parse_retry_after;
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
/// assert_eq!(parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now), Some(Duration::from_secs(10)));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
#[must_use]
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default()
            .min_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(500));
        let delays: Vec<u128> = policy.schedule().take(5).map(|d| d.as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        for _ in 0..100 {
            assert!(full_jitter(Duration::from_millis(50)) <= Duration::from_millis(50));
        }
    }

    #[test]
    fn statuses() {
        for status in [429, 502, 503, 504] {
            assert!(retryable_status(status, false));
        }
        assert!(retryable_status(500, true));
        assert!(!retryable_status(500, false));
        for status in [400, 401, 403, 404, 409] {
            assert!(!retryable_status(status, true));
        }
    }

    #[test]
    fn retry_after_in_the_past_is_zero() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(" 1.5 ", now), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
