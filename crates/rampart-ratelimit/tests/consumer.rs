//! Consumer limits through the stage: plans, calendar quotas, adaptive reductions,
//! in-flight limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use rampart_core::Verdict;
use rampart_ratelimit::{ConsumerRateLimitStage, KeyKind, PreAuthRateLimitStage};
use serde_json::json;

fn plans() -> serde_json::Value {
    json!({
        "default_plan": "free",
        "plans": {
            "free": { "limits": [
                { "name": "consumer", "key": "consumer", "rate": 2, "per": "1m" }
            ]},
            "pro": { "limits": [
                { "name": "consumer", "key": "consumer", "rate": 5, "per": "1m" }
            ]}
        }
    })
}

fn allowed_in_a_row(stage: &ConsumerRateLimitStage, consumer: &str, plan: Option<&str>) -> usize {
    let mut n = 0;
    while run(
        stage,
        &mut with_identity(request("203.0.113.7", "r"), consumer, plan),
    ) == Verdict::Continue
    {
        n += 1;
        assert!(n < 1000, "no limit applied");
    }
    n
}

#[test]
fn plan_from_identity_sets_the_limit_and_unknown_plans_get_the_default() {
    let (limiter, _clock) = limiter(plans());
    let stage = ConsumerRateLimitStage::new(limiter);
    assert_eq!(allowed_in_a_row(&stage, "alice", Some("pro")), 5);
    assert_eq!(allowed_in_a_row(&stage, "bob", Some("free")), 2);
    assert_eq!(
        allowed_in_a_row(&stage, "carol", Some("platinum")),
        2,
        "unknown plan"
    );
    assert_eq!(allowed_in_a_row(&stage, "dave", None), 2, "no plan");
}

#[test]
fn plans_using_one_limit_name_never_share_its_counter() {
    // A route-keyed limit named alike in two plans: free's ten requests must
    // not use up pro's allowance (they used to share `rl:search:route:{r}`).
    let (limiter, _clock) = limiter(json!({
        "default_plan": "free",
        "plans": {
            "free": { "limits": [
                { "name": "search", "key": "route", "rate": 10, "per": "1m" }
            ]},
            "pro": { "limits": [
                { "name": "search", "key": "route", "rate": 1000, "per": "1m" }
            ]}
        }
    }));
    let stage = ConsumerRateLimitStage::new(limiter);
    let call = |consumer: &str, plan: &str| {
        run(
            &stage,
            &mut with_identity(request("203.0.113.7", "r"), consumer, Some(plan)),
        )
    };
    for _ in 0..10 {
        assert_eq!(call("bob", "free"), Verdict::Continue);
    }
    refused(call("bob", "free"));
    for _ in 0..20 {
        assert_eq!(call("alice", "pro"), Verdict::Continue);
    }
}

#[test]
fn consumers_are_counted_separately_whatever_their_ip() {
    let (limiter, _clock) = limiter(plans());
    let stage = ConsumerRateLimitStage::new(limiter);
    for ip in ["203.0.113.7", "198.51.100.1"] {
        assert_eq!(
            run(&stage, &mut with_identity(request(ip, "r"), "alice", None)),
            Verdict::Continue
        );
    }
    // Alice used her 2 from two addresses; changing address does not help her.
    refused(run(
        &stage,
        &mut with_identity(request("192.0.2.9", "r"), "alice", None),
    ));
    assert_eq!(
        run(
            &stage,
            &mut with_identity(request("203.0.113.7", "r"), "bob", None)
        ),
        Verdict::Continue
    );
}

#[test]
fn anonymous_requests_skip_consumer_limits() {
    let (limiter, _clock) = limiter(plans());
    let stage = ConsumerRateLimitStage::new(limiter);
    for _ in 0..10 {
        assert_eq!(
            run(&stage, &mut request("203.0.113.7", "r")),
            Verdict::Continue
        );
    }
}

#[test]
fn daily_quota_refuses_with_reset_time_and_resets_at_midnight_in_offset() {
    let (limiter, clock) = limiter(json!({
        "default_plan": "free",
        "quota_utc_offset": "+02:00",
        "plans": { "free": { "quotas": [ { "name": "daily", "limit": 3, "period": "day" } ] } }
    }));
    let stage = ConsumerRateLimitStage::new(limiter);
    let req = || with_identity(request("203.0.113.7", "r"), "alice", None);
    let mut cx = req();
    assert_eq!(run(&stage, &mut cx), Verdict::Continue);
    let mut response = ok_response();
    respond(&stage, &mut cx, &mut response);
    // T0 is 06:46 at +02:00: 17 h 14 min to local midnight.
    assert_eq!(response.headers["ratelimit"], "\"daily\";r=2;t=62040");
    assert_eq!(
        response.headers["ratelimit-policy"],
        "\"daily\";q=3;w=86400"
    );
    assert_eq!(run(&stage, &mut req()), Verdict::Continue);
    assert_eq!(run(&stage, &mut req()), Verdict::Continue);
    let p = refused(run(&stage, &mut req()));
    assert_eq!(p.kind.slug, "quota-exceeded");
    assert_eq!(p.kind.status, 429);
    assert_eq!(p.extensions["reset"], "2026-11-29T00:00:00+02:00");
    assert_eq!(header(&p, "retry-after"), Some("62040"));
    assert!(
        p.detail
            .as_deref()
            .unwrap()
            .contains("2026-11-29T00:00:00+02:00")
    );
    // Others are not affected.
    assert_eq!(
        run(
            &stage,
            &mut with_identity(request("203.0.113.7", "r"), "bob", None)
        ),
        Verdict::Continue
    );
    clock.advance(Duration::from_secs(62_039));
    refused(run(&stage, &mut req()));
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        run(&stage, &mut req()),
        Verdict::Continue,
        "new day, new quota"
    );
}

#[test]
fn monthly_quota_and_rate_limit_together_refusal_by_rate_does_not_spend_quota() {
    let (limiter, clock) = limiter(json!({
        "default_plan": "free",
        "plans": { "free": {
            "limits": [ { "name": "burst", "key": "consumer", "rate": 1, "per": "1s" } ],
            "quotas": [ { "name": "monthly", "limit": 3, "period": "month" } ]
        } }
    }));
    let stage = ConsumerRateLimitStage::new(limiter);
    let req = || with_identity(request("203.0.113.7", "r"), "alice", None);
    for round in 0..3 {
        assert_eq!(run(&stage, &mut req()), Verdict::Continue);
        for _ in 0..5 {
            let p = refused(run(&stage, &mut req()));
            // After the third, the quota (reset in weeks) is the stricter refusal.
            let expected = if round < 2 {
                "rate-limited"
            } else {
                "quota-exceeded"
            };
            assert_eq!(p.kind.slug, expected);
        }
        clock.advance(Duration::from_secs(1));
    }
    // Exactly 3 served: the 15 refused ones did not eat the monthly quota.
    let p = refused(run(&stage, &mut req()));
    assert_eq!(p.kind.slug, "quota-exceeded");
    assert_eq!(p.extensions["reset"], "2026-12-01T00:00:00Z");
}

#[test]
fn adaptive_reduction_lowers_one_consumer_for_a_while() {
    let (limiter, clock) = limiter(json!({
        "default_plan": "free",
        "plans": { "free": { "limits": [
            { "name": "c", "key": "consumer", "rate": 8, "per": "1s" }
        ]}}
    }));
    limiter
        .adaptive()
        .lower(&KeyKind::Consumer, "mallory", 4, Duration::from_secs(60))
        .unwrap();
    let stage = ConsumerRateLimitStage::new(limiter);
    assert_eq!(allowed_in_a_row(&stage, "mallory", None), 2);
    assert_eq!(allowed_in_a_row(&stage, "alice", None), 8);
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        allowed_in_a_row(&stage, "mallory", None),
        8,
        "override expired"
    );
}

#[test]
fn in_flight_limit_refuses_beyond_max_and_releases_when_requests_end() {
    let (limiter, _clock) = limiter(json!({
        "concurrency": [ { "name": "slow-upstream", "key": "consumer", "max_in_flight": 2 } ]
    }));
    let stage = ConsumerRateLimitStage::new(limiter.clone());
    let req = || with_identity(request("203.0.113.7", "r"), "alice", None);
    let mut a = req();
    let mut b = req();
    assert_eq!(run(&stage, &mut a), Verdict::Continue);
    assert_eq!(run(&stage, &mut b), Verdict::Continue);
    let p = refused(run(&stage, &mut req()));
    assert_eq!(p.kind.slug, "concurrency-limited");
    let mut other = with_identity(request("203.0.113.7", "r"), "bob", None);
    assert_eq!(run(&stage, &mut other), Verdict::Continue);
    drop(a);
    let mut c = req();
    assert_eq!(run(&stage, &mut c), Verdict::Continue);
    drop((b, c, other));
    assert_eq!(limiter.in_flight().tracked_keys(), 0);
}

#[test]
fn a_request_refused_for_concurrency_spends_no_limit_or_quota() {
    let (limiter, _clock) = limiter(json!({
        "default_plan": "free",
        "plans": { "free": {
            "limits": [ { "name": "burst", "key": "consumer", "rate": 3, "per": "1h" } ],
            "quotas": [ { "name": "daily", "limit": 3, "period": "day" } ]
        } },
        "concurrency": [ { "name": "one", "key": "consumer", "max_in_flight": 1 } ]
    }));
    let stage = ConsumerRateLimitStage::new(limiter.clone());
    let req = || with_identity(request("203.0.113.7", "r"), "alice", None);
    let mut held = req();
    assert_eq!(run(&stage, &mut held), Verdict::Continue);
    for _ in 0..10 {
        let p = refused(run(&stage, &mut req()));
        assert_eq!(p.kind.slug, "concurrency-limited");
    }
    drop(held);
    // Two more pass: the ten refused ones were not charged (3 in all).
    for _ in 0..2 {
        let mut cx = req();
        assert_eq!(run(&stage, &mut cx), Verdict::Continue);
    }
    // Both are used up at 3; the quota (reset at midnight) is the stricter.
    let p = refused(run(&stage, &mut req()));
    assert_eq!(p.kind.slug, "quota-exceeded");
    assert_eq!(
        header(&p, "ratelimit"),
        Some("\"burst\";r=0;t=3600, \"daily\";r=0;t=69240")
    );
    // That refusal gave its permit back.
    assert_eq!(limiter.in_flight().tracked_keys(), 0);
}

#[test]
fn pre_auth_and_consumer_headers_are_both_reported() {
    let mut config = plans();
    config["pre_auth"] = json!([{ "name": "per-ip", "key": "client_ip", "rate": 10, "per": "1s" }]);
    config["headers"] = json!({ "legacy": true });
    let (limiter, _clock) = limiter(config);
    let pre = PreAuthRateLimitStage::new(limiter.clone());
    let consumer = ConsumerRateLimitStage::new(limiter);
    let mut cx = request("203.0.113.7", "r");
    assert_eq!(run(&pre, &mut cx), Verdict::Continue);
    let mut cx = with_identity(cx, "alice", None);
    assert_eq!(run(&consumer, &mut cx), Verdict::Continue);
    let mut response = ok_response();
    respond(&consumer, &mut cx, &mut response);
    respond(&pre, &mut cx, &mut response);
    let states: Vec<_> = response.headers.get_all("ratelimit").iter().collect();
    assert_eq!(states.len(), 2);
    assert_eq!(states[0], "\"consumer\";r=1;t=30");
    assert_eq!(states[1], "\"per-ip\";r=9;t=1");
    // Legacy headers: the strictest across both stages, written once.
    assert_eq!(
        response
            .headers
            .get_all("x-ratelimit-remaining")
            .iter()
            .count(),
        1
    );
    assert_eq!(response.headers["x-ratelimit-remaining"], "1");
    assert_eq!(response.headers["x-ratelimit-limit"], "2");
}

#[test]
fn plan_from_a_claim_when_the_key_metadata_has_none() {
    let mut config = plans();
    config["plan_claim"] = json!("tier");
    let (limiter, _clock) = limiter(config);
    let stage = ConsumerRateLimitStage::new(limiter);
    let with_tier = |consumer: &str, tier: &str| {
        let mut cx = with_identity(request("203.0.113.7", "r"), consumer, None);
        if let Some(id) = cx.identity.as_mut() {
            id.claims.insert("tier".into(), tier.into());
        }
        cx
    };
    let mut n = 0;
    while run(&stage, &mut with_tier("erin", "pro")) == Verdict::Continue {
        n += 1;
        assert!(n < 100);
    }
    assert_eq!(n, 5);
    let mut n = 0;
    while run(&stage, &mut with_tier("frank", "gold")) == Verdict::Continue {
        n += 1;
        assert!(n < 100);
    }
    assert_eq!(n, 2, "unknown claimed plan: default");
}

#[test]
fn a_plan_claim_may_be_a_dotted_path_as_in_the_authn_claim_mapping() {
    let mut config = plans();
    config["plan_claim"] = json!("billing.tier");
    let (limiter, _clock) = limiter(config);
    let stage = ConsumerRateLimitStage::new(limiter);
    let nested = || {
        let mut cx = with_identity(request("203.0.113.7", "r"), "gina", None);
        if let Some(id) = cx.identity.as_mut() {
            id.claims.insert("billing".into(), json!({"tier": "pro"}));
        }
        cx
    };
    let mut n = 0;
    while run(&stage, &mut nested()) == Verdict::Continue {
        n += 1;
        assert!(n < 100);
    }
    assert_eq!(n, 5, "the nested claim names the pro plan");
}
