//! Fuzzes the API key parser: never panics, and whatever it accepts has the exact
//! key length and a prefix of the lookup alphabet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_authn::apikey::format::{self, KEY_LEN, PREFIX_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(parsed) = format::parse(text) {
            assert_eq!(text.len(), KEY_LEN);
            assert_eq!(parsed.prefix.len(), PREFIX_LEN);
            assert!(parsed.prefix.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
        }
    }
});
