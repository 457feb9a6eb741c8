//! The HTTP/1 guard on arbitrary bytes split at an arbitrary point: it never
//! panics, what it passes on is never more than the input re-encoded, and a split
//! never changes the verdict on complete input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_gateway::h1guard::fuzz_feed;

fuzz_target!(|data: (u16, Vec<u8>)| {
    let (split, input) = data;
    let (passed, refused) = fuzz_feed(&input, usize::from(split));
    assert!(passed.len() <= input.len() * 3 + 3);
    let (whole, whole_refused) = fuzz_feed(&input, input.len());
    assert_eq!(refused, whole_refused, "split changed the verdict");
    if !refused {
        assert_eq!(passed, whole, "split changed the bytes passed on");
    }
});
