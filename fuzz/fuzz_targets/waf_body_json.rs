//! The JSON body processor: never panics, names are `json`-prefixed, limits hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_waf::body::json;

fuzz_target!(|data: &[u8]| {
    if let Ok(pairs) = json::parse(data, 32, 256) {
        assert!(pairs.len() <= 256);
        for (name, _) in &pairs {
            assert!(name.starts_with(b"json"));
        }
    }
});
