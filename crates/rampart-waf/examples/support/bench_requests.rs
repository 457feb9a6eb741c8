//! The three benchmark requests (a GET with a bearer token and typical
//! headers, a POST with a 1 KB JSON body, a GET with SQL injection), shared by
//! `examples/cpu_per_tx.rs`, `examples/tx_loop.rs` and `benches/transaction.rs`
//! so that their figures measure the same transactions.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rampart_waf::{Ruleset, Transaction};

/// Which benchmark request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// GET with a bearer token and typical browser headers.
    Get,
    /// POST of [`json_1k`].
    Post,
    /// GET with `1' OR '1'='1` in the query (blocked by the CRS).
    Sqli,
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

/// The POST body: an order of about 1 KB of JSON.
pub fn json_1k() -> String {
    let mut items = Vec::new();
    let mut i = 0;
    while serde_json::to_string(&items).unwrap().len() < 900 {
        items.push(serde_json::json!({"sku": format!("SKU-{i:05}"), "qty": i % 7 + 1, "note": "gift wrap please"}));
        i += 1;
    }
    serde_json::to_string(&serde_json::json!({"customer": {"id": 12345, "email": "alice@example.com"}, "items": items})).unwrap()
}

/// One transaction of `kind` through phases 1, 2 and 5 (`body`: the POST's).
pub fn transaction(rs: &Arc<Ruleset>, kind: Kind, body: &str) -> Transaction {
    let mut tx = Transaction::new(rs.clone());
    tx.set_connection(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 40000, "bench");
    let (method, uri) = match kind {
        Kind::Get => ("GET", "/api/v1/orders?page=2&limit=50&sort=created_at"),
        Kind::Post => ("POST", "/api/v1/orders"),
        Kind::Sqli => ("GET", "/api/v1/orders?id=1%27%20OR%20%271%27=%271"),
    };
    tx.set_request_line(method, uri, "HTTP/1.1");
    for (n, v) in HEADERS {
        tx.add_request_header(n, v.as_bytes());
    }
    if kind == Kind::Post {
        tx.add_request_header("Content-Type", b"application/json");
        tx.add_request_header("Content-Length", body.len().to_string().as_bytes());
    }
    tx.process_request_headers();
    if kind == Kind::Post {
        tx.append_request_body(body.as_bytes());
    }
    tx.process_request_body();
    tx.process_logging();
    tx
}

/// CPU time of this thread in nanoseconds (Linux; 0 elsewhere): steadier
/// than wall time on a shared machine.
#[allow(dead_code)] // not every includer measures CPU time
pub fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
