//! [`ComplianceSummary`]: an evaluation's results seen through the compliance frameworks the rules
//! map to — CIS Controls v8, SOC 2 (2017 TSC), ISO/IEC 27001:2022 — with a score per control and
//! per framework.
//!
//! ```
//! use jumpwatch_model::{Inventory, TenantId};
//! use jumpwatch_rules::{Engine, Format, compliance};
//!
//! let engine = Engine::builtin()?;
//! let inventory = Inventory::new(TenantId::new("acme")?);
//! let results = engine.evaluate_state(&inventory, chrono::Utc::now());
//! let summary = compliance::summarize(&results, &|id| engine.rule(id));
//! assert_eq!(summary.frameworks.len(), 3);
//! let mut out = Vec::new();
//! compliance::write_summary(&mut out, Format::Table, &summary)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! How it counts:
//!
//! - a control counts the results of every rule that maps to it: passes, failures and unknowns;
//!   not-applicable results are not counted;
//! - a framework counts each result once, if its rule maps to at least one of the framework's
//!   controls (a rule that maps to two controls is counted twice in the controls, once in the
//!   framework);
//! - the score is `pass / (pass + fail)` in percent, and 100 when nothing was judged. Unknowns are
//!   reported but left out of the score: an unknown says the evidence is missing, not that the
//!   control fails, and counting it either way would make the score say something the evidence
//!   does not. Read a score beside its unknowns;
//! - results of rules the lookup does not know are left out.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde::Serialize;

use crate::engine::RuleResult;
use crate::output::{Format, table};
use crate::rule::{Outcome, RuleInfo};

/// The frameworks, in the order they are reported: (name, title, prefix of a control's tag).
pub(crate) const FRAMEWORKS: [(&str, &str, &str); 3] = [
    ("cis", "CIS Controls v8", "CIS"),
    ("soc2", "SOC 2 (2017 TSC)", "SOC2"),
    ("iso27001", "ISO/IEC 27001:2022", "ISO27001"),
];

/// A framework's title and tag prefix by its name (`cis`, `soc2`, `iso27001`).
pub(crate) fn framework(name: &str) -> (&'static str, &'static str) {
    FRAMEWORKS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or(("", ""), |(_, title, prefix)| (*title, *prefix))
}

/// The results of an evaluation, per framework and control.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ComplianceSummary {
    /// Every framework (`cis`, `soc2`, `iso27001`, in that order), even one no rule maps to.
    pub frameworks: Vec<FrameworkSummary>,
}

/// One framework's controls and score.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct FrameworkSummary {
    /// Its name: `cis`, `soc2` or `iso27001`.
    pub name: String,
    /// Its title (`CIS Controls v8`).
    pub title: String,
    /// The controls some rule maps to, in natural order (`6.3` before `13.4`).
    pub controls: Vec<ControlSummary>,
    /// Passes of the rules that map to the framework, each result once.
    pub pass: usize,
    /// Failures, each result once.
    pub fail: usize,
    /// Unknowns, each result once (not in the score).
    pub unknown: usize,
    /// `pass / (pass + fail)` in percent; 100 when nothing was judged.
    pub score: f64,
}

/// One control's rules and score.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ControlSummary {
    /// The control (`6.3`, `CC6.1`, `A.8.5`).
    pub control: String,
    /// The rules that map to it, by id.
    pub rules: Vec<String>,
    /// Passes of those rules.
    pub pass: usize,
    /// Failures.
    pub fail: usize,
    /// Unknowns (not in the score).
    pub unknown: usize,
    /// `pass / (pass + fail)` in percent; 100 when nothing was judged.
    pub score: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    pass: usize,
    fail: usize,
    unknown: usize,
}

impl Counts {
    fn add(&mut self, other: Self) {
        self.pass += other.pass;
        self.fail += other.fail;
        self.unknown += other.unknown;
    }

    fn score(self) -> f64 {
        let judged = self.pass + self.fail;
        if judged == 0 { 100.0 } else { self.pass as f64 * 100.0 / judged as f64 }
    }
}

/// The results per framework and control; see the module's documentation for how it counts.
#[must_use]
pub fn summarize<'r>(
    results: &[RuleResult],
    rules: &dyn Fn(&str) -> Option<&'r RuleInfo>,
) -> ComplianceSummary {
    let mut by_rule: BTreeMap<&str, Counts> = BTreeMap::new();
    for result in results {
        let counts = by_rule.entry(result.rule.as_str()).or_default();
        match result.outcome {
            Outcome::Pass => counts.pass += 1,
            Outcome::Fail => counts.fail += 1,
            Outcome::Unknown => counts.unknown += 1,
            Outcome::NotApplicable => {}
        }
    }
    let mut frameworks = Vec::new();
    for (name, title, _) in FRAMEWORKS {
        let mut total = Counts::default();
        let mut controls: BTreeMap<&str, (BTreeSet<&str>, Counts)> = BTreeMap::new();
        for (&id, &counts) in &by_rule {
            let Some(info) = rules(id) else { continue };
            let Some((_, mapped)) =
                info.references.frameworks().into_iter().find(|(n, _)| *n == name)
            else {
                continue;
            };
            let mapped: BTreeSet<&str> =
                mapped.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect();
            if mapped.is_empty() {
                continue;
            }
            total.add(counts);
            for control in mapped {
                let entry = controls.entry(control).or_default();
                entry.0.insert(id);
                entry.1.add(counts);
            }
        }
        let mut controls: Vec<ControlSummary> = controls
            .into_iter()
            .map(|(control, (ids, counts))| ControlSummary {
                control: control.to_owned(),
                rules: ids.into_iter().map(str::to_owned).collect(),
                pass: counts.pass,
                fail: counts.fail,
                unknown: counts.unknown,
                score: counts.score(),
            })
            .collect();
        controls.sort_by(|a, b| natural_cmp(&a.control, &b.control));
        frameworks.push(FrameworkSummary {
            name: name.to_owned(),
            title: title.to_owned(),
            controls,
            pass: total.pass,
            fail: total.fail,
            unknown: total.unknown,
            score: total.score(),
        });
    }
    ComplianceSummary { frameworks }
}

/// Compares control ids with their runs of digits as numbers: `6.3` < `13.4`, `A.5.17` < `A.8.1`,
/// `CC6.1` < `CC7.1` < `CC10.1`.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn chunks(text: &str) -> impl Iterator<Item = &str> {
        let mut rest = text;
        std::iter::from_fn(move || {
            let first = rest.chars().next()?;
            let end = rest
                .find(|c: char| c.is_ascii_digit() != first.is_ascii_digit())
                .unwrap_or(rest.len());
            let (chunk, tail) = rest.split_at(end);
            rest = tail;
            Some(chunk)
        })
    }
    let mut left = chunks(a);
    let mut right = chunks(b);
    loop {
        let order = match (left.next(), right.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let digits = |s: &str| s.starts_with(|c: char| c.is_ascii_digit());
                if digits(x) && digits(y) {
                    let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
                } else {
                    x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase())
                }
            }
        };
        if order != Ordering::Equal {
            return order;
        }
    }
}

/// A score as shown to people, to a tenth: never 100.0 while something fails, nor 0.0 while
/// something passes.
fn shown(score: f64) -> String {
    let rounded = (score * 10.0).round() / 10.0;
    let rounded = if score < 100.0 { rounded.min(99.9) } else { rounded };
    let rounded = if score > 0.0 { rounded.max(0.1) } else { rounded };
    format!("{rounded:.1}")
}

/// One control as a JSON line (with its framework).
#[derive(Serialize)]
struct ControlLine<'a> {
    framework: &'a str,
    #[serde(flatten)]
    control: &'a ControlSummary,
}

/// Writes a summary: `Table` (per framework a line with its score, then a line per control),
/// `Json` (the summary, pretty), `Jsonl` (one control a line, with its framework), `Csv`
/// (`framework,control,pass,fail,unknown,score,rules`, the rules joined by spaces). `Sarif` is
/// refused with [`io::ErrorKind::InvalidInput`]: SARIF is for findings.
pub fn write_summary(
    out: &mut dyn Write,
    format: Format,
    summary: &ComplianceSummary,
) -> io::Result<()> {
    match format {
        Format::Table => {
            for (i, framework) in summary.frameworks.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                writeln!(
                    out,
                    "{}: {}% ({} pass, {} fail, {} unknown)",
                    framework.title,
                    shown(framework.score),
                    framework.pass,
                    framework.fail,
                    framework.unknown
                )?;
                if framework.controls.is_empty() {
                    writeln!(out, "  no rule maps to it")?;
                    continue;
                }
                let rows: Vec<Vec<String>> = framework
                    .controls
                    .iter()
                    .map(|c| {
                        vec![
                            c.control.clone(),
                            format!("{}%", shown(c.score)),
                            c.pass.to_string(),
                            c.fail.to_string(),
                            c.unknown.to_string(),
                            c.rules.join(" "),
                        ]
                    })
                    .collect();
                table(out, "  ", &["CONTROL", "SCORE", "PASS", "FAIL", "UNKNOWN", "RULES"], &rows)?;
            }
            Ok(())
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, summary)?;
            writeln!(out)
        }
        Format::Jsonl => {
            for framework in &summary.frameworks {
                for control in &framework.controls {
                    serde_json::to_writer(
                        &mut *out,
                        &ControlLine { framework: &framework.name, control },
                    )?;
                    writeln!(out)?;
                }
            }
            Ok(())
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record([
                "framework",
                "control",
                "pass",
                "fail",
                "unknown",
                "score",
                "rules",
            ])?;
            for framework in &summary.frameworks {
                for c in &framework.controls {
                    writer.write_record([
                        framework.name.as_str(),
                        &c.control,
                        &c.pass.to_string(),
                        &c.fail.to_string(),
                        &c.unknown.to_string(),
                        &shown(c.score),
                        &c.rules.join(" "),
                    ])?;
                }
            }
            writer.flush()
        }
        Format::Sarif => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "SARIF is for findings; write a compliance summary as table, json, jsonl or csv",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_sort_naturally() {
        let mut controls =
            ["13.4", "6.3", "6.10", "A.8.1", "A.5.17", "A.5.9", "CC7.1", "CC10.1", "CC6.1"];
        controls.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            controls,
            ["6.3", "6.10", "13.4", "A.5.9", "A.5.17", "A.8.1", "CC6.1", "CC7.1", "CC10.1"]
        );
    }

    #[test]
    fn a_score_shows_a_failure_and_a_pass() {
        let score = |pass, fail| Counts { pass, fail, unknown: 5 }.score();
        assert_eq!(shown(score(9999, 1)), "99.9");
        assert_eq!(shown(score(1, 9999)), "0.1");
        assert_eq!(shown(score(2, 1)), "66.7");
        assert_eq!(shown(score(1, 2)), "33.3");
        assert_eq!(shown(score(0, 0)), "100.0");
        assert_eq!(shown(score(0, 3)), "0.0");
    }
}
