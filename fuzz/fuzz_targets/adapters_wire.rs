#![no_main]
//! Revocation messages and sorted-set members read back from Redis, and the
//! key CLI's time arguments: no panics, and what parses re-encodes to itself.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rampart_adapters::fuzzing::wire_and_time(data);
});
