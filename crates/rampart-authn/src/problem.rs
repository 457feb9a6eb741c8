//! The refusals this crate produces, as RFC 9457 problems with their RFC 6750
//! challenges. Details for operators (which check failed) go to logs and metrics
//! through each error's `reason()`; clients only learn the problem type.

use http::HeaderValue;
use http::header::WWW_AUTHENTICATE;
use rampart_core::{Problem, ProblemType};

/// No credential was presented.
pub const MISSING_CREDENTIAL: ProblemType =
    ProblemType::new("authn-missing-credential", 401, "Authentication required");
/// A bearer token (JWT or opaque) was refused.
pub const INVALID_TOKEN: ProblemType =
    ProblemType::new("authn-invalid-token", 401, "Invalid access token");
/// An API key was refused.
pub const INVALID_API_KEY: ProblemType =
    ProblemType::new("authn-invalid-api-key", 401, "Invalid API key");
/// A client certificate was missing where required, or mapped to no consumer.
pub const INVALID_CLIENT_CERT: ProblemType = ProblemType::new(
    "authn-invalid-client-certificate",
    401,
    "Client certificate not accepted",
);
/// The request carried several conflicting credentials.
pub const AMBIGUOUS_CREDENTIALS: ProblemType = ProblemType::new(
    "authn-ambiguous-credentials",
    400,
    "Conflicting credentials",
);
/// A dependency needed to decide (key store, introspection endpoint) failed; the
/// gateway fails closed.
pub const AUTHN_UNAVAILABLE: ProblemType = ProblemType::new(
    "authn-unavailable",
    503,
    "Authentication temporarily unavailable",
);

/// Every problem type this crate can produce, for the gateway's error mapping and docs.
pub const ALL: [ProblemType; 6] = [
    MISSING_CREDENTIAL,
    INVALID_TOKEN,
    INVALID_API_KEY,
    INVALID_CLIENT_CERT,
    AMBIGUOUS_CREDENTIALS,
    AUTHN_UNAVAILABLE,
];

fn challenge(kind: ProblemType, value: &'static str) -> Problem {
    Problem::new(kind).with_header(WWW_AUTHENTICATE, HeaderValue::from_static(value))
}

/// 401 with `WWW-Authenticate: Bearer realm="rampart"` (RFC 6750 §3.1: no error
/// code when the request had no credential at all).
pub fn missing_credential() -> Problem {
    challenge(MISSING_CREDENTIAL, "Bearer realm=\"rampart\"")
}

/// 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
pub fn invalid_token() -> Problem {
    challenge(
        INVALID_TOKEN,
        "Bearer realm=\"rampart\", error=\"invalid_token\"",
    )
}

/// 401 for a refused API key.
pub fn invalid_api_key() -> Problem {
    challenge(INVALID_API_KEY, "ApiKey realm=\"rampart\"")
}

/// 401 for a refused client certificate.
pub fn invalid_client_cert() -> Problem {
    challenge(INVALID_CLIENT_CERT, "Bearer realm=\"rampart\"")
}

/// 400 with `error="invalid_request"` when several credentials were sent.
pub fn ambiguous_credentials() -> Problem {
    challenge(
        AMBIGUOUS_CREDENTIALS,
        "Bearer realm=\"rampart\", error=\"invalid_request\"",
    )
}

/// 503: an authentication dependency failed (fail closed).
pub fn unavailable() -> Problem {
    Problem::new(AUTHN_UNAVAILABLE)
}
