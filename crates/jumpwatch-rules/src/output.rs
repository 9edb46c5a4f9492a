//! Outputs for people and tools: findings, rules and compliance summaries as an aligned table,
//! JSON, JSON lines, CSV, and findings as SARIF 2.1.0 for GitHub code scanning.
//!
//! ```
//! use jumpwatch_rules::{Engine, Format, output};
//!
//! let engine = Engine::builtin()?;
//! let rule = engine.rule("jc.radius.mfa_not_enforced").unwrap();
//! let mut out = Vec::new();
//! output::describe_rule(&mut out, rule)?;
//! assert!(String::from_utf8(out)?.contains("RADIUS server without MFA"));
//!
//! let format: Format = "sarif".parse()?;
//! let log = output::sarif(&[], &|id| engine.rule(id), "0.1.0");
//! assert_eq!(log["version"], "2.1.0");
//! assert_eq!(format.to_string(), "sarif");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Findings carry what the rules said of the tenant's resources: the engine redacts secrets from
//! documents before any rule reads them, so no output here has a secret to show.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::compliance::framework;
use crate::finding::{Finding, FindingState};
use crate::rule::{RuleInfo, Severity};

/// How findings, rules and summaries are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Aligned columns, for people.
    Table,
    /// One pretty JSON array (or object).
    Json,
    /// One compact JSON object a line.
    Jsonl,
    /// Comma-separated values with a header (RFC 4180).
    Csv,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers (findings only).
    Sarif,
}

impl Format {
    /// Every format, in the order they are listed.
    pub const ALL: [Self; 5] = [Self::Table, Self::Json, Self::Jsonl, Self::Csv, Self::Sarif];

    /// `table`, `json`, `jsonl`, `csv` or `sarif`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Json => "json",
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
            Self::Sarif => "sarif",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|f| f.as_str().eq_ignore_ascii_case(text.trim())).ok_or_else(
            || format!("{text:?} is not an output format (table, json, jsonl, csv, sarif)"),
        )
    }
}

/// Where SARIF logs say their schema is.
const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// Where SARIF viewers send people to learn about the tool.
const INFORMATION_URI: &str = "https://github.com/jumpwatch/jumpwatch";
/// The key of a result's fingerprint in `partialFingerprints`; a new version if it changes.
const FINGERPRINT_KEY: &str = "jumpwatch/v1";

/// Writes findings.
///
/// - `Table`: STATE, SEVERITY, RULE, RESOURCE (its name, else its id), MESSAGE; the most severe
///   first, then by rule and resource; a last line counts the findings by state.
/// - `Json`: one pretty array of findings; `Jsonl`: one compact finding a line.
/// - `Csv`: a header, then `fingerprint, state, severity, rule, kind, resource, name, message,
///   first_seen, last_seen, resolved_at, suppression` a finding.
/// - `Sarif`: the log [`sarif`] makes, with this crate's version as the tool's.
///
/// `rules` looks rules up by id (`&|id| engine.rule(id)`); SARIF needs them, the others do not.
pub fn write_findings<'r>(
    out: &mut dyn Write,
    format: Format,
    findings: &[Finding],
    rules: &dyn Fn(&str) -> Option<&'r RuleInfo>,
) -> io::Result<()> {
    match format {
        Format::Table => findings_table(out, findings),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, findings)?;
            writeln!(out)
        }
        Format::Jsonl => {
            for finding in findings {
                serde_json::to_writer(&mut *out, finding)?;
                writeln!(out)?;
            }
            Ok(())
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record([
                "fingerprint",
                "state",
                "severity",
                "rule",
                "kind",
                "resource",
                "name",
                "message",
                "first_seen",
                "last_seen",
                "resolved_at",
                "suppression",
            ])?;
            for f in findings {
                writer.write_record([
                    f.fingerprint.as_str(),
                    f.state.as_str(),
                    &f.severity.to_string(),
                    &f.rule,
                    f.kind.map_or("", |k| k.name()),
                    &cell(&f.resource),
                    &cell(f.name.as_deref().unwrap_or_default()),
                    &cell(f.message.as_deref().unwrap_or_default()),
                    &instant(f.first_seen),
                    &instant(f.last_seen),
                    &f.resolved_at.map(instant).unwrap_or_default(),
                    f.suppression.as_deref().unwrap_or_default(),
                ])?;
            }
            writer.flush()
        }
        Format::Sarif => {
            serde_json::to_writer_pretty(
                &mut *out,
                &sarif(findings, rules, env!("CARGO_PKG_VERSION")),
            )?;
            writeln!(out)
        }
    }
}

fn findings_table(out: &mut dyn Write, findings: &[Finding]) -> io::Result<()> {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.rule.cmp(&b.rule))
            .then_with(|| shown_name(a).cmp(shown_name(b)))
            .then_with(|| a.resource.cmp(&b.resource))
    });
    let rows: Vec<Vec<String>> = sorted
        .iter()
        .map(|f| {
            vec![
                f.state.to_string(),
                f.severity.to_string(),
                f.rule.clone(),
                shown_name(f).to_owned(),
                f.message.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        table(out, "", &["STATE", "SEVERITY", "RULE", "RESOURCE", "MESSAGE"], &rows)?;
    }
    let count = |state| findings.iter().filter(|f| f.state == state).count();
    writeln!(
        out,
        "{} finding{}: {} open, {} suppressed, {} resolved",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        count(FindingState::Open),
        count(FindingState::Suppressed),
        count(FindingState::Resolved),
    )
}

/// A finding's resource as people know it: its name, else its id.
fn shown_name(finding: &Finding) -> &str {
    finding.name.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or(&finding.resource)
}

/// An instant as JSON writes it: RFC 3339 in UTC, `Z`, no fraction when it has none.
fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Writes aligned columns under a header and a rule, every line after `indent`. Control
/// characters become spaces — names come from the tenant and must not drive the terminal — and
/// every column but the last is cut at 60 characters.
pub(crate) fn table(
    out: &mut dyn Write,
    indent: &str,
    headers: &[&str],
    rows: &[Vec<String>],
) -> io::Result<()> {
    const MAX: usize = 60;
    let last = headers.len().saturating_sub(1);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(i, text)| {
                    let text: String =
                        text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
                    if i < last && text.chars().count() > MAX {
                        format!("{}…", text.chars().take(MAX - 1).collect::<String>())
                    } else {
                        text
                    }
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            cells
                .iter()
                .filter_map(|row| row.get(i))
                .map(|c| c.chars().count())
                .chain([h.chars().count()])
                .max()
                .unwrap_or_default()
        })
        .collect();
    let mut line = |values: &mut dyn Iterator<Item = &str>| {
        let text =
            values.zip(&widths).map(|(v, w)| format!("{v:<w$}")).collect::<Vec<_>>().join("  ");
        writeln!(out, "{indent}{}", text.trim_end())
    };
    line(&mut headers.iter().copied())?;
    // The last column is not padded, and its rule is no longer than the others may be.
    let rules: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| "-".repeat(if i == last { (*w).min(MAX) } else { *w }))
        .collect();
    line(&mut rules.iter().map(String::as_str))?;
    for row in &cells {
        line(&mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

/// SARIF's level for a severity: critical and high are errors, medium a warning, the rest notes.
const fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// A CSV cell from the tenant's data: one that a spreadsheet would read as a formula (`=`, `+`,
/// `-`, `@`, tab, carriage return first) is prefixed with `'`, so opening the file runs nothing.
fn cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// GitHub's `security-severity` for a severity (over 9.0 critical, 7.0 to 8.9 high, 4.0 to 6.9
/// medium, 0.1 to 3.9 low; 0.0 is none).
const fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "7.0",
        Severity::Medium => "5.0",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// A rule's id in CamelCase (`jc.user.mfa_not_enrolled` → `JcUserMfaNotEnrolled`).
fn camel_case(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A path segment of a URI: unreserved characters and `@` as they are, the rest percent-encoded.
fn uri_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The framework controls of a rule as tags (`CIS-6.3`, `SOC2-CC6.1`, `ISO27001-A.8.5`).
fn control_tags(rule: &RuleInfo) -> impl Iterator<Item = String> + '_ {
    rule.references.frameworks().into_iter().flat_map(|(name, controls)| {
        let (_, prefix) = framework(name);
        controls.iter().map(move |c| format!("{prefix}-{}", c.trim()))
    })
}

/// A rule's references, one line a framework (`CIS Controls v8: 6.3, 6.4`).
fn reference_lines(rule: &RuleInfo) -> Vec<String> {
    rule.references
        .frameworks()
        .into_iter()
        .filter(|(_, controls)| !controls.is_empty())
        .map(|(name, controls)| format!("{}: {}", framework(name).0, controls.join(", ")))
        .collect()
}

/// A SARIF `reportingDescriptor` for a rule.
fn descriptor(rule: &RuleInfo) -> Value {
    let or_title = |text: &str| {
        if text.trim().is_empty() { rule.title.clone() } else { text.trim().to_owned() }
    };
    let references = reference_lines(rule);
    let rationale = or_title(&rule.rationale);
    let remediation =
        if rule.remediation.trim().is_empty() { "none given." } else { rule.remediation.trim() };
    let mut text = format!("{rationale}\n\nRemediation: {remediation}");
    let mut markdown = format!("{rationale}\n\n**Remediation.** {remediation}");
    if !references.is_empty() {
        text.push_str("\n\nReferences:");
        markdown.push_str("\n\n**References.**\n");
        for line in &references {
            text.push_str(&format!("\n- {line}"));
            markdown.push_str(&format!("\n- {line}"));
        }
    }
    let tags: Vec<String> = ["security".to_owned()].into_iter().chain(control_tags(rule)).collect();
    json!({
        "id": rule.id,
        "name": camel_case(&rule.id),
        "shortDescription": { "text": or_title(&rule.title) },
        "fullDescription": { "text": rationale },
        "help": { "text": text, "markdown": markdown },
        "defaultConfiguration": { "level": level(rule.severity) },
        "properties": {
            "tags": tags,
            "security-severity": security_severity(rule.severity),
            "precision": "high",
        },
    })
}

/// A SARIF 2.1.0 log of findings, as GitHub code scanning accepts it.
///
/// One run of the `jumpwatch` tool at `tool_version`. `tool.driver.rules` has one
/// `reportingDescriptor` per rule of the results, by id (a rule `rules` does not know is
/// described from its findings), with GitHub's `security-severity` and the framework controls
/// as tags (`CIS-6.3`). `results` has one result per open or suppressed finding — resolved
/// findings are not results — the most severe first, each with:
///
/// - `ruleId`, `ruleIndex` (into the rules), `level` (critical and high: `error`, medium:
///   `warning`, low and info: `note`), `message.text` (the finding's message, else the rule's
///   title);
/// - `partialFingerprints` `{"jumpwatch/v1": fingerprint}`, so an alert is the same one across
///   uploads;
/// - a location with a `physicalLocation` (GitHub requires one): the artifact
///   `jumpcloud/<tenant>/<kind>/<resource id>` (`event` for a Directory Insights event's
///   subject), line 1; and a `logicalLocation`: the resource's name and
///   `<tenant>/<kind>/<resource id>`;
/// - for a suppressed finding, an accepted external suppression naming the suppression;
/// - `properties`: state, first and last seen, tenant, kind, and the evidence.
#[must_use]
pub fn sarif<'r>(
    findings: &[Finding],
    rules: &dyn Fn(&str) -> Option<&'r RuleInfo>,
    tool_version: &str,
) -> Value {
    let mut reported: Vec<&Finding> =
        findings.iter().filter(|f| f.state != FindingState::Resolved).collect();
    reported.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.rule.cmp(&b.rule))
            .then_with(|| a.tenant.as_str().cmp(b.tenant.as_str()))
            .then_with(|| a.resource.cmp(&b.resource))
            .then_with(|| a.fingerprint.cmp(&b.fingerprint))
    });
    // The rules, by id; a rule the lookup does not know is described from its finding.
    let mut descriptors: BTreeMap<&str, Value> = BTreeMap::new();
    for finding in &reported {
        descriptors.entry(finding.rule.as_str()).or_insert_with(|| match rules(&finding.rule) {
            Some(rule) => descriptor(rule),
            None => {
                let mut info = RuleInfo::new(
                    &finding.rule,
                    &finding.rule,
                    finding.severity,
                    jumpwatch_model::ResourceKind::Organization,
                );
                info.kind = finding.kind;
                info.rule_type = finding.rule_type;
                descriptor(&info)
            }
        });
    }
    let index: BTreeMap<&str, usize> =
        descriptors.keys().enumerate().map(|(i, id)| (*id, i)).collect();
    let results: Vec<Value> = reported
        .iter()
        .map(|finding| {
            let rule = rules(&finding.rule);
            let message = finding
                .message
                .as_deref()
                .filter(|m| !m.trim().is_empty())
                .or_else(|| rule.map(|r| r.title.as_str()).filter(|t| !t.trim().is_empty()))
                .unwrap_or(&finding.rule);
            let kind = finding.kind.map_or("event", |k| k.name());
            let tenant = finding.tenant.as_str();
            let uri = ["jumpcloud", tenant, kind, &finding.resource]
                .iter()
                .map(|s| uri_segment(s))
                .collect::<Vec<_>>()
                .join("/");
            let mut result = json!({
                "ruleId": finding.rule,
                "ruleIndex": index.get(finding.rule.as_str()).copied().unwrap_or_default(),
                "level": level(finding.severity),
                "message": { "text": message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri },
                        "region": { "startLine": 1 },
                    },
                    "logicalLocations": [{
                        "name": shown_name(finding),
                        "fullyQualifiedName": format!("{tenant}/{kind}/{}", finding.resource),
                        "kind": "resource",
                    }],
                }],
                "partialFingerprints": { FINGERPRINT_KEY: finding.fingerprint },
                "properties": {
                    "state": finding.state.as_str(),
                    "first_seen": instant(finding.first_seen),
                    "last_seen": instant(finding.last_seen),
                    "tenant": tenant,
                    "kind": kind,
                    "evidence": finding.evidence,
                },
            });
            if finding.state == FindingState::Suppressed {
                let justification = finding.suppression.as_deref().map_or_else(
                    || "suppressed (risk accepted)".to_owned(),
                    |id| format!("suppressed by {id}"),
                );
                result["suppressions"] = json!([{
                    "kind": "external",
                    "status": "accepted",
                    "justification": justification,
                }]);
            }
            result
        })
        .collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "jumpwatch",
                    "version": tool_version,
                    "informationUri": INFORMATION_URI,
                    "rules": descriptors.into_values().collect::<Vec<_>>(),
                },
            },
            "results": results,
        }],
    })
}

/// Writes rules, for `jumpwatch rules list`.
///
/// - `Table`: ID, TYPE, SEVERITY, KIND, TITLE.
/// - `Json`: one pretty array of rules; `Jsonl`: one compact rule a line.
/// - `Csv`: a header, then `id, type, severity, kind, title, cis, soc2, iso27001, source` a rule
///   (a framework's controls joined by spaces).
/// - `Sarif` is refused with [`io::ErrorKind::InvalidInput`]: SARIF is for findings.
pub fn write_rules(out: &mut dyn Write, format: Format, rules: &[&RuleInfo]) -> io::Result<()> {
    match format {
        Format::Table => {
            let rows: Vec<Vec<String>> = rules
                .iter()
                .map(|r| {
                    vec![
                        r.id.clone(),
                        r.rule_type.to_string(),
                        r.severity.to_string(),
                        r.kind.map_or("-", |k| k.name()).to_owned(),
                        r.title.clone(),
                    ]
                })
                .collect();
            table(out, "", &["ID", "TYPE", "SEVERITY", "KIND", "TITLE"], &rows)?;
            writeln!(out, "{} rule{}", rules.len(), if rules.len() == 1 { "" } else { "s" })
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, rules)?;
            writeln!(out)
        }
        Format::Jsonl => {
            for rule in rules {
                serde_json::to_writer(&mut *out, rule)?;
                writeln!(out)?;
            }
            Ok(())
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record([
                "id", "type", "severity", "kind", "title", "cis", "soc2", "iso27001", "source",
            ])?;
            for r in rules {
                let refs = &r.references;
                writer.write_record([
                    r.id.as_str(),
                    &r.rule_type.to_string(),
                    &r.severity.to_string(),
                    r.kind.map_or("", |k| k.name()),
                    &r.title,
                    &refs.cis.join(" "),
                    &refs.soc2.join(" "),
                    &refs.iso27001.join(" "),
                    &r.source,
                ])?;
            }
            writer.flush()
        }
        Format::Sarif => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "SARIF is for findings; list rules as table, json, jsonl or csv",
        )),
    }
}

/// Writes one rule for people, for `jumpwatch rules show ID`: its id and title, severity, type,
/// kind, parameters with their values, references per framework, source, rationale and
/// remediation.
pub fn describe_rule(out: &mut dyn Write, rule: &RuleInfo) -> io::Result<()> {
    writeln!(out, "{}", rule.id)?;
    writeln!(out, "  {}", rule.title)?;
    writeln!(out)?;
    writeln!(out, "severity:  {}", rule.severity)?;
    writeln!(out, "type:      {}", rule.rule_type)?;
    writeln!(
        out,
        "kind:      {}",
        rule.kind.map_or("- (Directory Insights events)", |k| k.name())
    )?;
    writeln!(out, "source:    {}", if rule.source.is_empty() { "-" } else { &rule.source })?;
    if rule.params.is_empty() {
        writeln!(out, "params:    none")?;
    } else {
        writeln!(out, "params:")?;
        for (name, value) in &rule.params {
            writeln!(out, "  {name} = {value}")?;
        }
    }
    let references = reference_lines(rule);
    if references.is_empty() {
        writeln!(out, "references: none")?;
    } else {
        writeln!(out, "references:")?;
        for line in references {
            writeln!(out, "  {line}")?;
        }
    }
    for (heading, text) in [("rationale", &rule.rationale), ("remediation", &rule.remediation)] {
        writeln!(out)?;
        writeln!(out, "{heading}:")?;
        if text.trim().is_empty() {
            writeln!(out, "  none given")?;
        }
        for line in text.trim().lines() {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_back_from_their_names() {
        for format in Format::ALL {
            assert_eq!(format.to_string().parse::<Format>(), Ok(format));
        }
        assert_eq!(" JSON ".parse::<Format>(), Ok(Format::Json));
        let error = "yaml".parse::<Format>().unwrap_err();
        assert!(error.contains("table, json, jsonl, csv, sarif"), "{error}");
    }

    #[test]
    fn names_and_uris() {
        assert_eq!(camel_case("jc.user.mfa_not_enrolled"), "JcUserMfaNotEnrolled");
        assert_eq!(uri_segment("ada@example.com"), "ada@example.com");
        assert_eq!(uri_segment("a b/c#d"), "a%20b%2Fc%23d");
        assert_eq!(uri_segment("é"), "%C3%A9");
    }
}
