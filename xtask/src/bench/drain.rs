//! Notification delivery: the rate a backlog drains at, against the receiver's configured rate.
//!
//! `alerts` change alerts, each its own group, are routed and enqueued in a SQLite outbox (a file,
//! as the daemon keeps it), then delivered by the real [`Notifier`] through the webhook channel to
//! a local webhook receiver ([`WebhookSink`]) limited to `rate` messages a second with a burst of
//! `rate` (what `rate_limit = 20` configures) — in real time, over HTTP. The burst leaves at once;
//! the achieved rate is (messages − burst) over the time between the first and the last arrival.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use jumpwatch_api::SecretString;
use jumpwatch_notify::Notifier;
use jumpwatch_notify::channel::webhook::{WebhookChannel, WebhookConfig};
use jumpwatch_notify::notifier::rate;
use jumpwatch_notify::outbox::route;
use jumpwatch_notify::sink::WebhookSink;
use jumpwatch_notify::{Alert, AlertKind, Outbox, Route, RouteTree, Severity, Status, Timing};
use jumpwatch_store::SqliteStore;
use serde_json::{Value, json};

use super::{round, seconds};

/// The drain; returns the report's `notify` section.
pub(crate) fn measure(
    dir: &Path,
    alerts: usize,
    per_second: u32,
    note: &dyn Fn(&str),
) -> Result<Value> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("drain-{}.db", std::process::id()));
    note(&format!("draining {alerts} alerts to a webhook limited to {per_second} a second"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the runtime")?;
    let result = runtime.block_on(drain(&path, alerts, per_second));
    crate::support::remove_database(&path);
    result
}

async fn drain(path: &Path, alerts: usize, per_second: u32) -> Result<Value> {
    let sink = WebhookSink::start(None).await?;
    let channel = WebhookChannel::new(WebhookConfig {
        url: SecretString::from(sink.url()),
        secret: None,
        github_secret: None,
        headers: Vec::new(),
    })
    .map_err(anyhow::Error::msg)?;
    let outbox: Arc<dyn Outbox> = Arc::new(SqliteStore::open(path)?);
    let now = Utc::now();
    let tree = RouteTree::of(vec![Route::to("hook").group_by(["..."]).timing(Timing {
        group_wait: Duration::ZERO,
        group_interval: Duration::from_secs(1),
        repeat_interval: Duration::from_secs(4 * 3600),
    })]);
    let batch: Vec<Alert> = (0..alerts)
        .map(|i| {
            Alert::new(
                AlertKind::Change,
                format!("bench-{i:06}"),
                Status::Firing,
                Severity::Info,
                "a change",
                now,
            )
            .label("tenant", "bench")
            .label("resource", format!("r{i:06}"))
        })
        .collect();
    outbox.enqueue(&route(&tree, &batch, now))?;
    let notifier = Notifier::builder(outbox)
        .receiver_with_rate("hook", Arc::new(channel), rate(per_second, per_second))
        .build();
    let drained = notifier.drain(Duration::from_secs(3600)).await?;
    let deliveries = sink.deliveries();
    if deliveries.len() != alerts || drained.pending.values().sum::<usize>() > 0 || drained.dead > 0
    {
        bail!(
            "the drain delivered {} of {alerts} alerts ({} dead letters)",
            deliveries.len(),
            drained.dead
        );
    }
    let first = deliveries.iter().map(|d| d.at).min().unwrap_or_default();
    let last = deliveries.iter().map(|d| d.at).max().unwrap_or_default();
    let span = seconds(last.saturating_sub(first));
    // The burst leaves at once; the rest at the rate.
    let paced = deliveries.len().saturating_sub(per_second as usize);
    let achieved = if span > 0.0 { paced as f64 / span } else { f64::NAN };
    Ok(json!({
        "alerts": alerts,
        "messages": deliveries.len(),
        "configured_per_second": per_second,
        "achieved_per_second": round(achieved, 3),
        "rate_ratio": round(achieved / f64::from(per_second), 4),
        "seconds": round(span, 3),
        "method": "change alerts, one group each, enqueued in a SQLite outbox and drained by the Notifier through the webhook channel to a local receiver in real time; rate limit per_second with a burst of per_second (the default); achieved = (messages - burst) / (last arrival - first arrival)",
    }))
}
