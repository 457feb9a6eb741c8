//! The crate's error type: one variant per cause. Messages never contain a
//! secret (key, pepper, client secret, token) nor a response body.

use rampart_authn::apikey::{ApiKeyError, StoreError};
use rampart_authn::revocation::RevocationError;

/// Why an adapter could not be built or an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// A configuration field is invalid; `field` is its path.
    #[error("{field}: {reason}")]
    Invalid {
        /// Field path (e.g. `key_store.pepper`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A secret reference could not be resolved.
    #[error("{field}: {source}")]
    Secret {
        /// Field path.
        field: String,
        /// Why (names the variable or file, never the value).
        source: crate::secret_ref::SecretRefError,
    },
    /// The system's root certificates could not be loaded.
    #[error("cannot load the system root certificates: {0}")]
    Roots(std::io::Error),
    /// An outbound HTTP call failed.
    #[error("{0}")]
    Http(#[from] crate::http::HttpError),
    /// The SQLite key store failed.
    #[error("key store: {0}")]
    Sqlite(#[from] sqlx::Error),
    /// A key-store operation timed out.
    #[error("key store: operation timed out")]
    StoreTimeout,
    /// The key store refused an operation.
    #[error("key store: {0}")]
    Store(StoreError),
    /// An API key operation failed.
    #[error("API key: {0}")]
    Key(ApiKeyError),
    /// No key store database at the configured path (only `keys create` and
    /// the gateway make one).
    #[error(
        "no key store at {}: check identity.key_store.path (`rampart keys create` makes the store)",
        .0.display()
    )]
    NoKeyStore(std::path::PathBuf),
    /// No key with this prefix.
    #[error("no API key with prefix {0}")]
    UnknownKey(String),
    /// Redis failed or timed out.
    #[error("redis: {0}")]
    Redis(String),
    /// A revocation reached neither the shared list nor the key store.
    #[error("not revoked: {published}; nor marked in the key store: {stored}")]
    NotRevoked {
        /// Why the publication failed.
        published: Box<AdapterError>,
        /// Why the key store was not marked.
        stored: String,
    },
    /// The engine's configuration refused a section (e.g. the introspection
    /// client secret could not be loaded).
    #[error("{0}")]
    Authn(#[from] rampart_authn::config_error::ConfigError),
    /// The local revocation list refused an entry.
    #[error("revocation list: {0}")]
    Revocation(#[from] RevocationError),
}

impl AdapterError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<StoreError> for AdapterError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<ApiKeyError> for AdapterError {
    fn from(error: ApiKeyError) -> Self {
        match error {
            ApiKeyError::Store(store) => Self::Store(store),
            other => Self::Key(other),
        }
    }
}

impl From<redis::RedisError> for AdapterError {
    fn from(error: redis::RedisError) -> Self {
        // The driver's message names the command and the server's answer, not
        // our data; URLs with passwords are never part of it.
        Self::Redis(error.to_string())
    }
}
