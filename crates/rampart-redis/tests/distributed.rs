//! Against a real redis-server: the script's semantics, exactness across two
//! gateway instances under concurrent load, and the outage behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use harness::RedisServer;
use http::HeaderMap;
use rampart_core::Identity;
use rampart_ratelimit::key::Facts;
use rampart_ratelimit::store::Algorithm;
use rampart_ratelimit::{
    Checked, CounterStore, LocalStore, Op, RateLimitConfig, RateLimiter, Scope, SystemClock,
};
use rampart_redis::{OutageMode, RedisStore, RedisStoreConfig};
use serde_json::json;

fn store(server: &RedisServer, mode: OutageMode) -> RedisStore {
    let mut config = RedisStoreConfig::standalone(server.url());
    config.on_outage = mode;
    config.retry_interval_ms = 50;
    RedisStore::new(&config, "rate_limit.redis").unwrap()
}

fn gcra(key: &str, emission_us: u64, burst: u64) -> Op {
    Op {
        key: key.into(),
        algorithm: Algorithm::Gcra { emission_us, burst },
        cost: 1,
    }
}

const HOUR: u64 = 3_600_000_000;

#[tokio::test]
async fn script_charges_all_or_nothing_and_reports_state() {
    let server = RedisServer::start();
    let s = store(&server, OutageMode::FailClosed);
    let lenient = gcra("t:{a}:lenient", HOUR, 3);
    let strict = gcra("t:{a}:strict", HOUR, 1);
    let out = s
        .apply(0, vec![lenient.clone(), strict.clone()])
        .resolve()
        .await
        .unwrap();
    assert!(out.iter().all(|o| o.allowed));
    assert_eq!(out[0].remaining, 2);
    assert_eq!(out[1].remaining, 0);
    for _ in 0..5 {
        let out = s
            .apply(0, vec![lenient.clone(), strict.clone()])
            .resolve()
            .await
            .unwrap();
        assert!(out[0].allowed && !out[1].allowed);
        assert_eq!(out[0].remaining, 2, "refused batches charge nothing");
        assert!(out[1].retry_after_us > HOUR - 60_000_000);
    }
    let out = s.apply(0, vec![lenient.clone()]).resolve().await.unwrap();
    assert_eq!(out[0].remaining, 1);
    // A quota window: exactly `limit` pass.
    let quota = Op {
        key: "t:{a}:quota:d1".into(),
        algorithm: Algorithm::Window {
            limit: 2,
            window_end_us: u64::MAX / 4,
        },
        cost: 1,
    };
    let mut passed = 0;
    for _ in 0..5 {
        if s.apply(0, vec![quota.clone()]).resolve().await.unwrap()[0].allowed {
            passed += 1;
        }
    }
    assert_eq!(passed, 2);
    // A probe (cost 0) never charges.
    let probe = Op {
        cost: 0,
        ..gcra("t:{b}:probe", HOUR, 1)
    };
    for _ in 0..3 {
        assert!(s.apply(0, vec![probe.clone()]).resolve().await.unwrap()[0].allowed);
    }
}

fn policy() -> rampart_ratelimit::Policy {
    let config: RateLimitConfig = serde_json::from_value(json!({
        "pre_auth": [
            { "name": "per-ip", "key": "client_ip", "rate": 1, "per": "1h", "burst": 50 },
            { "name": "global", "key": "global", "rate": 1, "per": "1h", "burst": 1000000 }
        ],
        "default_plan": "free",
        "plans": { "free": { "quotas": [ { "name": "daily", "limit": 30, "period": "day" } ] } }
    }))
    .unwrap();
    config.compile("rate_limit").unwrap()
}

async fn accepted(limiter: Arc<RateLimiter>, scope: Scope, tasks: usize, each: usize) -> usize {
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let limiter = Arc::clone(&limiter);
        handles.push(tokio::spawn(async move {
            let headers = HeaderMap::new();
            let id = Identity {
                consumer: "alice".into(),
                ..Identity::default()
            };
            let facts = Facts {
                client_ip: "203.0.113.7".parse::<IpAddr>().unwrap(),
                route: Some("GET /items"),
                path: "/items",
                identity: Some(&id),
                headers: &headers,
            };
            let mut n = 0;
            for _ in 0..each {
                if matches!(limiter.check(scope, &facts).await, Checked::Allowed(_)) {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_together_accept_exactly_what_one_would() {
    let server = RedisServer::start();
    let gateway = || {
        Arc::new(RateLimiter::new(
            policy(),
            Arc::new(store(&server, OutageMode::FailClosed)),
            Arc::new(SystemClock),
        ))
    };
    let (a, b) = (gateway(), gateway());
    // 2 gateways x 8 concurrent clients x 40 requests = 640 requests from one IP.
    let (x, y) = tokio::join!(
        accepted(a.clone(), Scope::PreAuth, 8, 40),
        accepted(b.clone(), Scope::PreAuth, 8, 40)
    );
    assert_eq!(
        x + y,
        50,
        "per-ip burst 50 across both gateways ({x} + {y})"
    );
    assert!(x > 0 && y > 0, "both gateways served some ({x} + {y})");
    // The consumer's daily quota of 30, through both gateways at once.
    let (x, y) = tokio::join!(
        accepted(a, Scope::Consumer, 8, 20),
        accepted(b, Scope::Consumer, 8, 20)
    );
    assert_eq!(x + y, 30, "daily quota across both gateways ({x} + {y})");

    // For contrast: two instances with only local state accept twice as much.
    let local = || {
        Arc::new(RateLimiter::new(
            policy(),
            Arc::new(LocalStore::default()),
            Arc::new(SystemClock),
        ))
    };
    let (x, y) = tokio::join!(
        accepted(local(), Scope::PreAuth, 8, 40),
        accepted(local(), Scope::PreAuth, 8, 40)
    );
    assert_eq!(x + y, 100);
}

async fn one(s: &RedisStore, op: &Op) -> bool {
    s.apply(
        rampart_ratelimit::Clock::now_micros(&SystemClock),
        vec![op.clone()],
    )
    .resolve()
    .await
    .unwrap()[0]
        .allowed
}

/// Sends probes until one is answered by Redis (not the fallback); false if never.
async fn settle(s: &RedisStore) -> bool {
    let probe = gcra("t:{ip}:probe", HOUR, 1_000_000);
    for _ in 0..200 {
        let before = s.fallbacks();
        one(s, &probe).await;
        if s.is_up() && s.fallbacks() == before {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_fails_open_onto_local_limits_and_recovers() {
    let mut server = RedisServer::start();
    let s = store(&server, OutageMode::FailOpen);
    let other = store(&server, OutageMode::FailOpen);
    let op = gcra("t:{ip}:outage", HOUR, 3);
    assert!(one(&s, &op).await);
    assert!(one(&other, &op).await, "shared: two of three used");
    assert!(s.is_up());

    server.kill();
    // Served by this instance's local limits: still limited (burst 3), not unlimited.
    let mut passed = 0;
    for _ in 0..10 {
        if one(&s, &op).await {
            passed += 1;
        }
    }
    assert_eq!(passed, 3, "local limits hold during the outage");
    assert!(!s.is_up());
    assert!(s.errors() >= 1, "outage counted");
    assert!(s.fallbacks() >= 10);

    server.restart();
    assert!(
        settle(&s).await,
        "shared limits come back without a restart"
    );
    assert!(settle(&other).await);
    // Shared again: what one instance charges, the other sees.
    let fresh = gcra("t:{ip}:after", HOUR, 1);
    assert!(one(&s, &fresh).await);
    assert!(!one(&other, &fresh).await);
}

#[tokio::test]
async fn outage_fails_closed_when_configured() {
    let mut server = RedisServer::start();
    let s = Arc::new(store(&server, OutageMode::FailClosed));
    let limiter = RateLimiter::new(policy(), s.clone(), Arc::new(SystemClock));
    let headers = HeaderMap::new();
    let facts = Facts {
        client_ip: "203.0.113.7".parse().unwrap(),
        route: None,
        path: "/",
        identity: None,
        headers: &headers,
    };
    assert!(matches!(
        limiter.check(Scope::PreAuth, &facts).await,
        Checked::Allowed(_)
    ));
    server.kill();
    match limiter.check(Scope::PreAuth, &facts).await {
        Checked::Refused(p) => {
            assert_eq!(p.kind.status, 503);
            assert_eq!(p.kind.slug, "rate-limit-unavailable");
        }
        other => panic!("expected 503, got {other:?}"),
    }
    assert!(!s.is_up());
}

#[tokio::test]
async fn a_gateway_starts_while_redis_is_down() {
    let mut server = RedisServer::start();
    server.kill();
    let s = store(&server, OutageMode::FailOpen);
    assert!(one(&s, &gcra("t:{x}:down", HOUR, 1)).await);
    assert!(
        !one(&s, &gcra("t:{x}:down", HOUR, 1)).await,
        "local limit applies"
    );
    assert!(!s.is_up());
}

#[tokio::test]
async fn config_errors_name_the_field() {
    let mut c = RedisStoreConfig::standalone("http://nope");
    let e = RedisStore::new(&c, "rl.redis").unwrap_err();
    assert!(e.to_string().starts_with("rl.redis.url:"), "{e}");
    c.url = Some("redis://127.0.0.1:1/".into());
    c.timeout_ms = 0;
    let e = RedisStore::new(&c, "rl.redis").unwrap_err();
    assert!(e.to_string().starts_with("rl.redis.timeout_ms:"), "{e}");
    c.timeout_ms = 100;
    c.key_prefix = "a{b}".into();
    let e = RedisStore::new(&c, "rl.redis").unwrap_err();
    assert!(e.to_string().starts_with("rl.redis.key_prefix:"), "{e}");
    c.key_prefix = "x:".into();
    // Below 8 keys in each of the fallback's 64 shards: was raised to 512 silently.
    c.fallback_max_keys = 0;
    let e = RedisStore::new(&c, "rl.redis").unwrap_err();
    assert!(
        e.to_string().starts_with("rl.redis.fallback_max_keys:"),
        "{e}"
    );
    c.fallback_max_keys = 512;
    c.cluster_nodes = vec!["redis://127.0.0.1:7000".into()];
    let e = RedisStore::new(&c, "rl.redis").unwrap_err();
    assert!(e.to_string().starts_with("rl.redis.url:"), "{e}");
}

/// The Lua script and the Rust arithmetic agree, op by op, on random batches
/// (allowed and remaining; intervals of hours make the two clocks' few
/// milliseconds of difference irrelevant).
#[tokio::test]
async fn script_agrees_with_the_local_store() {
    let server = RedisServer::start();
    let redis = store(&server, OutageMode::FailClosed);
    let local = LocalStore::new(1024, 4);
    let now = rampart_ratelimit::Clock::now_micros(&SystemClock);
    let far = now + 400 * 86_400_000_000;
    let algorithm = |k: u64| match k {
        0 => Algorithm::Gcra {
            emission_us: HOUR,
            burst: 1,
        },
        1 => Algorithm::Gcra {
            emission_us: HOUR,
            burst: 3,
        },
        2 => Algorithm::Gcra {
            emission_us: 2 * HOUR,
            burst: 5,
        },
        3 => Algorithm::Window {
            limit: 4,
            window_end_us: far,
        },
        _ => Algorithm::Window {
            limit: 7,
            window_end_us: far,
        },
    };
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut allowed, mut refused) = (0, 0);
    for round in 0..400 {
        let len = 1 + next() % 3;
        let ops: Vec<Op> = (0..len)
            .map(|_| {
                let k = next() % 5;
                Op {
                    key: format!("diff:{{{k}}}"),
                    algorithm: algorithm(k),
                    cost: next() % 3,
                }
            })
            .collect();
        let want = local.apply_now(now, &ops);
        let got = redis.apply(now, ops.clone()).resolve().await.unwrap();
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert_eq!(
                (w.allowed, w.remaining),
                (g.allowed, g.remaining),
                "round {round} op {i} {:?}",
                ops[i]
            );
        }
        if want.iter().all(|o| o.allowed) {
            allowed += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        allowed > 10 && refused > 10,
        "both paths exercised: {allowed} / {refused}"
    );
}

/// The pre-auth stage over Redis (the `Step::Wait` path) and a lock-out recorded
/// by one gateway that the other enforces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_and_stage_work_across_gateways() {
    use rampart_core::{RequestCx, Stage, Step, Verdict};
    use rampart_ratelimit::PreAuthRateLimitStage;

    let server = RedisServer::start();
    let config: RateLimitConfig = serde_json::from_value(json!({
        "pre_auth": [ { "name": "per-ip", "key": "client_ip", "rate": 100, "per": "1s" } ],
        "lockout": { "max_failures": 3, "window": "5m", "lock_for": "15m" }
    }))
    .unwrap();
    let policy = config.compile("").unwrap();
    let gateway = || {
        Arc::new(RateLimiter::new(
            policy.clone(),
            Arc::new(store(&server, OutageMode::FailClosed)),
            Arc::new(SystemClock),
        ))
    };
    let (a, b) = (gateway(), gateway());
    let stage_b = PreAuthRateLimitStage::new(b.clone());
    let attacker: IpAddr = "203.0.113.66".parse().unwrap();
    let request = || {
        let peer = std::net::SocketAddr::new(attacker, 5000);
        RequestCx::new("r".into(), peer, http::Method::POST, "/login".into())
    };
    let mut cx = request();
    let step = stage_b.on_request(&mut cx);
    assert!(
        matches!(step, Step::Wait(_)),
        "a network store answers asynchronously"
    );
    assert_eq!(step.resolve().await, Verdict::Continue);

    // Three failures, spread over both gateways, for two usernames.
    let lock_a = a.lockout().unwrap();
    let lock_b = b.lockout().unwrap();
    lock_a
        .record_failure(attacker, Some("alice"))
        .await
        .unwrap();
    lock_b.record_failure(attacker, Some("bob")).await.unwrap();
    assert!(
        lock_a
            .record_failure(attacker, Some("carol"))
            .await
            .unwrap()
    );

    let mut cx = request();
    match stage_b.on_request(&mut cx).resolve().await {
        Verdict::Respond(p) => assert_eq!(p.kind.slug, "locked-out"),
        Verdict::Continue => panic!("gateway B must enforce the lock set through A"),
    }
    // The usernames saw one failure each: not locked.
    let other: IpAddr = "198.51.100.1".parse().unwrap();
    assert!(lock_b.check(other, Some("alice")).await.unwrap().is_none());
}

#[tokio::test]
async fn a_window_ending_in_redis_past_is_charged_not_an_error() {
    // A gateway clock behind Redis's: the quota window it computed has
    // already ended by Redis's clock (the script reads Redis TIME). Its
    // expiry used to be PX <= 0, an error that aborted the script and marked
    // Redis down.
    let server = RedisServer::start();
    let s = store(&server, OutageMode::FailClosed);
    let redis_now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let op = Op {
        key: "t:{q}:day".into(),
        algorithm: Algorithm::Window {
            limit: 1,
            window_end_us: redis_now_us - 5_000_000,
        },
        cost: 1,
    };
    let out = s
        .apply(redis_now_us - 6_000_000, vec![op.clone()])
        .resolve()
        .await;
    assert!(out.is_ok(), "{out:?}");
    assert!(s.is_up(), "a clock difference marked Redis down");
    assert!(out.unwrap()[0].allowed);
    // The gateway is still inside that window by its clock, so the count must
    // hold: the key used to expire 1 ms after the charge, and every request of
    // the window's last seconds passed.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let out = s
        .apply(redis_now_us - 5_900_000, vec![op])
        .resolve()
        .await
        .unwrap();
    assert!(!out[0].allowed, "a quota of 1 let a second request through");
}
