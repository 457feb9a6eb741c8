//! Injected time for step-up (`auth_time` age) and the Cedar `context.now`: the
//! workspace's [`rampart_core::time`] clock, re-exported under this crate's path.

pub use rampart_core::time::{Clock, ManualClock, SystemClock};
