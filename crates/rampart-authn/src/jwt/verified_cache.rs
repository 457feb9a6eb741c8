//! A bounded cache of verified tokens, so a client that reuses its access token
//! (the common case) pays for the signature check once per token, not per request.
//!
//! Entries are keyed by SHA-256 of the whole token (the token is not kept), live
//! at most `ttl` seconds and never past the token's `exp`, and are tied to the exact
//! key set that verified them: when the issuer's keys change (a JWKS refresh that
//! dropped a compromised key), every entry made under the old set is ignored. A hit
//! still re-checks the time claims, and the stage still checks revocation and
//! certificate binding on every request.

use std::collections::HashMap;
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
        }
    }

    /// The live entry for `digest` at `now`.
    pub fn get(&self, digest: &[u8; 32], now: u64) -> Option<CachedToken> {
        let entries = self.entries.read().ok()?;
        entries.get(digest).filter(|e| now < e.until).cloned()
    }

    /// Caches a verification; skipped when full of live entries.
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
        if entries.len() >= self.max_entries {
            entries.retain(|_, e| now < e.until);
            if entries.len() >= self.max_entries {
                return;
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
