//! Injected time: every expiry, leeway and rate-limit decision in this crate reads a
//! [`Clock`], so tests move time by hand instead of sleeping. The clock is the
//! workspace's one ([`rampart_core::time`]), re-exported under this crate's path.

pub use rampart_core::time::{Clock, ManualClock, SystemClock};
