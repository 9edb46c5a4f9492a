//! The [`Monitor`]: one poll cycle of every tenant (collect → diff → rules → alerts → one store
//! commit), on an interval with jitter, the notifier delivering the outbox beside it, and a
//! stream of what happened for embedders.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use jumpwatch_api::{Client, RetryPolicy};
use jumpwatch_changes::{
    ChangeEvent, Collector, EventPolicy, KindReport, PollError, PollOutcome, PollPolicy, Poller,
};
use jumpwatch_model::{ResourceKind, TenantId};
use jumpwatch_notify::{Alert, Drained, Notifier, NotifyConfig, OutboxError, RouteTree};
use jumpwatch_rules::{
    Audit, AuditCommit, AuditInput, Engine, Finding, FindingStore, Suppression, Transition,
};
use jumpwatch_store::SqliteStore;
use tokio::sync::broadcast;
use tracing::{info, warn};

use crate::alerts::{Health, HealthPolicy, change_alert, finding_alert};
use crate::config::Config;
use crate::monitor_store::{MemoryMonitorStore, MonitorStore};

/// Something that happened in the Monitor.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MonitorEvent {
    /// A tenant's poll started.
    PollStarted {
        /// The tenant.
        tenant: TenantId,
    },
    /// A tenant's poll was committed.
    PollFinished {
        /// The tenant.
        tenant: TenantId,
        /// How each kind went: count, duration, complete or why not.
        reports: Vec<KindReport>,
        /// The number of change events.
        events: usize,
        /// The poll's duration.
        duration: Duration,
    },
    /// A change, after its poll was committed.
    Change(Box<ChangeEvent>),
    /// A finding moved (opened, resolved, reopened, suppressed...).
    Finding {
        /// The finding, after the move.
        finding: Box<Finding>,
        /// The move.
        transition: Transition,
    },
    /// Alerts a tenant's poll enqueued for delivery (after its commit).
    Alerts {
        /// The tenant.
        tenant: TenantId,
        /// The alerts raised.
        alerts: usize,
        /// The outbox entries made of them (one per receiver and alert).
        enqueued: usize,
    },
    /// A tenant's poll could not be committed; the next one redoes it.
    PollFailed {
        /// The tenant.
        tenant: TenantId,
        /// What went wrong.
        error: String,
    },
}

/// The Monitor could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// A tenant's client could not be built.
    #[error("tenant {tenant}: {source}")]
    Client {
        /// The tenant.
        tenant: String,
        /// Why.
        source: jumpwatch_api::Error,
    },
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] jumpwatch_store::Error),
    /// A tenant name is not a valid id.
    #[error("tenant name: {0}")]
    Name(#[from] jumpwatch_model::InvalidId),
    /// No tenant to watch.
    #[error("no tenant to watch")]
    NoTenant,
}

struct Tenant {
    id: TenantId,
    poller: Poller<dyn FindingStore>,
    health: std::sync::Mutex<Health>,
}

/// The notifier's half of the Monitor: routes for enqueueing, the worker for delivering.
struct Notify {
    routes: RouteTree,
    notifier: Arc<Notifier>,
    health: HealthPolicy,
}

/// One tenant's poll: what changed, and the audit of it when the monitor has rules.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Polled {
    /// The poll.
    pub outcome: PollOutcome,
    /// The rules' verdicts and the findings after the poll.
    pub audit: Option<Audit>,
    /// The alerts the poll raised (enqueued with its commit, when the Monitor notifies).
    pub alerts: Vec<Alert>,
}

/// Watches one or more tenants into one store.
///
/// ```no_run
/// use std::sync::Arc;
/// use jumpwatch::{Monitor, MonitorEvent};
/// use jumpwatch_store::SqliteStore;
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let client = jumpwatch_api::Client::from_env()?;
/// let monitor = Monitor::builder()
///     .store(Arc::new(SqliteStore::open("jumpwatch.db")?))
///     .tenant("acme", client)?
///     .interval(std::time::Duration::from_secs(300))
///     .build()?;
/// let mut events = monitor.subscribe();
/// tokio::spawn(async move {
///     while let Ok(event) = events.recv().await {
///         if let MonitorEvent::Change(change) = event {
///             println!("{} {} {}", change.op, change.kind, change.resource_id);
///         }
///     }
/// });
/// // Poll until an hour has passed (a daemon would wait for a signal instead).
/// monitor.run(tokio::time::sleep(std::time::Duration::from_secs(3600))).await;
/// # Ok(()) }
/// ```
pub struct Monitor {
    store: Arc<dyn MonitorStore>,
    notify: Option<Notify>,
    tenants: Vec<Tenant>,
    interval: Duration,
    jitter: f64,
    sender: broadcast::Sender<MonitorEvent>,
    pruning: Option<(Arc<SqliteStore>, Duration)>,
    rules: Option<Arc<Engine>>,
    suppressions: Vec<Suppression>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tenants: Vec<&str> = self.tenants.iter().map(|t| t.id.as_str()).collect();
        f.debug_struct("Monitor")
            .field("tenants", &tenants)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Monitor`].
#[must_use]
pub struct MonitorBuilder {
    store: Option<Arc<dyn MonitorStore>>,
    notify: Option<NotifyConfig>,
    health: HealthPolicy,
    insights: Option<EventPolicy>,
    tenants: Vec<(TenantId, Client)>,
    rules: Option<Arc<Engine>>,
    suppressions: Vec<Suppression>,
    kinds: Vec<ResourceKind>,
    interval: Duration,
    jitter: f64,
    policy: PollPolicy,
    pruning: Option<(Arc<SqliteStore>, Duration)>,
}

impl std::fmt::Debug for MonitorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorBuilder")
            .field("tenants", &self.tenants.len())
            .finish_non_exhaustive()
    }
}

impl MonitorBuilder {
    /// The store every tenant's polls are committed to (default: [`MemoryMonitorStore`]).
    pub fn store(mut self, store: Arc<dyn MonitorStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// A SQLite store, pruned of history older than `retention` after each cycle.
    pub fn sqlite_store(mut self, store: Arc<SqliteStore>, retention: Duration) -> Self {
        self.store = Some(Arc::clone(&store) as Arc<dyn MonitorStore>);
        self.pruning = Some((store, retention));
        self
    }

    /// Evaluates these rules every poll; the findings are committed with the poll.
    pub fn rules(mut self, engine: Arc<Engine>) -> Self {
        self.rules = Some(engine);
        self
    }

    /// Suppressions besides the store's (those of the configuration file).
    pub fn suppressions(mut self, suppressions: Vec<Suppression>) -> Self {
        self.suppressions = suppressions;
        self
    }

    /// Notifies: alerts are routed into the store's outbox with each poll's commit, and the
    /// notifier delivers them while the Monitor [`run`](Monitor::run)s.
    pub fn notify(mut self, config: NotifyConfig) -> Self {
        self.notify = Some(config);
        self
    }

    /// Reads each tenant's audit log (Directory Insights) every poll: new events are stored with
    /// the poll, judged by the event rules, and each change is attributed to who made it.
    pub fn insights(mut self, policy: EventPolicy) -> Self {
        self.insights = Some(policy);
        self
    }

    /// When collection health raises alerts.
    pub const fn health(mut self, policy: HealthPolicy) -> Self {
        self.health = policy;
        self
    }

    /// A tenant to watch, with its client.
    pub fn tenant(mut self, name: &str, client: Client) -> Result<Self, MonitorError> {
        self.tenants.push((TenantId::new(name)?, client));
        Ok(self)
    }

    /// The kinds to collect (default: all).
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = ResourceKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// The time between polls (default 5 minutes).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The share of the interval added or removed at random (default 0.1).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter.clamp(0.0, 0.5);
        self
    }

    /// The poll policy.
    pub fn policy(mut self, policy: PollPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Builds the Monitor.
    pub fn build(self) -> Result<Monitor, MonitorError> {
        if self.tenants.is_empty() {
            return Err(MonitorError::NoTenant);
        }
        let store: Arc<dyn MonitorStore> = match self.store {
            Some(store) => store,
            None => Arc::new(MemoryMonitorStore::new()),
        };
        let notify = self.notify.map(|config| Notify {
            routes: config.routes.clone(),
            notifier: Arc::new(config.notifier(Arc::clone(&store).outbox())),
            health: self.health,
        });
        let tenants = self
            .tenants
            .into_iter()
            .map(|(id, client)| Tenant {
                poller: {
                    let poller = Poller::new(
                        Collector::new(client).kinds(self.kinds.iter().copied()),
                        Arc::clone(&store) as Arc<dyn FindingStore>,
                        id.clone(),
                    )
                    .policy(self.policy.clone());
                    match &self.insights {
                        Some(policy) => poller.insights(policy.clone()),
                        None => poller,
                    }
                },
                health: std::sync::Mutex::new(Health::default()),
                id,
            })
            .collect();
        let (sender, _) = broadcast::channel(4096);
        Ok(Monitor {
            store,
            notify,
            tenants,
            interval: self.interval,
            jitter: self.jitter,
            sender,
            pruning: self.pruning,
            rules: self.rules,
            suppressions: self.suppressions,
        })
    }
}

/// A client for a configured tenant.
pub fn client_for(
    tenant: &crate::config::TenantConfig,
    poll: &crate::config::PollConfig,
) -> Result<Client, jumpwatch_api::Error> {
    let mut builder = Client::builder()
        .api_key(tenant.api_key.clone())
        .region(tenant.region)
        .concurrency(poll.concurrency)
        .retry_policy(RetryPolicy::default());
    if let Some(url) = &tenant.base_url {
        builder = builder.base_url(url.clone());
    }
    if let Some(org) = &tenant.org_id {
        builder = builder.org_id(org.clone());
    }
    if let Some(rate) = poll.rate_limit {
        builder = builder.rate_limit(rate);
    }
    builder.build()
}

impl Monitor {
    /// A builder.
    pub fn builder() -> MonitorBuilder {
        MonitorBuilder {
            store: None,
            tenants: Vec::new(),
            kinds: ResourceKind::ALL.to_vec(),
            interval: Duration::from_secs(300),
            jitter: 0.1,
            policy: PollPolicy::default(),
            pruning: None,
            rules: None,
            suppressions: Vec::new(),
            notify: None,
            health: HealthPolicy::default(),
            insights: None,
        }
    }

    /// A Monitor from a configuration: its tenants, its SQLite store, its interval.
    pub fn from_config(config: &Config) -> Result<Self, MonitorError> {
        let store = Arc::new(SqliteStore::open(&config.store.path)?);
        let mut builder = Self::builder()
            .sqlite_store(store, config.store.retention)
            .kinds(config.poll.kinds.iter().copied())
            .interval(config.poll.interval)
            .jitter(config.poll.jitter)
            .rules(Arc::clone(&config.rules.engine))
            .suppressions(config.rules.suppressions.clone());
        if !config.notify.is_empty() {
            builder = builder.notify(config.notify.clone());
        }
        if let Some(policy) = &config.events {
            builder = builder.insights(policy.clone());
        }
        builder = builder.health(config.health);
        for tenant in &config.tenants {
            let client = client_for(tenant, &config.poll)
                .map_err(|source| MonitorError::Client { tenant: tenant.name.clone(), source })?;
            builder = builder.tenant(&tenant.name, client)?;
        }
        builder.build()
    }

    /// What happens, as it happens. Slow receivers miss events (they get `Lagged`); the store has
    /// them all.
    pub fn subscribe(&self) -> broadcast::Receiver<MonitorEvent> {
        self.sender.subscribe()
    }

    /// One poll of every tenant, concurrently.
    pub async fn poll_once(&self) -> Vec<(TenantId, Result<Polled, PollError>)> {
        let polls = self.tenants.iter().map(|tenant| async move {
            let _ = self.sender.send(MonitorEvent::PollStarted { tenant: tenant.id.clone() });
            let started = std::time::Instant::now();
            let result = self.poll_tenant(tenant).await;
            match &result {
                Ok(polled) => {
                    let outcome = &polled.outcome;
                    info!(tenant = %tenant.id, events = outcome.events.len(), complete = outcome.is_complete(), "poll committed");
                    for event in &outcome.events {
                        let _ = self.sender.send(MonitorEvent::Change(Box::new(event.clone())));
                    }
                    if let Some(audit) = &polled.audit {
                        for transition in &audit.findings.transitions {
                            if let Some(finding) = audit.findings.findings.get(&transition.fingerprint) {
                                let _ = self.sender.send(MonitorEvent::Finding {
                                    finding: Box::new(finding.clone()),
                                    transition: transition.clone(),
                                });
                            }
                        }
                    }
                    let _ = self.sender.send(MonitorEvent::PollFinished {
                        tenant: tenant.id.clone(),
                        reports: outcome.reports.clone(),
                        events: outcome.events.len(),
                        duration: started.elapsed(),
                    });
                }
                Err(error) => {
                    warn!(tenant = %tenant.id, %error, "poll failed");
                    let _ = self.sender.send(MonitorEvent::PollFailed { tenant: tenant.id.clone(), error: error.to_string() });
                }
            }
            (tenant.id.clone(), result)
        });
        let results = futures::future::join_all(polls).await;
        if let Some((store, retention)) = &self.pruning {
            let cutoff = Utc::now()
                - chrono::Duration::from_std(*retention).unwrap_or(chrono::Duration::MAX);
            if let Err(error) = store.prune(cutoff) {
                warn!(%error, "pruning old history failed");
            }
        }
        results
    }

    /// One tenant's poll: collect and diff, audit with the rules, raise the alerts, and commit it
    /// all at once.
    async fn poll_tenant(&self, tenant: &Tenant) -> Result<Polled, PollError> {
        let prepared = tenant.poller.prepare(&|_| {}).await?;
        let commit = &prepared.commit;
        let audit = match &self.rules {
            Some(engine) => {
                let previous = self.store.findings(&tenant.id)?;
                let mut suppressions = self.store.suppressions()?;
                suppressions.extend(self.suppressions.iter().cloned());
                let events = commit.insights.as_ref().map_or(&[][..], |i| i.events.as_slice());
                let input = AuditInput::new(&commit.snapshot, commit.finished_at)
                    .changes(&commit.events)
                    .events(events)
                    .suppressions(&suppressions);
                Some(engine.audit(input, previous))
            }
            None => None,
        };
        let audit_commit = audit.as_ref().map(|a| AuditCommit::of(tenant.id.clone(), a));
        let (alerts, entries) = match &self.notify {
            Some(notify) => {
                let alerts = self.alerts(tenant, notify, commit, audit.as_ref())?;
                let entries =
                    jumpwatch_notify::outbox::route(&notify.routes, &alerts, commit.finished_at);
                (alerts, entries)
            }
            None => (Vec::new(), Vec::new()),
        };
        let seqs = self.store.commit_cycle(commit, audit_commit.as_ref(), &entries)?;
        if let Some(notify) = &self.notify {
            let _ = self.sender.send(MonitorEvent::Alerts {
                tenant: tenant.id.clone(),
                alerts: alerts.len(),
                enqueued: entries.len(),
            });
            if !entries.is_empty() {
                notify.notifier.wake();
            }
        }
        Ok(Polled { outcome: prepared.finish(seqs), audit, alerts })
    }

    /// The alerts of a poll: its findings' transitions, its changes, its collection health.
    fn alerts(
        &self,
        tenant: &Tenant,
        notify: &Notify,
        commit: &jumpwatch_changes::PollCommit,
        audit: Option<&Audit>,
    ) -> Result<Vec<Alert>, PollError> {
        let mut alerts = Vec::new();
        if let Some(audit) = audit {
            for transition in &audit.findings.transitions {
                if let Some(finding) = audit.findings.findings.get(&transition.fingerprint) {
                    alerts.extend(finding_alert(finding, transition, self.rules.as_deref()));
                }
            }
        }
        alerts.extend(commit.events.iter().map(change_alert));
        let firing = notify.notifier.outbox().firing().map_err(outbox_error)?;
        let mut health = tenant.health.lock().map_err(|_| {
            PollError::Store(jumpwatch_changes::StoreError::new("the health lock is poisoned"))
        })?;
        alerts.extend(health.observe(
            &tenant.id,
            &commit.reports,
            notify.health,
            &firing,
            commit.finished_at,
        ));
        if let Some(insights) = &commit.insights {
            alerts.extend(health.observe_events(
                &tenant.id,
                insights,
                notify.health,
                &firing,
                commit.finished_at,
            ));
        }
        Ok(alerts)
    }

    /// The notifier, when the Monitor notifies.
    #[must_use]
    pub fn notifier(&self) -> Option<&Arc<Notifier>> {
        self.notify.as_ref().map(|n| &n.notifier)
    }

    /// Delivers what is due until nothing is pending or `timeout` passes (`jumpwatch watch
    /// --once`); `None` when the Monitor does not notify.
    pub async fn drain(&self, timeout: Duration) -> Option<Result<Drained, OutboxError>> {
        match &self.notify {
            Some(notify) => Some(notify.notifier.drain(timeout).await),
            None => None,
        }
    }

    /// Polls on the interval (with jitter) until `shutdown` completes. A poll in progress always
    /// finishes (commits or rolls back) before the Monitor stops.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let stop = tokio::sync::watch::channel(false);
        let polling = async {
            let mut stopped = stop.1.clone();
            loop {
                self.poll_once().await;
                let wait = self.next_wait();
                tokio::select! {
                    _ = stopped.changed() => break,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        };
        let delivering = async {
            if let Some(notify) = &self.notify {
                let mut stopped = stop.1.clone();
                notify
                    .notifier
                    .run(async move {
                        let _ = stopped.changed().await;
                    })
                    .await;
            }
        };
        let signal = async {
            shutdown.await;
            let _ = stop.0.send(true);
        };
        tokio::join!(polling, delivering, signal);
        info!("the monitor stopped");
    }

    fn next_wait(&self) -> Duration {
        let factor = 1.0 + self.jitter * (fastrand::f64() * 2.0 - 1.0);
        self.interval.mul_f64(factor.max(0.0))
    }
}

fn outbox_error(error: OutboxError) -> PollError {
    PollError::Store(jumpwatch_changes::StoreError::new(error.message))
}
