//! Lists every resource of one kind, one JSON document a line, with a summary on stderr.
//!
//! ```text
//! JUMPCLOUD_API_KEY=... cargo run -p jumpwatch-examples --example list_resources -- --kind user
//! JUMPCLOUD_API_KEY=... cargo run -p jumpwatch-examples --example list_resources -- \
//!     --kind user_group_member --parent 650000000000000000000001 --base-url http://127.0.0.1:8089
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use futures::StreamExt;
use jumpwatch_api::{Client, Error, Region};
use jumpwatch_model::{ResourceId, ResourceKind};

/// List every resource of one kind from JumpCloud (key from JUMPCLOUD_API_KEY).
#[derive(Debug, Parser)]
struct Args {
    /// The kind to list (`user`, `system`, `user_group_member`... see docs/resources.md).
    #[arg(long)]
    kind: ResourceKind,
    /// The parent, for child kinds and relations.
    #[arg(long)]
    parent: Option<ResourceId>,
    /// One origin serving the whole API (the simulator, a proxy).
    #[arg(long, conflicts_with = "region")]
    base_url: Option<String>,
    /// The region: us, eu or in.
    #[arg(long)]
    region: Option<Region>,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

#[tokio::main]
#[allow(clippy::print_stderr)]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stderr)]
async fn run(args: Args) -> Result<(), Error> {
    let mut builder =
        Client::builder().api_key_from_env()?.org_id_from_env().concurrency(args.concurrency);
    if let Some(url) = args.base_url {
        builder = builder.base_url(url);
    }
    if let Some(region) = args.region {
        builder = builder.region(region);
    }
    let client = builder.build()?;
    let started = Instant::now();
    let mut request = client.list(args.kind);
    if let Some(parent) = args.parent {
        request = request.parent(parent);
    }
    let mut stream = request.stream();
    let mut stdout = std::io::stdout().lock();
    let (mut items, mut skipped) = (0u64, 0u64);
    while let Some(item) = stream.next().await {
        match item {
            Ok(resource) => {
                items += 1;
                // A closed pipe (`| head`) ends the listing quietly.
                if writeln!(stdout, "{}", resource.doc).is_err() {
                    break;
                }
            }
            Err(Error::Record(record)) => {
                skipped += 1;
                eprintln!("skipped: {}", Error::Record(record));
            }
            Err(error) => return Err(error),
        }
    }
    let stats = client.stats();
    eprintln!(
        "{items} items ({skipped} skipped), {} requests, {} retries, {} throttled, {:.2} s",
        stats.requests,
        stats.retries,
        stats.throttled,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
