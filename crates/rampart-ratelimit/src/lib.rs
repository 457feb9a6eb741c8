//! Rate limiting for Rampart: GCRA limits, plans, calendar quotas, brute-force
//! lock-out, adaptive and in-flight limits, and the standard rate-limit headers.
//!
//! The engine does no I/O. Time comes from a [`Clock`]; counters live behind the
//! [`CounterStore`] trait, implemented here by the sharded, memory-bounded
//! [`LocalStore`] (the default, one instance) and by `rampart-redis` (exact across
//! instances). Every request's limits go to the store as one batch applied
//! all-or-nothing: a request refused by one limit consumes nothing from the others
//! (see [`store`] for why).
//!
//! Layout:
//! - [`clock`]: `rampart_core::time`'s `Clock`, system clock and manual clock,
//!   re-exported.
//! - [`gcra`]: the GCRA and fixed-window arithmetic, pure functions.
//! - [`store`]: `Op`, `Outcome` and the `CounterStore` trait; [`local`]: the
//!   in-process store.
//! - [`key`]: what limits count by (IP, consumer, application, API key, route,
//!   header, claim, global) and how values are taken from a request.
//! - [`config`]: the raw `RateLimitConfig` and its validation into a [`Policy`]
//!   ([`policy`]: the compiled limits, plans, quotas and their ops).
//! - [`calendar`]: day and month windows in UTC, a fixed offset or an IANA zone.
//! - [`limiter`]: the engine, [`RateLimiter`].
//! - [`lockout`], [`adaptive`], [`concurrency`]: lock-out after failures, per-key
//!   rate reductions, in-flight permits; [`username`]: the form usernames are
//!   compared in by the lock-out.
//! - [`headers`]: `RateLimit-Policy`/`RateLimit` (IETF draft), `X-RateLimit-*`, the
//!   429 problems.
//! - [`stage`]: the pre-auth and consumer `Stage`s.

pub mod adaptive;
pub mod calendar;
pub mod clock;
pub mod concurrency;
pub mod config;
pub mod gcra;
pub mod headers;
pub mod key;
pub mod limiter;
pub mod local;
pub mod lockout;
pub mod policy;
pub mod stage;
pub mod store;
pub mod username;

pub use adaptive::AdaptiveLimits;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ConfigError, RateLimitConfig};
pub use headers::RateLimitReport;
pub use key::KeyKind;
pub use limiter::{Checked, RateLimiter, Scope};
pub use local::LocalStore;
pub use lockout::{Lockout, Reservation, Reserved};
pub use policy::{Policy, UpstreamFailures};
pub use stage::{ConsumerRateLimitStage, PreAuthRateLimitStage};
pub use store::{Algorithm, CounterStore, Op, Outcome, StoreError, StoreReply};
