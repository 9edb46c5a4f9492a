//! Client-wide limits shared by every request and stream: a rate limit (governor, on tokio's
//! clock so tests can pause time) and an adaptive concurrency limit that halves on 429 and grows
//! back by one after each full window of successes (AIMD).

use std::sync::Mutex;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::Notify;

/// governor's clock on tokio's time, so a paused test clock pauses the limiter too.
#[derive(Debug, Clone)]
pub(crate) struct TokioClock {
    origin: tokio::time::Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// At most `n` requests a second, in bursts of at most `n`.
pub(crate) struct RateLimit {
    limiter: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>,
    clock: TokioClock,
}

impl RateLimit {
    pub(crate) fn per_second(n: std::num::NonZeroU32) -> Self {
        let clock = TokioClock { origin: tokio::time::Instant::now() };
        Self { limiter: RateLimiter::direct_with_clock(Quota::per_second(n), clock.clone()), clock }
    }

    /// Waits for a slot; returns how long it waited.
    pub(crate) async fn until_ready(&self) -> Duration {
        let mut waited = Duration::ZERO;
        while let Err(not_until) = self.limiter.check() {
            let wait = not_until.wait_time_from(self.clock.now());
            waited += wait;
            tokio::time::sleep(wait).await;
        }
        waited
    }
}

#[derive(Debug)]
struct State {
    limit: usize,
    in_flight: usize,
    successes: usize,
}

/// A concurrency limit that adapts to the server: halved on each 429 (never below one), raised by
/// one after `limit` successes in a row (never above the configured maximum).
#[derive(Debug)]
pub(crate) struct AdaptiveConcurrency {
    max: usize,
    state: Mutex<State>,
    notify: Notify,
}

/// A slot for one request in flight; released on drop.
pub(crate) struct Permit<'a> {
    owner: &'a AdaptiveConcurrency,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.owner.state.lock() {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
        self.owner.notify.notify_waiters();
    }
}

impl AdaptiveConcurrency {
    pub(crate) fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            max,
            state: Mutex::new(State { limit: max, in_flight: 0, successes: 0 }),
            notify: Notify::new(),
        }
    }

    pub(crate) async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Ok(mut state) = self.state.lock()
                && state.in_flight < state.limit
            {
                state.in_flight += 1;
                return Permit { owner: self };
            }
            notified.await;
        }
    }

    pub(crate) fn on_success(&self) {
        let grew = match self.state.lock() {
            Ok(mut state) => {
                state.successes += 1;
                if state.successes >= state.limit && state.limit < self.max {
                    state.limit += 1;
                    state.successes = 0;
                    true
                } else {
                    false
                }
            }
            Err(_) => false,
        };
        if grew {
            self.notify.notify_waiters();
        }
    }

    pub(crate) fn on_throttled(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.limit = (state.limit / 2).max(1);
            state.successes = 0;
        }
    }

    /// The current limit.
    pub(crate) fn limit(&self) -> usize {
        self.state.lock().map_or(1, |s| s.limit)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_rate_limit_spaces_requests() {
        let limit = RateLimit::per_second(std::num::NonZeroU32::new(10).unwrap());
        let start = tokio::time::Instant::now();
        for _ in 0..30 {
            limit.until_ready().await;
        }
        // A burst of 10, then 20 more at 10 a second.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(1900), "{elapsed:?}");
        assert!(elapsed <= Duration::from_millis(2100), "{elapsed:?}");
    }

    #[tokio::test]
    async fn concurrency_halves_on_429_and_recovers() {
        let c = AdaptiveConcurrency::new(8);
        c.on_throttled();
        assert_eq!(c.limit(), 4);
        c.on_throttled();
        c.on_throttled();
        c.on_throttled();
        assert_eq!(c.limit(), 1);
        c.on_success();
        assert_eq!(c.limit(), 2);
        for _ in 0..2 {
            c.on_success();
        }
        assert_eq!(c.limit(), 3);
        for _ in 0..100 {
            c.on_success();
        }
        assert_eq!(c.limit(), 8);
    }

    #[tokio::test]
    async fn no_more_than_the_limit_in_flight() {
        let c = Arc::new(AdaptiveConcurrency::new(3));
        let peak = Arc::new(Mutex::new((0usize, 0usize)));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (c, peak) = (Arc::clone(&c), Arc::clone(&peak));
                tokio::spawn(async move {
                    let _permit = c.acquire().await;
                    {
                        let mut p = peak.lock().unwrap();
                        p.0 += 1;
                        p.1 = p.1.max(p.0);
                    }
                    tokio::task::yield_now().await;
                    peak.lock().unwrap().0 -= 1;
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let peak = peak.lock().unwrap().1;
        assert!((1..=3).contains(&peak), "{peak}");
    }
}
