//! The urlencoded body processor: never panics, respects its pair limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_waf::body::urlencoded;

fuzz_target!(|data: &[u8]| {
    let (pairs, truncated) = urlencoded::parse(data, b'&', 64);
    assert!(pairs.len() <= 64);
    if !truncated {
        assert!(pairs.len() <= data.split(|&c| c == b'&').count());
    }
    for (k, v) in &pairs {
        assert!(k.len() + v.len() <= data.len());
    }
});
