//! Why a JWT was refused: one variant per cause. Every variant but one becomes
//! the same client answer (401 `invalid_token`); the issuer's keys being
//! unavailable is an outage on our side, not a bad token (503, as an
//! introspection outage). `reason()` is for logs and metrics.

use rampart_core::Problem;

/// A refused JWT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Longer than the configured maximum, refused before any parsing.
    #[error("token exceeds the size limit")]
    Oversized,
    /// Not three base64url parts, or a part that is not a JSON object.
    #[error("malformed token")]
    Malformed,
    /// `alg: none` (unsigned token).
    #[error("unsigned token (alg none)")]
    AlgNone,
    /// An algorithm outside the issuer's allowlist (or unknown).
    #[error("algorithm not allowed")]
    AlgNotAllowed,
    /// A header that would let the token pick its own key (`jku`, `x5u`, `jwk`,
    /// `x5c`) or demand extensions we do not implement (`crit`).
    #[error("forbidden header {0}")]
    ForbiddenHeader(&'static str),
    /// The header's `typ` is not one the issuer accepts (e.g. an ID token
    /// presented as an access token, RFC 8725 §3.11).
    #[error("wrong token type")]
    WrongType,
    /// No configured issuer has this `iss`.
    #[error("unknown issuer")]
    UnknownIssuer,
    /// No key for this `kid` (and algorithm), even after a refetch.
    #[error("unknown key id")]
    UnknownKid,
    /// No `kid` picks the key (none given, or one no key has) and several
    /// keys could have signed the token (the issuer does not allow that).
    #[error("key id required")]
    KidRequired,
    /// The issuer's keys are not loaded: the JWKS endpoint has not answered
    /// since start, or not within the keys' maximum age.
    #[error("issuer keys unavailable")]
    KeysUnavailable,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `exp` is past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `iat` is older than the maximum token age.
    #[error("token too old")]
    TooOld,
    /// `aud` names none of the configured audiences.
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim is absent.
    #[error("missing claim {0}")]
    MissingClaim(String),
    /// A registered claim has the wrong JSON type (e.g. `exp` as a string).
    #[error("claim {0} has the wrong type")]
    InvalidClaim(&'static str),
    /// The token's `jti` is on the revocation list.
    #[error("token revoked")]
    Revoked,
    /// The token is bound to a client certificate (`cnf.x5t#S256`) that was not presented.
    #[error("certificate binding mismatch")]
    CertificateBinding,
    /// The consumer the token names (with its issuer's `consumer_prefix`)
    /// starts with the `consumer_prefix` of another token source of the API:
    /// it would be a user of that identity provider (`sub: "partner:alice"`
    /// from an issuer without prefix, beside a partner's with `partner:`).
    #[error("consumer in another identity provider's namespace")]
    ConsumerOutsideNamespace,
}

impl JwtError {
    /// A stable reason code for logs and the `rampart_authn_failures_total` metric.
    pub fn reason(&self) -> &'static str {
        match self {
            JwtError::Oversized => "jwt-oversized",
            JwtError::Malformed => "jwt-malformed",
            JwtError::AlgNone => "jwt-alg-none",
            JwtError::AlgNotAllowed => "jwt-alg-not-allowed",
            JwtError::ForbiddenHeader(_) => "jwt-forbidden-header",
            JwtError::WrongType => "jwt-wrong-type",
            JwtError::UnknownIssuer => "jwt-unknown-issuer",
            JwtError::UnknownKid => "jwt-unknown-kid",
            JwtError::KidRequired => "jwt-kid-required",
            JwtError::KeysUnavailable => "jwt-keys-unavailable",
            JwtError::BadSignature => "jwt-bad-signature",
            JwtError::Expired => "jwt-expired",
            JwtError::NotYetValid => "jwt-not-yet-valid",
            JwtError::IssuedInFuture => "jwt-issued-in-future",
            JwtError::TooOld => "jwt-too-old",
            JwtError::WrongAudience => "jwt-wrong-audience",
            JwtError::MissingClaim(_) => "jwt-missing-claim",
            JwtError::InvalidClaim(_) => "jwt-invalid-claim",
            JwtError::Revoked => "jwt-revoked",
            JwtError::CertificateBinding => "jwt-certificate-binding",
            JwtError::ConsumerOutsideNamespace => "jwt-consumer-outside-namespace",
        }
    }

    /// The client answer: 401 with `WWW-Authenticate: Bearer error="invalid_token"`,
    /// or 503 `authn-unavailable` when the issuer's keys are unavailable (the
    /// token may be fine: a client must not throw it away or re-authenticate
    /// in a loop, and monitoring must see an outage, not bad tokens).
    pub fn to_problem(&self) -> Problem {
        match self {
            JwtError::KeysUnavailable => crate::problem::unavailable(),
            JwtError::Oversized
            | JwtError::Malformed
            | JwtError::AlgNone
            | JwtError::AlgNotAllowed
            | JwtError::ForbiddenHeader(_)
            | JwtError::WrongType
            | JwtError::UnknownIssuer
            | JwtError::UnknownKid
            | JwtError::KidRequired
            | JwtError::BadSignature
            | JwtError::Expired
            | JwtError::NotYetValid
            | JwtError::IssuedInFuture
            | JwtError::TooOld
            | JwtError::WrongAudience
            | JwtError::MissingClaim(_)
            | JwtError::InvalidClaim(_)
            | JwtError::Revoked
            | JwtError::CertificateBinding
            | JwtError::ConsumerOutsideNamespace => crate::problem::invalid_token(),
        }
    }
}
