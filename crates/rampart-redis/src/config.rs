//! The Redis backend's configuration (raw, as deserialised) and its validation.

use serde::Deserialize;

/// The longest key prefix, the API's part included: keys stay short, and
/// a prefix is not a place for data.
pub const MAX_KEY_PREFIX_BYTES: usize = 64;

/// What to do while Redis is unreachable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutageMode {
    /// Keep serving under this instance's own local limits (the default): limits
    /// still hold per instance, availability is kept.
    #[default]
    FailOpen,
    /// Refuse requests with 503 `rate-limit-unavailable` until Redis is back.
    FailClosed,
}

/// Where the shared counters live.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisStoreConfig {
    /// A standalone Redis: `redis://host:port/db` or `rediss://` for TLS. With a
    /// password, give the URL by reference (`env:NAME` or `file:PATH`) to keep it
    /// out of the file.
    #[serde(default)]
    pub url: Option<String>,
    /// Redis Cluster seed nodes (`redis://host:port`, or references like `url`);
    /// when set, `url` must not be.
    #[serde(default)]
    pub cluster_nodes: Vec<String>,
    /// Prefix of every key Rampart writes (default `rampart:`), at most 64
    /// bytes, no braces. Each API's counters live under `{key_prefix}{api}:`,
    /// which must fit 64 bytes too.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// `fail_open` (default) or `fail_closed`.
    #[serde(default)]
    pub on_outage: OutageMode,
    /// Deadline of one round trip, milliseconds (default 250).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// After a failure, how long to use the fallback before trying Redis again,
    /// milliseconds (default 1000).
    #[serde(default = "default_retry")]
    pub retry_interval_ms: u64,
    /// Keys the fail-open fallback may track (default 1 048 576).
    #[serde(default = "default_fallback_keys")]
    pub fallback_max_keys: usize,
}

fn default_prefix() -> String {
    "rampart:".into()
}
fn default_timeout() -> u64 {
    250
}
fn default_retry() -> u64 {
    1000
}
fn default_fallback_keys() -> usize {
    rampart_ratelimit::local::DEFAULT_MAX_KEYS
}

impl RedisStoreConfig {
    /// A standalone configuration with defaults.
    pub fn standalone(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            cluster_nodes: Vec::new(),
            key_prefix: default_prefix(),
            on_outage: OutageMode::FailOpen,
            timeout_ms: default_timeout(),
            retry_interval_ms: default_retry(),
            fallback_max_keys: default_fallback_keys(),
        }
    }

    /// Whether `key_prefix` is usable: at most [`MAX_KEY_PREFIX_BYTES`], no
    /// braces (they would change the Cluster hash tag). `field` names it in
    /// the error.
    pub fn check_key_prefix(&self, field: String) -> Result<(), RedisConfigError> {
        if self.key_prefix.len() > MAX_KEY_PREFIX_BYTES || self.key_prefix.contains(['{', '}']) {
            return Err(RedisConfigError::Prefix { field });
        }
        Ok(())
    }
}

/// A configuration or connection-setup error.
#[derive(Debug, thiserror::Error)]
pub enum RedisConfigError {
    /// Neither or both of `url` and `cluster_nodes` are set.
    #[error("{field}: set exactly one of url and cluster_nodes")]
    Target {
        /// Field path.
        field: String,
    },
    /// The URL does not parse.
    #[error("{field}: not a valid redis:// or rediss:// URL")]
    Url {
        /// Field path.
        field: String,
    },
    /// A timeout or interval is zero or above a minute.
    #[error("{field}: must be between 1 and 60000 ms")]
    Duration {
        /// Field path.
        field: String,
    },
    /// The key prefix is longer than [`MAX_KEY_PREFIX_BYTES`] or holds a brace (it would change
    /// the Cluster hash tag).
    #[error("{field}: at most 64 bytes, no braces")]
    Prefix {
        /// Field path.
        field: String,
    },
    /// `fallback_max_keys` below what the fallback store holds anyway (8 keys
    /// in each of its 64 shards): a smaller value would be raised silently.
    #[error("{field}: at least 512 (8 keys in each of the fallback's 64 shards)")]
    FallbackKeys {
        /// Field path.
        field: String,
    },
    /// The client could not be created (e.g. TLS setup).
    #[error("{field}: client setup failed: {source}")]
    Client {
        /// Field path.
        field: String,
        /// The driver's error.
        source: redis::RedisError,
    },
}
