//! Runs N requests through [`WafStage`] exactly as the gateway does
//! (`on_request`, then `on_response` with the upstream's status and headers,
//! the parked transaction dropped with the request), with the request the
//! gateway benchmark sends (`bench/common.sh`: a 700-byte bearer token, wrk's
//! headers, `Host: 127.0.0.1:PORT`) and the benchmark origin's response. The
//! difference from `tx_loop get` is what the stage adds to the engine and
//! what the benchmark's request costs beyond `tx_loop`'s:
//!
//! ```text
//! cargo build --release -p rampart-waf --example stage_loop
//! target/release/examples/stage_loop get 20000      # the stage, phases 1-5
//! target/release/examples/stage_loop get-req 20000  # phases 1, 2 and 5 only
//! perf record -e cpu-clock --call-graph dwarf target/release/examples/stage_loop get 20000
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use rampart_core::{RequestCx, ResponseCx, Stage, Step, Verdict};
use rampart_waf::{WafConfig, WafStage};

#[path = "support/bench_requests.rs"]
#[allow(dead_code)] // only its CPU clock is used here
mod bench_requests;
use bench_requests::cpu_ns;

/// The gateway's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// bench/common.sh's token: 525 bytes of `a`, base64, cut at 700 bytes.
fn token() -> String {
    "YWFh".repeat(175)
}

fn request(token: &str, sqli: bool) -> RequestCx {
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let (path, query) = if sqli {
        (
            "/search",
            "q=1'%20OR%20'1'%3D'1&id=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        )
    } else {
        ("/api/users", "page=2")
    };
    let mut cx = RequestCx::new(
        "957e4125901151b9efc19f444e7b569a".into(),
        peer,
        Method::GET,
        path.into(),
    );
    cx.raw_target = format!("{path}?{query}");
    cx.query = Some(query.into());
    cx.host = "127.0.0.1".into();
    cx.api = "bench".into();
    let mut h = HeaderMap::new();
    h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:18484"));
    if !sqli {
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        h.insert(header::USER_AGENT, HeaderValue::from_static("bench/1.0"));
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("en"));
    }
    cx.headers = h;
    cx
}

fn response() -> ResponseCx {
    let mut h = HeaderMap::new();
    h.insert(header::SERVER, HeaderValue::from_static("nginx/1.26.3"));
    h.insert(
        header::DATE,
        HeaderValue::from_static("Sat, 28 Nov 2026 14:00:00 GMT"),
    );
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("27"));
    ResponseCx {
        status: StatusCode::OK,
        headers: h,
        body: None,
        body_truncated: false,
    }
}

fn done(step: Step<'_>) -> Verdict {
    match step {
        Step::Done(v) => v,
        Step::Wait(_) => panic!("the WAF stage decides synchronously"),
    }
}

/// One request through the stage; whether it was refused. `request_only`:
/// phases 1, 2 and 5 ([`WafStage::inspect`]), as if no rule were in phase 3
/// or 4, to price the response phases.
#[inline(never)]
fn one(stage: &WafStage, token: &str, sqli: bool, request_only: bool) -> bool {
    let mut cx = request(token, sqli);
    if request_only {
        let tx = stage.inspect(&cx);
        cx.notes.waf.matched_rules = tx.matched_rule_ids();
        std::hint::black_box(&cx.notes);
        return tx.interruption().is_some();
    }
    if let Verdict::Respond(_) = done(stage.on_request(&mut cx)) {
        return true;
    }
    let mut resp = response();
    let _ = stage.wants_response_body(&cx, &resp);
    let refused = matches!(
        done(stage.on_response(&mut cx, &mut resp)),
        Verdict::Respond(_)
    );
    std::hint::black_box(&cx.notes);
    refused
}

fn main() {
    let config: WafConfig = serde_json::from_value(serde_json::json!({
        "rules": ["/etc/modsecurity/crs/crs-setup.conf", "/usr/share/modsecurity-crs/rules/*.conf"],
        "paranoia_level": 1,
        "mode": "blocking",
    }))
    .unwrap();
    let stage = WafStage::new(&config).unwrap();
    let mode = std::env::args().nth(1).unwrap_or_default();
    let iters: usize = std::env::args()
        .nth(2)
        .map_or(20000, |s| s.parse().unwrap());
    let sqli = mode.starts_with("sqli");
    let request_only = mode.ends_with("-req");
    let token = token();
    // Warm-up (first transactions fill lazily built caches).
    for _ in 0..200 {
        one(&stage, &token, sqli, request_only);
    }
    let mut refused = 0;
    let start = cpu_ns();
    for _ in 0..iters {
        refused += usize::from(one(&stage, &token, sqli, request_only));
    }
    let per = (cpu_ns().saturating_sub(start)) as f64 / iters.max(1) as f64 / 1000.0;
    let mut cx = request(&token, sqli);
    let _ = done(stage.on_request(&mut cx));
    eprintln!(
        "{mode}: {iters} requests, {refused} refused, {per:.1} µs CPU per request; matched {:?} score {}",
        cx.notes.waf.matched_rules, cx.notes.waf.anomaly_score
    );
}
