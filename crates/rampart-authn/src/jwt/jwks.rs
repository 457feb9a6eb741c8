//! The JWKS cache: the engine side of remote keys. The gateway implements
//! [`JwksSource`] (an HTTP GET); this cache decides when to call it: when the keys
//! are older than the refresh interval, or a token names an unknown `kid`, but never
//! more often than the minimum refetch interval (a flood of random `kid`s must not
//! become a flood of requests to the identity provider). A failed or unusable fetch
//! keeps the last good keys, but only up to [`JwksCachePolicy::max_key_age`] after
//! they were fetched: an attacker who can break the fetch (or an identity
//! provider gone for good) must not keep a key the provider removed trusted
//! forever. Past that age tokens of the issuer are refused until a fetch succeeds.
//!
//! While no usable keys are loaded, a failed fetch does not use up the minimum
//! refetch interval: the next one may follow after [`INITIAL_BACKOFF`], doubling
//! per failure up to that interval, so an identity provider back after a blip
//! is seen within seconds, not only after the full interval.
//!
//! One fetch at a time: callers that need keys join the fetch running (one
//! [`Shared`] future), and a fetch whose caller was cancelled (its client gone)
//! is not lost: it stays in place and the next caller that needs keys (or the
//! gateway's background refresher) finishes it and applies its result.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use futures_util::FutureExt;
use futures_util::future::Shared;

use super::keys::{JwksError, KeySet};
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

/// Cache timings (also what a gateway keeps a cache across reloads by).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// The wait after a first failed fetch while no usable keys are loaded; it
/// doubles with each further failure, up to the minimum refetch interval.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);

/// Why a fetch brought no keys.
#[derive(Debug, Clone)]
enum FetchFailure {
    Fetch(JwksFetchError),
    Document(JwksError),
}

/// A fetch (and parse) every caller that needs it can join.
type Fetch = Shared<BoxFuture<'static, Result<Arc<KeySet>, FetchFailure>>>;

/// When fetches were tried, and the one running.
#[derive(Default)]
struct Attempts {
    last: Option<SystemTime>,
    /// Fetches failed in a row (the backoff while no usable keys are loaded).
    failures: u32,
    running: Option<Fetch>,
}

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
    // Held only to start, join or finish a fetch, never across it; readers of
    // the keys never touch it.
    attempts: Mutex<Attempts>,
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
    /// No fetch now: the rate limit (or the backoff after failures) does not
    /// allow one, or one is running and this caller does not need to wait for it.
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
            attempts: Mutex::new(Attempts::default()),
        }
    }

    /// Takes over the keys `other` has loaded (with their fetch time): a cache
    /// replacing another for the same URL (the issuer's timings changed by a
    /// reload) must not start without keys, or every token of the issuer is
    /// refused until the identity provider answers again.
    pub fn adopt_keys(&self, other: &JwksCache) {
        if let Some(loaded) = other.loaded.load_full() {
            self.loaded.store(Some(loaded));
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

    /// How long after the last attempt the next may start: the minimum
    /// refetch interval, or while no usable keys are loaded a backoff from
    /// [`INITIAL_BACKOFF`] doubling per failure up to it (a provider that
    /// failed once must not shut every token out for the whole interval).
    fn gap(&self, failures: u32, usable: bool) -> Duration {
        let interval = self.policy.min_refetch_interval;
        if usable {
            return interval;
        }
        let doublings = failures.saturating_sub(1).min(16);
        INITIAL_BACKOFF
            .saturating_mul(1u32 << doublings)
            .min(interval)
    }

    /// The fetch for this caller: the running one when `join`, else a new one
    /// if the rate limit allows.
    fn start(&self, join: bool) -> Option<Fetch> {
        let now = self.clock.now();
        let usable = self.current().is_some();
        let mut attempts = self.attempts.lock().ok()?;
        if let Some(running) = &attempts.running {
            return join.then(|| running.clone());
        }
        let gap = self.gap(attempts.failures, usable);
        let allowed = attempts
            .last
            .is_none_or(|at| now.duration_since(at).is_ok_and(|since| since >= gap));
        if !allowed {
            return None;
        }
        attempts.last = Some(now);
        let source = Arc::clone(&self.source);
        let fetch: BoxFuture<'static, Result<Arc<KeySet>, FetchFailure>> = Box::pin(async move {
            let document = source.fetch().await.map_err(FetchFailure::Fetch)?;
            KeySet::from_jwks(&document)
                .map(Arc::new)
                .map_err(FetchFailure::Document)
        });
        let fetch = fetch.shared();
        attempts.running = Some(fetch.clone());
        Some(fetch)
    }

    /// Applies the result of `fetch`, once: the first caller to see it end
    /// stores the keys (or counts the failure); every caller gets the outcome.
    fn finish(&self, fetch: &Fetch, result: Result<Arc<KeySet>, FetchFailure>) -> RefreshOutcome {
        let Ok(mut attempts) = self.attempts.lock() else {
            return RefreshOutcome::KeptPrevious;
        };
        let first = attempts
            .running
            .as_ref()
            .is_some_and(|running| running.ptr_eq(fetch));
        if first {
            attempts.running = None;
        }
        match result {
            Ok(keys) => {
                if first {
                    attempts.failures = 0;
                    self.loaded.store(Some(Arc::new(Loaded {
                        keys,
                        fetched_at: self.clock.now(),
                    })));
                }
                RefreshOutcome::Updated
            }
            Err(failure) => {
                if first {
                    attempts.failures = attempts.failures.saturating_add(1);
                    match failure {
                        FetchFailure::Fetch(error) => {
                            tracing::warn!(%error, "JWKS fetch failed; keeping the last good keys");
                        }
                        FetchFailure::Document(error) => {
                            tracing::warn!(%error, "JWKS document refused; keeping the last good keys");
                        }
                    }
                }
                RefreshOutcome::KeptPrevious
            }
        }
    }

    async fn refresh_with(&self, join: bool) -> RefreshOutcome {
        let Some(fetch) = self.start(join) else {
            return RefreshOutcome::RateLimited;
        };
        let result = fetch.clone().await;
        self.finish(&fetch, result)
    }

    /// Fetches new keys if the rate limit allows, or waits for the fetch
    /// running; on failure keeps the last good keys.
    pub async fn refresh(&self) -> RefreshOutcome {
        self.refresh_with(true).await
    }

    /// Keys for a lookup of `kid`: refreshes first when the keys are stale or the
    /// `kid` is unknown (rate limited), then answers from whatever is loaded.
    pub async fn keys_for(&self, kid: Option<&str>) -> Option<Arc<KeySet>> {
        let missing = match (self.current(), kid) {
            (Some(keys), Some(kid)) => !keys.has_kid(kid),
            (None, _) => true,
            (Some(_), None) => false,
        };
        if missing {
            // Waits for a fetch already running too: this lookup cannot be
            // answered without it.
            self.refresh_with(true).await;
        } else if self.is_stale() {
            // The loaded keys still answer: no waiting on another caller's fetch.
            self.refresh_with(false).await;
        }
        self.current()
    }
}
