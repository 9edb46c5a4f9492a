//! Jumpwatch's rule engine: security rules as data — TOML with CEL conditions — evaluated over a
//! JumpCloud inventory, with three-valued outcomes (pass, fail, unknown when the evidence is
//! missing) and a built-in JumpCloud pack.
//!
//! ```
//! use jumpwatch_rules::{Evaluator, Outcome, builtin};
//! use serde_json::json;
//!
//! let rules = builtin()?;
//! let rule = rules.iter().find(|r| r.id == "jc.user.passwordless_sudo").unwrap();
//! let evaluator = Evaluator::new(chrono::Utc::now(), None);
//! let (outcome, message) = evaluator.evaluate_doc(rule, &json!({"_id": "u1", "username": "ada", "passwordless_sudo": true}));
//! assert_eq!(outcome, Outcome::Fail);
//! assert!(message.unwrap().starts_with("ada can run"));
//! # Ok::<(), jumpwatch_rules::RuleError>(())
//! ```
//!
//! This is the engine's first part: state rules, their loading and compilation (errors name the
//! file and line), evaluation, and the first rules of the pack with their test cases. Findings,
//! suppressions, change and event rules, outputs and the `jumpwatch audit` command come next.

mod eval;
mod rule;

pub use eval::{Evaluator, Outcome, RuleResult};
pub use rule::{
    Condition, FUNCTIONS, References, Rule, RuleError, Severity, TestCase, VARIABLES, builtin,
    load_pack,
};
