//! Redis adapters for Rampart. Today: [`RedisStore`], the distributed
//! `rampart_ratelimit::CounterStore` that makes rate limits exact across gateway
//! instances; later also shared revocation lists.
//!
//! This crate does I/O (it is an adapter, not an engine): the rate-limit engine
//! stays pure and reaches Redis only through the `CounterStore` trait.
//!
//! Layout:
//! - [`config`]: `RedisStoreConfig` (standalone URL or Cluster nodes, outage mode,
//!   timeouts) and its errors.
//! - [`script`]: the Lua script that evaluates a whole batch of GCRA and quota ops
//!   atomically, with Redis's own clock.
//! - [`store`]: `RedisStore`, connection handling, Cluster slot grouping, fail-open
//!   onto local limits or fail-closed.
//! - `health`: the outage circuit, its metrics ([`METRIC_UP`], [`METRIC_ERRORS`],
//!   [`METRIC_FALLBACK`], labelled with the store's API) and log lines.

pub mod config;
mod health;
pub mod script;
pub mod store;

pub use config::{MAX_KEY_PREFIX_BYTES, OutageMode, RedisConfigError, RedisStoreConfig};
pub use health::{METRIC_ERRORS, METRIC_FALLBACK, METRIC_UP};
pub use store::RedisStore;
