//! Conditions compiled to Rust give what the CEL interpreter gives — outcome, reason, message
//! and evidence — and what the compiler does not know still runs, through the interpreter.

use chrono::{TimeZone, Utc};
use jumpwatch_model::{Inventory, Resource, ResourceKind, TenantId};
use jumpwatch_rules::{Engine, Input, Outcome, RuleResult, Verdict, load_pack};
use proptest::prelude::*;
use serde_json::{Value, json};

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

/// A user rule with `fails`, a message that shows `shown`, and parameters.
fn pack(applies: Option<&str>, fails: &str, shown: &str) -> String {
    let toml_string = |text: &str| Value::from(text).to_string();
    let applies = applies.map(|a| format!("applies = {}\n", toml_string(a))).unwrap_or_default();
    format!(
        "[[rules]]\nid = \"t.rule\"\ntitle = \"t\"\nseverity = \"low\"\nkind = \"user\"\n{applies}fails = {}\nmessage = {}\nrationale = \"r\"\nremediation = \"x\"\nparams = {{ n = 3, s = \"Ab\", l = [\"a\", \"b\"], pattern = \"^a\" }}\n",
        toml_string(fails),
        toml_string(&format!("m {{{{{shown}}}}} end")),
    )
}

/// Two engines with the same rules: compiled (the default) and interpreted only.
fn engines(text: &str) -> (Engine, Engine) {
    let mut compiled = Engine::new();
    compiled.add_pack("t.toml", text).unwrap();
    let mut interpreted = Engine::new().compiled(false);
    interpreted.add_pack("t.toml", text).unwrap();
    (compiled, interpreted)
}

/// The verdicts of both engines on `doc` (with `rel`), which must be the same.
fn verdicts(text: &str, doc: &Value, rel: &Value) -> (Verdict, Verdict) {
    let (compiled, interpreted) = engines(text);
    let input = Input::doc(doc.clone()).rel(rel.clone());
    let a = compiled.check(&compiled.cel_rules()[0], &input, now());
    let b = interpreted.check(&interpreted.cel_rules()[0], &input, now());
    (a, b)
}

/// The results of both engines over an inventory of these users.
fn over_inventory(text: &str, users: &[Value]) -> (Vec<RuleResult>, Vec<RuleResult>) {
    let mut inventory = Inventory::new(TenantId::new("acme").unwrap());
    for (i, user) in users.iter().enumerate() {
        let mut doc = user.clone();
        if let Some(object) = doc.as_object_mut() {
            object.insert("_id".to_owned(), Value::from(format!("u{i}")));
        }
        inventory.insert(Resource::from_doc(ResourceKind::User, doc).unwrap()).unwrap();
    }
    let (compiled, interpreted) = engines(text);
    (compiled.evaluate_state(&inventory, now()), interpreted.evaluate_state(&inventory, now()))
}

/// A reason with what is between braces — the entries of the CEL maps it shows — left out: the
/// interpreter writes them in the order of its hash map, which differs from one evaluation to
/// the next.
fn without_map_entries(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push_str("{..");
                }
                depth += 1;
            }
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push('}');
                }
            }
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Condition shapes the compiler handles, and some it does not, over the fields of
/// [`document`] (`x` is any of them; `p` is a comprehension variable).
fn condition() -> impl Strategy<Value = String> {
    let value = prop::sample::select(vec![
        "r.a",
        "r.b",
        "r.n",
        "r.s",
        "r.t",
        "r.list",
        "r.obj",
        "r.obj.a",
        "r.obj.n",
        "r.missing",
        "params.n",
        "params.s",
        "params.l",
    ]);
    let literal = prop::sample::select(vec![
        "true", "false", "null", "0", "3", "-1", "'a'", "'Ab'", "''", "1.5", "3u", "['a', 3]",
    ]);
    let leaf = prop_oneof![
        prop::sample::select(vec![
            "has(r.a)",
            "has(r.obj)",
            "has(r.obj.a)",
            "has(r.missing)",
            "r.list.exists(p, p == 'a')",
            "r.list.all(p, has(p.a) && p.a == true)",
            "r.list.exists(p, p.n > 2)",
            "r.items.exists(p, has(p.a) && p.a == r.s)",
            "r.items.all(p, !has(p.n) || p.n < params.n)",
            "r.items.exists(p, p.list.exists(q, q == p.s))",
            "size(r.list) > 1",
            "size(r.obj) == 2",
            "r.list.size() == 0",
            "age(r.t) > days(params.n)",
            "age(r.t) + days(30) < days(0)",
            "age(r.s) < hours(1)",
            "re(r.s, params.pattern)",
            "re(r.s, '[')",
            "lower(r.s) == lower(params.s)",
            "r.s in params.l",
            "r.n in [1, 2, 3]",
            "r.s.contains('b')",
            "string(r.n) == '3'",
            "int(r.s) > 1",
            "size(r.list.map(p, p)) == 2",
            "r.list.filter(p, p == 'a').size() > 0",
            "r.list.exists_one(p, p == 'a')",
            "r.obj == {'a': true}",
            "r.n + 1 > 2",
            "org == null",
            "rel.groups.exists(g, has(g.name) && g.name == r.s)",
            "size(rel.groups) > 0",
            "has(rel.admin)",
            "rel.admin.email == r.s",
        ])
        .prop_map(str::to_owned),
        (value.clone(), prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]), literal)
            .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        (value.clone(), prop::sample::select(vec!["==", "!=", "<"]), value)
            .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(vec!["&&", "||"]), inner.clone())
                .prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
            inner.clone().prop_map(|a| format!("!({a})")),
            (inner.clone(), inner.clone(), inner)
                .prop_map(|(c, a, b)| format!("({c}) ? ({a}) : ({b})")),
        ]
    })
}

/// What a message shows.
fn shown() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "r.a",
        "r.n",
        "r.s",
        "r.t",
        "r.obj.a",
        "r.missing",
        "params.n",
        "params.l",
        "r.list",
        "has(r.s) ? r.s : 'none'",
        "age(r.t)",
    ])
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-4i64..6).prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        Just(Value::from(2.5)),
        prop::sample::select(vec!["a", "Ab", "b", "", "3", "x1", "2026-01-01T00:00:00Z"])
            .prop_map(Value::from),
    ]
}

/// Documents over the fields the conditions read, each often missing, null or of another type.
fn document() -> impl Strategy<Value = Value> {
    let value = scalar().prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(vec!["a", "n", "s", "list"]), inner), 0..3)
                .prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
        ]
    });
    let time = prop_oneof![
        Just(Value::from("2026-02-01T00:00:00Z")),
        Just(Value::from("2026-03-02T08:00:00Z")),
        Just(Value::from("not a time")),
        Just(Value::from(7)),
    ];
    (
        prop::collection::vec(
            (prop::sample::select(vec!["a", "b", "n", "s", "list", "obj", "items"]), value),
            0..6,
        ),
        prop::option::of(time),
    )
        .prop_map(|(fields, time)| {
            let mut object: serde_json::Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            if let Some(time) = time {
                object.insert("t".to_owned(), time);
            }
            Value::Object(object)
        })
}

fn relations() -> impl Strategy<Value = Value> {
    let group = prop::option::of(
        prop::sample::select(vec!["a", "Ab", "admins"]).prop_map(|n| json!({"name": n})),
    )
    .prop_map(|g| g.unwrap_or_else(|| json!({"id": "g"})));
    (prop::collection::vec(group, 0..3), any::<bool>()).prop_map(|(groups, admin)| {
        let mut rel = json!({"groups": groups});
        if admin {
            rel["admin"] = json!({"email": "Ab"});
        }
        rel
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
    ))]

    /// Outcome, reason, message and evidence are the interpreter's, whatever the document.
    #[test]
    fn compiled_conditions_agree_with_the_interpreter(
        applies in prop::option::of(condition()),
        fails in condition(),
        shown in shown(),
        doc in document(),
        rel in relations(),
    ) {
        let text = pack(applies.as_deref(), &fails, shown);
        prop_assume!(load_pack("t.toml", &text).is_ok());
        let (mut compiled, mut interpreted) = verdicts(&text, &doc, &rel);
        compiled.message = compiled.message.as_deref().map(without_map_entries);
        interpreted.message = interpreted.message.as_deref().map(without_map_entries);
        prop_assert_eq!(compiled, interpreted, "{} over {}", fails, doc);
    }

    /// The same over an inventory, where `r` is the resource's document.
    #[test]
    fn compiled_state_evaluation_agrees_with_the_interpreter(
        fails in condition(),
        shown in shown(),
        users in prop::collection::vec(document(), 1..4),
    ) {
        let text = pack(None, &fails, shown);
        prop_assume!(load_pack("t.toml", &text).is_ok());
        let (mut compiled, mut interpreted) = over_inventory(&text, &users);
        for result in compiled.iter_mut().chain(&mut interpreted) {
            result.message = result.message.as_deref().map(without_map_entries);
        }
        prop_assert_eq!(compiled, interpreted, "{}", fails);
    }
}

/// The results of both engines over users (each a document and the groups it is a member of)
/// and the groups they share.
fn over_groups(
    text: &str,
    groups: &[Value],
    users: &[(Value, Vec<usize>)],
) -> (Vec<RuleResult>, Vec<RuleResult>) {
    let mut inventory = Inventory::new(TenantId::new("acme").unwrap());
    let id = |prefix: &str, i: usize| format!("{prefix}{i}");
    for (i, group) in groups.iter().enumerate() {
        let mut doc = group.clone();
        if let Some(object) = doc.as_object_mut() {
            object.insert("id".to_owned(), Value::from(id("g", i)));
        }
        inventory.insert(Resource::from_doc(ResourceKind::UserGroup, doc).unwrap()).unwrap();
    }
    for (i, (user, member_of)) in users.iter().enumerate() {
        let mut doc = user.clone();
        if let Some(object) = doc.as_object_mut() {
            object.insert("_id".to_owned(), Value::from(id("u", i)));
        }
        inventory.insert(Resource::from_doc(ResourceKind::User, doc).unwrap()).unwrap();
        for &group in member_of.iter().filter(|&&g| g < groups.len()) {
            let edge = json!({"to": {"id": id("u", i), "type": "user"}});
            let parent = jumpwatch_model::ResourceId::new(id("g", group)).unwrap();
            let member = Resource::from_child_doc(ResourceKind::UserGroupMember, parent, edge);
            inventory.insert(member.unwrap()).unwrap();
        }
    }
    let (compiled, interpreted) = engines(text);
    (compiled.evaluate_state(&inventory, now()), interpreted.evaluate_state(&inventory, now()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    /// Users who share groups: a quantifier over the groups whose condition reads the group alone
    /// (worked out once a group) and the group with the user gives the interpreter's results.
    #[test]
    fn conditions_on_shared_groups_agree_with_the_interpreter(
        on_group in condition(),
        on_both in condition(),
        all in any::<bool>(),
        groups in prop::collection::vec(document(), 1..4),
        users in prop::collection::vec((document(), prop::collection::vec(0..4usize, 0..3)), 1..4),
    ) {
        let on_group = on_group.replace("r.", "g.");
        let quantifier = if all { "all" } else { "exists" };
        let fails = format!("rel.groups.{quantifier}(g, ({on_group}) || ({on_both}))");
        let text = pack(None, &fails, "r.s");
        prop_assume!(load_pack("t.toml", &text).is_ok());
        let (mut compiled, mut interpreted) = over_groups(&text, &groups, &users);
        for result in compiled.iter_mut().chain(&mut interpreted) {
            result.message = result.message.as_deref().map(without_map_entries);
        }
        prop_assert_eq!(compiled, interpreted, "{}", fails);
    }
}

#[test]
fn the_built_in_pack_gives_the_same_results_compiled_and_interpreted() {
    let at = now();
    let dataset = jumpwatch_sim::Dataset::builder()
        .seed(7)
        .size(jumpwatch_sim::Size::Small)
        .now(at)
        .generate();
    let inventory = dataset.tenants()[0].inventory();
    let compiled = Engine::builtin().unwrap().evaluate_state(&inventory, at);
    let interpreted = Engine::builtin().unwrap().compiled(false).evaluate_state(&inventory, at);
    assert!(compiled.len() > 1000, "{} results", compiled.len());
    assert!(compiled.iter().any(|r| r.outcome == Outcome::Fail));
    assert!(compiled.iter().any(|r| r.outcome == Outcome::Unknown));
    for (a, b) in compiled.iter().zip(&interpreted) {
        assert_eq!(a, b);
    }
    assert_eq!(compiled.len(), interpreted.len());
}

/// Rules on documents that many subjects share — devices' policies (directly, through device
/// groups and policy groups), users' groups, devices' users — give the interpreter's results:
/// what compiled code works out once for a shared document holds for every subject.
#[test]
fn conditions_on_shared_documents_give_the_interpreters_results() {
    let rule = |id: &str, kind: &str, fails: &str| {
        format!(
            "[[rules]]\nid = \"{id}\"\ntitle = \"t\"\nseverity = \"low\"\nkind = \"{kind}\"\nfails = {}\nmessage = \"m\"\nrationale = \"r\"\nremediation = \"x\"\nparams = {{ pattern = \"(?i)admin|sudo\" }}\n",
            Value::from(fails)
        )
    };
    let text = [
        rule(
            "t.policy_through_group",
            "system",
            "rel.policies.exists(p, has(p.via_group) && has(p.template) && has(p.template.name) \
             && re(p.template.name, '_darwin$'))",
        ),
        rule(
            "t.policy_for_os",
            "system",
            "!rel.policies.exists(p, has(p.template) && has(p.template.osMetaFamily) \
             && (p.template.osMetaFamily == r.osFamily || p.template.osMetaFamily == 'universal'))",
        ),
        rule(
            "t.policy_name",
            "system",
            "rel.policies.all(p, has(p.name) && size(p.name) > 3 || has(p.via_policy_group))",
        ),
        rule(
            "t.group",
            "user",
            "rel.groups.exists(g, has(g.name) && re(g.name, params.pattern) \
             || has(g.name) && g.name == r.username)",
        ),
        rule(
            "t.device_user",
            "system",
            "rel.users.exists(u, has(u.username) && re(u.username, '^[a-f]') \
             && !(has(u.suspended) && u.suspended == true))",
        ),
    ]
    .concat();
    let at = now();
    let dataset = jumpwatch_sim::Dataset::builder()
        .seed(7)
        .size(jumpwatch_sim::Size::Small)
        .now(at)
        .generate();
    let inventory = dataset.tenants()[0].inventory();
    let (compiled, interpreted) = engines(&text);
    let compiled = compiled.evaluate_state(&inventory, at);
    let interpreted = interpreted.evaluate_state(&inventory, at);
    assert_eq!(compiled.len(), interpreted.len());
    for (a, b) in compiled.iter().zip(&interpreted) {
        assert_eq!(a, b);
    }
    // The rules tell subjects apart: each both fails and passes somewhere.
    for id in ["t.policy_through_group", "t.group", "t.device_user"] {
        let outcomes: Vec<Outcome> =
            compiled.iter().filter(|r| r.rule == id).map(|r| r.outcome).collect();
        assert!(outcomes.contains(&Outcome::Fail), "{id}: {outcomes:?}");
        assert!(outcomes.contains(&Outcome::Pass), "{id}: {outcomes:?}");
    }
}

#[test]
fn shapes_the_compiler_does_not_know_run_through_the_interpreter() {
    let doc = json!({"list": ["a", "b"], "obj": {"a": true}, "n": 3});
    for (fails, expect) in [
        ("r.list.map(p, p + '!')[1] == 'b!'", Outcome::Fail),
        ("r.list.filter(p, p == 'a').size() == 2", Outcome::Pass),
        ("r.list.exists_one(p, p == 'a') && has(r.obj)", Outcome::Fail),
        ("r.obj == {'a': true}", Outcome::Fail),
        ("r.n * 2 == 6", Outcome::Fail),
        ("now > timestamp('2026-01-01T00:00:00Z')", Outcome::Fail),
        // Compiled around an unknown part: `has` decides before it is reached.
        ("has(r.missing) && r.missing.map(p, p)[0] == 1", Outcome::Pass),
    ] {
        let (compiled, interpreted) = verdicts(&pack(None, fails, "r.n"), &doc, &json!({}));
        assert_eq!(compiled.outcome, expect, "{fails}: {compiled:?}");
        assert_eq!(compiled, interpreted, "{fails}");
    }
}

#[test]
fn reasons_of_unknown_outcomes_are_the_interpreters_words() {
    let doc = json!({"n": "three", "t": "yesterday", "obj": {}});
    for (fails, reason) in [
        ("r.missing == 1", "`r.missing == 1`: No such key: missing"),
        ("r.obj.a", "`r.obj.a`: No such key: a"),
        ("r.n", "`r.n` gave String(\"three\"), not a boolean"),
    ] {
        let (compiled, interpreted) = verdicts(&pack(None, fails, "r.n"), &doc, &json!({}));
        assert_eq!(compiled.outcome, Outcome::Unknown, "{fails}");
        assert_eq!(compiled.message.as_deref(), Some(reason), "{fails}");
        assert_eq!(compiled, interpreted, "{fails}");
    }
    for fails in ["age(r.t) > days(1)", "r.n < 1", "re(r.n, '[')"] {
        let (compiled, interpreted) = verdicts(&pack(None, fails, "r.n"), &doc, &json!({}));
        assert_eq!(compiled.outcome, Outcome::Unknown, "{fails}");
        assert!(compiled.message.as_deref().is_some_and(|m| m.starts_with(&format!("`{fails}`"))));
        assert_eq!(compiled, interpreted, "{fails}");
    }
}

#[test]
fn messages_show_question_marks_where_the_interpreter_does() {
    let doc = json!({"n": 3, "s": "ada"});
    for (shown, message) in [
        ("r.s", "m ada end"),
        ("r.missing", "m ? end"),
        ("params.n", "m 3 end"),
        ("has(r.missing) ? r.missing : r.s", "m ada end"),
        ("params.l", "m [a, b] end"),
    ] {
        let (compiled, interpreted) = verdicts(&pack(None, "true", shown), &doc, &json!({}));
        assert_eq!(compiled.message.as_deref(), Some(message), "{shown}");
        assert_eq!(compiled, interpreted, "{shown}");
    }
}

#[test]
fn evaluation_over_an_inventory_reads_documents_with_nulls_as_missing() {
    let text = pack(Some("!has(r.gone)"), "has(r.s) && r.s == 'a' && r.n > 1", "r.s");
    let users = [json!({"s": "a", "n": 2, "gone": null}), json!({"s": "a", "n": 0}), json!({})];
    let (compiled, interpreted) = over_inventory(&text, &users);
    let outcomes: Vec<Outcome> = compiled.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Fail, Outcome::Pass, Outcome::Pass]);
    assert_eq!(compiled, interpreted);
}
