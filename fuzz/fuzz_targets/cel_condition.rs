//! CEL conditions: an arbitrary expression as a state, change or event rule's `fails` (and as a
//! message placeholder), compiled by the rule loader and, when it compiles, evaluated by the
//! engine over arbitrary documents.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use chrono::{TimeZone, Utc};
use jumpwatch_rules::{Engine, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let (Ok(flavour), Ok(expression)) = (u.int_in_range(0..=2u8), String::arbitrary(&mut u)) else {
        return;
    };
    // A JSON string literal is a TOML basic string, once DEL (which JSON leaves alone) is escaped.
    let quoted =
        serde_json::Value::from(expression.as_str()).to_string().replace('\u{7f}', "\\u007F");
    let head = match flavour {
        0 => "kind = \"user\"",
        1 => "kind = \"user\"\ntype = \"change\"",
        _ => "type = \"event\"",
    };
    let pack = format!(
        "[[rules]]\nid = \"fuzz\"\ntitle = \"t\"\nseverity = \"low\"\n{head}\nfails = {quoted}\nmessage = \"m\"\nrationale = \"r\"\nremediation = \"x\"\nparams = {{ n = 3, s = \"a\", l = [1, 2] }}\n"
    );
    let rules = match jumpwatch_rules::pack::load_pack("fuzz.toml", &pack) {
        Ok(rules) => rules,
        Err(error) => {
            assert!(error.message.starts_with("fuzz"), "{error}");
            return;
        }
    };
    let mut engine = Engine::new();
    if engine.add_rules(rules).is_err() {
        return;
    }
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).single().unwrap_or_default();
    let docs = [
        jumpwatch_fuzz::json(&mut u, 4).unwrap_or_default(),
        jumpwatch_fuzz::json(&mut u, 4).unwrap_or_default(),
    ];
    for rule in engine.cel_rules() {
        let mut input = Input::doc(docs[0].clone()).rel(docs[1].clone());
        if flavour == 1 {
            input = input.before(docs[1].clone());
        }
        let _verdict = engine.check(rule, &input, now);
    }
});
