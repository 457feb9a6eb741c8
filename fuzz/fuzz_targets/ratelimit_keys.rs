//! Client-chosen key material (header and claim values, usernames) never panics
//! the key builder and never yields a key longer than the bound, whatever bytes it
//! holds.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use rampart_core::Identity;
use rampart_ratelimit::KeyKind;
use rampart_ratelimit::key::{Facts, MAX_IDENTITY_VALUE_LEN, MAX_KEY_VALUE_LEN};

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(data) {
        headers.insert(HeaderName::from_static("x-tenant"), v);
    }
    let text = String::from_utf8_lossy(data).into_owned();
    let mut id = Identity {
        consumer: text.clone(),
        credential_id: Some(text.clone()),
        ..Identity::default()
    };
    id.claims.insert("tenant".into(), text.clone().into());
    let facts = Facts {
        client_ip: "192.0.2.1".parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
        route: Some(&text),
        path: &text,
        identity: Some(&id),
        headers: &headers,
    };
    let kinds = [
        ("header:x-tenant", MAX_KEY_VALUE_LEN),
        ("claim:tenant", MAX_KEY_VALUE_LEN),
        ("route", MAX_KEY_VALUE_LEN),
        ("consumer", MAX_IDENTITY_VALUE_LEN),
        ("application", MAX_IDENTITY_VALUE_LEN),
        ("api_key", MAX_IDENTITY_VALUE_LEN),
    ];
    for (kind, max) in kinds {
        let Some(kind) = KeyKind::parse(kind) else { continue };
        let mut out = String::new();
        facts.write_value(&kind, &mut out);
        assert!(out.len() <= max, "{kind:?} gave {} bytes", out.len());
    }
    // Anything parses or is refused; nothing panics.
    let _ = KeyKind::parse(&text);
    let _ = rampart_ratelimit::config::parse_duration_us(&text);
    let _ = rampart_ratelimit::calendar::parse_offset(&text);
    let _ = rampart_ratelimit::calendar::Zone::parse(&text);
});
