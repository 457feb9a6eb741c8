//! Configuration errors, each naming the offending field path (e.g.
//! `authn.jwt.issuers[0].audiences`).

use crate::jwt::keys::JwksError;
use crate::secret::SecretError;

/// A configuration that cannot be built into an engine.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is invalid or a combination is not allowed.
    #[error("{path}: {reason}")]
    Invalid {
        /// Field path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A referenced secret could not be loaded.
    #[error("{path}: {source}")]
    Secret {
        /// Field path.
        path: String,
        /// The cause.
        source: SecretError,
    },
    /// A referenced file could not be read.
    #[error("{path}: cannot read {file}: {source}")]
    File {
        /// Field path.
        path: String,
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A JWKS document given as a file is unusable.
    #[error("{path}: {source}")]
    Jwks {
        /// Field path.
        path: String,
        /// The cause.
        source: JwksError,
    },
}

pub(crate) fn invalid(path: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: path.into(),
        reason: reason.into(),
    }
}
