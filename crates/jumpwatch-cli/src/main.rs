//! `jumpwatch`: collect a JumpCloud tenant, query its inventory and history in SQL, and watch it.
//!
//! Thin over the libraries: argument parsing, output, exit codes.
//!
//! Exit codes: 0 success; 1 a rule's test case failed (`rules test`); 2 a fatal error (bad key,
//! unreachable host, bad configuration or arguments); 3 some kinds could not be listed
//! completely; 4 an open finding at or above `--fail-on` (`audit`); 5 notifications still
//! pending when `watch --once` stopped draining.

mod audit;
mod demo;
mod notify;
mod output;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use futures::StreamExt;
use jumpwatch::api::{Client, Error as ApiError, Region};
use jumpwatch::changes::{Collector, Poller};
use jumpwatch::config::{Config, parse_duration};
use jumpwatch::model::{ResourceKind, TenantId};
use jumpwatch::store::SqliteStore;
use jumpwatch::{Monitor, MonitorEvent};
use output::Format;
use serde_json::Value;

/// Keep a JumpCloud tenant secure and compliant: its resources and their full history in SQL.
#[derive(Debug, Parser)]
#[command(name = "jumpwatch", version, propagate_version = true)]
struct Cli {
    /// More logs on stderr (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Where the tenant is (the API key comes from JUMPCLOUD_API_KEY).
#[derive(Debug, Args)]
struct TenantArgs {
    /// One origin serving the whole API (the simulator, a proxy).
    #[arg(long, conflicts_with = "region")]
    base_url: Option<String>,
    /// The region: us, eu or in.
    #[arg(long)]
    region: Option<Region>,
    /// The organization, for multi-tenant administrators (also JUMPCLOUD_ORG_ID).
    #[arg(long, env = "JUMPCLOUD_ORG_ID")]
    org_id: Option<String>,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

impl TenantArgs {
    fn client(self) -> Result<Client, Fatal> {
        let mut builder = Client::builder()
            .api_key_from_env()
            .map_err(|_| {
                Fatal(
                    "JUMPCLOUD_API_KEY is not set: export a read-only administrator's API key"
                        .into(),
                )
            })?
            .concurrency(self.concurrency);
        if let Some(url) = self.base_url {
            builder = builder.base_url(url);
        }
        if let Some(region) = self.region {
            builder = builder.region(region);
        }
        if let Some(org) = self.org_id {
            builder = builder.org_id(org);
        }
        Ok(builder.build()?)
    }
}

#[derive(Debug, Args)]
pub(crate) struct DbArg {
    /// The SQLite database.
    #[arg(long, env = "JUMPWATCH_DB", default_value = "jumpwatch.db")]
    pub(crate) db: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Shows the whole job on a simulated tenant: a baseline, everyday drift and risky changes,
    /// a second poll, the change events, and queries to run next. No account, no setup.
    ///
    /// Example: jumpwatch demo --db demo.db --seed 7
    Demo {
        /// The database to write (a previous demo database there is replaced).
        #[arg(long, env = "JUMPWATCH_DB", default_value = "jumpwatch-demo.db")]
        db: PathBuf,
        /// The seed of the simulated tenant.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// small (50 users, 40 systems) or medium (5,000 users, 4,000 systems).
        #[arg(long, default_value = "small")]
        size: jumpwatch_sim::Size,
    },
    /// Serves a simulated JumpCloud tenant on 127.0.0.1 (the options of `jumpwatch-sim`).
    ///
    /// Example: jumpwatch sim --listen 127.0.0.1:8089 --size medium --error-rate 0.05
    Sim {
        #[command(flatten)]
        args: jumpwatch_sim::SimArgs,
    },
    /// One poll of a tenant into the store (API key from JUMPCLOUD_API_KEY).
    ///
    /// Example: JUMPCLOUD_API_KEY=... jumpwatch collect --db acme.db --kinds user,system
    Collect {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        tenant_args: TenantArgs,
        /// The tenant's name in the store.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// The kinds to collect, comma-separated (default: all; see `jumpwatch kinds`).
        #[arg(long, value_delimiter = ',')]
        kinds: Vec<ResourceKind>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Do not read the audit log (Directory Insights): changes are not attributed.
        #[arg(long)]
        no_events: bool,
    },
    /// Records an anonymized copy of a tenant as fixture files (the layout of jumpwatch-sim's
    /// fixtures), for tests against your own data: secrets, command bodies, names, emails,
    /// hostnames, serial numbers and IP addresses are replaced. API key from JUMPCLOUD_API_KEY.
    ///
    /// Example: JUMPCLOUD_API_KEY=... jumpwatch record --out fixtures/acme
    Record {
        /// The directory to write into.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        tenant: TenantArgs,
        /// The kinds to record, comma-separated (default: all).
        #[arg(long, value_delimiter = ',')]
        kinds: Vec<ResourceKind>,
    },
    /// Runs SQL over the store's views (read-only).
    ///
    /// Example: jumpwatch query "SELECT username, email FROM users WHERE sudo = 1"
    Query {
        #[command(flatten)]
        db: DbArg,
        /// Query the views as they were at this instant (RFC 3339).
        #[arg(long)]
        as_of: Option<DateTime<Utc>>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// The SQL.
        sql: String,
    },
    /// The change history, one line a field change.
    ///
    /// Example: jumpwatch changes --since 24h --kind user
    Changes {
        #[command(flatten)]
        db: DbArg,
        /// Changes newer than this: a duration back from now (24h, 7d) or an instant (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only this kind.
        #[arg(long)]
        kind: Option<ResourceKind>,
        /// Only this resource id.
        #[arg(long)]
        id: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The Directory Insights audit events stored with the polls (newest first): who signed in,
    /// who changed what.
    ///
    /// Example: jumpwatch events --since 24h --type admin_login_attempt --initiator it@example.com
    Events {
        #[command(flatten)]
        db: DbArg,
        /// Events newer than this: a duration back from now (24h, 7d) or an instant (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only this event type (`user_update`, `admin_login_attempt`...).
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Only the events of this initiator (an email address).
        #[arg(long)]
        initiator: Option<String>,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The resource catalog: kinds, endpoints and SQL views.
    ///
    /// Example: jumpwatch kinds --format csv
    Kinds {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Evaluates the rules over the stored inventory, updates the findings, and prints them (exit
    /// 4 when an open finding is at or above --fail-on).
    ///
    /// Example: jumpwatch audit --format sarif --output jumpwatch.sarif --fail-on high
    Audit(audit::AuditArgs),
    /// The rules: list them, show one, run their test cases.
    ///
    /// Example: jumpwatch rules list
    Rules {
        #[command(subcommand)]
        command: audit::RulesCommand,
    },
    /// The stored findings, by state, severity, rule or tenant.
    ///
    /// Example: jumpwatch findings --state open --severity high
    Findings(audit::FindingsArgs),
    /// Accepts a risk: suppresses a rule's findings (on a resource, by id or name pattern) with a
    /// reason, an owner and an expiry date. Expired, the findings open again.
    ///
    /// Example: jumpwatch suppress jc.system.not_reporting --resource "lab-*" --reason "lab devices" --owner it@example.com --expires 2027-03-01
    Suppress(audit::SuppressArgs),
    /// Watches the tenants of a configuration file, polling on its interval and delivering
    /// notifications, until SIGINT or SIGTERM (the poll in progress finishes first).
    ///
    /// Example: jumpwatch watch --config /etc/jumpwatch.toml
    Watch {
        /// The configuration file (see docs/configuration.md).
        #[arg(long)]
        config: PathBuf,
        /// Poll once, deliver what is due, and exit (exit 5 when notifications are still
        /// pending after --drain-timeout).
        #[arg(long)]
        once: bool,
        /// With --once: how long to keep delivering (and retrying) before exiting.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        drain_timeout: std::time::Duration,
    },
    /// Notifications: send a test, see the receivers' health, re-enable one, requeue dead letters.
    ///
    /// Example: jumpwatch notify test --config jumpwatch.toml sec-webhook
    Notify {
        #[command(subcommand)]
        command: notify::NotifyCommand,
    },
    /// The notification outbox: what is queued, delivered, muted or dead.
    ///
    /// Example: jumpwatch outbox --state dead
    Outbox(notify::OutboxArgs),
    /// Silences: mute matching alerts for a while.
    ///
    /// Example: jumpwatch silence add --match tenant=acme --for 2h --author ana@example.com --comment "maintenance"
    Silence {
        #[command(subcommand)]
        command: notify::SilenceCommand,
    },
}

/// A fatal error, printed on stderr; exit code 2.
pub(crate) struct Fatal(pub(crate) String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(error: E) -> Self {
        Self(error.to_string())
    }
}

fn init_logs(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "warn",
        1 => "info,jumpwatch=debug,jumpwatch_api=debug,jumpwatch_changes=debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.verbose, cli.log_format);
    match run(cli.command).await {
        Ok(code) => code,
        Err(Fatal(message)) => {
            let mut stderr = std::io::stderr();
            let _ = writeln!(stderr, "error: {message}");
            ExitCode::from(2)
        }
    }
}

pub(crate) fn stdout() -> std::io::StdoutLock<'static> {
    std::io::stdout().lock()
}

async fn run(command: Command) -> Result<ExitCode, Fatal> {
    match command {
        Command::Collect { db, tenant_args, tenant, kinds, format, no_events } => {
            collect(tenant_args.client()?, &db.db, &tenant, kinds, format, !no_events).await
        }
        Command::Record { out, tenant, kinds } => record(tenant.client()?, &out, kinds).await,
        Command::Query { db, as_of, format, sql } => {
            let store = open_existing(&db.db)?;
            let result = store.query(&sql, as_of)?;
            let columns: Vec<String> = result.columns.into_iter().map(|c| c.name).collect();
            output::print(&mut stdout(), format, &columns, &result.rows)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Changes { db, since, kind, id, format } => {
            let store = open_existing(&db.db)?;
            let mut sql = String::from(
                "SELECT observed_at, tenant, kind, resource_id AS id, name, op, path, before, after, coalesce(actor_email, CASE attribution WHEN 'unattributed' THEN '(no audit event)' END) AS actor FROM field_changes WHERE 1 = 1",
            );
            if let Some(since) = since {
                let cutoff = since_instant(&since)?;
                sql.push_str(&format!(
                    " AND observed_at >= '{}'",
                    cutoff.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                ));
            }
            if let Some(kind) = kind {
                sql.push_str(&format!(" AND kind = '{}'", kind.name()));
            }
            if let Some(id) = id {
                sql.push_str(&format!(" AND resource_id = '{}'", id.replace('\'', "''")));
            }
            sql.push_str(" ORDER BY seq");
            let result = store.query(&sql, None)?;
            let columns: Vec<String> = result.columns.into_iter().map(|c| c.name).collect();
            output::print(&mut stdout(), format, &columns, &result.rows)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Events { db, since, event_type, initiator, tenant, limit, format } => {
            let store = open_existing(&db.db)?;
            let mut sql = String::from(
                "SELECT timestamp, tenant, event_type AS type, service, initiator_email AS initiator, initiator_type, resource_type, coalesce(resource_name, resource_id) AS resource, success, client_ip FROM events WHERE 1 = 1",
            );
            let quote = |text: &str| text.replace('\'', "''");
            if let Some(since) = since {
                let cutoff = since_instant(&since)?;
                sql.push_str(&format!(
                    " AND timestamp >= '{}'",
                    cutoff.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                ));
            }
            if let Some(event_type) = event_type {
                sql.push_str(&format!(" AND event_type = '{}'", quote(&event_type)));
            }
            if let Some(initiator) = initiator {
                sql.push_str(&format!(
                    " AND lower(initiator_email) = lower('{}')",
                    quote(&initiator)
                ));
            }
            if let Some(tenant) = tenant {
                sql.push_str(&format!(" AND tenant = '{}'", quote(&tenant)));
            }
            sql.push_str(&format!(" ORDER BY timestamp DESC, id DESC LIMIT {limit}"));
            let result = store.query(&sql, None)?;
            let columns: Vec<String> = result.columns.into_iter().map(|c| c.name).collect();
            output::print(&mut stdout(), format, &columns, &result.rows)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Kinds { format } => {
            let columns: Vec<String> = ["kind", "class", "api", "endpoint", "sql_view", "parent"]
                .map(String::from)
                .to_vec();
            let rows: Vec<Vec<Value>> = ResourceKind::ALL
                .iter()
                .map(|kind| {
                    let meta = kind.meta();
                    vec![
                        Value::from(meta.name),
                        Value::from(if kind.is_relation() { "relation" } else { "resource" }),
                        Value::from(meta.api.as_str()),
                        Value::from(format!("{}{}", meta.api.base_path(), meta.list_path)),
                        Value::from(meta.view.name),
                        meta.parent.map_or(Value::Null, |p| Value::from(p.kind.name())),
                    ]
                })
                .collect();
            output::print(&mut stdout(), format, &columns, &rows)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Watch { config, once, drain_timeout } => watch(&config, once, drain_timeout).await,
        Command::Notify { command } => notify::notify(command).await,
        Command::Outbox(args) => notify::outbox(&args),
        Command::Silence { command } => notify::silence(command),
        Command::Audit(args) => audit::audit(&args),
        Command::Rules { command } => audit::rules(command),
        Command::Findings(args) => audit::findings(&args),
        Command::Suppress(args) => audit::suppress(&args),
        Command::Demo { db, seed, size } => demo::run(&db, seed, size).await,
        Command::Sim { args } => {
            args.serve(&mut std::io::stdout(), jumpwatch_sim::shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--since`: a duration back from now (24h, 7d) or an RFC 3339 instant.
pub(crate) fn since_instant(since: &str) -> Result<DateTime<Utc>, Fatal> {
    match parse_duration(since) {
        Ok(back) => {
            Ok(Utc::now() - chrono::Duration::from_std(back).unwrap_or(chrono::Duration::MAX))
        }
        Err(_) => since.parse::<DateTime<Utc>>().map_err(|_| {
            Fatal(format!(
                "--since {since:?}: expected a duration (24h, 7d) or an RFC 3339 instant"
            ))
        }),
    }
}

pub(crate) fn open_existing(path: &PathBuf) -> Result<SqliteStore, Fatal> {
    if !path.exists() {
        return Err(Fatal(format!(
            "{}: no such database (run `jumpwatch collect` first, or set --db)",
            path.display()
        )));
    }
    Ok(SqliteStore::open(path)?)
}

async fn collect(
    client: Client,
    db: &PathBuf,
    tenant: &str,
    kinds: Vec<ResourceKind>,
    format: Format,
    events: bool,
) -> Result<ExitCode, Fatal> {
    // A cheap first request: a bad key or an unreachable host is a fatal error, not 40 failed kinds.
    if let Some(Err(
        error @ (ApiError::Unauthorized(_)
        | ApiError::OrgSelection(_)
        | ApiError::Transport { .. }
        | ApiError::Config(_)),
    )) = client.list(ResourceKind::User).page_size(1).stream().next().await
    {
        return Err(Fatal(error.to_string()));
    }
    let store = Arc::new(SqliteStore::open(db)?);
    let mut collector = Collector::new(client);
    if !kinds.is_empty() {
        collector = collector.kinds(kinds);
    }
    let mut poller = Poller::new(collector, store, TenantId::new(tenant)?);
    if events {
        poller = poller.insights(jumpwatch::changes::EventPolicy::default());
    }
    // On a terminal, a line a kind as it is listed.
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let progress = |report: &jumpwatch::changes::KindReport| {
        if terminal {
            let mark = if report.status.is_complete() { "✓" } else { "✗" };
            let _ = writeln!(
                std::io::stderr(),
                "  {mark} {:<30} {:>7} in {:.1} s",
                report.kind.name(),
                report.count,
                report.duration.as_secs_f64()
            );
        }
    };
    let outcome = poller.poll_once_with_progress(&progress).await?;
    let columns: Vec<String> =
        ["kind", "status", "count", "seconds", "reason"].map(String::from).to_vec();
    let rows: Vec<Vec<Value>> = outcome
        .reports
        .iter()
        .map(|r| {
            let status = match &r.status {
                s if s.is_complete() => "complete",
                jumpwatch::changes::KindStatus::Unavailable { .. } => "unavailable",
                jumpwatch::changes::KindStatus::Skipped { .. } => "skipped",
                _ => "incomplete",
            };
            vec![
                Value::from(r.kind.name()),
                Value::from(status),
                Value::from(r.count),
                Value::from((r.duration.as_secs_f64() * 100.0).round() / 100.0),
                r.status.reason().map_or(Value::Null, Value::from),
            ]
        })
        .collect();
    let mut out = stdout();
    output::print(&mut out, format, &columns, &rows)?;
    if format == Format::Table {
        let baseline = if outcome.baselines.is_empty() {
            String::new()
        } else {
            format!(" ({} kinds baselined)", outcome.baselines.len())
        };
        writeln!(out, "{} change events{baseline}", outcome.events.len())?;
        for event in &outcome.events {
            let who = event.actor.as_ref().and_then(|a| a.email.clone().or_else(|| a.id.clone()));
            let who = match (who, &event.attribution) {
                (Some(who), _) => format!(" by {who}"),
                (None, jumpwatch::changes::Attribution::Unattributed) => {
                    " (no audit event)".to_owned()
                }
                (None, _) => String::new(),
            };
            writeln!(
                out,
                "  {} {} {} {}{who}",
                event.op,
                event.kind,
                event.resource_id,
                event.changed_fields().join(", ")
            )?;
        }
        if let Some(insights) = &outcome.insights {
            match &insights.error {
                Some(error) => writeln!(
                    out,
                    "audit log: could not be read ({error}); changes are not attributed"
                )?,
                None => writeln!(out, "audit log: {} new events", insights.events.len())?,
            }
        }
    }
    if outcome.is_complete() {
        Ok(ExitCode::SUCCESS)
    } else {
        let mut stderr = std::io::stderr();
        for (kind, reason) in outcome.incomplete() {
            writeln!(stderr, "incomplete: {kind}: {reason}")?;
        }
        Ok(ExitCode::from(3))
    }
}

async fn record(
    client: Client,
    out: &std::path::Path,
    kinds: Vec<ResourceKind>,
) -> Result<ExitCode, Fatal> {
    let mut collector = Collector::new(client);
    if !kinds.is_empty() {
        collector = collector.kinds(kinds);
    }
    let collection = collector.collect(TenantId::new("recorded")?).await;
    let mut anonymizer = jumpwatch_sim::fixtures::Anonymizer::new();
    for resource in collection.inventory.iter() {
        anonymizer.learn(&resource.doc);
    }
    let mut inventory = jumpwatch::model::Inventory::new(TenantId::new("recorded")?);
    for resource in collection.inventory.iter() {
        let mut doc = resource.doc.clone();
        anonymizer.apply(resource.kind, &mut doc);
        let anonymized = match &resource.parent {
            Some(parent) => {
                jumpwatch::model::Resource::from_child_doc(resource.kind, parent.clone(), doc)
            }
            None => jumpwatch::model::Resource::from_doc(resource.kind, doc),
        }?;
        inventory.insert(anonymized)?;
    }
    let mut manifest = serde_json::Map::new();
    manifest.insert("generator".into(), Value::from("jumpwatch record"));
    manifest.insert("now".into(), Value::from(Utc::now().to_rfc3339()));
    manifest.insert("org_id".into(), Value::from("recorded"));
    let files = jumpwatch_sim::fixtures::files_of(&inventory, &[], manifest);
    let written = jumpwatch_sim::fixtures::write_files(out, &files)?;
    let mut stdout = stdout();
    writeln!(
        stdout,
        "{written} files, {} resources, written to {}",
        inventory.len(),
        out.display()
    )?;
    let incomplete =
        collection.reports.values().filter(|r| !r.status.is_complete()).collect::<Vec<_>>();
    for report in &incomplete {
        writeln!(
            stdout,
            "incomplete: {}: {}",
            report.kind,
            report.status.reason().unwrap_or_default()
        )?;
    }
    Ok(if incomplete.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(3) })
}

async fn watch(
    path: &PathBuf,
    once: bool,
    drain_timeout: std::time::Duration,
) -> Result<ExitCode, Fatal> {
    let config = Config::load(path)?;
    let monitor = Monitor::from_config(&config)?;
    if once {
        let mut complete = true;
        for (tenant, result) in monitor.poll_once().await {
            let polled = result.map_err(|e| Fatal(format!("{tenant}: {e}")))?;
            let outcome = &polled.outcome;
            complete &= outcome.is_complete();
            let mut out = stdout();
            writeln!(out, "{tenant}: {} change events", outcome.events.len())?;
            if let Some(audit) = &polled.audit {
                let open = audit.findings.in_state(jumpwatch::rules::FindingState::Open).count();
                writeln!(
                    out,
                    "{tenant}: {open} open findings, {} moved this poll",
                    audit.findings.transitions.len()
                )?;
            }
            for (kind, reason) in outcome.incomplete() {
                writeln!(out, "{tenant}: incomplete: {kind}: {reason}")?;
            }
            if !polled.alerts.is_empty() {
                writeln!(out, "{tenant}: {} alerts raised", polled.alerts.len())?;
            }
        }
        if let Some(drained) = monitor.drain(drain_timeout).await
            && !notify::report_drain(&mut stdout(), &drained?)?
        {
            return Ok(ExitCode::from(5));
        }
        return Ok(if complete { ExitCode::SUCCESS } else { ExitCode::from(3) });
    }
    let mut events = monitor.subscribe();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            match event {
                MonitorEvent::Change(change) => {
                    tracing::info!(tenant = %change.tenant, op = %change.op, kind = %change.kind, id = %change.resource_id, fields = ?change.changed_fields(), "change");
                }
                MonitorEvent::Finding { finding, transition } => {
                    tracing::info!(tenant = %finding.tenant, rule = %finding.rule, severity = %finding.severity, resource = %finding.resource, to = %transition.to, reason = transition.reason.as_str(), "finding");
                }
                MonitorEvent::Alerts { tenant, alerts, enqueued } => {
                    tracing::info!(%tenant, alerts, enqueued, "alerts enqueued");
                }
                MonitorEvent::PollFinished { tenant, events, duration, .. } => {
                    tracing::info!(%tenant, events, seconds = duration.as_secs_f64(), "poll committed");
                }
                _ => {}
            }
        }
    });
    monitor
        .run(async {
            jumpwatch_sim::shutdown_signal().await;
            tracing::info!("stopping after the poll in progress");
        })
        .await;
    Ok(ExitCode::SUCCESS)
}
