//! Runs N transactions of one of the `cpu_per_tx` requests (`get`, `post`,
//! `sqli`) through Debian's CRS at paranoia level 1, for profilers. Each
//! transaction is one call of the non-inlined `tx_loop::one_tx`, so
//! callgrind counts exactly its instructions, whatever the machine's load:
//!
//! ```text
//! cargo build --release -p rampart-waf --example tx_loop
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='tx_loop::one_tx*' \
//!     target/release/examples/tx_loop get 21
//! perf record -e cpu-clock -g target/release/examples/tx_loop post 5000
//! ```
//!
//! `TX_LOOP_NO_FOLD=1` loads the rules without load-time folding.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rampart_waf::{Ruleset, Transaction, WafConfig};

/// The gateway's allocator, so the counts are those of production
/// (`cpu_per_tx` keeps the system allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU time of this thread (Linux; 0 elsewhere).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One transaction of kind `mode`; whether it was blocked.
#[inline(never)]
fn one_tx(rs: &Arc<Ruleset>, mode: &str, body: &str) -> bool {
    let mut tx = Transaction::new(rs.clone());
    tx.set_connection(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 40000, "bench");
    if mode == "post" {
        tx.set_request_line("POST", "/api/v1/orders", "HTTP/1.1");
    } else if mode == "sqli" {
        tx.set_request_line(
            "GET",
            "/api/v1/orders?id=1%27%20OR%20%271%27=%271",
            "HTTP/1.1",
        );
    } else {
        tx.set_request_line(
            "GET",
            "/api/v1/orders?page=2&limit=50&sort=created_at",
            "HTTP/1.1",
        );
    }
    for (n, v) in [
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
    ] {
        tx.add_request_header(n, v.as_bytes());
    }
    if mode == "post" {
        tx.add_request_header("Content-Type", b"application/json");
        tx.add_request_header("Content-Length", body.len().to_string().as_bytes());
    }
    tx.process_request_headers();
    if mode == "post" {
        tx.append_request_body(body.as_bytes());
    }
    tx.process_request_body();
    tx.process_logging();
    if std::env::var_os("TX_LOOP_DUMP").is_some() {
        for m in tx.matches() {
            eprintln!("match {} phase {} {}", m.id, m.phase, m.matched_var_name);
        }
    }
    tx.interruption().is_some()
}

fn main() {
    let config: WafConfig = serde_json::from_value(serde_json::json!({
        "rules": ["/etc/modsecurity/crs/crs-setup.conf", "/usr/share/modsecurity-crs/rules/*.conf"],
        "paranoia_level": 1,
    }))
    .unwrap();
    let mut builder = config
        .load(rampart_waf::services::Services::default())
        .unwrap();
    // TX_LOOP_NO_FOLD=1: without load-time folding, to compare.
    builder.settings_mut().fold = std::env::var_os("TX_LOOP_NO_FOLD").is_none();
    let rs = Arc::new(builder.build().unwrap());
    let mut items = Vec::new();
    let mut i = 0;
    while serde_json::to_string(&items).unwrap().len() < 900 {
        items.push(serde_json::json!({"sku": format!("SKU-{i:05}"), "qty": i % 7 + 1, "note": "gift wrap please"}));
        i += 1;
    }
    let body = serde_json::to_string(&serde_json::json!({"customer": {"id": 12345, "email": "alice@example.com"}, "items": items})).unwrap();
    let mode = std::env::args().nth(1).unwrap_or_default();
    let iters: usize = std::env::args().nth(2).map_or(5000, |s| s.parse().unwrap());
    let mut blocked = 0;
    let start = cpu_ns();
    for _ in 0..iters {
        blocked += usize::from(one_tx(&rs, &mode, &body));
    }
    let per = (cpu_ns().saturating_sub(start)) as f64 / iters.max(1) as f64 / 1000.0;
    eprintln!("{mode}: {iters} tx, {blocked} blocked, {per:.1} µs CPU per transaction");
}
