#![no_main]
//! `POST /revocations` bodies of the admin API: no panics; what is accepted is
//! a bounded, printable credential id.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rampart_adapters::fuzzing::admin_body(data);
});
