//! Injected time: Rampart's shared [`Clock`] (`rampart_core::time`), re-exported so
//! that `rampart_ratelimit::{Clock, SystemClock, ManualClock}` keep working.
//!
//! Every decision takes "now" from a [`Clock`], never from the system directly, so
//! tests drive time with a [`ManualClock`] and never sleep. Time is wall-clock
//! microseconds since the Unix epoch: quotas reset on calendar boundaries, and the
//! Redis backend shares timestamps between gateways, so a monotonic instant would not do.

pub use rampart_core::time::{Clock, ManualClock, SystemClock};

/// Microseconds in one second.
pub const MICROS_PER_SEC: u64 = 1_000_000;
