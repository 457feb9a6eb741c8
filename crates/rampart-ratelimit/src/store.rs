//! The `CounterStore` trait: where limit state lives (this process, or Redis).
//!
//! The engine turns one request into a batch of [`Op`]s, one per applicable limit
//! or quota, and hands the whole batch to the store in **one call** (one round trip
//! for Redis). The store evaluates every op against the same "now" and applies the
//! batch **all or nothing**: if any op is refused, no op's state changes.
//!
//! Why all or nothing: a request refused by one limit is not served, so it must not
//! spend the client's allowance under the other limits. Otherwise a client hitting a
//! strict per-route limit would silently drain its daily quota, and an attacker could
//! burn a victim's shared allowance (global, per route) with requests that are refused
//! anyway. The cost is that refused requests are free, which is what a limit means.
//!
//! A batch that passed can be given back later with [`CounterStore::refund`]: the
//! lock-out charges a failure when a login attempt starts (so that parallel
//! attempts cannot all pass before the first failure is counted) and refunds it
//! when the attempt did not fail.

use std::future::Future;
use std::pin::Pin;

use crate::gcra::{self, Eval, Slot};

/// How one key is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// GCRA: `burst` units at once, one more every `emission_us`.
    Gcra {
        /// µs per unit, > 0.
        emission_us: u64,
        /// Units that may pass at once, >= 1.
        burst: u64,
    },
    /// Fixed window: `limit` units until `window_end_us` (the key names the window).
    Window {
        /// Units allowed in the window.
        limit: u64,
        /// End of the window, µs since the epoch.
        window_end_us: u64,
    },
}

/// One key to charge (or, with `cost` 0, to probe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// The full storage key, e.g. `rl:per-ip:{203.0.113.7}`. Backends may prefix it.
    pub key: String,
    /// How the key is counted.
    pub algorithm: Algorithm,
    /// Units this request costs; 0 probes without consuming.
    pub cost: u64,
}

impl Op {
    /// Evaluates this op against a stored slot (shared by every backend that
    /// computes in-process).
    pub fn eval(&self, state: Option<Slot>, now_us: u64) -> Eval {
        self.eval_cost(state, now_us, self.cost)
    }

    /// Evaluates this op with another cost (0: the key's current state, which is
    /// what an allowed op of a refused batch reports).
    pub fn eval_cost(&self, state: Option<Slot>, now_us: u64, cost: u64) -> Eval {
        match self.algorithm {
            Algorithm::Gcra { emission_us, burst } => {
                gcra::gcra(state, now_us, emission_us, burst, cost)
            }
            Algorithm::Window {
                limit,
                window_end_us,
            } => gcra::window(state, now_us, limit, window_end_us, cost),
        }
    }
}

/// The store's answer for one op, in the order of the ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Whether this op alone would pass.
    pub allowed: bool,
    /// Units left: after this request when the batch passed; when it was refused,
    /// the key's current (uncharged) state.
    pub remaining: u64,
    /// µs until the key is back to full.
    pub reset_after_us: u64,
    /// µs until this op would pass, 0 when it passes.
    pub retry_after_us: u64,
}

impl From<Eval> for Outcome {
    fn from(e: Eval) -> Self {
        Self {
            allowed: e.allowed,
            remaining: e.remaining,
            reset_after_us: e.reset_after,
            retry_after_us: e.retry_after,
        }
    }
}

/// Why a store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The shared store is unreachable (and the store is configured to fail closed).
    #[error("counter store unavailable: {0}")]
    Unavailable(String),
    /// The store answered something this code cannot read.
    #[error("counter store reply malformed: {0}")]
    Malformed(String),
}

/// The outcomes of a batch, or why there are none.
pub type StoreResult = Result<Vec<Outcome>, StoreError>;

/// A pending store answer.
pub type StoreFuture<'a> = Pin<Box<dyn Future<Output = StoreResult> + Send + 'a>>;

/// A store answer now (local memory) or later (a network round trip); the same
/// shape as `rampart_core::Step`, so the local path never allocates a future.
pub enum StoreReply<'a> {
    /// Answered synchronously.
    Ready(StoreResult),
    /// Answered when the future completes.
    Pending(StoreFuture<'a>),
}

impl StoreReply<'_> {
    /// Waits for the answer.
    pub async fn resolve(self) -> StoreResult {
        match self {
            StoreReply::Ready(r) => r,
            StoreReply::Pending(f) => f.await,
        }
    }
}

impl std::fmt::Debug for StoreReply<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreReply::Ready(r) => f.debug_tuple("Ready").field(r).finish(),
            StoreReply::Pending(_) => f.write_str("Pending(..)"),
        }
    }
}

/// Where counters live.
pub trait CounterStore: Send + Sync + 'static {
    /// Evaluates `ops` at `now_us` (a store with its own clock, such as Redis, may
    /// use that instead so that every gateway shares one time) and applies them all
    /// or none: state changes only when every op is allowed. Returns one outcome per
    /// op, in order. The ops are owned so that a remote store can move them into its
    /// future; nothing happens until a pending reply is polled.
    fn apply(&self, now_us: u64, ops: Vec<Op>) -> StoreReply<'_>;

    /// Gives back what an earlier successful [`CounterStore::apply`] of these ops
    /// charged (the lock-out reserves a failure when a login starts and gives it
    /// back when the login did not fail): see [`crate::gcra::refund`]. Each op is
    /// refunded on its own (a refund cannot be refused); a key that is gone or
    /// back to full stays so. The reply holds no outcomes. Callers refund only
    /// what they charged: a refund of a charge never made hands out units.
    fn refund(&self, now_us: u64, ops: Vec<Op>) -> StoreReply<'_>;
}

impl<S: CounterStore + ?Sized> CounterStore for std::sync::Arc<S> {
    fn apply(&self, now_us: u64, ops: Vec<Op>) -> StoreReply<'_> {
        (**self).apply(now_us, ops)
    }

    fn refund(&self, now_us: u64, ops: Vec<Op>) -> StoreReply<'_> {
        (**self).refund(now_us, ops)
    }
}
