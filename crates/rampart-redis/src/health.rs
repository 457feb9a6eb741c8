//! Redis reachability: the circuit that decides whether to try Redis, the outage
//! metric and log lines. One transition logs once (down, then recovered), not once
//! per request.
//!
//! The gateway builds one store, and so one `Health`, per API: the metrics carry
//! an `api` label, or one API's outage would be overwritten by another's success.
//! The `up` gauge is first set by the first round trip's outcome (a store connects
//! lazily, so until then nothing is known).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counter: failed Redis round trips (label `api`).
pub const METRIC_ERRORS: &str = "rampart_ratelimit_redis_errors_total";
/// Counter: batches answered by the fail-open fallback (label `api`).
pub const METRIC_FALLBACK: &str = "rampart_ratelimit_redis_fallback_total";
/// Gauge: 1 while Redis answers, 0 during an outage (label `api`); absent until
/// the first round trip.
pub const METRIC_UP: &str = "rampart_ratelimit_redis_up";

#[derive(Debug)]
pub(crate) struct Health {
    started: Instant,
    /// The `api` label of the metrics (shared: cloned per metric call).
    api: std::sync::Arc<str>,
    /// Whether to try Redis (true at start: the first request tries).
    up: AtomicBool,
    /// Whether a round trip has set the gauge yet.
    reported: AtomicBool,
    /// Nanoseconds since `started` before which Redis is not tried again.
    skip_until: AtomicU64,
    retry: Duration,
    errors: AtomicU64,
    fallbacks: AtomicU64,
}

impl Health {
    pub(crate) fn new(retry: Duration, api: &str) -> Self {
        Self {
            started: Instant::now(),
            api: api.into(),
            up: AtomicBool::new(true),
            reported: AtomicBool::new(false),
            skip_until: AtomicU64::new(0),
            retry,
            errors: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        }
    }

    fn elapsed(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether this request should try Redis: always while up; during an outage,
    /// one request per retry interval probes it and the others use the fallback.
    pub(crate) fn should_try(&self) -> bool {
        if self.up.load(Ordering::Acquire) {
            return true;
        }
        let now = self.elapsed();
        let until = self.skip_until.load(Ordering::Acquire);
        if now < until {
            return false;
        }
        let next = now.saturating_add(u64::try_from(self.retry.as_nanos()).unwrap_or(u64::MAX));
        self.skip_until
            .compare_exchange(until, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn set_up(&self, value: f64) {
        metrics::gauge!(METRIC_UP, "api" => std::sync::Arc::clone(&self.api)).set(value);
    }

    pub(crate) fn success(&self) {
        let was_down = !self.up.swap(true, Ordering::AcqRel);
        if !self.reported.swap(true, Ordering::AcqRel) || was_down {
            self.set_up(1.0);
        }
        if was_down {
            tracing::info!(target: "rampart::ratelimit", api = %self.api, "redis counter store reachable again; shared limits restored");
        }
    }

    pub(crate) fn failure(&self, error: &str, fail_open: bool) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(METRIC_ERRORS, "api" => std::sync::Arc::clone(&self.api)).increment(1);
        let next = self
            .elapsed()
            .saturating_add(u64::try_from(self.retry.as_nanos()).unwrap_or(u64::MAX));
        self.skip_until.store(next, Ordering::Release);
        self.reported.store(true, Ordering::Release);
        if self.up.swap(false, Ordering::AcqRel) {
            self.set_up(0.0);
            let mode = if fail_open {
                "failing open onto local limits"
            } else {
                "failing closed"
            };
            tracing::warn!(target: "rampart::ratelimit", api = %self.api, %error, mode, "redis counter store unreachable");
        }
    }

    pub(crate) fn fallback(&self) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(METRIC_FALLBACK, "api" => std::sync::Arc::clone(&self.api)).increment(1);
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub(crate) fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    pub(crate) fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }
}
