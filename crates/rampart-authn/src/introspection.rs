//! Opaque access tokens through OAuth 2.0 Token Introspection (RFC 7662).
//!
//! The gateway implements [`Introspector`] (a client-authenticated POST to the
//! endpoint); this engine interprets the answer and caches it. The cache is keyed
//! by SHA-256 of the token (the token itself is never kept), bounded in entries,
//! holds an active answer no longer than the token's `exp` (and a configured
//! maximum), and holds an inactive answer only briefly (negative cache), so a
//! revoked token is re-asked soon and a replayed bad token costs one call per TTL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::digest;
use rampart_core::{Identity, Problem};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::BoxFuture;
use crate::claims_map::{ClaimMapping, ConsumerNamespace, NoIdentity};
use crate::clock::Clock;
use crate::config_error::{ConfigError, invalid};
use crate::secret::{Secret, SecretRef};

/// Longest opaque token accepted.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Largest introspection response accepted.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Why the introspection call failed (the gateway's adapter says why).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("introspection call failed: {0}")]
pub struct IntrospectionFetchError(pub String);

/// Calls the introspection endpoint (implemented by the gateway).
pub trait Introspector: Send + Sync {
    /// The endpoint's 200 response body for `token`.
    fn introspect<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, IntrospectionFetchError>>;
}

/// Why an opaque token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntrospectionError {
    /// Too long or not a plausible token.
    #[error("malformed token")]
    Malformed,
    /// The server says `active: false`.
    #[error("token inactive")]
    Inactive,
    /// Active but `exp` is past.
    #[error("token expired")]
    Expired,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` names none of the configured audiences.
    #[error("wrong audience")]
    WrongAudience,
    /// The response is not a JSON object with a boolean `active`, or is too large.
    #[error("invalid introspection response")]
    InvalidResponse,
    /// Active but no consumer claim.
    #[error("no consumer claim")]
    NoConsumer,
    /// Active, but the consumer it names (with `consumer_prefix`) starts
    /// with the `consumer_prefix` of another token source of the API: it
    /// would be a user of that identity provider.
    #[error("consumer in another identity provider's namespace")]
    ConsumerOutsideNamespace,
    /// The endpoint could not be reached (fail closed).
    #[error("introspection unavailable")]
    Unavailable,
}

impl IntrospectionError {
    /// A stable reason code for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            IntrospectionError::Malformed => "introspection-malformed",
            IntrospectionError::Inactive => "introspection-inactive",
            IntrospectionError::Expired => "introspection-expired",
            IntrospectionError::WrongIssuer => "introspection-wrong-issuer",
            IntrospectionError::WrongAudience => "introspection-wrong-audience",
            IntrospectionError::InvalidResponse => "introspection-invalid-response",
            IntrospectionError::NoConsumer => "introspection-no-consumer",
            IntrospectionError::ConsumerOutsideNamespace => {
                "introspection-consumer-outside-namespace"
            }
            IntrospectionError::Unavailable => "introspection-unavailable",
        }
    }

    /// 401 `invalid_token`, or 503 when the endpoint is unavailable.
    pub fn to_problem(&self) -> Problem {
        match self {
            IntrospectionError::Unavailable | IntrospectionError::InvalidResponse => {
                crate::problem::unavailable()
            }
            IntrospectionError::Malformed
            | IntrospectionError::Inactive
            | IntrospectionError::Expired
            | IntrospectionError::WrongIssuer
            | IntrospectionError::WrongAudience
            | IntrospectionError::NoConsumer
            | IntrospectionError::ConsumerOutsideNamespace => crate::problem::invalid_token(),
        }
    }
}

fn default_max_entries() -> usize {
    10_000
}
fn default_max_ttl() -> u64 {
    300
}
fn default_negative_ttl() -> u64 {
    5
}

/// Introspection configuration.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// The endpoint URL (https).
    pub endpoint: String,
    /// Client id the gateway authenticates with.
    pub client_id: String,
    /// Client secret.
    pub client_secret: SecretRef,
    /// Expected `iss` in responses: when set, an answer without it, or with
    /// another, is refused.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Accepted audiences: `aud` must name one. Required (at least one), as
    /// for JWT issuers, unless `any_audience: true`: without it a token the
    /// identity provider minted for any other API of the realm would be accepted.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Accept active tokens whatever their audience (no `audiences`): only
    /// for an identity provider that serves this API alone. Default false.
    #[serde(default)]
    pub any_audience: bool,
    /// Cache capacity. Default 10000.
    #[serde(default = "default_max_entries")]
    pub cache_max_entries: usize,
    /// Longest an active answer is cached, seconds (at most 3600; 0 caches
    /// nothing). Default 300.
    #[serde(default = "default_max_ttl")]
    pub cache_max_ttl_seconds: u64,
    /// How long an inactive answer is cached, seconds. Default 5.
    #[serde(default = "default_negative_ttl")]
    pub negative_cache_seconds: u64,
    /// How claims map to the identity.
    #[serde(default)]
    pub claims: ClaimMapping,
    /// Put in front of the consumer the answers name (`partner:` makes
    /// `sub: alice` the consumer `partner:alice`), as for a JWT issuer: with
    /// JWT issuers of other identity providers beside it, keeps this one's
    /// users apart from theirs (with one of theirs, `issuer` equal, use the
    /// same prefix). Adding one renames the consumers. At most 64 bytes, no
    /// control characters, no `/` or `\`. Default: none.
    #[serde(default)]
    pub consumer_prefix: Option<String>,
}

/// What the gateway needs to build its [`Introspector`].
#[derive(Debug, Clone)]
pub struct IntrospectionClientSettings {
    /// Endpoint URL.
    pub endpoint: String,
    /// Client id.
    pub client_id: String,
    /// Client secret (redacted in `Debug`).
    pub client_secret: Secret,
}

impl IntrospectionConfig {
    /// Validates the endpoint and loads the client secret.
    pub fn client_settings(&self, path: &str) -> Result<IntrospectionClientSettings, ConfigError> {
        if let Err(reason) = crate::endpoint::parse_endpoint(&self.endpoint) {
            return Err(invalid(
                format!("{path}.endpoint"),
                format!("must be https (or loopback http): {reason}"),
            ));
        }
        if self.client_id.is_empty() {
            return Err(invalid(format!("{path}.client_id"), "must not be empty"));
        }
        let client_secret = self
            .client_secret
            .load()
            .map_err(|source| ConfigError::Secret {
                path: format!("{path}.client_secret"),
                source,
            })?;
        Ok(IntrospectionClientSettings {
            endpoint: self.endpoint.clone(),
            client_id: self.client_id.clone(),
            client_secret,
        })
    }

    /// Builds the engine over the gateway's introspector.
    pub fn build(
        &self,
        path: &str,
        introspector: Arc<dyn Introspector>,
        clock: Arc<dyn Clock>,
    ) -> Result<Introspection, ConfigError> {
        if self.cache_max_entries == 0 || self.cache_max_entries > 10_000_000 {
            return Err(invalid(
                format!("{path}.cache_max_entries"),
                "must be between 1 and 10000000",
            ));
        }
        // The longest a token revoked at the identity provider is still let
        // through by this cache.
        if self.cache_max_ttl_seconds > 3600 {
            return Err(invalid(
                format!("{path}.cache_max_ttl_seconds"),
                "at most 3600 (a token revoked at the identity provider stays accepted from the cache this long)",
            ));
        }
        if self.negative_cache_seconds > 60 {
            return Err(invalid(
                format!("{path}.negative_cache_seconds"),
                "at most 60",
            ));
        }
        if self.any_audience && !self.audiences.is_empty() {
            return Err(invalid(
                format!("{path}.any_audience"),
                "any_audience: true and audiences exclude each other",
            ));
        }
        if !self.any_audience
            && (self.audiences.is_empty() || self.audiences.iter().any(String::is_empty))
        {
            return Err(invalid(
                format!("{path}.audiences"),
                "at least one non-empty audience is required (or any_audience: true, to accept tokens minted for any audience)",
            ));
        }
        if self.issuer.as_ref().is_some_and(String::is_empty) {
            return Err(invalid(format!("{path}.issuer"), "must not be empty"));
        }
        self.claims.validate(&format!("{path}.claims"))?;
        crate::claims_map::validate_consumer_prefix(
            &format!("{path}.consumer_prefix"),
            self.consumer_prefix.as_deref(),
        )?;
        Ok(Introspection {
            introspector,
            clock,
            issuer: self.issuer.clone(),
            audiences: self.audiences.clone(),
            max_entries: self.cache_max_entries,
            max_ttl: self.cache_max_ttl_seconds,
            negative_ttl: self.negative_cache_seconds,
            mapping: self.claims.clone(),
            namespace: ConsumerNamespace::new(self.consumer_prefix.clone()),
            cache: RwLock::new(Cache::default()),
            last_sweep_active: AtomicU64::new(0),
            last_sweep_refused: AtomicU64::new(0),
        })
    }
}

#[derive(Debug, Clone)]
enum Cached {
    Active(Arc<Map<String, Value>>, u64),
    Inactive(u64),
}

type TokenHash = [u8; 32];

/// Introspection answers by token hash: active tokens (with their claims and
/// how long they may be trusted) and refusals, kept apart (see `store`).
#[derive(Debug, Default)]
struct Cache {
    active: HashMap<TokenHash, (Arc<Map<String, Value>>, u64)>,
    refused: HashMap<TokenHash, u64>,
}

/// Drops entries (any) until `map` has room for one more under `cap`.
fn make_room<V>(map: &mut HashMap<TokenHash, V>, cap: usize) {
    while map.len() >= cap {
        let Some(victim) = map.keys().next().copied() else {
            return;
        };
        map.remove(&victim);
    }
}

/// The introspection engine.
pub struct Introspection {
    introspector: Arc<dyn Introspector>,
    clock: Arc<dyn Clock>,
    issuer: Option<String>,
    audiences: Vec<String>,
    max_entries: usize,
    max_ttl: u64,
    negative_ttl: u64,
    mapping: ClaimMapping,
    /// Its users' namespace, as for a JWT issuer ([`crate::jwt::Issuer::namespace`]).
    namespace: ConsumerNamespace,
    cache: RwLock<Cache>,
    /// When the full active map was last swept of expired entries (Unix seconds).
    last_sweep_active: AtomicU64,
    /// The same for the refusals.
    last_sweep_refused: AtomicU64,
}

impl std::fmt::Debug for Introspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspection")
            .field("issuer", &self.issuer)
            .field("cached", &self.cached_entries())
            .finish_non_exhaustive()
    }
}

fn token_hash(token: &str) -> TokenHash {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    out
}

impl Introspection {
    /// Introspects `token` (from the cache when possible); the active token's claims.
    pub async fn check(&self, token: &str) -> Result<Arc<Map<String, Value>>, IntrospectionError> {
        if token.is_empty()
            || token.len() > MAX_TOKEN_BYTES
            || !token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(IntrospectionError::Malformed);
        }
        let key = token_hash(token);
        let now = self.clock.unix_secs();
        let cached = self.cache.read().ok().and_then(|c| {
            c.active
                .get(&key)
                .map(|(claims, until)| Cached::Active(claims.clone(), *until))
                .or_else(|| c.refused.get(&key).map(|until| Cached::Inactive(*until)))
        });
        match cached {
            Some(Cached::Active(claims, until)) if now < until => return Ok(claims),
            Some(Cached::Inactive(until)) if now < until => {
                return Err(IntrospectionError::Inactive);
            }
            _ => {}
        }
        let body = self.introspector.introspect(token).await.map_err(|error| {
            tracing::warn!(%error, "token introspection failed");
            IntrospectionError::Unavailable
        })?;
        match self.interpret(&body, now) {
            Ok((claims, until)) => {
                let claims = Arc::new(claims);
                self.store(key, Cached::Active(Arc::clone(&claims), until), now);
                Ok(claims)
            }
            Err(
                error @ (IntrospectionError::Unavailable | IntrospectionError::InvalidResponse),
            ) => Err(error),
            Err(error) => {
                self.store(
                    key,
                    Cached::Inactive(now.saturating_add(self.negative_ttl)),
                    now,
                );
                Err(error)
            }
        }
    }

    /// Sets the prefixes of the other token sources' namespaces that extend
    /// this one's (see [`crate::AuthnConfig::build`]).
    pub(crate) fn set_foreign_prefixes(&mut self, prefixes: Vec<String>) {
        self.namespace.foreign = prefixes;
    }

    /// The identity of an active token's claims (built anew for each
    /// request, from the cache too): refused when its consumer is in the
    /// namespace of another token source of the API.
    pub fn identity(
        &self,
        claims: &Map<String, Value>,
        token: &str,
    ) -> Result<Identity, IntrospectionError> {
        let credential_id = match claims.get("jti").and_then(Value::as_str) {
            Some(jti) => jti.to_owned(),
            // A truncated hash of a high-entropy token identifies it without revealing it.
            None => {
                let hash = token_hash(token);
                let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
                format!("sha256:{hex}")
            }
        };
        self.mapping
            .identity(
                "introspection",
                Some(credential_id),
                claims.clone(),
                &self.namespace,
            )
            .map_err(|refused| match refused {
                NoIdentity::NoConsumer => IntrospectionError::NoConsumer,
                NoIdentity::OutsideNamespace => IntrospectionError::ConsumerOutsideNamespace,
            })
    }

    fn interpret(
        &self,
        body: &[u8],
        now: u64,
    ) -> Result<(Map<String, Value>, u64), IntrospectionError> {
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(IntrospectionError::InvalidResponse);
        }
        let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(body) else {
            return Err(IntrospectionError::InvalidResponse);
        };
        match claims.get("active") {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => return Err(IntrospectionError::Inactive),
            // RFC 7662 §2.2: `active` is REQUIRED and boolean; `"true"` is not true.
            _ => return Err(IntrospectionError::InvalidResponse),
        }
        let exp = match claims.get("exp") {
            None => None,
            Some(v) => Some(v.as_u64().ok_or(IntrospectionError::InvalidResponse)?),
        };
        if exp.is_some_and(|exp| exp <= now) {
            return Err(IntrospectionError::Expired);
        }
        if claims
            .get("nbf")
            .and_then(Value::as_u64)
            .is_some_and(|nbf| nbf > now)
        {
            return Err(IntrospectionError::Inactive);
        }
        // A configured issuer must be stated: an answer without `iss` may be
        // about a token of another issuer the server also knows.
        if let Some(expected) = &self.issuer
            && claims.get("iss").and_then(Value::as_str) != Some(expected.as_str())
        {
            if claims.get("iss").is_none() {
                warn_missing_iss(expected);
            }
            return Err(IntrospectionError::WrongIssuer);
        }
        // A string `aud` is one audience, never split at spaces as scope
        // strings are: "https://other.example api" is not "api". An `aud` of
        // another type matches nothing. Empty only with `any_audience: true`.
        if !self.audiences.is_empty()
            && !matches!(
                crate::jwt::claims::audience_matches(&claims, &self.audiences),
                Ok(true)
            )
        {
            return Err(IntrospectionError::WrongAudience);
        }
        // An active refresh token is not an access token: identity providers
        // answer `active: true` for both (Keycloak `typ: Refresh`, Hydra
        // `token_use: refresh_token`, RFC 7662's `token_type`).
        if refresh_token(&claims) {
            return Err(IntrospectionError::Inactive);
        }
        if self.mapping.consumer(&claims).is_none() {
            return Err(IntrospectionError::NoConsumer);
        }
        let cap = now.saturating_add(self.max_ttl);
        let until = exp.map_or(cap, |exp| exp.min(cap));
        Ok((claims, until))
    }

    /// Caches `entry`. Refusals live apart from active tokens, in at most a
    /// quarter as many entries: random tokens an attacker sends are
    /// refusals, and they must not push out the callers whose tokens are
    /// active (each such eviction is an identity-provider call for a real
    /// user). A full map is swept of expired entries at most once a second
    /// (a sweep per insert cost a pass over the whole map under the write
    /// lock for every new token), then loses one entry (any) to make room.
    fn store(&self, key: TokenHash, entry: Cached, now: u64) {
        let Ok(mut cache) = self.cache.write() else {
            return;
        };
        // Each map keeps its own sweep time: refusals sweeping theirs must
        // not use up the active map's.
        let sweep = |last: &AtomicU64| last.swap(now, Ordering::Relaxed) != now;
        match entry {
            Cached::Active(claims, until) => {
                cache.refused.remove(&key);
                let cap = self.max_entries;
                if cache.active.len() >= cap && !cache.active.contains_key(&key) {
                    if sweep(&self.last_sweep_active) {
                        cache.active.retain(|_, (_, until)| *until > now);
                    }
                    make_room(&mut cache.active, cap);
                }
                cache.active.insert(key, (claims, until));
            }
            Cached::Inactive(until) => {
                // A token that was active and no longer is: its old entry
                // (read first) must go, or the refusal is never seen.
                cache.active.remove(&key);
                let cap = (self.max_entries / 4).max(1);
                if cache.refused.len() >= cap && !cache.refused.contains_key(&key) {
                    if sweep(&self.last_sweep_refused) {
                        cache.refused.retain(|_, until| *until > now);
                    }
                    make_room(&mut cache.refused, cap);
                }
                cache.refused.insert(key, until);
            }
        }
    }

    /// Entries currently cached.
    pub fn cached_entries(&self) -> usize {
        self.cache
            .read()
            .map(|c| c.active.len() + c.refused.len())
            .unwrap_or(0)
    }
}
/// Whether an introspection answer says the token is a refresh token.
fn refresh_token(claims: &Map<String, Value>) -> bool {
    ["token_type", "token_use", "typ"].iter().any(|field| {
        claims
            .get(*field)
            .and_then(Value::as_str)
            .is_some_and(|kind| {
                ["refresh", "refresh_token", "refresh-token"]
                    .iter()
                    .any(|refresh| kind.eq_ignore_ascii_case(refresh))
            })
    })
}

/// RFC 7662 makes `iss` optional: a server that omits it has every token
/// refused once `issuer` is set. Says so, once per process.
fn warn_missing_iss(expected: &str) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            target: "rampart::authn",
            issuer = %expected,
            "introspection answer refused: it states no `iss` but `introspection.issuer` is set; if the authorisation server never sends `iss`, remove `issuer` (and keep `audiences`)"
        );
    }
}
