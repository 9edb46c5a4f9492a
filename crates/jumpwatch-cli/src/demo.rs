//! `jumpwatch demo`: the whole job on a simulated tenant.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use jumpwatch::api::{Client, SecretString};
use jumpwatch::model::ResourceKind;
use jumpwatch::notify::channel::webhook::{SigningSecret, WebhookChannel, WebhookConfig};
use jumpwatch::notify::{
    DeliveryPolicy, Matchers, NotifyConfig, ReceiverConfig, Route, RouteTree, Timing,
};
use jumpwatch::rules::{Engine, Finding, FindingState, Severity};
use jumpwatch::store::SqliteStore;
use jumpwatch::{Monitor, Polled};
use jumpwatch_notify::sink::WebhookSink;
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

/// The demo's notifications: findings at or above high, one digest a rule, and every change,
/// one digest a kind, to a signed webhook on 127.0.0.1 that the demo runs itself.
fn notifications(sink: &WebhookSink, secret: &str) -> Result<NotifyConfig, Fatal> {
    let signing = SigningSecret::parse(secret).map_err(Fatal)?;
    let channel = WebhookChannel::new(WebhookConfig {
        url: SecretString::from(sink.url()),
        secret: Some(signing),
        github_secret: None,
        headers: Vec::new(),
    })
    .map_err(Fatal)?;
    // At once, and a group's next digest a second after its last (a daemon would wait minutes).
    let at_once = Timing {
        group_wait: std::time::Duration::ZERO,
        group_interval: std::time::Duration::from_secs(1),
        ..Timing::default()
    };
    let mut config = NotifyConfig::default();
    config.receivers.push(ReceiverConfig::new("demo-webhook", Arc::new(channel)));
    config.routes = RouteTree::of(vec![
        Route::to("demo-webhook")
            .matching(Matchers::pairs(&[("type", "finding"), ("severity", ">=high")])?)
            .group_by(["tenant", "rule"])
            .timing(at_once),
        Route::to("demo-webhook")
            .matching(Matchers::pairs(&[("type", "change")])?)
            .group_by(["tenant", "kind"])
            .timing(at_once),
    ]);
    config.policy = DeliveryPolicy {
        backoff_base: std::time::Duration::from_secs(1),
        ..DeliveryPolicy::default()
    };
    Ok(config)
}

/// Delivers what the last poll enqueued, then prints what reached the webhook since `seen`.
async fn deliver(
    out: &mut impl Write,
    monitor: &Monitor,
    sink: &WebhookSink,
    seen: &mut (usize, usize),
) -> Result<(), Fatal> {
    if let Some(drained) = monitor.drain(std::time::Duration::from_secs(30)).await {
        let drained = drained?;
        let deliveries = sink.deliveries();
        let new = &deliveries[seen.0.min(deliveries.len())..];
        writeln!(
            out,
            "   Notifications: {} digests of {} alerts reached the local webhook ({} requests{}), signatures {}:",
            new.len(),
            drained.pass.alerts,
            sink.attempts() - seen.1,
            if drained.pass.retried > 0 {
                format!(", {} retried after a 503", drained.pass.retried)
            } else {
                String::new()
            },
            if new.iter().all(|d| d.verified) { "verified" } else { "NOT verified" },
        )?;
        for delivery in new.iter().take(8) {
            let items = delivery.body["items"].as_array().map_or(0, Vec::len);
            let headline = delivery.body["headline"].as_str().unwrap_or_default();
            writeln!(out, "   → {items:>3} item(s)  {headline}")?;
        }
        if new.len() > 8 {
            writeln!(out, "   → …and {} more digests", new.len() - 8)?;
        }
        *seen = (deliveries.len(), sink.attempts());
        for (receiver, count) in &drained.pending {
            writeln!(out, "   ({count} notifications still pending for {receiver})")?;
        }
    }
    Ok(())
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
    // A random signing secret for this run: `whsec_` and 24 bytes in base64.
    let key: String = (0..32).map(|_| fastrand::alphanumeric()).collect();
    let secret = format!("whsec_{key}");
    let sink = WebhookSink::start(Some(SigningSecret::parse(&secret).map_err(Fatal)?)).await?;
    let monitor = Monitor::builder()
        .sqlite_store(store, std::time::Duration::from_secs(365 * 86_400))
        .tenant("demo", client.clone())?
        .rules(Arc::clone(&engine))
        .notify(notifications(&sink, &secret)?)
        .insights(jumpwatch::changes::EventPolicy::default())
        .build()?;
    let mut seen = (0, 0);

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
    deliver(&mut out, &monitor, &sink, &mut seen).await?;

    writeln!(out, "\n2. Meanwhile, in the tenant: everyday drift and some risky changes.")?;
    let mut made = 0;
    let mut risky = None;
    for scenario in [Scenario::Drift, Scenario::Risky, Scenario::Logins] {
        let report = sim.scenario(scenario)?;
        made += report.changes.len();
        if scenario == Scenario::Logins {
            writeln!(out, "   {scenario:?}: {} sign-ins, in the audit log", report.events.len())?;
            continue;
        }
        writeln!(out, "   {scenario:?}: {} changes by an administrator", report.changes.len())?;
        if scenario == Scenario::Risky {
            risky = Some(report);
        }
    }

    writeln!(
        out,
        "\n3. Second poll: what changed, field by field, and who did it (from the audit log)."
    )?;
    let polled = poll(&monitor).await?;
    let next = &polled.outcome;
    for event in &next.events {
        let fields = event.changed_fields().join(", ");
        let name = event.name.clone().unwrap_or_else(|| event.resource_id.to_string());
        let name: String = name.chars().take(30).collect();
        let who = match (&event.actor, &event.attribution) {
            (Some(actor), _) => {
                actor.email.clone().or_else(|| actor.id.clone()).unwrap_or_default()
            }
            (None, jumpwatch::changes::Attribution::Unattributed) => "(no audit event)".to_owned(),
            (None, _) => String::new(),
        };
        let who: String = who.chars().take(28).collect();
        writeln!(
            out,
            "   {:<8} {:<22} {name:<30} {who:<28} {fields}",
            event.op.as_str(),
            event.kind.name()
        )?;
    }
    let attributed = next.events.iter().filter(|e| e.actor.is_some()).count();
    let read = next.insights.as_ref().map_or(0, |i| i.events.len());
    writeln!(
        out,
        "   {attributed} of {} changes attributed, from {read} new audit events.",
        next.events.len()
    )?;
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
    // The webhook fails once: the notifier retries, with the same webhook-id.
    sink.fail_next([(503, None)]);
    deliver(&mut out, &monitor, &sink, &mut seen).await?;

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
    deliver(&mut out, &monitor, &sink, &mut seen).await?;

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
    writeln!(out, "   jumpwatch outbox --db {db} --state delivered")?;
    Ok(if polled.outcome.is_complete() { ExitCode::SUCCESS } else { ExitCode::from(3) })
}
