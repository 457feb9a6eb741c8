//! The outage is visible in the metrics, per API: errors counted, `up` gauge at 0,
//! fallback batches counted; recovery sets `up` back to 1. Before its first round
//! trip a store reports no `up` at all. A separate test binary, because it installs
//! the process-wide metrics recorder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::collections::HashMap;
use std::time::Duration;

use harness::RedisServer;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use rampart_ratelimit::store::Algorithm;
use rampart_ratelimit::{CounterStore, Op};
use rampart_redis::{METRIC_ERRORS, METRIC_FALLBACK, METRIC_UP, RedisStore, RedisStoreConfig};

/// One API's metrics: errors, fallbacks, the up gauge (None: not reported).
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    errors: u64,
    fallbacks: u64,
    up: Option<f64>,
}

/// One snapshot (taking it resets the counters), by `api` label.
fn read(snapshotter: &Snapshotter) -> HashMap<String, Seen> {
    let mut out: HashMap<String, Seen> = HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let api = key
            .key()
            .labels()
            .find(|l| l.key() == "api")
            .map_or("<none>", |l| l.value())
            .to_owned();
        let seen = out.entry(api).or_default();
        match (key.key().name(), value) {
            (METRIC_ERRORS, DebugValue::Counter(n)) => seen.errors = n,
            (METRIC_FALLBACK, DebugValue::Counter(n)) => seen.fallbacks = n,
            (METRIC_UP, DebugValue::Gauge(g)) => seen.up = Some(g.into_inner()),
            _ => {}
        }
    }
    out
}

fn up(seen: &HashMap<String, Seen>, api: &str) -> Option<f64> {
    seen.get(api).and_then(|s| s.up)
}

#[tokio::test]
async fn outage_and_recovery_show_in_metrics_per_api() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let mut server = RedisServer::start();
    let mut config = RedisStoreConfig::standalone(server.url());
    config.retry_interval_ms = 20;
    // One store per API, as the gateway builds them.
    let shop = RedisStore::for_api(&config, "", "shop").unwrap();
    let books = RedisStore::for_api(&config, "", "books").unwrap();
    let op = || Op {
        key: "m:{x}".into(),
        algorithm: Algorithm::Gcra {
            emission_us: 1,
            burst: 1000,
        },
        cost: 1,
    };
    let seen = read(&snapshotter);
    assert_eq!(up(&seen, "shop"), None, "not up before any contact");
    assert_eq!(up(&seen, "<none>"), None, "no unlabelled gauge");

    shop.apply(0, vec![op()]).resolve().await.unwrap();
    let seen = read(&snapshotter);
    assert_eq!(up(&seen, "shop"), Some(1.0));
    assert_eq!(up(&seen, "books"), None);

    server.kill();
    for _ in 0..3 {
        shop.apply(0, vec![op()]).resolve().await.unwrap();
    }
    books.apply(0, vec![op()]).resolve().await.unwrap();
    let seen = read(&snapshotter);
    let s = seen["shop"];
    assert!(s.errors >= 1, "errors counted: {s:?}");
    assert!(s.fallbacks >= 3, "fallback batches counted: {s:?}");
    assert_eq!(s.up, Some(0.0));
    assert_eq!(up(&seen, "books"), Some(0.0));

    server.restart();
    for _ in 0..200 {
        shop.apply(0, vec![op()]).resolve().await.unwrap();
        if shop.is_up() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Each API's own state: books has not been retried yet.
    let seen = read(&snapshotter);
    assert_eq!(up(&seen, "shop"), Some(1.0));
    assert_eq!(up(&seen, "books"), Some(0.0));
}
