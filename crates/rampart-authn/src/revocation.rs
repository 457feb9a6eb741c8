//! The local revocation list: revoked token ids (`jti`) and API key prefixes.
//!
//! Each gateway instance keeps its own copy; the gateway feeds it from Redis
//! (pub/sub for new entries, the persisted set at start-up and after a reconnect).
//! Merging is a union: nothing a sync delivers (or fails to deliver) can remove an
//! entry, so a Redis outage or data loss never re-admits a revoked credential.
//! Entries leave only when the credential they name has expired on its own: at
//! `expires_at` plus a retention margin that covers the JWT leeway.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::clock::Clock;

/// What kind of credential an entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// A token's `jti`.
    Jti,
    /// An API key's prefix.
    ApiKey,
}

/// One revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Credential kind.
    pub kind: CredentialKind,
    /// The `jti` or key prefix.
    pub id: String,
    /// When the credential expires anyway (Unix seconds); `u64::MAX` for never.
    pub expires_at: u64,
}

/// Why a revocation was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    /// The list is at capacity even after purging expired entries.
    #[error("revocation list full")]
    Full,
    /// Empty or oversized id.
    #[error("invalid credential id")]
    InvalidId,
    /// A writer panicked while holding the lock.
    #[error("revocation list lock poisoned")]
    Poisoned,
}

/// Longest id accepted.
pub const MAX_ID_LEN: usize = 256;

/// What an API key revocation must name (the answer to a refused id).
pub const API_KEY_ID_FORMAT: &str = "for api_key, id must be the key id (the 8 lowercase base32 characters a-z, 2-7 after rk_) or the whole key";

/// The id to record when an operator revokes the credential of `kind` named
/// `id` (admin API, CLI). A `jti` is taken as given (1 to [`MAX_ID_LEN`]
/// bytes, no control characters). An API key is looked up by its key id, so
/// only a key id matches: a whole key is cut to it (its secret part is never
/// stored, published, listed or echoed), and anything else is refused rather
/// than recorded as "revoked" while the key keeps working. The error says
/// what is expected, never echoing the input.
pub fn revocation_id(kind: CredentialKind, id: &str) -> Result<String, &'static str> {
    match kind {
        CredentialKind::Jti => {
            if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
                return Err("id must be 1 to 256 bytes without control characters");
            }
            Ok(id.to_owned())
        }
        CredentialKind::ApiKey => crate::apikey::format::key_id(id)
            .map(str::to_owned)
            .ok_or(API_KEY_ID_FORMAT),
    }
}

/// The local copy of revocations.
#[derive(Debug)]
pub struct RevocationList {
    // Reads on every authenticated request, writes rare: a read-write lock whose
    // uncontended read is a couple of atomics.
    entries: RwLock<HashMap<(CredentialKind, String), u64>>,
    clock: Arc<dyn Clock>,
    max_entries: usize,
    retention: u64,
}

impl RevocationList {
    /// A list holding at most `max_entries`, keeping entries `retention_secs` past
    /// their credential's expiry (cover the JWT leeway).
    pub fn new(clock: Arc<dyn Clock>, max_entries: usize, retention_secs: u64) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            clock,
            max_entries,
            retention: retention_secs,
        }
    }

    /// How long past its credential's expiry an entry is kept, seconds: a
    /// verifier that accepts tokens longer past `exp` than this (its leeway)
    /// would accept a revoked one again once the entry is gone.
    pub fn retention_secs(&self) -> u64 {
        self.retention
    }

    /// Whether the credential is revoked. Fails closed if the lock is poisoned.
    pub fn is_revoked(&self, kind: CredentialKind, id: &str) -> bool {
        match self.entries.read() {
            Ok(entries) => entries.contains_key(&(kind, id.to_owned())),
            Err(_) => true,
        }
    }

    /// Records a revocation (idempotent; keeps the later expiry).
    pub fn revoke(&self, revocation: Revocation) -> Result<(), RevocationError> {
        self.merge(std::iter::once(revocation)).map(|_| ())
    }

    /// Adds every revocation not yet known; returns how many were new.
    pub fn merge(
        &self,
        revocations: impl IntoIterator<Item = Revocation>,
    ) -> Result<usize, RevocationError> {
        let now = self.clock.unix_secs();
        let Ok(mut entries) = self.entries.write() else {
            return Err(RevocationError::Poisoned);
        };
        let mut added = 0;
        for revocation in revocations {
            if revocation.id.is_empty() || revocation.id.len() > MAX_ID_LEN {
                return Err(RevocationError::InvalidId);
            }
            if revocation.expires_at.saturating_add(self.retention) < now {
                continue; // the credential is dead anyway
            }
            let key = (revocation.kind, revocation.id);
            if let Some(expiry) = entries.get_mut(&key) {
                *expiry = (*expiry).max(revocation.expires_at);
                continue;
            }
            if entries.len() >= self.max_entries {
                let retention = self.retention;
                entries.retain(|_, expiry| expiry.saturating_add(retention) >= now);
                if entries.len() >= self.max_entries {
                    return Err(RevocationError::Full);
                }
            }
            entries.insert(key, revocation.expires_at);
            added += 1;
        }
        Ok(added)
    }

    /// Drops entries whose credential expired more than the retention ago;
    /// returns how many.
    pub fn purge_expired(&self) -> usize {
        let now = self.clock.unix_secs();
        let retention = self.retention;
        match self.entries.write() {
            Ok(mut entries) => {
                let before = entries.len();
                entries.retain(|_, expiry| expiry.saturating_add(retention) >= now);
                before - entries.len()
            }
            Err(_) => 0,
        }
    }

    /// Every entry (for the admin API and for re-seeding Redis).
    pub fn snapshot(&self) -> Vec<Revocation> {
        match self.entries.read() {
            Ok(entries) => entries
                .iter()
                .map(|((kind, id), expires_at)| Revocation {
                    kind: *kind,
                    id: id.clone(),
                    expires_at: *expires_at,
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn operators_revoke_api_keys_by_key_id_and_never_record_a_secret() {
        let (prefix, key) = crate::apikey::format::generate().unwrap();
        let whole = std::str::from_utf8(key.expose()).unwrap();
        assert_eq!(
            revocation_id(CredentialKind::ApiKey, &prefix).unwrap(),
            prefix
        );
        // A pasted whole key is cut to its id.
        assert_eq!(
            revocation_id(CredentialKind::ApiKey, whole).unwrap(),
            prefix
        );
        // Anything else could never match a key: refused, saying what is expected.
        for bad in ["AbC123", "", "rk_abcdefgh", "abcdefgh_x"] {
            let err = revocation_id(CredentialKind::ApiKey, bad).unwrap_err();
            assert!(err.contains("key id"), "{err}");
        }
        assert_eq!(
            revocation_id(CredentialKind::Jti, "AbC-1").unwrap(),
            "AbC-1"
        );
        assert!(revocation_id(CredentialKind::Jti, "").is_err());
        assert!(revocation_id(CredentialKind::Jti, "a\u{0}b").is_err());
    }

    fn jti(id: &str, expires_at: u64) -> Revocation {
        Revocation {
            kind: CredentialKind::Jti,
            id: id.into(),
            expires_at,
        }
    }

    fn list(max: usize) -> (RevocationList, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::at_secs(1_000));
        (RevocationList::new(clock.clone(), max, 60), clock)
    }

    #[test]
    fn revoked_ids_are_refused_and_others_pass() {
        let (list, _) = list(10);
        list.revoke(jti("t1", 2_000)).unwrap();
        assert!(list.is_revoked(CredentialKind::Jti, "t1"));
        assert!(!list.is_revoked(CredentialKind::Jti, "t2"));
        // Kinds are separate namespaces.
        assert!(!list.is_revoked(CredentialKind::ApiKey, "t1"));
    }

    #[test]
    fn entries_live_until_expiry_plus_retention() {
        let (list, clock) = list(10);
        list.revoke(jti("t1", 2_000)).unwrap();
        clock.set_secs(2_060);
        assert_eq!(list.purge_expired(), 0);
        assert!(list.is_revoked(CredentialKind::Jti, "t1"));
        clock.advance(Duration::from_secs(1));
        assert_eq!(list.purge_expired(), 1);
        assert!(list.is_empty());
    }

    #[test]
    fn merge_is_a_union_and_keeps_the_later_expiry() {
        let (list, _) = list(10);
        list.revoke(jti("local", 5_000)).unwrap();
        // A sync that lost "local" cannot re-admit it.
        assert_eq!(
            list.merge(vec![jti("remote", 5_000), jti("local", 9_000)])
                .unwrap(),
            1
        );
        assert!(list.is_revoked(CredentialKind::Jti, "local"));
        assert!(list.is_revoked(CredentialKind::Jti, "remote"));
        let snap = list.snapshot();
        assert_eq!(
            snap.iter().find(|r| r.id == "local").unwrap().expires_at,
            9_000
        );
        // Already-dead credentials are not stored.
        assert_eq!(list.merge(vec![jti("old", 10)]).unwrap(), 0);
    }

    #[test]
    fn capacity_is_bounded_and_expired_entries_make_room() {
        let (list, clock) = list(2);
        list.revoke(jti("a", 1_100)).unwrap();
        list.revoke(jti("b", 9_000)).unwrap();
        assert_eq!(list.revoke(jti("c", 9_000)), Err(RevocationError::Full));
        clock.set_secs(1_200);
        list.revoke(jti("c", 9_000)).unwrap();
        assert!(list.is_revoked(CredentialKind::Jti, "c"));
        assert_eq!(list.revoke(jti("", 9_000)), Err(RevocationError::InvalidId));
        assert_eq!(
            list.revoke(jti(&"x".repeat(257), 9_000)),
            Err(RevocationError::InvalidId)
        );
    }
}
