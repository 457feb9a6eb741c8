//! Why the authentication stage refused a request, for the stages around it: the
//! lock-out counts refusals that are signs of guessing or forging a credential,
//! not every 401.
//!
//! The client answer is the same for most causes (401 `invalid_token`, no oracle);
//! the stage also leaves an [`AuthnRefusal`] with the reason code (the label of
//! `rampart_authn_failures_total`) in `RequestCx::extensions`.
//!
//! What counts as a guess is decided here, by reason code, in one list:
//! [`NOT_GUESSES`]. A credential that is not shown genuine counts: a bad
//! signature, an unknown key id or issuer, a malformed or unsigned token, an
//! unknown or mismatching API key, an opaque token the server calls inactive.
//! A credential shown genuine (its signature verified, its key hash matched, the
//! authorisation server vouched for it, TLS verified the certificate) and then
//! refused for its lifetime or its use (expired, not yet valid, revoked, another
//! audience or issuer, a missing claim, a certificate binding) does not: no secret
//! is being guessed, and an expired token sent by a client's parallel calls would
//! otherwise lock out its address (and everyone behind the same NAT). Nor does a
//! refusal that is Rampart's own failure (key set or store unavailable).
//!
//! An unknown reason code (a cause added later without a decision here) counts:
//! failing safe keeps the brute-force protection, at the cost of possibly locking
//! out a legitimate client until it is listed.

/// The stage's own reason codes (the engines' are their errors' `reason()`).
pub mod reason {
    /// No credential presented.
    pub const MISSING_CREDENTIAL: &str = "missing-credential";
    /// Several credentials at once.
    pub const AMBIGUOUS_CREDENTIALS: &str = "ambiguous-credentials";
    /// An `Authorization: Bearer` value that is not a token.
    pub const BEARER_MALFORMED: &str = "bearer-malformed";
    /// A bearer token where neither JWT nor introspection is configured.
    pub const BEARER_NOT_ACCEPTED: &str = "bearer-not-accepted";
    /// A verified client certificate no rule maps to a consumer.
    pub const MTLS_UNMAPPED: &str = "mtls-unmapped";
}

/// Left in `RequestCx::extensions` by [`crate::AuthnStage`] when it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthnRefusal {
    /// The reason code, e.g. `jwt-bad-signature` or `jwt-expired`.
    pub reason: &'static str,
}

impl AuthnRefusal {
    /// Whether this refusal is a sign of guessing or forging a credential (see
    /// the module documentation).
    pub fn is_guess(&self) -> bool {
        is_guess(self.reason)
    }
}

/// The refusal reasons that are not guesses; every other reason is one.
pub const NOT_GUESSES: &[&str] = &[
    // No credential at all: anyone sharing an address could lock the others out.
    reason::MISSING_CREDENTIAL,
    // Rampart's own failures: every client would be refused alike.
    "jwt-keys-unavailable",
    "apikey-store-unavailable",
    "apikey-random-failed",
    "introspection-unavailable",
    "introspection-invalid-response",
    // A JWT whose signature verified (its claims are checked after it; a
    // missing or non-string `iss` is refused before it, but such a token cannot
    // be checked against any key, so it tests no secret either).
    "jwt-expired",
    "jwt-not-yet-valid",
    "jwt-issued-in-future",
    "jwt-too-old",
    "jwt-wrong-audience",
    "jwt-missing-claim",
    "jwt-invalid-claim",
    "jwt-revoked",
    "jwt-certificate-binding",
    // A JWT without `kid` (or with one no key has) while several keys could
    // have signed it: refused before any key is tried, so it tests no secret.
    // An issuer that omits `kid` publishes a second key during a rotation and
    // every token is refused so: counting them would lock out its clients.
    "jwt-kid-required",
    // An API key whose secret matched.
    "apikey-expired",
    "apikey-revoked",
    // An opaque token the authorisation server called active.
    "introspection-expired",
    "introspection-wrong-issuer",
    "introspection-wrong-audience",
    "introspection-no-consumer",
    // A genuine token whose consumer falls in another identity provider's
    // namespace (`sub: "partner:alice"` from an issuer without prefix beside
    // one with `partner:`): its provider vouched for it, no secret is tested.
    "jwt-consumer-outside-namespace",
    "introspection-consumer-outside-namespace",
    // A client certificate TLS verified, mapped to no consumer.
    reason::MTLS_UNMAPPED,
    // Two credentials at once (400): a client bug, not a guess.
    reason::AMBIGUOUS_CREDENTIALS,
];

/// Whether a refusal with this reason code is a sign of guessing or forging a
/// credential; unknown codes are (fail safe).
pub fn is_guess(reason: &str) -> bool {
    !NOT_GUESSES.contains(&reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apikey::ApiKeyError;
    use crate::introspection::IntrospectionError;
    use crate::jwt::JwtError;

    #[test]
    fn guesses_count_and_genuine_credentials_refused_later_do_not() {
        for guess in [
            JwtError::BadSignature.reason(),
            JwtError::UnknownKid.reason(),
            JwtError::Malformed.reason(),
            JwtError::AlgNone.reason(),
            JwtError::AlgNotAllowed.reason(),
            JwtError::UnknownIssuer.reason(),
            JwtError::Oversized.reason(),
            ApiKeyError::Unknown.reason(),
            ApiKeyError::Mismatch.reason(),
            ApiKeyError::Malformed.reason(),
            IntrospectionError::Inactive.reason(),
            IntrospectionError::Malformed.reason(),
            reason::BEARER_MALFORMED,
            reason::BEARER_NOT_ACCEPTED,
            "some-reason-added-later",
        ] {
            assert!(is_guess(guess), "{guess}");
        }
        for genuine in [
            JwtError::Expired.reason(),
            JwtError::NotYetValid.reason(),
            JwtError::Revoked.reason(),
            JwtError::WrongAudience.reason(),
            ApiKeyError::Expired.reason(),
            IntrospectionError::Expired.reason(),
            // Genuine, but naming a user of another identity provider.
            JwtError::ConsumerOutsideNamespace.reason(),
            IntrospectionError::ConsumerOutsideNamespace.reason(),
            // No key tried.
            JwtError::KidRequired.reason(),
        ] {
            assert!(!is_guess(genuine), "{genuine}");
        }
    }

    #[test]
    fn every_listed_reason_is_one_the_crate_produces() {
        // A renamed reason would silently start counting: the list must follow.
        let produced = [
            reason::MISSING_CREDENTIAL,
            reason::MTLS_UNMAPPED,
            reason::AMBIGUOUS_CREDENTIALS,
            JwtError::KeysUnavailable.reason(),
            ApiKeyError::Store(crate::apikey::StoreError::Unavailable(String::new())).reason(),
            ApiKeyError::Random.reason(),
            IntrospectionError::Unavailable.reason(),
            IntrospectionError::InvalidResponse.reason(),
            JwtError::Expired.reason(),
            JwtError::NotYetValid.reason(),
            JwtError::IssuedInFuture.reason(),
            JwtError::TooOld.reason(),
            JwtError::WrongAudience.reason(),
            JwtError::MissingClaim(String::new()).reason(),
            JwtError::InvalidClaim("exp").reason(),
            JwtError::Revoked.reason(),
            JwtError::CertificateBinding.reason(),
            JwtError::KidRequired.reason(),
            ApiKeyError::Expired.reason(),
            ApiKeyError::Revoked.reason(),
            IntrospectionError::Expired.reason(),
            IntrospectionError::WrongIssuer.reason(),
            IntrospectionError::WrongAudience.reason(),
            IntrospectionError::NoConsumer.reason(),
            JwtError::ConsumerOutsideNamespace.reason(),
            IntrospectionError::ConsumerOutsideNamespace.reason(),
        ];
        assert_eq!(produced.len(), NOT_GUESSES.len());
        for reason in NOT_GUESSES {
            assert!(produced.contains(reason), "{reason}");
        }
    }
}
