//! The audit record: who called what, with which result, sizes and timing.

use rampart_core::{Identity, WafNotes};
use serde::Serialize;

/// The outcome of a request, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Forwarded to the upstream and answered.
    Allow,
    /// Refused by Rampart (a stage or a protocol check).
    Deny,
    /// Forwarded, but the upstream could not be reached or timed out.
    Error,
}

/// One JSON line per request. Field names are a fixed contract.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// RFC 3339 UTC time the request arrived.
    pub ts: String,
    /// The request id (as returned to the client in `X-Request-Id`).
    pub request_id: String,
    /// The client IP (see trusted proxies).
    pub client_ip: String,
    /// Request method.
    pub method: String,
    /// Requested host.
    pub host: String,
    /// Normalised path.
    pub path: String,
    /// Query string with sensitive parameters redacted.
    pub query: Option<String>,
    /// Matched API.
    pub api: Option<String>,
    /// Matched route or operation.
    pub route: Option<String>,
    /// Response status sent to the client.
    pub status: u16,
    /// Request body bytes received.
    pub bytes_in: u64,
    /// Response body bytes sent.
    pub bytes_out: u64,
    /// Total time in Rampart, milliseconds.
    pub duration_ms: f64,
    /// Time waiting for the upstream's response head, milliseconds.
    pub upstream_ms: Option<f64>,
    /// `allow`, `deny` or `error`.
    pub decision: Decision,
    /// A stable reason code (a problem slug), when there is one.
    pub reason: Option<String>,
    /// The authenticated caller (never a secret).
    pub identity: Option<Identity>,
    /// WAF results.
    pub waf: WafNotes,
}

impl AuditRecord {
    /// The record as one JSON line (with the trailing newline).
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}
