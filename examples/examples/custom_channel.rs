//! Notifications to a system of your own: a channel that opens tickets, a routing tree that sends
//! it the high findings (one ticket a rule) and prints every change, and the Monitor delivering
//! beside its polls. The ticket system refuses its first request, so the retry shows — with the
//! same notification id, the key that keeps tickets from being opened twice.
//!
//! ```text
//! cargo run -p jumpwatch-examples --example custom_channel
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jumpwatch::api::{Client, SecretString};
use jumpwatch::notify::channel::jsonl::{JsonlChannel, JsonlConfig};
use jumpwatch::notify::{
    Channel, DeliveryPolicy, Matchers, Notification, NotifyConfig, Rate, ReceiverConfig, Route,
    RouteTree, SendError, Timing,
};
use jumpwatch::rules::Engine;
use jumpwatch::{MemoryMonitorStore, Monitor};
use jumpwatch_sim::{Scenario, Simulator};

/// A ticket system: one ticket a notification, keyed by the notification's id.
#[derive(Debug, Default)]
struct Tickets {
    opened: Mutex<Vec<(String, String)>>,
    refused_once: Mutex<bool>,
}

#[async_trait]
impl Channel for Tickets {
    fn kind(&self) -> &'static str {
        "tickets"
    }

    fn default_rate(&self) -> Option<Rate> {
        jumpwatch::notify::notifier::rate(5, 5)
    }

    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let mut refused = self.refused_once.lock().map_err(|_| SendError::retry("poisoned"))?;
        if !*refused {
            *refused = true;
            return Err(SendError::Retry {
                after: Some(Duration::from_millis(500)),
                message: "HTTP 503 from the ticket system".into(),
            });
        }
        let mut opened = self.opened.lock().map_err(|_| SendError::retry("poisoned"))?;
        // Idempotent on the notification id: a retry after a crash opens nothing twice.
        if !opened.iter().any(|(id, _)| id == &notification.id) {
            opened.push((notification.id.clone(), notification.headline()));
        }
        Ok(())
    }
}

#[tokio::main]
#[allow(clippy::print_stdout)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator::builder().seed(5).start().await?;
    let client = Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url())
        .build()?;

    let tickets = Arc::new(Tickets::default());
    let at_once = Timing {
        group_wait: Duration::ZERO,
        group_interval: Duration::from_millis(100),
        ..Timing::default()
    };
    let mut notify = NotifyConfig::default();
    notify.receivers.push(ReceiverConfig::new("tickets", Arc::clone(&tickets) as Arc<dyn Channel>));
    let stdout = JsonlChannel::new(JsonlConfig { path: "-".into() })?;
    notify.receivers.push(ReceiverConfig::new("stdout", Arc::new(stdout)));
    notify.routes = RouteTree::of(vec![
        Route::to("tickets")
            .matching(Matchers::pairs(&[("type", "finding"), ("severity", ">=high")])?)
            .group_by(["rule"])
            .timing(at_once),
        Route::to("stdout")
            .matching(Matchers::pairs(&[("type", "change"), ("kind", "user")])?)
            .group_by(["kind"])
            .timing(at_once),
    ]);
    notify.policy =
        DeliveryPolicy { backoff_base: Duration::from_millis(200), ..DeliveryPolicy::default() };

    let monitor = Monitor::builder()
        .store(Arc::new(MemoryMonitorStore::new()))
        .tenant("acme", client)?
        .rules(Arc::new(Engine::builtin()?))
        .notify(notify)
        .build()?;

    // A baseline, then risky changes, each poll followed by delivery.
    for step in ["baseline", "after the risky changes"] {
        if step != "baseline" {
            sim.scenario(Scenario::Risky)?;
        }
        monitor.poll_once().await;
        let drained = monitor.drain(Duration::from_secs(10)).await.transpose()?;
        if let Some(drained) = drained {
            println!(
                "{step}: {} notifications sent, {} retried, {} pending",
                drained.pass.sent,
                drained.pass.retried,
                drained.pending.values().sum::<usize>()
            );
        }
    }
    let opened = tickets.opened.lock().map_err(|_| "poisoned")?;
    println!("{} tickets opened:", opened.len());
    for (id, headline) in opened.iter() {
        println!("  ticket {id}: {headline}");
    }
    Ok(())
}
