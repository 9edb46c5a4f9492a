//! `jumpwatch demo`: the whole job on a simulated tenant.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use jumpwatch::api::{Client, SecretString};
use jumpwatch::model::ResourceKind;
use jumpwatch::rules::{Engine, Finding, FindingState, Severity};
use jumpwatch::store::SqliteStore;
use jumpwatch::{Monitor, Polled};
use jumpwatch_sim::{Mutation, Op, Scenario, ScenarioReport, Simulator, Size};

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

/// One poll of the demo tenant.
async fn poll(monitor: &Monitor) -> Result<Polled, Fatal> {
    let (tenant, result) = monitor
        .poll_once()
        .await
        .into_iter()
        .next()
        .ok_or_else(|| Fatal("the demo monitor has no tenant".into()))?;
    result.map_err(|e| Fatal(format!("{tenant}: {e}")))
}

/// The findings that moved to `to` in a poll: one line each, or one line a rule when it moved
/// many. Returns how many moved.
fn print_moves(out: &mut impl Write, polled: &Polled, to: FindingState) -> Result<usize, Fatal> {
    let Some(audit) = &polled.audit else { return Ok(0) };
    let mut by_rule: std::collections::BTreeMap<
        (std::cmp::Reverse<Severity>, &str),
        Vec<&Finding>,
    > = std::collections::BTreeMap::new();
    for transition in audit.findings.transitions.iter().filter(|t| t.to == to) {
        if let Some(finding) = audit.findings.findings.get(&transition.fingerprint) {
            by_rule
                .entry((std::cmp::Reverse(finding.severity), &finding.rule))
                .or_default()
                .push(finding);
        }
    }
    let clip = |text: &str, width: usize| -> String {
        if text.chars().count() <= width {
            text.to_owned()
        } else {
            let mut clipped: String = text.chars().take(width - 1).collect();
            clipped.push('…');
            clipped
        }
    };
    let name = |f: &Finding| f.name.clone().unwrap_or_else(|| f.resource.clone());
    for ((severity, rule), findings) in &by_rule {
        let severity = severity.0.to_string();
        if findings.len() <= 3 {
            for f in findings {
                let message = f.message.as_deref().unwrap_or_default();
                writeln!(
                    out,
                    "   {severity:<8} {rule:<40} {:<30} {}",
                    clip(&name(f), 30),
                    clip(message, 80)
                )?;
            }
        } else {
            let names: Vec<String> = findings.iter().take(3).map(|f| name(f)).collect();
            writeln!(
                out,
                "   {severity:<8} {rule:<40} {} resources: {}, …",
                findings.len(),
                names.join(", ")
            )?;
        }
    }
    Ok(by_rule.values().map(Vec::len).sum())
}

/// The administrator fixes what the risky changes broke: every field they set goes back.
fn fix(sim: &Simulator, risky: &ScenarioReport) -> Result<usize, Fatal> {
    let mutations: Vec<Mutation> = risky
        .changes
        .iter()
        .filter(|c| c.op == Op::Update)
        .map(|c| {
            c.changes.iter().fold(Mutation::update(c.kind, c.id.clone()), |m, change| {
                m.set(change.field.clone(), change.from.clone())
            })
        })
        .collect();
    Ok(sim.apply(mutations)?.len())
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
    let engine = Arc::new(Engine::builtin()?);
    let monitor = Monitor::builder()
        .sqlite_store(store, std::time::Duration::from_secs(365 * 86_400))
        .tenant("demo", client.clone())?
        .rules(Arc::clone(&engine))
        .build()?;

    writeln!(
        out,
        "\n1. Baseline poll: every kind, listed completely, judged by {} rules.",
        engine.len()
    )?;
    let polled = poll(&monitor).await?;
    let baseline = &polled.outcome;
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
    if let Some(audit) = &polled.audit {
        let mut by_rule: std::collections::BTreeMap<(std::cmp::Reverse<Severity>, &str), usize> =
            std::collections::BTreeMap::new();
        for finding in audit.findings.in_state(FindingState::Open) {
            *by_rule
                .entry((std::cmp::Reverse(finding.severity), finding.rule.as_str()))
                .or_default() += 1;
        }
        writeln!(
            out,
            "   {} rule evaluations: {} open findings from {} rules. The most severe:",
            audit.results.len(),
            by_rule.values().sum::<usize>(),
            by_rule.len()
        )?;
        for ((severity, rule), count) in by_rule.iter().take(8) {
            let title = engine.rule(rule).map_or("", |r| r.title.as_str());
            writeln!(out, "   {:<8} {count:>4}  {rule:<40} {title}", severity.0.to_string())?;
        }
    }

    writeln!(out, "\n2. Meanwhile, in the tenant: everyday drift and some risky changes.")?;
    let mut made = 0;
    let mut risky = None;
    for scenario in [Scenario::Drift, Scenario::Risky] {
        let report = sim.scenario(scenario)?;
        made += report.changes.len();
        writeln!(out, "   {scenario:?}: {} changes by an administrator", report.changes.len())?;
        if scenario == Scenario::Risky {
            risky = Some(report);
        }
    }

    writeln!(out, "\n3. Second poll: what changed, field by field.")?;
    let polled = poll(&monitor).await?;
    let next = &polled.outcome;
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
    writeln!(
        out,
        "\n   The findings these changes opened (state rules, and change rules on the changes):"
    )?;
    let opened = print_moves(&mut out, &polled, FindingState::Open)?;
    writeln!(out, "   {opened} findings opened.")?;

    let fixed = match &risky {
        Some(report) => fix(&sim, report)?,
        None => 0,
    };
    writeln!(
        out,
        "\n4. The administrator reverts the risky changes ({fixed} resources); third poll:"
    )?;
    let polled = poll(&monitor).await?;
    let resolved = print_moves(&mut out, &polled, FindingState::Resolved)?;
    writeln!(
        out,
        "   {resolved} findings resolved. (Change-rule findings stay open for a week: someone should look.)"
    )?;

    let db = db.display();
    writeln!(out, "\n5. Everything is in {db}. Try:")?;
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
            "every field that changed",
            "SELECT kind, name, op, path, before, after FROM field_changes ORDER BY seq",
        ),
        (
            "open findings by rule",
            "SELECT rule, severity, count(*) AS n FROM findings WHERE state = 'open' GROUP BY rule ORDER BY n DESC",
        ),
    ] {
        writeln!(out, "   # {what}\n   jumpwatch query --db {db} \"{sql}\"")?;
    }
    writeln!(out, "   jumpwatch changes --db {db} --since 1h")?;
    writeln!(out, "   jumpwatch findings --db {db} --severity high")?;
    writeln!(out, "   jumpwatch audit --db {db} --compliance")?;
    writeln!(out, "   jumpwatch audit --db {db} --format sarif --output jumpwatch.sarif")?;
    Ok(if polled.outcome.is_complete() { ExitCode::SUCCESS } else { ExitCode::from(3) })
}
