//! Rule files (`jumpwatch_rules::load_pack`): TOML with CEL conditions and test cases. A refused
//! file gets an error naming a line of it; a loaded one runs its own test cases in the engine.
#![no_main]

use chrono::{TimeZone, Utc};
use jumpwatch_rules::Engine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match jumpwatch_rules::pack::load_pack("fuzz.toml", text) {
        Ok(rules) => {
            let mut engine = Engine::new();
            if engine.add_rules(rules).is_ok() {
                let now = Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).single().unwrap_or_default();
                for failure in engine.test(now) {
                    assert!(!failure.rule.is_empty());
                }
            }
        }
        Err(error) => {
            let lines = text.matches('\n').count() + 1;
            assert!((1..=lines).contains(&error.line), "line {} of {lines}: {error}", error.line);
            assert!(!error.message.is_empty());
        }
    }
});
