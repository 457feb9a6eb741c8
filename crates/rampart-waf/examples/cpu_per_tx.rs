//! CPU time (not wall time: the machine may be shared) per transaction with
//! Debian's CRS at paranoia level 1, for the three benchmark requests.
//! Linux only (reads /proc/thread-self/schedstat).
//!
//! `cargo run --release -p rampart-waf --example cpu_per_tx`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rampart_waf::WafConfig;

#[path = "support/bench_requests.rs"]
mod bench_requests;
use bench_requests::{Kind, cpu_ns, json_1k, transaction};

fn main() {
    let config: WafConfig = serde_json::from_value(serde_json::json!({
        "rules": ["/etc/modsecurity/crs/crs-setup.conf", "/usr/share/modsecurity-crs/rules/*.conf"],
        "paranoia_level": 1,
    }))
    .unwrap();
    let rs = config.build().unwrap().ruleset;
    let body = json_1k();
    println!("body {} bytes", body.len());
    let cases = [
        ("GET with bearer token", Kind::Get),
        ("POST 1 KB JSON", Kind::Post),
        ("GET SQLi (blocked)", Kind::Sqli),
    ];
    for (name, kind) in cases {
        let blocked = || transaction(&rs, kind, &body).interruption().is_some();
        for _ in 0..200 {
            blocked();
        }
        let n = 2000;
        let start = cpu_ns();
        for _ in 0..n {
            std::hint::black_box(blocked());
        }
        let per = (cpu_ns() - start) as f64 / f64::from(n) / 1000.0;
        println!(
            "{name}: {per:.1} µs CPU per transaction (blocked: {})",
            blocked()
        );
    }
}
