//! An introspection answer without `iss` while `issuer` is set is refused, and
//! the first such refusal says why in the log (RFC 7662 makes `iss` optional).
//! Its own test binary: the warning is once per process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{Captured, NOW, temp_file};
use rampart_authn::BoxFuture;
use rampart_authn::clock::ManualClock;
use rampart_authn::introspection::{
    IntrospectionConfig, IntrospectionError, IntrospectionFetchError, Introspector,
};
use serde_json::json;

/// Answers every token active, for the right audience, without `iss`.
struct NoIss;

impl Introspector for NoIss {
    fn introspect<'a>(
        &'a self,
        _token: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, IntrospectionFetchError>> {
        let body = json!({"active": true, "sub": "b", "aud": "pets-api"});
        Box::pin(async move { Ok(serde_json::to_vec(&body).unwrap()) })
    }
}

#[test]
fn a_refusal_for_a_missing_iss_is_logged_once() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let secret = temp_file("introspection-iss-secret", b"s3cret");
        let cfg: IntrospectionConfig = serde_json::from_value(json!({
            "endpoint": "https://idp.example/introspect", "client_id": "rampart",
            "client_secret": {"file": secret}, "issuer": "https://idp.example",
            "audiences": ["pets-api"], "negative_cache_seconds": 0
        }))
        .unwrap();
        let engine = cfg
            .build(
                "authn.introspection",
                Arc::new(NoIss),
                Arc::new(ManualClock::at_secs(NOW)),
            )
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for token in ["tok-1", "tok-2", "tok-3"] {
            let error = runtime.block_on(engine.check(token)).unwrap_err();
            assert!(
                matches!(error, IntrospectionError::WrongIssuer),
                "{error:?}"
            );
        }
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(log.matches("states no `iss`").count(), 1, "{log}");
    assert!(log.contains("remove `issuer`"), "{log}");
}
