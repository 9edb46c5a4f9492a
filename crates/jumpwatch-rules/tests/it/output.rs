//! Outputs: findings, rules and compliance summaries in every format, read back; SARIF as GitHub
//! code scanning takes it; no secret in any of them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::sync::Arc;

use jumpwatch_model::{Inventory, Resource, ResourceKind};
use jumpwatch_rules::compliance::{self, ComplianceSummary};
use jumpwatch_rules::output::{self, Format};
use jumpwatch_rules::{
    AuditInput, Engine, Finding, FindingState, Outcome, References, Rule, RuleInfo, RuleResult,
    Scope, Severity, Subject, Suppression, Verdict,
};
use jumpwatch_sim::fixtures;
use serde_json::{Value, json};

/// The fixture tenant's findings after two audits: the second with a suppression of one rule and
/// without another rule, so some findings are open, some suppressed and some resolved.
fn findings(inventory: &Inventory) -> Vec<Finding> {
    let now = fixtures::now();
    let engine = Engine::builtin().unwrap();
    let first = engine.audit(AuditInput::new(inventory, now), Vec::new());
    let mut fewer = Engine::builtin().unwrap();
    assert!(fewer.remove("jc.iplist.overly_broad"));
    let later = now + chrono::Duration::hours(1);
    let expires = later + chrono::Duration::days(30);
    let suppression =
        Suppression::new("jc.user.global_sudo", "lab machines", "it@example.com", expires, later)
            .unwrap();
    let suppressions = [suppression];
    let second = fewer.audit(
        AuditInput::new(inventory, later).suppressions(&suppressions),
        first.findings.findings.into_values().collect(),
    );
    let findings: Vec<Finding> = second.findings.findings.into_values().collect();
    for state in [FindingState::Open, FindingState::Suppressed, FindingState::Resolved] {
        assert!(findings.iter().any(|f| f.state == state), "no {state} finding");
    }
    findings
}

fn fixture() -> (Engine, Vec<Finding>) {
    let inventory = fixtures::load_small().unwrap();
    (Engine::builtin().unwrap(), findings(&inventory))
}

fn write(format: Format, findings: &[Finding], engine: &Engine) -> String {
    let mut out = Vec::new();
    output::write_findings(&mut out, format, findings, &|id| engine.rule(id)).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn json_and_json_lines_read_back_as_the_findings() {
    let (engine, findings) = fixture();
    let all: Vec<Finding> = serde_json::from_str(&write(Format::Json, &findings, &engine)).unwrap();
    assert_eq!(all, findings);
    let jsonl = write(Format::Jsonl, &findings, &engine);
    let lines: Vec<Finding> =
        jsonl.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines, findings);
    assert_eq!(write(Format::Json, &[], &engine).trim(), "[]");
    assert_eq!(write(Format::Jsonl, &[], &engine), "");
}

#[test]
fn csv_has_a_header_and_a_row_a_finding() {
    let (engine, findings) = fixture();
    let text = write(Format::Csv, &findings, &engine);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        headers,
        [
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
            "suppression"
        ]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), findings.len());
    let by_print: BTreeMap<&str, &Finding> =
        findings.iter().map(|f| (f.fingerprint.as_str(), f)).collect();
    for record in &records {
        assert_eq!(record.len(), headers.len());
        let finding = by_print[&record[0]];
        assert_eq!(&record[1], finding.state.as_str());
        assert_eq!(&record[3], finding.rule);
        assert_eq!(&record[5], finding.resource);
        assert_eq!(&record[7], finding.message.as_deref().unwrap_or_default());
        let first_seen: chrono::DateTime<chrono::Utc> = record[8].parse().unwrap();
        assert_eq!(first_seen, finding.first_seen);
        assert_eq!(record[10].is_empty(), finding.resolved_at.is_none());
        assert_eq!(&record[11], finding.suppression.as_deref().unwrap_or_default());
    }
}

#[test]
fn csv_quotes_commas_quotes_and_line_breaks() {
    let (engine, mut findings) = fixture();
    findings.truncate(1);
    let awkward = "a, \"quoted\"\nname";
    findings[0].name = Some(awkward.to_owned());
    let text = write(Format::Csv, &findings, &engine);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let record = reader.records().next().unwrap().unwrap();
    assert_eq!(&record[6], awkward);
}

#[test]
fn the_table_has_a_row_a_finding_the_most_severe_first() {
    let (engine, findings) = fixture();
    let text = write(Format::Table, &findings, &engine);
    let lines: Vec<&str> = text.lines().collect();
    // Header, rule, a row a finding, the count.
    assert_eq!(lines.len(), findings.len() + 3, "{text}");
    assert!(lines[0].starts_with("STATE"));
    assert!(lines[0].contains("SEVERITY") && lines[0].contains("MESSAGE"));
    let rows = &lines[2..lines.len() - 1];
    let severities: Vec<Severity> =
        rows.iter().map(|row| row.split_whitespace().nth(1).unwrap().parse().unwrap()).collect();
    assert!(severities.windows(2).all(|w| w[0] >= w[1]), "{severities:?}");
    for finding in &findings {
        let name = finding.name.as_deref().unwrap_or(&finding.resource);
        assert!(
            rows.iter().any(|row| row.contains(&finding.rule) && row.contains(name)),
            "{} on {name} missing",
            finding.rule
        );
    }
    let count = |state| findings.iter().filter(|f| f.state == state).count();
    assert_eq!(
        *lines.last().unwrap(),
        format!(
            "{} findings: {} open, {} suppressed, {} resolved",
            findings.len(),
            count(FindingState::Open),
            count(FindingState::Suppressed),
            count(FindingState::Resolved)
        )
    );
    assert_eq!(
        write(Format::Table, &[], &engine),
        "0 findings: 0 open, 0 suppressed, 0 resolved\n"
    );
}

#[test]
fn the_table_does_not_pass_control_characters_to_the_terminal() {
    let (engine, mut findings) = fixture();
    findings.truncate(1);
    findings[0].name = Some("evil\u{1b}[31mred\nline".to_owned());
    let text = write(Format::Table, &findings, &engine);
    assert!(!text.contains('\u{1b}'));
    assert_eq!(text.lines().count(), 4, "{text}");
}

fn sarif(engine: &Engine, findings: &[Finding]) -> Value {
    let log = output::sarif(findings, &|id| engine.rule(id), "1.2.3");
    // What write_findings writes is the same log (with this crate's version).
    let written: Value = serde_json::from_str(&write(Format::Sarif, findings, engine)).unwrap();
    assert_eq!(written["runs"][0]["results"], log["runs"][0]["results"]);
    assert_eq!(written["runs"][0]["tool"]["driver"]["version"], env!("CARGO_PKG_VERSION"));
    log
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}"))
}

#[test]
fn sarif_has_what_sarif_2_1_0_and_github_code_scanning_require() {
    let (engine, findings) = fixture();
    let log = sarif(&engine, &findings);
    assert_eq!(log["version"], "2.1.0");
    assert!(text(&log["$schema"]).ends_with("sarif-2.1.0.json"));
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "jumpwatch");
    assert_eq!(driver["version"], "1.2.3");
    assert!(text(&driver["informationUri"]).starts_with("https://"));

    let levels = ["error", "warning", "note", "none"];
    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| text(&r["id"])).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "rule ids repeat");
    for rule in rules {
        let id = text(&rule["id"]);
        let info = engine.rule(id).unwrap();
        assert_eq!(text(&rule["shortDescription"]["text"]), info.title);
        assert!(!text(&rule["fullDescription"]["text"]).is_empty());
        assert!(text(&rule["help"]["text"]).contains(&info.remediation));
        assert!(text(&rule["help"]["markdown"]).contains(&info.remediation));
        assert!(text(&rule["name"]).chars().all(char::is_alphanumeric), "{id}");
        assert!(levels.contains(&text(&rule["defaultConfiguration"]["level"])));
        let properties = &rule["properties"];
        let score: f64 = text(&properties["security-severity"]).parse().unwrap();
        assert!((0.0..=10.0).contains(&score), "{id}: {score}");
        assert_eq!(properties["precision"], "high");
        let tags: Vec<&str> = properties["tags"].as_array().unwrap().iter().map(text).collect();
        assert!(tags.contains(&"security"), "{id}: {tags:?}");
        for control in &info.references.cis {
            assert!(tags.contains(&format!("CIS-{control}").as_str()), "{id}: {tags:?}");
        }
        for control in &info.references.soc2 {
            assert!(tags.contains(&format!("SOC2-{control}").as_str()), "{id}: {tags:?}");
        }
        for control in &info.references.iso27001 {
            assert!(tags.contains(&format!("ISO27001-{control}").as_str()), "{id}: {tags:?}");
        }
    }

    let results = runs[0]["results"].as_array().unwrap();
    let reported: BTreeMap<&str, &Finding> = findings
        .iter()
        .filter(|f| f.state != FindingState::Resolved)
        .map(|f| (f.fingerprint.as_str(), f))
        .collect();
    assert_eq!(results.len(), reported.len());
    let mut used = BTreeSet::new();
    for result in results {
        let rule_id = text(&result["ruleId"]);
        let index = usize::try_from(result["ruleIndex"].as_u64().unwrap()).unwrap();
        assert_eq!(ids[index], rule_id, "ruleIndex points at another rule");
        used.insert(rule_id);
        assert!(levels.contains(&text(&result["level"])));
        assert!(!text(&result["message"]["text"]).trim().is_empty());
        let print = text(&result["partialFingerprints"]["jumpwatch/v1"]);
        let finding = reported[print];
        assert_eq!(finding.rule, rule_id);

        let location = &result["locations"][0];
        let uri = text(&location["physicalLocation"]["artifactLocation"]["uri"]);
        assert!(uri.starts_with(&format!("jumpcloud/{}/", finding.tenant)), "{uri}");
        assert!(
            uri.chars().all(|c| c.is_ascii_alphanumeric() || "-._~@%/".contains(c)),
            "not a plain relative URI: {uri}"
        );
        assert!(location["physicalLocation"]["region"]["startLine"].as_u64().unwrap() >= 1);
        let logical = &location["logicalLocations"][0];
        assert_eq!(logical["kind"], "resource");
        assert!(text(&logical["fullyQualifiedName"]).ends_with(&finding.resource));
        assert!(!text(&logical["name"]).is_empty());

        let properties = &result["properties"];
        assert_eq!(properties["state"], finding.state.as_str());
        assert!(properties["first_seen"].is_string() && properties["last_seen"].is_string());
        match finding.state {
            FindingState::Suppressed => {
                let suppression = &result["suppressions"][0];
                assert_eq!(suppression["kind"], "external");
                assert_eq!(suppression["status"], "accepted");
                let id = finding.suppression.as_deref().unwrap();
                assert!(text(&suppression["justification"]).contains(id));
            }
            _ => assert!(result.get("suppressions").is_none()),
        }
    }
    // Every rule described is one a result uses.
    assert_eq!(used, ids.iter().copied().collect());
    // Resolved findings are not results.
    for finding in findings.iter().filter(|f| f.state == FindingState::Resolved) {
        assert!(!reported.contains_key(finding.fingerprint.as_str()));
    }
}

#[test]
fn sarif_describes_a_rule_it_does_not_know_from_its_findings() {
    let (_, findings) = fixture();
    let open: Vec<Finding> =
        findings.into_iter().filter(|f| f.state == FindingState::Open).take(3).collect();
    let log = output::sarif(&open, &|_| None, "1.2.3");
    let rules = log["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for result in results {
        let index = usize::try_from(result["ruleIndex"].as_u64().unwrap()).unwrap();
        assert_eq!(rules[index]["id"], result["ruleId"]);
        assert!(!text(&result["message"]["text"]).is_empty());
    }
}

#[test]
fn sarif_levels_and_security_severities_follow_the_severity() {
    let (engine, findings) = fixture();
    let log = sarif(&engine, &findings);
    let run = &log["runs"][0];
    for result in run["results"].as_array().unwrap() {
        let severity = engine.rule(text(&result["ruleId"])).unwrap().severity;
        let want = match severity {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            _ => "note",
        };
        assert_eq!(result["level"], want);
        let index = usize::try_from(result["ruleIndex"].as_u64().unwrap()).unwrap();
        let score: f64 =
            text(&run["tool"]["driver"]["rules"][index]["properties"]["security-severity"])
                .parse()
                .unwrap();
        let (low, high) = match severity {
            Severity::Critical => (9.0, 10.0),
            Severity::High => (7.0, 8.9),
            Severity::Medium => (4.0, 6.9),
            Severity::Low => (0.1, 3.9),
            _ => (0.0, 0.0),
        };
        assert!((low..=high).contains(&score), "{severity}: {score}");
    }
}

#[test]
fn rules_in_every_format() {
    let engine = Engine::builtin().unwrap();
    let rules: Vec<&RuleInfo> = engine.rules().collect();
    let write = |format| {
        let mut out = Vec::new();
        output::write_rules(&mut out, format, &rules).map(|()| String::from_utf8(out).unwrap())
    };
    let table = write(Format::Table).unwrap();
    assert_eq!(table.lines().count(), rules.len() + 3);
    assert!(table.starts_with("ID"));
    for rule in &rules {
        assert!(table.lines().any(|l| l.starts_with(&format!("{} ", rule.id))), "{}", rule.id);
    }
    let json: Vec<Value> = serde_json::from_str(&write(Format::Json).unwrap()).unwrap();
    assert_eq!(json.len(), rules.len());
    assert_eq!(json[0]["id"], rules[0].id);
    assert_eq!(json[0]["type"], rules[0].rule_type.to_string());
    let jsonl = write(Format::Jsonl).unwrap();
    for (line, rule) in jsonl.lines().zip(&rules) {
        assert_eq!(serde_json::from_str::<Value>(line).unwrap()["id"], rule.id);
    }
    assert_eq!(jsonl.lines().count(), rules.len());
    let csv = write(Format::Csv).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let width = reader.headers().unwrap().len();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), rules.len());
    assert!(records.iter().all(|r| r.len() == width));
    let error = write(Format::Sarif).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(error.to_string().contains("SARIF is for findings"));
}

#[test]
fn a_rule_described_for_people() {
    let engine = Engine::builtin().unwrap();
    let rule = engine.rule("jc.iplist.overly_broad").unwrap();
    let mut out = Vec::new();
    output::describe_rule(&mut out, rule).unwrap();
    let text = String::from_utf8(out).unwrap();
    for want in [
        rule.id.as_str(),
        &rule.title,
        "severity:  high",
        "type:      state",
        "kind:      ip_list",
        "min_ipv4_prefix = 8",
        "CIS Controls v8: 6.4, 13.4",
        "SOC 2 (2017 TSC): CC6.6",
        "ISO/IEC 27001:2022: A.8.20",
        &rule.rationale,
        &rule.remediation,
        &rule.source,
    ] {
        assert!(text.contains(want), "{want:?} missing from\n{text}");
    }
}

/// A native rule that judges users by the first letter of their username, so each outcome
/// turns up: a–h pass, i–p fail, q–t unknown, the rest not applicable.
#[derive(Debug)]
struct ByLetter(RuleInfo);

impl Rule for ByLetter {
    fn info(&self) -> &RuleInfo {
        &self.0
    }

    fn evaluate(&self, subject: Subject<'_>, _scope: &Scope<'_>) -> Verdict {
        let Subject::Resource(user) = subject else { return Verdict::not_applicable() };
        let first = user.doc["username"].as_str().and_then(|n| n.chars().next()).unwrap_or('z');
        match first.to_ascii_lowercase() {
            'a'..='h' => Verdict::pass(),
            'i'..='p' => Verdict::fail("fails by letter"),
            'q'..='t' => Verdict::unknown("no idea"),
            _ => Verdict::not_applicable(),
        }
    }
}

fn by_letter(id: &str, references: Value) -> Arc<dyn Rule> {
    let references: References = serde_json::from_value(references).unwrap();
    Arc::new(ByLetter(
        RuleInfo::new(id, id, Severity::Medium, ResourceKind::User).references(references),
    ))
}

fn counts<'a>(results: impl Iterator<Item = &'a RuleResult>) -> [usize; 3] {
    let mut counts = [0; 3];
    for result in results {
        match result.outcome {
            Outcome::Pass => counts[0] += 1,
            Outcome::Fail => counts[1] += 1,
            Outcome::Unknown => counts[2] += 1,
            _ => {}
        }
    }
    counts
}

/// Every control's and framework's counts are those of the results of the rules that map to
/// them, each result counted once a framework; the scores follow.
fn check_counts(summary: &ComplianceSummary, results: &[RuleResult], engine: &Engine) {
    assert_eq!(
        summary.frameworks.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["cis", "soc2", "iso27001"]
    );
    let score = |[pass, fail, _]: [usize; 3]| {
        if pass + fail == 0 { 100.0 } else { pass as f64 * 100.0 / (pass + fail) as f64 }
    };
    for framework in &summary.frameworks {
        let controls = |r: &RuleResult| -> Vec<String> {
            let info = engine.rule(&r.rule).unwrap();
            let (_, controls) = info
                .references
                .frameworks()
                .into_iter()
                .find(|(name, _)| *name == framework.name)
                .unwrap();
            controls.to_vec()
        };
        let want = counts(results.iter().filter(|r| !controls(r).is_empty()));
        assert_eq!([framework.pass, framework.fail, framework.unknown], want, "{}", framework.name);
        assert!((framework.score - score(want)).abs() < 1e-9);
        for control in &framework.controls {
            let of = |r: &&RuleResult| controls(r).contains(&control.control);
            let want = counts(results.iter().filter(of));
            assert_eq!(
                [control.pass, control.fail, control.unknown],
                want,
                "{} {}",
                framework.name,
                control.control
            );
            assert!((control.score - score(want)).abs() < 1e-9);
            let rules: BTreeSet<&str> =
                results.iter().filter(of).map(|r| r.rule.as_str()).collect();
            assert_eq!(control.rules.iter().map(String::as_str).collect::<BTreeSet<_>>(), rules);
        }
    }
}

#[test]
fn compliance_counts_add_up_and_controls_sort_naturally() {
    let inventory = fixtures::load_small().unwrap();
    let mut engine = Engine::new();
    let broad = json!({"cis": ["13.4", "6.3"], "soc2": ["CC7.1"], "iso27001": ["A.8.1"]});
    let narrow = json!({"cis": ["6.3", "6.10"], "soc2": ["CC6.1"], "iso27001": ["A.5.17"]});
    engine.add_native(by_letter("acme.user.broad", broad)).unwrap();
    engine.add_native(by_letter("acme.user.narrow", narrow)).unwrap();
    let results = engine.evaluate_state(&inventory, fixtures::now());
    for outcome in [Outcome::Pass, Outcome::Fail, Outcome::Unknown, Outcome::NotApplicable] {
        assert!(results.iter().any(|r| r.outcome == outcome), "no {outcome}");
    }
    let summary = compliance::summarize(&results, &|id| engine.rule(id));
    check_counts(&summary, &results, &engine);

    let order = |name: &str| -> Vec<&str> {
        let framework = summary.frameworks.iter().find(|f| f.name == name).unwrap();
        framework.controls.iter().map(|c| c.control.as_str()).collect()
    };
    assert_eq!(order("cis"), ["6.3", "6.10", "13.4"]);
    assert_eq!(order("soc2"), ["CC6.1", "CC7.1"]);
    assert_eq!(order("iso27001"), ["A.5.17", "A.8.1"]);
    // Both rules map to CIS: each result once in the framework, twice in 6.3.
    let cis = &summary.frameworks[0];
    let both = counts(results.iter());
    assert_eq!([cis.pass, cis.fail, cis.unknown], both);
    assert_eq!([cis.controls[0].pass, cis.controls[0].fail, cis.controls[0].unknown], both);
    assert_eq!(cis.title, "CIS Controls v8");
    assert_eq!(summary.frameworks[1].title, "SOC 2 (2017 TSC)");
    assert_eq!(summary.frameworks[2].title, "ISO/IEC 27001:2022");
}

#[test]
fn compliance_of_the_builtin_pack_over_the_fixture() {
    let inventory = fixtures::load_small().unwrap();
    let engine = Engine::builtin().unwrap();
    let results = engine.evaluate_state(&inventory, fixtures::now());
    let summary = compliance::summarize(&results, &|id| engine.rule(id));
    check_counts(&summary, &results, &engine);
    assert!(summary.frameworks.iter().all(|f| !f.controls.is_empty()));
    assert!(summary.frameworks.iter().any(|f| f.fail > 0 && f.score < 100.0));
}

#[test]
fn nothing_judged_scores_100() {
    let engine = Engine::builtin().unwrap();
    let summary = compliance::summarize(&[], &|id| engine.rule(id));
    for framework in &summary.frameworks {
        assert!(framework.controls.is_empty());
        assert_eq!(framework.score, 100.0);
    }
}

#[test]
fn a_summary_in_every_format() {
    let inventory = fixtures::load_small().unwrap();
    let engine = Engine::builtin().unwrap();
    let results = engine.evaluate_state(&inventory, fixtures::now());
    let summary = compliance::summarize(&results, &|id| engine.rule(id));
    let write = |format| {
        let mut out = Vec::new();
        compliance::write_summary(&mut out, format, &summary)
            .map(|()| String::from_utf8(out).unwrap())
    };
    let controls: usize = summary.frameworks.iter().map(|f| f.controls.len()).sum();

    let table = write(Format::Table).unwrap();
    for framework in &summary.frameworks {
        let header = table.lines().find(|l| l.starts_with(&framework.title)).unwrap();
        assert!(header.contains(&format!("{} fail", framework.fail)), "{header}");
        for control in &framework.controls {
            assert!(
                table.lines().any(|l| l.trim_start().starts_with(&format!("{} ", control.control))),
                "{}",
                control.control
            );
        }
    }
    let json: Value = serde_json::from_str(&write(Format::Json).unwrap()).unwrap();
    assert_eq!(json["frameworks"].as_array().unwrap().len(), 3);
    assert_eq!(json["frameworks"][0]["name"], "cis");
    let jsonl = write(Format::Jsonl).unwrap();
    assert_eq!(jsonl.lines().count(), controls);
    for line in jsonl.lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        assert!(line["framework"].is_string() && line["control"].is_string());
        assert!(line["score"].is_number() && line["rules"].is_array());
    }
    let csv = write(Format::Csv).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["framework", "control", "pass", "fail", "unknown", "score", "rules"]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), controls);
    assert!(records.iter().all(|r| r.len() == 7 && r[5].parse::<f64>().is_ok()));
    assert_eq!(write(Format::Sarif).unwrap_err().kind(), ErrorKind::InvalidInput);
}

#[test]
fn no_output_shows_a_radius_shared_secret() {
    let mut inventory = fixtures::load_small().unwrap();
    let planted = "correct-horse-battery-staple";
    let doc = json!({
        "_id": "6660f3a4b5c6d7e8f90a1b99",
        "name": "Guest Wi-Fi",
        "mfa": "DISABLED",
        "sharedSecret": planted,
    });
    inventory.insert(Resource::from_doc(ResourceKind::RadiusServer, doc).unwrap()).unwrap();
    let secrets: Vec<String> = inventory
        .resources(ResourceKind::RadiusServer)
        .filter_map(|r| r.doc["sharedSecret"].as_str().map(str::to_owned))
        .collect();
    assert!(secrets.len() > 1 && secrets.iter().all(|s| s.len() > 8));

    let engine = Engine::builtin().unwrap();
    let findings = findings(&inventory);
    let radius: Vec<&Finding> =
        findings.iter().filter(|f| f.kind == Some(ResourceKind::RadiusServer)).collect();
    assert!(radius.iter().any(|f| f.name.as_deref() == Some("Guest Wi-Fi")), "{radius:?}");

    let mut shown: Vec<String> =
        Format::ALL.into_iter().map(|format| write(format, &findings, &engine)).collect();
    let results = engine.evaluate_state(&inventory, fixtures::now());
    let summary = compliance::summarize(&results, &|id| engine.rule(id));
    for format in [Format::Table, Format::Json, Format::Jsonl, Format::Csv] {
        let mut out = Vec::new();
        compliance::write_summary(&mut out, format, &summary).unwrap();
        shown.push(String::from_utf8(out).unwrap());
    }
    for text in &shown {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a shared secret is shown");
        }
    }
}
