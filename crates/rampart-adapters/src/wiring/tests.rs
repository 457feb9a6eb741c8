//! End to end: CLI-created key, SQLite store, HTTP introspection and JWKS, and
//! revocation, all through the authentication stage built from `authn_deps`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use rampart_authn::clock::SystemClock;
use rampart_authn::revocation::{CredentialKind, Revocation, RevocationList};
use rampart_core::{RequestCx, Stage, Step, Verdict};

use super::*;
use crate::keys_cli::{CreateKeyArgs, keys_create};
use crate::test_support::{Answer, serve};

const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

async fn run(stage: &rampart_authn::AuthnStage, headers: &[(&str, &str)]) -> (Verdict, RequestCx) {
    let mut cx = RequestCx::new(
        "req-1".into(),
        "127.0.0.1:5555".parse().unwrap(),
        http::Method::GET,
        "/pets".into(),
    );
    for (name, value) in headers {
        cx.headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let verdict = match stage.on_request(&mut cx) {
        Step::Done(verdict) => verdict,
        Step::Wait(future) => future.await,
    };
    (verdict, cx)
}

/// Captures every log line (all levels) on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn write(dir: &Path, name: &str, value: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, value).unwrap();
    path
}

#[tokio::test]
async fn one_call_wires_every_adapter_into_the_stage() {
    // Everything below runs on this thread (current-thread runtime): capture its
    // logs at every level to prove no secret reaches them.
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let db = crate::keystore::tests::temp_db("wiring");
    let dir = db.parent().unwrap().to_path_buf();
    let pepper = write(&dir, "pepper", &"w".repeat(48));
    let client_secret = write(&dir, "client-secret", "introspection-secret");
    let key_store = KeyStoreConfig::new("keys.db", "file:pepper").relative_to(&dir);
    let created = keys_create(
        &key_store,
        &CreateKeyArgs {
            consumer: "alice".into(),
            scopes: vec!["pets:read".into()],
            ..CreateKeyArgs::default()
        },
    )
    .await
    .unwrap();
    let key = created
        .split_whitespace()
        .find(|w| w.starts_with("rk_"))
        .unwrap()
        .to_string();

    let idp = serve(Answer::ok(
        r#"{"active":true,"sub":"bob","scope":"pets:read","aud":"pets"}"#,
    ))
    .await;
    let jwks = serve(Answer::ok(JWKS)).await;
    let authn: AuthnConfig = serde_json::from_value(serde_json::json!({
        "api_key": {"pepper": {"file": pepper}},
        "introspection": {
            "endpoint": idp.url("/introspect"),
            "client_id": "gateway",
            "client_secret": {"file": client_secret},
            "audiences": ["pets"],
        },
        "jwt": {"issuers": [{
            "issuer": "https://idp.test",
            "audiences": ["pets"],
            "algorithms": ["EdDSA"],
            "jwks_url": jwks.url("/jwks.json"),
        }]},
    }))
    .unwrap();
    let config = AdaptersConfig {
        key_store: Some(key_store),
        ..AdaptersConfig::default()
    };
    let revocations = Arc::new(RevocationList::new(Arc::new(SystemClock), 1_000, 60));
    let (deps, adapters) = authn_deps(&config, "adapters", &authn, "apis.pets.authn", revocations)
        .await
        .unwrap();
    let stage = authn.build("apis.pets.authn", &deps).unwrap();
    assert_eq!(stage.jwks_caches().len(), 1);

    // The key the CLI printed authenticates.
    let (verdict, cx) = run(&stage, &[("x-api-key", &key)]).await;
    assert!(matches!(verdict, Verdict::Continue));
    let identity = cx.identity.unwrap();
    assert_eq!(identity.consumer, "alice");
    assert_eq!(identity.scopes, vec!["pets:read"]);

    // A forged key with the same prefix does not.
    let mut forged = key.clone();
    forged.replace_range(20..21, if &key[20..21] == "A" { "B" } else { "A" });
    let (verdict, cx) = run(&stage, &[("x-api-key", &forged)]).await;
    assert!(matches!(verdict, Verdict::Respond(ref p) if p.kind.status == 401));
    assert!(cx.identity.is_none());

    // An opaque bearer token goes to the introspection endpoint, authenticated.
    let (verdict, cx) = run(&stage, &[("authorization", "Bearer opaque-token-abc")]).await;
    assert!(matches!(verdict, Verdict::Continue));
    assert_eq!(cx.identity.unwrap().consumer, "bob");
    let seen = idp.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].headers[http::header::AUTHORIZATION]
            .to_str()
            .unwrap()
            .starts_with("Basic ")
    );

    // Revoked through the adapters (local only here: no Redis configured).
    adapters
        .revoke(Revocation {
            kind: CredentialKind::ApiKey,
            id: key[3..11].to_string(),
            expires_at: u64::MAX,
        })
        .await
        .unwrap();
    let (verdict, _) = run(&stage, &[("x-api-key", &key)]).await;
    assert!(matches!(verdict, Verdict::Respond(ref p) if p.kind.status == 401));

    // The introspection endpoint fails: fail closed, and say why without secrets.
    idp.set(Answer {
        status: http::StatusCode::UNAUTHORIZED,
        ..Answer::ok("bad client introspection-secret")
    });
    let (verdict, _) = run(&stage, &[("authorization", "Bearer opaque-token-xyz")]).await;
    assert!(matches!(verdict, Verdict::Respond(_)));
    // Debug output of every configured piece goes through the log too.
    tracing::info!(?adapters, ?config, ?stage, "wired");

    let text = logs.text();
    assert!(text.contains("introspection"), "nothing was logged: {text}");
    for secret in [
        &key[12..],
        &forged[12..],
        "opaque-token-abc",
        "opaque-token-xyz",
        "introspection-secret",
        &"w".repeat(48),
    ] {
        assert!(!text.contains(secret), "a secret reached the log: {text}");
    }
}

#[tokio::test]
async fn missing_pieces_are_reported_with_their_path() {
    let revocations = Arc::new(RevocationList::new(Arc::new(SystemClock), 1_000, 60));
    let authn: AuthnConfig = serde_json::from_value(serde_json::json!({
        "api_key": {"pepper": {"env": "PATH"}},
    }))
    .unwrap();
    // No key store configured: the engine refuses the api_key section.
    let (deps, _adapters) = authn_deps(
        &AdaptersConfig::default(),
        "adapters",
        &authn,
        "apis.pets.authn",
        revocations.clone(),
    )
    .await
    .unwrap();
    let err = authn
        .build("apis.pets.authn", &deps)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("apis.pets.authn.api_key"), "{err}");

    // An introspection secret that cannot be loaded names its field.
    let authn: AuthnConfig = serde_json::from_value(serde_json::json!({
        "introspection": {
            "endpoint": "https://idp.example.com/introspect",
            "client_id": "gateway",
            "client_secret": {"env": "RAMPART_SURELY_UNSET_SECRET"},
        },
    }))
    .unwrap();
    let Err(err) = authn_deps(
        &AdaptersConfig::default(),
        "adapters",
        &authn,
        "apis.pets.authn",
        revocations.clone(),
    )
    .await
    else {
        panic!("an unloadable secret must fail");
    };
    let err = err.to_string();
    assert!(
        err.starts_with("apis.pets.authn.introspection.client_secret"),
        "{err}"
    );

    // An API whose pepper is not the key store's is refused.
    let db = crate::keystore::tests::temp_db("pepper-mismatch");
    let dir = db.parent().unwrap().to_path_buf();
    write(&dir, "store-pepper", &"a".repeat(32));
    let other = write(&dir, "api-pepper", &"b".repeat(32));
    let config = AdaptersConfig {
        key_store: Some(KeyStoreConfig::new("keys.db", "file:store-pepper").relative_to(&dir)),
        ..AdaptersConfig::default()
    };
    let authn: AuthnConfig = serde_json::from_value(serde_json::json!({
        "api_key": {"pepper": {"file": other}},
    }))
    .unwrap();
    let Err(err) = authn_deps(
        &config,
        "adapters",
        &authn,
        "apis.pets.authn",
        revocations.clone(),
    )
    .await
    else {
        panic!("a pepper mismatch must fail");
    };
    let err = err.to_string();
    assert!(err.starts_with("apis.pets.authn.api_key.pepper"), "{err}");
    assert!(!err.contains("aaaa") && !err.contains("bbbb"), "{err}");

    // A leeway past the revocation retention (60 s here) would let a revoked
    // token back in once its revocation is purged: refused. At the retention,
    // it is not.
    let jwt = |leeway: u64| -> AuthnConfig {
        serde_json::from_value(serde_json::json!({
            "jwt": {"issuers": [
                {"issuer": "https://a.example", "audiences": ["api"], "algorithms": ["EdDSA"], "jwks_url": "https://a.example/jwks"},
                {"issuer": "https://b.example", "audiences": ["api"], "algorithms": ["EdDSA"], "jwks_url": "https://b.example/jwks", "leeway_seconds": leeway},
            ]},
        }))
        .unwrap()
    };
    let Err(err) = authn_deps(
        &AdaptersConfig::default(),
        "adapters",
        &jwt(900),
        "apis.pets.authn",
        revocations.clone(),
    )
    .await
    else {
        panic!("a leeway past the retention must fail");
    };
    let err = err.to_string();
    assert!(
        err.starts_with("apis.pets.authn.jwt.issuers[1].leeway_seconds"),
        "{err}"
    );
    assert!(err.contains("retention (60 s"), "{err}");
    assert!(
        authn_deps(
            &AdaptersConfig::default(),
            "adapters",
            &jwt(60),
            "apis.pets.authn",
            revocations.clone(),
        )
        .await
        .is_ok()
    );

    // A bad adapters section names its field.
    let config: AdaptersConfig = serde_json::from_value(serde_json::json!({
        "http": {"timeout_ms": 0},
    }))
    .unwrap();
    let err = Adapters::start(&config, "adapters", revocations, Arc::new(SystemClock))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("adapters.http.timeout_ms"), "{err}");
    let schema = serde_json::to_string(&schemars::schema_for!(AdaptersConfig)).unwrap();
    for field in [
        "key_store",
        "revocation",
        "redis_url",
        "pepper",
        "timeout_ms",
    ] {
        assert!(schema.contains(field), "{field}");
    }
}
