//! Rule files that cannot be used are refused at load, with the file, the line and the reason.

use jumpwatch_rules::{RuleError, load_pack};

fn rule(fails: &str, extra: &str) -> String {
    format!(
        "[[rules]]\nid = \"x.rule\"\ntitle = \"t\"\nseverity = \"low\"\nkind = \"user\"\nfails = \"{fails}\"\nmessage = \"m\"\nrationale = \"r\"\nremediation = \"f\"\n{extra}"
    )
}

fn error(text: &str) -> RuleError {
    load_pack("custom.toml", text).unwrap_err()
}

#[test]
fn a_good_rule_loads() {
    let rules = load_pack("custom.toml", &rule("r.sudo == true", "")).unwrap();
    assert_eq!(rules[0].source, "custom.toml:1");
}

#[test]
fn mistakes_name_the_file_line_and_reason() {
    let cases = [
        (rule("r.sudo ==", ""), 6, "does not parse"),
        (rule("user.sudo == true", ""), 6, "`user`, which is not a variable"),
        (rule("r.n > params.limit", ""), 6, "params.limit, which the rule does not declare"),
        (
            rule("true", "").replace("kind = \"user\"", "kind = \"users\""),
            5,
            "unknown resource kind",
        ),
        (
            rule("true", "").replace("severity = \"low\"", "severity = \"severe\""),
            4,
            "unknown variant",
        ),
        (rule("true", "[[rules.tests]]\nexpect = \"maybe\"\ndoc = '{}'\n"), 10, "not pass, fail"),
        (rule("true", "[[rules.tests]]\nexpect = \"fail\"\ndoc = '{nope'\n"), 10, "not JSON"),
        (rule("true", "typo = 1\n"), 10, "unknown field"),
    ];
    for (text, line, message) in cases {
        let error = error(&text);
        assert_eq!(error.file, "custom.toml");
        assert_eq!(error.line, line, "{error}");
        assert!(error.message.contains(message), "{error}");
    }
    let twice = format!("{}\n{}", rule("true", ""), rule("true", ""));
    assert!(error(&twice).message.contains("defined twice"));
}
