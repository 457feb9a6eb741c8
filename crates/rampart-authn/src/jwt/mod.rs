//! JWT verification per issuer.
//!
//! Order of checks, cheapest and most dangerous first: size bound, structure and
//! header ([`token`]: `alg: none`, key-injecting headers), issuer selection by the
//! unverified `iss`, algorithm allowlist of that issuer, key lookup by `kid` (with a
//! rate-limited JWKS refetch on an unknown `kid`, [`jwks`]), signature with a key of
//! the algorithm's own family ([`keys`]), then the claims ([`claims`]).
//!
//! A token verified once is remembered by [`verified_cache`] (keyed by its hash,
//! bound to its `exp` and to the key set that verified it), so a client reusing its
//! token costs a hash and a lookup rather than a signature check.
//!
//! [`config`] holds the raw configuration and its validation into a [`JwtVerifier`].

pub mod claims;
pub mod config;
pub mod error;
pub mod jwks;
pub mod keys;
pub mod token;
pub mod verified_cache;

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use rampart_core::Identity;
use serde_json::{Map, Value};

use crate::claims_map::{ClaimMapping, ConsumerNamespace, NoIdentity};
use crate::clock::Clock;
pub use claims::ClaimRules;
pub use config::{JwtAlgorithm, JwtConfig, JwtIssuerConfig};
pub use error::JwtError;
pub use jwks::{JwksCache, JwksCachePolicy, JwksFetchError, JwksSource, RefreshOutcome};
pub use keys::{JwksError, KeySet, VerifyKey};

/// Default bound on a token's length, checked before any decoding.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Fixed keys (a JWKS file, or an HS256 secret).
    Static(Arc<KeySet>),
    /// A remote JWKS behind a cache.
    Remote(Arc<JwksCache>),
}

/// One trusted issuer.
#[derive(Debug, Clone)]
pub struct Issuer {
    /// Exact `iss` value.
    pub issuer: String,
    /// Algorithms accepted from this issuer.
    pub algorithms: Vec<Algorithm>,
    /// Accepted `typ` header values (compared case-insensitively, with or without
    /// the `application/` prefix); empty accepts any or none.
    pub types: Vec<String>,
    /// Its keys.
    pub keys: KeySource,
    /// Claim checks.
    pub rules: ClaimRules,
    /// How claims become an identity.
    pub mapping: ClaimMapping,
    /// Its users' namespace: its `consumer_prefix`, and the other token
    /// sources' namespaces nested in it, whose consumers it refuses
    /// ([`JwtError::ConsumerOutsideNamespace`]; set by
    /// [`crate::AuthnConfig::build`], usually none).
    pub namespace: ConsumerNamespace,
    /// Whether a token not bound to a key by its `kid` (none, or one no key
    /// has) is tried against every key that could have signed it; when false
    /// it verifies only when a single key could have.
    pub allow_missing_kid: bool,
}

/// A token whose signature and claims were verified.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// Index of the issuer in the verifier.
    pub issuer_index: usize,
    /// The algorithm it was signed with.
    pub alg: Algorithm,
    /// The verified claims.
    pub claims: Map<String, Value>,
}

impl VerifiedToken {
    /// The `jti` claim, if it is a string.
    pub fn jti(&self) -> Option<&str> {
        self.claims.get("jti").and_then(Value::as_str)
    }

    /// The `exp` claim as Unix seconds, if numeric.
    pub fn exp(&self) -> Option<u64> {
        self.claims.get("exp").and_then(Value::as_u64)
    }
}

/// Verifies JWTs from a set of trusted issuers.
#[derive(Debug, Clone)]
pub struct JwtVerifier {
    issuers: Vec<Issuer>,
    max_token_bytes: usize,
    clock: Arc<dyn Clock>,
    cache: Option<Arc<verified_cache::VerifiedCache>>,
    /// Per issuer: tokens refused for want of a `kid`, warned of at most
    /// once a minute.
    kid_warned: Arc<[rampart_core::throttle::LogThrottle]>,
}

impl JwtVerifier {
    /// A verifier over these issuers. Installs jsonwebtoken's aws-lc-rs provider.
    pub fn new(issuers: Vec<Issuer>, max_token_bytes: usize, clock: Arc<dyn Clock>) -> Self {
        crate::install_crypto_provider();
        let kid_warned = issuers.iter().map(|_| Default::default()).collect();
        Self {
            issuers,
            max_token_bytes,
            clock,
            cache: None,
            kid_warned,
        }
    }

    /// Caches verified tokens (at most `entries`, each at most `ttl_secs` and never
    /// past `exp`); see [`verified_cache`].
    pub fn with_verified_cache(mut self, entries: usize, ttl_secs: u64) -> Self {
        self.cache = (entries > 0 && ttl_secs > 0)
            .then(|| Arc::new(verified_cache::VerifiedCache::new(entries, ttl_secs)));
        self
    }

    /// The verified-token cache, if enabled.
    pub fn verified_cache(&self) -> Option<&verified_cache::VerifiedCache> {
        self.cache.as_deref()
    }

    /// The issuer's current keys for `kid` (refreshing a remote set if due).
    async fn keys(&self, issuer: &Issuer, kid: Option<&str>) -> Result<Arc<KeySet>, JwtError> {
        match &issuer.keys {
            KeySource::Static(keys) => Ok(Arc::clone(keys)),
            KeySource::Remote(cache) => cache.keys_for(kid).await.ok_or(JwtError::KeysUnavailable),
        }
    }

    /// Verifies `token`; every refusal is a [`JwtError`].
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, JwtError> {
        if token.len() > self.max_token_bytes {
            return Err(JwtError::Oversized);
        }
        let Some(cache) = &self.cache else {
            return self
                .verify_uncached(token)
                .await
                .map(|(verified, _, _)| verified);
        };
        let digest = verified_cache::token_digest(token);
        let now = self.clock.unix_secs();
        if let Some(hit) = cache.get(&digest, now)
            && let Some(issuer) = self.issuers.get(hit.token.issuer_index)
            && let Ok(current) = self.keys(issuer, hit.kid.as_deref()).await
            && Arc::ptr_eq(&current, &hit.keys)
        {
            issuer.rules.check(&hit.token.claims, now)?;
            return Ok(VerifiedToken::clone(&hit.token));
        }
        let (verified, kid, keys) = self.verify_uncached(token).await?;
        cache.insert(digest, verified.clone(), kid, keys, now);
        Ok(verified)
    }

    /// The configured issuers.
    pub fn issuers(&self) -> &[Issuer] {
        &self.issuers
    }

    /// Sets the other token sources' namespaces nested in that of the
    /// issuer at `index` ([`ConsumerNamespace::foreign`]).
    pub(crate) fn set_foreign_prefixes(&mut self, index: usize, prefixes: Vec<String>) {
        if let Some(issuer) = self.issuers.get_mut(index) {
            issuer.namespace.foreign = prefixes;
        }
    }

    /// The full verification; also returns the `kid` and the key set used.
    async fn verify_uncached(
        &self,
        token: &str,
    ) -> Result<(VerifiedToken, Option<String>, Arc<KeySet>), JwtError> {
        let parsed = token::parse(token, self.max_token_bytes)?;
        let iss = match parsed.claims.get("iss") {
            Some(Value::String(iss)) => iss,
            Some(_) => return Err(JwtError::InvalidClaim("iss")),
            None => return Err(JwtError::MissingClaim("iss".into())),
        };
        let (issuer_index, issuer) = self
            .issuers
            .iter()
            .enumerate()
            .find(|(_, issuer)| issuer.issuer == *iss)
            .ok_or(JwtError::UnknownIssuer)?;
        if !issuer.algorithms.contains(&parsed.alg) {
            return Err(JwtError::AlgNotAllowed);
        }
        if !issuer.types.is_empty() {
            // Compared without the optional `application/` prefix (RFC 7515
            // §4.1.9), on both sides: `at+jwt` and `application/at+jwt` are one type.
            let typ = without_application(parsed.typ.as_deref().unwrap_or_default());
            if !issuer
                .types
                .iter()
                .any(|t| without_application(t).eq_ignore_ascii_case(typ))
            {
                return Err(JwtError::WrongType);
            }
        }
        let keys = self.keys(issuer, parsed.kid.as_deref()).await?;
        {
            let (candidates, by_kid) = keys.candidates(parsed.kid.as_deref(), parsed.alg);
            let mut candidates = candidates.peekable();
            if candidates.peek().is_none() {
                return Err(JwtError::UnknownKid);
            }
            // A token any client can send must not cost a signature check
            // per key of the issuer (up to 64 RSA verifications): without a
            // `kid` picking its key, it is checked only when one key could
            // have signed it, unless the issuer is configured otherwise.
            if !by_kid && !issuer.allow_missing_kid && candidates.clone().nth(1).is_some() {
                self.warn_kid_required(issuer_index, issuer);
                return Err(JwtError::KidRequired);
            }
            let message = parsed.signing_input.as_bytes();
            if !candidates.any(|key| key.verify(message, parsed.signature, parsed.alg)) {
                return Err(JwtError::BadSignature);
            }
        }
        issuer.rules.check(&parsed.claims, self.clock.unix_secs())?;
        let verified = VerifiedToken {
            issuer_index,
            alg: parsed.alg,
            claims: parsed.claims,
        };
        Ok((verified, parsed.kid, keys))
    }

    /// Tokens of `issuer` lack a `kid` while it has several keys: likely a key
    /// rotation at a provider that omits `kid`, refusing every token. Says so
    /// at most once a minute per issuer.
    fn warn_kid_required(&self, index: usize, issuer: &Issuer) {
        let due = self
            .kid_warned
            .get(index)
            .and_then(|throttle| throttle.note(self.clock.unix_secs()));
        if due.is_some() {
            tracing::warn!(
                target: "rampart::authn",
                issuer = %issuer.issuer,
                "JWT refused: no `kid` picks its key and the issuer has several keys that could have signed it; if the issuer omits `kid` (a key rotation publishes a second key), set `allow_missing_kid: true` for it"
            );
        }
    }

    /// The identity a verified token carries (`credential_id` = its `jti`;
    /// the consumer in its issuer's namespace, `consumer_prefix`). Built
    /// anew for each request, from the verified-token cache too, so each
    /// is checked against the namespaces of the other token sources
    /// ([`Issuer::namespace`]).
    pub fn identity(&self, token: VerifiedToken) -> Result<Identity, JwtError> {
        let issuer = self
            .issuers
            .get(token.issuer_index)
            .ok_or(JwtError::UnknownIssuer)?;
        let jti = token.jti().map(str::to_owned);
        issuer
            .mapping
            .identity("jwt", jti, token.claims, &issuer.namespace)
            .map_err(|refused| match refused {
                NoIdentity::NoConsumer => JwtError::MissingClaim("sub".into()),
                NoIdentity::OutsideNamespace => JwtError::ConsumerOutsideNamespace,
            })
    }
}
/// A media type without its `application/` prefix (any case).
fn without_application(typ: &str) -> &str {
    typ.get(..12)
        .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| typ.get(12..).unwrap_or_default())
}
