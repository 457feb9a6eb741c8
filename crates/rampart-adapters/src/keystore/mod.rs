//! The embedded API key store: [`KeyStoreConfig`] and [`SqliteKeyStore`].
//!
//! Layout: `config` (the raw section and pepper resolution), `schema` (the
//! embedded schema and its statements), `sqlite` (the `KeyStore` implementation),
//! `cache` ([`CachedKeyStore`], the short read-through cache the gateway uses).

mod cache;
mod config;
mod schema;
mod sqlite;

pub use cache::CachedKeyStore;
pub use config::KeyStoreConfig;
pub use schema::VERSION as SCHEMA_VERSION;
pub use sqlite::{MAX_LIST, MAX_PREFIX_LEN, SqliteKeyStore};

use crate::AdapterError;

impl KeyStoreConfig {
    /// Opens the store this section names (schema created if new). `path` is the
    /// section's field path for errors.
    /// With [`check_only`](Self::check_only), the file is checked without
    /// being created or written, and an empty in-memory store is returned.
    pub async fn open(&self, path: &str) -> Result<SqliteKeyStore, AdapterError> {
        let timeout = self.timeout(path)?;
        if self.check_only {
            SqliteKeyStore::check(&self.path, timeout, path).await?;
            return SqliteKeyStore::in_memory().await;
        }
        SqliteKeyStore::open(&self.path, timeout, path).await
    }

    /// Opens the store this section names only if its database exists
    /// ([`AdapterError::NoKeyStore`] otherwise): for the commands that read
    /// or change keys (`keys list|revoke|rotate`, `rampart revoke`), so that a
    /// mistyped path is an error rather than a new, empty store that has no
    /// key and that the gateway does not use.
    pub async fn open_existing(&self, path: &str) -> Result<SqliteKeyStore, AdapterError> {
        // An error here (a directory we may not read) is left to `open` to
        // report with its cause.
        if let Ok(false) = self.path.try_exists() {
            return Err(AdapterError::NoKeyStore(self.path.clone()));
        }
        self.open(path).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use rampart_authn::apikey::{ApiKeyError, ApiKeyRecord, ApiKeys, KeyStore, NewKey, StoreError};
    use rampart_authn::clock::ManualClock;
    use rampart_authn::secret::Secret;

    use super::*;

    pub(crate) fn temp_db(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "rampart-adapters-{}-{name}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("keys.db")
    }

    fn record(prefix: &str) -> ApiKeyRecord {
        ApiKeyRecord {
            prefix: prefix.into(),
            hash: vec![7; 32],
            consumer: "alice".into(),
            scopes: vec!["pets:read".into(), "pets:write".into()],
            roles: vec!["admin".into()],
            plan: Some("pro".into()),
            created_at: 1_000,
            expires_at: Some(u64::MAX),
            revoked_at: None,
        }
    }

    #[tokio::test]
    async fn records_round_trip_and_persist() {
        let path = temp_db("roundtrip");
        let store = SqliteKeyStore::open(&path, std::time::Duration::from_secs(5), "ks")
            .await
            .unwrap();
        store.insert(record("aaaaaaaa")).await.unwrap();
        let mut second = record("bbbbbbbb");
        second.plan = None;
        second.expires_at = None;
        second.scopes.clear();
        second.created_at = 2_000;
        store.insert(second.clone()).await.unwrap();
        // The prefix is unique: the engine retries on a conflict.
        assert_eq!(
            store.insert(record("aaaaaaaa")).await,
            Err(StoreError::Conflict)
        );
        let got = store.get("aaaaaaaa").await.unwrap().unwrap();
        // u64::MAX saturates to i64::MAX: still "never" for any clock.
        assert_eq!(got.expires_at, Some(i64::MAX as u64));
        assert_eq!(got.scopes, record("x").scopes);
        assert_eq!(store.get("cccccccc").await.unwrap(), None);
        assert_eq!(store.get("").await.unwrap(), None);
        assert_eq!(store.get(&"a".repeat(65)).await.unwrap(), None);

        let mut revoked = got.clone();
        revoked.revoked_at = Some(1_500);
        store.update(revoked).await.unwrap();
        assert_eq!(
            store.update(record("dddddddd")).await,
            Err(StoreError::NotFound)
        );
        drop(store);

        let store = SqliteKeyStore::open(&path, std::time::Duration::from_secs(5), "ks")
            .await
            .unwrap();
        let list = store.list().await.unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].prefix, "aaaaaaaa");
        assert_eq!(list[0].revoked_at, Some(1_500));
        assert_eq!(list[1], second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "database readable by others: {mode:o}");
        }
    }

    #[tokio::test]
    async fn the_engine_verifies_over_sqlite_and_the_key_is_never_stored() {
        let path = temp_db("engine");
        let store = Arc::new(
            SqliteKeyStore::open(&path, std::time::Duration::from_secs(5), "ks")
                .await
                .unwrap(),
        );
        let clock = Arc::new(ManualClock::at_secs(10_000));
        let pepper = Secret::new(vec![b'p'; 32]);
        let keys = ApiKeys::new(store.clone(), &pepper, clock.clone()).unwrap();
        let created = keys
            .create(&NewKey {
                consumer: "bob".into(),
                scopes: vec!["a".into()],
                ..NewKey::default()
            })
            .await
            .unwrap();
        let key = String::from_utf8(created.key.expose().to_vec()).unwrap();
        assert_eq!(keys.verify(&key).await.unwrap().consumer, "bob");
        // A wrong secret with the right prefix is refused.
        let mut forged = key.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(keys.verify(&forged).await, Err(ApiKeyError::Mismatch));
        // Revocation through the store.
        keys.revoke(&created.record.prefix).await.unwrap();
        assert_eq!(keys.verify(&key).await, Err(ApiKeyError::Revoked));
        drop(keys);
        drop(store);
        // Nowhere in the database files is the key or its secret part.
        let secret_part = &key[12..];
        for entry in std::fs::read_dir(path.parent().unwrap()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(
                !bytes
                    .windows(secret_part.len())
                    .any(|w| w == secret_part.as_bytes())
            );
        }
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused() {
        let path = temp_db("newer");
        let store = SqliteKeyStore::open(&path, std::time::Duration::from_secs(5), "ks")
            .await
            .unwrap();
        sqlx::query("PRAGMA user_version = 99")
            .execute(&store.pool_for_tests())
            .await
            .unwrap();
        drop(store);
        let err = SqliteKeyStore::open(&path, std::time::Duration::from_secs(5), "ks")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("newer"), "{err}");
    }

    #[tokio::test]
    async fn a_stale_write_back_cannot_clear_a_revocation() {
        // A rotation read the record, `keys revoke` committed, then the
        // rotation wrote its stale copy back (revoked_at = NULL).
        let memory = rampart_authn::apikey::MemoryKeyStore::new();
        let sqlite = SqliteKeyStore::in_memory().await.unwrap();
        let stores: [&dyn KeyStore; 2] = [&memory, &sqlite];
        for store in stores {
            store.insert(record("aaaaaaaa")).await.unwrap();
            let stale = store.get("aaaaaaaa").await.unwrap().unwrap();
            let revoked = ApiKeyRecord {
                revoked_at: Some(2_000),
                ..stale.clone()
            };
            store.update(revoked).await.unwrap();
            store
                .update(ApiKeyRecord {
                    expires_at: Some(5_000),
                    ..stale
                })
                .await
                .unwrap();
            let now = store.get("aaaaaaaa").await.unwrap().unwrap();
            assert_eq!(now.revoked_at, Some(2_000));
            // The rest of the write applies.
            assert_eq!(now.expires_at, Some(5_000));
        }
    }

    #[tokio::test]
    async fn a_rotation_is_stored_whole_or_not_at_all() {
        let path = temp_db("rotate-atomic");
        let store = SqliteKeyStore::open(&path, std::time::Duration::from_secs(5), "ks")
            .await
            .unwrap();
        store.insert(record("aaaaaaaa")).await.unwrap();
        let old = ApiKeyRecord {
            revoked_at: Some(5_000),
            ..record("aaaaaaaa")
        };
        // The old key's change fails after the new key's insert: neither
        // stays (before, the new key did: a working key nobody was shown).
        let pool = store.pool_for_tests();
        sqlx::query(
            "CREATE TRIGGER refuse_update BEFORE UPDATE ON rampart_api_keys \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .execute(&pool)
        .await
        .unwrap();
        let err = store
            .rotate(record("bbbbbbbb"), old.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(store.get("bbbbbbbb").await.unwrap().is_none());
        assert_eq!(
            store.get("aaaaaaaa").await.unwrap().unwrap().revoked_at,
            None
        );
        sqlx::query("DROP TRIGGER refuse_update")
            .execute(&pool)
            .await
            .unwrap();
        // A taken prefix, an old key gone: refused, nothing stored.
        assert_eq!(
            store.rotate(record("aaaaaaaa"), old.clone()).await,
            Err(StoreError::Conflict)
        );
        assert_eq!(
            store.rotate(record("cccccccc"), record("zzzzzzzz")).await,
            Err(StoreError::NotFound)
        );
        assert!(store.get("cccccccc").await.unwrap().is_none());
        store.rotate(record("bbbbbbbb"), old).await.unwrap();
        assert!(store.get("bbbbbbbb").await.unwrap().is_some());
        assert_eq!(
            store.get("aaaaaaaa").await.unwrap().unwrap().revoked_at,
            Some(5_000)
        );
    }

    #[tokio::test]
    async fn in_memory_store_works() {
        let store = SqliteKeyStore::in_memory().await.unwrap();
        store.insert(record("aaaaaaaa")).await.unwrap();
        assert_eq!(
            store.get("aaaaaaaa").await.unwrap().unwrap().consumer,
            "alice"
        );
        assert_eq!(store.list().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn config_opens_the_store() {
        let path = temp_db("config");
        let config = KeyStoreConfig::new(&path, "env:UNUSED");
        let store = config.open("key_store").await.unwrap();
        assert!(store.list().await.unwrap().is_empty());
        let bad = KeyStoreConfig {
            timeout_ms: 0,
            ..config
        };
        let err = bad.open("key_store").await.unwrap_err().to_string();
        assert!(err.starts_with("key_store.timeout_ms"), "{err}");
    }
}
