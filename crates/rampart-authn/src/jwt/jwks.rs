//! The JWKS cache: the engine side of remote keys. The gateway implements
//! [`JwksSource`] (an HTTP GET); this cache decides when to call it: when the keys
//! are older than the refresh interval, or a token names an unknown `kid`, but never
//! more often than the minimum refetch interval (a flood of random `kid`s must not
//! become a flood of requests to the identity provider). A failed or unusable fetch
//! keeps the last good keys, but only up to [`JwksCachePolicy::max_key_age`] after
//! they were fetched: an attacker who can break the fetch (or an identity
//! provider gone for good) must not keep a key the provider removed trusted
//! forever. Past that age tokens of the issuer are refused until a fetch succeeds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;

use super::keys::KeySet;
use crate::BoxFuture;
use crate::clock::Clock;

/// Why a JWKS fetch failed (the gateway's adapter says why; we only log it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JWKS fetch failed: {0}")]
pub struct JwksFetchError(pub String);

/// Fetches an issuer's JWKS document (implemented by the gateway over HTTP).
pub trait JwksSource: Send + Sync {
    /// Fetches the current document.
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<u8>, JwksFetchError>>;
}

/// Cache timings.
#[derive(Debug, Clone, Copy)]
pub struct JwksCachePolicy {
    /// Keys older than this are refetched (on the next lookup or [`JwksCache::refresh`]).
    pub refresh_interval: Duration,
    /// At most one fetch per this interval, whatever triggers it.
    pub min_refetch_interval: Duration,
    /// Longest the last good keys are used after their fetch while every
    /// later fetch fails.
    pub max_key_age: Duration,
}

impl Default for JwksCachePolicy {
    fn default() -> Self {
        Self {
            refresh_interval: Duration::from_secs(300),
            min_refetch_interval: Duration::from_secs(30),
            max_key_age: Duration::from_secs(DEFAULT_MAX_KEY_AGE_SECS),
        }
    }
}

/// Default [`JwksCachePolicy::max_key_age`]: a day, long enough to ride out an
/// identity provider's outage, short enough that a removed key does not stay.
pub const DEFAULT_MAX_KEY_AGE_SECS: u64 = 86_400;

#[derive(Debug)]
struct Loaded {
    keys: Arc<KeySet>,
    fetched_at: SystemTime,
}

/// Cached keys of one issuer over a [`JwksSource`].
pub struct JwksCache {
    source: Arc<dyn JwksSource>,
    clock: Arc<dyn Clock>,
    policy: JwksCachePolicy,
    loaded: ArcSwapOption<Loaded>,
    // Held only to decide whether this caller may fetch, never across the fetch;
    // readers of the keys never touch it.
    last_attempt: Mutex<Option<SystemTime>>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("policy", &self.policy)
            .field("loaded", &self.loaded.load().as_ref().map(|l| l.keys.len()))
            .finish()
    }
}

/// Whether a refresh happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// New keys are in place.
    Updated,
    /// The fetch failed or the document was unusable; the previous keys stay.
    KeptPrevious,
    /// The rate limit did not allow a fetch now.
    RateLimited,
}

impl JwksCache {
    /// An empty cache; the first lookup (or [`JwksCache::refresh`]) fetches.
    pub fn new(
        source: Arc<dyn JwksSource>,
        clock: Arc<dyn Clock>,
        policy: JwksCachePolicy,
    ) -> Self {
        Self {
            source,
            clock,
            policy,
            loaded: ArcSwapOption::empty(),
            last_attempt: Mutex::new(None),
        }
    }

    /// The current keys: the last loaded, unless they are older than
    /// [`JwksCachePolicy::max_key_age`].
    pub fn current(&self) -> Option<Arc<KeySet>> {
        let now = self.clock.now();
        let loaded = self.loaded.load();
        let loaded = loaded.as_ref()?;
        // A clock set back makes no key too old.
        let age = now.duration_since(loaded.fetched_at).unwrap_or_default();
        (age <= self.policy.max_key_age).then(|| Arc::clone(&loaded.keys))
    }

    /// Whether the keys are missing or older than the refresh interval.
    pub fn is_stale(&self) -> bool {
        let now = self.clock.now();
        match self.loaded.load().as_ref() {
            None => true,
            Some(loaded) => now
                .duration_since(loaded.fetched_at)
                .is_ok_and(|age| age >= self.policy.refresh_interval),
        }
    }

    fn claim_fetch(&self) -> bool {
        let now = self.clock.now();
        let Ok(mut last) = self.last_attempt.lock() else {
            return false;
        };
        let allowed = match *last {
            None => true,
            Some(at) => now
                .duration_since(at)
                .is_ok_and(|since| since >= self.policy.min_refetch_interval),
        };
        if allowed {
            *last = Some(now);
        }
        allowed
    }

    /// Fetches new keys if the rate limit allows; on failure keeps the last good keys.
    pub async fn refresh(&self) -> RefreshOutcome {
        if !self.claim_fetch() {
            return RefreshOutcome::RateLimited;
        }
        let document = match self.source.fetch().await {
            Ok(document) => document,
            Err(error) => {
                tracing::warn!(%error, "JWKS fetch failed; keeping the last good keys");
                return RefreshOutcome::KeptPrevious;
            }
        };
        match KeySet::from_jwks(&document) {
            Ok(keys) => {
                self.loaded.store(Some(Arc::new(Loaded {
                    keys: Arc::new(keys),
                    fetched_at: self.clock.now(),
                })));
                RefreshOutcome::Updated
            }
            Err(error) => {
                tracing::warn!(%error, "JWKS document refused; keeping the last good keys");
                RefreshOutcome::KeptPrevious
            }
        }
    }

    /// Keys for a lookup of `kid`: refreshes first when the keys are stale or the
    /// `kid` is unknown (rate limited), then answers from whatever is loaded.
    pub async fn keys_for(&self, kid: Option<&str>) -> Option<Arc<KeySet>> {
        let unknown_kid = match (self.current(), kid) {
            (Some(keys), Some(kid)) => !keys.has_kid(kid),
            (None, _) => true,
            (Some(_), None) => false,
        };
        if unknown_kid || self.is_stale() {
            self.refresh().await;
        }
        self.current()
    }
}
