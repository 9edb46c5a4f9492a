//! The TOML configuration of `jumpwatch watch` (`jumpwatch::config::Config::parse`), with its `[notify]`,
//! `[rules]` and suppressions. A refused file gets an error naming the file and a line of it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Variables whose names start with `J` are set; the others are not.
    let env = |name: &str| name.starts_with('J').then(|| format!("value-of-{name}"));
    if let Err(error) = jumpwatch::config::Config::parse("fuzz.toml", text, &env) {
        let lines = text.matches('\n').count() + 1;
        assert!(error.line <= lines, "line {} of {lines}: {error}", error.line);
        assert_eq!(error.file, "fuzz.toml");
        assert!(!error.message.is_empty(), "{error:?}");
        assert!(error.to_string().starts_with("fuzz.toml:"));
    }
});
