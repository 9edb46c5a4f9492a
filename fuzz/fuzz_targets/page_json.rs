//! A page of any kind from arbitrary JSON (built with the catalog's field names), in the kind's
//! envelope or a wrong one. Every item goes through `Resource::from_doc` and the kind's
//! normalizer; an array of items decoded and encoded again gives the same items.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use http::HeaderMap;
use jumpwatch_model::catalog::Envelope;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(kind) = u8::arbitrary(&mut u) else { return };
    let kind = jumpwatch_fuzz::kind_of(kind);
    let Ok(count) = u.int_in_range(0..=5u8) else { return };
    let mut items = Vec::new();
    for _ in 0..count {
        let Ok(item) = jumpwatch_fuzz::json(&mut u, 4) else { return };
        items.push(item);
    }
    let total = match u.int_in_range(0..=3u8) {
        Ok(0) => Value::from(items.len()),
        Ok(1) => Value::from(items.len().to_string()),
        Ok(2) => jumpwatch_fuzz::json(&mut u, 1).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    let wrap = u.int_in_range(0..=3u8).unwrap_or(0);
    let body = match (wrap, kind.meta().envelope) {
        (0, Envelope::V1) => json!({"totalCount": total, "results": items}),
        (0, Envelope::Wrapper(key)) => json!({"totalCount": total, key: items}),
        (0, _) => Value::Array(items.clone()),
        (1, _) => json!({"results": items, "totalCount": total}),
        (2, _) => json!({"records": items}),
        _ => jumpwatch_fuzz::json(&mut u, 4).unwrap_or(Value::Null),
    };
    let Ok(text) = serde_json::to_vec(&body) else { return };
    jumpwatch_fuzz::check_page(kind, &HeaderMap::new(), &text);
    // The decoded items are the items sent.
    if wrap == 0 {
        match jumpwatch_api::page::decode_page(kind, &HeaderMap::new(), &text) {
            Ok(page) => assert_eq!(page.items, items),
            Err(error) => panic!("{kind}: its own envelope did not decode: {error}"),
        }
    }
});
