//! A page of any kind from arbitrary bytes: the first byte picks the kind, the next one says how
//! many bytes of `x-total-count` follow, the rest is the body. Every item goes through
//! `Resource::from_doc` and the kind's normalizer.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [kind, header_len, rest @ ..] = data else { return };
    let kind = jumpwatch_fuzz::kind_of(*kind);
    let split = usize::from(*header_len % 24).min(rest.len());
    let (header, body) = rest.split_at(split);
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(header) {
        headers.insert("x-total-count", value);
    }
    jumpwatch_fuzz::check_page(kind, &headers, body);
});
