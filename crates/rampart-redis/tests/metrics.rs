//! The outage is visible in the metrics: errors counted, `up` gauge at 0, fallback
//! batches counted; recovery sets `up` back to 1. A separate test binary, because it
//! installs the process-wide metrics recorder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::time::Duration;

use harness::RedisServer;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use rampart_ratelimit::store::Algorithm;
use rampart_ratelimit::{CounterStore, Op};
use rampart_redis::{METRIC_ERRORS, METRIC_FALLBACK, METRIC_UP, RedisStore, RedisStoreConfig};

/// One snapshot (taking it resets the counters): (errors, fallbacks, up gauge).
fn read(snapshotter: &Snapshotter) -> (u64, u64, f64) {
    let (mut errors, mut fallbacks, mut up) = (0, 0, f64::NAN);
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        match (key.key().name(), value) {
            (METRIC_ERRORS, DebugValue::Counter(n)) => errors = n,
            (METRIC_FALLBACK, DebugValue::Counter(n)) => fallbacks = n,
            (METRIC_UP, DebugValue::Gauge(g)) => up = g.into_inner(),
            _ => {}
        }
    }
    (errors, fallbacks, up)
}

#[tokio::test]
async fn outage_and_recovery_show_in_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let mut server = RedisServer::start();
    let mut config = RedisStoreConfig::standalone(server.url());
    config.retry_interval_ms = 20;
    let store = RedisStore::new(&config, "").unwrap();
    let op = || Op {
        key: "m:{x}".into(),
        algorithm: Algorithm::Gcra {
            emission_us: 1,
            burst: 1000,
        },
        cost: 1,
    };
    store.apply(0, vec![op()]).resolve().await.unwrap();
    assert_eq!(read(&snapshotter).2, 1.0);

    server.kill();
    for _ in 0..3 {
        store.apply(0, vec![op()]).resolve().await.unwrap();
    }
    let (errors, fallbacks, up) = read(&snapshotter);
    assert!(errors >= 1, "errors counted: {errors}");
    assert!(fallbacks >= 3, "fallback batches counted: {fallbacks}");
    assert_eq!(up, 0.0);

    server.restart();
    for _ in 0..200 {
        store.apply(0, vec![op()]).resolve().await.unwrap();
        if store.is_up() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(read(&snapshotter).2, 1.0);
}
