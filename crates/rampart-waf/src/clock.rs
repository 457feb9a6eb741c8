//! Time for persistent collections (`expirevar`, idle eviction), injected so
//! the engine reads no system clock on its own and tests control time: the
//! shared [`rampart_core::time`] clock, re-exported under the engine's names.

pub use rampart_core::time::{Clock, ManualClock, SystemClock};

/// Now in microseconds as a signed number (the store's arithmetic is signed).
pub(crate) fn now_micros(clock: &dyn Clock) -> i64 {
    i64::try_from(clock.now_micros()).unwrap_or(i64::MAX)
}
