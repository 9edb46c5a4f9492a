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

/// The rate learned from the server's 429s. JumpCloud documents no rate limit and sends no
/// rate-limit headers, so the client learns one, assuming the common shape of a server limit: so
/// many requests a second, with a bucket of one second's worth.
///
/// At a 429, the responses that succeeded since the current run of requests began (after the
/// last 429, or after a pause of a second or more) are divided by that run's length plus one
/// second (the bucket it started with): a client that got `S` answers in `t` seconds (from its
/// first request's departure) from a full bucket of `r` met `S = r + r·t`. The answers that arrive
/// within one round trip after the 429 were sent before it, and accepted: they are counted in too,
/// as they come (raising the pace, never above that run's rate). From then on requests are spaced
/// evenly at 95 % of that — never in bursts. A run of fewer than ten answers says too little and
/// leaves the pace alone (the concurrency still halves); 429s within a second of the last one
/// answer requests sent before it and are not counted again (but count as refused).
///
/// Not every 429 is a limit: servers also refuse at random, in transient bursts, whatever the
/// rate. The two differ in how they answer a slower pace: a limit stops refusing once the client
/// is below it, random 429s go on. The rate the run's successes show is a lower bound of the
/// limit (the server accepted that much), so the pace is below any limit of the assumed shape, and
/// a 429 while the client keeps to it is not explained by the rate. Hence:
///
/// - A 429 is taken as a limit when the client was faster than the server was seen to accept:
///   before any pace was learned (the first 429 sets it, so a real limit costs one step of 429s),
///   and after a rise of the pace.
/// - Otherwise it is taken as a limit only if the run refused many requests: at least three, and
///   one in five answers or more — a limit the client went over refuses a large share of what it
///   sends, random 429s a small one whatever the pace. Such a 429 lowers the pace by half at most.
/// - Any other 429 is transient: the request is retried (as every 429 is) and the pace stays. If
///   the pace was lowered less than half a minute before, that cut did not stop the 429s: it is
///   undone (once per wait before a rise, so a limit and random 429s together do not see-saw).
///
/// After half a minute without a lowering in which the pace held requests back, it rises by a
/// quarter, so a limit that was lifted is left behind soon; a rise that overshoots costs one 429,
/// goes back no lower than the pace before it, and doubles the wait before the next rise (up to a
/// quarter of an hour), so a real limit is probed a handful of times an hour at most. A limit that
/// appears below a pace already learned and refuses fewer than one request in five is met by
/// retries until the next rise overshoots it; a single request at a time sees few refusals, so a
/// limit that appears after random 429s were found is learned only by a client with several
/// requests in flight (the default).
#[derive(Debug)]
pub(crate) struct LearnedRate {
    state: Mutex<Learned>,
}

#[derive(Debug)]
struct Learned {
    /// Requests a second, once a 429 was seen.
    rate: Option<f64>,
    /// Where the current run of requests began, and the successes since.
    run_start: tokio::time::Instant,
    run_successes: u64,
    /// The 429s answered in the current run.
    run_refused: u64,
    last_success: Option<tokio::time::Instant>,
    /// The last 429.
    throttled: Option<tokio::time::Instant>,
    /// The last change of the pace; if it was a rise, the pace before it; the wait before the next
    /// rise.
    changed: tokio::time::Instant,
    raised: Option<f64>,
    raise_after: Duration,
    /// Whether the pace held a request back since it last changed.
    binding: bool,
    /// The next free slot of the pace.
    next: tokio::time::Instant,
    /// After a 429 that set the pace: until when answers still count for it, the run's start,
    /// its answers, and when the 429 came.
    counting: Option<Counting>,
    /// The last cut, while it is on trial: the pace it replaced.
    trial: Option<Trial>,
    /// The last undone cut.
    undone: Option<tokio::time::Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Trial {
    before: Option<f64>,
    at: tokio::time::Instant,
}

#[derive(Debug, Clone, Copy)]
struct Counting {
    until: tokio::time::Instant,
    start: tokio::time::Instant,
    answers: u64,
    at: tokio::time::Instant,
}

impl Counting {
    /// The pace the run's answers give.
    fn pace(&self) -> f64 {
        let run = self.at.duration_since(self.start) + BUCKET;
        (self.answers as f64 / run.as_secs_f64() * 0.95).max(1.0)
    }
}

/// The bucket a server limit is assumed to hold, and the pause after which it is full again.
const BUCKET: Duration = Duration::from_secs(1);
/// The time without a 429 after which the pace rises first, and at most.
const RAISE_AFTER: Duration = Duration::from_secs(30);
const MAX_RAISE_AFTER: Duration = Duration::from_secs(15 * 60);
/// The fewest answers a run needs to say what the server's rate is.
const MIN_RUN: u64 = 10;
/// A run with fewer than one 429 in this many answers refused too few to be over a limit.
const SPARSE: u64 = 5;

impl LearnedRate {
    pub(crate) fn new() -> Self {
        let now = tokio::time::Instant::now();
        Self {
            state: Mutex::new(Learned {
                rate: None,
                run_start: now,
                run_successes: 0,
                run_refused: 0,
                last_success: None,
                throttled: None,
                changed: now,
                raised: None,
                raise_after: RAISE_AFTER,
                binding: false,
                next: now,
                counting: None,
                trial: None,
                undone: None,
            }),
        }
    }

    /// The learned requests a second, if any.
    pub(crate) fn rate(&self) -> Option<f64> {
        self.state.lock().ok().and_then(|s| s.rate)
    }

    /// Waits for the request's slot in the learned pace (at once until a 429 was seen); returns
    /// how long it waited.
    pub(crate) async fn until_ready(&self) -> Duration {
        let slot = {
            let Ok(mut state) = self.state.lock() else { return Duration::ZERO };
            let Some(mut rate) = state.rate else { return Duration::ZERO };
            let now = tokio::time::Instant::now();
            if state.binding && now.duration_since(state.changed) >= state.raise_after {
                state.raised = Some(rate);
                rate *= 1.25;
                state.rate = Some(rate);
                state.changed = now;
                state.binding = false;
                state.trial = None;
            }
            let slot = state.next.max(now);
            state.binding |= slot > now;
            state.next = slot + Duration::from_secs_f64(1.0 / rate);
            slot
        };
        let now = tokio::time::Instant::now();
        if slot > now {
            tokio::time::sleep_until(slot).await;
        }
        slot.saturating_duration_since(now)
    }

    /// An answer, `round_trip` after its request was sent.
    pub(crate) fn on_success(&self, round_trip: Duration) {
        if let Ok(mut state) = self.state.lock() {
            let now = tokio::time::Instant::now();
            // An answer to a request sent before the 429 that set the pace: part of that run.
            match state.counting {
                Some(mut counting) if now <= counting.until => {
                    counting.answers += 1;
                    state.counting = Some(counting);
                    let pace = counting.pace();
                    if state.rate.is_some_and(|rate| pace > rate) {
                        state.rate = Some(pace);
                    }
                }
                Some(_) => state.counting = None,
                None => {}
            }
            // After a pause the server's bucket is full again: a new run begins.
            let paused = |at: Option<tokio::time::Instant>| {
                at.is_none_or(|at| now.duration_since(at) >= BUCKET)
            };
            if paused(state.last_success) && paused(state.throttled) {
                // The run began when its first request left, not when it was answered.
                state.run_start = now.checked_sub(round_trip).unwrap_or(now);
                state.run_successes = 0;
                state.run_refused = 0;
            }
            state.run_successes += 1;
            state.last_success = Some(now);
        }
    }

    /// A 429: the pace becomes 95 % of the rate the run's successes show (at least one a second),
    /// and never rises on a 429.
    pub(crate) fn on_throttled(&self, round_trip: Duration) {
        if let Ok(mut state) = self.state.lock() {
            let now = tokio::time::Instant::now();
            state.run_refused += 1;
            if state.throttled.is_some_and(|at| now.duration_since(at) < BUCKET) {
                return;
            }
            state.throttled = Some(now);
            if state.run_successes >= MIN_RUN {
                // Faster than the server was seen to accept: before any pace, or after a rise.
                let over =
                    state.raised.is_some() || (state.rate.is_none() && state.undone.is_none());
                let sparse = state.run_refused < 3
                    || state.run_refused * SPARSE < state.run_successes + state.run_refused;
                if sparse && !over {
                    state.on_transient(now);
                } else {
                    state.lower(now, round_trip);
                }
            }
            state.run_start = now;
            state.run_successes = 0;
            state.run_refused = 0;
        }
    }
}

impl Learned {
    /// A 429 the rate does not explain: the last cut, if it is still on trial, did not stop the
    /// 429s and is undone, unless an undone cut was needed again within the wait before a rise.
    fn on_transient(&mut self, now: tokio::time::Instant) {
        let on_trial = self.trial.filter(|t| now.duration_since(t.at) < RAISE_AFTER);
        let may_undo = self.undone.is_none_or(|at| now.duration_since(at) >= self.raise_after);
        if let Some(trial) = on_trial
            && may_undo
        {
            self.rate = trial.before;
            self.trial = None;
            self.undone = Some(now);
            self.counting = None;
            self.binding = false;
            self.changed = now;
        }
    }

    /// A 429 the rate explains: the pace becomes 95 % of the rate the run's successes show.
    fn lower(&mut self, now: tokio::time::Instant, round_trip: Duration) {
        let before = self.rate;
        let counting = Counting {
            until: now + round_trip,
            start: self.run_start,
            answers: self.run_successes,
            at: now,
        };
        let measured = counting.pace();
        self.counting = Some(counting);
        self.rate = Some(match (self.rate, self.raised) {
            // A rise that overshot goes back no lower than the pace the server accepted before it.
            (Some(rate), Some(accepted)) => rate.min(measured.max(accepted)),
            (Some(rate), None) => rate.min(measured.max(rate / 2.0)),
            (None, _) => measured,
        });
        if self.raised.take().is_some() {
            self.raise_after = (self.raise_after * 2).min(MAX_RAISE_AFTER);
        }
        self.binding = false;
        self.changed = now;
        self.next = self.next.max(now);
        if self.rate != before {
            self.trial = Some(Trial { before, at: now });
        }
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

    /// A server's token bucket: `rate` tokens a second, holding at most `rate`.
    struct Bucket {
        rate: f64,
        tokens: f64,
        at: tokio::time::Instant,
    }

    impl Bucket {
        fn take(&mut self) -> bool {
            let now = tokio::time::Instant::now();
            self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate)
                .min(self.rate);
            self.at = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                true
            } else {
                false
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_learned_rate_stops_429s_after_the_first() {
        let learned = LearnedRate::new();
        let mut bucket = Bucket { rate: 20.0, tokens: 20.0, at: tokio::time::Instant::now() };
        let (mut throttled, mut ok) = (Vec::new(), 0);
        let start = tokio::time::Instant::now();
        while ok < 400 {
            learned.until_ready().await;
            // 25 ms a request, one in flight: 40 a second unchecked.
            tokio::time::sleep(Duration::from_millis(25)).await;
            if bucket.take() {
                learned.on_success(Duration::ZERO);
                ok += 1;
            } else {
                throttled.push(start.elapsed());
                learned.on_throttled(Duration::ZERO);
                // Retry-After: 1.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        assert_eq!(throttled.len(), 1, "429s at {throttled:?}");
        let rate = learned.rate().unwrap();
        assert!((15.0..=20.0).contains(&rate), "learned {rate}");
        // 400 requests at about 18 a second.
        let elapsed = start.elapsed().as_secs_f64();
        assert!(elapsed < 400.0 / 15.0 + 2.0, "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_rises_after_a_quiet_half_minute_and_backs_off_after_an_overshoot() {
        let learned = LearnedRate::new();
        // 20 answers at once, then a 429: a bucket of 20 a second.
        for _ in 0..20 {
            learned.on_success(Duration::ZERO);
        }
        learned.on_throttled(Duration::ZERO);
        assert_eq!(learned.rate(), Some(19.0));
        // The other requests in flight are throttled too: not counted again.
        learned.on_throttled(Duration::ZERO);
        assert_eq!(learned.rate(), Some(19.0));
        // Not while the pace holds nothing back.
        tokio::time::sleep(Duration::from_secs(31)).await;
        learned.until_ready().await;
        assert_eq!(learned.rate(), Some(19.0));
        // Held back (two requests at once), then a quiet half minute: a quarter more.
        learned.until_ready().await;
        tokio::time::sleep(Duration::from_secs(31)).await;
        learned.until_ready().await;
        let raised = learned.rate().unwrap();
        assert!((raised - 23.75).abs() < 1e-9, "{raised}");
        // The rise overshot: a 429 after a second of 20 answers brings it back down...
        tokio::time::sleep(Duration::from_secs(1)).await;
        for _ in 0..40 {
            learned.on_success(Duration::ZERO);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        learned.on_throttled(Duration::ZERO);
        let lowered = learned.rate().unwrap();
        assert!(lowered < raised, "{lowered}");
        // ...and the next rise waits twice as long.
        learned.until_ready().await;
        learned.until_ready().await;
        tokio::time::sleep(Duration::from_secs(31)).await;
        learned.until_ready().await;
        assert_eq!(learned.rate(), Some(lowered));
        tokio::time::sleep(Duration::from_secs(31)).await;
        learned.until_ready().await;
        assert!(learned.rate().unwrap() > lowered);
    }

    #[tokio::test(start_paused = true)]
    async fn answers_within_a_round_trip_after_the_429_count_for_its_run() {
        let learned = LearnedRate::new();
        for _ in 0..16 {
            learned.on_success(Duration::ZERO);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        learned.on_throttled(Duration::from_millis(50));
        let first = learned.rate().unwrap();
        assert!((first - 16.0 / 1.15 * 0.95).abs() < 1e-9, "{first}");
        // The four requests accepted before the bucket ran dry answer within the round trip.
        tokio::time::sleep(Duration::from_millis(20)).await;
        for _ in 0..4 {
            learned.on_success(Duration::ZERO);
        }
        let refined = learned.rate().unwrap();
        assert!((refined - 20.0 / 1.15 * 0.95).abs() < 1e-9, "{refined}");
        // Later answers are the paced run's, not that one's.
        tokio::time::sleep(Duration::from_millis(100)).await;
        learned.on_success(Duration::ZERO);
        assert_eq!(learned.rate(), Some(refined));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stray_429_early_in_a_run_leaves_the_pace_alone() {
        let learned = LearnedRate::new();
        for _ in 0..3 {
            learned.on_success(Duration::ZERO);
        }
        learned.on_throttled(Duration::ZERO);
        assert_eq!(learned.rate(), None);
        assert_eq!(learned.until_ready().await, Duration::ZERO);
    }

    /// A simulated server for the pace: a token bucket from some time on, and 429s at random.
    struct Server {
        /// The limit, and when it begins.
        limit: Option<(f64, Duration)>,
        bucket: Option<Bucket>,
        /// The share of requests refused at random, whatever the rate.
        noise: f64,
        rng: fastrand::Rng,
        start: tokio::time::Instant,
    }

    #[derive(Debug, Default)]
    struct Tally {
        ok: u64,
        /// When requests were refused by the limit, and at random.
        limited: Vec<f64>,
        random: Vec<f64>,
        polls: u64,
    }

    impl Server {
        fn new(limit: Option<(f64, Duration)>, noise: f64, seed: u64) -> Self {
            Self {
                limit,
                bucket: None,
                noise,
                rng: fastrand::Rng::with_seed(seed),
                start: tokio::time::Instant::now(),
            }
        }

        /// Whether a request is accepted; records the refusal.
        fn answer(&mut self, tally: &mut Tally) -> bool {
            let now = tokio::time::Instant::now();
            let at = now.duration_since(self.start);
            if let Some((rate, from)) = self.limit
                && at >= from
            {
                let bucket = self.bucket.get_or_insert(Bucket { rate, tokens: rate, at: now });
                if !bucket.take() {
                    tally.limited.push(at.as_secs_f64());
                    return false;
                }
            }
            if self.rng.f64() < self.noise {
                tally.random.push(at.as_secs_f64());
                return false;
            }
            tally.ok += 1;
            true
        }
    }

    /// `workers` tasks sending requests back to back for `run`, each `round_trip` long, through
    /// the client's limits; a refused request is sent again after a second (Retry-After: 1).
    async fn drive(
        server: Server,
        workers: usize,
        round_trip: Duration,
        run: Duration,
        polls: Option<(usize, Duration)>,
    ) -> (Arc<LearnedRate>, Tally) {
        // (jobs left in this poll, jobs in progress, polls done)
        let work = Arc::new(Mutex::new((usize::MAX, 0usize, 0u64)));
        if let Some((batch, interval)) = polls {
            let work = Arc::clone(&work);
            work.lock().unwrap().0 = batch;
            tokio::spawn(async move {
                let mut started = tokio::time::Instant::now();
                loop {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let done = {
                        let mut w = work.lock().unwrap();
                        let done = w.0 == 0 && w.1 == 0;
                        w.2 += u64::from(done);
                        done
                    };
                    if done {
                        tokio::time::sleep_until(started + interval).await;
                        started = tokio::time::Instant::now();
                        work.lock().unwrap().0 = batch;
                    }
                }
            });
        }
        let mut server = server;
        server.start = tokio::time::Instant::now();
        let learned = Arc::new(LearnedRate::new());
        let concurrency = Arc::new(AdaptiveConcurrency::new(workers));
        let server = Arc::new(Mutex::new(server));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let end = tokio::time::Instant::now() + run;
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let (learned, concurrency) = (Arc::clone(&learned), Arc::clone(&concurrency));
                let (server, tally) = (Arc::clone(&server), Arc::clone(&tally));
                let work = Arc::clone(&work);
                tokio::spawn(async move {
                    while tokio::time::Instant::now() < end {
                        let idle = {
                            let mut w = work.lock().unwrap();
                            let idle = w.0 == 0;
                            if !idle {
                                w.0 -= 1;
                                w.1 += 1;
                            }
                            idle
                        };
                        if idle {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            continue;
                        }
                        let permit = concurrency.acquire().await;
                        learned.until_ready().await;
                        tokio::time::sleep(round_trip).await;
                        let ok = server.lock().unwrap().answer(&mut tally.lock().unwrap());
                        drop(permit);
                        if ok {
                            concurrency.on_success();
                            learned.on_success(round_trip);
                            work.lock().unwrap().1 -= 1;
                        } else {
                            concurrency.on_throttled();
                            learned.on_throttled(round_trip);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            let mut w = work.lock().unwrap();
                            w.0 = w.0.saturating_add(1);
                            w.1 -= 1;
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let mut tally = std::mem::take(&mut *tally.lock().unwrap());
        tally.polls = work.lock().unwrap().2;
        (learned, tally)
    }

    /// Round trips of 10 ms through the client's limits with 8 in flight: up to 800 a second.
    const FAST: Duration = Duration::from_millis(10);

    #[tokio::test(start_paused = true)]
    async fn random_429s_do_not_ratchet_the_pace_down() {
        // 2 % of requests refused whatever the rate, for two minutes.
        let (learned, tally) =
            drive(Server::new(None, 0.02, 1), 8, FAST, Duration::from_secs(120), None).await;
        assert!(tally.random.len() > 100, "{} random 429s", tally.random.len());
        // Before, each 429 cut the pace: about 10 answers a second at the end, at 2 a second.
        let per_second = tally.ok as f64 / 120.0;
        assert!(per_second > 150.0, "{per_second} answers a second");
        let rate = learned.rate();
        assert!(rate.is_none_or(|rate| rate > 100.0), "paced at {rate:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn random_429s_do_not_slow_down_polls() {
        // A poll of 80 requests every 3 s, 6 % of them refused at random (the soak's burst
        // 429s refuse about that share): every poll is on time.
        let polls = Some((80, Duration::from_secs(3)));
        let (learned, tally) =
            drive(Server::new(None, 0.06, 11), 8, FAST, Duration::from_secs(120), polls).await;
        assert!(tally.random.len() > 150, "{} random 429s", tally.random.len());
        assert!(tally.polls >= 39, "{} polls of 40", tally.polls);
        assert_eq!(learned.rate(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_real_limit_is_still_learned_at_the_first_429s() {
        // 20 a second; the first rise of the pace comes after 30 s.
        let limit = Some((20.0, Duration::ZERO));
        let (learned, tally) =
            drive(Server::new(limit, 0.0, 5), 8, FAST, Duration::from_secs(30), None).await;
        // The first step: the requests in flight when the bucket ran dry. None after.
        assert!((1..=8).contains(&tally.limited.len()), "429s at {:?}", tally.limited);
        assert!(tally.limited.iter().all(|&at| at < 1.0), "429s at {:?}", tally.limited);
        let rate = learned.rate().unwrap();
        assert!((15.0..20.0).contains(&rate), "learned {rate}");
        let per_second = tally.ok as f64 / 30.0;
        assert!(per_second > 17.0, "{per_second} answers a second");
    }

    #[tokio::test(start_paused = true)]
    async fn a_limit_that_appears_after_random_429s_is_still_learned() {
        // A minute of 2 % random 429s, then a limit of 20 a second as well.
        let limit = Some((20.0, Duration::from_secs(60)));
        let (learned, tally) =
            drive(Server::new(limit, 0.02, 6), 8, FAST, Duration::from_secs(90), None).await;
        assert!(tally.random.len() > 100, "{} random 429s", tally.random.len());
        // Learned within a few seconds, and kept to.
        assert!(!tally.limited.is_empty());
        assert!(tally.limited.iter().all(|&at| (60.0..65.0).contains(&at)), "{:?}", tally.limited);
        let rate = learned.rate().unwrap();
        assert!((5.0..20.0).contains(&rate), "learned {rate}");
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
