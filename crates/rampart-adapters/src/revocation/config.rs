//! `RevocationSyncConfig`: where revocations are shared.

use std::time::Duration;

use serde::Deserialize;

use crate::AdapterError;

fn default_prefix() -> String {
    "rampart:".into()
}
fn default_timeout_ms() -> u64 {
    1_000
}
fn default_resync_ms() -> u64 {
    30_000
}
fn default_max_entries() -> usize {
    100_000
}
fn default_retention() -> u64 {
    300
}

/// Shared revocation through Redis: a persisted sorted set plus pub/sub.
#[derive(Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationSyncConfig {
    /// `redis://host:port/db` or `rediss://` (TLS); with a password, by reference
    /// (`env:NAME` or `file:PATH`) to keep it out of the file.
    pub redis_url: String,
    /// Prefix of the Redis key (the set is `<prefix>revoked`). Default `rampart:`.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// Pub/sub channel. Default `<key_prefix>revocations` (`rampart:revocations`
    /// with the default prefix). Channels are global to the Redis server, not
    /// scoped by database number: deployments sharing a server need distinct
    /// prefixes (or channels), whatever database their URLs name.
    #[serde(default)]
    pub channel: Option<String>,
    /// Deadline of one Redis call or connect, milliseconds. Default 1000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Full re-sync from the set (and purge of expired local entries) interval,
    /// milliseconds. Default 30000.
    #[serde(default = "default_resync_ms")]
    pub resync_interval_ms: u64,
    /// Most entries loaded from the set. Default 100000.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
    /// How long past its credential's expiry an entry stays in the set, seconds
    /// (covers JWT leeway). Default 300.
    #[serde(default = "default_retention")]
    pub retention_seconds: u64,
}

impl std::fmt::Debug for RevocationSyncConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationSyncConfig")
            .field("redis_url", &redact_url(&self.redis_url))
            .field("key_prefix", &self.key_prefix)
            .field("channel", &self.channel)
            .field("timeout_ms", &self.timeout_ms)
            .field("resync_interval_ms", &self.resync_interval_ms)
            .field("max_entries", &self.max_entries)
            .field("retention_seconds", &self.retention_seconds)
            .finish()
    }
}

/// The URL with any user info (a password) replaced.
pub(crate) fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://<redacted>@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The validated settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub set_key: String,
    pub channel: String,
    pub timeout: Duration,
    pub resync: Duration,
    pub max_entries: usize,
    pub retention: u64,
}

fn millis(field: String, value: u64, max: u64) -> Result<Duration, AdapterError> {
    if value == 0 || value > max {
        return Err(AdapterError::invalid(
            field,
            format!("must be between 1 and {max} ms"),
        ));
    }
    Ok(Duration::from_millis(value))
}

impl RevocationSyncConfig {
    /// A configuration with defaults.
    pub fn new(redis_url: impl Into<String>) -> Self {
        Self {
            redis_url: redis_url.into(),
            key_prefix: default_prefix(),
            channel: None,
            timeout_ms: default_timeout_ms(),
            resync_interval_ms: default_resync_ms(),
            max_entries: default_max_entries(),
            retention_seconds: default_retention(),
        }
    }

    pub(crate) fn validate(&self, path: &str) -> Result<(redis::Client, Settings), AdapterError> {
        // A reference's relative file was taken from the config's directory by
        // `AdaptersConfig::relative_to`.
        let url = rampart_core::secret::SecretRef::value_or_reference(
            &self.redis_url,
            std::path::Path::new(""),
        )
        .map_err(|source| AdapterError::Secret {
            field: format!("{path}.redis_url"),
            source,
        })?;
        let client = redis::Client::open(url.as_str()).map_err(|_| {
            AdapterError::invalid(
                format!("{path}.redis_url"),
                "not a valid redis:// or rediss:// URL",
            )
        })?;
        if self.key_prefix.len() > 64 {
            return Err(AdapterError::invalid(
                format!("{path}.key_prefix"),
                "at most 64 bytes",
            ));
        }
        // The default follows the prefix: a shared channel would carry one
        // deployment's revocations into another's list, and from there (by
        // re-seeding) into its set.
        let channel = self
            .channel
            .clone()
            .unwrap_or_else(|| format!("{}revocations", self.key_prefix));
        if channel.is_empty() || channel.len() > 128 {
            return Err(AdapterError::invalid(
                format!("{path}.channel"),
                "1 to 128 bytes",
            ));
        }
        if self.max_entries == 0 || self.max_entries > 10_000_000 {
            return Err(AdapterError::invalid(
                format!("{path}.max_entries"),
                "between 1 and 10000000",
            ));
        }
        let settings = Settings {
            set_key: format!("{}revoked", self.key_prefix),
            channel,
            timeout: millis(format!("{path}.timeout_ms"), self.timeout_ms, 60_000)?,
            resync: millis(
                format!("{path}.resync_interval_ms"),
                self.resync_interval_ms,
                3_600_000,
            )?,
            max_entries: self.max_entries,
            retention: self.retention_seconds,
        };
        Ok((client, settings))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_password() {
        let config = RevocationSyncConfig::new("redis://user:hunter2@redis.internal:6379/0");
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("redis.internal:6379"), "{printed}");
        assert_eq!(redact_url("redis://127.0.0.1/"), "redis://127.0.0.1/");
    }

    #[test]
    fn the_url_may_be_a_reference_to_keep_the_password_out_of_the_file() {
        let dir =
            std::env::temp_dir().join(format!("rampart-revocation-url-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("redis-url"), "redis://:hunter2@127.0.0.1:6379/\n").unwrap();
        let config = crate::AdaptersConfig {
            revocation: Some(RevocationSyncConfig::new("file:redis-url")),
            ..Default::default()
        }
        .relative_to(&dir);
        let revocation = config.revocation.unwrap();
        assert!(revocation.validate("revocation").is_ok());
        let missing = RevocationSyncConfig::new("file:/surely/absent/redis-url");
        let err = missing.validate("revocation").unwrap_err().to_string();
        assert!(err.starts_with("revocation.redis_url"), "{err}");
        assert!(err.contains("/surely/absent/redis-url"), "{err}");
    }

    #[test]
    fn the_default_channel_follows_the_prefix_and_an_explicit_one_is_kept() {
        let url = "redis://127.0.0.1/";
        let (_, default) = RevocationSyncConfig::new(url).validate("r").unwrap();
        assert_eq!(default.channel, "rampart:revocations");
        let staging = RevocationSyncConfig {
            key_prefix: "staging:".into(),
            ..RevocationSyncConfig::new(url)
        };
        let (_, settings) = staging.validate("r").unwrap();
        assert_eq!(settings.set_key, "staging:revoked");
        assert_eq!(settings.channel, "staging:revocations");
        let explicit = RevocationSyncConfig {
            channel: Some("shared".into()),
            ..staging
        };
        assert_eq!(explicit.validate("r").unwrap().1.channel, "shared");
        let empty = RevocationSyncConfig {
            channel: Some(String::new()),
            ..RevocationSyncConfig::new(url)
        };
        let err = empty.validate("r").unwrap_err().to_string();
        assert!(err.starts_with("r.channel"), "{err}");
    }

    #[test]
    fn fields_are_validated_with_their_path() {
        let bad_url = RevocationSyncConfig::new("http://x");
        let err = bad_url.validate("revocation").unwrap_err().to_string();
        assert!(err.starts_with("revocation.redis_url"), "{err}");
        let bad_timeout = RevocationSyncConfig {
            timeout_ms: 0,
            ..RevocationSyncConfig::new("redis://127.0.0.1/")
        };
        let err = bad_timeout.validate("revocation").unwrap_err().to_string();
        assert!(err.starts_with("revocation.timeout_ms"), "{err}");
        // Outside a runtime: an error, not a panic.
        let list = std::sync::Arc::new(rampart_authn::revocation::RevocationList::new(
            std::sync::Arc::new(rampart_authn::clock::SystemClock),
            10,
            0,
        ));
        let err = super::super::RevocationSync::start(
            &RevocationSyncConfig::new("redis://127.0.0.1/"),
            "revocation",
            list,
            std::sync::Arc::new(rampart_authn::clock::SystemClock),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("tokio runtime"), "{err}");
        assert!(
            serde_json::from_value::<RevocationSyncConfig>(serde_json::json!({
                "redis_url": "redis://127.0.0.1/", "chanel": "x"
            }))
            .is_err()
        );
    }
}
