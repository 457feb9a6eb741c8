//! Fuzzes query-string and cookie decoding and scalar coercion.
//! Invariants: no panic; the pair count stays within the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_openapi::params::{MAX_QUERY_PAIRS, Scalar, coerce, parse_cookies, parse_query, percent_decode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(pairs) = parse_query(text) {
        assert!(pairs.len() <= MAX_QUERY_PAIRS);
        for (_, v) in &pairs {
            for s in [Scalar::String, Scalar::Integer, Scalar::Number, Scalar::Boolean] {
                let _ = coerce(v, s);
            }
        }
    }
    if let Ok(cookies) = parse_cookies([text]) {
        assert!(cookies.len() <= MAX_QUERY_PAIRS);
    }
    let _ = percent_decode(text);
});
