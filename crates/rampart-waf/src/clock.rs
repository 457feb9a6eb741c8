//! Time for persistent collections (`expirevar`, idle eviction), injected so
//! the engine reads no system clock on its own and tests control time.
//!
//! The trait mirrors the shape of `rampart_core::time::Clock` (announced by the
//! lead, not yet in rampart-core): when it lands, this module becomes a
//! re-export of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Microseconds since the Unix epoch.
    fn now_micros(&self) -> i64;

    /// Whole seconds since the Unix epoch.
    fn unix_secs(&self) -> i64 {
        self.now_micros().div_euclid(1_000_000)
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that moves only when told (tests, replays).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock at `secs` seconds since the epoch.
    pub fn at_secs(secs: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(secs.saturating_mul(1_000_000))))
    }

    /// Moves the clock forward by `secs` seconds.
    pub fn advance(&self, secs: i64) {
        self.0
            .fetch_add(secs.saturating_mul(1_000_000), Ordering::Relaxed);
    }

    /// Sets the clock to `secs` seconds since the epoch.
    pub fn set_secs(&self, secs: i64) {
        self.0
            .store(secs.saturating_mul(1_000_000), Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::at_secs(1_000);
        assert_eq!(c.unix_secs(), 1_000);
        c.advance(60);
        assert_eq!(c.unix_secs(), 1_060);
        c.set_secs(5);
        assert_eq!(c.now_micros(), 5_000_000);
        assert!(SystemClock.unix_secs() > 1_600_000_000);
    }
}
