//! Raw JWT configuration (serde, `deny_unknown_fields`) and its validation into a
//! [`JwtVerifier`]. Secure defaults: `exp` required, 60 s leeway, audiences
//! required, HS256 only with a dedicated secret of at least 256 bits and never
//! mixed with public-key algorithms in one issuer.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::jwks::{JwksCache, JwksCachePolicy, JwksSource};
use super::keys::{KeySet, VerifyKey};
use super::{ClaimRules, DEFAULT_MAX_TOKEN_BYTES, Issuer, JwtVerifier, KeySource};
use crate::claims_map::{ClaimMapping, ConsumerNamespace};
use crate::clock::Clock;
use crate::config_error::{ConfigError, invalid};
use crate::secret::SecretRef;

/// Minimum HS256 secret length (bytes): 256 bits.
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// Algorithms an issuer may be configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
    /// HMAC-SHA256 (needs `hs256_secret`).
    HS256,
}

impl JwtAlgorithm {
    fn algorithm(self) -> Algorithm {
        match self {
            JwtAlgorithm::RS256 => Algorithm::RS256,
            JwtAlgorithm::PS256 => Algorithm::PS256,
            JwtAlgorithm::ES256 => Algorithm::ES256,
            JwtAlgorithm::EdDSA => Algorithm::EdDSA,
            JwtAlgorithm::HS256 => Algorithm::HS256,
        }
    }
}

/// One trusted issuer.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtIssuerConfig {
    /// Exact `iss` value.
    pub issuer: String,
    /// Accepted audiences (at least one).
    pub audiences: Vec<String>,
    /// Accepted algorithms.
    pub algorithms: Vec<JwtAlgorithm>,
    /// JWKS URL; the gateway fetches it through a [`JwksSource`].
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// A JWKS document on disk, read at configuration time.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// HS256 shared secret (only with `algorithms: [HS256]`).
    #[serde(default)]
    pub hs256_secret: Option<SecretRef>,
    /// Clock skew tolerated on exp/nbf/iat, seconds. Default 60.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Maximum age since `iat`, seconds.
    #[serde(default)]
    pub max_token_age_seconds: Option<u64>,
    /// Whether `exp` is required. Default true.
    #[serde(default = "yes")]
    pub require_exp: bool,
    /// Claims that must be present.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// Accepted `typ` header values, e.g. `[at+jwt]` (RFC 9068) so ID tokens are
    /// not accepted as access tokens. Empty (default): any.
    #[serde(default)]
    pub token_types: Vec<String>,
    /// JWKS refresh interval, seconds. Default 300.
    #[serde(default = "default_refresh")]
    pub jwks_refresh_seconds: u64,
    /// Minimum interval between JWKS fetches, seconds. Default 30.
    #[serde(default = "default_min_refetch")]
    pub jwks_min_refetch_seconds: u64,
    /// Longest the last good JWKS keys are used after their fetch while every
    /// later fetch fails, seconds; then the issuer's tokens are refused until a
    /// fetch succeeds. At least `jwks_refresh_seconds`. Default 86400 (a day),
    /// or `jwks_refresh_seconds` when that is longer.
    #[serde(default)]
    pub jwks_max_key_age_seconds: Option<u64>,
    /// Verify a token without `kid` (or with a `kid` no key has) against
    /// every key of its algorithm when several could have signed it: up to
    /// 64 signature checks for one token, which any client can send. Default
    /// false: such a token is refused unless exactly one key could have
    /// signed it (an HS256 secret, a JWKS with one key of the family).
    #[serde(default)]
    pub allow_missing_kid: bool,
    /// How claims map to the identity.
    #[serde(default)]
    pub claims: ClaimMapping,
    /// Put in front of the consumer this issuer's tokens name (`partner:` makes
    /// `sub: alice` the consumer `partner:alice`): a `sub` is unique only within
    /// its issuer, so with several identity providers, give each a distinct
    /// prefix (or leave at most one without). A token whose consumer falls in
    /// another token source's namespace (`sub: partner:alice` from an issuer
    /// without prefix) is refused. Adding one to an existing issuer renames
    /// its consumers (Cedar rules, `allowed_consumers`, rate-limit buckets).
    /// At most 64 bytes, no control characters, no `/` or `\`. Default: none.
    #[serde(default)]
    pub consumer_prefix: Option<String>,
}

fn default_leeway() -> u64 {
    60
}
fn yes() -> bool {
    true
}
fn default_refresh() -> u64 {
    300
}
fn default_min_refetch() -> u64 {
    30
}

fn default_max_token_bytes() -> usize {
    DEFAULT_MAX_TOKEN_BYTES
}

/// JWT configuration of an API.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Trusted issuers.
    pub issuers: Vec<JwtIssuerConfig>,
    /// Longest token accepted, bytes. Default 8192.
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
    /// Verified tokens cached (0 disables). Default 10000.
    #[serde(default = "default_cache_entries")]
    pub verified_cache_entries: usize,
    /// Longest a verified token is cached, seconds (never past its `exp`). Default 60.
    #[serde(default = "default_cache_seconds")]
    pub verified_cache_seconds: u64,
}

fn default_cache_entries() -> usize {
    10_000
}
fn default_cache_seconds() -> u64 {
    60
}

/// Gives the gateway's [`JwksSource`] for a URL, and the cache over it.
pub trait JwksSourceFactory {
    /// The source fetching `url`.
    fn source(&self, url: &str) -> Arc<dyn JwksSource>;

    /// The key cache of `url` under `policy`. By default a new, empty one; a
    /// gateway that reloads its configuration returns the cache its running
    /// configuration already has for the same URL and policy, so that a reload
    /// keeps the loaded keys (with the identity provider down, a new empty
    /// cache would refuse every token until it is back).
    fn cache(&self, url: &str, policy: JwksCachePolicy, clock: &Arc<dyn Clock>) -> Arc<JwksCache> {
        Arc::new(JwksCache::new(self.source(url), Arc::clone(clock), policy))
    }
}

impl JwtIssuerConfig {
    fn build(
        &self,
        path: &str,
        clock: &Arc<dyn Clock>,
        sources: &dyn JwksSourceFactory,
    ) -> Result<Issuer, ConfigError> {
        if self.issuer.is_empty() {
            return Err(invalid(format!("{path}.issuer"), "must not be empty"));
        }
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(invalid(
                format!("{path}.audiences"),
                "at least one non-empty audience is required",
            ));
        }
        if self.algorithms.is_empty() {
            return Err(invalid(
                format!("{path}.algorithms"),
                "at least one algorithm is required",
            ));
        }
        let hs = self.algorithms.contains(&JwtAlgorithm::HS256);
        if hs && self.algorithms.len() > 1 {
            return Err(invalid(
                format!("{path}.algorithms"),
                "HS256 cannot be combined with public-key algorithms (algorithm confusion)",
            ));
        }
        let sources_given = [
            self.jwks_url.is_some(),
            self.jwks_file.is_some(),
            self.hs256_secret.is_some(),
        ]
        .iter()
        .filter(|given| **given)
        .count();
        if sources_given != 1 {
            return Err(invalid(
                path,
                "exactly one of jwks_url, jwks_file, hs256_secret is required",
            ));
        }
        if hs != self.hs256_secret.is_some() {
            return Err(invalid(
                format!("{path}.hs256_secret"),
                "hs256_secret goes with algorithms: [HS256] and only with it",
            ));
        }
        for (field, seconds) in [
            ("jwks_refresh_seconds", self.jwks_refresh_seconds),
            ("jwks_min_refetch_seconds", self.jwks_min_refetch_seconds),
        ] {
            if seconds == 0 {
                return Err(invalid(format!("{path}.{field}"), "must be positive"));
            }
        }
        if self
            .jwks_max_key_age_seconds
            .is_some_and(|age| age < self.jwks_refresh_seconds)
        {
            return Err(invalid(
                format!("{path}.jwks_max_key_age_seconds"),
                "must be at least jwks_refresh_seconds (keys would expire before their refresh)",
            ));
        }
        let keys = if let Some(secret) = &self.hs256_secret {
            let secret = secret.load().map_err(|source| ConfigError::Secret {
                path: format!("{path}.hs256_secret"),
                source,
            })?;
            if secret.expose().len() < MIN_HS256_SECRET_BYTES {
                return Err(invalid(
                    format!("{path}.hs256_secret"),
                    "HS256 secret must be at least 256 bits (32 bytes)",
                ));
            }
            let key = VerifyKey::hs256(None, secret.expose());
            KeySource::Static(Arc::new(KeySet::new(vec![key])))
        } else if let Some(file) = &self.jwks_file {
            let document = std::fs::read(file).map_err(|source| ConfigError::File {
                path: format!("{path}.jwks_file"),
                file: file.display().to_string(),
                source,
            })?;
            let keys = KeySet::from_jwks(&document).map_err(|source| ConfigError::Jwks {
                path: format!("{path}.jwks_file"),
                source,
            })?;
            KeySource::Static(Arc::new(keys))
        } else if let Some(url) = &self.jwks_url {
            if let Err(reason) = crate::endpoint::parse_endpoint(url) {
                return Err(invalid(
                    format!("{path}.jwks_url"),
                    format!("must be https (or loopback http): {reason}"),
                ));
            }
            let policy = JwksCachePolicy {
                refresh_interval: Duration::from_secs(self.jwks_refresh_seconds),
                min_refetch_interval: Duration::from_secs(self.jwks_min_refetch_seconds),
                max_key_age: Duration::from_secs(self.jwks_max_key_age_seconds.unwrap_or(
                    super::jwks::DEFAULT_MAX_KEY_AGE_SECS.max(self.jwks_refresh_seconds),
                )),
            };
            KeySource::Remote(sources.cache(url, policy, clock))
        } else {
            return Err(invalid(path, "no key source"));
        };
        self.claims.validate(&format!("{path}.claims"))?;
        crate::claims_map::validate_consumer_prefix(
            &format!("{path}.consumer_prefix"),
            self.consumer_prefix.as_deref(),
        )?;
        Ok(Issuer {
            issuer: self.issuer.clone(),
            algorithms: self.algorithms.iter().map(|a| a.algorithm()).collect(),
            types: self.token_types.clone(),
            keys,
            rules: ClaimRules {
                audiences: self.audiences.clone(),
                leeway: self.leeway_seconds,
                max_age: self.max_token_age_seconds,
                require_exp: self.require_exp,
                required: self.required_claims.clone(),
            },
            mapping: self.claims.clone(),
            namespace: ConsumerNamespace::new(self.consumer_prefix.clone()),
            allow_missing_kid: self.allow_missing_kid,
        })
    }
}

impl JwtConfig {
    /// Validates the configuration into a verifier. `path` is this section's field
    /// path for error messages (e.g. `apis.pets.authn.jwt`).
    pub fn build(
        &self,
        path: &str,
        clock: Arc<dyn Clock>,
        sources: &dyn JwksSourceFactory,
    ) -> Result<JwtVerifier, ConfigError> {
        if self.issuers.is_empty() {
            return Err(invalid(
                format!("{path}.issuers"),
                "at least one issuer is required",
            ));
        }
        if !(256..=64 * 1024).contains(&self.max_token_bytes) {
            return Err(invalid(
                format!("{path}.max_token_bytes"),
                "must be between 256 and 65536",
            ));
        }
        let mut issuers = Vec::with_capacity(self.issuers.len());
        for (i, issuer) in self.issuers.iter().enumerate() {
            let issuer_path = format!("{path}.issuers[{i}]");
            if issuers
                .iter()
                .any(|built: &Issuer| built.issuer == issuer.issuer)
            {
                return Err(invalid(format!("{issuer_path}.issuer"), "duplicate issuer"));
            }
            issuers.push(issuer.build(&issuer_path, &clock, sources)?);
        }
        if self.verified_cache_entries > 1_000_000 {
            return Err(invalid(
                format!("{path}.verified_cache_entries"),
                "at most 1000000",
            ));
        }
        if self.verified_cache_seconds > 300 {
            return Err(invalid(
                format!("{path}.verified_cache_seconds"),
                "at most 300",
            ));
        }
        Ok(JwtVerifier::new(issuers, self.max_token_bytes, clock)
            .with_verified_cache(self.verified_cache_entries, self.verified_cache_seconds))
    }
}
