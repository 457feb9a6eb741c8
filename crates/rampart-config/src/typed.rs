//! The validated configuration the gateway runs on.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::Uri;
use ipnet::IpNet;

/// A complete, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub source: PathBuf,
    /// The directory relative paths are taken from.
    pub base_dir: PathBuf,
    /// Client-facing listeners.
    pub listeners: Vec<Listener>,
    /// The admin listener's address.
    pub admin_bind: SocketAddr,
    /// Protocol limits.
    pub limits: Limits,
    /// Peers whose forwarding headers are trusted.
    pub trusted_proxies: Vec<IpNet>,
    /// The audit log.
    pub audit: Audit,
    /// Identity infrastructure (`identity`).
    pub identity: Option<crate::Located<rampart_adapters::AdaptersConfig>>,
    /// Shared Redis for rate-limit counters.
    pub redis: Option<crate::Located<rampart_redis::RedisStoreConfig>>,
    /// Protected APIs.
    pub apis: Vec<Api>,
    /// Lines of the fields whose values are checked again when the gateway
    /// builds what they name (upstream and listener TLS files, listener
    /// addresses, audit files), so that an error found then still names its
    /// line.
    pub field_lines: std::collections::BTreeMap<String, u64>,
}

impl Config {
    /// The line of `field` (`apis[0].upstream`, `audit.sinks[1].file.path`),
    /// when the file gave it.
    pub fn line_of(&self, field: &str) -> Option<u64> {
        self.field_lines.get(field).copied()
    }
}

/// A client-facing listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Name for logs and metrics.
    pub name: String,
    /// Socket address.
    pub bind: SocketAddr,
    /// TLS, or plain HTTP when `None`.
    pub tls: Option<ListenerTls>,
}

/// Lowest accepted TLS version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMinVersion {
    /// TLS 1.2 and 1.3.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// Whether a listener asks for client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// A verified client certificate is required.
    Required,
    /// A client certificate is verified when presented.
    Optional,
}

/// TLS settings of a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTls {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
    /// Lowest version.
    pub min_version: TlsMinVersion,
    /// Client CA bundle and mode, for mTLS.
    pub client_ca: Option<(PathBuf, ClientAuth)>,
    /// `Strict-Transport-Security` value, if any.
    pub hsts: Option<String>,
}

/// Protocol limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request head in bytes.
    pub max_header_bytes: usize,
    /// Most headers in a request.
    pub max_headers: usize,
    /// Longest request target.
    pub max_uri_length: usize,
    /// Time allowed to send a request head.
    pub header_read_timeout: Duration,
    /// Most concurrent client connections.
    pub max_connections: usize,
    /// Most requests in flight.
    pub max_in_flight: usize,
    /// Largest buffered request body.
    pub max_body_bytes: usize,
    /// Time allowed to receive a body that is buffered (a declared but unsent
    /// body would otherwise hold the request, and its in-flight slot, forever).
    pub body_read_timeout: Duration,
    /// Time a write to a client may make no progress before the connection is
    /// closed (a client that never reads must not hold a connection forever).
    pub send_timeout: Duration,
    /// Drain time on shutdown.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_uri_length: 8 * 1024,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_in_flight: 10_000,
            max_body_bytes: 1024 * 1024,
            body_read_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// The audit log.
#[derive(Debug, Clone)]
pub struct Audit {
    /// Sinks records are written to.
    pub sinks: Vec<AuditSink>,
    /// Queue bound.
    pub queue_capacity: usize,
    /// Extra query parameter names to redact.
    pub redact_params: Vec<String>,
}

/// An audit sink.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditSink {
    /// Standard output.
    Stdout,
    /// A rotated file.
    File {
        /// Path.
        path: PathBuf,
        /// Rotation size.
        max_bytes: u64,
        /// Rotated files kept.
        keep: usize,
        /// Maximum age of rotated files.
        max_age: Option<Duration>,
    },
}

/// A protected API.
#[derive(Debug, Clone)]
pub struct Api {
    /// Unique name.
    pub name: String,
    /// Lower-case host names; empty = any.
    pub hosts: Vec<String>,
    /// Path prefix, starts with `/`.
    pub path_prefix: String,
    /// Strip the prefix before forwarding.
    pub strip_prefix: bool,
    /// Upstream.
    pub upstream: Upstream,
    /// Largest buffered request body.
    pub max_body_bytes: usize,
    /// Engine sections, as written (each engine validates its own when the
    /// gateway builds the API's stages); the line is the section's.
    pub engines: EngineSections,
}

/// The per-API engine sections.
#[derive(Debug, Clone, Default)]
pub struct EngineSections {
    /// `openapi`.
    pub openapi: Option<crate::Located<rampart_openapi::OpenApiConfig>>,
    /// `authn`.
    pub authn: Option<crate::Located<rampart_authn::AuthnConfig>>,
    /// `authz`.
    pub authz: Option<crate::Located<rampart_authz::AuthzConfig>>,
    /// `rate_limit`.
    pub rate_limit: Option<crate::Located<rampart_ratelimit::RateLimitConfig>>,
    /// `waf`.
    pub waf: Option<crate::Located<rampart_waf::WafConfig>>,
}

/// An API's upstream.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Scheme and authority (and optional base path).
    pub url: Uri,
    /// CA bundle for https upstreams.
    pub ca: Option<PathBuf>,
    /// Client certificate and key for mTLS to the upstream.
    pub client_identity: Option<(PathBuf, PathBuf)>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Response-head timeout.
    pub response_header_timeout: Duration,
    /// Longest wait between two reads of the response body.
    pub response_body_timeout: Duration,
    /// Idle pooled connection lifetime.
    pub idle_timeout: Duration,
    /// Idle pooled connections per host.
    pub max_idle_connections: usize,
}
