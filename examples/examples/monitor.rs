//! The `Monitor` embedded in a tokio service: it polls on an interval, and the service reacts to
//! what it reports. Here the tenant is the simulator, changed between polls.
//!
//! ```text
//! cargo run -p jumpwatch-examples --example monitor
//! ```

use std::sync::Arc;
use std::time::Duration;

use jumpwatch::api::{Client, SecretString};
use jumpwatch::store::SqliteStore;
use jumpwatch::{Monitor, MonitorEvent};
use jumpwatch_sim::{Scenario, Simulator, Size};

#[tokio::main]
#[allow(clippy::print_stdout)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator::builder().seed(1).size(Size::Small).start().await?;
    let client = Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url())
        .build()?;

    let monitor = Monitor::builder()
        .sqlite_store(Arc::new(SqliteStore::in_memory()?), Duration::from_secs(30 * 86_400))
        .tenant("acme", client)?
        .interval(Duration::from_millis(300))
        .jitter(0.0)
        .build()?;

    // The service's reaction to the Monitor's events, in a task of its own.
    let mut events = monitor.subscribe();
    let reactions = tokio::spawn(async move {
        let mut polls = 0;
        while let Ok(event) = events.recv().await {
            match event {
                MonitorEvent::PollFinished { tenant, events, duration, .. } => {
                    polls += 1;
                    println!(
                        "[{tenant}] poll {polls} committed: {events} changes in {} ms",
                        duration.as_millis()
                    );
                }
                MonitorEvent::Change(change) if change.kind.name() == "user" => {
                    println!(
                        "[{}] user {} {}: {:?}",
                        change.tenant,
                        change.name.as_deref().unwrap_or("?"),
                        change.op,
                        change.changed_fields()
                    );
                }
                MonitorEvent::PollFailed { tenant, error } => {
                    println!("[{tenant}] poll failed: {error}")
                }
                _ => {}
            }
        }
    });

    // Meanwhile the tenant drifts; after a few polls, the service shuts down.
    let stop = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let _ = sim.scenario(Scenario::Drift);
        tokio::time::sleep(Duration::from_millis(700)).await;
    };
    monitor.run(stop).await;
    drop(monitor);
    reactions.await?;
    Ok(())
}
