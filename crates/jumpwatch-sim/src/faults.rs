//! Misbehaviour on demand: latency, 429 bursts, a rate limit, 5xx, connection resets, truncated
//! JSON, short pages, items moving between pages, and clock skew.
//!
//! Every decision but the rate limit is deterministic: the `n`-th attempt of the same request
//! (method, path, query and body) meets the same faults for the same seed, whatever other requests
//! run at the same time. A retry is a new attempt, so a client that retries gets through.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::ids::{hash_str, mix};

/// The faults to inject; all off by default. Set them at start
/// ([`SimulatorBuilder::faults`](crate::SimulatorBuilder::faults)), on the command line, or at
/// run time (`PUT /__sim/faults`, [`Simulator::set_faults`](crate::Simulator::set_faults)).
///
/// As JSON, every field is optional and an unknown field is refused, so a typo never passes
/// silently:
///
/// ```
/// use jumpwatch_sim::Faults;
/// let faults: Faults = serde_json::from_str(r#"{"error_rate": 0.1, "burst_429_rate": 0.05}"#).unwrap();
/// assert_eq!(faults, Faults::default().error_rate(0.1).burst_429_rate(0.05));
/// assert!(serde_json::from_str::<Faults>(r#"{"eror_rate": 0.1}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Faults {
    /// Added to every response, in milliseconds.
    pub latency_ms: u64,
    /// A random extra latency of up to this many milliseconds.
    pub latency_jitter_ms: u64,
    /// Share of requests (0 to 1) answered with a 500, 502, 503 or 504.
    pub error_rate: f64,
    /// Requests per second allowed (a token bucket of one second's worth); 0 is no limit. Requests
    /// over it get 429. The only fault that depends on real time.
    pub rate_limit_per_sec: f64,
    /// Share of requests (0 to 1) that start a burst of 429s: that attempt and the next
    /// `burst_length - 1` attempts of the same request are refused.
    pub burst_429_rate: f64,
    /// Attempts of the same request a 429 burst lasts.
    pub burst_length: u32,
    /// 429 responses carry `Retry-After`.
    pub retry_after: bool,
    /// The `Retry-After` value, in seconds.
    pub retry_after_s: u64,
    /// Share of successful responses (0 to 1) whose connection is reset half-way through the body.
    pub reset_rate: f64,
    /// Share of successful responses (0 to 1) whose JSON body is cut short (with a
    /// `Content-Length` that matches the cut body, so only the JSON is broken).
    pub truncate_rate: f64,
    /// Share of full list pages (0 to 1) that silently return fewer items than `limit` while more
    /// remain.
    pub short_page_rate: f64,
    /// While a client pages through a list (a request with `skip > 0`), a write moves the first
    /// item of the store's default order to its end first: paging without a sort misses one item
    /// and sees another twice. Sorting by id is immune, as JumpCloud advises.
    pub move_items: bool,
    /// Seconds added to the server's clock (the `Date` header, the time of new Directory
    /// Insights events, and the "future" check of event queries).
    pub clock_skew_s: i64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            latency_jitter_ms: 0,
            error_rate: 0.0,
            rate_limit_per_sec: 0.0,
            burst_429_rate: 0.0,
            burst_length: 3,
            retry_after: false,
            retry_after_s: 1,
            reset_rate: 0.0,
            truncate_rate: 0.0,
            short_page_rate: 0.0,
            move_items: false,
            clock_skew_s: 0,
        }
    }
}

impl Faults {
    /// No faults.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Fixed latency.
    #[must_use]
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Random extra latency, up to this much.
    #[must_use]
    pub fn latency_jitter(mut self, jitter: Duration) -> Self {
        self.latency_jitter_ms = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Share of requests answered with a 5xx.
    #[must_use]
    pub fn error_rate(mut self, rate: f64) -> Self {
        self.error_rate = rate;
        self
    }

    /// Requests per second allowed.
    #[must_use]
    pub fn rate_limit_per_sec(mut self, rate: f64) -> Self {
        self.rate_limit_per_sec = rate;
        self
    }

    /// Share of requests that start a burst of 429s.
    #[must_use]
    pub fn burst_429_rate(mut self, rate: f64) -> Self {
        self.burst_429_rate = rate;
        self
    }

    /// Attempts a 429 burst lasts.
    #[must_use]
    pub fn burst_length(mut self, attempts: u32) -> Self {
        self.burst_length = attempts;
        self
    }

    /// 429s carry `Retry-After: <seconds>`.
    #[must_use]
    pub fn retry_after(mut self, seconds: Option<u64>) -> Self {
        self.retry_after = seconds.is_some();
        if let Some(seconds) = seconds {
            self.retry_after_s = seconds;
        }
        self
    }

    /// Share of responses whose connection is reset mid-body.
    #[must_use]
    pub fn reset_rate(mut self, rate: f64) -> Self {
        self.reset_rate = rate;
        self
    }

    /// Share of responses whose JSON is cut short.
    #[must_use]
    pub fn truncate_rate(mut self, rate: f64) -> Self {
        self.truncate_rate = rate;
        self
    }

    /// Share of full pages that come back short.
    #[must_use]
    pub fn short_page_rate(mut self, rate: f64) -> Self {
        self.short_page_rate = rate;
        self
    }

    /// Items move between pages while a client pages.
    #[must_use]
    pub fn move_items(mut self, on: bool) -> Self {
        self.move_items = on;
        self
    }

    /// The server's clock runs this many seconds ahead (negative: behind).
    #[must_use]
    pub fn clock_skew_s(mut self, seconds: i64) -> Self {
        self.clock_skew_s = seconds;
        self
    }

    /// Checks the values; the error names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("burst_429_rate", self.burst_429_rate),
            ("reset_rate", self.reset_rate),
            ("truncate_rate", self.truncate_rate),
            ("short_page_rate", self.short_page_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, got {rate}"));
            }
        }
        if !self.rate_limit_per_sec.is_finite() || self.rate_limit_per_sec < 0.0 {
            return Err(format!(
                "rate_limit_per_sec must be 0 (no limit) or positive, got {}",
                self.rate_limit_per_sec
            ));
        }
        if self.burst_length == 0 {
            return Err("burst_length must be at least 1".into());
        }
        if self.latency_ms.saturating_add(self.latency_jitter_ms) > MAX_LATENCY_MS {
            return Err(format!(
                "latency_ms + latency_jitter_ms must be at most {MAX_LATENCY_MS} (an hour)"
            ));
        }
        if self.clock_skew_s.unsigned_abs() > MAX_SKEW_S {
            return Err(format!("clock_skew_s must be within ±{MAX_SKEW_S} seconds (ten years)"));
        }
        Ok(())
    }
}

/// The largest latency the faults add: an hour.
const MAX_LATENCY_MS: u64 = 3_600_000;

/// The largest clock skew: ten years.
pub(crate) const MAX_SKEW_S: u64 = 10 * 366 * 86_400;

/// How a request is refused before it is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 429 from the rate limit.
    RateLimited { retry_after: Option<u64> },
    /// 429 from a burst.
    Burst { retry_after: Option<u64> },
    /// A 5xx status.
    ServerError(u16),
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Plan {
    pub(crate) latency: Duration,
    pub(crate) refusal: Option<Refusal>,
    pub(crate) reset: bool,
    pub(crate) truncate: bool,
    /// The share of a full page to return, when the page comes back short.
    pub(crate) short_page: Option<f64>,
    pub(crate) move_items: bool,
}

/// The fault settings and the state the decisions need.
#[derive(Debug)]
pub(crate) struct FaultState {
    pub(crate) config: Faults,
    seed: u64,
    attempts: HashMap<u64, u64>,
    tokens: f64,
    refilled: Instant,
}

impl FaultState {
    pub(crate) fn new(config: Faults, seed: u64) -> Self {
        Self {
            tokens: config.rate_limit_per_sec.max(1.0),
            config,
            seed,
            attempts: HashMap::new(),
            refilled: Instant::now(),
        }
    }

    /// Replaces the settings; attempt counts start again.
    pub(crate) fn set(&mut self, config: Faults) {
        self.tokens = config.rate_limit_per_sec.max(1.0);
        self.refilled = Instant::now();
        self.config = config;
        self.attempts.clear();
    }

    /// Decides the faults of one request, identified by `key` (method, path, query, body).
    pub(crate) fn plan(&mut self, key: &str) -> Plan {
        let c = &self.config;
        let key_hash = hash_str(key);
        let attempt = {
            let n = self.attempts.entry(key_hash).or_insert(0);
            *n += 1;
            *n - 1
        };
        let roll = |label: u64, attempt: u64| -> f64 {
            fastrand::Rng::with_seed(mix(&[self.seed, key_hash, attempt, label])).f64()
        };
        let mut plan = Plan { latency: Duration::from_millis(c.latency_ms), ..Plan::default() };
        if c.latency_jitter_ms > 0 {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let jitter = (roll(1, attempt) * c.latency_jitter_ms as f64) as u64;
            plan.latency += Duration::from_millis(jitter);
        }
        let retry_after = c.retry_after.then_some(c.retry_after_s);
        if c.rate_limit_per_sec > 0.0 {
            let now = Instant::now();
            let elapsed = now.duration_since(self.refilled).as_secs_f64();
            self.refilled = now;
            let capacity = c.rate_limit_per_sec.max(1.0);
            self.tokens = (self.tokens + elapsed * c.rate_limit_per_sec).min(capacity);
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
            } else {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let wait = ((1.0 - self.tokens) / c.rate_limit_per_sec).ceil().max(1.0) as u64;
                plan.refusal =
                    Some(Refusal::RateLimited { retry_after: c.retry_after.then_some(wait) });
                return plan;
            }
        }
        if c.burst_429_rate > 0.0 {
            let first = attempt.saturating_sub(u64::from(c.burst_length) - 1);
            if (first..=attempt).any(|a| roll(2, a) < c.burst_429_rate) {
                plan.refusal = Some(Refusal::Burst { retry_after });
                return plan;
            }
        }
        if roll(3, attempt) < c.error_rate {
            let statuses = [500, 502, 503, 504];
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let status = statuses[(roll(4, attempt) * 4.0) as usize % 4];
            plan.refusal = Some(Refusal::ServerError(status));
            return plan;
        }
        plan.reset = roll(5, attempt) < c.reset_rate;
        plan.truncate = !plan.reset && roll(6, attempt) < c.truncate_rate;
        if roll(7, attempt) < c.short_page_rate {
            plan.short_page = Some(roll(8, attempt));
        }
        plan.move_items = c.move_items;
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_depend_on_the_request_and_attempt_only() {
        let faults = Faults::default().error_rate(0.5).burst_429_rate(0.2).short_page_rate(0.5);
        let mut a = FaultState::new(faults.clone(), 7);
        let mut b = FaultState::new(faults, 7);
        let keys =
            ["GET /api/systems?skip=0", "GET /api/systems?skip=100", "GET /api/v2/usergroups"];
        let mut first = Vec::new();
        for key in keys {
            for _ in 0..5 {
                first.push(a.plan(key).refusal);
            }
        }
        // Interleaved differently, each request still meets the same faults.
        let mut second = vec![None; 15];
        for attempt in 0..5 {
            for (i, k) in keys.iter().enumerate().rev() {
                second[i * 5 + attempt] = b.plan(k).refusal;
            }
        }
        assert_eq!(first, second);
        assert!(first.iter().any(Option::is_some));
    }

    #[test]
    fn bursts_last_their_length_and_retries_get_through() {
        let mut state = FaultState::new(Faults::default().burst_429_rate(0.3).burst_length(2), 1);
        let outcomes: Vec<bool> = (0..200).map(|_| state.plan("k").refusal.is_some()).collect();
        assert!(outcomes.iter().any(|r| *r) && outcomes.iter().any(|r| !r));
    }

    #[test]
    fn settings_are_checked() {
        assert!(Faults::default().error_rate(1.5).validate().unwrap_err().contains("error_rate"));
        assert!(Faults::default().burst_length(0).validate().is_err());
        assert!(Faults::default().clock_skew_s(i64::MIN).validate().is_err());
        assert!(Faults::default().latency(Duration::from_secs(7_200)).validate().is_err());
        assert!(Faults::default().validate().is_ok());
    }
}
