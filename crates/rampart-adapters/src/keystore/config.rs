//! `KeyStoreConfig`: where the API key database lives and which pepper keys its
//! hashes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rampart_authn::apikey::MIN_PEPPER_BYTES;
use rampart_authn::secret::Secret;
use serde::Deserialize;

use crate::AdapterError;

fn default_timeout_ms() -> u64 {
    5_000
}
fn default_cache_ttl_ms() -> u64 {
    1_000
}

/// The embedded (SQLite) API key store.
#[derive(Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyStoreConfig {
    /// The SQLite database file, created with mode 0600 if missing by the
    /// gateway at start and by `rampart keys create` (the other `keys`
    /// commands refuse a missing one; `rampart revoke` only says it did not
    /// mark it).
    pub path: PathBuf,
    /// The HMAC pepper, as a secret reference: `env:NAME` or `file:PATH`; at least
    /// 32 bytes. It must be the same secret as the API's `api_key.pepper`, or no
    /// key created here will verify.
    pub pepper: String,
    /// Deadline of one store operation, milliseconds. Default 5000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How long the gateway caches a looked-up key record, milliseconds; also
    /// the longest a revocation made in the store by another process takes to
    /// apply here (shared revocation applies at once). 0 disables. Default 1000.
    #[serde(default = "default_cache_ttl_ms")]
    pub cache_ttl_ms: u64,
    /// Set by `rampart check`: the database is looked at, never created or
    /// written (a check run as root before the first start left a root-owned
    /// store that the service's user could then not open), and an empty
    /// in-memory store stands in for it.
    #[serde(skip)]
    #[schemars(skip)]
    pub check_only: bool,
}

impl std::fmt::Debug for KeyStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pepper` is a reference, but if someone wrote the secret inline it must
        // not reach a log: print only whether it looks like a reference.
        let pepper = if self.pepper.starts_with("env:") || self.pepper.starts_with("file:") {
            self.pepper.as_str()
        } else {
            "<not a reference; redacted>"
        };
        f.debug_struct("KeyStoreConfig")
            .field("path", &self.path)
            .field("pepper", &pepper)
            .field("timeout_ms", &self.timeout_ms)
            .field("cache_ttl_ms", &self.cache_ttl_ms)
            .finish()
    }
}

impl KeyStoreConfig {
    /// A configuration with the default timeout.
    pub fn new(path: impl Into<PathBuf>, pepper: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            pepper: pepper.into(),
            timeout_ms: default_timeout_ms(),
            cache_ttl_ms: default_cache_ttl_ms(),
            check_only: false,
        }
    }

    /// Makes a relative `path` and a relative `file:` pepper relative to `dir`
    /// (the configuration file's directory). Without this they are relative to
    /// the working directory.
    pub fn relative_to(mut self, dir: &Path) -> Self {
        self.path = dir.join(&self.path);
        self.pepper = crate::secret_ref::relative_to(&self.pepper, dir);
        self
    }

    /// Resolves the pepper (at configuration time) and checks its length.
    /// `path` is the section's field path for errors.
    pub fn load_pepper(&self, path: &str) -> Result<Secret, AdapterError> {
        let field = format!("{path}.pepper");
        let value =
            crate::secret_ref::resolve(&self.pepper).map_err(|source| AdapterError::Secret {
                field: field.clone(),
                source,
            })?;
        if value.len() < MIN_PEPPER_BYTES {
            return Err(AdapterError::invalid(
                field,
                format!("must be at least {MIN_PEPPER_BYTES} bytes"),
            ));
        }
        Ok(Secret::new(value.into_bytes()))
    }

    /// The per-operation deadline.
    pub fn timeout(&self, path: &str) -> Result<Duration, AdapterError> {
        if self.timeout_ms == 0 || self.timeout_ms > 60_000 {
            return Err(AdapterError::invalid(
                format!("{path}.timeout_ms"),
                "must be between 1 and 60000 ms",
            ));
        }
        Ok(Duration::from_millis(self.timeout_ms))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn pepper_is_a_reference_of_enough_bytes() {
        let dir = std::env::temp_dir().join(format!("rampart-ks-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pepper"), format!("{}\n", "p".repeat(32))).unwrap();
        std::fs::write(dir.join("short"), "p".repeat(31)).unwrap();
        let ok = KeyStoreConfig::new("keys.db", "file:pepper").relative_to(&dir);
        assert_eq!(
            ok.load_pepper("ks").unwrap().expose(),
            "p".repeat(32).as_bytes()
        );
        assert_eq!(ok.path, dir.join("keys.db"));
        let short = KeyStoreConfig::new("keys.db", "file:short").relative_to(&dir);
        let err = short.load_pepper("ks").unwrap_err().to_string();
        assert!(err.starts_with("ks.pepper"), "{err}");
        // An inline secret is refused, and its Debug does not print it.
        let inline = KeyStoreConfig::new("keys.db", "hunter2hunter2hunter2hunter2hunter2");
        assert!(inline.load_pepper("ks").is_err());
        assert!(!format!("{inline:?}").contains("hunter2"));
        let err = KeyStoreConfig::new("k", "env:RAMPART_SURELY_UNSET_PEPPER")
            .load_pepper("ks")
            .unwrap_err()
            .to_string();
        assert!(err.contains("RAMPART_SURELY_UNSET_PEPPER"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused_and_schema_is_published() {
        let err = serde_json::from_value::<KeyStoreConfig>(serde_json::json!({
            "path": "k.db", "pepper": "env:P", "peper": "x"
        }));
        assert!(err.is_err());
        let schema = serde_json::to_string(&schemars::schema_for!(KeyStoreConfig)).unwrap();
        assert!(schema.contains("pepper") && schema.contains("timeout_ms"));
    }
}
