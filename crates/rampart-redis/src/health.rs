//! Redis reachability: the circuit that decides whether to try Redis, the outage
//! metric and log lines. One transition logs once (down, then recovered), not once
//! per request.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counter: failed Redis round trips.
pub const METRIC_ERRORS: &str = "rampart_ratelimit_redis_errors_total";
/// Counter: batches answered by the fail-open fallback.
pub const METRIC_FALLBACK: &str = "rampart_ratelimit_redis_fallback_total";
/// Gauge: 1 while Redis answers, 0 during an outage.
pub const METRIC_UP: &str = "rampart_ratelimit_redis_up";

#[derive(Debug)]
pub(crate) struct Health {
    started: Instant,
    up: AtomicBool,
    /// Nanoseconds since `started` before which Redis is not tried again.
    skip_until: AtomicU64,
    retry: Duration,
    errors: AtomicU64,
    fallbacks: AtomicU64,
}

impl Health {
    pub(crate) fn new(retry: Duration) -> Self {
        metrics::gauge!(METRIC_UP).set(1.0);
        Self {
            started: Instant::now(),
            up: AtomicBool::new(true),
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

    pub(crate) fn success(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            metrics::gauge!(METRIC_UP).set(1.0);
            tracing::info!(target: "rampart::ratelimit", "redis counter store reachable again; shared limits restored");
        }
    }

    pub(crate) fn failure(&self, error: &str, fail_open: bool) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(METRIC_ERRORS).increment(1);
        let next = self
            .elapsed()
            .saturating_add(u64::try_from(self.retry.as_nanos()).unwrap_or(u64::MAX));
        self.skip_until.store(next, Ordering::Release);
        if self.up.swap(false, Ordering::AcqRel) {
            metrics::gauge!(METRIC_UP).set(0.0);
            let mode = if fail_open {
                "failing open onto local limits"
            } else {
                "failing closed"
            };
            tracing::warn!(target: "rampart::ratelimit", %error, mode, "redis counter store unreachable");
        }
    }

    pub(crate) fn fallback(&self) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(METRIC_FALLBACK).increment(1);
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
