//! Pre-authentication limits through the stage: per IP, per route, global, and
//! several limits at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use rampart_core::Verdict;
use rampart_ratelimit::PreAuthRateLimitStage;
use serde_json::json;

fn ip_limit(rate: u64, burst: u64) -> serde_json::Value {
    json!({ "pre_auth": [
        { "name": "per-ip", "key": "client_ip", "rate": rate, "per": "1s", "burst": burst }
    ]})
}

#[test]
fn burst_passes_then_429_with_headers_and_problem() {
    let (limiter, _clock) = limiter(ip_limit(1, 3));
    let stage = PreAuthRateLimitStage::new(limiter);
    for _ in 0..3 {
        let mut cx = request("203.0.113.7", "GET /items");
        assert_eq!(run(&stage, &mut cx), Verdict::Continue);
    }
    let mut cx = request("203.0.113.7", "GET /items");
    let problem = refused(run(&stage, &mut cx));
    assert_eq!(problem.kind.slug, "rate-limited");
    assert_eq!(problem.kind.status, 429);
    assert_eq!(header(&problem, "retry-after"), Some("1"));
    assert_eq!(
        header(&problem, "ratelimit-policy"),
        Some("\"per-ip\";q=3;w=3")
    );
    assert_eq!(header(&problem, "ratelimit"), Some("\"per-ip\";r=0;t=3"));
    let body: serde_json::Value = serde_json::from_slice(&problem.to_json("req-1")).unwrap();
    assert_eq!(body["type"], "urn:rampart:problem:rate-limited");
    assert_eq!(body["policy"], "per-ip");
    assert!(
        !String::from_utf8(problem.to_json("r"))
            .unwrap()
            .contains("203.0.113.7"),
        "the client's address is not echoed"
    );
}

#[test]
fn other_ips_pass_and_the_limit_refills_with_time() {
    let (limiter, clock) = limiter(ip_limit(2, 1));
    let stage = PreAuthRateLimitStage::new(limiter);
    assert_eq!(
        run(&stage, &mut request("203.0.113.7", "r")),
        Verdict::Continue
    );
    refused(run(&stage, &mut request("203.0.113.7", "r")));
    assert_eq!(
        run(&stage, &mut request("198.51.100.1", "r")),
        Verdict::Continue
    );
    assert_eq!(
        run(&stage, &mut request("2001:db8::1", "r")),
        Verdict::Continue
    );
    clock.advance(Duration::from_millis(499));
    refused(run(&stage, &mut request("203.0.113.7", "r")));
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        run(&stage, &mut request("203.0.113.7", "r")),
        Verdict::Continue
    );
}

#[test]
fn hammering_never_exceeds_burst_plus_rate() {
    let (limiter, clock) = limiter(ip_limit(10, 5));
    let stage = PreAuthRateLimitStage::new(limiter);
    let mut accepted = 0;
    // 10 s at one request per millisecond.
    for _ in 0..10_000 {
        if run(&stage, &mut request("203.0.113.7", "r")) == Verdict::Continue {
            accepted += 1;
        }
        clock.advance(Duration::from_millis(1));
    }
    assert!(accepted <= 5 + 100, "accepted {accepted}");
    assert!(accepted >= 100, "legitimate rate starved: {accepted}");
}

#[test]
fn a_rate_finer_than_whole_microseconds_is_never_exceeded() {
    // 600 per 1ms is 1.67 µs per request; rounding down to 1 µs let 1000 through.
    let (limiter, clock) = limiter(json!({ "pre_auth": [
        { "name": "fine", "key": "global", "rate": 600, "per": "1ms", "burst": 1 }
    ]}));
    let stage = PreAuthRateLimitStage::new(limiter);
    let mut accepted = 0;
    for _ in 0..1000 {
        if run(&stage, &mut request("203.0.113.7", "r")) == Verdict::Continue {
            accepted += 1;
        }
        clock.advance(Duration::from_micros(1));
    }
    assert!(accepted <= 600, "accepted {accepted} in 1 ms");
    assert!(accepted >= 500, "enforced far below the rate: {accepted}");
}

#[test]
fn advertised_windows_never_promise_more_than_is_enforced() {
    let advertised = |rate: u64, per: &str| {
        let (limiter, _clock) = limiter(json!({ "pre_auth": [
            { "name": "p", "key": "global", "rate": rate, "per": per }
        ]}));
        let stage = PreAuthRateLimitStage::new(limiter);
        let mut cx = request("203.0.113.7", "r");
        assert_eq!(run(&stage, &mut cx), Verdict::Continue);
        let mut response = ok_response();
        respond(&stage, &mut cx, &mut response);
        response.headers["ratelimit-policy"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    // 600000 per 1s is enforced as 500000/s (2 µs each): a 1.2 s window, shown as 2.
    assert_eq!(advertised(600_000, "1s"), "\"p\";q=600000;w=2");
    // 60 per 1s (16667 µs each) is still advertised as one second, not two.
    assert_eq!(advertised(60, "1s"), "\"p\";q=60;w=1");
    assert_eq!(advertised(7, "1m"), "\"p\";q=7;w=60");
    assert_eq!(advertised(100, "1m"), "\"p\";q=100;w=60");
}

#[test]
fn login_route_limit_applies_only_to_login() {
    let (limiter, _clock) = limiter(json!({ "pre_auth": [
        { "name": "login", "key": "client_ip", "rate": 1, "per": "1m", "routes": ["POST /login"] }
    ]}));
    let stage = PreAuthRateLimitStage::new(limiter);
    assert_eq!(
        run(&stage, &mut request("203.0.113.7", "POST /login")),
        Verdict::Continue
    );
    refused(run(&stage, &mut request("203.0.113.7", "POST /login")));
    for _ in 0..10 {
        assert_eq!(
            run(&stage, &mut request("203.0.113.7", "GET /items")),
            Verdict::Continue
        );
    }
}

#[test]
fn all_limits_checked_strictest_decides_refused_consumes_nothing() {
    let (limiter, clock) = limiter(json!({ "pre_auth": [
        { "name": "global", "key": "global", "rate": 100, "per": "1s", "burst": 10 },
        { "name": "per-ip", "key": "client_ip", "rate": 1, "per": "1s", "burst": 2 },
        { "name": "per-route", "key": "route", "rate": 1, "per": "10s", "burst": 5 }
    ]}));
    let stage = PreAuthRateLimitStage::new(limiter);
    let mut response = ok_response();
    let mut cx = request("203.0.113.7", "GET /a");
    assert_eq!(run(&stage, &mut cx), Verdict::Continue);
    respond(&stage, &mut cx, &mut response);
    assert_eq!(
        response.headers["ratelimit"],
        "\"global\";r=9;t=1, \"per-ip\";r=1;t=1, \"per-route\";r=4;t=10"
    );
    assert_eq!(
        response.headers["ratelimit-policy"],
        "\"global\";q=10;w=1, \"per-ip\";q=2;w=2, \"per-route\";q=5;w=50"
    );
    assert_eq!(
        run(&stage, &mut request("203.0.113.7", "GET /a")),
        Verdict::Continue
    );
    // The per-IP limit refuses; 20 refused requests must not drain global or route.
    for _ in 0..20 {
        let p = refused(run(&stage, &mut request("203.0.113.7", "GET /a")));
        assert_eq!(p.extensions["policy"], "per-ip");
        // Every checked policy is reported.
        assert_eq!(
            header(&p, "ratelimit"),
            Some("\"global\";r=8;t=1, \"per-ip\";r=0;t=2, \"per-route\";r=3;t=20")
        );
    }
    // Another client on the same route still has the route's 3 remaining units.
    let mut cx = request("198.51.100.9", "GET /a");
    assert_eq!(run(&stage, &mut cx), Verdict::Continue);
    let mut response = ok_response();
    respond(&stage, &mut cx, &mut response);
    let state = response.headers["ratelimit"].to_str().unwrap();
    assert!(state.contains("\"global\";r=7"), "{state}");
    assert!(state.contains("\"per-route\";r=2"), "{state}");
    // When two limits refuse, the one with the longest wait decides.
    clock.advance(Duration::from_secs(1));
    for ip in ["192.0.2.1", "192.0.2.2"] {
        assert_eq!(run(&stage, &mut request(ip, "GET /a")), Verdict::Continue);
    }
    let p = refused(run(&stage, &mut request("192.0.2.3", "GET /a")));
    assert_eq!(p.extensions["policy"], "per-route");
}

#[test]
fn legacy_headers_carry_the_strictest_policy() {
    let (limiter, _clock) = limiter(json!({
        "pre_auth": [
            { "name": "a", "key": "global", "rate": 10, "per": "1s" },
            { "name": "b", "key": "client_ip", "rate": 2, "per": "1s" }
        ],
        "headers": { "legacy": true, "standard": false }
    }));
    let stage = PreAuthRateLimitStage::new(limiter);
    let mut cx = request("203.0.113.7", "r");
    assert_eq!(run(&stage, &mut cx), Verdict::Continue);
    let mut response = ok_response();
    respond(&stage, &mut cx, &mut response);
    assert_eq!(response.headers["x-ratelimit-limit"], "2");
    assert_eq!(response.headers["x-ratelimit-remaining"], "1");
    assert_eq!(response.headers["x-ratelimit-reset"], "1");
    assert!(response.headers.get("ratelimit").is_none());
}

#[test]
fn header_keyed_limit_counts_requests_without_a_usable_value_per_client_ip() {
    let (limiter, _clock) = limiter(json!({ "pre_auth": [
        { "name": "tenant", "key": "header:x-tenant", "rate": 1, "per": "1m" }
    ]}));
    let stage = PreAuthRateLimitStage::new(limiter);
    let with = |ip: &str, v: Option<String>| {
        let mut cx = request(ip, "r");
        if let Some(v) = v {
            cx.headers.insert("x-tenant", v.parse().unwrap());
        }
        cx
    };
    let a = "203.0.113.7";
    assert_eq!(
        run(&stage, &mut with(a, Some("acme".into()))),
        Verdict::Continue
    );
    refused(run(&stage, &mut with(a, Some("acme".into()))));
    assert_eq!(
        run(&stage, &mut with(a, Some("globex".into()))),
        Verdict::Continue
    );
    // Absent: counted per client IP, so one client omitting the header does
    // not use up the bucket of another who also omits it.
    assert_eq!(run(&stage, &mut with(a, None)), Verdict::Continue);
    refused(run(&stage, &mut with(a, None)));
    assert_eq!(
        run(&stage, &mut with("198.51.100.9", None)),
        Verdict::Continue
    );
    // An oversized value is no way out of the client's bucket either.
    refused(run(&stage, &mut with(a, Some("a".repeat(200)))));
    // Nor is a value spelling another client's fallback bucket a way in.
    assert_eq!(
        run(&stage, &mut with(a, Some("#ip:198.51.100.9".into()))),
        Verdict::Continue
    );
}
