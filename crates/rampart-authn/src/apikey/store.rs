//! The API key store contract and an in-memory implementation.
//!
//! Records hold only a keyed hash of the key, never the key. The trait is async
//! and keyed by prefix so an SQLite (default) or PostgreSQL (cluster) store in the
//! gateway can implement it with one indexed lookup; `insert` must refuse an
//! existing prefix (a unique index) so generation can retry on a collision.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::BoxFuture;

/// A stored API key: metadata plus `HMAC-SHA256(pepper, key)`.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiKeyRecord {
    /// Non-secret lookup prefix.
    pub prefix: String,
    /// HMAC-SHA256 of the whole key under the server's pepper.
    pub hash: Vec<u8>,
    /// The consumer the key belongs to.
    pub consumer: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Granted roles.
    pub roles: Vec<String>,
    /// Plan (rate-limit tier).
    pub plan: Option<String>,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Expiry, Unix seconds.
    pub expires_at: Option<u64>,
    /// Revocation time, Unix seconds.
    pub revoked_at: Option<u64>,
}

impl std::fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hash is not the key, but there is no reason to print it either.
        f.debug_struct("ApiKeyRecord")
            .field("prefix", &self.prefix)
            .field("consumer", &self.consumer)
            .field("scopes", &self.scopes)
            .field("roles", &self.roles)
            .field("plan", &self.plan)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// Store failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// `insert` of a prefix that exists.
    #[error("prefix already exists")]
    Conflict,
    /// No record with this prefix.
    #[error("no such key")]
    NotFound,
    /// The backend failed (the gateway fails closed).
    #[error("key store unavailable: {0}")]
    Unavailable(String),
}

/// Where API key records live.
pub trait KeyStore: Send + Sync {
    /// The record with this prefix.
    fn get(&self, prefix: &str) -> BoxFuture<'_, Result<Option<ApiKeyRecord>, StoreError>>;
    /// Adds a record; [`StoreError::Conflict`] if the prefix exists.
    fn insert(&self, record: ApiKeyRecord) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Replaces the record with the same prefix; [`StoreError::NotFound`] if absent.
    /// A revocation already stored is kept (`revoked_at` is never cleared):
    /// a stale copy written back, say by a rotation racing `keys revoke`,
    /// must not bring a revoked key back.
    fn update(&self, record: ApiKeyRecord) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Every record, for `rampart keys list`.
    fn list(&self) -> BoxFuture<'_, Result<Vec<ApiKeyRecord>, StoreError>>;
    /// A rotation: [`insert`](Self::insert)s `new` and
    /// [`update`](Self::update)s `old`, both or neither (a store that can
    /// fail between the two must use a transaction): a new key stored while
    /// the old one's change failed would be a working key nobody was shown.
    /// [`StoreError::Conflict`] if `new`'s prefix exists,
    /// [`StoreError::NotFound`] if `old`'s does not.
    fn rotate(&self, new: ApiKeyRecord, old: ApiKeyRecord)
    -> BoxFuture<'_, Result<(), StoreError>>;
}

/// An in-memory [`KeyStore`] (tests, demos, single-instance setups).
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    records: RwLock<HashMap<String, ApiKeyRecord>>,
}

impl MemoryKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn poisoned() -> StoreError {
    StoreError::Unavailable("lock poisoned".into())
}

impl KeyStore for MemoryKeyStore {
    fn get(&self, prefix: &str) -> BoxFuture<'_, Result<Option<ApiKeyRecord>, StoreError>> {
        let result = self
            .records
            .read()
            .map(|records| records.get(prefix).cloned())
            .map_err(|_| poisoned());
        Box::pin(async move { result })
    }

    fn insert(&self, record: ApiKeyRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        let result = match self.records.write() {
            Ok(mut records) => {
                if records.contains_key(&record.prefix) {
                    Err(StoreError::Conflict)
                } else {
                    records.insert(record.prefix.clone(), record);
                    Ok(())
                }
            }
            Err(_) => Err(poisoned()),
        };
        Box::pin(async move { result })
    }

    fn update(&self, record: ApiKeyRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        let result = match self.records.write() {
            Ok(mut records) => match records.get_mut(&record.prefix) {
                Some(slot) => {
                    let revoked_at = slot.revoked_at.or(record.revoked_at);
                    *slot = ApiKeyRecord {
                        revoked_at,
                        ..record
                    };
                    Ok(())
                }
                None => Err(StoreError::NotFound),
            },
            Err(_) => Err(poisoned()),
        };
        Box::pin(async move { result })
    }

    fn rotate(
        &self,
        new: ApiKeyRecord,
        old: ApiKeyRecord,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        // One write lock over both: no reader sees one without the other.
        let result = match self.records.write() {
            Ok(mut records) => {
                if records.contains_key(&new.prefix) {
                    Err(StoreError::Conflict)
                } else if let Some(slot) = records.get_mut(&old.prefix) {
                    let revoked_at = slot.revoked_at.or(old.revoked_at);
                    *slot = ApiKeyRecord { revoked_at, ..old };
                    records.insert(new.prefix.clone(), new);
                    Ok(())
                } else {
                    Err(StoreError::NotFound)
                }
            }
            Err(_) => Err(poisoned()),
        };
        Box::pin(async move { result })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<ApiKeyRecord>, StoreError>> {
        let result = self
            .records
            .read()
            .map(|records| {
                let mut list: Vec<_> = records.values().cloned().collect();
                list.sort_by(|a, b| {
                    a.created_at
                        .cmp(&b.created_at)
                        .then(a.prefix.cmp(&b.prefix))
                });
                list
            })
            .map_err(|_| poisoned());
        Box::pin(async move { result })
    }
}
