//! Per-request state shared by the stages of one request.
//!
//! The gateway fills the request facts (normalised path, client IP, TLS facts) before
//! the first stage runs; stages read them, may rewrite the headers sent upstream,
//! and annotate the request: the identity they established, the audit notes (why a
//! request was allowed or refused, what the WAF matched), typed data for later
//! stages in `extensions`.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http::{Extensions, HeaderMap, Method, StatusCode, Version};
use serde::Serialize;

/// Facts about the TLS session a request arrived on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsInfo {
    /// Negotiated protocol version, e.g. `TLSv1.3`.
    pub version: String,
    /// Negotiated ALPN protocol, e.g. `h2`.
    pub alpn: Option<String>,
    /// The verified client certificate, when the listener asks for one (mTLS).
    pub client_cert: Option<ClientCert>,
}

/// A client certificate that rustls verified against the listener's CA bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientCert {
    /// Subject distinguished name, RFC 4514 form.
    pub subject: String,
    /// Subject alternative names (DNS names, URIs, e-mail addresses, IPs) as text.
    pub sans: Vec<String>,
    /// SHA-256 of the DER certificate, base64url without padding (RFC 8705 `x5t#S256`).
    pub sha256_thumbprint: String,
}

/// Who is calling, as established by an authentication stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Identity {
    /// The consumer (application, user or service) the credential belongs to.
    pub consumer: String,
    /// How the caller authenticated: `api_key`, `jwt`, `introspection`, `mtls`.
    pub method: String,
    /// A non-secret handle on the credential: an API key prefix or a token `jti`.
    pub credential_id: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Granted roles.
    pub roles: Vec<String>,
    /// The consumer's plan (rate-limit tier), when known.
    pub plan: Option<String>,
    /// Verified claims, for attribute policies. Never logged.
    #[serde(skip)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl Identity {
    /// The claim at `path`: a top-level claim, or a dotted path into nested
    /// objects (`realm_access.roles`). A literal key containing dots wins over
    /// the path reading. Every engine reads claims through this, so a claim
    /// name means the same in authn, authz and rate-limit sections.
    pub fn claim(&self, path: &str) -> Option<&serde_json::Value> {
        claim_at(&self.claims, path)
    }
}

/// The value at `path` in `claims`, as [`Identity::claim`] reads it.
pub fn claim_at<'a>(
    claims: &'a serde_json::Map<String, serde_json::Value>,
    path: &str,
) -> Option<&'a serde_json::Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// What the WAF saw, for the audit record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WafNotes {
    /// Every matched rule id, in match order.
    pub matched_rules: Vec<u64>,
    /// The inbound anomaly score.
    pub anomaly_score: i64,
}

/// Annotations for the audit record that stages add as they run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditNotes {
    /// A stable reason code when a stage wants one recorded without refusing
    /// (e.g. `waf-detected` in detection-only mode).
    pub reason: Option<String>,
    /// WAF results.
    pub waf: WafNotes,
}

/// The request as the stages see it.
#[derive(Debug)]
pub struct RequestCx {
    /// Well-formed inbound `X-Request-Id`, or one the gateway generated.
    pub request_id: String,
    /// The client's address: the socket peer, or the first untrusted hop of
    /// `X-Forwarded-For` when the peer is a trusted proxy.
    pub client_ip: IpAddr,
    /// The TCP peer.
    pub peer_addr: SocketAddr,
    /// TLS facts, `None` on plain-HTTP listeners.
    pub tls: Option<TlsInfo>,
    /// Request method.
    pub method: Method,
    /// HTTP version of the request.
    pub version: Version,
    /// The request target exactly as received (path and query, before
    /// normalisation), for inspection only: the WAF sees what the client sent.
    /// (Empty when the API has no stages: nothing would read it.)
    pub raw_target: String,
    /// Host the request addressed (no port), lower-case.
    pub host: String,
    /// The normalised path: unreserved characters percent-decoded, dot segments
    /// removed. This is what routing and every check see, and what the upstream gets.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Request headers; changes here are what the upstream receives. (Empty
    /// when the API has no stages: the gateway then forwards the fields as
    /// they arrived without making a map of them.)
    pub headers: HeaderMap,
    /// The matched API's name.
    pub api: String,
    /// The matched route or operation template, e.g. `GET /users/{id}`.
    pub route: Option<String>,
    /// The caller, once an authentication stage established it.
    pub identity: Option<Identity>,
    /// The buffered request body, present for stages that asked for it.
    pub body: Option<Bytes>,
    /// Audit annotations.
    pub notes: AuditNotes,
    /// Typed data stages pass to later stages.
    pub extensions: Extensions,
    /// When the gateway began handling the request (its head read), for
    /// stages timing from the request's start (the WAF's `DURATION`); `None`
    /// outside the gateway.
    pub received_at: Option<std::time::Instant>,
}

impl RequestCx {
    /// A context with the given basics and everything else empty; the gateway and
    /// tests fill in the rest.
    pub fn new(request_id: String, peer_addr: SocketAddr, method: Method, path: String) -> Self {
        Self {
            request_id,
            client_ip: peer_addr.ip(),
            peer_addr,
            tls: None,
            method,
            version: Version::HTTP_11,
            raw_target: path.clone(),
            host: String::new(),
            path,
            query: None,
            headers: HeaderMap::new(),
            api: String::new(),
            route: None,
            identity: None,
            body: None,
            notes: AuditNotes::default(),
            extensions: Extensions::new(),
            received_at: None,
        }
    }
}

/// The upstream's response as response stages see it.
#[derive(Debug)]
pub struct ResponseCx {
    /// Status from the upstream (stages may change it).
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The buffered response body, present when a stage asked for it.
    pub body: Option<Bytes>,
    /// `body` holds only the first part of a longer body (see
    /// [`crate::Stage::inspects_response_body_prefix`]); the rest streams to the
    /// client after the response stages ran.
    pub body_truncated: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::claim_at;

    #[test]
    fn claims_are_read_at_top_level_then_by_dotted_path() {
        let claims =
            json!({"tier": "gold", "realm_access": {"roles": ["admin"]}, "a.b": 1, "a": {"b": 2}});
        let claims = claims.as_object().unwrap();
        assert_eq!(claim_at(claims, "tier"), Some(&json!("gold")));
        assert_eq!(
            claim_at(claims, "realm_access.roles"),
            Some(&json!(["admin"]))
        );
        assert_eq!(
            claim_at(claims, "a.b"),
            Some(&json!(1)),
            "a literal dotted key wins"
        );
        assert_eq!(claim_at(claims, "tier.x"), None);
        assert_eq!(claim_at(claims, "missing"), None);
        assert_eq!(claim_at(claims, ""), None);
    }
}
