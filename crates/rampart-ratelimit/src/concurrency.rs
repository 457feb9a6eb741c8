//! Limits on requests in flight, per key (consumer, route, ...), protecting slow
//! upstreams. A permit is a guard: the count drops when it is dropped, however the
//! request ends (response sent, client gone, panic unwinding). Only keys with
//! requests in flight are tracked, so memory is bounded by the number of
//! concurrent requests.
//!
//! Local to one instance by design: in-flight counts are tied to this process's
//! connections, and a crashed instance must not leave permits held in a shared store.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;

use parking_lot::Mutex;

const SHARDS: usize = 32;

#[derive(Debug)]
struct Inner {
    shards: Vec<Mutex<HashMap<String, u32>>>,
    seed: RandomState,
}

impl Inner {
    fn shard(&self, key: &str) -> Option<&Mutex<HashMap<String, u32>>> {
        let i = usize::try_from(self.seed.hash_one(key) % SHARDS as u64).unwrap_or(0);
        self.shards.get(i)
    }
}

/// Counts requests in flight per key.
#[derive(Debug, Clone)]
pub struct InFlight {
    inner: Arc<Inner>,
}

impl Default for InFlight {
    fn default() -> Self {
        Self::new()
    }
}

/// A held permit; releases its slot on drop.
#[derive(Debug)]
pub struct Permit {
    inner: Arc<Inner>,
    key: String,
}

impl InFlight {
    /// An empty counter.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
                seed: RandomState::new(),
            }),
        }
    }

    /// Takes a permit for `key` if fewer than `max` are held.
    pub fn try_acquire(&self, key: String, max: u32) -> Option<Permit> {
        let shard = self.inner.shard(&key)?;
        let mut map = shard.lock();
        let count = map.entry(key.clone()).or_insert(0);
        if *count >= max {
            if *count == 0 {
                map.remove(&key);
            }
            return None;
        }
        *count += 1;
        drop(map);
        Some(Permit {
            inner: Arc::clone(&self.inner),
            key,
        })
    }

    /// Permits held for `key`.
    pub fn held(&self, key: &str) -> u32 {
        self.inner
            .shard(key)
            .and_then(|s| s.lock().get(key).copied())
            .unwrap_or(0)
    }

    /// Keys with permits held (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        self.inner.shards.iter().map(|s| s.lock().len()).sum()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(shard) = self.inner.shard(&self.key) {
            let mut map = shard.lock();
            if let Some(count) = map.get_mut(&self.key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    map.remove(&self.key);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_limited_and_released_on_drop() {
        let f = InFlight::new();
        let a = f.try_acquire("c:alice".into(), 2).unwrap();
        let b = f.try_acquire("c:alice".into(), 2).unwrap();
        assert!(
            f.try_acquire("c:alice".into(), 2).is_none(),
            "third in flight refused"
        );
        assert!(
            f.try_acquire("c:bob".into(), 2).is_some(),
            "other keys unaffected"
        );
        drop(a);
        let c = f.try_acquire("c:alice".into(), 2).unwrap();
        drop((b, c));
        assert_eq!(f.held("c:alice"), 0);
        assert_eq!(f.tracked_keys(), 0, "idle keys are not kept");
    }
}
