//! Local backend cost: one request through the pre-auth stage (three limits: IP,
//! route, global) and through the store alone (one limit), plus memory per key.
//!
//! Run: `cargo bench -p rampart-ratelimit --bench local_check`. The memory figure
//! is printed before the timings (RSS growth over 1 M tracked keys, so it includes
//! the hash map's spare capacity).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use http::Method;
use rampart_core::{RequestCx, Stage, Step};
use rampart_ratelimit::store::Algorithm;
use rampart_ratelimit::{
    LocalStore, Op, PreAuthRateLimitStage, RateLimitConfig, RateLimiter, SystemClock,
};

fn limiter() -> Arc<RateLimiter> {
    let config: RateLimitConfig = serde_json::from_value(serde_json::json!({ "pre_auth": [
        { "name": "per-ip", "key": "client_ip", "rate": 1000, "per": "1s" },
        { "name": "per-route", "key": "route", "rate": 1000000, "per": "1s" },
        { "name": "global", "key": "global", "rate": 1000000, "per": "1s" }
    ]}))
    .unwrap();
    Arc::new(RateLimiter::local(
        config.compile("").unwrap(),
        Arc::new(SystemClock),
    ))
}

fn ip(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (i % 65_536)))
}

fn stage_check(c: &mut Criterion) {
    let stage = PreAuthRateLimitStage::new(limiter());
    let mut cx = RequestCx::new(
        "r".into(),
        SocketAddr::new(ip(0), 1),
        Method::GET,
        "/items".into(),
    );
    cx.route = Some("GET /items".into());
    let mut i = 0u32;
    c.bench_function("pre_auth_stage_3_limits", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            cx.client_ip = ip(i);
            match stage.on_request(black_box(&mut cx)) {
                Step::Done(v) => black_box(v),
                Step::Wait(_) => panic!("local store never waits"),
            };
        })
    });
}

fn store_check(c: &mut Criterion) {
    let store = LocalStore::default();
    let keys: Vec<String> = (0..65_536)
        .map(|i| format!("rl:per-ip:ip:{{{}}}", ip(i)))
        .collect();
    let mut i = 0usize;
    let clock = SystemClock;
    c.bench_function("local_store_1_op", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            let op = Op {
                key: keys[i].clone(),
                algorithm: Algorithm::Gcra {
                    emission_us: 1000,
                    burst: 1000,
                },
                cost: 1,
            };
            let now = rampart_ratelimit::Clock::now_micros(&clock);
            black_box(store.apply_now(now, &[op]));
        })
    });
}

fn clock_cost(c: &mut Criterion) {
    let clock = SystemClock;
    c.bench_function("system_clock_now", |b| {
        b.iter(|| black_box(rampart_ratelimit::Clock::now_micros(&clock)))
    });
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn memory_per_key() {
    const N: u64 = 1_000_000;
    let before = rss_bytes();
    let store = LocalStore::new(2 * N as usize, 64);
    for i in 0..N {
        let op = Op {
            key: format!("rl:per-ip:ip:{{{i}}}"),
            algorithm: Algorithm::Gcra {
                emission_us: 3_600_000_000,
                burst: 10,
            },
            cost: 1,
        };
        store.apply_now(0, &[op]);
    }
    let after = rss_bytes();
    assert_eq!(store.len() as u64, N);
    println!(
        "memory per tracked key: {:.1} bytes (RSS +{} KiB for {N} keys)",
        (after.saturating_sub(before)) as f64 / N as f64,
        after.saturating_sub(before) / 1024
    );
    drop(store);
}

fn memory(_c: &mut Criterion) {
    memory_per_key();
}

criterion_group!(benches, memory, clock_cost, stage_check, store_check);
criterion_main!(benches);
