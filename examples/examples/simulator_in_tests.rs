//! Testing your own code that talks to JumpCloud: start the simulator in the test, point your
//! code at it, change the tenant from the test, and check what your code saw.
//!
//! In a real project the body of `main` is a `#[tokio::test]`; it is a program here so it can be
//! run and read on its own.
//!
//! ```text
//! cargo run -p jumpwatch-examples --example simulator_in_tests
//! ```

use futures::TryStreamExt;
use jumpwatch_api::{Client, SecretString};
use jumpwatch_model::types::User;
use jumpwatch_model::{ResourceKind, UserId};
use jumpwatch_sim::{Faults, Mutation, Simulator, Size};
use serde_json::json;

/// The code under test: the usernames of users who are administrators on every device.
async fn users_with_global_sudo(client: &Client) -> Result<Vec<String>, jumpwatch_api::Error> {
    let users: Vec<_> = client.list(ResourceKind::User).typed::<User>().try_collect().await?;
    let mut names: Vec<String> = users
        .into_iter()
        .filter(|u| u.value.sudo == Some(true))
        .filter_map(|u| u.value.username)
        .collect();
    names.sort();
    Ok(names)
}

#[tokio::main]
#[allow(clippy::print_stdout)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Faults on purpose: the code under test must cope with what JumpCloud does.
    let faults = Faults::default().error_rate(0.1).short_page_rate(0.1);
    let sim = Simulator::builder().seed(3).size(Size::Small).faults(faults).start().await?;
    let client = Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url())
        .build()?;

    let before = users_with_global_sudo(&client).await?;

    // Change the tenant from the test: grant sudo to a user who had none.
    let tenant = sim.tenant(0).ok_or("no tenant")?;
    let user = tenant
        .resources(ResourceKind::User)
        .into_iter()
        .find(|u| u.doc["sudo"] == false)
        .ok_or("no user without sudo")?;
    let name = user.doc["username"].as_str().unwrap_or_default().to_owned();
    sim.apply([Mutation::update(ResourceKind::User, UserId::from(user.id.clone()))
        .set("sudo", json!(true))])?;

    let after = users_with_global_sudo(&client).await?;
    assert_eq!(after.len(), before.len() + 1);
    assert!(after.contains(&name));
    println!("ok: {} users with global sudo, then {} ({name} added)", before.len(), after.len());
    Ok(())
}
