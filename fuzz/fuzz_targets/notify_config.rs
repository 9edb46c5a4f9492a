//! The `[notify]` section (`jumpwatch_notify::NotifyConfig::from_raw`), read from TOML as the
//! facade reads it. A refused section names the key and, when it has one, a place inside the
//! text.
#![no_main]

use chrono::{TimeZone, Utc};
use jumpwatch_notify::{NotifyConfig, RawNotify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(raw) = toml::from_str::<RawNotify>(text) else { return };
    let expand = |text: &str| -> Result<String, String> {
        if text.contains("${UNSET") {
            Err("UNSET is not set".into())
        } else {
            Ok(text.replace("${", ""))
        }
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).single().unwrap_or_default();
    if let Err(error) = NotifyConfig::from_raw(raw, &expand, now) {
        assert!(error.key.starts_with("notify"), "{error:?}");
        assert!(!error.message.is_empty(), "{error:?}");
        if let Some(span) = &error.span {
            assert!(span.start <= span.end && span.end <= text.len(), "{error:?}");
        }
    }
});
