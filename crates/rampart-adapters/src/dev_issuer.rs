//! [`DevIssuer`]: a throw-away token issuer for `rampart demo` and end-to-end
//! tests, so they need no identity provider. It generates an Ed25519 key at
//! start (never stored), publishes it as a JWKS document (a file the JWT
//! configuration's `jwks_file` names, or served by a test), and signs tokens.
//! Not for production: whoever runs it can mint any identity.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::AdapterError;

/// An Ed25519 signing key with its JWK.
pub struct DevIssuer {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// A fresh key named `kid`.
    pub fn generate(kid: &str) -> Result<Self, AdapterError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
            .map_err(|_| AdapterError::invalid("dev_issuer", "key generation failed"))?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|_| AdapterError::invalid("dev_issuer", "key generation failed"))?;
        let jwk = json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "use": "sig",
            "alg": "EdDSA",
            "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        });
        Ok(Self {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk,
        })
    }

    /// The key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// A JWKS document holding the public keys of `issuers`.
    pub fn jwks(issuers: &[&DevIssuer]) -> String {
        json!({"keys": issuers.iter().map(|i| i.jwk.clone()).collect::<Vec<_>>()}).to_string()
    }

    /// Signs `claims` (EdDSA, `typ: JWT`, this key's `kid`).
    pub fn sign(&self, claims: &Value) -> Result<String, AdapterError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|_| AdapterError::invalid("dev_issuer", "signing failed"))
    }
}

/// `bytes` random bytes (system CSPRNG) as lower-case hex: peppers and admin
/// tokens for demos and tests.
pub fn random_hex(bytes: usize) -> Result<String, AdapterError> {
    let mut buf = vec![0u8; bytes.min(1024)];
    aws_lc_rs::rand::fill(&mut buf)
        .map_err(|_| AdapterError::invalid("dev_issuer", "no randomness"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_against_the_published_jwks() {
        rampart_authn::install_crypto_provider();
        let issuer = DevIssuer::generate("k1").unwrap();
        let jwks = DevIssuer::jwks(&[&issuer]);
        let keys = rampart_authn::jwt::KeySet::from_jwks(jwks.as_bytes()).unwrap();
        assert!(!format!("{keys:?}").is_empty());
        let token = issuer.sign(&json!({"sub": "alice"})).unwrap();
        assert_eq!(token.split('.').count(), 3);
        assert!(!format!("{issuer:?}").contains(&token));
        // Another key's token does not carry this kid.
        let other = DevIssuer::generate("k2").unwrap();
        assert_ne!(other.jwk()["x"], issuer.jwk()["x"]);
        let a = random_hex(32).unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_hex(32).unwrap());
    }
}
