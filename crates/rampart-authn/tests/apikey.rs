//! API keys: the attacks that must be refused and the keys that must pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{NOW, temp_file};
use rampart_authn::apikey::{
    ApiKeyConfig, ApiKeyError, ApiKeyRecord, ApiKeys, KeyStore, MemoryKeyStore, NewKey, StoreError,
    identity,
};
use rampart_authn::clock::ManualClock;
use rampart_authn::secret::Secret;
use serde_json::json;

fn engine() -> (ApiKeys, Arc<MemoryKeyStore>, Arc<ManualClock>) {
    let store = Arc::new(MemoryKeyStore::new());
    let clock = Arc::new(ManualClock::at_secs(NOW));
    let keys = ApiKeys::new(store.clone(), &Secret::new(vec![42; 32]), clock.clone()).unwrap();
    (keys, store, clock)
}

fn spec() -> NewKey {
    NewKey {
        consumer: "acme".into(),
        scopes: vec!["pets:read".into()],
        roles: vec!["partner".into()],
        plan: Some("gold".into()),
        expires_in: Some(Duration::from_secs(3600)),
    }
}

fn text(secret: &Secret) -> String {
    String::from_utf8(secret.expose().to_vec()).unwrap()
}

#[tokio::test]
async fn a_created_key_verifies_and_carries_its_metadata() {
    let (keys, store, _) = engine();
    let created = keys.create(&spec()).await.unwrap();
    let key = text(&created.key);
    let record = keys.verify(&key).await.unwrap();
    assert_eq!(record.prefix, created.record.prefix);
    let id = identity(&record);
    assert_eq!(
        (id.consumer.as_str(), id.method.as_str()),
        ("acme", "api_key")
    );
    assert_eq!(id.credential_id.as_deref(), Some(record.prefix.as_str()));
    assert_eq!(id.scopes, ["pets:read"]);
    assert_eq!(id.roles, ["partner"]);
    assert_eq!(id.plan.as_deref(), Some("gold"));
    // Only the keyed hash is stored: the key appears nowhere in the record.
    let stored = store.get(&record.prefix).await.unwrap().unwrap();
    assert_eq!(stored.hash.len(), 32);
    let dump = serde_json::to_string(&stored).unwrap();
    assert!(!dump.contains(&key[12..]));
    assert!(!format!("{stored:?}").contains(&key[12..]));
    assert!(!format!("{created:?}").contains(&key[12..]));
}

#[tokio::test]
async fn forged_keys_are_refused() {
    let (keys, _, _) = engine();
    let created = keys.create(&spec()).await.unwrap();
    let key = text(&created.key);
    // Right prefix, wrong secret (one character flipped).
    let mut forged = key.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        keys.verify(std::str::from_utf8(&forged).unwrap()).await,
        Err(ApiKeyError::Mismatch)
    );
    // Unknown prefix.
    let other = format!("rk_aaaaaaaa{}", &key[11..]);
    assert_eq!(keys.verify(&other).await, Err(ApiKeyError::Unknown));
    // Malformed and oversized.
    for bad in ["", "rk_", "Bearer x", &"a".repeat(10_000)] {
        assert_eq!(keys.verify(bad).await, Err(ApiKeyError::Malformed));
    }
    // Same key under another pepper (e.g. a stolen database on another server).
    let (other_engine, other_store, _) = engine();
    other_store.insert(created.record.clone()).await.unwrap();
    assert!(other_engine.verify(&key).await.is_ok(), "same pepper works");
    let foreign = ApiKeys::new(
        other_store,
        &Secret::new(vec![1; 32]),
        Arc::new(ManualClock::at_secs(NOW)),
    )
    .unwrap();
    assert_eq!(foreign.verify(&key).await, Err(ApiKeyError::Mismatch));
}

#[tokio::test]
async fn expiry_is_enforced_at_the_boundary() {
    let (keys, _, clock) = engine();
    let key = text(&keys.create(&spec()).await.unwrap().key);
    clock.set_secs(NOW + 3599);
    keys.verify(&key).await.unwrap();
    clock.set_secs(NOW + 3600);
    assert_eq!(keys.verify(&key).await, Err(ApiKeyError::Expired));
}

#[tokio::test]
async fn revoked_key_is_refused_and_others_still_work() {
    let (keys, _, _) = engine();
    let a = keys.create(&spec()).await.unwrap();
    let b = keys.create(&spec()).await.unwrap();
    keys.revoke(&a.record.prefix).await.unwrap();
    assert_eq!(keys.verify(&text(&a.key)).await, Err(ApiKeyError::Revoked));
    keys.verify(&text(&b.key)).await.unwrap();
    assert_eq!(
        keys.revoke("nosuchpx").await.unwrap_err(),
        ApiKeyError::Unknown
    );
}

#[tokio::test]
async fn rotation_issues_a_new_key_and_retires_the_old_after_grace() {
    let (keys, _, clock) = engine();
    let old = keys.create(&spec()).await.unwrap();
    let new = keys
        .rotate(&old.record.prefix, Duration::from_secs(60), None)
        .await
        .unwrap();
    assert_ne!(new.record.prefix, old.record.prefix);
    assert_eq!(new.record.consumer, "acme");
    assert_eq!(new.record.expires_at, old.record.expires_at);
    keys.verify(&text(&old.key)).await.unwrap();
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        keys.verify(&text(&old.key)).await,
        Err(ApiKeyError::Expired)
    );
    keys.verify(&text(&new.key)).await.unwrap();
    // Immediate rotation revokes the old key at once.
    let newer = keys
        .rotate(&new.record.prefix, Duration::ZERO, None)
        .await
        .unwrap();
    assert_eq!(
        keys.verify(&text(&new.key)).await,
        Err(ApiKeyError::Revoked)
    );
    keys.verify(&text(&newer.key)).await.unwrap();
    assert_eq!(keys.list().await.unwrap().len(), 3);
}

#[tokio::test]
async fn an_expired_key_is_rotated_only_with_a_new_lifetime() {
    let (keys, _, clock) = engine();
    let old = keys.create(&spec()).await.unwrap();
    let expires_at = old.record.expires_at.unwrap();
    clock.set_secs(expires_at);
    // Its grants copied into a key already expired, reported as success: no.
    assert_eq!(
        keys.rotate(&old.record.prefix, Duration::ZERO, None)
            .await
            .unwrap_err(),
        ApiKeyError::Expired
    );
    assert_eq!(keys.list().await.unwrap().len(), 1, "nothing created");
    let new = keys
        .rotate(
            &old.record.prefix,
            Duration::ZERO,
            Some(Duration::from_secs(600)),
        )
        .await
        .unwrap();
    assert_eq!(new.record.expires_at, Some(expires_at + 600));
    keys.verify(&text(&new.key)).await.unwrap();
    // A live key keeps its remaining lifetime unless given another.
    let live = keys.create(&spec()).await.unwrap();
    clock.advance(Duration::from_secs(100));
    let kept = keys
        .rotate(&live.record.prefix, Duration::ZERO, None)
        .await
        .unwrap();
    assert_eq!(kept.record.expires_at, live.record.expires_at);
    let renewed = keys
        .rotate(
            &kept.record.prefix,
            Duration::ZERO,
            Some(Duration::from_secs(7)),
        )
        .await
        .unwrap();
    assert_eq!(renewed.record.expires_at, Some(expires_at + 100 + 7));
}

/// A store that always fails: verification must fail closed (503, not 200).
struct BrokenStore;
impl KeyStore for BrokenStore {
    fn get(
        &self,
        _: &str,
    ) -> rampart_authn::BoxFuture<'_, Result<Option<ApiKeyRecord>, StoreError>> {
        Box::pin(async { Err(StoreError::Unavailable("down".into())) })
    }
    fn insert(&self, _: ApiKeyRecord) -> rampart_authn::BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Unavailable("down".into())) })
    }
    fn update(&self, _: ApiKeyRecord) -> rampart_authn::BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Unavailable("down".into())) })
    }
    fn list(&self) -> rampart_authn::BoxFuture<'_, Result<Vec<ApiKeyRecord>, StoreError>> {
        Box::pin(async { Err(StoreError::Unavailable("down".into())) })
    }
    fn rotate(
        &self,
        _: ApiKeyRecord,
        _: ApiKeyRecord,
    ) -> rampart_authn::BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Unavailable("down".into())) })
    }
}

#[tokio::test]
async fn store_failure_fails_closed() {
    let (good, _, _) = engine();
    let key = text(&good.create(&spec()).await.unwrap().key);
    let broken = ApiKeys::new(
        Arc::new(BrokenStore),
        &Secret::new(vec![42; 32]),
        Arc::new(ManualClock::at_secs(NOW)),
    )
    .unwrap();
    let err = broken.verify(&key).await.unwrap_err();
    assert_eq!(err.to_problem().kind.status, 503);
    assert_eq!(
        ApiKeyError::Mismatch.to_problem(),
        ApiKeyError::Unknown.to_problem(),
        "no oracle"
    );
}

#[test]
fn config_validates_pepper_and_location() {
    let clock = Arc::new(ManualClock::at_secs(NOW));
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    let short = temp_file("pepper-short", &[1; 31]);
    let cfg: ApiKeyConfig = serde_json::from_value(json!({"pepper": {"file": short}})).unwrap();
    let err = cfg
        .build("authn.api_key", store.clone(), clock.clone())
        .unwrap_err();
    assert!(err.to_string().starts_with("authn.api_key.pepper"), "{err}");

    let ok = temp_file("pepper-ok", &[1; 32]);
    let cfg: ApiKeyConfig =
        serde_json::from_value(json!({"pepper": {"file": ok}, "header": "authorization"})).unwrap();
    let err = cfg
        .build("authn.api_key", store.clone(), clock.clone())
        .unwrap_err();
    assert!(err.to_string().starts_with("authn.api_key.header"), "{err}");

    let cfg: ApiKeyConfig = serde_json::from_value(json!({"pepper": {"file": ok}})).unwrap();
    let (_, location) = cfg.build("authn.api_key", store, clock).unwrap();
    assert_eq!(location.header, "x-api-key");
    assert!(
        location.query_param.is_none(),
        "query parameter off unless configured"
    );
}
