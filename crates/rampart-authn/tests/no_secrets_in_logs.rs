//! Credentials never reach a log line: the stage logs refusals (with a reason
//! code) and the JWKS cache logs fetch failures, but neither a token, an API key
//! nor a secret ever appears, whatever the outcome.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use common::*;
use http::{HeaderValue, Method};
use rampart_authn::apikey::{ApiKeys, KeyStore, MemoryKeyStore, NewKey};
use rampart_authn::clock::ManualClock;
use rampart_authn::revocation::RevocationList;
use rampart_authn::secret::Secret;
use rampart_authn::{AuthnConfig, AuthnDeps};
use rampart_core::{RequestCx, Stage};
use serde_json::json;

fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("not ready"),
    }
}

#[test]
fn tokens_and_keys_never_reach_the_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let es = TestKey::es256("es-1");
        let jwks = FakeJwks::new(common::jwks(&[&es]));
        let clock = Arc::new(ManualClock::at_secs(NOW));
        let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
        let pepper = [5u8; 32];
        let keys =
            ApiKeys::new(store.clone(), &Secret::new(pepper.to_vec()), clock.clone()).unwrap();
        let key = ready(keys.create(&NewKey {
            consumer: "acme".into(),
            ..NewKey::default()
        }))
        .unwrap();
        let key = String::from_utf8(key.key.expose().to_vec()).unwrap();
        let deps = AuthnDeps {
            clock: clock.clone(),
            jwks_sources: Arc::new(Sources(jwks.clone())),
            key_store: Some(store),
            introspector: None,
            revocations: Arc::new(RevocationList::new(clock, 10, 0)),
        };
        let cfg: AuthnConfig = serde_json::from_value(json!({
            "api_key": {"pepper": {"file": temp_file("log-pepper", &pepper)}},
            "jwt": {"issuers": [{"issuer": ISS, "audiences": [AUD], "algorithms": ["ES256"],
                                 "jwks_url": "https://idp.example/jwks"}]}
        }))
        .unwrap();
        let stage = cfg.build("authn", &deps).unwrap();
        let good = es.sign(&claims());
        let expired = es.sign(&json!({"iss": ISS, "aud": AUD, "sub": "a", "exp": NOW - 999}));
        let forged_key = format!("{}X", &key[..key.len() - 1]);
        let mut secrets = vec![
            good.clone(),
            expired.clone(),
            key.clone(),
            forged_key.clone(),
        ];
        for (header, value) in [
            ("authorization", format!("Bearer {good}")),
            ("authorization", format!("Bearer {expired}")),
            (
                "authorization",
                "Bearer not.a.jwt-secret-garbage".to_string(),
            ),
            ("x-api-key", key.clone()),
            ("x-api-key", forged_key.clone()),
        ] {
            let mut cx = RequestCx::new(
                "req".into(),
                "10.0.0.1:1".parse().unwrap(),
                Method::GET,
                "/".into(),
            );
            cx.headers
                .insert(header, HeaderValue::from_str(&value).unwrap());
            ready(stage.on_request(&mut cx).resolve());
        }
        // A JWKS failure is logged too.
        jwks.fail(true);
        for cache in stage.jwks_caches() {
            clock_advance(&cache);
        }
        secrets.push("jwt-secret-garbage".into());
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            log.contains("jwt-expired"),
            "refusals are logged with their reason: {log}"
        );
        assert!(log.contains("apikey-mismatch"), "{log}");
        for secret in &secrets {
            // Signatures and key secrets are the sensitive parts; check them and the whole.
            let tail = &secret[secret.len().saturating_sub(20)..];
            assert!(!log.contains(tail), "secret material in log: {tail}");
        }
    });
}

fn clock_advance(cache: &rampart_authn::jwt::JwksCache) {
    // The refresh may be rate limited; either way nothing secret is logged.
    ready(cache.refresh());
}
