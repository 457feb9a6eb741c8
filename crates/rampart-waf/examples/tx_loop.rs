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

use std::sync::Arc;

use rampart_waf::{Ruleset, WafConfig};

#[path = "support/bench_requests.rs"]
mod bench_requests;
use bench_requests::{Kind, cpu_ns, json_1k, transaction};

/// The gateway's allocator, so the counts are those of production
/// (`cpu_per_tx` keeps the system allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One transaction of kind `mode`; whether it was blocked.
#[inline(never)]
fn one_tx(rs: &Arc<Ruleset>, mode: &str, body: &str) -> bool {
    let kind = match mode {
        "post" => Kind::Post,
        "sqli" => Kind::Sqli,
        _ => Kind::Get,
    };
    let tx = transaction(rs, kind, body);
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
    let body = json_1k();
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
