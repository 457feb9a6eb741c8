//! The revocation endpoints: refused without the right token (and absent
//! without a configured one), working with it, through the same path as
//! `rampart revoke` (Redis-shared when configured).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use rampart_authn::clock::SystemClock;
use rampart_authn::revocation::{CredentialKind, RevocationList};

use super::*;
use crate::test_support::RedisServer;
use crate::{AdaptersConfig, RevocationSyncConfig};

const PEER: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);
const TOKEN: &str = "admin-token-0123456789abcdef";

fn token_file(name: &str) -> String {
    let path = std::env::temp_dir().join(format!("rampart-admin-{}-{name}", std::process::id()));
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    format!("file:{}", path.display())
}

async fn adapters(config: AdaptersConfig) -> Adapters {
    let clock = Arc::new(SystemClock);
    let list = Arc::new(RevocationList::new(clock.clone(), 1000, 60));
    Adapters::start(&config, "identity", list, clock)
        .await
        .unwrap()
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

#[tokio::test]
async fn without_a_configured_token_the_endpoints_do_not_exist() {
    let a = adapters(AdaptersConfig::default()).await;
    let body = br#"{"kind":"jti","id":"t1"}"#;
    for auth in [None, Some(bearer(TOKEN)), Some(bearer(""))] {
        let answer = a
            .admin_request(PEER, "POST", "/revocations", auth.as_deref(), body)
            .await
            .unwrap();
        assert_eq!(answer.status, 404);
    }
    assert!(!a.revocations().is_revoked(CredentialKind::Jti, "t1"));
    // Other paths are the gateway's.
    assert!(
        a.admin_request(PEER, "GET", "/healthz", None, b"")
            .await
            .is_none()
    );
    assert!(
        a.admin_request(PEER, "GET", "/revocations/x", None, b"")
            .await
            .is_none()
    );
}

#[tokio::test]
async fn wrong_or_missing_tokens_are_refused_and_the_right_one_revokes() {
    let a = adapters(AdaptersConfig {
        admin_token: Some(token_file("ok")),
        ..AdaptersConfig::default()
    })
    .await;
    let body = br#"{"kind":"api_key","id":"abcdef23","expires_at":4102444800}"#;
    let wrong = [
        None,
        Some(b"Bearer".to_vec()),
        Some(bearer("admin-token-0123456789abcdeF")),
        Some(bearer(&TOKEN[..TOKEN.len() - 1])),
        Some(format!("Basic {TOKEN}").into_bytes()),
        Some(format!("bearer  {TOKEN}").into_bytes()),
    ];
    for auth in &wrong {
        let answer = a
            .admin_request(PEER, "POST", "/revocations", auth.as_deref(), body)
            .await
            .unwrap();
        assert_eq!(answer.status, 401, "{auth:?}");
        assert!(answer.challenge.is_some());
        let answer = a
            .admin_request(PEER, "GET", "/revocations", auth.as_deref(), b"")
            .await
            .unwrap();
        assert_eq!(answer.status, 401);
    }
    assert!(
        !a.revocations()
            .is_revoked(CredentialKind::ApiKey, "abcdef23")
    );

    let auth = bearer(TOKEN);
    let answer = a
        .admin_request(PEER, "POST", "/revocations", Some(&auth), body)
        .await
        .unwrap();
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.body["revoked"]["expires_at"], "2100-01-01T00:00:00Z");
    // No key store configured: nothing to say about one.
    assert_eq!(answer.body["key_store"], Value::Null);
    assert!(
        a.revocations()
            .is_revoked(CredentialKind::ApiKey, "abcdef23")
    );
    let rfc = br#"{"kind":"jti","id":"tok-9","expires_at":"2100-01-01T00:00:00Z"}"#;
    assert_eq!(
        a.admin_request(PEER, "POST", "/revocations", Some(&auth), rfc)
            .await
            .unwrap()
            .status,
        201
    );
    let listed = a
        .admin_request(PEER, "GET", "/revocations", Some(&auth), b"")
        .await
        .unwrap();
    assert_eq!(listed.status, 200);
    let items = listed.body["revocations"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["kind"], "api_key");
    assert_eq!(items[1]["id"], "tok-9");

    // Malformed requests: 400 without echoing the input; other methods 405.
    for bad in [
        &b"not json"[..],
        br#"{"kind":"session","id":"x"}"#,
        br#"{"kind":"jti","id":""}"#,
        br#"{"kind":"jti","id":"a\u0000b"}"#,
        br#"{"kind":"jti","id":"x","expires_at":"tomorrow"}"#,
        br#"{"kind":"jti","id":"x","extra":1}"#,
    ] {
        let answer = a
            .admin_request(PEER, "POST", "/revocations", Some(&auth), bad)
            .await
            .unwrap();
        assert_eq!(answer.status, 400, "{}", String::from_utf8_lossy(bad));
        assert!(!answer.body.to_string().contains("session"));
    }
    // An expiry long past revokes nothing: 400, not "201 revoked".
    for past in [
        &br#"{"kind":"api_key","id":"oldkey23","expires_at":"2020-01-01T00:00:00Z"}"#[..],
        br#"{"kind":"jti","id":"old-tok","expires_at":0}"#,
    ] {
        let answer = a
            .admin_request(PEER, "POST", "/revocations", Some(&auth), past)
            .await
            .unwrap();
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert!(
            answer.body["detail"]
                .as_str()
                .unwrap()
                .contains("in the past")
        );
    }
    assert!(
        !a.revocations()
            .is_revoked(CredentialKind::ApiKey, "oldkey23")
    );
    let long = format!(r#"{{"kind":"jti","id":"{}"}}"#, "x".repeat(MAX_ADMIN_BODY));
    assert_eq!(
        a.admin_request(PEER, "POST", "/revocations", Some(&auth), long.as_bytes())
            .await
            .unwrap()
            .status,
        413
    );
    let answer = a
        .admin_request(PEER, "DELETE", "/revocations", Some(&auth), b"")
        .await
        .unwrap();
    assert_eq!(answer.status, 405);
    assert_eq!(answer.allow, Some("GET, HEAD, POST"));
}

#[tokio::test]
async fn api_keys_are_revoked_by_key_id_and_a_pasted_key_never_stored_or_echoed() {
    let a = adapters(AdaptersConfig {
        admin_token: Some(token_file("key-ids")),
        ..AdaptersConfig::default()
    })
    .await;
    let auth = bearer(TOKEN);
    let (prefix, key) = rampart_authn::apikey::format::generate().unwrap();
    let key = String::from_utf8(key.expose().to_vec()).unwrap();
    let secret = &key[12..];
    // The whole key, pasted: revoked by its id, the secret nowhere.
    let body = json!({"kind": "api_key", "id": key}).to_string();
    let answer = a
        .admin_request(PEER, "POST", "/revocations", Some(&auth), body.as_bytes())
        .await
        .unwrap();
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.body["revoked"]["id"], prefix.as_str());
    assert!(!answer.body.to_string().contains(secret));
    assert!(a.revocations().is_revoked(CredentialKind::ApiKey, &prefix));
    let listed = a
        .admin_request(PEER, "GET", "/revocations", Some(&auth), b"")
        .await
        .unwrap();
    assert!(!listed.body.to_string().contains(secret), "{}", listed.body);
    assert!(
        a.revocations()
            .snapshot()
            .iter()
            .all(|entry| !entry.id.contains(secret))
    );
    // Ids that could never match a key: 400 naming the expected format, not
    // "201 revoked" while the key keeps working; the input is not echoed.
    for id in [
        "AbC123",
        "abcdefg",
        "abcdefghi",
        "ABCDEFGH",
        "rk_abcdefgh",
        &key[..key.len() - 1],
    ] {
        let body = json!({"kind": "api_key", "id": id}).to_string();
        let answer = a
            .admin_request(PEER, "POST", "/revocations", Some(&auth), body.as_bytes())
            .await
            .unwrap();
        assert_eq!(answer.status, 400, "{id}: {answer:?}");
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains("8 lowercase base32"), "{detail}");
        assert!(!answer.body.to_string().contains(id), "{id} echoed");
    }
    assert_eq!(a.revocations().snapshot().len(), 1);
}

#[tokio::test]
async fn an_admin_api_key_revocation_survives_a_restart_without_redis() {
    use crate::keys_cli::{CreateKeyArgs, keys_create};
    use crate::keystore::KeyStoreConfig;
    use rampart_core::{RequestCx, Stage};

    let db = crate::keystore::tests::temp_db("admin-restart");
    let dir = db.parent().unwrap().to_path_buf();
    std::fs::write(dir.join("pepper"), "p".repeat(32)).unwrap();
    let key_store = KeyStoreConfig::new("keys.db", "file:pepper").relative_to(&dir);
    let created = keys_create(
        &key_store,
        &CreateKeyArgs {
            consumer: "mallory".into(),
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
    let config = AdaptersConfig {
        key_store: Some(key_store),
        admin_token: Some(token_file("restart")),
        ..AdaptersConfig::default()
    };
    let authn: rampart_authn::AuthnConfig = serde_json::from_value(json!({
        "api_key": {"pepper": {"file": dir.join("pepper")}},
    }))
    .unwrap();
    // The status the key gets from an authentication stage over `adapters`.
    async fn status(adapters: &Adapters, authn: &rampart_authn::AuthnConfig, key: &str) -> u16 {
        let deps = adapters.authn_deps(authn, "authn").unwrap();
        let stage = authn.build("authn", &deps).unwrap();
        let mut cx = RequestCx::new(
            "req-1".into(),
            "127.0.0.1:5555".parse().unwrap(),
            http::Method::GET,
            "/".into(),
        );
        cx.headers.insert("x-api-key", key.parse().unwrap());
        match stage.on_request(&mut cx).resolve().await {
            rampart_core::Verdict::Continue => 200,
            rampart_core::Verdict::Respond(problem) => problem.kind.status,
        }
    }

    let first = adapters(config.clone()).await;
    assert_eq!(status(&first, &authn, &key).await, 200);
    let body = json!({"kind": "api_key", "id": &key[3..11]}).to_string();
    let answer = first
        .admin_request(
            PEER,
            "POST",
            "/revocations",
            Some(&bearer(TOKEN)),
            body.as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.body["key_store"], "revoked");
    assert_eq!(status(&first, &authn, &key).await, 401);
    // A key id the store does not know is still revoked (in the list).
    let unknown = json!({"kind": "api_key", "id": "zzzzzzzz"}).to_string();
    let answer = first
        .admin_request(
            PEER,
            "POST",
            "/revocations",
            Some(&bearer(TOKEN)),
            unknown.as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.body["key_store"], "unknown_key");
    assert!(
        first
            .revocations()
            .is_revoked(CredentialKind::ApiKey, "zzzzzzzz")
    );

    // A restart: new adapters, an empty revocation list, no Redis.
    drop(first);
    let second = adapters(config).await;
    assert!(second.revocations().snapshot().is_empty());
    assert_eq!(status(&second, &authn, &key).await, 401);
}

#[tokio::test]
async fn weak_or_missing_token_secrets_fail_the_configuration() {
    let clock = Arc::new(SystemClock);
    let list = Arc::new(RevocationList::new(clock.clone(), 10, 0));
    let path = std::env::temp_dir().join(format!("rampart-admin-{}-weak", std::process::id()));
    std::fs::write(&path, "short").unwrap();
    for reference in [
        format!("file:{}", path.display()),
        "inline-secret-value-long-enough".to_string(),
        "env:RAMPART_ADMIN_SURELY_UNSET".to_string(),
    ] {
        let config = AdaptersConfig {
            admin_token: Some(reference),
            ..AdaptersConfig::default()
        };
        let err = Adapters::start(&config, "identity", list.clone(), clock.clone())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("identity.admin_token"), "{err}");
        assert!(!err.contains("inline-secret-value"), "{err}");
    }
}

#[tokio::test]
async fn admin_revocations_reach_another_instance_through_redis() {
    let Some(redis) = RedisServer::start() else {
        eprintln!("redis-server not installed; skipping");
        return;
    };
    let sync = RevocationSyncConfig::new(redis.url());
    let first = adapters(AdaptersConfig {
        revocation: Some(sync.clone()),
        admin_token: Some(token_file("shared")),
        ..AdaptersConfig::default()
    })
    .await;
    let second = adapters(AdaptersConfig {
        revocation: Some(sync),
        ..AdaptersConfig::default()
    })
    .await;
    for a in [&first, &second] {
        assert!(
            a.revocation_sync()
                .unwrap()
                .wait_synced(Duration::from_secs(5))
                .await
        );
    }
    let answer = first
        .admin_request(
            PEER,
            "POST",
            "/revocations",
            Some(&bearer(TOKEN)),
            br#"{"kind":"jti","id":"shared-1"}"#,
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 201);
    assert_eq!(answer.body["shared"], true);
    let mut seen = false;
    for _ in 0..100 {
        if second
            .revocations()
            .is_revoked(CredentialKind::Jti, "shared-1")
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        seen,
        "the other instance did not see the revocation within 1 s"
    );
}
