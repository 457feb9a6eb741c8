//! Cost of the authentication stage per request with cached keys: a JWT of each
//! public-key algorithm (RS256, ES256, EdDSA) and an API key, through the full
//! `AuthnStage::on_request` (header stripping, verification, identity, forwarding);
//! then the JWTs again with the verified-token cache on (a client reusing its token).
//!
//! Run: `cargo bench -p rampart-authn --bench authn` (criterion, wall time), or
//! `RAMPART_BENCH_ON_CPU=1 cargo bench -p rampart-authn --bench authn` (mean on-CPU time).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use common::*;
use criterion::{Criterion, criterion_group};
use http::{HeaderValue, Method};
use rampart_authn::apikey::{ApiKeys, KeyStore, MemoryKeyStore, NewKey};
use rampart_authn::clock::ManualClock;
use rampart_authn::revocation::RevocationList;
use rampart_authn::secret::Secret;
use rampart_authn::{AuthnConfig, AuthnDeps, AuthnStage};
use rampart_core::{RequestCx, Stage, Verdict};
use serde_json::json;

/// Every engine future here completes without waiting once keys are cached.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("future was not ready"),
    }
}

fn setup(verified_cache: bool) -> (AuthnStage, Vec<(&'static str, String)>) {
    let es = TestKey::es256("es-1");
    let ed = TestKey::ed25519("ed-1");
    let rsa = TestKey::rsa_a("rsa-1");
    let jwks = FakeJwks::new(common::jwks(&[&es, &ed, &rsa]));
    let clock = Arc::new(ManualClock::at_secs(NOW));
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    let pepper = [3u8; 32];
    let keys = ApiKeys::new(store.clone(), &Secret::new(pepper.to_vec()), clock.clone()).unwrap();
    let key = ready(keys.create(&NewKey {
        consumer: "acme".into(),
        ..NewKey::default()
    }))
    .unwrap();
    let deps = AuthnDeps {
        clock: clock.clone(),
        jwks_sources: Arc::new(Sources(jwks)),
        key_store: Some(store),
        introspector: None,
        revocations: Arc::new(RevocationList::new(clock, 100_000, 120)),
    };
    let cfg: AuthnConfig = serde_json::from_value(json!({
        "api_key": {"pepper": {"file": temp_file("bench-pepper", &pepper)}},
        "jwt": {"issuers": [{"issuer": ISS, "audiences": [AUD], "algorithms": ["RS256", "ES256", "EdDSA"],
                             "jwks_url": "https://idp.example/jwks"}],
                "verified_cache_entries": if verified_cache { 10_000 } else { 0 }},
        "forward": {"consumer": "x-rampart-consumer"}
    }))
    .unwrap();
    let stage = cfg.build("authn", &deps).unwrap();
    let creds = vec![
        ("jwt_rs256", format!("Bearer {}", rsa.sign(&claims()))),
        ("jwt_es256", format!("Bearer {}", es.sign(&claims()))),
        ("jwt_eddsa", format!("Bearer {}", ed.sign(&claims()))),
        (
            "api_key",
            String::from_utf8(key.key.expose().to_vec()).unwrap(),
        ),
    ];
    (stage, creds)
}

fn request(name: &str, value: &str) -> RequestCx {
    let mut cx = RequestCx::new(
        "r".into(),
        "10.0.0.1:1000".parse().unwrap(),
        Method::GET,
        "/pets/1".into(),
    );
    let header = if name == "api_key" {
        "x-api-key"
    } else {
        "authorization"
    };
    cx.headers
        .insert(header, HeaderValue::from_str(value).unwrap());
    cx
}

fn bench(c: &mut Criterion) {
    for (group_name, verified_cache) in [("authn_stage", false), ("authn_stage_token_cached", true)]
    {
        let (stage, creds) = setup(verified_cache);
        // Warm the JWKS cache (one fetch), and check every credential passes.
        for (name, value) in &creds {
            let mut cx = request(name, value);
            assert_eq!(
                ready(stage.on_request(&mut cx).resolve()),
                Verdict::Continue,
                "{name}"
            );
        }
        let mut group = c.benchmark_group(group_name);
        for (name, value) in creds
            .iter()
            .filter(|(n, _)| !verified_cache || n.starts_with("jwt"))
        {
            group.bench_function(*name, |b| {
                b.iter(|| {
                    let mut cx = request(name, value);
                    let verdict = ready(stage.on_request(&mut cx).resolve());
                    std::hint::black_box((verdict, cx.identity))
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);

/// `RAMPART_BENCH_ON_CPU=1` prints mean on-CPU time per call instead of running
/// criterion.
fn main() {
    if std::env::var_os("RAMPART_BENCH_ON_CPU").is_some() {
        on_cpu_main();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

/// On-CPU nanoseconds of this thread (Linux `schedstat`; 0 elsewhere).
fn on_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Mean on-CPU and wall time per call over ~2 s: on a shared machine the
/// on-CPU figure leaves out the time other processes held the core.
fn on_cpu_report(name: &str, mut f: impl FnMut()) {
    for _ in 0..1_000 {
        f();
    }
    let (cpu0, wall0) = (on_cpu_ns(), std::time::Instant::now());
    let mut n: u64 = 0;
    while wall0.elapsed() < std::time::Duration::from_secs(2) {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    let cpu = on_cpu_ns().saturating_sub(cpu0) as f64 / n as f64 / 1_000.0;
    let wall = wall0.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("{name:<28} {cpu:>8.2} µs on-CPU  {wall:>8.2} µs wall  ({n} calls)");
}

fn on_cpu_main() {
    for (group_name, verified_cache) in [("authn_stage", false), ("authn_stage_token_cached", true)]
    {
        let (stage, creds) = setup(verified_cache);
        for (name, value) in creds
            .iter()
            .filter(|(n, _)| !verified_cache || n.starts_with("jwt"))
        {
            on_cpu_report(&format!("{group_name}/{name}"), || {
                let mut cx = request(name, value);
                let verdict = ready(stage.on_request(&mut cx).resolve());
                assert_eq!(verdict, Verdict::Continue);
                std::hint::black_box(cx.identity);
            });
        }
    }
}
