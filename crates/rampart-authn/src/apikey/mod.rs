//! API keys: generation, verification, revocation and rotation.
//!
//! A key is shown once at creation; the store keeps only
//! `HMAC-SHA256(pepper, key)` (the pepper is a server secret outside the store, so
//! a stolen database alone cannot be brute-forced offline) and the non-secret
//! prefix used to find the record. The comparison is constant-time
//! (`aws_lc_rs::hmac::verify`).
//!
//! Layout: [`format`](mod@format) (key shape), [`store`] (the [`KeyStore`] trait and an
//! in-memory store), this file (the [`ApiKeys`] engine and its config).

pub mod format;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use rampart_core::{Identity, Problem};
use serde::Deserialize;

use crate::clock::Clock;
use crate::config_error::{ConfigError, invalid};
use crate::secret::{Secret, SecretRef};
pub use store::{ApiKeyRecord, KeyStore, MemoryKeyStore, StoreError};

/// Minimum pepper length, bytes.
pub const MIN_PEPPER_BYTES: usize = 32;

/// Why an API key was refused, or a key operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    /// Not of the `rk_<prefix>_<secret>` shape.
    #[error("malformed API key")]
    Malformed,
    /// No record for the prefix.
    #[error("unknown API key")]
    Unknown,
    /// The record exists but the key does not match its hash.
    #[error("API key mismatch")]
    Mismatch,
    /// Past its expiry.
    #[error("API key expired")]
    Expired,
    /// Revoked (in the store or on the revocation list).
    #[error("API key revoked")]
    Revoked,
    /// The store failed.
    #[error("key store unavailable")]
    Store(StoreError),
    /// The random generator failed.
    #[error("random generator failed")]
    Random,
}

impl ApiKeyError {
    /// A stable reason code for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiKeyError::Malformed => "apikey-malformed",
            ApiKeyError::Unknown => "apikey-unknown",
            ApiKeyError::Mismatch => "apikey-mismatch",
            ApiKeyError::Expired => "apikey-expired",
            ApiKeyError::Revoked => "apikey-revoked",
            ApiKeyError::Store(_) => "apikey-store-unavailable",
            ApiKeyError::Random => "apikey-random-failed",
        }
    }

    /// The client answer: the same 401 for every refusal (no oracle telling an
    /// unknown prefix from a wrong secret or a revoked key); 503 when the store failed.
    pub fn to_problem(&self) -> Problem {
        match self {
            ApiKeyError::Store(_) | ApiKeyError::Random => crate::problem::unavailable(),
            ApiKeyError::Malformed
            | ApiKeyError::Unknown
            | ApiKeyError::Mismatch
            | ApiKeyError::Expired
            | ApiKeyError::Revoked => crate::problem::invalid_api_key(),
        }
    }
}

/// What a new key grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewKey {
    /// Consumer name.
    pub consumer: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Roles.
    pub roles: Vec<String>,
    /// Plan.
    pub plan: Option<String>,
    /// Lifetime from now.
    pub expires_in: Option<Duration>,
}

/// A key as created: shown once, then only its record remains.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The whole key (`Debug` redacted). Print it once to the operator.
    pub key: Secret,
    /// The stored record.
    pub record: ApiKeyRecord,
}

/// The API key engine.
pub struct ApiKeys {
    store: Arc<dyn KeyStore>,
    pepper: hmac::Key,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys").finish_non_exhaustive()
    }
}

impl ApiKeys {
    /// An engine over `store` with this pepper (at least [`MIN_PEPPER_BYTES`]).
    pub fn new(store: Arc<dyn KeyStore>, pepper: &Secret, clock: Arc<dyn Clock>) -> Option<Self> {
        (pepper.expose().len() >= MIN_PEPPER_BYTES).then(|| Self {
            store,
            pepper: hmac::Key::new(hmac::HMAC_SHA256, pepper.expose()),
            clock,
        })
    }

    fn hash(&self, key: &[u8]) -> Vec<u8> {
        hmac::sign(&self.pepper, key).as_ref().to_vec()
    }

    /// A fresh key granting `spec`, not stored yet.
    fn generate(&self, spec: &NewKey, now: u64) -> Result<CreatedKey, ApiKeyError> {
        let (prefix, key) = format::generate()?;
        let record = ApiKeyRecord {
            prefix,
            hash: self.hash(key.expose()),
            consumer: spec.consumer.clone(),
            scopes: spec.scopes.clone(),
            roles: spec.roles.clone(),
            plan: spec.plan.clone(),
            created_at: now,
            expires_at: spec.expires_in.map(|d| now.saturating_add(d.as_secs())),
            revoked_at: None,
        };
        Ok(CreatedKey { key, record })
    }

    /// Creates and stores a key; the returned key is the only copy.
    pub async fn create(&self, spec: &NewKey) -> Result<CreatedKey, ApiKeyError> {
        let now = self.clock.unix_secs();
        // A prefix collision (40 bits) is rare; retry a few times on one.
        for _ in 0..4 {
            let created = self.generate(spec, now)?;
            match self.store.insert(created.record.clone()).await {
                Ok(()) => return Ok(created),
                Err(StoreError::Conflict) => continue,
                Err(error) => return Err(ApiKeyError::Store(error)),
            }
        }
        Err(ApiKeyError::Store(StoreError::Conflict))
    }

    /// Verifies a presented key and returns its record.
    pub async fn verify(&self, presented: &str) -> Result<ApiKeyRecord, ApiKeyError> {
        let parsed = format::parse(presented)?;
        let record = self
            .store
            .get(parsed.prefix)
            .await
            .map_err(ApiKeyError::Store)?;
        let Some(record) = record else {
            // Spend the same HMAC as a real check so an unknown prefix is not
            // distinguishable by timing from a wrong secret.
            let _ = hmac::sign(&self.pepper, presented.as_bytes());
            return Err(ApiKeyError::Unknown);
        };
        hmac::verify(&self.pepper, presented.as_bytes(), &record.hash)
            .map_err(|_| ApiKeyError::Mismatch)?;
        let now = self.clock.unix_secs();
        if record.revoked_at.is_some_and(|at| at <= now) {
            return Err(ApiKeyError::Revoked);
        }
        if record.expires_at.is_some_and(|at| now >= at) {
            return Err(ApiKeyError::Expired);
        }
        Ok(record)
    }

    /// Revokes the key with this prefix now.
    pub async fn revoke(&self, prefix: &str) -> Result<ApiKeyRecord, ApiKeyError> {
        let mut record = self.get(prefix).await?;
        record.revoked_at = Some(self.clock.unix_secs());
        self.store
            .update(record.clone())
            .await
            .map_err(ApiKeyError::Store)?;
        Ok(record)
    }

    /// Replaces a key by a new one with the same grants; the old key keeps working
    /// for `grace` (zero: revoked at once) so clients can switch over.
    ///
    /// The new key lives for `expires_in`, or, without it, as long as the old
    /// key had left. A revoked key is refused ([`ApiKeyError::Revoked`]), and
    /// so is an expired one without `expires_in` ([`ApiKeyError::Expired`]):
    /// its new key would be born expired while the rotation reported success.
    pub async fn rotate(
        &self,
        prefix: &str,
        grace: Duration,
        expires_in: Option<Duration>,
    ) -> Result<CreatedKey, ApiKeyError> {
        let mut old = self.get(prefix).await?;
        if old.revoked_at.is_some() {
            return Err(ApiKeyError::Revoked);
        }
        let now = self.clock.unix_secs();
        let remaining = match old.expires_at {
            None => None,
            Some(at) if at > now => Some(Duration::from_secs(at - now)),
            Some(_) if expires_in.is_none() => return Err(ApiKeyError::Expired),
            Some(_) => None,
        };
        let spec = NewKey {
            consumer: old.consumer.clone(),
            scopes: old.scopes.clone(),
            roles: old.roles.clone(),
            plan: old.plan.clone(),
            expires_in: expires_in.or(remaining),
        };
        if grace.is_zero() {
            old.revoked_at = Some(now);
        } else {
            let until = now.saturating_add(grace.as_secs());
            old.expires_at = Some(old.expires_at.map_or(until, |at| at.min(until)));
        }
        // The new key and the old one's change are stored together (the
        // store's `rotate`): either both hold and the new key is returned,
        // or neither does and the old key is as it was.
        for _ in 0..4 {
            let created = self.generate(&spec, now)?;
            match self.store.rotate(created.record.clone(), old.clone()).await {
                Ok(()) => return Ok(created),
                Err(StoreError::Conflict) => continue,
                Err(StoreError::NotFound) => return Err(ApiKeyError::Unknown),
                Err(error) => return Err(ApiKeyError::Store(error)),
            }
        }
        Err(ApiKeyError::Store(StoreError::Conflict))
    }

    /// Every record.
    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, ApiKeyError> {
        self.store.list().await.map_err(ApiKeyError::Store)
    }

    async fn get(&self, prefix: &str) -> Result<ApiKeyRecord, ApiKeyError> {
        self.store
            .get(prefix)
            .await
            .map_err(ApiKeyError::Store)?
            .ok_or(ApiKeyError::Unknown)
    }
}

/// The identity an API key record carries (`credential_id` = its prefix). Its
/// claims hold `sub` = the consumer, so ownership rules and policies written
/// against `sub` work for key callers too.
pub fn identity(record: &ApiKeyRecord) -> Identity {
    let mut claims = serde_json::Map::new();
    claims.insert(
        "sub".into(),
        serde_json::Value::String(record.consumer.clone()),
    );
    Identity {
        consumer: record.consumer.clone(),
        method: "api_key".into(),
        credential_id: Some(record.prefix.clone()),
        scopes: record.scopes.clone(),
        roles: record.roles.clone(),
        plan: record.plan.clone(),
        claims,
    }
}

fn default_header() -> String {
    "x-api-key".into()
}

/// API key configuration of an API.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Header carrying the key. Default `x-api-key`.
    #[serde(default = "default_header")]
    pub header: String,
    /// Query parameter carrying the key; off unless set (URLs end up in logs).
    #[serde(default)]
    pub query_param: Option<String>,
    /// The HMAC pepper (at least 32 bytes).
    pub pepper: SecretRef,
}

/// Where the engine finds keys in a request.
#[derive(Debug, Clone)]
pub struct ApiKeyLocation {
    /// Header name.
    pub header: http::HeaderName,
    /// Query parameter, when enabled.
    pub query_param: Option<String>,
}

impl ApiKeyConfig {
    /// Validates into the engine and the key location.
    pub fn build(
        &self,
        path: &str,
        store: Arc<dyn KeyStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<(ApiKeys, ApiKeyLocation), ConfigError> {
        let header = http::HeaderName::from_bytes(self.header.as_bytes())
            .map_err(|_| invalid(format!("{path}.header"), "not a valid header name"))?;
        if header == http::header::AUTHORIZATION || header == http::header::COOKIE {
            return Err(invalid(format!("{path}.header"), "use a dedicated header"));
        }
        if let Some(param) = &self.query_param
            && (param.is_empty()
                || !param
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        {
            return Err(invalid(
                format!("{path}.query_param"),
                "must be a plain parameter name",
            ));
        }
        let pepper = self.pepper.load().map_err(|source| ConfigError::Secret {
            path: format!("{path}.pepper"),
            source,
        })?;
        let keys = ApiKeys::new(store, &pepper, clock)
            .ok_or_else(|| invalid(format!("{path}.pepper"), "must be at least 32 bytes"))?;
        Ok((
            keys,
            ApiKeyLocation {
                header,
                query_param: self.query_param.clone(),
            },
        ))
    }
}
