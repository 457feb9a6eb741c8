//! Identity and authorization together, per request, as the gateway runs them:
//! the authentication stage (JWT with cached JWKS keys: RS256, ES256, EdDSA;
//! with and without the verified-token cache; an API key) then the
//! authorization stage (operation rules, ownership, Cedar policies).
//!
//! Run: `cargo bench -p rampart-adapters --bench identity_authz` (criterion), or
//! `RAMPART_BENCH_P50=1 cargo bench -p rampart-adapters --bench identity_authz`
//! for per-call p50/p90/p99 wall times (200 000 calls each; on a shared
//! machine the tail includes other processes' time slices).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../../rampart-authn/tests/common/mod.rs"]
mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use common::*;
use criterion::{Criterion, criterion_group};
use http::{HeaderValue, Method};
use rampart_authn::apikey::{ApiKeys, KeyStore, MemoryKeyStore, NewKey};
use rampart_authn::clock::ManualClock;
use rampart_authn::revocation::RevocationList;
use rampart_authn::secret::Secret;
use rampart_authn::{AuthnConfig, AuthnDeps, AuthnStage};
use rampart_authz::{AuthzConfig, AuthzStage};
use rampart_core::{RequestCx, Stage, Verdict};
use serde_json::json;

const POLICIES: &str = r#"
@id("office")
permit(principal, action, resource) when { context.ip.isInRange(ip("10.0.0.0/8")) };
@id("tenant-isolation")
forbid(principal, action, resource)
when { resource.params has tenant && !(principal.claims has tenant && principal.claims.tenant == resource.params.tenant) };
"#;
const ROUTE: &str = "GET /tenants/{tenant}/users/{username}";
const KEY_ROUTE: &str = "GET /users/{username}";

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

struct Setup {
    authn: AuthnStage,
    authz: AuthzStage,
    creds: Vec<(&'static str, String)>,
}

fn setup(verified_cache: bool) -> Setup {
    let es = TestKey::es256("es-1");
    let ed = TestKey::ed25519("ed-1");
    let rsa = TestKey::rsa_a("rsa-1");
    let jwks = FakeJwks::new(common::jwks(&[&es, &ed, &rsa]));
    let clock = Arc::new(ManualClock::at_secs(NOW));
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    let pepper = [3u8; 32];
    let keys = ApiKeys::new(store.clone(), &Secret::new(pepper.to_vec()), clock.clone()).unwrap();
    let key = ready(keys.create(&NewKey {
        consumer: "alice".into(),
        scopes: vec!["users:read".into()],
        roles: vec!["user".into()],
        ..NewKey::default()
    }))
    .unwrap();
    let deps = AuthnDeps {
        clock: clock.clone(),
        jwks_sources: Arc::new(Sources(jwks)),
        key_store: Some(store),
        introspector: None,
        revocations: Arc::new(RevocationList::new(clock.clone(), 100_000, 120)),
    };
    let authn: AuthnConfig = serde_json::from_value(json!({
        "api_key": {"pepper": {"file": temp_file("bench-pepper", &pepper)}},
        "jwt": {"issuers": [{"issuer": ISS, "audiences": [AUD], "algorithms": ["RS256", "ES256", "EdDSA"],
                             "jwks_url": "https://idp.example/jwks"}],
                "verified_cache_entries": if verified_cache { 10_000 } else { 0 }},
        "forward": {"consumer": "x-rampart-consumer"}
    }))
    .unwrap();
    let policies = temp_file("bench-policies.cedar", POLICIES.as_bytes());
    let authz: AuthzConfig = serde_json::from_value(json!({
        "operations": {
            ROUTE: {
                "scopes": ["users:read"], "roles": ["user", "admin"],
                "owner": {"param": "username", "claim": "sub", "unless_roles": ["admin"]}
            },
            KEY_ROUTE: {
                "scopes": ["users:read"], "roles": ["user", "admin"],
                "owner": {"param": "username", "claim": "sub", "unless_roles": ["admin"]}
            }
        },
        "cedar": {"policies": [policies]}
    }))
    .unwrap();
    let mut claims = claims();
    claims["sub"] = json!("alice");
    claims["tenant"] = json!("acme");
    claims["scope"] = json!("users:read");
    claims["roles"] = json!(["user"]);
    let mut creds = vec![
        ("jwt_rs256", format!("Bearer {}", rsa.sign(&claims))),
        ("jwt_es256", format!("Bearer {}", es.sign(&claims))),
        ("jwt_eddsa", format!("Bearer {}", ed.sign(&claims))),
    ];
    if !verified_cache {
        // A key caller has no `tenant` claim: the tenant-isolation forbid
        // refuses it (as it should), so its case is measured on a tenant-less
        // route below.
        creds.push((
            "api_key",
            String::from_utf8(key.key.expose().to_vec()).unwrap(),
        ));
    }
    Setup {
        authn: authn.build("authn", &deps).unwrap(),
        authz: authz
            .build("authz", Arc::new(ManualClock::at_secs(NOW)))
            .unwrap(),
        creds,
    }
}

fn request(name: &str, value: &str) -> RequestCx {
    let (route, path) = if name == "api_key" {
        (KEY_ROUTE, "/users/alice")
    } else {
        (ROUTE, "/tenants/acme/users/alice")
    };
    let mut cx = RequestCx::new(
        "r".into(),
        "10.0.0.1:1000".parse().unwrap(),
        Method::GET,
        path.into(),
    );
    cx.route = Some(route.into());
    let header = if name == "api_key" {
        "x-api-key"
    } else {
        "authorization"
    };
    cx.headers
        .insert(header, HeaderValue::from_str(value).unwrap());
    cx
}

/// One request through both stages; true when it passes.
fn both(s: &Setup, name: &str, value: &str) -> bool {
    let mut cx = request(name, value);
    ready(s.authn.on_request(&mut cx).resolve()) == Verdict::Continue
        && ready(s.authz.on_request(&mut cx).resolve()) == Verdict::Continue
}

fn cases() -> Vec<(&'static str, Setup)> {
    vec![
        ("identity_authz_token_cached", setup(true)),
        ("identity_authz_full_verify", setup(false)),
    ]
}

fn bench(c: &mut Criterion) {
    for (group_name, s) in cases() {
        let mut group = c.benchmark_group(group_name);
        for (name, value) in &s.creds {
            assert!(both(&s, name, value), "{name}");
            group.bench_function(*name, |b| {
                b.iter(|| std::hint::black_box(both(&s, name, value)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);

fn p50_main() {
    const CALLS: usize = 200_000;
    for (group_name, s) in cases() {
        for (name, value) in &s.creds {
            assert!(both(&s, name, value), "{name}");
            for _ in 0..2_000 {
                both(&s, name, value);
            }
            let mut times = Vec::with_capacity(CALLS);
            for _ in 0..CALLS {
                let start = Instant::now();
                std::hint::black_box(both(&s, name, value));
                times.push(start.elapsed().as_nanos() as u64);
            }
            times.sort_unstable();
            let at = |q: f64| times[((CALLS as f64 * q) as usize).min(CALLS - 1)] as f64 / 1_000.0;
            println!(
                "{:<44} p50 {:>7.2} µs  p90 {:>7.2} µs  p99 {:>7.2} µs",
                format!("{group_name}/{name}"),
                at(0.50),
                at(0.90),
                at(0.99)
            );
        }
    }
}

fn main() {
    if std::env::var_os("RAMPART_BENCH_P50").is_some() {
        p50_main();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
