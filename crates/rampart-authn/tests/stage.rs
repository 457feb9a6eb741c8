//! The authentication stage end to end over the engines: every credential kind,
//! the refusals, header stripping and forwarding.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::*;
use http::{HeaderValue, Method};
use rampart_authn::apikey::{ApiKeys, KeyStore, MemoryKeyStore, NewKey};
use rampart_authn::clock::ManualClock;
use rampart_authn::introspection::{IntrospectionFetchError, Introspector};
use rampart_authn::revocation::{CredentialKind, Revocation, RevocationList};
use rampart_authn::secret::Secret;
use rampart_authn::{AuthnConfig, AuthnDeps, AuthnStage, BoxFuture};
use rampart_core::{ClientCert, Phase, RequestCx, Stage, TlsInfo, Verdict};
use serde_json::{Value, json};

struct OneTokenServer;
impl Introspector for OneTokenServer {
    fn introspect<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, IntrospectionFetchError>> {
        let body = if token == "opaque-good" {
            json!({"active": true, "sub": "carol", "exp": NOW + 60, "scope": "pets:read", "aud": AUD})
        } else {
            json!({"active": false})
        };
        Box::pin(async move { Ok(serde_json::to_vec(&body).unwrap()) })
    }
}

struct World {
    stage: AuthnStage,
    es: TestKey,
    key: String,
    revocations: Arc<RevocationList>,
}

const PEPPER: [u8; 32] = [9; 32];

async fn world(extra: Value) -> World {
    let es = TestKey::es256("es-1");
    let jwks = FakeJwks::new(common::jwks(&[&es]));
    let clock = Arc::new(ManualClock::at_secs(NOW));
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    let keys = ApiKeys::new(store.clone(), &Secret::new(PEPPER.to_vec()), clock.clone()).unwrap();
    let created = keys
        .create(&NewKey {
            consumer: "acme".into(),
            scopes: vec!["pets:read".into()],
            ..NewKey::default()
        })
        .await
        .unwrap();
    let revocations = Arc::new(RevocationList::new(clock.clone(), 1000, 120));
    let deps = AuthnDeps {
        clock,
        jwks_sources: Arc::new(Sources(jwks)),
        key_store: Some(store),
        introspector: Some(Arc::new(OneTokenServer)),
        revocations: revocations.clone(),
    };
    let mut cfg = json!({
        "api_key": {"pepper": {"file": temp_file("stage-pepper", &PEPPER)}, "query_param": "api_key"},
        "jwt": {"issuers": [{"issuer": ISS, "audiences": [AUD], "algorithms": ["ES256"],
                             "jwks_url": "https://idp.example/jwks"}]},
        "introspection": {"endpoint": "https://idp.example/introspect", "client_id": "r", "audiences": [AUD],
                          "client_secret": {"file": temp_file("stage-secret", b"x")}},
        "mtls": {"rules": [{"san": "URI:spiffe://example.org/billing", "consumer": "billing", "roles": ["service"]}]},
        "forward": {"consumer": "x-rampart-consumer", "scopes": "x-rampart-scopes"}
    });
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    let cfg: AuthnConfig = serde_json::from_value(cfg).unwrap();
    let stage = cfg.build("apis.pets.authn", &deps).unwrap();
    World {
        stage,
        es,
        key: String::from_utf8(created.key.expose().to_vec()).unwrap(),
        revocations,
    }
}

fn request(headers: &[(&'static str, &str)]) -> RequestCx {
    let mut cx = RequestCx::new(
        "req-1".into(),
        "192.0.2.1:5555".parse().unwrap(),
        Method::GET,
        "/pets".into(),
    );
    for (k, v) in headers {
        cx.headers.append(*k, HeaderValue::from_str(v).unwrap());
    }
    cx
}

fn cert(san: &str, thumb: &str) -> Option<TlsInfo> {
    Some(TlsInfo {
        version: "TLSv1.3".into(),
        alpn: None,
        client_cert: Some(ClientCert {
            subject: "CN=x".into(),
            sans: vec![san.into()],
            sha256_thumbprint: thumb.into(),
        }),
    })
}

async fn run(stage: &AuthnStage, cx: &mut RequestCx) -> Verdict {
    stage.on_request(cx).resolve().await
}

fn status(verdict: &Verdict) -> u16 {
    match verdict {
        Verdict::Continue => 200,
        Verdict::Respond(p) => p.kind.status,
    }
}

fn challenge(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Respond(p) => p
            .headers
            .iter()
            .find(|(n, _)| n == "www-authenticate")
            .unwrap()
            .1
            .to_str()
            .unwrap()
            .into(),
        Verdict::Continue => panic!("continued"),
    }
}

#[tokio::test]
async fn stage_runs_at_the_authentication_phase() {
    let w = world(json!({})).await;
    assert_eq!(w.stage.phase(), Phase::Authentication);
    assert_eq!(w.stage.name(), "authn");
}

#[tokio::test]
async fn no_credential_is_401_and_spoofed_identity_headers_are_stripped() {
    let w = world(json!({})).await;
    let mut cx = request(&[
        ("x-consumer-id", "admin"),
        ("x-rampart-consumer", "admin"),
        ("x-user", "root"),
        // Other gateways' and front ends' conventions.
        ("x-ssl-client-verify", "SUCCESS"),
        ("x-forwarded-client-cert", "Hash=1;Subject=\"CN=admin\""),
        ("x-consumer-groups", "admins"),
        ("x-forwarded-groups", "admins"),
        ("remote-user", "root"),
        // Read by CGI-style upstreams as the same variables as the above.
        ("x_consumer_id", "admin"),
        ("x_rampart-consumer", "admin"),
        ("X_Authenticated_Userid", "admin"),
        // Not an identity header: kept.
        ("x_trace_id", "t-1"),
    ]);
    let verdict = run(&w.stage, &mut cx).await;
    let kept: Vec<&str> = cx.headers.keys().map(http::HeaderName::as_str).collect();
    assert_eq!(kept, ["x_trace_id"]);
    cx.headers.clear();
    assert_eq!(status(&verdict), 401);
    assert_eq!(challenge(&verdict), "Bearer realm=\"rampart\"");
    assert!(cx.headers.is_empty(), "{:?}", cx.headers);
    assert!(cx.identity.is_none());
}

#[tokio::test]
async fn valid_jwt_sets_identity_and_forwards_only_gateway_headers() {
    let w = world(json!({})).await;
    let token = format!("Bearer {}", w.es.sign(&claims()));
    let mut cx = request(&[
        ("authorization", &token),
        ("x-rampart-consumer", "admin"),
        ("x-consumer-id", "admin"),
    ]);
    assert_eq!(run(&w.stage, &mut cx).await, Verdict::Continue);
    let id = cx.identity.as_ref().unwrap();
    assert_eq!((id.consumer.as_str(), id.method.as_str()), ("alice", "jwt"));
    assert_eq!(id.credential_id.as_deref(), Some("tok-1"));
    assert_eq!(cx.headers["x-rampart-consumer"], "alice");
    assert_eq!(cx.headers["x-rampart-scopes"], "pets:read pets:write");
    assert!(cx.headers.get("x-consumer-id").is_none());
}

#[tokio::test]
async fn each_identity_provider_names_its_consumers_in_its_own_namespace() {
    // The company's issuer (no prefix), a partner's where anybody can
    // register (`partner:`), and opaque tokens (`opaque:`). A `sub` is unique
    // only within its issuer: the partner's `alice` is not the company's.
    let partner = TestKey::ed25519("partner-1");
    let w = world(json!({
        "jwt": {"issuers": [
            {"issuer": ISS, "audiences": [AUD], "algorithms": ["ES256"],
             "jwks_url": "https://idp.example/jwks"},
            {"issuer": "https://partner.example", "audiences": [AUD], "algorithms": ["EdDSA"],
             "jwks_file": temp_file("partner-jwks", &common::jwks(&[&partner])),
             "consumer_prefix": "partner:"}
        ]},
        "introspection": {"endpoint": "https://idp.example/introspect", "client_id": "r",
                          "audiences": [AUD], "consumer_prefix": "opaque:",
                          "client_secret": {"file": temp_file("stage-secret-ns", b"x")}},
    }))
    .await;
    let mut from_partner = claims();
    from_partner["iss"] = json!("https://partner.example");
    for (token, consumer) in [
        (w.es.sign(&claims()), "alice"),
        (partner.sign(&from_partner), "partner:alice"),
        ("opaque-good".to_string(), "opaque:carol"),
    ] {
        let mut cx = request(&[("authorization", &format!("Bearer {token}"))]);
        assert_eq!(
            run(&w.stage, &mut cx).await,
            Verdict::Continue,
            "{consumer}"
        );
        let id = cx.identity.as_ref().unwrap();
        assert_eq!(id.consumer, consumer);
        // What the upstream is told is the same consumer.
        assert_eq!(cx.headers["x-rampart-consumer"], consumer);
    }
}

/// A server that answers for any opaque token `opaque-<sub>`, as active for
/// that `sub`.
struct AnySubServer;
impl Introspector for AnySubServer {
    fn introspect<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, IntrospectionFetchError>> {
        let body = match token.strip_prefix("opaque-") {
            Some(sub) => json!({"active": true, "sub": sub, "exp": NOW + 60, "aud": AUD}),
            None => json!({"active": false}),
        };
        Box::pin(async move { Ok(serde_json::to_vec(&body).unwrap()) })
    }
}

/// A stage with the company's issuer (`company`, ES256 under ISS), a
/// partner's (EdDSA), and introspection, with these prefixes.
async fn namespaces(
    company: Option<&str>,
    partner: Option<&str>,
    opaque: Option<&str>,
) -> (AuthnStage, TestKey, TestKey) {
    let es = TestKey::es256("es-1");
    let partner_key = TestKey::ed25519("partner-1");
    let clock = Arc::new(ManualClock::at_secs(NOW));
    let deps = AuthnDeps {
        clock: clock.clone(),
        jwks_sources: Arc::new(Sources(FakeJwks::new(common::jwks(&[&es])))),
        key_store: None,
        introspector: Some(Arc::new(AnySubServer)),
        revocations: Arc::new(RevocationList::new(clock, 1000, 120)),
    };
    let cfg: AuthnConfig = serde_json::from_value(json!({
        "jwt": {"issuers": [
            {"issuer": ISS, "audiences": [AUD], "algorithms": ["ES256"],
             "jwks_url": "https://idp.example/jwks", "consumer_prefix": company},
            {"issuer": "https://partner.example", "audiences": [AUD], "algorithms": ["EdDSA"],
             "jwks_file": temp_file("partner-jwks-ns", &common::jwks(&[&partner_key])),
             "consumer_prefix": partner}
        ]},
        "introspection": {"endpoint": "https://idp.example/introspect", "client_id": "r",
                          "audiences": [AUD], "consumer_prefix": opaque,
                          "client_secret": {"file": temp_file("stage-secret-ns2", b"x")}},
    }))
    .unwrap();
    (
        cfg.build("apis.pets.authn", &deps).unwrap(),
        es,
        partner_key,
    )
}

fn sub(iss: &str, sub: &str) -> Value {
    json!({"iss": iss, "aud": AUD, "sub": sub, "exp": NOW + 60})
}

#[tokio::test]
async fn a_token_naming_a_consumer_in_another_providers_namespace_is_refused() {
    // The company's issuer and its introspection have no prefix, the
    // partner's issuer `partner:`: a company user who picked the name
    // `partner:alice` would be the partner's `alice` to ownership, rate
    // limits and Cedar. Refused, 401 like any invalid token, and not a guess
    // (the token is genuine).
    let (stage, es, partner) = namespaces(None, Some("partner:"), None).await;
    let bearer = |token: &str| request(&[("authorization", &format!("Bearer {token}"))]);
    // Twice each (one token, the same string): the second time from the
    // verified-token or introspection cache, refused alike.
    let jwt = es.sign(&sub(ISS, "partner:alice"));
    let opaque = "opaque-partner:alice".to_string();
    for (token, reason) in [
        (&jwt, "jwt-consumer-outside-namespace"),
        (&jwt, "jwt-consumer-outside-namespace"),
        (&opaque, "introspection-consumer-outside-namespace"),
        (&opaque, "introspection-consumer-outside-namespace"),
    ] {
        let mut cx = bearer(token);
        let verdict = run(&stage, &mut cx).await;
        assert_eq!(status(&verdict), 401, "{reason}");
        assert!(challenge(&verdict).contains("error=\"invalid_token\""));
        assert!(cx.identity.is_none());
        assert_eq!(refusal(&cx), (reason, false));
    }
    // The legitimate users of each: the company's `alice` and the partner's
    // `alice` are both accepted, as two consumers; the company's two token
    // sources share their namespace (`bob` is `bob` by either).
    for (token, consumer) in [
        (es.sign(&sub(ISS, "alice")), "alice"),
        (
            partner.sign(&sub("https://partner.example", "alice")),
            "partner:alice",
        ),
        // The partner's own names are its own, whatever they look like.
        (
            partner.sign(&sub("https://partner.example", "partner:x")),
            "partner:partner:x",
        ),
        ("opaque-bob".to_string(), "bob"),
        // A name that merely starts like a prefix is not in it.
        (es.sign(&sub(ISS, "partner")), "partner"),
    ] {
        let mut cx = bearer(&token);
        assert_eq!(run(&stage, &mut cx).await, Verdict::Continue, "{consumer}");
        assert_eq!(cx.identity.as_ref().unwrap().consumer, consumer);
    }
}

#[tokio::test]
async fn a_prefix_nested_in_another_is_not_its_namespace() {
    // `p:` and `p:x:`: the first issuer's `x:alice` would be `p:x:alice`,
    // the second's `alice`. Introspection without prefix is refused both.
    let (stage, es, partner) = namespaces(Some("p:"), Some("p:x:"), None).await;
    let bearer = |token: &str| request(&[("authorization", &format!("Bearer {token}"))]);
    let mut cx = bearer(&es.sign(&sub(ISS, "x:alice")));
    assert_eq!(status(&run(&stage, &mut cx).await), 401);
    assert_eq!(refusal(&cx), ("jwt-consumer-outside-namespace", false));
    let mut cx = bearer("opaque-p:alice");
    assert_eq!(status(&run(&stage, &mut cx).await), 401);
    assert_eq!(
        refusal(&cx),
        ("introspection-consumer-outside-namespace", false)
    );
    for (token, consumer) in [
        (es.sign(&sub(ISS, "alice")), "p:alice"),
        (es.sign(&sub(ISS, "y:alice")), "p:y:alice"),
        (
            partner.sign(&sub("https://partner.example", "alice")),
            "p:x:alice",
        ),
        // The longer prefix is refused nothing of the shorter's.
        (
            partner.sign(&sub("https://partner.example", "x:alice")),
            "p:x:x:alice",
        ),
        ("opaque-alice".to_string(), "alice"),
    ] {
        let mut cx = bearer(&token);
        assert_eq!(run(&stage, &mut cx).await, Verdict::Continue, "{consumer}");
        assert_eq!(cx.identity.as_ref().unwrap().consumer, consumer);
    }
}

#[tokio::test]
async fn invalid_or_revoked_jwt_is_401_invalid_token() {
    let w = world(json!({})).await;
    let expired =
        w.es.sign(&json!({"iss": ISS, "aud": AUD, "sub": "a", "exp": NOW - 3600}));
    let mut cx = request(&[("authorization", &format!("Bearer {expired}"))]);
    let verdict = run(&w.stage, &mut cx).await;
    assert_eq!(status(&verdict), 401);
    assert!(challenge(&verdict).contains("error=\"invalid_token\""));

    w.revocations
        .revoke(Revocation {
            kind: CredentialKind::Jti,
            id: "tok-1".into(),
            expires_at: NOW + 300,
        })
        .unwrap();
    let mut cx = request(&[("authorization", &format!("Bearer {}", w.es.sign(&claims())))]);
    let verdict = run(&w.stage, &mut cx).await;
    assert_eq!(status(&verdict), 401);
    assert!(cx.identity.is_none());
}

#[tokio::test]
async fn api_key_from_header_passes_and_is_not_forwarded() {
    let w = world(json!({})).await;
    let mut cx = request(&[("x-api-key", &w.key)]);
    assert_eq!(run(&w.stage, &mut cx).await, Verdict::Continue);
    let id = cx.identity.as_ref().unwrap();
    assert_eq!(
        (id.consumer.as_str(), id.method.as_str()),
        ("acme", "api_key")
    );
    assert!(cx.headers.get("x-api-key").is_none());
    assert_eq!(cx.headers["x-rampart-consumer"], "acme");
}

#[tokio::test]
async fn an_api_key_under_an_underscore_spelling_is_verified_and_not_forwarded() {
    let w = world(json!({})).await;
    let mut cx = request(&[("X_Api_Key", &w.key)]);
    assert_eq!(run(&w.stage, &mut cx).await, Verdict::Continue);
    assert_eq!(cx.identity.as_ref().unwrap().method, "api_key");
    assert!(cx.headers.keys().all(|name| name.as_str() != "x_api_key"));
    // A revoked or forged copy beside a valid key is refused, not passed on.
    let mut cx = request(&[("x-api-key", &w.key), ("x_api_key", "rk_aaaaaaaa_forged")]);
    assert_eq!(status(&run(&w.stage, &mut cx).await), 400);
}

#[tokio::test]
async fn api_key_from_configured_query_param_passes_and_is_removed() {
    let w = world(json!({})).await;
    let mut cx = request(&[]);
    cx.query = Some(format!("limit=5&api_key={}", w.key));
    assert_eq!(run(&w.stage, &mut cx).await, Verdict::Continue);
    assert_eq!(cx.query.as_deref(), Some("limit=5"));
}

#[tokio::test]
async fn an_api_key_smuggled_after_a_semicolon_is_refused() {
    // An upstream splitting parameters on `;` would read the second key, one
    // never verified: the request is ambiguous.
    let w = world(json!({})).await;
    let mut cx = request(&[]);
    cx.query = Some(format!("api_key={}&q=1;api_key=rk_victim_x", w.key));
    assert_eq!(status(&run(&w.stage, &mut cx).await), 400);
    // A single key after a `;` is verified and not forwarded.
    let mut cx = request(&[]);
    cx.query = Some(format!("q=1;api_key={}", w.key));
    assert_eq!(run(&w.stage, &mut cx).await, Verdict::Continue);
    assert_eq!(cx.query.as_deref(), Some("q=1"));
}

#[tokio::test]
async fn bad_or_revoked_api_keys_are_refused() {
    let w = world(json!({})).await;
    let mut cx = request(&[("x-api-key", "rk_aaaaaaaa_notavalidkey")]);
    assert_eq!(status(&run(&w.stage, &mut cx).await), 401);
    let prefix = &w.key[3..11];
    w.revocations
        .revoke(Revocation {
            kind: CredentialKind::ApiKey,
            id: prefix.into(),
            expires_at: u64::MAX,
        })
        .unwrap();
    let mut cx = request(&[("x-api-key", &w.key)]);
    assert_eq!(status(&run(&w.stage, &mut cx).await), 401);
}

#[tokio::test]
async fn two_credentials_are_ambiguous() {
    let w = world(json!({})).await;
    let token = format!("Bearer {}", w.es.sign(&claims()));
    let mut cx = request(&[("authorization", &token), ("x-api-key", &w.key)]);
    assert_eq!(status(&run(&w.stage, &mut cx).await), 400);
}

#[tokio::test]
async fn opaque_tokens_go_to_introspection() {
    let w = world(json!({})).await;
    let mut cx = request(&[("authorization", "Bearer opaque-good")]);
    assert_eq!(run(&w.stage, &mut cx).await, Verdict::Continue);
    assert_eq!(cx.identity.as_ref().unwrap().method, "introspection");
    let mut cx = request(&[("authorization", "Bearer opaque-bad")]);
    assert_eq!(status(&run(&w.stage, &mut cx).await), 401);
}

#[tokio::test]
async fn client_certificates_map_or_are_refused() {
    let w = world(json!({})).await;
    let mut cx = request(&[]);
    cx.tls = cert("URI:spiffe://example.org/billing", "T1");
    assert_eq!(run(&w.stage, &mut cx).await, Verdict::Continue);
    let id = cx.identity.as_ref().unwrap();
    assert_eq!(
        (id.consumer.as_str(), id.method.as_str()),
        ("billing", "mtls")
    );
    let mut cx = request(&[]);
    cx.tls = cert("URI:spiffe://example.org/evil", "T2");
    assert_eq!(status(&run(&w.stage, &mut cx).await), 401);
}

#[tokio::test]
async fn certificate_bound_tokens_need_their_certificate() {
    let w = world(json!({})).await;
    let mut bound = claims();
    bound["cnf"] = json!({"x5t#S256": "T1"});
    let header = format!("Bearer {}", w.es.sign(&bound));
    let mut cx = request(&[("authorization", &header)]);
    assert_eq!(status(&run(&w.stage, &mut cx).await), 401, "no certificate");
    let mut cx = request(&[("authorization", &header)]);
    cx.tls = cert("URI:spiffe://example.org/other", "T2");
    assert_eq!(
        status(&run(&w.stage, &mut cx).await),
        401,
        "other certificate"
    );
    let mut cx = request(&[("authorization", &header)]);
    cx.tls = cert("URI:spiffe://example.org/other", "T1");
    assert_eq!(run(&w.stage, &mut cx).await, Verdict::Continue);
    assert_eq!(
        cx.identity.as_ref().unwrap().consumer,
        "alice",
        "the token's identity, not the cert's"
    );
}

#[tokio::test]
async fn anonymous_mode_continues_without_identity() {
    let w = world(json!({"anonymous": true})).await;
    let mut cx = request(&[("x-user", "root")]);
    assert_eq!(run(&w.stage, &mut cx).await, Verdict::Continue);
    assert!(cx.identity.is_none());
    assert!(cx.headers.get("x-user").is_none());
    // ...but a bad credential is still refused.
    let mut cx = request(&[("x-api-key", "rk_bad")]);
    assert_eq!(status(&run(&w.stage, &mut cx).await), 401);
}

#[test]
fn config_errors_name_the_field() {
    let deps = AuthnDeps {
        clock: Arc::new(ManualClock::at_secs(NOW)),
        jwks_sources: Arc::new(Sources(FakeJwks::new(Vec::new()))),
        key_store: None,
        introspector: None,
        revocations: Arc::new(RevocationList::new(
            Arc::new(ManualClock::at_secs(NOW)),
            10,
            0,
        )),
    };
    let err = AuthnConfig::default()
        .build("apis.pets.authn", &deps)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("apis.pets.authn:"), "{err}");
    let cfg: AuthnConfig = serde_json::from_value(json!({
        "api_key": {"pepper": {"file": temp_file("p3", &[1; 32])}}
    }))
    .unwrap();
    let err = cfg.build("apis.pets.authn", &deps).unwrap_err().to_string();
    assert!(err.starts_with("apis.pets.authn.api_key"), "{err}");
    let cfg: Result<AuthnConfig, _> = serde_json::from_value(json!({"anonymous": true, "typo": 1}));
    assert!(cfg.is_err());
}

/// The reason the stage leaves for the lock-out, and whether it is a guess.
fn refusal(cx: &RequestCx) -> (&'static str, bool) {
    let r = cx
        .extensions
        .get::<rampart_authn::AuthnRefusal>()
        .expect("the stage leaves its reason");
    (r.reason, r.is_guess())
}

#[tokio::test]
async fn refusals_leave_their_reason_and_only_guesses_count() {
    let w = world(json!({})).await;
    let bearer = |token: &str| request(&[("authorization", &format!("Bearer {token}"))]);
    // Correctly signed but expired, or revoked: genuine tokens, not guesses.
    let expired =
        w.es.sign(&json!({"iss": ISS, "aud": AUD, "sub": "a", "exp": NOW - 3600}));
    let mut cx = bearer(&expired);
    assert_eq!(status(&run(&w.stage, &mut cx).await), 401);
    assert_eq!(refusal(&cx), ("jwt-expired", false));
    let other_audience =
        w.es.sign(&json!({"iss": ISS, "aud": "other", "sub": "a", "exp": NOW + 60}));
    let mut cx = bearer(&other_audience);
    run(&w.stage, &mut cx).await;
    assert_eq!(refusal(&cx), ("jwt-wrong-audience", false));
    // A forged signature (another key under the issuer's kid), an unknown kid,
    // garbage: guesses.
    let forger = TestKey::es256("es-1");
    let mut cx = bearer(&forger.sign(&claims()));
    assert_eq!(status(&run(&w.stage, &mut cx).await), 401);
    assert_eq!(refusal(&cx), ("jwt-bad-signature", true));
    let mut cx = bearer(&TestKey::es256("nope").sign(&claims()));
    run(&w.stage, &mut cx).await;
    assert_eq!(refusal(&cx), ("jwt-unknown-kid", true));
    let mut cx = bearer("a.b.c");
    run(&w.stage, &mut cx).await;
    assert_eq!(refusal(&cx), ("jwt-malformed", true));
    let mut cx = request(&[("x-api-key", "rk_aaaaaaaa_notavalidkey")]);
    run(&w.stage, &mut cx).await;
    assert!(refusal(&cx).1, "an unknown API key is a guess");
    let mut cx = bearer("opaque-bad");
    run(&w.stage, &mut cx).await;
    assert_eq!(refusal(&cx), ("introspection-inactive", true));
    // No credential: not a guess. Accepted: no refusal left.
    let mut cx = request(&[]);
    run(&w.stage, &mut cx).await;
    assert_eq!(refusal(&cx), ("missing-credential", false));
    let mut cx = bearer(&w.es.sign(&claims()));
    assert_eq!(run(&w.stage, &mut cx).await, Verdict::Continue);
    assert!(cx.extensions.get::<rampart_authn::AuthnRefusal>().is_none());
}
