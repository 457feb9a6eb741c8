//! Fuzzes the request-body pre-scan (limits, duplicate keys) against serde_json.
//! Invariants: no panic; whatever the pre-scan accepts, serde_json parses too (no
//! parser differential), except numbers beyond f64 range, which serde_json refuses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_openapi::json::{JsonLimits, ScanError, prescan};

fuzz_target!(|data: &[u8]| {
    let limits = JsonLimits {
        max_depth: 16,
        max_array_items: 64,
        max_string_bytes: 256,
        max_object_keys: 32,
    };
    match prescan(data, &limits) {
        Ok(()) => {
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(data) {
                assert!(e.to_string().contains("out of range"), "pre-scan accepted what serde_json refuses: {e}");
            }
        }
        Err(ScanError::Syntax { offset }) => assert!(offset <= data.len()),
        Err(_) => {}
    }
});
