//! Polls the simulated tenant twice around a `drift` scenario and prints the change events.
//!
//! ```text
//! cargo run -p jumpwatch-examples --example changes
//! ```

use std::sync::Arc;

use jumpwatch_api::{Client, SecretString};
use jumpwatch_changes::{Collector, MemoryStore, Poller};
use jumpwatch_model::TenantId;
use jumpwatch_sim::{Scenario, Simulator, Size};

#[tokio::main]
#[allow(clippy::print_stdout)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A fake JumpCloud on 127.0.0.1, with a small seeded tenant.
    let sim = Simulator::builder().seed(42).size(Size::Small).start().await?;
    let client = Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url())
        .build()?;

    // The engine, keeping its snapshot in memory.
    let poller =
        Poller::new(Collector::new(client), Arc::new(MemoryStore::new()), TenantId::new("demo")?);
    let baseline = poller.poll_once().await?;
    println!("baseline: {} resources, {} events", baseline.snapshot.len(), baseline.events.len());

    // Everyday drift: hires, moves, a suspension, a new device, group changes...
    let made = sim.scenario(Scenario::Drift)?;
    println!("the simulator made {} changes", made.changes.len());

    let next = poller.poll_once().await?;
    for event in &next.events {
        println!(
            "{} {} {} {}",
            event.op,
            event.kind,
            event.resource_id,
            event.name.as_deref().unwrap_or("")
        );
        for change in &event.changes {
            let show = |v: &Option<serde_json::Value>| {
                v.as_ref().map_or_else(|| "—".to_owned(), ToString::to_string)
            };
            println!("    {}: {} → {}", change.path, show(&change.before), show(&change.after));
        }
    }
    println!("{} change events", next.events.len());
    Ok(())
}
