//! Rampart's HTTP/1 request body decoder on arbitrary bytes fed in pieces of
//! every size: it never panics, never yields more bytes than it was given, and
//! the piece size never changes the body or the verdict.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_gateway::h1server::decode::fuzz_decode;

fuzz_target!(|data: (u8, bool, Vec<u8>)| {
    let (step, chunked, input) = data;
    let (body, outcome) = fuzz_decode(&input, usize::from(step).max(1), chunked);
    assert!(body.len() <= input.len());
    let (whole_body, whole_outcome) = fuzz_decode(&input, input.len().max(1), chunked);
    if let (Ok(true), Ok(true)) = (&outcome, &whole_outcome) {
        assert_eq!(body, whole_body, "piece size changed the body");
    }
    assert_eq!(outcome.is_err(), whole_outcome.is_err(), "piece size changed the verdict");
});
