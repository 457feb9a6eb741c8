//! Quotas in an IANA time zone: the day resets at local midnight, and the days of
//! daylight-saving changes are 23 and 25 hours long.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use rampart_core::Verdict;
use rampart_ratelimit::{ConsumerRateLimitStage, RateLimitConfig};
use serde_json::json;

fn micros(rfc3339: &str) -> u64 {
    u64::try_from(rampart_core::time::parse_rfc3339(rfc3339).unwrap()).unwrap() * 1_000_000
}

fn paris_quota() -> serde_json::Value {
    json!({
        "default_plan": "free",
        "quota_time_zone": "Europe/Paris",
        "plans": { "free": { "quotas": [ { "name": "daily", "limit": 2, "period": "day" } ] } }
    })
}

/// Spends the quota, then checks the refusal names the local reset and the wait.
fn exhaust(stage: &ConsumerRateLimitStage, reset: &str, retry_after: u64) {
    let req = || with_identity(request("203.0.113.7", "r"), "alice", None);
    assert_eq!(run(stage, &mut req()), Verdict::Continue);
    assert_eq!(run(stage, &mut req()), Verdict::Continue);
    let p = refused(run(stage, &mut req()));
    assert_eq!(p.kind.slug, "quota-exceeded");
    assert_eq!(p.extensions["reset"], reset);
    assert_eq!(
        header(&p, "retry-after"),
        Some(retry_after.to_string().as_str())
    );
}

fn passes(stage: &ConsumerRateLimitStage) -> bool {
    let mut cx = with_identity(request("203.0.113.7", "r"), "alice", None);
    run(stage, &mut cx) == Verdict::Continue
}

#[test]
fn the_spring_forward_day_is_23_hours_long() {
    let (limiter, clock) = limiter(paris_quota());
    let stage = ConsumerRateLimitStage::new(limiter);
    // 00:30 in Paris (+01:00) on the day clocks jump from 02:00 to 03:00.
    clock.set_micros(micros("2026-03-29T00:30:00+01:00"));
    // 22 h 30 min to the next local midnight, which is at +02:00 (a fixed
    // +01:00 offset would say 23 h 30 min).
    exhaust(&stage, "2026-03-30T00:00:00+02:00", 81_000);
    clock.advance(Duration::from_secs(80_999));
    assert!(!passes(&stage), "still the 29th in Paris");
    clock.advance(Duration::from_secs(1));
    assert!(passes(&stage), "midnight in Paris: a new quota");
}

#[test]
fn the_fall_back_day_is_25_hours_long() {
    let (limiter, clock) = limiter(paris_quota());
    let stage = ConsumerRateLimitStage::new(limiter);
    // Midnight starting the day clocks go from 03:00 back to 02:00.
    clock.set_micros(micros("2026-10-25T00:00:00+02:00"));
    exhaust(&stage, "2026-10-26T00:00:00+01:00", 90_000);
    clock.advance(Duration::from_secs(89_999));
    assert!(!passes(&stage));
    clock.advance(Duration::from_secs(1));
    assert!(passes(&stage));
}

#[test]
fn fixed_offsets_still_work_and_bad_zones_are_config_errors() {
    let (limiter, clock) = limiter(json!({
        "default_plan": "free",
        "quota_time_zone": "-05:00",
        "plans": { "free": { "quotas": [ { "name": "daily", "limit": 2, "period": "day" } ] } }
    }));
    let stage = ConsumerRateLimitStage::new(limiter);
    clock.set_micros(micros("2026-03-08T23:00:00-05:00"));
    exhaust(&stage, "2026-03-09T00:00:00-05:00", 3_600);

    let error = |value: serde_json::Value| {
        let config: RateLimitConfig = serde_json::from_value(value).unwrap();
        config.compile("rate_limit").unwrap_err().to_string()
    };
    let e = error(json!({ "quota_time_zone": "Mars/Olympus_Mons" }));
    assert!(e.contains("rate_limit.quota_time_zone"), "{e}");
    let e = error(json!({ "quota_time_zone": "Europe/Paris", "quota_utc_offset": "+01:00" }));
    assert!(e.contains("not both"), "{e}");
}
