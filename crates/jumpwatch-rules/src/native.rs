//! The built-in rules written in Rust: what a CEL condition over one subject cannot say.
//!
//! - `jc.event.admin_login_failures`: repeated failed Admin Portal sign-ins for one administrator
//!   among the events judged together (a poll's new events, [`Scope::events`]). One event at a
//!   time cannot count, so the rule looks at the event's neighbours, and fails once per
//!   administrator and batch: on the latest of their failures, when there are at least
//!   `threshold` of them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jumpwatch_model::Timestamp;
use jumpwatch_model::event::DirectoryEvent;
use serde_json::{Value, json};

use crate::rule::{
    DEFAULT_OPEN_FOR, References, Rule, RuleInfo, RuleType, Scope, Severity, Subject, Verdict,
};

/// The built-in native rules, for [`Engine::builtin`](crate::Engine::builtin).
pub(crate) fn builtin() -> Vec<Arc<dyn Rule>> {
    vec![Arc::new(AdminLoginFailures::new())]
}

/// Repeated failed Admin Portal sign-ins for one administrator.
#[derive(Debug)]
pub(crate) struct AdminLoginFailures {
    info: RuleInfo,
    threshold: usize,
}

/// How many failures make a burst, by default.
const DEFAULT_THRESHOLD: usize = 5;

impl AdminLoginFailures {
    pub(crate) fn new() -> Self {
        let list = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let info = RuleInfo {
            id: "jc.event.admin_login_failures".to_owned(),
            title: "Repeated failed administrator sign-ins".to_owned(),
            severity: Severity::Medium,
            rule_type: RuleType::Event,
            kind: None,
            rationale: "Several failed Admin Portal sign-ins for one administrator are password \
                        guessing or credential stuffing against the most powerful accounts of the \
                        tenant (or an administrator locked out of their own account). The \
                        failures are counted among the events read in one poll, whatever \
                        succeeded in between; a burst split across two polls may be counted short."
                .to_owned(),
            remediation: "Ask the administrator whether the attempts were theirs. If not, reset \
                          their password, check their MFA enrollment, look up the source \
                          addresses, and limit Admin Portal sign-ins to known networks with a \
                          conditional access policy."
                .to_owned(),
            params: BTreeMap::from([("threshold".to_owned(), json!(DEFAULT_THRESHOLD))]),
            references: References {
                cis: list(&["8.11", "13.1"]),
                soc2: list(&["CC6.1", "CC7.2"]),
                iso27001: list(&["A.8.5", "A.8.16"]),
            },
            open_for: DEFAULT_OPEN_FOR,
            source: std::any::type_name::<Self>().to_owned(),
        };
        Self { info, threshold: DEFAULT_THRESHOLD }
    }
}

/// Whether an event is a failed Admin Portal sign-in.
fn failed_admin_login(event: &DirectoryEvent) -> bool {
    event.event_type.as_deref() == Some("admin_login_attempt") && event.success == Some(false)
}

/// Who tried to sign in: the email address (lower case), else the administrator's id.
fn administrator(event: &DirectoryEvent) -> Option<String> {
    let initiator = event.initiated_by.as_ref()?;
    initiator.email.as_ref().map(|e| e.to_lowercase()).or_else(|| initiator.id.clone())
}

impl Rule for AdminLoginFailures {
    fn info(&self) -> &RuleInfo {
        &self.info
    }

    fn evaluate(&self, subject: Subject<'_>, scope: &Scope<'_>) -> Verdict {
        let Subject::Event(event) = subject else { return Verdict::not_applicable() };
        if !failed_admin_login(event) {
            return Verdict::not_applicable();
        }
        let Some(admin) = administrator(event) else {
            return Verdict::unknown("the failed sign-in does not say which administrator it was");
        };
        // The administrator's failures among the events judged together, in time order (events
        // without a time first, then by position), each event once; the subject is one of them
        // even when the caller judged it apart from its batch.
        let position =
            scope.events.iter().position(|e| std::ptr::eq(e, event)).unwrap_or(scope.events.len());
        let mut failures: Vec<(usize, &DirectoryEvent)> = scope
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| failed_admin_login(e) && administrator(e).as_deref() == Some(&admin))
            .collect();
        if position == scope.events.len() {
            failures.push((position, event));
        }
        failures.sort_by_key(|(at, e)| (e.timestamp.as_ref().map(Timestamp::to_utc), *at));
        let mut seen = BTreeSet::new();
        failures.retain(|(_, e)| e.id.as_ref().is_none_or(|id| seen.insert(id.clone())));
        // One finding a burst: the latest failure speaks for the others.
        let latest = failures.last().is_some_and(|(at, _)| *at == position);
        if failures.len() < self.threshold || !latest {
            return Verdict::pass();
        }
        let who = event
            .initiated_by
            .as_ref()
            .and_then(|i| i.email.clone().or_else(|| i.id.clone()))
            .unwrap_or(admin);
        let time = |e: &DirectoryEvent| {
            e.raw.get("timestamp").and_then(Value::as_str).unwrap_or("an unknown time").to_owned()
        };
        let first = failures.first().map(|(_, e)| time(e)).unwrap_or_default();
        let ips: BTreeSet<&str> =
            failures.iter().filter_map(|(_, e)| e.client_ip.as_deref()).collect();
        let from = if ips.is_empty() {
            String::new()
        } else {
            format!(", from {}", ips.iter().copied().collect::<Vec<_>>().join(", "))
        };
        Verdict::fail(format!(
            "{} failed Admin Portal sign-ins for {who} between {first} and {}{from}",
            failures.len(),
            time(event),
        ))
        .with_evidence("initiated_by.email", Some(json!(who)))
        .with_evidence("failures", Some(json!(failures.len())))
        .with_evidence("client_ip", Some(json!(ips)))
    }

    fn set_param(&mut self, name: &str, value: Value) -> Result<(), String> {
        if name != "threshold" {
            return Err(format!("{} has no parameter {name:?}", self.info.id));
        }
        let threshold =
            value.as_u64().filter(|n| *n >= 1).and_then(|n| usize::try_from(n).ok()).ok_or_else(
                || format!("{}.threshold is a count of at least 1, not {value}", self.info.id),
            )?;
        self.threshold = threshold;
        self.info.params.insert(name.to_owned(), value);
        Ok(())
    }
}
