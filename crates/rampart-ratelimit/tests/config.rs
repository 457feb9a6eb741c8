//! Configuration validation: every error names the offending field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rampart_ratelimit::config::parse_duration_us;
use rampart_ratelimit::{ConfigError, RateLimitConfig};
use serde_json::json;

fn compile(v: serde_json::Value) -> Result<rampart_ratelimit::Policy, ConfigError> {
    serde_json::from_value::<RateLimitConfig>(v)
        .unwrap()
        .compile("apis.shop.rate_limit")
}

fn field(e: ConfigError) -> String {
    e.to_string().split(':').next().unwrap().to_owned()
}

#[test]
fn a_full_config_compiles() {
    let p = compile(json!({
        "pre_auth": [
            { "name": "per-ip", "key": "client_ip", "rate": 100, "per": "1m", "burst": 20 },
            { "name": "login", "key": "route", "rate": 5, "per": "1m", "routes": ["POST /login"] },
            { "name": "tenant", "key": "header:x-tenant", "rate": 1000, "per": "1h" }
        ],
        "default_plan": "free",
        "plans": {
            "free": { "limits": [ { "name": "c", "key": "consumer", "rate": 10, "per": "1s" } ],
                      "quotas": [ { "name": "daily", "limit": 1000, "period": "day" } ] },
            "partner": { "limits": [ { "name": "app", "key": "application", "rate": 100, "per": "1s" } ] }
        },
        "quota_utc_offset": "-05:00",
        "lockout": { "max_failures": 5, "window": "5m", "lock_for": "15m" },
        "concurrency": [ { "name": "slow", "key": "route", "max_in_flight": 50 } ],
        "headers": { "legacy": true },
        "local": { "max_keys": 100000 }
    }))
    .unwrap();
    assert_eq!(p.pre_auth[0].emission_us, 600_000);
    // Rounded up, never down: 1.67 µs is 2.
    let fine = compile(json!({ "pre_auth": [
        { "name": "fine", "key": "global", "rate": 600_000, "per": "1s" },
        { "name": "edge", "key": "global", "rate": 1_000_000, "per": "1s" }
    ]}))
    .unwrap();
    assert_eq!(fine.pre_auth[0].emission_us, 2);
    assert_eq!(fine.pre_auth[1].emission_us, 1);
    assert_eq!(p.pre_auth[0].burst, 20);
    assert_eq!(p.pre_auth[1].burst, 5, "burst defaults to rate");
    assert_eq!(p.zone, rampart_ratelimit::calendar::Zone::Fixed(-18_000));
    assert!(p.headers.legacy && p.headers.standard);
}

#[test]
fn unknown_fields_are_rejected() {
    let r = serde_json::from_value::<RateLimitConfig>(json!({ "pre_auht": [] }));
    assert!(r.is_err());
    let r = serde_json::from_value::<RateLimitConfig>(json!({ "pre_auth": [
        { "name": "a", "key": "global", "rate": 1, "per": "1s", "brust": 3 }
    ]}));
    assert!(r.is_err());
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (
            json!({ "pre_auth": [ { "name": "a", "key": "global", "rate": 1, "per": "1 s" } ] }),
            "apis.shop.rate_limit.pre_auth[0].per",
        ),
        (
            json!({ "pre_auth": [ { "name": "a", "key": "global", "rate": 0, "per": "1s" } ] }),
            "apis.shop.rate_limit.pre_auth[0].rate",
        ),
        (
            json!({ "pre_auth": [ { "name": "a", "key": "ipv4", "rate": 1, "per": "1s" } ] }),
            "apis.shop.rate_limit.pre_auth[0].key",
        ),
        (
            json!({ "pre_auth": [ { "name": "a", "key": "consumer", "rate": 1, "per": "1s" } ] }),
            "apis.shop.rate_limit.pre_auth[0].key",
        ),
        (
            json!({ "pre_auth": [ { "name": "A b", "key": "global", "rate": 1, "per": "1s" } ] }),
            "apis.shop.rate_limit.pre_auth[0].name",
        ),
        (
            json!({ "pre_auth": [
            { "name": "a", "key": "global", "rate": 1, "per": "1s" },
            { "name": "a", "key": "client_ip", "rate": 1, "per": "1s" } ] }),
            "apis.shop.rate_limit.pre_auth[1].name",
        ),
        (
            json!({ "pre_auth": [ { "name": "a", "key": "global", "rate": 2000000, "per": "1s" } ] }),
            "apis.shop.rate_limit.pre_auth[0].rate",
        ),
        (
            json!({ "plans": { "pro": { "quotas": [ { "name": "d", "limit": 0, "period": "day" } ] } } }),
            "apis.shop.rate_limit.plans.pro.quotas[0].limit",
        ),
        (
            json!({ "plans": { "pro": {} }, "default_plan": "free" }),
            "apis.shop.rate_limit.default_plan",
        ),
        (
            json!({ "quota_utc_offset": "CET" }),
            "apis.shop.rate_limit.quota_utc_offset",
        ),
        (
            json!({ "lockout": { "max_failures": 3, "window": "5m", "lock_for": "forever" } }),
            "apis.shop.rate_limit.lockout.lock_for",
        ),
        (
            json!({ "concurrency": [ { "name": "c", "key": "consumer", "max_in_flight": 0 } ] }),
            "apis.shop.rate_limit.concurrency[0].max_in_flight",
        ),
        // Two limits of one name would share one counter per key.
        (
            json!({ "concurrency": [
            { "name": "c", "key": "consumer", "max_in_flight": 5 },
            { "name": "c", "key": "consumer", "max_in_flight": 9 } ] }),
            "apis.shop.rate_limit.concurrency[1].name",
        ),
        // A name in pre_auth and a plan: charged twice, listed twice in the headers.
        (
            json!({ "pre_auth": [ { "name": "per-route", "key": "route", "rate": 9, "per": "1s" } ],
                    "plans": { "pro": { "limits": [
                        { "name": "c", "key": "consumer", "rate": 1, "per": "1s" },
                        { "name": "per-route", "key": "route", "rate": 5, "per": "1s" } ] } } }),
            "apis.shop.rate_limit.plans.pro.limits[1].name",
        ),
        (
            json!({ "pre_auth": [ { "name": "daily", "key": "global", "rate": 9, "per": "1s" } ],
                    "plans": { "pro": { "quotas": [ { "name": "daily", "limit": 5, "period": "day" } ] } } }),
            "apis.shop.rate_limit.plans.pro.quotas[0].name",
        ),
        (
            json!({ "plans": { "pro": {
                "limits": [ { "name": "c", "key": "consumer", "rate": 1, "per": "1s" } ],
                "quotas": [ { "name": "c", "limit": 5, "period": "day" } ] } } }),
            "apis.shop.rate_limit.plans.pro.quotas[0].name",
        ),
        // Counting neither per IP nor per username would never lock anything.
        (
            json!({ "lockout": { "max_failures": 3, "window": "5m", "lock_for": "15m",
                                 "per_ip": false, "per_username": false } }),
            "apis.shop.rate_limit.lockout",
        ),
        // The store's bounds are refused, not clamped.
        (
            json!({ "local": { "shards": 100000 } }),
            "apis.shop.rate_limit.local.shards",
        ),
        (
            json!({ "local": { "max_keys": 100, "shards": 64 } }),
            "apis.shop.rate_limit.local.max_keys",
        ),
        // A signed part parsed as a number: "+-5:00" was taken for -05:00.
        (
            json!({ "quota_utc_offset": "+-5:00" }),
            "apis.shop.rate_limit.quota_utc_offset",
        ),
    ];
    for (config, expected) in cases {
        let err = compile(config.clone()).expect_err(&config.to_string());
        assert_eq!(field(err), expected, "{config}");
    }
}

#[test]
fn durations() {
    assert_eq!(parse_duration_us("250ms"), Some(250_000));
    assert_eq!(parse_duration_us("1d"), Some(86_400_000_000));
    for bad in [
        "",
        "1",
        "s",
        "0s",
        "1.5s",
        "-1s",
        "1 s",
        "1w",
        "99999999999999999999s",
    ] {
        assert_eq!(parse_duration_us(bad), None, "{bad}");
    }
}

#[test]
fn json_schema_is_generated() {
    let schema = schemars::schema_for!(RateLimitConfig);
    let text = serde_json::to_string(&schema).unwrap();
    for field in [
        "pre_auth",
        "plans",
        "default_plan",
        "plan_claim",
        "lockout",
        "concurrency",
    ] {
        assert!(text.contains(field), "{field} missing from the schema");
    }
}

#[test]
fn upstream_failures_default_to_login_operations() {
    use rampart_ratelimit::UpstreamFailures;
    let lockout = |extra: serde_json::Value| {
        let mut l = json!({ "max_failures": 3, "window": "5m", "lock_for": "15m" });
        l.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value::<RateLimitConfig>(json!({ "lockout": l }))
    };
    let policy = |extra| {
        lockout(extra)
            .unwrap()
            .compile("")
            .unwrap()
            .lockout
            .unwrap()
    };
    assert_eq!(
        policy(json!({})).upstream_failures,
        UpstreamFailures::LoginOperations
    );
    assert_eq!(
        policy(json!({ "upstream_failures": "every_route" })).upstream_failures,
        UpstreamFailures::EveryRoute
    );
    let e = lockout(json!({ "upstream_failures": "all" })).unwrap_err();
    assert!(e.to_string().contains("login_operations"), "{e}");
}
