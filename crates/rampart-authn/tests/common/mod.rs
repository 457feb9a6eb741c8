//! Test keys, token minting and fakes shared by the integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use rampart_authn::BoxFuture;
use rampart_authn::jwt::{JwksFetchError, JwksSource};
use serde_json::{Value, json};

pub const NOW: u64 = 1_800_000_000;
pub const ISS: &str = "https://idp.example";
pub const AUD: &str = "pets-api";

pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    pub enc: EncodingKey,
    pub jwk: Value,
}

fn with_kid(enc: &EncodingKey, alg: Algorithm, kid: &str) -> Value {
    rampart_authn::install_crypto_provider();
    let mut jwk = serde_json::to_value(Jwk::from_encoding_key(enc, alg).unwrap()).unwrap();
    jwk["kid"] = json!(kid);
    jwk
}

impl TestKey {
    pub fn es256(kid: &str) -> Self {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let enc = EncodingKey::from_ec_der(doc.as_ref());
        let jwk = with_kid(&enc, Algorithm::ES256, kid);
        Self {
            kid: kid.into(),
            alg: Algorithm::ES256,
            enc,
            jwk,
        }
    }

    pub fn ed25519(kid: &str) -> Self {
        let doc = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
        let enc = EncodingKey::from_ed_der(doc.as_ref());
        let jwk = with_kid(&enc, Algorithm::EdDSA, kid);
        Self {
            kid: kid.into(),
            alg: Algorithm::EdDSA,
            enc,
            jwk,
        }
    }

    pub fn rsa(kid: &str, alg: Algorithm, pem: &[u8]) -> Self {
        let enc = EncodingKey::from_rsa_pem(pem).unwrap();
        let mut jwk = with_kid(&enc, Algorithm::RS256, kid);
        // Leave the JWK unpinned so the same RSA key serves RS256 and PS256.
        jwk.as_object_mut().unwrap().remove("alg");
        Self {
            kid: kid.into(),
            alg,
            enc,
            jwk,
        }
    }

    pub fn rsa_a(kid: &str) -> Self {
        Self::rsa(kid, Algorithm::RS256, include_bytes!("../data/rsa_a.pem"))
    }

    /// Signs `claims` under a header built from `header` (alg and kid filled in).
    pub fn sign_with_header(&self, mut header: Value, claims: &Value) -> String {
        let h = header.as_object_mut().unwrap();
        h.entry("alg").or_insert(json!(alg_name(self.alg)));
        h.entry("kid").or_insert(json!(self.kid));
        sign_raw(&header, claims, &self.enc, self.alg)
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(json!({"typ": "JWT"}), claims)
    }
}

pub fn alg_name(alg: Algorithm) -> String {
    serde_json::to_value(alg)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

pub fn sign_raw(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    rampart_authn::install_crypto_provider();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    );
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
    format!("{input}.{sig}")
}

pub fn unsigned(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    )
}

pub fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "alice", "exp": NOW + 300, "iat": NOW - 10,
           "jti": "tok-1", "scope": "pets:read pets:write", "roles": ["user"]})
}

pub fn jwks(keys: &[&TestKey]) -> Vec<u8> {
    serde_json::to_vec(&json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}))
        .unwrap()
}

/// A JWKS endpoint whose document and health the test controls.
#[derive(Default)]
pub struct FakeJwks {
    pub document: Mutex<Vec<u8>>,
    pub failing: Mutex<bool>,
    pub fetches: AtomicUsize,
    /// When set, every fetch answers only once it gets a permit.
    pub gate: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
}

impl FakeJwks {
    pub fn new(document: Vec<u8>) -> Arc<Self> {
        Arc::new(Self {
            document: Mutex::new(document),
            ..Self::default()
        })
    }
    pub fn set(&self, document: Vec<u8>) {
        *self.document.lock().unwrap() = document;
    }
    pub fn fail(&self, failing: bool) {
        *self.failing.lock().unwrap() = failing;
    }
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
    /// Holds every later fetch until the returned gate gets a permit per fetch.
    pub fn gate(&self) -> Arc<tokio::sync::Semaphore> {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        *self.gate.lock().unwrap() = Some(gate.clone());
        gate
    }
}

impl JwksSource for FakeJwks {
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<u8>, JwksFetchError>> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let result = if *self.failing.lock().unwrap() {
            Err(JwksFetchError("connection refused".into()))
        } else {
            Ok(self.document.lock().unwrap().clone())
        };
        let gate = self.gate.lock().unwrap().clone();
        Box::pin(async move {
            if let Some(gate) = gate {
                gate.acquire_owned().await.unwrap().forget();
            }
            result
        })
    }
}

pub struct Sources(pub Arc<FakeJwks>);

impl rampart_authn::jwt::config::JwksSourceFactory for Sources {
    fn source(&self, _url: &str) -> Arc<dyn JwksSource> {
        self.0.clone()
    }
}

pub fn temp_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
    // Unique per call: tests run in parallel and must not see each other's writes.
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let path =
        std::env::temp_dir().join(format!("rampart-authn-{}-{n}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

/// A log writer that keeps what it is given, for tests of what reaches the log.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
