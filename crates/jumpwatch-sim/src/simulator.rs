//! [`Simulator`]: a running fake JumpCloud, and its builder.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use jumpwatch_model::OrganizationId;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::dataset::{DatasetBuilder, Size, Tenant};
use crate::error::Error;
use crate::faults::Faults;
use crate::ids::{hash_str, hex, mix};
use crate::mutation::{Applied, Mutation};
use crate::scenario::{Scenario, ScenarioReport};
use crate::server::{Config, Shared, lock, router};
use crate::stats::Stats;

/// Options of a simulator; see [`Simulator::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SimulatorBuilder {
    /// The tenant: seed, size, clock, organizations.
    dataset: DatasetBuilder,
    api_key: Option<String>,
    client: Option<(String, String)>,
    faults: Faults,
    listen: SocketAddr,
}

impl Default for SimulatorBuilder {
    fn default() -> Self {
        Self {
            dataset: DatasetBuilder::default(),
            api_key: None,
            client: None,
            faults: Faults::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

impl SimulatorBuilder {
    /// The seed of the tenant and of the faults (default 42).
    pub fn seed(mut self, seed: u64) -> Self {
        self.dataset = self.dataset.seed(seed);
        self
    }

    /// The size of the tenant (default [`Size::Small`]).
    pub fn size(mut self, size: Size) -> Self {
        self.dataset = self.dataset.size(size);
        self
    }

    /// Fixes the clock at an instant: the tenant is generated relative to it and the clock stands
    /// still, so every response is reproducible. By default the clock starts at the real time and
    /// runs.
    pub fn now(mut self, now: DateTime<Utc>) -> Self {
        self.dataset = self.dataset.now(now);
        self
    }

    /// The number of organizations (default 1). With more than one, the API key spans them all
    /// (a multi-tenant administrator) and `x-org-id` is required.
    pub fn orgs(mut self, orgs: usize) -> Self {
        self.dataset = self.dataset.orgs(orgs);
        self
    }

    /// The API key clients must send in `x-api-key` (default: derived from the seed).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The OAuth client id and secret of the token endpoint (default: derived from the seed).
    pub fn oauth_client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.client = Some((id.into(), secret.into()));
        self
    }

    /// The faults to inject from the start.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Latency added to every API response (a shortcut for the `latency_ms` fault).
    pub fn latency(mut self, latency: Duration) -> Self {
        self.faults = self.faults.latency(latency);
        self
    }

    /// The address to listen on (default `127.0.0.1:0`, a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    fn prepare(mut self) -> Result<(Arc<Shared>, SocketAddr), Error> {
        self.faults.validate().map_err(Error::Faults)?;
        let clock = match self.dataset.now {
            Some(now) => Clock::fixed(now),
            None => {
                let now = Utc::now();
                self.dataset = self.dataset.now(now);
                Clock::running(now)
            }
        };
        let (seed, size) = (self.dataset.seed, self.dataset.size);
        let dataset = self.dataset.generate();
        let mut rng = fastrand::Rng::with_seed(mix(&[seed, hash_str("credentials")]));
        let api_key = self.api_key.unwrap_or_else(|| format!("jcsim_{}", hex(&mut rng, 20)));
        let (client_id, client_secret) = self
            .client
            .unwrap_or_else(|| (format!("sim-client-{}", hex(&mut rng, 6)), hex(&mut rng, 24)));
        let config = Config { api_key, client_id, client_secret, seed, size };
        let shared = Arc::new(Shared::new(config, dataset.into_parts(), clock, self.faults));
        Ok((shared, self.listen))
    }

    /// Generates the tenant and starts serving it on the current Tokio runtime. The simulator
    /// stops when the returned handle is dropped.
    pub async fn start(self) -> Result<Simulator, Error> {
        let (shared, addr) = tokio::task::spawn_blocking(move || self.prepare())
            .await
            .map_err(|e| Error::Runtime(std::io::Error::other(e)))??;
        let listener =
            TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })?;
        let local = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(Arc::clone(&shared));
        let task = tokio::spawn(serve(listener, app, stopped));
        Ok(Simulator::new(shared, local, stop, Runner::Task(task)))
    }

    /// Starts the simulator on a runtime of its own, in a background thread: for code that is
    /// not async (or tests that use a blocking HTTP client). It stops when the handle is dropped.
    pub fn spawn(self) -> Result<Simulator, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("jumpwatch-sim")
            .build()
            .map_err(Error::Runtime)?;
        let (shared, addr) = self.prepare()?;
        let listener = runtime
            .block_on(TcpListener::bind(addr))
            .map_err(|source| Error::Bind { addr, source })?;
        let local = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(Arc::clone(&shared));
        let thread = std::thread::Builder::new()
            .name("jumpwatch-sim".into())
            .spawn(move || runtime.block_on(serve(listener, app, stopped)))
            .map_err(Error::Runtime)?;
        Ok(Simulator::new(shared, local, stop, Runner::Thread(Some(thread))))
    }
}

/// Serves until told to stop (or until the handle is dropped), then lets requests in flight
/// finish for a moment.
async fn serve(listener: TcpListener, app: axum::Router, stopped: oneshot::Receiver<()>) {
    let (graceful, graceful_rx) = oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async {
        let _ = graceful_rx.await;
    });
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        result = &mut server => {
            if let Err(error) = result {
                tracing::warn!(%error, "the simulator stopped with an error");
            }
        }
        _ = stopped => {
            let _ = graceful.send(());
            let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
        }
    }
}

#[derive(Debug)]
enum Runner {
    Task(tokio::task::JoinHandle<()>),
    Thread(Option<std::thread::JoinHandle<()>>),
}

/// A running fake JumpCloud on 127.0.0.1: the way to test code that talks to JumpCloud.
///
/// Point the code under test at [`Simulator::base_url`] with [`Simulator::api_key`] (or the
/// OAuth client of [`Simulator::client_id`] and [`Simulator::client_secret`]). Change the tenant
/// between calls with [`Simulator::apply`] and [`Simulator::scenario`], make it misbehave with
/// [`Simulator::set_faults`], and see what was asked with [`Simulator::stats`]. The same
/// operations are served over HTTP under `/__sim/` (see `docs/simulator.md`).
///
/// The server stops when the handle is dropped.
#[derive(Debug)]
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    base_url: String,
    stop: Option<oneshot::Sender<()>>,
    runner: Runner,
}

impl Simulator {
    /// Options of a new simulator.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::default()
    }

    fn new(
        shared: Arc<Shared>,
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        runner: Runner,
    ) -> Self {
        Self { shared, addr, base_url: format!("http://{addr}"), stop: Some(stop), runner }
    }

    /// The origin that serves everything: `{base}/api/...`, `{base}/api/v2/...`,
    /// `{base}/insights/directory/v1/events`, `{base}/oauth2/token`, `{base}/__sim/...`. No
    /// trailing slash.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address the simulator listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API key to send in `x-api-key`. A fake credential, good only for this simulator.
    #[must_use]
    pub fn api_key(&self) -> &str {
        &self.shared.config.api_key
    }

    /// The OAuth client id for `POST /oauth2/token`.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.shared.config.client_id
    }

    /// The OAuth client secret for `POST /oauth2/token`. A fake credential.
    #[must_use]
    pub fn client_secret(&self) -> &str {
        &self.shared.config.client_secret
    }

    /// The organizations' ids (their `x-org-id`), the first one first.
    #[must_use]
    pub fn org_ids(&self) -> &[OrganizationId] {
        &self.shared.org_ids
    }

    /// The simulator's clock (without the `clock_skew_s` fault).
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    /// Moves the clock forward (useful with a fixed clock); at most ten years at a time.
    pub fn advance_clock(&self, by: Duration) {
        let by = by.min(Duration::from_secs(10 * 366 * 86_400));
        let by = chrono::Duration::from_std(by).unwrap_or_else(|_| chrono::Duration::zero());
        self.shared.clock.advance(by);
    }

    /// Applies mutations in order, each recorded as a Directory Insights event by the API key's
    /// owner (or the mutation's `actor`). Stops at the first refused one.
    pub fn apply(
        &self,
        mutations: impl IntoIterator<Item = Mutation>,
    ) -> Result<Vec<Applied>, Error> {
        let mutations: Vec<Mutation> = mutations.into_iter().collect();
        self.shared.apply(&mutations, None, None).map_err(|(index, message, applied)| {
            Error::Mutation { index, message, applied: Box::new(applied) }
        })
    }

    /// Applies mutations as an administrator (by email).
    pub fn apply_as(
        &self,
        actor: &str,
        mutations: impl IntoIterator<Item = Mutation>,
    ) -> Result<Vec<Applied>, Error> {
        let mutations: Vec<Mutation> = mutations.into_iter().collect();
        self.shared.apply(&mutations, Some(actor), None).map_err(|(index, message, applied)| {
            Error::Mutation { index, message, applied: Box::new(applied) }
        })
    }

    /// Runs a scenario on the first organization and reports what it changed.
    pub fn scenario(&self, scenario: Scenario) -> Result<ScenarioReport, Error> {
        self.shared.scenario(scenario, None, None).map_err(Error::Scenario)
    }

    /// The fault settings in force.
    #[must_use]
    pub fn faults(&self) -> Faults {
        lock(&self.shared.faults).config.clone()
    }

    /// Replaces the fault settings.
    pub fn set_faults(&self, faults: Faults) -> Result<(), Error> {
        self.shared.set_faults(faults).map_err(Error::Faults)
    }

    /// What has been served so far.
    #[must_use]
    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Puts the tenant, the faults and the statistics back as they were at start.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// A copy of an organization's tenant as it is now (index 0 is the first organization).
    #[must_use]
    pub fn tenant(&self, org: usize) -> Option<Tenant> {
        let world = self.shared.read();
        Some(Tenant { org: world.orgs.get(org)?.clone(), facts: world.facts.get(org)?.clone() })
    }

    /// Stops the server and waits until it has stopped.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match &mut self.runner {
            Runner::Task(task) => {
                let _ = task.await;
            }
            Runner::Thread(thread) => {
                if let Some(thread) = thread.take() {
                    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
                }
            }
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Runner::Thread(thread) = &mut self.runner
            && let Some(thread) = thread.take()
        {
            let _ = thread.join();
        }
    }
}
