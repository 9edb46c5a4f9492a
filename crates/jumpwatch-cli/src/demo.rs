//! `jumpwatch demo`: the whole job on a simulated tenant.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use jumpwatch::api::{Client, SecretString};
use jumpwatch::changes::{Collector, Poller};
use jumpwatch::model::{ResourceKind, TenantId};
use jumpwatch::store::SqliteStore;
use jumpwatch_sim::{Scenario, Simulator, Size};

use crate::{Fatal, stdout};

/// Removes a previous demo database (and its WAL files), only if it is one of ours.
fn replace_database(path: &Path) -> Result<(), Fatal> {
    if !path.exists() {
        return Ok(());
    }
    let ours = SqliteStore::open(path)
        .and_then(|store| store.query("SELECT count(*) FROM polls", None))
        .is_ok();
    if !ours {
        return Err(Fatal(format!(
            "{} exists and is not a Jumpwatch database: choose another --db",
            path.display()
        )));
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        if Path::new(&file).exists() {
            std::fs::remove_file(&file)?;
        }
    }
    Ok(())
}

pub(crate) async fn run(db: &Path, seed: u64, size: Size) -> Result<ExitCode, Fatal> {
    let mut out = stdout();
    replace_database(db)?;
    writeln!(out, "Starting a simulated JumpCloud tenant ({size}, seed {seed}) on 127.0.0.1...")?;
    let sim = Simulator::builder().seed(seed).size(size).start().await?;
    let client = Client::builder()
        .api_key(SecretString::from(sim.api_key().to_owned()))
        .base_url(sim.base_url())
        .build()?;
    let store = Arc::new(SqliteStore::open(db)?);
    let poller = Poller::new(Collector::new(client.clone()), store, TenantId::new("demo")?);

    writeln!(out, "\n1. Baseline poll: every kind, listed completely.")?;
    let baseline = poller.poll_once().await?;
    let mut kinds: Vec<(ResourceKind, usize)> =
        baseline.reports.iter().map(|r| (r.kind, r.count)).collect();
    kinds.sort_by_key(|(kind, _)| *kind);
    let cells: Vec<String> = kinds.iter().map(|(kind, count)| format!("{kind} {count}")).collect();
    let width = cells.iter().map(String::len).max().unwrap_or(0) + 2;
    for chunk in cells.chunks(3) {
        let line: String = chunk.iter().map(|cell| format!("{cell:<width$}")).collect();
        writeln!(out, "   {}", line.trim_end())?;
    }
    writeln!(
        out,
        "   {} resources in {:.1} s, {} requests; a first poll is a baseline: {} change events.",
        baseline.snapshot.len(),
        (baseline.finished_at - baseline.started_at).num_milliseconds() as f64 / 1000.0,
        client.stats().requests,
        baseline.events.len()
    )?;

    writeln!(out, "\n2. Meanwhile, in the tenant: everyday drift and some risky changes.")?;
    let mut made = 0;
    for scenario in [Scenario::Drift, Scenario::Risky] {
        let report = sim.scenario(scenario)?;
        made += report.changes.len();
        writeln!(out, "   {scenario:?}: {} changes by an administrator", report.changes.len())?;
    }

    writeln!(out, "\n3. Second poll: what changed, field by field.")?;
    let next = poller.poll_once().await?;
    for event in &next.events {
        let fields = event.changed_fields().join(", ");
        let name = event.name.clone().unwrap_or_else(|| event.resource_id.to_string());
        let name: String = name.chars().take(36).collect();
        writeln!(out, "   {:<8} {:<28} {name:<36} {fields}", event.op.as_str(), event.kind.name())?;
    }
    writeln!(
        out,
        "   {} change events from {made} changes made (a change can touch memberships, bindings and rows too).",
        next.events.len()
    )?;

    let db = db.display();
    writeln!(out, "\n4. Everything is in {db}. Try:")?;
    for (what, sql) in [
        (
            "users with sudo everywhere",
            "SELECT username, email, sudo, passwordless_sudo FROM users WHERE sudo = 1",
        ),
        (
            "devices without disk encryption",
            "SELECT display_name, os, fde_active FROM systems WHERE fde_active = 0",
        ),
        (
            "who is an administrator on which device",
            "SELECT s.display_name, u.username FROM system_user_bindings b JOIN systems s ON s.id = b.system_id JOIN users u ON u.id = b.user_id WHERE b.sudo_enabled = 1",
        ),
        (
            "every field that changed",
            "SELECT kind, name, op, path, before, after FROM field_changes ORDER BY seq",
        ),
    ] {
        writeln!(out, "   # {what}\n   jumpwatch query --db {db} \"{sql}\"")?;
    }
    writeln!(out, "   jumpwatch changes --db {db} --since 1h")?;
    Ok(if next.is_complete() { ExitCode::SUCCESS } else { ExitCode::from(3) })
}
