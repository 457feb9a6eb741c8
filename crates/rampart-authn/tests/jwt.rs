//! JWT verification: every refusal from the issue with its test token, and the
//! legitimate tokens that must pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey};
use rampart_authn::clock::{Clock, ManualClock};
use rampart_authn::jwt::{JwtConfig, JwtError, JwtVerifier};
use serde_json::{Value, json};

struct Setup {
    verifier: JwtVerifier,
    jwks: Arc<FakeJwks>,
    clock: Arc<ManualClock>,
    es: TestKey,
    ed: TestKey,
    rsa: TestKey,
}

fn config(extra: Value) -> JwtConfig {
    let mut issuer = json!({
        "issuer": ISS, "audiences": [AUD],
        "algorithms": ["RS256", "PS256", "ES256", "EdDSA"],
        "jwks_url": "https://idp.example/jwks.json",
        "max_token_age_seconds": 3600
    });
    for (k, v) in extra.as_object().unwrap() {
        issuer[k] = v.clone();
    }
    serde_json::from_value(json!({"issuers": [issuer]})).unwrap()
}

fn setup_with(extra: Value) -> Setup {
    let es = TestKey::es256("es-1");
    let ed = TestKey::ed25519("ed-1");
    let rsa = TestKey::rsa_a("rsa-1");
    let jwks = FakeJwks::new(common::jwks(&[&es, &ed, &rsa]));
    let clock = Arc::new(ManualClock::at_secs(NOW));
    let verifier = config(extra)
        .build("authn.jwt", clock.clone(), &Sources(jwks.clone()))
        .unwrap();
    Setup {
        verifier,
        jwks,
        clock,
        es,
        ed,
        rsa,
    }
}

fn setup() -> Setup {
    setup_with(json!({}))
}

fn patched(changes: Value) -> Value {
    let mut c = claims();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

#[tokio::test]
async fn legitimate_tokens_of_every_allowed_algorithm_pass() {
    let s = setup();
    let ps = TestKey::rsa("rsa-1", Algorithm::PS256, include_bytes!("data/rsa_a.pem"));
    for key in [&s.es, &s.ed, &s.rsa, &ps] {
        let verified = s.verifier.verify(&key.sign(&claims())).await.unwrap();
        assert_eq!(verified.alg, key.alg);
        let identity = s.verifier.identity(verified).unwrap();
        assert_eq!(identity.consumer, "alice");
        assert_eq!(identity.method, "jwt");
        assert_eq!(identity.credential_id.as_deref(), Some("tok-1"));
        assert_eq!(identity.scopes, ["pets:read", "pets:write"]);
        assert_eq!(identity.roles, ["user"]);
    }
    // One fetch served all of them.
    assert_eq!(s.jwks.fetches(), 1);
}

#[tokio::test]
async fn alg_none_is_refused() {
    let s = setup();
    let header = json!({"alg": "none", "typ": "JWT"});
    assert_eq!(
        s.verifier
            .verify(&unsigned(&header, &claims(), ""))
            .await
            .unwrap_err(),
        JwtError::Malformed
    );
    assert_eq!(
        s.verifier
            .verify(&unsigned(&header, &claims(), "AAAA"))
            .await
            .unwrap_err(),
        JwtError::AlgNone
    );
}

#[tokio::test]
async fn algorithm_outside_the_allowlist_is_refused() {
    let s = setup_with(json!({"algorithms": ["ES256"]}));
    assert_eq!(
        s.verifier.verify(&s.rsa.sign(&claims())).await.unwrap_err(),
        JwtError::AlgNotAllowed
    );
    assert_eq!(
        s.verifier.verify(&s.ed.sign(&claims())).await.unwrap_err(),
        JwtError::AlgNotAllowed
    );
    s.verifier.verify(&s.es.sign(&claims())).await.unwrap();
}

#[tokio::test]
async fn rs_hs_confusion_with_the_rsa_public_key_as_hmac_secret_is_refused() {
    let s = setup();
    let public_pem = include_bytes!("data/rsa_a.pub.pem");
    let token = sign_raw(
        &json!({"alg": "HS256", "kid": "rsa-1"}),
        &claims(),
        &EncodingKey::from_secret(public_pem),
        Algorithm::HS256,
    );
    assert_eq!(
        s.verifier.verify(&token).await.unwrap_err(),
        JwtError::AlgNotAllowed
    );

    // Defence in depth: even an issuer wrongly allowing HS256 next to RS256 cannot
    // use the RSA key as an HMAC secret (config refuses the mix; the key refuses too).
    let mut issuers = s.verifier.issuers().to_vec();
    issuers[0].algorithms.push(Algorithm::HS256);
    let lax = JwtVerifier::new(issuers, 8192, s.clock.clone());
    assert_eq!(lax.verify(&token).await.unwrap_err(), JwtError::UnknownKid);
}

#[tokio::test]
async fn key_injecting_headers_are_refused_even_with_a_valid_signature() {
    let s = setup();
    let attacker = TestKey::es256("es-1");
    let cases = [
        ("jku", json!({"jku": "https://evil.example/jwks.json"})),
        ("x5u", json!({"x5u": "https://evil.example/cert.pem"})),
        ("jwk", json!({"jwk": attacker.jwk.clone()})),
        ("x5c", json!({"x5c": ["MIIB"]})),
        ("crit", json!({"crit": ["b64"], "b64": false})),
    ];
    for (name, header) in cases {
        for key in [&attacker, &s.es] {
            let token = key.sign_with_header(header.clone(), &claims());
            assert_eq!(
                s.verifier.verify(&token).await.unwrap_err(),
                JwtError::ForbiddenHeader(name)
            );
        }
    }
}

#[tokio::test]
async fn unknown_kid_is_refused_after_one_rate_limited_refetch() {
    let s = setup();
    s.verifier.verify(&s.es.sign(&claims())).await.unwrap();
    assert_eq!(s.jwks.fetches(), 1);
    let stranger = TestKey::es256("nobody");
    assert_eq!(
        s.verifier
            .verify(&stranger.sign(&claims()))
            .await
            .unwrap_err(),
        JwtError::UnknownKid
    );
    assert_eq!(s.jwks.fetches(), 1, "within the refetch interval: no fetch");
    s.clock.advance(Duration::from_secs(30));
    assert_eq!(
        s.verifier
            .verify(&stranger.sign(&claims()))
            .await
            .unwrap_err(),
        JwtError::UnknownKid
    );
    assert_eq!(s.jwks.fetches(), 2, "one refetch after the interval");
    // A flood of random kids costs no more fetches.
    for i in 0..50 {
        let key = TestKey::es256(&format!("random-{i}"));
        assert!(s.verifier.verify(&key.sign(&claims())).await.is_err());
    }
    assert_eq!(s.jwks.fetches(), 2);
}

#[tokio::test]
async fn rotated_key_is_picked_up_on_unknown_kid() {
    let s = setup();
    s.verifier.verify(&s.es.sign(&claims())).await.unwrap();
    let next = TestKey::es256("es-2");
    s.jwks.set(common::jwks(&[&s.es, &next]));
    s.clock.advance(Duration::from_secs(31));
    let claims = patched(json!({"exp": s.clock.unix_secs() + 60, "iat": s.clock.unix_secs()}));
    s.verifier.verify(&next.sign(&claims)).await.unwrap();
    assert_eq!(s.jwks.fetches(), 2);
}

#[tokio::test]
async fn last_good_keys_are_kept_while_the_jwks_endpoint_fails() {
    let s = setup();
    s.verifier.verify(&s.es.sign(&claims())).await.unwrap();
    s.jwks.fail(true);
    s.clock.advance(Duration::from_secs(301));
    let fresh = patched(json!({"exp": s.clock.unix_secs() + 60, "iat": s.clock.unix_secs()}));
    s.verifier.verify(&s.es.sign(&fresh)).await.unwrap();
    assert_eq!(s.jwks.fetches(), 2, "stale keys triggered one refetch");
    // A garbage document is not an improvement either.
    s.jwks.fail(false);
    s.jwks.set(b"<html>oops</html>".to_vec());
    s.clock.advance(Duration::from_secs(31));
    s.verifier.verify(&s.es.sign(&fresh)).await.unwrap();
    assert_eq!(s.jwks.fetches(), 3);
}

#[tokio::test]
async fn last_good_keys_expire_at_their_maximum_age_while_fetches_fail() {
    let s = setup_with(json!({"jwks_max_key_age_seconds": 3600}));
    s.verifier.verify(&s.es.sign(&claims())).await.unwrap();
    s.jwks.fail(true);
    let fresh =
        |s: &Setup| patched(json!({"exp": s.clock.unix_secs() + 60, "iat": s.clock.unix_secs()}));
    // Within the maximum age the last good keys still serve...
    s.clock.advance(Duration::from_secs(3600));
    s.verifier.verify(&s.es.sign(&fresh(&s))).await.unwrap();
    // ...past it the issuer's tokens are refused, even a key still listed.
    s.clock.advance(Duration::from_secs(1));
    assert_eq!(
        s.verifier.verify(&s.es.sign(&fresh(&s))).await.unwrap_err(),
        JwtError::KeysUnavailable
    );
    // A fetch that works again brings them back.
    s.jwks.fail(false);
    s.clock.advance(Duration::from_secs(31));
    s.verifier.verify(&s.es.sign(&fresh(&s))).await.unwrap();
}

#[tokio::test]
async fn keys_unavailable_when_never_fetched() {
    let s = setup();
    s.jwks.fail(true);
    assert_eq!(
        s.verifier.verify(&s.es.sign(&claims())).await.unwrap_err(),
        JwtError::KeysUnavailable
    );
}

#[test]
fn keys_unavailable_is_an_outage_not_a_bad_token() {
    // 503 like an introspection outage: the client's token may be fine.
    let problem = JwtError::KeysUnavailable.to_problem();
    assert_eq!(problem.kind.status, 503);
    assert_eq!(problem.kind.slug, "authn-unavailable");
    assert!(problem.headers.is_empty(), "no invalid_token challenge");
    // Every other refusal stays 401 invalid_token.
    assert_eq!(JwtError::UnknownKid.to_problem().kind.status, 401);
}

#[tokio::test]
async fn an_identity_provider_back_after_failed_first_fetches_is_seen_within_seconds() {
    let s = setup_with(json!({"jwks_min_refetch_seconds": 5}));
    let token = s.es.sign(&claims());
    let refused = |s: &Setup| {
        let token = token.clone();
        let verifier = s.verifier.clone();
        async move { verifier.verify(&token).await.unwrap_err() }
    };
    s.jwks.fail(true);
    assert_eq!(refused(&s).await, JwtError::KeysUnavailable);
    assert_eq!(s.jwks.fetches(), 1);
    // Without keys a failure does not use up the refetch interval: the next
    // fetch may follow a second later, then after 2, 4, and at most the
    // interval (5 s here) between fetches; never more often.
    for wait in [1, 2, 4, 5, 5] {
        s.clock.advance(Duration::from_secs(wait - 1));
        let before = s.jwks.fetches();
        assert_eq!(refused(&s).await, JwtError::KeysUnavailable);
        assert_eq!(
            s.jwks.fetches(),
            before,
            "fetched before the backoff of {wait} s"
        );
        s.clock.advance(Duration::from_secs(1));
        assert_eq!(refused(&s).await, JwtError::KeysUnavailable);
        assert_eq!(s.jwks.fetches(), before + 1, "no fetch after {wait} s");
    }
    // Back after its blip: the first token after the backoff passes.
    s.jwks.fail(false);
    s.clock.advance(Duration::from_secs(5));
    s.verifier.verify(&token).await.unwrap();
    // With keys loaded, the refetch interval applies again (a random `kid`
    // fetches at most once per interval).
    let stranger = TestKey::es256("es-unknown");
    for _ in 0..3 {
        s.clock.advance(Duration::from_secs(1));
        let _ = s.verifier.verify(&stranger.sign(&claims())).await;
    }
    assert_eq!(s.jwks.fetches(), 7);
}

#[tokio::test]
async fn one_failed_fetch_after_start_does_not_shut_tokens_out_for_the_interval() {
    // The default interval is 30 s: one second after the failed first fetch
    // (the identity provider restarting while the gateway starts), tokens pass.
    let s = setup();
    let token = s.es.sign(&claims());
    s.jwks.fail(true);
    assert_eq!(
        s.verifier.verify(&token).await.unwrap_err(),
        JwtError::KeysUnavailable
    );
    s.jwks.fail(false);
    s.clock.advance(Duration::from_secs(1));
    s.verifier.verify(&token).await.unwrap();
}

#[tokio::test]
async fn a_fetch_whose_request_was_cancelled_serves_the_next_request() {
    use futures_util::FutureExt;
    let s = setup();
    let gate = s.jwks.gate();
    let token = s.es.sign(&claims());
    // The request that starts the fetch is cancelled while it waits (its
    // client went away); the fetch is not lost with it.
    assert!(s.verifier.verify(&token).now_or_never().is_none());
    assert_eq!(s.jwks.fetches(), 1);
    gate.add_permits(1);
    // The next request, well within the refetch interval, gets its keys.
    s.verifier.verify(&token).await.unwrap();
    assert_eq!(s.jwks.fetches(), 1);
}

#[tokio::test]
async fn concurrent_lookups_share_one_fetch() {
    let s = setup();
    let gate = s.jwks.gate();
    let token = s.es.sign(&claims());
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let (verifier, token) = (s.verifier.clone(), token.clone());
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    tokio::task::yield_now().await;
    gate.add_permits(1);
    for task in waiting {
        task.await.unwrap().unwrap();
    }
    assert_eq!(s.jwks.fetches(), 1);
}

/// `key`'s signature over `claims` with no `kid` in the header.
fn without_kid(key: &TestKey, claims: &Value) -> String {
    sign_raw(
        &json!({"alg": alg_name(key.alg)}),
        claims,
        &key.enc,
        key.alg,
    )
}

/// A verifier over a JWKS of `keys` (each without its `kid` when `strip`).
fn verifier_over(keys: &[&TestKey], strip: bool, extra: Value) -> (JwtVerifier, Arc<FakeJwks>) {
    let mut document: Value = serde_json::from_slice(&common::jwks(keys)).unwrap();
    if strip {
        for key in document["keys"].as_array_mut().unwrap() {
            key.as_object_mut().unwrap().remove("kid");
        }
    }
    let jwks = FakeJwks::new(serde_json::to_vec(&document).unwrap());
    let verifier = config(extra)
        .build(
            "authn.jwt",
            Arc::new(ManualClock::at_secs(NOW)),
            &Sources(jwks.clone()),
        )
        .unwrap();
    (verifier, jwks)
}

#[tokio::test]
async fn a_token_not_bound_to_a_key_by_its_kid_is_tried_against_one_key_only() {
    let (es1, es2, ed) = (
        TestKey::es256("es-1"),
        TestKey::es256("es-2"),
        TestKey::ed25519("ed-1"),
    );
    let (verifier, _) = verifier_over(&[&es1, &es2, &ed], false, json!({}));
    // Without `kid`, two EC keys could have signed it: refused rather than
    // one signature check per key (up to 64 for any client's token).
    for key in [&es1, &es2] {
        assert_eq!(
            verifier
                .verify(&without_kid(key, &claims()))
                .await
                .unwrap_err(),
            JwtError::KidRequired
        );
    }
    // One key of its family: a token without `kid` still verifies.
    verifier.verify(&without_kid(&ed, &claims())).await.unwrap();
    // With its `kid`, each verifies against its own key.
    verifier.verify(&es2.sign(&claims())).await.unwrap();
    // Keys without `kid` standing in for a `kid` no key has: the same rule.
    let (verifier, _) = verifier_over(&[&es1, &es2], true, json!({}));
    assert_eq!(
        verifier.verify(&es2.sign(&claims())).await.unwrap_err(),
        JwtError::KidRequired
    );
    let (verifier, _) = verifier_over(&[&es1], true, json!({}));
    verifier.verify(&es1.sign(&claims())).await.unwrap();
    verifier
        .verify(&without_kid(&es1, &claims()))
        .await
        .unwrap();
    // An issuer configured to allow it: every key that could have signed is tried.
    let (verifier, _) = verifier_over(
        &[&es1, &es2, &ed],
        false,
        json!({"allow_missing_kid": true}),
    );
    verifier
        .verify(&without_kid(&es2, &claims()))
        .await
        .unwrap();
    assert_eq!(
        verifier
            .verify(&without_kid(&TestKey::es256("es-3"), &claims()))
            .await
            .unwrap_err(),
        JwtError::BadSignature
    );
}

#[tokio::test]
async fn a_consumer_claim_of_the_wrong_type_is_refused_not_replaced_by_client_id() {
    let s = setup();
    // A numeric `sub` would have made every user of client `web` consumer `web`.
    for sub in [json!(1234), json!("")] {
        let token = s.es.sign(&patched(json!({"sub": sub, "client_id": "web"})));
        let verified = s.verifier.verify(&token).await.unwrap();
        assert!(s.verifier.identity(verified).is_err(), "{sub}");
    }
    // A token without `sub` (a client's own) is its client's.
    let token =
        s.es.sign(&patched(json!({"sub": null, "client_id": "web"})));
    let verified = s.verifier.verify(&token).await.unwrap();
    assert_eq!(s.verifier.identity(verified).unwrap().consumer, "web");
}

#[tokio::test]
async fn time_claims_are_enforced_with_leeway() {
    let s = setup();
    let v = &s.verifier;
    // Default leeway 60 s: boundaries pass...
    v.verify(&s.es.sign(&patched(json!({"exp": NOW - 60}))))
        .await
        .unwrap();
    v.verify(&s.es.sign(&patched(json!({"nbf": NOW + 60}))))
        .await
        .unwrap();
    // ...one second beyond is refused.
    assert_eq!(
        v.verify(&s.es.sign(&patched(json!({"exp": NOW - 61}))))
            .await
            .unwrap_err(),
        JwtError::Expired
    );
    assert_eq!(
        v.verify(&s.es.sign(&patched(json!({"nbf": NOW + 61}))))
            .await
            .unwrap_err(),
        JwtError::NotYetValid
    );
    assert_eq!(
        v.verify(&s.es.sign(&patched(json!({"iat": NOW + 61}))))
            .await
            .unwrap_err(),
        JwtError::IssuedInFuture
    );
    assert_eq!(
        v.verify(&s.es.sign(&patched(json!({"iat": NOW - 3661}))))
            .await
            .unwrap_err(),
        JwtError::TooOld
    );
    assert_eq!(
        v.verify(&s.es.sign(&patched(json!({"exp": null}))))
            .await
            .unwrap_err(),
        JwtError::MissingClaim("exp".into())
    );
    assert_eq!(
        v.verify(&s.es.sign(&patched(json!({"exp": "4102444800"}))))
            .await
            .unwrap_err(),
        JwtError::InvalidClaim("exp")
    );
}

#[tokio::test]
async fn wrong_issuer_or_audience_is_refused() {
    let s = setup();
    let v = &s.verifier;
    assert_eq!(
        v.verify(&s.es.sign(&patched(json!({"iss": "https://evil.example"}))))
            .await
            .unwrap_err(),
        JwtError::UnknownIssuer
    );
    assert_eq!(
        v.verify(&s.es.sign(&patched(json!({"iss": null}))))
            .await
            .unwrap_err(),
        JwtError::MissingClaim("iss".into())
    );
    assert_eq!(
        v.verify(&s.es.sign(&patched(json!({"aud": "other-api"}))))
            .await
            .unwrap_err(),
        JwtError::WrongAudience
    );
    v.verify(&s.es.sign(&patched(json!({"aud": ["other-api", AUD]}))))
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_signatures_are_refused() {
    let s = setup();
    // Signed by another key under a trusted kid.
    let impostor = TestKey::es256("es-1");
    assert_eq!(
        s.verifier
            .verify(&impostor.sign(&claims()))
            .await
            .unwrap_err(),
        JwtError::BadSignature
    );
    let rsa_b = TestKey::rsa("rsa-1", Algorithm::RS256, include_bytes!("data/rsa_b.pem"));
    assert_eq!(
        s.verifier.verify(&rsa_b.sign(&claims())).await.unwrap_err(),
        JwtError::BadSignature
    );
    // Payload swapped after signing (privilege escalation attempt).
    let good = s.es.sign(&claims());
    let forged = s.es.sign(&patched(json!({"sub": "admin"})));
    let mut parts: Vec<&str> = good.split('.').collect();
    parts[1] = forged.split('.').nth(1).unwrap();
    assert_eq!(
        s.verifier.verify(&parts.join(".")).await.unwrap_err(),
        JwtError::BadSignature
    );
    // Garbage signature.
    let mut parts: Vec<&str> = good.split('.').collect();
    parts[2] = "AAAA";
    assert_eq!(
        s.verifier.verify(&parts.join(".")).await.unwrap_err(),
        JwtError::BadSignature
    );
}

#[tokio::test]
async fn malformed_and_oversized_tokens_are_refused() {
    let s = setup();
    for token in ["", "abc", "a.b.c", "....", "eyJhbGciOiJFUzI1NiJ9.e30"] {
        assert_eq!(
            s.verifier.verify(token).await.unwrap_err(),
            JwtError::Malformed,
            "{token}"
        );
    }
    let huge = patched(json!({"pad": "x".repeat(9000)}));
    assert_eq!(
        s.verifier.verify(&s.es.sign(&huge)).await.unwrap_err(),
        JwtError::Oversized
    );
}

#[tokio::test]
async fn required_claims_are_enforced() {
    let s = setup_with(json!({"required_claims": ["tenant"]}));
    assert_eq!(
        s.verifier.verify(&s.es.sign(&claims())).await.unwrap_err(),
        JwtError::MissingClaim("tenant".into())
    );
    s.verifier
        .verify(&s.es.sign(&patched(json!({"tenant": "t1"}))))
        .await
        .unwrap();
}

#[tokio::test]
async fn refusals_are_401_with_the_rfc6750_challenge() {
    let problem = JwtError::Expired.to_problem();
    assert_eq!(problem.kind.status, 401);
    let (name, value) = &problem.headers[0];
    assert_eq!(name, "www-authenticate");
    assert!(value.to_str().unwrap().contains("error=\"invalid_token\""));
    assert!(
        problem.detail.is_none(),
        "nothing about the cause reaches the client"
    );
}

fn hs_config(secret_file: &std::path::Path, algorithms: Value) -> JwtConfig {
    serde_json::from_value(json!({"issuers": [{
        "issuer": ISS, "audiences": [AUD], "algorithms": algorithms,
        "hs256_secret": {"file": secret_file}
    }]}))
    .unwrap()
}

#[tokio::test]
async fn hs256_needs_a_256_bit_secret_and_works_with_one() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at_secs(NOW));
    let sources = Sources(FakeJwks::new(Vec::new()));
    let short = temp_file("hs-short", &[7u8; 31]);
    let err = hs_config(&short, json!(["HS256"]))
        .build("authn.jwt", clock.clone(), &sources)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("authn.jwt.issuers[0].hs256_secret"),
        "{err}"
    );

    let secret = [7u8; 32];
    let file = temp_file("hs-ok", &secret);
    let err = hs_config(&file, json!(["HS256", "RS256"]))
        .build("authn.jwt", clock.clone(), &sources)
        .unwrap_err();
    assert!(err.to_string().contains("algorithm confusion"), "{err}");

    let verifier = hs_config(&file, json!(["HS256"]))
        .build("authn.jwt", clock, &sources)
        .unwrap();
    let token = sign_raw(
        &json!({"alg": "HS256"}),
        &claims(),
        &EncodingKey::from_secret(&secret),
        Algorithm::HS256,
    );
    verifier.verify(&token).await.unwrap();
    // A `kid` the issuer puts in its tokens (Keycloak does) does not make them
    // unverifiable: the configured secret has none, and the signature decides.
    let with_kid = sign_raw(
        &json!({"alg": "HS256", "kid": "k1"}),
        &claims(),
        &EncodingKey::from_secret(&secret),
        Algorithm::HS256,
    );
    verifier.verify(&with_kid).await.unwrap();
    let wrong_with_kid = sign_raw(
        &json!({"alg": "HS256", "kid": "k1"}),
        &claims(),
        &EncodingKey::from_secret(&[8u8; 32]),
        Algorithm::HS256,
    );
    assert_eq!(
        verifier.verify(&wrong_with_kid).await.unwrap_err(),
        JwtError::BadSignature
    );
    let wrong = sign_raw(
        &json!({"alg": "HS256"}),
        &claims(),
        &EncodingKey::from_secret(&[8u8; 32]),
        Algorithm::HS256,
    );
    assert_eq!(
        verifier.verify(&wrong).await.unwrap_err(),
        JwtError::BadSignature
    );
}

#[test]
fn config_errors_name_the_field() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at_secs(NOW));
    let sources = Sources(FakeJwks::new(Vec::new()));
    let cases = [
        (json!({"audiences": []}), "authn.jwt.issuers[0].audiences"),
        (json!({"algorithms": []}), "authn.jwt.issuers[0].algorithms"),
        (
            json!({"jwks_url": "http://idp.example/jwks"}),
            "authn.jwt.issuers[0].jwks_url",
        ),
        // Loopback look-alikes: the host is parsed, not prefix-matched.
        (
            json!({"jwks_url": "http://127.0.0.1.evil.test/jwks"}),
            "authn.jwt.issuers[0].jwks_url",
        ),
        (
            json!({"jwks_url": "http://localhost@evil.test/jwks"}),
            "authn.jwt.issuers[0].jwks_url",
        ),
        (
            json!({"jwks_file": "/nonexistent/jwks.json"}),
            "authn.jwt.issuers[0]",
        ),
        // Each interval is named as itself.
        (
            json!({"jwks_refresh_seconds": 0}),
            "authn.jwt.issuers[0].jwks_refresh_seconds",
        ),
        (
            json!({"jwks_min_refetch_seconds": 0}),
            "authn.jwt.issuers[0].jwks_min_refetch_seconds",
        ),
        (
            json!({"jwks_max_key_age_seconds": 299}),
            "authn.jwt.issuers[0].jwks_max_key_age_seconds",
        ),
        // A consumer prefix is short, printable and, when given, not empty.
        (
            json!({"consumer_prefix": ""}),
            "authn.jwt.issuers[0].consumer_prefix",
        ),
        (
            json!({"consumer_prefix": "p".repeat(65)}),
            "authn.jwt.issuers[0].consumer_prefix",
        ),
        (
            json!({"consumer_prefix": "partner\r\nx-admin: 1"}),
            "authn.jwt.issuers[0].consumer_prefix",
        ),
        // Nor a `/` or `\`: such a consumer never equals a path parameter.
        (
            json!({"consumer_prefix": "partner/"}),
            "authn.jwt.issuers[0].consumer_prefix",
        ),
        (
            json!({"consumer_prefix": "partner\\"}),
            "authn.jwt.issuers[0].consumer_prefix",
        ),
    ];
    for (extra, path) in cases {
        let err = config(extra)
            .build("authn.jwt", clock.clone(), &sources)
            .unwrap_err();
        assert!(err.to_string().starts_with(path), "{err}");
    }
    // A refresh interval over a day without a maximum key age (a configuration
    // from before the setting) still loads: the default follows it.
    config(json!({"jwks_refresh_seconds": 172_800}))
        .build("authn.jwt", clock.clone(), &sources)
        .unwrap();
    // The cache bounds are named as themselves too.
    for (field, value, path) in [
        (
            "verified_cache_entries",
            2_000_000,
            "authn.jwt.verified_cache_entries",
        ),
        (
            "verified_cache_seconds",
            600,
            "authn.jwt.verified_cache_seconds",
        ),
    ] {
        let mut raw = json!({"issuers": [{
            "issuer": ISS, "audiences": [AUD], "algorithms": ["EdDSA"],
            "jwks_url": "https://idp.example/jwks.json"
        }]});
        raw[field] = json!(value);
        let cfg: JwtConfig = serde_json::from_value(raw).unwrap();
        let err = cfg.build("authn.jwt", clock.clone(), &sources).unwrap_err();
        assert!(err.to_string().starts_with(path), "{err}");
    }
    let unknown: Result<JwtConfig, _> = serde_json::from_value(json!({"issuers": [], "bogus": 1}));
    assert!(unknown.is_err());
}

#[tokio::test]
async fn a_consumer_prefix_names_the_consumer_in_its_issuers_namespace() {
    // `sub` is unique only within its issuer: with a prefix, a partner
    // issuer's `alice` is `partner:alice`, not the `alice` of another issuer.
    let s = setup_with(json!({"consumer_prefix": "partner:"}));
    let verified = s.verifier.verify(&s.es.sign(&claims())).await.unwrap();
    let identity = s.verifier.identity(verified).unwrap();
    assert_eq!(identity.consumer, "partner:alice");
    // The claims themselves are left as the issuer wrote them.
    assert_eq!(identity.claims["sub"], "alice");
    // From the verified-token cache too.
    let verified = s.verifier.verify(&s.es.sign(&claims())).await.unwrap();
    assert_eq!(
        s.verifier.identity(verified).unwrap().consumer,
        "partner:alice"
    );
    // With `client_id` naming the consumer (no `sub`) as well.
    let service = patched(json!({"sub": null, "client_id": "billing"}));
    let verified = s.verifier.verify(&s.es.sign(&service)).await.unwrap();
    assert_eq!(
        s.verifier.identity(verified).unwrap().consumer,
        "partner:billing"
    );
}

#[tokio::test]
async fn jwks_file_keys_work_without_any_fetch() {
    let key = TestKey::ed25519("file-1");
    let file = temp_file("jwks.json", &common::jwks(&[&key]));
    let cfg: JwtConfig = serde_json::from_value(json!({"issuers": [{
        "issuer": ISS, "audiences": [AUD], "algorithms": ["EdDSA"], "jwks_file": file
    }]}))
    .unwrap();
    let jwks = FakeJwks::new(Vec::new());
    let verifier = cfg
        .build(
            "authn.jwt",
            Arc::new(ManualClock::at_secs(NOW)),
            &Sources(jwks.clone()),
        )
        .unwrap();
    verifier.verify(&key.sign(&claims())).await.unwrap();
    assert_eq!(jwks.fetches(), 0);
}

#[tokio::test]
async fn token_type_is_enforced_when_configured() {
    let s = setup_with(json!({"token_types": ["at+jwt"]}));
    let at = s.es.sign_with_header(json!({"typ": "at+jwt"}), &claims());
    s.verifier.verify(&at).await.unwrap();
    let long =
        s.es.sign_with_header(json!({"typ": "application/AT+JWT"}), &claims());
    s.verifier.verify(&long).await.unwrap();
    // An ID token (typ JWT) or an untyped token is not an access token here.
    let id_token = s.es.sign(&claims());
    assert_eq!(
        s.verifier.verify(&id_token).await.unwrap_err(),
        JwtError::WrongType
    );
    let untyped = sign_raw(
        &json!({"alg": "ES256", "kid": "es-1"}),
        &claims(),
        &s.es.enc,
        Algorithm::ES256,
    );
    assert_eq!(
        s.verifier.verify(&untyped).await.unwrap_err(),
        JwtError::WrongType
    );
}

#[tokio::test]
async fn a_configured_token_type_may_carry_the_application_prefix() {
    let s = setup_with(json!({"token_types": ["application/at+jwt"]}));
    for typ in ["at+jwt", "application/at+jwt"] {
        let token = s.es.sign_with_header(json!({"typ": typ}), &claims());
        s.verifier.verify(&token).await.unwrap();
    }
    let id_token = s.es.sign(&claims());
    assert_eq!(
        s.verifier.verify(&id_token).await.unwrap_err(),
        JwtError::WrongType
    );
}

#[tokio::test]
async fn verified_token_cache_hits_but_never_outlives_exp_or_a_key_change() {
    let s = setup_with(json!({"jwks_refresh_seconds": 60}));
    let token = s.es.sign(&patched(json!({"exp": NOW + 120})));
    s.verifier.verify(&token).await.unwrap();
    s.verifier.verify(&token).await.unwrap();
    assert_eq!(s.verifier.verified_cache().unwrap().len(), 1);
    // Past exp (+ leeway) the cached entry does not help.
    s.clock.set_secs(NOW + 181);
    assert_eq!(
        s.verifier.verify(&token).await.unwrap_err(),
        JwtError::Expired
    );

    // Key rotation: the issuer drops es-1; a token cached under it is refused
    // as soon as the refreshed key set is in place.
    let s = setup_with(json!({"jwks_refresh_seconds": 60}));
    let token = s.es.sign(&patched(json!({"exp": NOW + 1000})));
    s.verifier.verify(&token).await.unwrap();
    s.jwks.set(common::jwks(&[&s.ed]));
    s.clock.advance(Duration::from_secs(30));
    s.verifier.verify(&token).await.unwrap();
    s.clock.advance(Duration::from_secs(31));
    assert_eq!(
        s.verifier.verify(&token).await.unwrap_err(),
        JwtError::UnknownKid
    );
}

#[test]
fn verified_cache_limits_are_validated() {
    let mut cfg = config(json!({}));
    cfg.verified_cache_seconds = 3600;
    let err = cfg
        .build(
            "authn.jwt",
            Arc::new(ManualClock::at_secs(NOW)),
            &Sources(FakeJwks::new(Vec::new())),
        )
        .unwrap_err();
    assert!(
        err.to_string().starts_with("authn.jwt.verified_cache"),
        "{err}"
    );
}

#[test]
fn kid_less_refusals_tell_the_operator_at_most_once_a_minute() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .finish();
    let (es1, es2) = (TestKey::es256("es-1"), TestKey::es256("es-2"));
    let clock = Arc::new(ManualClock::at_secs(NOW));
    let verifier = config(json!({}))
        .build(
            "authn.jwt",
            clock.clone(),
            &Sources(FakeJwks::new(common::jwks(&[&es1, &es2]))),
        )
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let warnings = || {
        String::from_utf8(captured.0.lock().unwrap().clone())
            .unwrap()
            .matches("allow_missing_kid")
            .count()
    };
    tracing::subscriber::with_default(subscriber, || {
        let refuse = || {
            let token = without_kid(&es1, &claims());
            let error = runtime.block_on(verifier.verify(&token)).unwrap_err();
            assert_eq!(error, JwtError::KidRequired);
        };
        for _ in 0..3 {
            refuse();
        }
        assert_eq!(warnings(), 1);
        // A token with its `kid` says nothing.
        runtime
            .block_on(verifier.verify(&es2.sign(&claims())))
            .unwrap();
        clock.advance(Duration::from_secs(30));
        refuse();
        assert_eq!(warnings(), 1);
        clock.advance(Duration::from_secs(31));
        refuse();
        assert_eq!(warnings(), 2);
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains(ISS), "{log}");
}
