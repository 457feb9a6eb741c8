//! Verification keys: a JWKS document parsed into keys bound to an algorithm
//! family, plus the lookup by `kid` and algorithm. A key only ever verifies tokens
//! of its own family (RSA, EC P-256, Ed25519, HMAC), which is what stops RS/HS
//! confusion even if an allowlist is misconfigured.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// Largest JWKS document accepted (bytes).
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Most keys kept from one JWKS document.
pub const MAX_JWKS_KEYS: usize = 64;

/// Why a JWKS document was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Larger than [`MAX_JWKS_BYTES`].
    #[error("JWKS document too large")]
    TooLarge,
    /// Not JSON, or no `keys` array.
    #[error("JWKS document malformed")]
    Malformed,
    /// No usable signing key in it.
    #[error("JWKS document has no usable key")]
    NoUsableKey,
}

/// One verification key.
#[derive(Clone)]
pub struct VerifyKey {
    /// Key id.
    pub kid: Option<String>,
    /// The algorithm the key is pinned to (`alg` member), if any.
    pub alg: Option<Algorithm>,
    key: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("family", &self.key.family())
            .finish()
    }
}

impl VerifyKey {
    /// A key from a decoding key (e.g. a PEM file or an HS256 secret).
    pub fn new(kid: Option<String>, alg: Option<Algorithm>, key: DecodingKey) -> Self {
        Self { kid, alg, key }
    }

    /// Whether this key may verify a token signed with `alg`.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.key.family() == alg.family() && self.alg.is_none_or(|pinned| pinned == alg)
    }

    /// Verifies `signature` (base64url) over `message` with `alg`; false on any
    /// failure, including a family mismatch.
    pub fn verify(&self, message: &[u8], signature: &str, alg: Algorithm) -> bool {
        self.accepts(alg)
            && jsonwebtoken::crypto::verify(signature, message, &self.key, alg).unwrap_or(false)
    }
}

/// The keys of one issuer.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<VerifyKey>,
}

fn jwk_to_key(jwk: &Jwk) -> Option<VerifyKey> {
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        Some(alg) => Some(alg.to_string().parse::<Algorithm>().ok()?),
        None => None,
    };
    let key = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => DecodingKey::from_jwk(jwk).ok()?,
        // Only P-256: ES256 is the one EC algorithm we allow.
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            DecodingKey::from_jwk(jwk).ok()?
        }
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            DecodingKey::from_jwk(jwk).ok()?
        }
        // Symmetric keys in a (public) JWKS would be public secrets: never used.
        _ => return None,
    };
    let key = VerifyKey::new(jwk.common.key_id.clone(), alg, key);
    match key.alg {
        Some(alg) if !key.accepts(alg) => None,
        _ => Some(key),
    }
}

impl KeySet {
    /// A key set from keys.
    pub fn new(keys: Vec<VerifyKey>) -> Self {
        Self { keys }
    }

    /// Parses a JWKS document; keys that are unsupported, symmetric or not for
    /// signatures are skipped.
    pub fn from_jwks(document: &[u8]) -> Result<Self, JwksError> {
        if document.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge);
        }
        let Ok(Value::Object(mut doc)) = serde_json::from_slice::<Value>(document) else {
            return Err(JwksError::Malformed);
        };
        let Some(Value::Array(entries)) = doc.remove("keys") else {
            return Err(JwksError::Malformed);
        };
        let keys: Vec<VerifyKey> = entries
            .into_iter()
            .filter_map(|entry| serde_json::from_value::<Jwk>(entry).ok())
            .filter_map(|jwk| jwk_to_key(&jwk))
            .take(MAX_JWKS_KEYS)
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey);
        }
        Ok(Self { keys })
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys that may verify a token with this `kid` and `alg`: the one with that
    /// `kid`, or, for a token without `kid`, every key of the algorithm's family.
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'a VerifyKey> + 'a {
        self.keys.iter().filter(move |key| {
            key.accepts(alg)
                && match kid {
                    Some(kid) => key.kid.as_deref() == Some(kid),
                    None => true,
                }
        })
    }

    /// Whether a key with this `kid` (of any family) is present.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid.as_deref() == Some(kid))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn oversized_and_malformed_documents_are_refused() {
        let big = vec![b' '; MAX_JWKS_BYTES + 1];
        assert_eq!(KeySet::from_jwks(&big).unwrap_err(), JwksError::TooLarge);
        assert_eq!(KeySet::from_jwks(b"[]").unwrap_err(), JwksError::Malformed);
        assert_eq!(KeySet::from_jwks(b"{}").unwrap_err(), JwksError::Malformed);
    }

    #[test]
    fn symmetric_and_encryption_keys_are_skipped() {
        let doc = br#"{"keys":[
            {"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"hs"},
            {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","use":"enc","kid":"enc"}
        ]}"#;
        assert_eq!(KeySet::from_jwks(doc).unwrap_err(), JwksError::NoUsableKey);
    }

    #[test]
    fn ed25519_key_is_kept_and_bound_to_its_family() {
        let doc = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"ed"}]}"#;
        let set = KeySet::from_jwks(doc).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.candidates(Some("ed"), Algorithm::EdDSA).count(), 1);
        assert_eq!(set.candidates(Some("ed"), Algorithm::HS256).count(), 0);
        assert_eq!(set.candidates(Some("other"), Algorithm::EdDSA).count(), 0);
        assert!(set.has_kid("ed"));
    }
}
