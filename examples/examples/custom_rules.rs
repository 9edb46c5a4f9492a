//! Rules of your own beside the built-in pack: one as data (TOML + CEL), one in Rust, judged over
//! a generated tenant, with a suppression — then the findings as a table and the compliance
//! summary.
//!
//! ```text
//! cargo run -p jumpwatch-examples --example custom_rules
//! ```

use std::sync::Arc;

use jumpwatch::model::ResourceKind;
use jumpwatch::rules::compliance::{summarize, write_summary};
use jumpwatch::rules::output::{Format, write_findings};
use jumpwatch::rules::{
    AuditInput, Engine, FindingState, Rule, RuleInfo, Scope, Severity, Subject, Suppression,
    Verdict,
};
use jumpwatch_sim::{Dataset, Size};

/// A house rule as data: contractors work on their own devices, not on company ones.
const HOUSE_RULES: &str = r#"
[[rules]]
id = "acme.user.contractor_on_company_devices"
title = "Contractor bound to company devices"
severity = "medium"
kind = "user"
applies = "has(r.employeeType) && lower(r.employeeType) == 'contractor'"
fails = "size(rel.systems) > 0"
message = "{{r.username}} is a contractor bound to {{size(rel.systems)}} company device(s), the first {{rel.systems[0].displayName}}"
rationale = "Contractors' access ends with the contract; company devices they sign in to keep their accounts and files."
remediation = "Unbind the contractor from company devices; give access through the applications they need."
references = { cis = ["5.3", "6.2"], soc2 = ["CC6.2"] }

[[rules.tests]]
expect = "fail"
doc = '{"_id": "u1", "username": "c", "employeeType": "Contractor"}'
rel = '{"systems": [{"displayName": "mbp"}]}'

[[rules.tests]]
expect = "pass"
doc = '{"_id": "u1", "username": "c", "employeeType": "contractor"}'
rel = '{"systems": []}'

[[rules.tests]]
expect = "not_applicable"
doc = '{"_id": "u1", "username": "e", "employeeType": "full-time"}'
"#;

/// A house rule in Rust: devices are named by the asset register, not left with the factory
/// name Windows gives them (`DESKTOP-5405A50B`).
#[derive(Debug)]
struct FactoryHostname(RuleInfo);

impl Rule for FactoryHostname {
    fn info(&self) -> &RuleInfo {
        &self.0
    }

    fn evaluate(&self, subject: Subject<'_>, _scope: &Scope<'_>) -> Verdict {
        let Subject::Resource(system) = subject else { return Verdict::not_applicable() };
        let Some(hostname) = system.doc["hostname"].as_str() else {
            return Verdict::unknown("the device has not reported its hostname");
        };
        let upper = hostname.to_uppercase();
        if upper.starts_with("DESKTOP-") || upper.starts_with("LAPTOP-") {
            Verdict::fail(format!("{hostname} still has the name Windows gave it"))
                .with_evidence("hostname", Some(hostname.into()))
        } else {
            Verdict::pass()
        }
    }
}

#[allow(clippy::print_stdout)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dataset = Dataset::builder().seed(11).size(Size::Small).generate();
    let inventory = dataset.tenants().first().ok_or("no tenant")?.inventory();
    let now = dataset.now();

    let mut engine = Engine::builtin()?;
    engine.add_pack("house.toml", HOUSE_RULES)?;
    let info = RuleInfo::new(
        "acme.system.factory_hostname",
        "Device with its factory hostname",
        Severity::Low,
        ResourceKind::System,
    )
    .rationale("A device that cannot be told apart in logs and alerts slows every investigation.")
    .remediation("Rename the device after its asset tag.");
    engine.add_native(Arc::new(FactoryHostname(info)))?;
    let failures = engine.test(now);
    assert!(failures.is_empty(), "{failures:?}");

    // Accept one risk for a month.
    let accepted = Suppression::new(
        "jc.system.not_reporting",
        "lab devices are off between courses",
        "it@example.com",
        now + chrono::Duration::days(30),
        now,
    )?;
    let audit = engine.audit(
        AuditInput::new(&inventory, now).suppressions(std::slice::from_ref(&accepted)),
        Vec::new(),
    );

    let mut findings: Vec<_> =
        audit.findings.findings.values().filter(|f| f.rule.starts_with("acme.")).cloned().collect();
    findings.sort_by(|a, b| a.rule.cmp(&b.rule).then_with(|| a.resource.cmp(&b.resource)));
    // At most three a rule.
    let mut shown = std::collections::HashMap::new();
    findings.retain(|f| {
        let n = shown.entry(f.rule.clone()).or_insert(0);
        *n += 1;
        *n <= 3
    });
    let mut out = std::io::stdout().lock();
    write_findings(&mut out, Format::Table, &findings, &|id| engine.rule(id))?;
    let suppressed = audit.findings.in_state(FindingState::Suppressed).count();
    let open = audit.findings.in_state(FindingState::Open).count();
    println!(
        "\n{} rules, {} evaluations: {open} open findings, {suppressed} suppressed\n",
        engine.len(),
        audit.results.len()
    );
    write_summary(&mut out, Format::Table, &summarize(&audit.results, &|id| engine.rule(id)))?;
    Ok(())
}
