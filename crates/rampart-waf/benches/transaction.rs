//! One transaction through Debian's CRS 3.3 (paranoia level 1, blocking,
//! request body access on): a GET with a bearer token and typical headers, a
//! POST with a 1 KB JSON body, and a blocked SQL injection.
//!
//! `cargo bench -p rampart-waf --bench transaction`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_waf::{Ruleset, Transaction, WafConfig};

const SETUP: &str = "/etc/modsecurity/crs/crs-setup.conf";

fn crs() -> Option<Arc<Ruleset>> {
    if !Path::new(SETUP).is_file() {
        eprintln!("skipping: install Debian's modsecurity-crs");
        return None;
    }
    let config: WafConfig = serde_json::from_value(serde_json::json!({
        "rules": [SETUP, "/usr/share/modsecurity-crs/rules/*.conf"],
        "paranoia_level": 1,
        "request_body_limit": 131072,
    }))
    .unwrap();
    Some(config.build().unwrap().ruleset)
}

const HEADERS: &[(&str, &str)] = &[
    ("Host", "api.example.com"),
    (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    ),
    ("Accept", "application/json, text/plain, */*"),
    ("Accept-Language", "en-US,en;q=0.5"),
    ("Accept-Encoding", "gzip, deflate, br"),
    (
        "Authorization",
        "Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1c2VyLTEyMyIsInNjb3BlIjoib3JkZXJzOnJlYWQiLCJleHAiOjE4OTM0NTYwMDB9.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2lnbmF0dXJl",
    ),
    ("X-Request-Id", "5b0c6f0e-3f7a-4c7e-9d0e-1a2b3c4d5e6f"),
    ("Connection", "keep-alive"),
];

fn run(
    rs: &Arc<Ruleset>,
    method: &str,
    uri: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Transaction {
    let mut tx = Transaction::new(rs.clone());
    tx.set_connection(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 40000, "bench");
    tx.set_request_line(method, uri, "HTTP/1.1");
    for (n, v) in HEADERS.iter().chain(extra) {
        tx.add_request_header(n, v.as_bytes());
    }
    tx.process_request_headers();
    tx.append_request_body(body);
    tx.process_request_body();
    tx.process_logging();
    tx
}

fn json_1k() -> String {
    let mut items = Vec::new();
    let mut i = 0;
    while serde_json::to_string(&items).unwrap().len() < 900 {
        items.push(serde_json::json!({"sku": format!("SKU-{i:05}"), "qty": i % 7 + 1, "note": "gift wrap please"}));
        i += 1;
    }
    serde_json::to_string(&serde_json::json!({"customer": {"id": 12345, "email": "alice@example.com"}, "items": items})).unwrap()
}

fn bench(c: &mut Criterion) {
    let Some(rs) = crs() else { return };
    let body = json_1k();
    let len = body.len().to_string();
    assert!(
        run(
            &rs,
            "GET",
            "/api/v1/orders?page=2&limit=50&sort=created_at",
            &[],
            b""
        )
        .interruption()
        .is_none()
    );
    let post_headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", len.as_str()),
    ];
    let post = run(
        &rs,
        "POST",
        "/api/v1/orders",
        &post_headers,
        body.as_bytes(),
    );
    assert!(post.interruption().is_none(), "{:?}", post.matches());
    assert!(
        run(
            &rs,
            "GET",
            "/api/v1/orders?id=1%27%20OR%20%271%27=%271",
            &[],
            b""
        )
        .interruption()
        .is_some()
    );

    c.bench_function("crs_get_bearer", |b| {
        b.iter(|| {
            black_box(run(
                &rs,
                "GET",
                "/api/v1/orders?page=2&limit=50&sort=created_at",
                &[],
                b"",
            ))
        })
    });
    c.bench_function("crs_post_json_1k", |b| {
        b.iter(|| {
            black_box(run(
                &rs,
                "POST",
                "/api/v1/orders",
                &post_headers,
                body.as_bytes(),
            ))
        })
    });
    c.bench_function("crs_get_sqli_blocked", |b| {
        b.iter(|| {
            black_box(run(
                &rs,
                "GET",
                "/api/v1/orders?id=1%27%20OR%20%271%27=%271",
                &[],
                b"",
            ))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
