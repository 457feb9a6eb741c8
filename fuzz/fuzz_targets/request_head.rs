//! Request-head processing on arbitrary input: path normalisation is idempotent,
//! its output has no dot segments and starts with `/`; request ids and client IPs
//! derived from arbitrary headers are well-formed; and a request head's fields
//! reach the upstream the same written as lines and through a map; and a head
//! taken at the first look is the head the search for its blank line finds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_gateway::h1client::fuzz_request_lines_agree;
use rampart_gateway::h1server::fuzz_head_reads_agree;
use rampart_gateway::headers::{client_ip, request_id};
use rampart_gateway::normalize::normalize_path;

fuzz_target!(|data: &[u8]| {
    assert!(fuzz_head_reads_agree(data), "first look and search disagree");
    let text = String::from_utf8_lossy(data);
    if let Ok(path) = normalize_path(&text) {
        assert!(path.starts_with('/'));
        assert_eq!(normalize_path(&path).as_deref(), Ok(path.as_str()), "not idempotent");
        assert!(!path.split('/').any(|segment| segment == ".." || segment == "."));
    }
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_bytes(data) {
        headers.insert("x-request-id", value.clone());
        headers.insert("x-forwarded-for", value);
    }
    let id = request_id(&headers);
    assert!((1..=128).contains(&id.len()));
    let peer: std::net::IpAddr = [10, 0, 0, 1].into();
    let trusted = ["10.0.0.0/8".parse().unwrap()];
    let _ = client_ip(peer, &headers, &trusted);
    // The first byte picks the gateway's settings; the rest is the head's
    // fields, between a fixed request line and the blank line.
    if let Some((&flags, fields)) = data.split_first() {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        head.extend_from_slice(fields);
        head.extend_from_slice(b"\r\n\r\n");
        assert!(
            fuzz_request_lines_agree(&head, flags),
            "lines and map disagree"
        );
    }
});
