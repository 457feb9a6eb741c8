//! The configuration file as written: serde types that mirror the YAML one to one.
//! Unknown keys are refused everywhere; values that need checking after parsing
//! keep their line ([`Located`]). The doc comments here become the descriptions in
//! the published JSON Schema.

use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ConfigError, ConfigErrors};
use crate::located::Located;

/// A Rampart configuration file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Listeners that accept client traffic (plain HTTP or TLS).
    pub listeners: Located<Vec<RawListener>>,
    /// The admin listener (health, readiness, metrics).
    #[serde(default)]
    pub admin: RawAdmin,
    /// Protocol limits applied to every client connection.
    #[serde(default)]
    pub limits: RawLimits,
    /// Peers (IPs or CIDRs) whose `X-Forwarded-*` headers are trusted.
    #[serde(default)]
    pub trusted_proxies: Vec<Located<String>>,
    /// The audit log: one JSON record per request.
    #[serde(default)]
    pub audit: RawAudit,
    /// Identity infrastructure shared by every API: outbound HTTP (JWKS,
    /// introspection), the API key store, revocation shared through Redis.
    /// Read at start; changes need a restart.
    pub identity: Option<Located<rampart_adapters::AdaptersConfig>>,
    /// Shared Redis for rate-limit counters exact across instances (default: each
    /// instance counts locally).
    pub redis: Option<Located<rampart_redis::RedisStoreConfig>>,
    /// The APIs Rampart protects, matched by host and path prefix.
    pub apis: Located<Vec<RawApi>>,
}

/// A client-facing listener.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    /// A name for logs and metrics (default: the bind address): letters,
    /// digits, `-`, `_` or `.`, unique.
    pub name: Option<Located<String>>,
    /// Socket address, e.g. `0.0.0.0:8443`.
    pub bind: Located<String>,
    /// TLS settings; absent means plain HTTP.
    pub tls: Option<RawTls>,
}

/// TLS settings of a listener (rustls: TLS 1.2+ with forward-secret AEAD suites).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// PEM certificate chain; reloaded when the file changes.
    pub cert: Located<String>,
    /// PEM private key; reloaded when the file changes.
    pub key: Located<String>,
    /// Lowest TLS version: `"1.2"` (default) or `"1.3"`.
    pub min_version: Option<Located<String>>,
    /// PEM CA bundle for client certificates (mTLS).
    pub client_ca: Option<Located<String>>,
    /// With `client_ca`: `required` (default) or `optional`.
    pub client_auth: Option<Located<String>>,
    /// `Strict-Transport-Security` value (default `max-age=31536000`); empty disables.
    pub hsts: Option<Located<String>>,
}

/// The admin listener.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Socket address (default `127.0.0.1:9901`).
    pub bind: Option<Located<String>>,
}

/// A byte size: an integer, or a string like `64KiB`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawSize {
    /// Bytes.
    Bytes(u64),
    /// A number with a unit: B, KiB, MiB, GiB.
    Text(String),
}

/// Protocol limits.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Largest request head (request line + headers), default 16KiB; 431 past it.
    pub max_header_bytes: Option<Located<RawSize>>,
    /// Most request headers, default 100; 431 past it.
    pub max_headers: Option<Located<u64>>,
    /// Longest request target, default 8KiB; 414 past it.
    pub max_uri_length: Option<Located<RawSize>>,
    /// Time allowed to send a request head, default `10s`.
    pub header_read_timeout: Option<Located<String>>,
    /// Most concurrent client connections, default 10000; excess connections are closed.
    pub max_connections: Option<Located<u64>>,
    /// Most requests in flight, default 10000; 503 past it.
    pub max_in_flight: Option<Located<u64>>,
    /// Largest request body Rampart buffers for inspection, default 1MiB; 413 past it.
    pub max_body_bytes: Option<Located<RawSize>>,
    /// Time allowed to send a request body Rampart buffers for inspection, default `30s`; 408 past it.
    pub body_read_timeout: Option<Located<String>>,
    /// Time a response write to a client may make no progress before the connection is closed, default `60s`.
    pub send_timeout: Option<Located<String>>,
    /// Time allowed for in-flight requests to finish on shutdown, default `30s`.
    pub drain_timeout: Option<Located<String>>,
}

/// The audit log.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// Where records go (default: stdout); when given, at least one: the
    /// audit log cannot be turned off.
    #[serde(default)]
    #[schemars(with = "Vec<RawSink>", length(min = 1))]
    pub sinks: Option<Located<Vec<RawSink>>>,
    /// Records queued for the writer before new ones are dropped and counted, default 65536.
    pub queue_capacity: Option<Located<u64>>,
    /// Extra query parameter names to redact (password, token, secret, key… always are).
    #[serde(default)]
    pub redact_params: Vec<String>,
}

/// An audit sink.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawSink {
    /// One JSON line per record on standard output.
    Stdout {},
    /// A file with size-based rotation.
    File {
        /// File path.
        path: Located<String>,
        /// Rotate past this size (default 100MiB).
        max_bytes: Option<Located<RawSize>>,
        /// Rotated files kept (default 10, at least 1).
        keep: Option<Located<u64>>,
        /// Rotated files older than this are deleted (e.g. `168h`).
        max_age: Option<Located<String>>,
    },
}

/// One protected API.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    /// Unique name, used in logs, metrics and the audit record.
    pub name: Located<String>,
    /// Host names this API answers (without port); empty means any host.
    #[serde(default)]
    pub hosts: Vec<Located<String>>,
    /// Path prefix this API answers, default `/`. The longest matching prefix wins.
    pub path_prefix: Option<Located<String>>,
    /// Remove the prefix before forwarding (default false).
    #[serde(default)]
    pub strip_prefix: bool,
    /// Where requests go.
    pub upstream: RawUpstream,
    /// Largest request body buffered for this API's stages (default: `limits.max_body_bytes`).
    pub max_body_bytes: Option<Located<RawSize>>,
    /// Positive security from an OpenAPI document: inventory, validation, filtering.
    pub openapi: Option<Located<rampart_openapi::OpenApiConfig>>,
    /// Authentication: API keys, JWT/JWKS, introspection, mTLS.
    pub authn: Option<Located<rampart_authn::AuthnConfig>>,
    /// Authorization per operation: scopes, roles, Cedar, ownership, step-up.
    pub authz: Option<Located<rampart_authz::AuthzConfig>>,
    /// Rate limits, plans, quotas and lockouts.
    pub rate_limit: Option<Located<rampart_ratelimit::RateLimitConfig>>,
    /// The WAF (OWASP CRS in SecLang).
    pub waf: Option<Located<rampart_waf::WafConfig>>,
}

/// The upstream of an API.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// `http://host:port` or `https://host:port`, optionally with a base path.
    pub url: Located<String>,
    /// PEM CA bundle to verify an https upstream (default: system roots).
    pub ca: Option<Located<String>>,
    /// PEM client certificate for mTLS to the upstream.
    pub client_cert: Option<Located<String>>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<Located<String>>,
    /// Default `5s`.
    pub connect_timeout: Option<Located<String>>,
    /// Time to wait for the response head, default `30s`; 504 past it.
    pub response_header_timeout: Option<Located<String>>,
    /// Longest wait between two reads of the response body, default `60s`;
    /// past it the response is cut short (its head has gone to the client).
    pub response_body_timeout: Option<Located<String>>,
    /// Idle pooled connections are closed after this, default `4s`: below
    /// the keep-alive timeout of common upstream servers (Node.js 5s,
    /// uvicorn 5s, gunicorn 2s is lower: set it there), so that Rampart, not
    /// the upstream, closes an idle connection.
    pub idle_timeout: Option<Located<String>>,
    /// Idle pooled connections kept per upstream host, default 256.
    pub max_idle_connections: Option<Located<u64>>,
}

/// Parses the YAML text; a syntax or type error stops parsing and is returned alone,
/// with its line and the path of the field it is in (`apis[0].upstream`).
pub fn parse(path: &Path, text: &str) -> Result<RawConfig, ConfigErrors> {
    let mut field = String::new();
    let mut holder = 0;
    serde_saphyr::with_deserializer_from_str(text, |deserializer| {
        serde_path_to_error::deserialize::<_, RawConfig>(deserializer).map_err(|err| {
            (field, holder) = field_path(err.path());
            err.into_inner()
        })
    })
    .map_err(|err| {
        let location = err.location();
        let mut message = err.without_snippet().to_string();
        // The line is reported in front of the field; do not repeat it.
        if let Some(location) = location {
            let suffix = format!(" at line {}, column {}", location.line(), location.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message.truncate(stripped.len());
            }
        }
        // An unknown key is reported at the object holding it.
        if message.starts_with("unknown field") {
            field.truncate(holder);
        }
        let line = location.map(|location| location.line());
        ConfigErrors::one(ConfigError::new(path, line, field.clone(), message))
    })
}

/// `apis[0].authz.operations["GET /x"]` from a serde path, and the length of
/// the path without its last segment (the object holding it: a key's text may
/// hold dots or brackets, so it is not found by searching). The `value` level
/// that [`Located`] adds is left out (it is not in the file).
fn field_path(path: &serde_path_to_error::Path) -> (String, usize) {
    use serde_path_to_error::Segment;
    let mut field = String::new();
    let mut holder = 0;
    for segment in path.iter() {
        if !matches!(segment, Segment::Unknown)
            && !matches!(segment, Segment::Map { key } if key == "value")
        {
            holder = field.len();
        }
        match segment {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } if key == "value" => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                let plain = key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !plain {
                    field.push_str(&format!("[{key:?}]"));
                } else {
                    if !field.is_empty() {
                        field.push('.');
                    }
                    field.push_str(key);
                }
            }
            Segment::Unknown => {}
        }
    }
    (field, holder)
}
