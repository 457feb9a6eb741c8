#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use rampart_authn::apikey::{ApiKeyConfig, ApiKeyError, ApiKeys, KeyStore};
use rampart_authn::clock::ManualClock;

use super::*;

const NOW: u64 = 1_800_000_000;

struct Fixture {
    config: KeyStoreConfig,
    pepper_file: PathBuf,
    clock: Arc<ManualClock>,
}

fn fixture(name: &str) -> Fixture {
    let db = crate::keystore::tests::temp_db(name);
    let dir = db.parent().unwrap().to_path_buf();
    let pepper_file = dir.join("pepper");
    std::fs::write(&pepper_file, format!("{}\n", "q".repeat(40))).unwrap();
    Fixture {
        config: KeyStoreConfig::new("keys.db", "file:pepper").relative_to(&dir),
        pepper_file,
        clock: Arc::new(ManualClock::at_secs(NOW)),
    }
}

impl Fixture {
    /// The gateway's side: the engine built from an `api_key` section naming the
    /// same pepper file, over the same database.
    async fn gateway(&self) -> ApiKeys {
        let section: ApiKeyConfig = serde_json::from_value(serde_json::json!({
            "pepper": {"file": self.pepper_file},
        }))
        .unwrap();
        let store: Arc<dyn KeyStore> = Arc::new(self.config.open("ks").await.unwrap());
        section
            .build("api_key", store, self.clock.clone())
            .unwrap()
            .0
    }

    async fn create(&self, args: &CreateKeyArgs) -> (String, String) {
        let text = keys_create_with(&self.config, args, self.clock.clone())
            .await
            .unwrap();
        (key_in(&text), text)
    }
}

fn key_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("rk_"))
        .unwrap()
        .to_string()
}

fn alice() -> CreateKeyArgs {
    CreateKeyArgs {
        consumer: "alice".into(),
        scopes: vec!["pets:read".into(), " pets:write".into(), "pets:read".into()],
        roles: vec!["admin".into()],
        plan: Some("pro".into()),
        expires: Some("30d".into()),
    }
}

#[tokio::test]
async fn create_shows_the_key_once_and_the_gateway_accepts_it() {
    let f = fixture("create");
    let (key, text) = f.create(&alice()).await;
    assert_eq!(text.matches(&key).count(), 1);
    let gateway = f.gateway().await;
    let record = gateway.verify(&key).await.unwrap();
    assert_eq!(record.consumer, "alice");
    assert_eq!(record.scopes, vec!["pets:read", "pets:write"]);
    assert_eq!(record.roles, vec!["admin"]);
    assert_eq!(record.plan.as_deref(), Some("pro"));
    assert_eq!(record.expires_at, Some(NOW + 30 * 86_400));
    // Expiry holds.
    f.clock.set_secs(NOW + 30 * 86_400);
    assert_eq!(gateway.verify(&key).await, Err(ApiKeyError::Expired));
}

#[tokio::test]
async fn create_with_an_absolute_expiry() {
    let f = fixture("abs");
    let args = CreateKeyArgs {
        expires: Some("2027-01-31T00:00:00Z".into()),
        ..alice()
    };
    let (key, text) = f.create(&args).await;
    assert!(text.contains("2027-01-31T00:00:00Z"), "{text}");
    let record = f.gateway().await.verify(&key).await.unwrap();
    assert_eq!(record.expires_at, Some(1_801_353_600));
}

#[tokio::test]
async fn create_refuses_bad_arguments() {
    let f = fixture("bad");
    let cases = [
        CreateKeyArgs {
            consumer: String::new(),
            ..alice()
        },
        CreateKeyArgs {
            consumer: "a b".into(),
            ..alice()
        },
        CreateKeyArgs {
            consumer: "x".repeat(MAX_NAME_LEN + 1),
            ..alice()
        },
        CreateKeyArgs {
            consumer: "evil\u{1b}[2J".into(),
            ..alice()
        },
        CreateKeyArgs {
            scopes: vec!["a,b".into()],
            ..alice()
        },
        CreateKeyArgs {
            roles: vec![String::new()],
            ..alice()
        },
        CreateKeyArgs {
            scopes: (0..=MAX_GRANTS).map(|i| format!("s{i}")).collect(),
            ..alice()
        },
        CreateKeyArgs {
            expires: Some("2020-01-01T00:00:00Z".into()),
            ..alice()
        },
        CreateKeyArgs {
            expires: Some("soon".into()),
            ..alice()
        },
    ];
    for args in cases {
        let err = keys_create_with(&f.config, &args, f.clock.clone()).await;
        assert!(matches!(err, Err(AdapterError::Invalid { .. })), "{args:?}");
    }
    // Nothing was stored.
    let store = f.config.open("ks").await.unwrap();
    assert!(store.list().await.unwrap().is_empty());
    // A short or missing pepper is refused before anything is created.
    std::fs::write(&f.pepper_file, "short").unwrap();
    let err = keys_create_with(&f.config, &alice(), f.clock.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("key_store.pepper"), "{err}");
}

#[tokio::test]
async fn list_shows_metadata_and_never_a_secret() {
    let f = fixture("list");
    let (key1, _) = f.create(&alice()).await;
    let (key2, _) = f
        .create(&CreateKeyArgs {
            consumer: "bob".into(),
            ..CreateKeyArgs::default()
        })
        .await;
    let (_, record2) = keys_revoke_with(
        &f.config,
        &RevokeKeyArgs {
            prefix: key2[3..11].to_string(),
        },
        f.clock.clone(),
    )
    .await
    .unwrap();
    let text = keys_list_with(&f.config, f.clock.clone()).await.unwrap();
    assert!(
        text.contains(&key1[3..11]) && text.contains(&record2.prefix),
        "{text}"
    );
    assert!(text.contains("alice") && text.contains("bob"));
    assert!(text.contains("active") && text.contains("revoked"));
    assert!(text.contains("2 key(s)"));
    for secret in [&key1[12..], &key2[12..]] {
        assert!(!text.contains(secret), "{text}");
    }
    // Nor the hash, in any usual encoding.
    let hash: String = record2.hash.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!text.contains(&hash[..16]));
}

#[tokio::test]
async fn revoke_refuses_the_key_and_unknown_prefixes_are_errors() {
    let f = fixture("revoke");
    let (key, _) = f.create(&alice()).await;
    let gateway = f.gateway().await;
    assert!(gateway.verify(&key).await.is_ok());
    let text = keys_revoke_with(
        &f.config,
        &RevokeKeyArgs {
            prefix: key[3..11].to_string(),
        },
        f.clock.clone(),
    )
    .await
    .unwrap()
    .0;
    assert!(text.contains("Revoked") && !text.contains(&key[12..]));
    assert_eq!(gateway.verify(&key).await, Err(ApiKeyError::Revoked));
    let err = keys_revoke(
        &f.config,
        &RevokeKeyArgs {
            prefix: "zzzzzzzz".into(),
        },
    )
    .await;
    assert!(matches!(err, Err(AdapterError::UnknownKey(_))), "{err:?}");
    for prefix in ["", "../x", "a b"] {
        let err = keys_revoke(
            &f.config,
            &RevokeKeyArgs {
                prefix: prefix.into(),
            },
        )
        .await;
        assert!(matches!(err, Err(AdapterError::Invalid { .. })), "{prefix}");
    }
}

#[tokio::test]
async fn rotate_replaces_the_key_with_the_same_grants() {
    let f = fixture("rotate");
    let (old, _) = f.create(&alice()).await;
    let gateway = f.gateway().await;
    let text = keys_rotate_with(
        &f.config,
        &RotateKeyArgs {
            prefix: old[3..11].to_string(),
            grace: None,
            expires: None,
        },
        f.clock.clone(),
    )
    .await
    .unwrap();
    let new = key_in(&text);
    assert_ne!(new, old);
    assert_eq!(text.matches(&new).count(), 1);
    assert!(!text.contains(&old[12..]));
    let record = gateway.verify(&new).await.unwrap();
    assert_eq!(record.consumer, "alice");
    assert_eq!(record.scopes, vec!["pets:read", "pets:write"]);
    assert_eq!(gateway.verify(&old).await, Err(ApiKeyError::Revoked));
    // A revoked key cannot be rotated.
    let err = keys_rotate(
        &f.config,
        &RotateKeyArgs {
            prefix: old[3..11].to_string(),
            grace: None,
            expires: None,
        },
    )
    .await;
    assert!(
        matches!(err, Err(AdapterError::Key(ApiKeyError::Revoked))),
        "{err:?}"
    );
}

#[tokio::test]
async fn rotate_with_grace_keeps_the_old_key_for_a_while() {
    let f = fixture("grace");
    let (old, _) = f.create(&alice()).await;
    let gateway = f.gateway().await;
    let text = keys_rotate_with(
        &f.config,
        &RotateKeyArgs {
            prefix: old[3..11].to_string(),
            grace: Some("1h".into()),
            expires: None,
        },
        f.clock.clone(),
    )
    .await
    .unwrap();
    let new = key_in(&text);
    assert!(gateway.verify(&old).await.is_ok());
    f.clock.set_secs(NOW + 3_600);
    assert_eq!(gateway.verify(&old).await, Err(ApiKeyError::Expired));
    assert!(gateway.verify(&new).await.is_ok());
    let err = keys_rotate(
        &f.config,
        &RotateKeyArgs {
            prefix: new[3..11].to_string(),
            grace: Some("forever".into()),
            expires: None,
        },
    )
    .await;
    assert!(matches!(err, Err(AdapterError::Invalid { .. })), "{err:?}");
}

#[tokio::test]
async fn an_expired_key_is_rotated_only_with_expires() {
    let f = fixture("rotate-expired");
    let (old, _) = f.create(&alice()).await;
    let gateway = f.gateway().await;
    f.clock.set_secs(NOW + 31 * 86_400);
    let rotate = |expires: Option<&str>| RotateKeyArgs {
        prefix: old[3..11].to_string(),
        grace: None,
        expires: expires.map(Into::into),
    };
    let err = keys_rotate_with(&f.config, &rotate(None), f.clock.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("has expired") && err.contains("--expires"),
        "{err}"
    );
    assert_eq!(
        keys_list_with(&f.config, f.clock.clone())
            .await
            .unwrap()
            .matches("alice")
            .count(),
        1
    );
    let text = keys_rotate_with(&f.config, &rotate(Some("7d")), f.clock.clone())
        .await
        .unwrap();
    let record = gateway.verify(&key_in(&text)).await.unwrap();
    assert_eq!(record.expires_at, Some(NOW + 31 * 86_400 + 7 * 86_400));
}

#[test]
fn a_revocation_expiry_in_the_past_is_refused() {
    use super::shared::expires_at;
    assert_eq!(expires_at(None, NOW).unwrap(), u64::MAX);
    assert_eq!(expires_at(Some("1h"), NOW).unwrap(), NOW + 3600);
    assert_eq!(
        expires_at(Some("2100-01-01T00:00:00Z"), NOW).unwrap(),
        4_102_444_800
    );
    let error = expires_at(Some("2020-01-01T00:00:00Z"), NOW)
        .unwrap_err()
        .to_string();
    assert!(error.contains("in the past"), "{error}");
}
