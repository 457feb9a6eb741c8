//! Fuzzes credential reading (Authorization header, API key header and query
//! parameter): never panics; a bearer token it returns is non-empty visible ASCII;
//! removing the key parameter never leaves it in the query.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use rampart_authn::apikey::ApiKeyLocation;
use rampart_authn::credentials::{presented, remove_query_param};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let (auth, key, query) = (parts.next(), parts.next(), parts.next());
    let mut headers = HeaderMap::new();
    for (name, value) in [("authorization", auth), ("x-api-key", key)] {
        if let Some(Ok(value)) = value.map(HeaderValue::from_bytes) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    let query = query.and_then(|q| std::str::from_utf8(q).ok());
    let location = ApiKeyLocation {
        header: HeaderName::from_static("x-api-key"),
        query_param: Some("api_key".into()),
    };
    if let Ok(found) = presented(&headers, query, Some(&location)) {
        if let Some(token) = found.bearer {
            assert!(!token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()));
        }
    }
    if let Some(query) = query {
        if let Some(rest) = remove_query_param(query, "api_key") {
            // Parameters end at `&` or `;` (upstreams split on either).
            assert!(rest
                .split(['&', ';'])
                .all(|pair| pair.split('=').next() != Some("api_key")));
        }
    }
});
