//! A collector of your own: Jumpwatch's collector, then an enrichment added to each system before
//! the poll is diffed and stored — here the email of each system's owner (the one user bound to
//! it), which then shows in the store and in change events like any other field.
//!
//! ```text
//! cargo run -p jumpwatch-examples --example enrichment
//! ```

use jumpwatch_api::{Client, SecretString};
use jumpwatch_changes::Collector;
use jumpwatch_model::{Inventory, Resource, ResourceKind, SystemId, TenantId};
use jumpwatch_sim::{Simulator, Size};
use serde_json::json;

/// Adds `enrichment.owner` to every system with exactly one bound user (most devices here are
/// shared with administrators and groups).
fn enrich(inventory: &mut Inventory) {
    let systems: Vec<Resource> = inventory.resources(ResourceKind::System).cloned().collect();
    for mut system in systems {
        let id = SystemId::from(system.id.clone());
        let owners: Vec<String> = inventory
            .users_bound_to(&id)
            .filter_map(|edge| inventory.get(ResourceKind::User, edge.to))
            .filter_map(|user| user.doc["email"].as_str().map(str::to_owned))
            .collect();
        if let [owner] = owners.as_slice() {
            system.doc["enrichment"] = json!({"owner": owner});
            // The same id: the enriched document replaces the listed one.
            let _ = inventory.insert(system);
        }
    }
}

#[tokio::main]
#[allow(clippy::print_stdout)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulator::builder().seed(5).size(Size::Small).start().await?;
    let client = Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url())
        .build()?;

    let mut collection = Collector::new(client)
        .kinds([ResourceKind::User, ResourceKind::System, ResourceKind::SystemUserBinding])
        .collect(TenantId::new("acme")?)
        .await;
    enrich(&mut collection.inventory);

    let enriched = collection
        .inventory
        .resources(ResourceKind::System)
        .filter(|s| s.doc.get("enrichment").is_some())
        .count();
    println!(
        "{enriched} of {} systems have an owner",
        collection.inventory.count(ResourceKind::System)
    );
    for system in collection.inventory.resources(ResourceKind::System) {
        if let Some(owner) = system.doc["enrichment"]["owner"].as_str() {
            println!("  {:<28} {owner}", system.name.as_deref().unwrap_or("?"));
        }
    }
    Ok(())
}
