//! The multipart body processor: never panics; parts never claim more bytes
//! than the body has. The first line of the input is the Content-Type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_waf::body::multipart;

fuzz_target!(|data: &[u8]| {
    let (ct, body) = match data.iter().position(|&c| c == b'\n') {
        Some(p) => (&data[..p], &data[p + 1..]),
        None => (&b"multipart/form-data; boundary=x"[..], data),
    };
    let m = multipart::parse(body, ct);
    let files: usize = m.files.iter().map(|f| f.size).sum();
    let args: usize = m.args.iter().map(|(_, v)| v.len()).sum();
    assert!(files + args <= body.len());
});
