//! The phases of the request path, in the order the gateway runs them.
//!
//! The order is a security decision (see docs/request-path.md): cheap refusals come
//! before expensive ones, authentication before anything that needs an identity, and
//! field encryption last so that every check saw plaintext.

use serde::Serialize;

/// A request phase. Stages registered at an earlier phase run first; stages at the
/// same phase run in registration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// IP allow/deny and other checks on the connection itself.
    Connection = 1,
    /// Route and contract match: host, path and method against the API inventory.
    Route = 2,
    /// Rate limits that must hold before any credential is looked at (per IP, global).
    PreAuthRateLimit = 3,
    /// Authentication: API keys, JWT, introspection, mTLS; revocation checks.
    Authentication = 4,
    /// Authorization: scopes, roles, policies, object ownership, step-up.
    Authorization = 5,
    /// Consumer rate limits and quotas (needs the identity).
    ConsumerRateLimit = 6,
    /// Request validation: parameters, body schema, mass assignment.
    Validation = 7,
    /// WAF inspection of the decoded request.
    Waf = 8,
    /// Request transformation such as field encryption, last so checks saw plaintext.
    Transform = 9,
}

impl Phase {
    /// All request phases in run order.
    pub const ALL: [Phase; 9] = [
        Phase::Connection,
        Phase::Route,
        Phase::PreAuthRateLimit,
        Phase::Authentication,
        Phase::Authorization,
        Phase::ConsumerRateLimit,
        Phase::Validation,
        Phase::Waf,
        Phase::Transform,
    ];
}

/// A response phase, run in this order on the upstream's response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponsePhase {
    /// See the upstream's response as it arrived, before anything rewrites or
    /// replaces it (e.g. count failed logins).
    Observe = 0,
    /// Replace upstream errors by generic problems.
    ErrorMasking = 1,
    /// Inspect the response (WAF phases 3 and 4).
    Inspection = 2,
    /// Remove undeclared or restricted fields.
    Filtering = 3,
    /// Decrypt fields for the client.
    Transform = 4,
    /// Add headers (security headers, rate-limit headers).
    Headers = 5,
}
