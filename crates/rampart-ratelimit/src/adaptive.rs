//! Adaptive limits: lowering one key's effective rate for a while.
//!
//! Detectors (or an operator) call [`AdaptiveLimits::lower`] with a key kind and
//! value (say consumer `mallory`) and a divisor: for the given time, every limit
//! counting by that key enforces `rate / divisor` and `burst / divisor` (at least 1).
//! Overrides are per gateway instance; each instance's detectors feed their own.
//! The table is bounded; when full of live overrides a new one is refused (and
//! reported), rather than growing without limit.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::RwLock;

use crate::clock::Clock;
use crate::key::KeyKind;
use crate::policy::{Effective, Limit};

/// Default bound on live overrides.
pub const DEFAULT_MAX_OVERRIDES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Override {
    divisor: u64,
    until_us: u64,
}

/// Per-key rate reductions with an expiry.
pub struct AdaptiveLimits {
    table: RwLock<HashMap<String, Override>>,
    // Lets the hot path skip the lock (and the key string) when nothing is lowered.
    live: AtomicUsize,
    max: usize,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AdaptiveLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveLimits")
            .field("live", &self.live.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The table is full of live overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("adaptive override table full")]
pub struct OverridesFull;

fn table_key(kind: &KeyKind, value: &str) -> String {
    format!("{}:{value}", kind.tag())
}

impl AdaptiveLimits {
    /// An empty table holding at most `max` overrides.
    pub fn new(clock: Arc<dyn Clock>, max: usize) -> Self {
        Self {
            table: RwLock::new(HashMap::new()),
            live: AtomicUsize::new(0),
            max: max.max(1),
            clock,
        }
    }

    /// Lowers every limit keyed by `kind` = `value` to 1/`divisor` of its rate and
    /// burst for `duration`. A later call replaces an earlier one; divisor 1 restores.
    pub fn lower(
        &self,
        kind: &KeyKind,
        value: &str,
        divisor: u32,
        duration: Duration,
    ) -> Result<(), OverridesFull> {
        let now = self.clock.now_micros();
        let until_us = now.saturating_add(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX));
        let mut table = self.table.write();
        let key = table_key(kind, value);
        if table.len() >= self.max && !table.contains_key(&key) {
            table.retain(|_, o| o.until_us > now);
            if table.len() >= self.max {
                tracing::warn!(target: "rampart::ratelimit", "adaptive override table full");
                return Err(OverridesFull);
            }
        }
        table.insert(
            key,
            Override {
                divisor: u64::from(divisor.max(1)),
                until_us,
            },
        );
        self.live.store(table.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Removes an override.
    pub fn restore(&self, kind: &KeyKind, value: &str) {
        let mut table = self.table.write();
        table.remove(&table_key(kind, value));
        self.live.store(table.len(), Ordering::Relaxed);
    }

    /// The divisor in force for `kind` = `value` at `now_us` (1 when none).
    pub fn divisor(&self, kind: &KeyKind, value: &str, now_us: u64) -> u64 {
        if self.live.load(Ordering::Relaxed) == 0 {
            return 1;
        }
        self.table
            .read()
            .get(&table_key(kind, value))
            .filter(|o| o.until_us > now_us)
            .map_or(1, |o| o.divisor)
    }

    /// The numbers `limit` enforces for `value` at `now_us`.
    pub fn effective(&self, limit: &Limit, value: &str, now_us: u64) -> Effective {
        let d = self.divisor(&limit.key, value, now_us);
        Effective {
            emission_us: limit.emission_us.saturating_mul(d),
            burst: (limit.burst / d).max(1),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn limit() -> Limit {
        Limit {
            name: "l".into(),
            counter: "l".into(),
            key: KeyKind::Consumer,
            emission_us: 1000,
            burst: 10,
            routes: vec![],
        }
    }

    #[test]
    fn lowering_applies_to_that_key_until_it_expires() {
        let clock = Arc::new(ManualClock::at_micros(0));
        let a = AdaptiveLimits::new(clock.clone(), 10);
        a.lower(&KeyKind::Consumer, "mallory", 4, Duration::from_secs(60))
            .unwrap();
        let e = a.effective(&limit(), "mallory", 0);
        assert_eq!((e.emission_us, e.burst), (4000, 2));
        let other = a.effective(&limit(), "alice", 0);
        assert_eq!((other.emission_us, other.burst), (1000, 10));
        let later = a.effective(&limit(), "mallory", 60_000_000);
        assert_eq!((later.emission_us, later.burst), (1000, 10));
    }

    #[test]
    fn table_is_bounded_and_expired_entries_make_room() {
        let clock = Arc::new(ManualClock::at_micros(0));
        let a = AdaptiveLimits::new(clock.clone(), 2);
        let k = KeyKind::ClientIp;
        a.lower(&k, "1", 2, Duration::from_secs(1)).unwrap();
        a.lower(&k, "2", 2, Duration::from_secs(10)).unwrap();
        assert_eq!(
            a.lower(&k, "3", 2, Duration::from_secs(10)),
            Err(OverridesFull)
        );
        clock.advance(Duration::from_secs(2));
        a.lower(&k, "3", 2, Duration::from_secs(10)).unwrap();
    }
}
