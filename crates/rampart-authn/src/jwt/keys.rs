//! Verification keys: a JWKS document parsed into keys bound to an algorithm
//! family, plus the lookup by `kid` and algorithm. A key only ever verifies tokens
//! of its own family (RSA, EC P-256, Ed25519, HMAC), which is what stops RS/HS
//! confusion even if an allowlist is misconfigured.
//!
//! JWKs are read with jsonwebtoken's types; the public keys are then parsed once,
//! at load, into aws-lc-rs `ParsedPublicKey`s (the same crypto backend
//! jsonwebtoken uses), so a request pays for the signature check only and not for
//! re-parsing and re-validating the key every time.

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use serde_json::Value;

/// Largest JWKS document accepted (bytes).
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Most keys kept from one JWKS document.
pub const MAX_JWKS_KEYS: usize = 64;
/// Smallest RSA modulus accepted (bits).
pub const MIN_RSA_BITS: usize = 2048;

/// Key material in JWKs is base64url; tolerate padding there (it is not signed data).
const LENIENT_B64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

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

/// The parsed key, by family.
#[derive(Clone)]
enum Material {
    /// RSA, parsed for PKCS#1 v1.5 (RS256) and PSS (PS256).
    Rsa {
        pkcs1: ParsedPublicKey,
        pss: ParsedPublicKey,
    },
    /// ECDSA P-256 (ES256, fixed-length `r || s` signatures as JWS uses).
    Es256(ParsedPublicKey),
    /// Ed25519 (EdDSA).
    Ed25519(ParsedPublicKey),
    /// HMAC-SHA256 shared secret (HS256, from configuration only).
    // Boxed: an HMAC key carries precomputed state (over 1 KiB).
    Hs256(Box<hmac::Key>),
}

impl Material {
    fn family(&self) -> &'static str {
        match self {
            Material::Rsa { .. } => "rsa",
            Material::Es256(_) => "ec-p256",
            Material::Ed25519(_) => "ed25519",
            Material::Hs256(_) => "hmac",
        }
    }
}

/// One verification key.
#[derive(Clone)]
pub struct VerifyKey {
    /// Key id.
    pub kid: Option<String>,
    /// The algorithm the key is pinned to (`alg` member), if any.
    pub alg: Option<Algorithm>,
    material: Material,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("family", &self.material.family())
            .finish()
    }
}

fn b64(value: &str) -> Option<Vec<u8>> {
    LENIENT_B64URL.decode(value).ok()
}

impl VerifyKey {
    /// An HS256 key from a shared secret (configuration only, never from a JWKS).
    pub fn hs256(kid: Option<String>, secret: &[u8]) -> Self {
        Self {
            kid,
            alg: Some(Algorithm::HS256),
            material: Material::Hs256(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret))),
        }
    }

    /// A key from a JWK; `None` for symmetric, non-signature, unsupported, weak or
    /// inconsistent keys.
    pub fn from_jwk(jwk: &Jwk) -> Option<Self> {
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            return None;
        }
        let alg = match jwk.common.key_algorithm {
            Some(alg) => Some(alg.to_string().parse::<Algorithm>().ok()?),
            None => None,
        };
        let material = match &jwk.algorithm {
            AlgorithmParameters::RSA(p) => {
                let n = b64(&p.n)?;
                let e = b64(&p.e)?;
                let significant = n.iter().skip_while(|b| **b == 0).count();
                if significant * 8 < MIN_RSA_BITS {
                    return None;
                }
                let components = RsaPublicKeyComponents { n: &n, e: &e };
                Material::Rsa {
                    pkcs1: components
                        .to_parsed_public_key(&sig::RSA_PKCS1_2048_8192_SHA256)
                        .ok()?,
                    pss: components
                        .to_parsed_public_key(&sig::RSA_PSS_2048_8192_SHA256)
                        .ok()?,
                }
            }
            // Only P-256: ES256 is the one EC algorithm we allow.
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                let (x, y) = (b64(&p.x)?, b64(&p.y)?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Material::Es256(ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, &point).ok()?)
            }
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                let x = b64(&p.x)?;
                Material::Ed25519(ParsedPublicKey::new(&sig::ED25519, &x).ok()?)
            }
            // Symmetric keys in a (public) JWKS would be public secrets: never used.
            _ => return None,
        };
        let key = Self {
            kid: jwk.common.key_id.clone(),
            alg,
            material,
        };
        match key.alg {
            Some(alg) if !key.accepts(alg) => None,
            _ => Some(key),
        }
    }

    /// Whether this key may verify a token signed with `alg`.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        let family_ok = matches!(
            (&self.material, alg),
            (Material::Rsa { .. }, Algorithm::RS256 | Algorithm::PS256)
                | (Material::Es256(_), Algorithm::ES256)
                | (Material::Ed25519(_), Algorithm::EdDSA)
                | (Material::Hs256(_), Algorithm::HS256)
        );
        family_ok && self.alg.is_none_or(|pinned| pinned == alg)
    }

    /// Verifies `signature` (base64url) over `message` with `alg`; false on any
    /// failure, including a family mismatch or a non-canonical signature encoding.
    pub fn verify(&self, message: &[u8], signature: &str, alg: Algorithm) -> bool {
        if !self.accepts(alg) {
            return false;
        }
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        match (&self.material, alg) {
            (Material::Rsa { pkcs1, .. }, Algorithm::RS256) => {
                pkcs1.verify_sig(message, &signature).is_ok()
            }
            (Material::Rsa { pss, .. }, Algorithm::PS256) => {
                pss.verify_sig(message, &signature).is_ok()
            }
            (Material::Es256(key) | Material::Ed25519(key), _) => {
                key.verify_sig(message, &signature).is_ok()
            }
            // Constant-time comparison inside aws-lc-rs.
            (Material::Hs256(key), _) => hmac::verify(key, message, &signature).is_ok(),
            _ => false,
        }
    }
}

/// The keys of one issuer.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<VerifyKey>,
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
            .filter_map(|jwk| VerifyKey::from_jwk(&jwk))
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

    /// The keys that may verify a token with this `kid` and `alg`, and whether
    /// they were chosen by the `kid`. A token's `kid` picks the keys that have
    /// it; when none has it, the keys without a `kid` stand in (a configured
    /// HS256 secret, a JWKS entry without `kid`: a `kid` the issuer puts in its
    /// tokens must not make them unverifiable). A token without `kid` may be
    /// signed by any key of the algorithm's family. The signature decides
    /// either way; the caller bounds how many keys a token not bound by its
    /// `kid` is tried against.
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
    ) -> (impl Iterator<Item = &'a VerifyKey> + Clone + 'a, bool) {
        let by_kid = kid.is_some_and(|kid| {
            self.keys
                .iter()
                .any(|key| key.accepts(alg) && key.kid.as_deref() == Some(kid))
        });
        let keys = self.keys.iter().filter(move |key| {
            key.accepts(alg)
                && match (kid, key.kid.as_deref()) {
                    (Some(kid), Some(key_kid)) => key_kid == kid,
                    (Some(_), None) => !by_kid,
                    (None, _) => true,
                }
        });
        (keys, by_kid)
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

    fn jwk(value: serde_json::Value) -> Jwk {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn weak_or_inconsistent_keys_are_refused_at_load() {
        let n1024 = URL_SAFE_NO_PAD.encode([0xC5u8; 128]);
        assert!(
            VerifyKey::from_jwk(&jwk(serde_json::json!({"kty":"RSA","n":n1024,"e":"AQAB"})))
                .is_none()
        );
        let short = URL_SAFE_NO_PAD.encode([1u8; 31]);
        let ok = URL_SAFE_NO_PAD.encode([1u8; 32]);
        let ec = serde_json::json!({"kty":"EC","crv":"P-256","x":short,"y":ok});
        assert!(VerifyKey::from_jwk(&jwk(ec)).is_none());
        // Not a point on the curve.
        let ec = serde_json::json!({"kty":"EC","crv":"P-256","x":ok,"y":ok});
        assert!(VerifyKey::from_jwk(&jwk(ec)).is_none());
        // An Ed25519 key pinned to ES256 is inconsistent.
        let ed = serde_json::json!({"kty":"OKP","crv":"Ed25519","alg":"ES256",
            "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert!(VerifyKey::from_jwk(&jwk(ed)).is_none());
    }

    #[test]
    fn hs256_keys_verify_only_hs256_and_only_canonical_signatures() {
        let key = VerifyKey::hs256(None, &[7u8; 32]);
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 32]), b"msg");
        let good = URL_SAFE_NO_PAD.encode(tag.as_ref());
        assert!(key.verify(b"msg", &good, Algorithm::HS256));
        assert!(!key.verify(b"msg2", &good, Algorithm::HS256));
        assert!(!key.verify(b"msg", &good, Algorithm::RS256));
        assert!(!key.verify(b"msg", &format!("{good}="), Algorithm::HS256));
        assert!(!key.verify(b"msg", &good[..good.len() - 1], Algorithm::HS256));
    }

    #[test]
    fn ed25519_key_is_kept_and_bound_to_its_family() {
        let doc = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"ed"}]}"#;
        let set = KeySet::from_jwks(doc).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.candidates(Some("ed"), Algorithm::EdDSA).0.count(), 1);
        assert_eq!(set.candidates(Some("ed"), Algorithm::HS256).0.count(), 0);
        assert_eq!(set.candidates(Some("other"), Algorithm::EdDSA).0.count(), 0);
        assert!(set.has_kid("ed"));
    }
}
