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

#[test]
fn messages_are_expressions_checked_at_load() {
    let with_message = |message: &str| {
        rule("true", "").replace("message = \"m\"", &format!("message = \"{message}\""))
    };
    let error =
        load_pack("custom.toml", &with_message("{{r.username}} in {{groups.size()}}")).unwrap_err();
    assert!(error.message.contains("`message` reads `groups`"), "{error}");
    assert_eq!(error.line, 7);
    let error = load_pack("custom.toml", &with_message("{{params.days}}")).unwrap_err();
    assert!(error.message.contains("params.days"), "{error}");
    let error = load_pack("custom.toml", &with_message("half {{r.username")).unwrap_err();
    assert!(error.message.contains("without its `}}`"), "{error}");

    let rules = load_pack(
        "custom.toml",
        &with_message("{{r.username}} is in {{size(rel.groups)}} groups; {{r.nope}}"),
    )
    .unwrap();
    let engine = {
        let mut engine = jumpwatch_rules::Engine::new();
        engine.add_rules(rules).unwrap();
        engine
    };
    let input = jumpwatch_rules::Input::doc(serde_json::json!({"_id": "u1", "username": "ada"}))
        .rel(serde_json::json!({"groups": [{"name": "a"}, {"name": "b"}]}));
    let verdict = engine.check(&engine.cel_rules()[0], &input, chrono::Utc::now());
    assert_eq!(verdict.message.as_deref(), Some("ada is in 2 groups; ?"));
}

#[test]
fn re_matches_with_a_pattern_compiled_once_and_a_bad_pattern_is_unknown() {
    let mut engine = jumpwatch_rules::Engine::new();
    engine
        .add_pack("custom.toml", &rule("re(r.username, '^svc-') && !re(r.username, 'x{2}')", ""))
        .unwrap();
    engine
        .add_pack("other.toml", &rule("re(r.username, '(')", "").replace("x.rule", "x.broken"))
        .unwrap();
    let check = |id: &str, name: &str| {
        let rule = engine.cel_rules().iter().find(|r| r.id == id).unwrap();
        engine.check(
            rule,
            &jumpwatch_rules::Input::doc(serde_json::json!({"_id": "u", "username": name})),
            chrono::Utc::now(),
        )
    };
    for _ in 0..3 {
        assert_eq!(check("x.rule", "svc-build").outcome, jumpwatch_rules::Outcome::Fail);
        assert_eq!(check("x.rule", "ada").outcome, jumpwatch_rules::Outcome::Pass);
        assert_eq!(check("x.rule", "svc-xx").outcome, jumpwatch_rules::Outcome::Pass);
    }
    let broken = check("x.broken", "ada");
    assert_eq!(broken.outcome, jumpwatch_rules::Outcome::Unknown);
    assert!(broken.message.unwrap().contains("not a regular expression"));
}
