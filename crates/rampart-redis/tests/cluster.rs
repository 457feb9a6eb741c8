//! Redis Cluster: three masters started by the test. Every key carries a hash tag,
//! so one subject's limits live in one slot and are exact across gateways; a batch
//! spanning subjects is split by slot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use rampart_ratelimit::key::Facts;
use rampart_ratelimit::{Checked, RateLimitConfig, RateLimiter, Reserved, Scope, SystemClock};
use rampart_redis::{OutageMode, RedisStore, RedisStoreConfig};
use serde_json::json;

struct Cluster {
    ports: Vec<u16>,
    children: Vec<Child>,
    dir: std::path::PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Distinguishes the clusters of tests running in parallel in this process.
static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);

/// A port whose cluster-bus companion (port + 10000) is free too.
fn cluster_port(taken: &[u16], nth: u16) -> u16 {
    let seed = (std::process::id() as u16).wrapping_add(nth.wrapping_mul(3331));
    for i in 0..5000u16 {
        let p = 20_000 + (seed.wrapping_mul(7).wrapping_add(i * 13)) % 10_000;
        if taken.contains(&p) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", p)).is_ok()
            && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok()
        {
            return p;
        }
    }
    panic!("no free port pair");
}

fn start_cluster() -> Cluster {
    let nth = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "rampart-redis-cluster-{}-{nth}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut ports = Vec::new();
    for _ in 0..3 {
        let p = cluster_port(&ports, nth);
        ports.push(p);
    }
    let children = ports
        .iter()
        .map(|p| {
            Command::new("redis-server")
                .args(["--port", &p.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--cluster-enabled",
                    "yes",
                ])
                .args(["--cluster-config-file", &format!("nodes-{p}.conf")])
                .arg("--dir")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let cluster = Cluster {
        ports,
        children,
        dir,
    };
    for p in &cluster.ports {
        let mut up = false;
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", *p)).is_ok() {
                up = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(up, "node {p} did not start");
    }
    let nodes: Vec<String> = cluster
        .ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let status = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&nodes)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "redis-cli --cluster create failed");
    for _ in 0..300 {
        let ok = cluster.ports.iter().all(|p| {
            Command::new("redis-cli")
                .args(["-p", &p.to_string(), "cluster", "info"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
                .unwrap_or(false)
        });
        if ok {
            return cluster;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("cluster did not become ready");
}

fn store(cluster: &Cluster) -> RedisStore {
    let config = RedisStoreConfig {
        url: None,
        cluster_nodes: cluster
            .ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect(),
        on_outage: OutageMode::FailClosed,
        timeout_ms: 2000,
        ..RedisStoreConfig::standalone("")
    };
    RedisStore::new(&config, "").unwrap()
}

async fn accepted(limiter: Arc<RateLimiter>, ip: &'static str, tasks: usize, each: usize) -> usize {
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let limiter = Arc::clone(&limiter);
        handles.push(tokio::spawn(async move {
            let headers = HeaderMap::new();
            let facts = Facts {
                client_ip: ip.parse::<IpAddr>().unwrap(),
                route: Some("GET /items"),
                path: "/items",
                identity: None,
                headers: &headers,
            };
            let mut n = 0;
            for _ in 0..each {
                if matches!(
                    limiter.check(Scope::PreAuth, &facts).await,
                    Checked::Allowed(_)
                ) {
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
async fn cluster_limits_are_exact_across_gateways() {
    let cluster = start_cluster();
    let config: RateLimitConfig = serde_json::from_value(json!({ "pre_auth": [
        { "name": "per-ip", "key": "client_ip", "rate": 1, "per": "1h", "burst": 40 },
        { "name": "per-route", "key": "route", "rate": 1, "per": "1h", "burst": 1000000 },
        { "name": "global", "key": "global", "rate": 1, "per": "1h", "burst": 1000000 }
    ]}))
    .unwrap();
    let policy = config.compile("").unwrap();
    let gateway = || {
        Arc::new(RateLimiter::new(
            policy.clone(),
            Arc::new(store(&cluster)),
            Arc::new(SystemClock),
        ))
    };
    let (a, b) = (gateway(), gateway());
    let (x, y) = tokio::join!(
        accepted(a.clone(), "203.0.113.7", 6, 30),
        accepted(b.clone(), "203.0.113.7", 6, 30)
    );
    assert_eq!(x + y, 40, "per-ip burst across both gateways ({x} + {y})");
    // Another address is unaffected.
    let (x, y) = tokio::join!(
        accepted(a, "198.51.100.1", 2, 10),
        accepted(b, "198.51.100.1", 2, 10)
    );
    assert_eq!(x + y, 40);
}

#[tokio::test]
async fn a_refusal_in_one_slot_refunds_the_other_slots() {
    use rampart_ratelimit::store::Algorithm;
    use rampart_ratelimit::{CounterStore, Op};

    let cluster = start_cluster();
    let s = store(&cluster);
    let hour = 3_600_000_000;
    // Different hash tags: (almost surely) different slots.
    let lenient = Op {
        key: "rl:route:{GET /a}".into(),
        algorithm: Algorithm::Gcra {
            emission_us: hour,
            burst: 3,
        },
        cost: 1,
    };
    let quota = Op {
        key: "rq:daily:{alice}".into(),
        algorithm: Algorithm::Window {
            limit: 10,
            window_end_us: u64::MAX / 4,
        },
        cost: 1,
    };
    let strict = Op {
        key: "rl:ip:{203.0.113.7}".into(),
        algorithm: Algorithm::Gcra {
            emission_us: hour,
            burst: 1,
        },
        cost: 1,
    };
    let batch = || vec![lenient.clone(), quota.clone(), strict.clone()];
    let out = s.apply(0, batch()).resolve().await.unwrap();
    assert!(out.iter().all(|o| o.allowed));
    for _ in 0..5 {
        let out = s.apply(0, batch()).resolve().await.unwrap();
        assert!(!out[2].allowed);
        assert_eq!(
            out[0].remaining, 2,
            "route limit not charged by a refused request"
        );
        assert_eq!(
            out[1].remaining, 9,
            "quota not charged by a refused request"
        );
    }
    let out = s
        .apply(0, vec![lenient.clone(), quota.clone()])
        .resolve()
        .await
        .unwrap();
    assert_eq!((out[0].remaining, out[1].remaining), (1, 8));
}

#[tokio::test]
async fn a_failing_slot_refunds_the_slots_already_charged() {
    use rampart_ratelimit::store::Algorithm;
    use rampart_ratelimit::{CounterStore, Op};

    let cluster = start_cluster();
    let s = store(&cluster);
    let hour = 3_600_000_000;
    let op = |key: &str| Op {
        key: key.into(),
        algorithm: Algorithm::Gcra {
            emission_us: hour,
            burst: 3,
        },
        cost: 1,
    };
    // A list where a counter is expected: that slot's script fails (WRONGTYPE).
    let status = Command::new("redis-cli")
        .args(["-c", "-p", &cluster.ports[0].to_string()])
        .args(["RPUSH", "rampart:rl:ip:{198.51.100.9}", "x"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    // Parts run in batch order: the route's slot is charged before the failure.
    let failing = vec![op("rl:route:{GET /a}"), op("rl:ip:{198.51.100.9}")];
    assert!(s.apply(0, failing).resolve().await.is_err(), "fails closed");
    // The failure opened the outage circuit: Redis is tried again after 1 s.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let out = s
        .apply(0, vec![op("rl:route:{GET /a}")])
        .resolve()
        .await
        .unwrap();
    assert_eq!(out[0].remaining, 2, "the failed batch was refunded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_lockout_reservations_are_refunded_in_every_slot() {
    let cluster = start_cluster();
    let config: RateLimitConfig = serde_json::from_value(json!({
        "lockout": { "max_failures": 2, "window": "5m", "lock_for": "15m" }
    }))
    .unwrap();
    let limiter = RateLimiter::new(
        config.compile("").unwrap(),
        Arc::new(store(&cluster)),
        Arc::new(SystemClock),
    );
    let lockout = limiter.lockout().unwrap();
    let ip: IpAddr = "203.0.113.7".parse().unwrap();
    // The IP's and the user's keys live in two slots; each attempt reserves
    // in both and a successful login refunds both.
    for _ in 0..6 {
        let Reserved::Held(r) = lockout.reserve(ip, Some("victim")).await.unwrap() else {
            panic!("a refunded login left an attempt behind");
        };
        lockout.refund(r).await.unwrap();
    }
    // Two in flight: a third waits, for the user from another IP too.
    let (Reserved::Held(first), Reserved::Held(second)) = (
        lockout.reserve(ip, Some("victim")).await.unwrap(),
        lockout.reserve(ip, Some("victim")).await.unwrap(),
    ) else {
        panic!("two attempts fit");
    };
    let other: IpAddr = "198.51.100.1".parse().unwrap();
    assert!(matches!(
        lockout.reserve(other, Some("victim")).await.unwrap(),
        Reserved::Refused(_)
    ));
    // Refused in the user's slot: the other IP's slot was given back.
    for user in ["a", "b"] {
        let Reserved::Held(r) = lockout.reserve(other, Some(user)).await.unwrap() else {
            panic!("the refused attempt charged its IP");
        };
        lockout.refund(r).await.unwrap();
    }
    lockout.confirm(first).await.unwrap();
    assert!(lockout.confirm(second).await.unwrap(), "two failures lock");
}
