//! Cost of verifying an API key per request: the engine over the SQLite store
//! (one indexed lookup per request), behind the gateway's read-through cache,
//! and over the in-memory store.
//! `cargo bench -p rampart-adapters --bench keystore`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_adapters::SqliteKeyStore;
use rampart_adapters::keystore::CachedKeyStore;
use rampart_authn::apikey::{ApiKeys, KeyStore, MemoryKeyStore, NewKey};
use rampart_authn::clock::SystemClock;
use rampart_authn::secret::Secret;

fn engine(store: Arc<dyn KeyStore>) -> ApiKeys {
    ApiKeys::new(store, &Secret::new(vec![b'p'; 32]), Arc::new(SystemClock)).unwrap()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("rampart-adapters-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keys.db");
    let _ = std::fs::remove_file(&path);
    let (sqlite, cached, memory, sqlite_key, memory_key) = runtime.block_on(async {
        let store = Arc::new(
            SqliteKeyStore::open(&path, Duration::from_secs(5), "bench")
                .await
                .unwrap(),
        );
        let sqlite = engine(store.clone());
        // What `Adapters` gives the engine (default 1 s TTL).
        let cached = engine(Arc::new(CachedKeyStore::new(
            store,
            Duration::from_secs(1),
            100_000,
        )));
        let memory = engine(Arc::new(MemoryKeyStore::new()));
        let spec = NewKey {
            consumer: "alice".into(),
            scopes: vec!["pets:read".into()],
            ..NewKey::default()
        };
        // A realistic table: the looked-up key among a thousand others.
        for _ in 0..1_000 {
            sqlite.create(&spec).await.unwrap();
        }
        let sqlite_key = sqlite.create(&spec).await.unwrap().key;
        let memory_key = memory.create(&spec).await.unwrap().key;
        (sqlite, cached, memory, sqlite_key, memory_key)
    });
    let sqlite_key = String::from_utf8(sqlite_key.expose().to_vec()).unwrap();
    let memory_key = String::from_utf8(memory_key.expose().to_vec()).unwrap();

    let mut group = c.benchmark_group("apikey_verify");
    group.bench_function("sqlite", |b| {
        b.to_async(&runtime)
            .iter(|| async { sqlite.verify(&sqlite_key).await.unwrap() })
    });
    group.bench_function("sqlite_cached", |b| {
        b.to_async(&runtime)
            .iter(|| async { cached.verify(&sqlite_key).await.unwrap() })
    });
    group.bench_function("memory", |b| {
        b.to_async(&runtime)
            .iter(|| async { memory.verify(&memory_key).await.unwrap() })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
