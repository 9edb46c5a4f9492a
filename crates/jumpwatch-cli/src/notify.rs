//! `jumpwatch notify test`, `jumpwatch outbox` and `jumpwatch silence`: the notifier from the
//! command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use jumpwatch::config::{Config, parse_duration};
use jumpwatch::notify::{Drained, EntryState, Matchers, Outbox, Silence};
use serde_json::Value;

use crate::output::{self, Format};
use crate::{DbArg, Fatal, open_existing, stdout};

#[derive(Debug, Subcommand)]
pub(crate) enum NotifyCommand {
    /// Sends a sample notification to a receiver of the configuration, now.
    ///
    /// Example: jumpwatch notify test --config jumpwatch.toml sec-webhook
    Test {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The receiver's name.
        receiver: String,
    },
    /// The receivers' delivery health: failures in a row, an open circuit, disabled.
    ///
    /// Example: jumpwatch notify receivers
    Receivers {
        #[command(flatten)]
        db: DbArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Re-enables a receiver (disabled after its endpoint answered 410 Gone) and closes its
    /// circuit.
    ///
    /// Example: jumpwatch notify enable sec-webhook
    Enable {
        #[command(flatten)]
        db: DbArg,
        /// The receiver's name.
        receiver: String,
    },
    /// Queues dead letters again, once their cause is fixed (of one receiver, or all).
    ///
    /// Example: jumpwatch notify requeue --receiver sec-webhook
    Requeue {
        #[command(flatten)]
        db: DbArg,
        /// Only this receiver's.
        #[arg(long)]
        receiver: Option<String>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct OutboxArgs {
    #[command(flatten)]
    db: DbArg,
    /// Only entries in this state: pending, in_flight, delivered, dead, silenced, inhibited,
    /// dropped.
    #[arg(long)]
    state: Option<EntryState>,
    /// At most this many entries, newest first.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SilenceCommand {
    /// Mutes the alerts that match, for a while.
    ///
    /// Example: jumpwatch silence add --match tenant=acme --match 'rule=~jc\.system\..*' --for 2h --author ana@example.com --comment "fleet migration"
    Add {
        #[command(flatten)]
        db: DbArg,
        /// A matcher, LABEL=TEXT (TEXT: value, !=value, =~regex, !~regex, >=severity); repeat
        /// for several.
        #[arg(long = "match", required = true)]
        matchers: Vec<String>,
        /// How long from now (30m, 2h, 7d).
        #[arg(long = "for", conflicts_with = "ends")]
        duration: Option<String>,
        /// Until when (RFC 3339).
        #[arg(long)]
        ends: Option<DateTime<Utc>>,
        /// Who silences.
        #[arg(long)]
        author: String,
        /// Why.
        #[arg(long)]
        comment: String,
    },
    /// The silences (active ones; --all for every one).
    List {
        #[command(flatten)]
        db: DbArg,
        /// Expired ones too.
        #[arg(long)]
        all: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Ends a silence now.
    Expire {
        #[command(flatten)]
        db: DbArg,
        /// The silence's id.
        id: String,
    },
}

pub(crate) async fn notify(command: NotifyCommand) -> Result<ExitCode, Fatal> {
    match command {
        NotifyCommand::Test { config, receiver } => {
            let config = Config::load(&config)?;
            let outbox = std::sync::Arc::new(jumpwatch::notify::MemoryOutbox::new());
            let notifier = config.notify.notifier(outbox);
            if !notifier.receivers().contains(receiver.as_str()) {
                let names: Vec<&str> = notifier.receivers().into_iter().collect();
                return Err(Fatal(format!(
                    "there is no receiver named {receiver:?} (the configuration has: {})",
                    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
                )));
            }
            notifier.send_test(&receiver).await.map_err(|e| Fatal(format!("{receiver}: {e}")))?;
            writeln!(stdout(), "{receiver}: the test notification was accepted")?;
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Receivers { db, format } => {
            let store = open_existing(&db.db)?;
            let columns: Vec<String> =
                ["receiver", "failures_in_a_row", "circuit_open_until", "disabled"]
                    .map(String::from)
                    .to_vec();
            let rows: Vec<Vec<Value>> = store
                .receivers()?
                .into_iter()
                .map(|(name, state)| {
                    vec![
                        Value::from(name),
                        Value::from(state.consecutive_failures),
                        state.open_until.map_or(Value::Null, |t| Value::from(t.to_rfc3339())),
                        state.disabled.map_or(Value::Null, Value::from),
                    ]
                })
                .collect();
            output::print(&mut stdout(), format, &columns, &rows)?;
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Enable { db, receiver } => {
            let store = open_existing(&db.db)?;
            store.set_receiver_state(&receiver, &jumpwatch::notify::ReceiverState::default())?;
            writeln!(stdout(), "{receiver}: enabled, circuit closed")?;
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Requeue { db, receiver } => {
            let store = open_existing(&db.db)?;
            let requeued = store.requeue_dead(receiver.as_deref(), Utc::now())?;
            writeln!(stdout(), "{requeued} dead letters queued again")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(crate) fn outbox(args: &OutboxArgs) -> Result<ExitCode, Fatal> {
    let store = open_existing(&args.db.db)?;
    let entries = store.entries(args.state, args.limit)?;
    let columns: Vec<String> = [
        "id",
        "receiver",
        "state",
        "type",
        "status",
        "severity",
        "title",
        "attempts",
        "created_at",
        "settled_at",
        "last_error",
        "group_key",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<Value>> = entries
        .iter()
        .map(|e| {
            vec![
                Value::from(e.id),
                Value::from(e.receiver.clone()),
                Value::from(e.state.as_str()),
                Value::from(e.alert.kind.as_str()),
                Value::from(e.alert.status.as_str()),
                Value::from(e.alert.severity.to_string()),
                Value::from(e.alert.title.clone()),
                Value::from(e.attempts),
                Value::from(e.created_at.to_rfc3339()),
                e.settled_at.map_or(Value::Null, |t| Value::from(t.to_rfc3339())),
                e.last_error.clone().map_or(Value::Null, Value::from),
                Value::from(e.group_key.clone()),
            ]
        })
        .collect();
    let mut out = stdout();
    output::print(&mut out, args.format, &columns, &rows)?;
    if args.format == Format::Table {
        let counts = store.counts()?;
        let summary: Vec<String> = counts.iter().map(|(state, n)| format!("{n} {state}")).collect();
        writeln!(
            out,
            "in all: {}",
            if summary.is_empty() { "empty".to_owned() } else { summary.join(", ") }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn matchers(texts: &[String]) -> Result<Matchers, Fatal> {
    texts
        .iter()
        .map(|text| {
            let (label, test) = text.split_once('=').ok_or_else(|| {
                Fatal(format!("--match {text:?}: expected LABEL=TEXT, like severity=>=high"))
            })?;
            // `rule=~x` splits as ("rule", "~x"): the operator keeps its `=`.
            let test = if test.starts_with('~') { format!("={test}") } else { test.to_owned() };
            jumpwatch::notify::Matcher::parse(label.trim(), &test)
                .map_err(|e| Fatal(format!("--match {text:?}: {e}")))
        })
        .collect()
}

pub(crate) fn silence(command: SilenceCommand) -> Result<ExitCode, Fatal> {
    match command {
        SilenceCommand::Add { db, matchers: texts, duration, ends, author, comment } => {
            let store = open_existing(&db.db)?;
            let now = Utc::now();
            let ends = match (duration, ends) {
                (_, Some(ends)) => ends,
                (Some(text), None) => {
                    let span = parse_duration(&text).map_err(|e| Fatal(format!("--for: {e}")))?;
                    now + chrono::Duration::from_std(span)
                        .map_err(|_| Fatal("--for: too long".into()))?
                }
                (None, None) => return Err(Fatal("give --for DURATION or --ends TIME".into())),
            };
            let silence = Silence::new(matchers(&texts)?, now, ends, author, comment)?;
            store.add_silence(&silence)?;
            writeln!(
                stdout(),
                "silence {} mutes {} until {}",
                silence.id,
                silence.matchers,
                silence.ends_at.to_rfc3339()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        SilenceCommand::List { db, all, format } => {
            let store = open_existing(&db.db)?;
            let now = Utc::now();
            let columns: Vec<String> =
                ["id", "matchers", "starts_at", "ends_at", "active", "author", "comment"]
                    .map(String::from)
                    .to_vec();
            let rows: Vec<Vec<Value>> = store
                .silences()?
                .into_iter()
                .filter(|s| all || s.ends_at > now)
                .map(|s| {
                    vec![
                        Value::from(s.id.clone()),
                        Value::from(s.matchers.to_string()),
                        Value::from(s.starts_at.to_rfc3339()),
                        Value::from(s.ends_at.to_rfc3339()),
                        Value::from(s.is_active(now)),
                        Value::from(s.author.clone()),
                        Value::from(s.comment.clone()),
                    ]
                })
                .collect();
            output::print(&mut stdout(), format, &columns, &rows)?;
            Ok(ExitCode::SUCCESS)
        }
        SilenceCommand::Expire { db, id } => {
            let store = open_existing(&db.db)?;
            if store.expire_silence(&id, Utc::now())? {
                writeln!(stdout(), "silence {id} expired")?;
                Ok(ExitCode::SUCCESS)
            } else {
                Err(Fatal(format!(
                    "there is no silence {id:?} (see `jumpwatch silence list --all`)"
                )))
            }
        }
    }
}

/// Prints what a drain delivered and what it left; true when nothing is left pending.
pub(crate) fn report_drain(out: &mut impl Write, drained: &Drained) -> Result<bool, Fatal> {
    let pass = &drained.pass;
    writeln!(
        out,
        "notifications: {} sent ({} alerts), {} retried, {} dead letters, {} muted",
        pass.sent, pass.alerts, pass.retried, pass.dead, pass.muted
    )?;
    for (receiver, count) in &drained.pending {
        writeln!(
            out,
            "notifications: still pending for {receiver}: {count} (see `jumpwatch outbox --state pending`)"
        )?;
    }
    Ok(drained.pending.is_empty())
}
