//! `jumpwatch audit`, `rules`, `findings` and `suppress`: the rules over the stored inventory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::Utc;
use clap::{Args, Subcommand};
use jumpwatch::changes::InventoryStore;
use jumpwatch::model::TenantId;
use jumpwatch::rules::compliance::{summarize, write_summary};
use jumpwatch::rules::output::{Format, describe_rule, write_findings, write_rules};
use jumpwatch::rules::{
    AuditCommit, AuditInput, Engine, Finding, FindingState, FindingStore, RuleInfo, RuleResult,
    Severity, Suppression, parse_expiry,
};
use jumpwatch::store::SqliteStore;

use crate::{DbArg, Fatal, open_existing, stdout};

/// The exit code of an audit that found something at or above `--fail-on`.
const FINDINGS_EXIT: u8 = 4;

/// Which rules: the built-in pack and rule files.
#[derive(Debug, Args)]
pub(crate) struct RulesArgs {
    /// A rule file, or a directory of them (*.toml); repeat for more.
    #[arg(long = "rules", value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Leave the built-in JumpCloud pack out.
    #[arg(long)]
    no_builtin: bool,
}

impl RulesArgs {
    pub(crate) fn engine(&self) -> Result<Engine, Fatal> {
        let mut engine = if self.no_builtin { Engine::new() } else { Engine::builtin()? };
        for path in &self.paths {
            if !path.exists() {
                return Err(Fatal(format!(
                    "--rules {}: no such file or directory",
                    path.display()
                )));
            }
            engine.load_path(path).map_err(|e| Fatal(format!("--rules: {e}")))?;
        }
        Ok(engine)
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum RulesCommand {
    /// Lists the rules.
    ///
    /// Example: jumpwatch rules list --format json
    List {
        #[command(flatten)]
        rules: RulesArgs,
        /// Output format: table, json, jsonl or csv.
        #[arg(long, default_value = "table")]
        format: Format,
    },
    /// Shows one rule: what it checks, why, how to fix it, its parameters and references.
    ///
    /// Example: jumpwatch rules show jc.user.mfa_not_enrolled
    Show {
        #[command(flatten)]
        rules: RulesArgs,
        /// The rule's id.
        id: String,
    },
    /// Runs the test cases of rule files (of the built-in pack without a path); exit 1 when one
    /// fails.
    ///
    /// Example: jumpwatch rules test ./rules
    Test {
        /// Rule files or directories.
        paths: Vec<PathBuf>,
    },
}

pub(crate) fn rules(command: RulesCommand) -> Result<ExitCode, Fatal> {
    let mut out = stdout();
    match command {
        RulesCommand::List { rules, format } => {
            let engine = rules.engine()?;
            let infos: Vec<&RuleInfo> = engine.rules().collect();
            write_rules(&mut out, format, &infos)?;
        }
        RulesCommand::Show { rules, id } => {
            let engine = rules.engine()?;
            let rule = engine
                .rule(&id)
                .ok_or_else(|| Fatal(format!("no rule {id:?} (see `jumpwatch rules list`)")))?;
            describe_rule(&mut out, rule)?;
        }
        RulesCommand::Test { paths } => {
            let engine =
                RulesArgs { paths: paths.clone(), no_builtin: !paths.is_empty() }.engine()?;
            let cases: usize = engine.cel_rules().iter().map(|r| r.tests.len()).sum();
            let failures = engine.test(Utc::now());
            for failure in &failures {
                writeln!(out, "FAIL {failure}")?;
            }
            writeln!(
                out,
                "{} rules, {cases} test cases: {} passed, {} failed",
                engine.len(),
                cases - failures.len(),
                failures.len()
            )?;
            if !failures.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `jumpwatch audit`.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    #[command(flatten)]
    db: DbArg,
    #[command(flatten)]
    rules: RulesArgs,
    /// Only this tenant (default: every tenant in the store).
    #[arg(long)]
    tenant: Option<String>,
    /// Output format: table, json, jsonl, csv or sarif.
    #[arg(long, default_value = "table")]
    format: Format,
    /// Exit with 4 when an open finding is at least this severe (info, low, medium, high,
    /// critical).
    #[arg(long)]
    fail_on: Option<Severity>,
    /// Print the compliance summary (CIS Controls v8, SOC 2, ISO/IEC 27001:2022) instead of the
    /// findings.
    #[arg(long)]
    compliance: bool,
    /// Write the output to this file instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

fn tenants_of(store: &SqliteStore, only: Option<&str>) -> Result<Vec<TenantId>, Fatal> {
    let all = store.tenants()?;
    match only {
        None if all.is_empty() => {
            Err(Fatal("the store has no tenant yet: run `jumpwatch collect` first".into()))
        }
        None => Ok(all),
        Some(name) => all
            .into_iter()
            .find(|t| t.as_str() == name)
            .map(|t| vec![t])
            .ok_or_else(|| Fatal(format!("--tenant {name}: the store has no such tenant"))),
    }
}

pub(crate) fn audit(args: &AuditArgs) -> Result<ExitCode, Fatal> {
    let store = open_existing(&args.db.db)?;
    let engine = args.rules.engine()?;
    let suppressions = store.load_suppressions()?;
    let now = Utc::now();
    let mut findings: Vec<Finding> = Vec::new();
    let mut results: Vec<RuleResult> = Vec::new();
    for tenant in tenants_of(&store, args.tenant.as_deref())? {
        let state = store.load(&tenant)?;
        let previous = store.load_findings(&tenant)?;
        let input = AuditInput::new(&state.inventory, now).suppressions(&suppressions);
        let audit = engine.audit(input, previous);
        store.commit_audit(&AuditCommit::of(tenant, &audit))?;
        findings.extend(
            audit.findings.findings.into_values().filter(|f| f.state != FindingState::Resolved),
        );
        results.extend(audit.results);
    }
    let lookup = |id: &str| engine.rule(id);
    let mut sink = Sink::open(args.output.as_deref())?;
    if args.compliance {
        write_summary(&mut sink, args.format, &summarize(&results, &lookup))?;
    } else {
        write_findings(&mut sink, args.format, &findings, &lookup)?;
    }
    sink.finish()?;
    let failing = args.fail_on.is_some_and(|threshold| {
        findings.iter().any(|f| f.state == FindingState::Open && f.severity >= threshold)
    });
    Ok(if failing { ExitCode::from(FINDINGS_EXIT) } else { ExitCode::SUCCESS })
}

/// `jumpwatch findings`.
#[derive(Debug, Args)]
pub(crate) struct FindingsArgs {
    #[command(flatten)]
    db: DbArg,
    /// Only findings in this state: open, resolved or suppressed (default: open and suppressed).
    #[arg(long)]
    state: Option<FindingState>,
    /// Only findings at least this severe.
    #[arg(long)]
    severity: Option<Severity>,
    /// Only this rule (an id, or a pattern such as jc.system.*).
    #[arg(long)]
    rule: Option<String>,
    /// Only this tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// Output format: table, json, jsonl, csv or sarif.
    #[arg(long, default_value = "table")]
    format: Format,
}

pub(crate) fn findings(args: &FindingsArgs) -> Result<ExitCode, Fatal> {
    let store = open_existing(&args.db.db)?;
    let mut findings = Vec::new();
    for tenant in tenants_of(&store, args.tenant.as_deref())? {
        findings.extend(store.load_findings(&tenant)?.into_iter().filter(|f| {
            let state = args.state.map_or(f.state != FindingState::Resolved, |s| f.state == s);
            state
                && args.severity.is_none_or(|s| f.severity >= s)
                && args.rule.as_deref().is_none_or(|r| jumpwatch::rules::glob(r, &f.rule))
        }));
    }
    // The rules' descriptions, for SARIF: the built-in pack's, and a bare one for the others.
    let engine = Engine::builtin()?;
    write_findings(&mut stdout(), args.format, &findings, &|id| engine.rule(id))?;
    Ok(ExitCode::SUCCESS)
}

/// `jumpwatch suppress`.
#[derive(Debug, Args)]
pub(crate) struct SuppressArgs {
    #[command(flatten)]
    db: DbArg,
    /// The rule's id, or a pattern (jc.system.*).
    rule: String,
    /// Only this resource: its id, or a pattern of ids or names (build-*).
    #[arg(long)]
    resource: Option<String>,
    /// Only this tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// Why the risk is accepted.
    #[arg(long)]
    reason: String,
    /// Who accepts it.
    #[arg(long)]
    owner: String,
    /// Until when: a date (2027-03-01) or an RFC 3339 instant.
    #[arg(long)]
    expires: String,
}

pub(crate) fn suppress(args: &SuppressArgs) -> Result<ExitCode, Fatal> {
    let store = open_existing(&args.db.db)?;
    let expires = parse_expiry(&args.expires).map_err(|e| Fatal(format!("--expires: {}", e.0)))?;
    let mut suppression =
        Suppression::new(&args.rule, &args.reason, &args.owner, expires, Utc::now())
            .map_err(|e| Fatal(e.0))?;
    if let Some(resource) = &args.resource {
        suppression = suppression.resource(resource);
    }
    if let Some(tenant) = &args.tenant {
        suppression = suppression.tenant(TenantId::new(tenant.as_str())?);
    }
    let engine = Engine::builtin()?;
    if !engine.rules().any(|r| jumpwatch::rules::glob(&args.rule, &r.id)) {
        let mut err = std::io::stderr();
        writeln!(
            err,
            "warning: no built-in rule matches {:?} (a rule of your own may)",
            args.rule
        )?;
    }
    store.insert_suppression(&suppression)?;
    let mut covered = 0;
    for tenant in store.tenants()? {
        covered += store
            .load_findings(&tenant)?
            .iter()
            .filter(|f| f.state != FindingState::Resolved && suppression.covers(f))
            .count();
    }
    writeln!(
        stdout(),
        "suppression {} stored: {} on {} until {}, owned by {}; it covers {covered} finding(s) from the next audit or poll on",
        suppression.id,
        suppression.rule,
        suppression.resource.as_deref().unwrap_or("every resource"),
        suppression.expires.to_rfc3339(),
        suppression.owner
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Stdout, or a file written whole (never half a report).
enum Sink {
    Stdout(std::io::StdoutLock<'static>),
    File(PathBuf, Vec<u8>),
}

impl Sink {
    fn open(path: Option<&Path>) -> Result<Self, Fatal> {
        Ok(match path {
            None => Self::Stdout(stdout()),
            Some(path) => Self::File(path.to_path_buf(), Vec::new()),
        })
    }

    fn finish(self) -> Result<(), Fatal> {
        match self {
            Self::Stdout(mut out) => out.flush()?,
            Self::File(path, bytes) => std::fs::write(&path, bytes)
                .map_err(|e| Fatal(format!("--output {}: {e}", path.display())))?,
        }
        Ok(())
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Stdout(out) => out.write(buf),
            Self::File(_, bytes) => bytes.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Stdout(out) => out.flush(),
            Self::File(..) => Ok(()),
        }
    }
}
