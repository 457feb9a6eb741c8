//! A bounded cache of verified tokens, so a client that reuses its access token
//! (the common case) pays for the signature check once per token, not per request.
//!
//! Entries are keyed by SHA-256 of the whole token (the token is not kept), live
//! at most `ttl` seconds and never past the token's `exp`, and are tied to the exact
//! key set that verified them: when the issuer's keys change (a JWKS refresh that
//! dropped a compromised key), every entry made under the old set is ignored. A hit
//! still re-checks the time claims, and the stage still checks revocation and
//! certificate binding on every request.
//!
//! When full, the cache is swept of expired entries at most once a second
//! (a sweep per new token was a pass over the whole map under the write lock
//! for every token while full of live ones), then loses one entry (any) to
//! make room: a new token is always cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::digest;

use super::VerifiedToken;
use super::keys::KeySet;

/// A cached verification.
#[derive(Debug, Clone)]
pub struct CachedToken {
    /// The verified token.
    pub token: Arc<VerifiedToken>,
    /// Its `kid`, to look up the issuer's current keys.
    pub kid: Option<String>,
    /// The key set that verified it.
    pub keys: Arc<KeySet>,
    until: u64,
}

/// The cache.
#[derive(Debug)]
pub struct VerifiedCache {
    entries: RwLock<HashMap<[u8; 32], CachedToken>>,
    max_entries: usize,
    ttl: u64,
    /// When the full map was last swept of expired entries (Unix seconds).
    last_sweep: AtomicU64,
}

/// SHA-256 of a token: the cache key.
pub fn token_digest(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    out
}

impl VerifiedCache {
    /// A cache of at most `max_entries`, each kept at most `ttl` seconds.
    pub fn new(max_entries: usize, ttl: u64) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            max_entries,
            ttl,
            last_sweep: AtomicU64::new(0),
        }
    }

    /// The live entry for `digest` at `now`.
    pub fn get(&self, digest: &[u8; 32], now: u64) -> Option<CachedToken> {
        let entries = self.entries.read().ok()?;
        entries.get(digest).filter(|e| now < e.until).cloned()
    }

    /// Caches a verification; when full, after at most one sweep of expired
    /// entries a second, one entry (any) makes room.
    pub fn insert(
        &self,
        digest: [u8; 32],
        token: VerifiedToken,
        kid: Option<String>,
        keys: Arc<KeySet>,
        now: u64,
    ) {
        let cap = now.saturating_add(self.ttl);
        let until = token.exp().map_or(cap, |exp| exp.min(cap));
        if until <= now || self.max_entries == 0 {
            return;
        }
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.len() >= self.max_entries && !entries.contains_key(&digest) {
            if self.last_sweep.swap(now, Ordering::Relaxed) != now {
                entries.retain(|_, e| now < e.until);
            }
            while entries.len() >= self.max_entries {
                let Some(victim) = entries.keys().next().copied() else {
                    break;
                };
                entries.remove(&victim);
            }
        }
        entries.insert(
            digest,
            CachedToken {
                token: Arc::new(token),
                kid,
                keys,
                until,
            },
        );
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    fn token(exp: u64) -> VerifiedToken {
        let claims = json!({"sub": "a", "exp": exp})
            .as_object()
            .cloned()
            .unwrap();
        VerifiedToken {
            issuer_index: 0,
            alg: jsonwebtoken::Algorithm::ES256,
            claims,
        }
    }

    fn digest(n: u32) -> [u8; 32] {
        token_digest(&format!("token-{n}"))
    }

    #[test]
    fn a_full_cache_of_live_tokens_stays_bounded_and_still_caches_new_ones() {
        let cache = VerifiedCache::new(3, 60);
        let keys = Arc::new(KeySet::default());
        let now = 1_000;
        for n in 0..3 {
            cache.insert(digest(n), token(now + 600), None, keys.clone(), now);
        }
        assert_eq!(cache.len(), 3);
        // Full of live entries: each new token takes one entry's place.
        for n in 3..50 {
            cache.insert(digest(n), token(now + 600), None, keys.clone(), now);
            assert_eq!(cache.len(), 3);
            assert!(cache.get(&digest(n), now).is_some(), "token {n} not cached");
        }
        // A token already cached takes no other's place.
        let held: Vec<u32> = (0..50)
            .filter(|n| cache.get(&digest(*n), now).is_some())
            .collect();
        cache.insert(digest(held[0]), token(now + 600), None, keys.clone(), now);
        assert_eq!(
            (0..50)
                .filter(|n| cache.get(&digest(*n), now).is_some())
                .count(),
            3
        );
    }

    #[test]
    fn expired_entries_go_first_in_a_sweep() {
        let cache = VerifiedCache::new(3, 60);
        let keys = Arc::new(KeySet::default());
        // Two short-lived tokens and one long-lived.
        cache.insert(digest(0), token(1_010), None, keys.clone(), 1_000);
        cache.insert(digest(1), token(1_010), None, keys.clone(), 1_000);
        cache.insert(digest(2), token(2_000), None, keys.clone(), 1_000);
        // Later, the short ones have expired: the sweep removes them, and the
        // live one is kept.
        cache.insert(digest(3), token(2_000), None, keys.clone(), 1_020);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&digest(2), 1_020).is_some());
        assert!(cache.get(&digest(3), 1_020).is_some());
    }
}
