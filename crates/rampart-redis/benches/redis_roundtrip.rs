//! Redis backend latency on loopback: one batch (one EVALSHA) of one and of three
//! ops, against a redis-server this bench starts on a free port and stops after.
//!
//! Run: `cargo bench -p rampart-redis --bench redis_roundtrip` (needs `redis-server`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_ratelimit::store::Algorithm;
use rampart_ratelimit::{CounterStore, Op};
use rampart_redis::{RedisStore, RedisStoreConfig};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start() -> (Server, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (Server(child), port)
}

fn op(key: String) -> Op {
    Op {
        key,
        algorithm: Algorithm::Gcra {
            emission_us: 1,
            burst: 1_000_000,
        },
        cost: 1,
    }
}

fn roundtrip(c: &mut Criterion) {
    let (_server, port) = start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(async {
        let mut config = RedisStoreConfig::standalone(format!("redis://127.0.0.1:{port}/"));
        // A loaded bench machine must not trip the outage path: measure Redis only.
        config.timeout_ms = 10_000;
        RedisStore::new(&config, "").unwrap()
    });
    let mut i = 0u32;
    c.bench_function("redis_batch_1_op", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let ops = vec![op(format!(
                "rl:per-ip:ip:{{10.0.{}.{}}}",
                (i >> 8) & 255,
                i & 255
            ))];
            black_box(rt.block_on(store.apply(0, ops).resolve()).unwrap());
        })
    });
    c.bench_function("redis_batch_3_ops", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let ops = vec![
                op(format!(
                    "rl:per-ip:ip:{{10.0.{}.{}}}",
                    (i >> 8) & 255,
                    i & 255
                )),
                op("rl:per-route:route:{GET /items}".into()),
                op("rl:global:global:{*}".into()),
            ];
            black_box(rt.block_on(store.apply(0, ops).resolve()).unwrap());
        })
    });
    assert!(
        store.is_up() && store.fallbacks() == 0,
        "measured Redis, not the fallback"
    );
}

criterion_group!(benches, roundtrip);
criterion_main!(benches);
