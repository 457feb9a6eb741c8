//! CPU time (not wall time: the machine may be shared) per transaction with
//! Debian's CRS at paranoia level 1, for the three benchmark requests.
//! Linux only (reads /proc/thread-self/schedstat).
//!
//! `cargo run --release -p rampart-waf --example cpu_per_tx`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rampart_waf::{Ruleset, Transaction, WafConfig};

fn cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    s.split_whitespace().next().unwrap().parse().unwrap()
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

fn run(rs: &Arc<Ruleset>, method: &str, uri: &str, extra: &[(&str, &str)], body: &[u8]) -> bool {
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
    tx.interruption().is_some()
}

fn main() {
    let config: WafConfig = serde_json::from_value(serde_json::json!({
        "rules": ["/etc/modsecurity/crs/crs-setup.conf", "/usr/share/modsecurity-crs/rules/*.conf"],
        "paranoia_level": 1,
    }))
    .unwrap();
    let rs = config.build().unwrap().ruleset;
    let mut items = Vec::new();
    let mut i = 0;
    while serde_json::to_string(&items).unwrap().len() < 900 {
        items.push(serde_json::json!({"sku": format!("SKU-{i:05}"), "qty": i % 7 + 1, "note": "gift wrap please"}));
        i += 1;
    }
    let body = serde_json::to_string(&serde_json::json!({"customer": {"id": 12345, "email": "alice@example.com"}, "items": items})).unwrap();
    let len = body.len().to_string();
    let post_headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", len.as_str()),
    ];
    type Case<'a> = (&'static str, Box<dyn Fn() -> bool + 'a>);
    let cases: [Case<'_>; 3] = [
        (
            "GET with bearer token",
            Box::new(|| {
                run(
                    &rs,
                    "GET",
                    "/api/v1/orders?page=2&limit=50&sort=created_at",
                    &[],
                    b"",
                )
            }),
        ),
        (
            "POST 1 KB JSON",
            Box::new(|| {
                run(
                    &rs,
                    "POST",
                    "/api/v1/orders",
                    &post_headers,
                    body.as_bytes(),
                )
            }),
        ),
        (
            "GET SQLi (blocked)",
            Box::new(|| {
                run(
                    &rs,
                    "GET",
                    "/api/v1/orders?id=1%27%20OR%20%271%27=%271",
                    &[],
                    b"",
                )
            }),
        ),
    ];
    println!("body {} bytes", body.len());
    for (name, f) in &cases {
        for _ in 0..200 {
            f();
        }
        let n = 2000;
        let start = cpu_ns();
        for _ in 0..n {
            std::hint::black_box(f());
        }
        let per = (cpu_ns() - start) as f64 / f64::from(n) / 1000.0;
        println!("{name}: {per:.1} µs CPU per transaction (blocked: {})", f());
    }
}
