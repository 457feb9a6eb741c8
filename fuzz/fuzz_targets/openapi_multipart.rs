//! Fuzzes the `multipart/form-data` splitter and the login-identifier reader.
//! Invariants: no panic; at most MAX_PARTS parts; every part's name is non-empty;
//! a parsed body re-encoded with the same boundary parses to the same pairs.
#![no_main]

use http::HeaderMap;
use libfuzzer_sys::fuzz_target;
use rampart_openapi::json::JsonLimits;
use rampart_openapi::login;
use rampart_openapi::multipart::{MAX_PARTS, parse};

const CT: &str = "multipart/form-data; boundary=fuzzB";

fuzz_target!(|data: &[u8]| {
    if let Ok(pairs) = parse(CT, data) {
        assert!(pairs.len() <= MAX_PARTS);
        assert!(pairs.iter().all(|(name, _)| !name.is_empty()));
        // Values that could contain the delimiter are skipped from the round trip.
        if pairs.iter().all(|(_, v)| !v.contains("--fuzzB") && !v.contains('\u{FFFD}')) {
            let mut again = String::new();
            for (name, value) in &pairs {
                again.push_str(&format!(
                    "--fuzzB\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                ));
            }
            again.push_str("--fuzzB--");
            assert_eq!(parse(CT, again.as_bytes()).ok(), Some(pairs));
        }
    }
    for media in ["application/json", "application/x-www-form-urlencoded"] {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(media));
        if let Some(id) = login::extract(&headers, data, "/username", &JsonLimits::default()) {
            // Trimmed, never empty, and no longer than the body it came from.
            assert!(!id.0.is_empty() && id.0.len() <= data.len());
            assert_eq!(id.0.trim(), id.0);
        }
    }
});
