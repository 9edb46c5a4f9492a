//! Jumpwatch's rule engine: security rules as data — TOML with CEL conditions — and in Rust,
//! evaluated over a JumpCloud inventory, its changes and its audit events, with three-valued
//! outcomes (pass, fail, unknown when the evidence is missing), findings with a lifecycle,
//! suppressions, and outputs for people and tools (table, JSON, CSV, SARIF).
//!
//! ```
//! use jumpwatch_rules::{Engine, Input, Outcome};
//! use serde_json::json;
//!
//! let engine = Engine::builtin()?;
//! let rule = engine.cel_rules().iter().find(|r| r.id == "jc.user.passwordless_sudo").unwrap();
//! let input = Input::doc(json!({"_id": "u1", "username": "ada", "passwordless_sudo": true}));
//! let verdict = engine.check(rule, &input, chrono::Utc::now());
//! assert_eq!(verdict.outcome, Outcome::Fail);
//! assert!(verdict.message.unwrap().starts_with("ada can run"));
//! # Ok::<(), jumpwatch_rules::RuleError>(())
//! ```
//!
//! The pieces, one file each: [`rule`] (the [`Rule`] trait and what every rule says of itself),
//! [`pack`] (rules as data), `native` (the built-in rules written in Rust), [`engine`]
//! (evaluation), `relations` (the `rel` variable), [`finding`] (findings and their lifecycle),
//! [`suppression`], [`audit`] (an evaluation reconciled with the stored findings), [`store`] (the
//! storage port), [`output`] (table, JSON, JSONL, CSV, SARIF) and [`compliance`] (summaries per
//! framework and control). The language is described in `docs/rules.md`.

pub mod audit;
mod compile;
pub mod compliance;
mod demand;
pub mod engine;
mod eval;
pub mod finding;
mod native;
pub mod output;
pub mod pack;
mod relations;
pub mod rule;
pub mod store;
pub mod suppression;
mod value;

pub use audit::{Audit, AuditInput};
pub use compliance::{ComplianceSummary, ControlSummary, FrameworkSummary};
pub use engine::{Engine, RuleResult, TestFailure};
pub use finding::{
    Finding, FindingState, Lifecycle, Reason, Reconciled, Transition, fingerprint, reconcile,
};
pub use output::Format;
pub use pack::{
    CelRule, Condition, FUNCTIONS, Input, RuleError, TestCase, builtin, load_pack, variables,
};
pub use rule::{
    DEFAULT_OPEN_FOR, Evidence, Outcome, References, Rule, RuleInfo, RuleType, Scope, Severity,
    Subject, Verdict,
};
pub use store::{AuditCommit, FindingStore, MemoryFindingStore};
pub use suppression::{Suppression, SuppressionError, glob, parse_expiry};
