//! Rampart's upstream HTTP/1 response parser (head and framing) and the body
//! decoder behind it on arbitrary bytes fed in pieces of every size: it never
//! panics, never yields more body bytes than it was given, and the piece size
//! never changes the body or whether the response was whole; and parsing the
//! head into header lines (passed through to the client) and into a map (for
//! response stages) always agree, and so do the first look at a head that
//! came whole and the search for its end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_gateway::h1client::response::{
    fuzz_first_look_agrees, fuzz_lines_agree, fuzz_response,
};

fuzz_target!(|data: (u8, bool, Vec<u8>)| {
    let (step, head_request, input) = data;
    let body = fuzz_response(&input, usize::from(step).max(1), head_request);
    if let Some(body) = &body {
        assert!(body.len() <= input.len());
    }
    let whole = fuzz_response(&input, input.len().max(1), head_request);
    assert_eq!(body, whole, "piece size changed the outcome");
    assert!(
        fuzz_lines_agree(&input, head_request),
        "lines and map disagree"
    );
    assert_ne!(
        fuzz_first_look_agrees(&input, head_request),
        Some(false),
        "first look and search disagree"
    );
});
