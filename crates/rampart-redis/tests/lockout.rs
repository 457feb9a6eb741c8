//! The per-username lock-out on a real redis-server: a credential-stuffing run
//! against one user, spread over two gateways and many client IPs, locks that user
//! on both; the keys in Redis hold a hash, never the username. Login attempts in
//! flight hold their failure in Redis, so parallel guesses through several
//! gateways cannot exceed `max_failures` either.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::net::IpAddr;
use std::sync::Arc;

use harness::RedisServer;
use rampart_ratelimit::{RateLimitConfig, RateLimiter, Reserved, SystemClock};
use rampart_redis::{OutageMode, RedisStore, RedisStoreConfig};
use serde_json::json;

fn gateway(server: &RedisServer) -> Arc<RateLimiter> {
    let mut config = RedisStoreConfig::standalone(server.url());
    config.on_outage = OutageMode::FailClosed;
    let store = RedisStore::new(&config, "rate_limit.redis").unwrap();
    let policy: RateLimitConfig = serde_json::from_value(json!({
        "lockout": { "max_failures": 3, "window": "5m", "lock_for": "15m" }
    }))
    .unwrap();
    Arc::new(RateLimiter::new(
        policy.compile("").unwrap(),
        Arc::new(store),
        Arc::new(SystemClock),
    ))
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([203, 0, 113, last])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_username_attacked_from_many_ips_through_two_gateways_is_locked() {
    let server = RedisServer::start();
    let (a, b) = (gateway(&server), gateway(&server));
    let (lock_a, lock_b) = (a.lockout().unwrap(), b.lockout().unwrap());
    // Three guesses for one user from three IPs, over both gateways.
    assert!(!lock_a.record_failure(ip(1), Some("Victim")).await.unwrap());
    assert!(!lock_b.record_failure(ip(2), Some("victim")).await.unwrap());
    assert!(lock_a.record_failure(ip(3), Some("VICTIM")).await.unwrap());
    // Either gateway refuses that user from a fresh IP...
    for lock in [lock_a, lock_b] {
        let p = lock.check(ip(9), Some("victim")).await.unwrap().unwrap();
        assert_eq!(p.kind.slug, "locked-out");
        // ...but not another user, nor the IPs (one failure each).
        assert!(lock.check(ip(9), Some("alice")).await.unwrap().is_none());
        assert!(lock.check(ip(1), None).await.unwrap().is_none());
    }
    let keys = std::process::Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), "--scan"])
        .output()
        .unwrap();
    let keys = String::from_utf8_lossy(&keys.stdout).to_lowercase();
    assert!(keys.contains("user:{"), "{keys}");
    assert!(!keys.contains("victim"), "{keys}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_login_attempts_through_two_gateways_hold_at_most_max_failures() {
    let server = RedisServer::start();
    let (a, b) = (gateway(&server), gateway(&server));
    // Twelve guesses at once for one user, from twelve IPs, over both gateways.
    let tasks: Vec<_> = (1..=12u8)
        .map(|i| {
            let gw = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let lockout = gw.lockout().unwrap();
                lockout.reserve(ip(i), Some("victim")).await.unwrap()
            })
        })
        .collect();
    let mut held = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Reserved::Held(r) => held.push(r),
            Reserved::Refused(p) => {
                assert_eq!(p.kind.slug, "login-concurrency-limited");
                refused += 1;
            }
            Reserved::Untracked => panic!("tracked"),
        }
    }
    assert_eq!((held.len(), refused), (3, 9));
    // They were legitimate logins after all: given back, nothing remains.
    for r in held {
        a.lockout().unwrap().refund(r).await.unwrap();
    }
    for _ in 0..9 {
        let lockout = b.lockout().unwrap();
        let Reserved::Held(r) = lockout.reserve(ip(1), Some("victim")).await.unwrap() else {
            panic!("a successful login left a failure behind");
        };
        lockout.refund(r).await.unwrap();
    }
    // Three that fail lock the user on both gateways.
    for i in 20..23 {
        let lockout = a.lockout().unwrap();
        let Reserved::Held(r) = lockout.reserve(ip(i), Some("victim")).await.unwrap() else {
            panic!("not locked yet");
        };
        lockout.confirm(r).await.unwrap();
    }
    for gw in [&a, &b] {
        let lockout = gw.lockout().unwrap();
        assert!(
            lockout
                .check(ip(99), Some("victim"))
                .await
                .unwrap()
                .is_some()
        );
        assert!(matches!(
            lockout.reserve(ip(99), Some("victim")).await.unwrap(),
            Reserved::Refused(_)
        ));
    }
}
