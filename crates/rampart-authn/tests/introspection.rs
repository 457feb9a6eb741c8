//! Opaque tokens through RFC 7662 introspection: answers, cache and negative cache.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{NOW, temp_file};
use rampart_authn::BoxFuture;
use rampart_authn::clock::ManualClock;
use rampart_authn::introspection::{
    Introspection, IntrospectionConfig, IntrospectionError, IntrospectionFetchError, Introspector,
};
use serde_json::{Value, json};

#[derive(Default)]
struct FakeServer {
    answers: Mutex<HashMap<String, Value>>,
    down: Mutex<bool>,
    calls: AtomicUsize,
}

impl FakeServer {
    fn answer(&self, token: &str, body: Value) {
        self.answers.lock().unwrap().insert(token.into(), body);
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Introspector for FakeServer {
    fn introspect<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, IntrospectionFetchError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let result = if *self.down.lock().unwrap() {
            Err(IntrospectionFetchError("timeout".into()))
        } else {
            let body = self
                .answers
                .lock()
                .unwrap()
                .get(token)
                .cloned()
                .unwrap_or(json!({"active": false}));
            Ok(serde_json::to_vec(&body).unwrap())
        };
        Box::pin(async move { result })
    }
}

fn setup(extra: Value) -> (Introspection, Arc<FakeServer>, Arc<ManualClock>) {
    let secret = temp_file("introspection-secret", b"s3cret");
    let mut cfg = json!({
        "endpoint": "https://idp.example/introspect", "client_id": "rampart",
        "client_secret": {"file": secret}, "issuer": "https://idp.example", "audiences": ["pets-api"],
        "cache_max_entries": 3
    });
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    let cfg: IntrospectionConfig = serde_json::from_value(cfg).unwrap();
    let settings = cfg.client_settings("authn.introspection").unwrap();
    assert!(!format!("{settings:?}").contains("s3cret"));
    let server = Arc::new(FakeServer::default());
    let clock = Arc::new(ManualClock::at_secs(NOW));
    let engine = cfg
        .build("authn.introspection", server.clone(), clock.clone())
        .unwrap();
    (engine, server, clock)
}

fn active(exp: u64) -> Value {
    json!({"active": true, "sub": "bob", "client_id": "app", "scope": "pets:read",
           "iss": "https://idp.example", "aud": "pets-api", "exp": exp, "jti": "op-1"})
}

#[tokio::test]
async fn active_token_passes_and_is_cached_until_exp() {
    let (engine, server, clock) = setup(json!({}));
    server.answer("tok-good", active(NOW + 60));
    let claims = engine.check("tok-good").await.unwrap();
    let id = engine.identity(&claims, "tok-good").unwrap();
    assert_eq!(
        (id.consumer.as_str(), id.method.as_str()),
        ("bob", "introspection")
    );
    assert_eq!(id.credential_id.as_deref(), Some("op-1"));
    assert_eq!(id.scopes, ["pets:read"]);
    engine.check("tok-good").await.unwrap();
    assert_eq!(server.calls(), 1, "second check from cache");
    // The cache never outlives exp: at exp the server is asked again (and says no).
    clock.set_secs(NOW + 60);
    server.answer("tok-good", json!({"active": false}));
    assert_eq!(
        engine.check("tok-good").await.unwrap_err(),
        IntrospectionError::Inactive
    );
    assert_eq!(server.calls(), 2);
}

#[tokio::test]
async fn a_consumer_prefix_names_the_consumer_in_the_providers_namespace() {
    let (engine, server, _clock) = setup(json!({"consumer_prefix": "opaque:"}));
    server.answer("tok-good", active(NOW + 60));
    let claims = engine.check("tok-good").await.unwrap();
    let id = engine.identity(&claims, "tok-good").unwrap();
    assert_eq!(id.consumer, "opaque:bob");
    assert_eq!(id.claims["sub"], "bob");
    // From the cache too.
    let claims = engine.check("tok-good").await.unwrap();
    assert_eq!(
        engine.identity(&claims, "tok-good").unwrap().consumer,
        "opaque:bob"
    );
    assert_eq!(server.calls(), 1);
}

#[test]
fn a_consumer_prefix_is_checked_and_named_by_its_field() {
    let secret = temp_file("introspection-secret-prefix", b"s3cret");
    let build = |prefix: &str| {
        let cfg: IntrospectionConfig = serde_json::from_value(json!({
            "endpoint": "https://idp.example/introspect", "client_id": "rampart",
            "client_secret": {"file": secret}, "audiences": ["pets-api"],
            "consumer_prefix": prefix,
        }))
        .unwrap();
        let clock = Arc::new(ManualClock::at_secs(NOW));
        cfg.build(
            "authn.introspection",
            Arc::new(FakeServer::default()),
            clock,
        )
    };
    for bad in ["", "opaque\u{0}", &"o".repeat(65), "opaque/", "opaque\\"] {
        let Err(err) = build(bad) else {
            panic!("{bad:?} accepted");
        };
        assert!(
            err.to_string()
                .starts_with("authn.introspection.consumer_prefix: "),
            "{err}"
        );
    }
    assert!(build("opaque:").is_ok());
}

#[tokio::test]
async fn cache_ttl_is_capped_by_config() {
    let (engine, server, clock) = setup(json!({"cache_max_ttl_seconds": 10}));
    server.answer("t", active(NOW + 3600));
    engine.check("t").await.unwrap();
    clock.advance(Duration::from_secs(9));
    engine.check("t").await.unwrap();
    assert_eq!(server.calls(), 1);
    clock.advance(Duration::from_secs(1));
    engine.check("t").await.unwrap();
    assert_eq!(server.calls(), 2);
}

#[test]
fn a_cache_ttl_past_an_hour_is_refused() {
    // A token revoked at the identity provider stays accepted from the cache
    // for up to this long.
    let secret = temp_file("introspection-secret-ttl", b"s3cret");
    let cfg = |ttl: u64| -> IntrospectionConfig {
        serde_json::from_value(json!({
            "endpoint": "https://idp.example/introspect", "client_id": "rampart",
            "client_secret": {"file": secret}, "cache_max_ttl_seconds": ttl,
            "audiences": ["pets-api"],
        }))
        .unwrap()
    };
    let server = Arc::new(FakeServer::default());
    let clock = Arc::new(ManualClock::at_secs(NOW));
    let Err(err) = cfg(31_536_000).build("authn.introspection", server.clone(), clock.clone())
    else {
        panic!("a year's cache must be refused");
    };
    assert!(
        err.to_string()
            .starts_with("authn.introspection.cache_max_ttl_seconds"),
        "{err}"
    );
    assert!(
        cfg(3600)
            .build("authn.introspection", server, clock)
            .is_ok()
    );
}

#[tokio::test]
async fn inactive_token_is_refused_and_negatively_cached_briefly() {
    let (engine, server, clock) = setup(json!({}));
    let err = engine.check("tok-bad").await.unwrap_err();
    assert_eq!(err, IntrospectionError::Inactive);
    assert_eq!(err.to_problem().kind.status, 401);
    engine.check("tok-bad").await.unwrap_err();
    assert_eq!(server.calls(), 1, "negative cache");
    clock.advance(Duration::from_secs(5));
    engine.check("tok-bad").await.unwrap_err();
    assert_eq!(server.calls(), 2, "negative cache is short");
}

#[tokio::test]
async fn suspicious_answers_are_refused() {
    let (engine, server, _) = setup(json!({}));
    let cases = [
        (
            "expired",
            json!({"active": true, "sub": "b", "exp": NOW, "aud": "pets-api"}),
            IntrospectionError::Expired,
        ),
        (
            "iss",
            json!({"active": true, "sub": "b", "iss": "https://evil", "aud": "pets-api"}),
            IntrospectionError::WrongIssuer,
        ),
        (
            "aud",
            json!({"active": true, "sub": "b", "aud": "other"}),
            IntrospectionError::WrongAudience,
        ),
        (
            "noaud",
            json!({"active": true, "sub": "b"}),
            IntrospectionError::WrongAudience,
        ),
        // A string audience is one value, not split at spaces like a scope.
        (
            "spaced-aud",
            json!({"active": true, "sub": "b", "aud": "https://other.example pets-api"}),
            IntrospectionError::WrongAudience,
        ),
        // Active, but a refresh token: not an access token.
        (
            "refresh-kc",
            json!({"active": true, "sub": "b", "aud": "pets-api", "typ": "Refresh"}),
            IntrospectionError::Inactive,
        ),
        (
            "refresh-hydra",
            json!({"active": true, "sub": "b", "aud": "pets-api", "token_use": "refresh_token"}),
            IntrospectionError::Inactive,
        ),
        (
            "nosub",
            json!({"active": true, "aud": "pets-api"}),
            IntrospectionError::NoConsumer,
        ),
        (
            "string-active",
            json!({"active": "true", "sub": "b", "aud": "pets-api"}),
            IntrospectionError::InvalidResponse,
        ),
        (
            "no-active",
            json!({"sub": "b", "aud": "pets-api"}),
            IntrospectionError::InvalidResponse,
        ),
        (
            "string-exp",
            json!({"active": true, "sub": "b", "aud": "pets-api", "exp": "9999999999"}),
            IntrospectionError::InvalidResponse,
        ),
        ("array", json!([1]), IntrospectionError::InvalidResponse),
        // With an issuer configured, an answer must state it.
        (
            "no-iss",
            json!({"active": true, "sub": "b", "aud": "pets-api"}),
            IntrospectionError::WrongIssuer,
        ),
        (
            "number-iss",
            json!({"active": true, "sub": "b", "aud": "pets-api", "iss": 5}),
            IntrospectionError::WrongIssuer,
        ),
    ];
    for (token, mut body, expected) in cases {
        // The right issuer, unless the case is about it.
        if let Some(body) = body.as_object_mut()
            && !token.ends_with("iss")
        {
            body.entry("iss").or_insert(json!("https://idp.example"));
        }
        server.answer(token, body);
        assert_eq!(engine.check(token).await.unwrap_err(), expected, "{token}");
    }
    // Legitimate: an audience list naming ours, an access token said to be one.
    server.answer(
        "listed",
        json!({"active": true, "sub": "b", "aud": ["other", "pets-api"], "token_type": "access_token",
               "iss": "https://idp.example"}),
    );
    engine.check("listed").await.unwrap();
}

#[tokio::test]
async fn audiences_are_required_unless_any_audience_is_chosen() {
    let secret = temp_file("introspection-secret-aud", b"s3cret");
    let build = |extra: Value| {
        let mut cfg = json!({
            "endpoint": "https://idp.example/introspect", "client_id": "rampart",
            "client_secret": {"file": secret},
        });
        for (k, v) in extra.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        let cfg: IntrospectionConfig = serde_json::from_value(cfg).unwrap();
        let server = Arc::new(FakeServer::default());
        let clock = Arc::new(ManualClock::at_secs(NOW));
        cfg.build("authn.introspection", server.clone(), clock)
            .map(|engine| (engine, server))
    };
    // The old default accepted tokens minted for any API of the realm.
    for (extra, field) in [
        (json!({}), "authn.introspection.audiences"),
        (json!({"audiences": []}), "authn.introspection.audiences"),
        (json!({"audiences": [""]}), "authn.introspection.audiences"),
        (
            json!({"any_audience": false}),
            "authn.introspection.audiences",
        ),
        (
            json!({"any_audience": true, "audiences": ["pets-api"]}),
            "authn.introspection.any_audience",
        ),
        (
            json!({"audiences": ["pets-api"], "issuer": ""}),
            "authn.introspection.issuer",
        ),
    ] {
        let Err(err) = build(extra.clone()) else {
            panic!("{extra} accepted");
        };
        assert!(err.to_string().starts_with(field), "{extra}: {err}");
    }
    // The explicit opt-out accepts any audience (and none).
    let (engine, server) = build(json!({"any_audience": true})).unwrap();
    server.answer(
        "other",
        json!({"active": true, "sub": "b", "aud": "other-api"}),
    );
    server.answer("none", json!({"active": true, "sub": "b"}));
    engine.check("other").await.unwrap();
    engine.check("none").await.unwrap();
}

#[tokio::test]
async fn endpoint_down_fails_closed_and_is_not_cached() {
    let (engine, server, _) = setup(json!({}));
    server.answer("t", active(NOW + 60));
    *server.down.lock().unwrap() = true;
    let err = engine.check("t").await.unwrap_err();
    assert_eq!(err, IntrospectionError::Unavailable);
    assert_eq!(err.to_problem().kind.status, 503);
    *server.down.lock().unwrap() = false;
    engine.check("t").await.unwrap();
}

#[tokio::test]
async fn malformed_tokens_never_reach_the_endpoint_and_the_cache_is_bounded() {
    let (engine, server, _) = setup(json!({}));
    for bad in ["", "has space", &"x".repeat(4097), "tab\t"] {
        assert_eq!(
            engine.check(bad).await.unwrap_err(),
            IntrospectionError::Malformed
        );
    }
    assert_eq!(server.calls(), 0);
    for i in 0..10 {
        let token = format!("t{i}");
        server.answer(&token, active(NOW + 60));
        engine.check(&token).await.unwrap();
    }
    assert!(engine.cached_entries() <= 3);
}

#[tokio::test]
async fn random_refused_tokens_do_not_push_active_ones_out_of_the_cache() {
    // A cache of 3: three callers with active tokens, then a flood of random
    // tokens the identity provider refuses. The callers stay cached (no
    // second call for them); the refusals take at most their own quarter.
    let (engine, server, _) = setup(json!({}));
    for caller in ["a1", "a2", "a3"] {
        server.answer(caller, active(NOW + 600));
        engine.check(caller).await.unwrap();
    }
    for i in 0..50 {
        let random = format!("random{i}");
        assert_eq!(
            engine.check(&random).await.unwrap_err(),
            IntrospectionError::Inactive
        );
    }
    let calls = server.calls();
    for caller in ["a1", "a2", "a3"] {
        engine.check(caller).await.unwrap();
    }
    assert_eq!(server.calls(), calls, "an active caller was evicted");
    assert!(engine.cached_entries() <= 4);
}

#[tokio::test]
async fn a_token_refused_after_it_was_active_is_refused_from_the_cache() {
    // Active, cached until its exp; then refused: the refusal is cached and
    // read (the stale active entry used to shadow it: one identity-provider
    // call per request with that token).
    let (engine, server, clock) = setup(json!({"negative_cache_seconds": 30}));
    server.answer("tok", active(NOW + 10));
    engine.check("tok").await.unwrap();
    clock.set_secs(NOW + 10);
    server.answer("tok", json!({"active": false}));
    for _ in 0..3 {
        assert_eq!(
            engine.check("tok").await.unwrap_err(),
            IntrospectionError::Inactive
        );
    }
    assert_eq!(server.calls(), 2);
}

#[test]
fn config_refuses_plain_http_endpoints() {
    let secret = temp_file("introspection-secret2", b"x");
    let settings = |endpoint: &str| {
        let cfg: IntrospectionConfig = serde_json::from_value(json!({
            "endpoint": endpoint, "client_id": "r", "client_secret": {"file": secret}
        }))
        .unwrap();
        cfg.client_settings("authn.introspection")
    };
    // Plain http elsewhere than loopback, and loopback look-alikes (the host is
    // parsed, not prefix-matched).
    for endpoint in [
        "http://idp.example/introspect",
        "http://127.0.0.1.evil.test/introspect",
        "http://localhost.evil.test/introspect",
        "http://localhost@evil.test/introspect",
        // A name, resolved only when called: not known to be loopback.
        "http://localhost/introspect",
        "ftp://idp.example/introspect",
    ] {
        let err = settings(endpoint).unwrap_err().to_string();
        assert!(err.starts_with("authn.introspection.endpoint"), "{err}");
    }
    for endpoint in [
        "https://idp.example/introspect",
        "http://127.0.0.1:9000/introspect",
        "http://[::1]:9000/introspect",
    ] {
        assert!(settings(endpoint).is_ok(), "{endpoint}");
    }
}
