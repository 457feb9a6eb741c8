//! The stages over stores that wait or fail: the Step::Wait path and fail-closed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::*;
use rampart_core::{Stage, Step, Verdict};
use rampart_ratelimit::store::{StoreError, StoreReply};
use rampart_ratelimit::{
    CounterStore, LocalStore, ManualClock, Op, PreAuthRateLimitStage, RateLimitConfig, RateLimiter,
};
use serde_json::json;

/// Answers through a future, as a network store would.
struct Deferred(LocalStore);

impl CounterStore for Deferred {
    fn apply(&self, now_us: u64, ops: Vec<Op>) -> StoreReply<'_> {
        StoreReply::Pending(Box::pin(async move { Ok(self.0.apply_now(now_us, &ops)) }))
    }

    fn refund(&self, now_us: u64, ops: Vec<Op>) -> StoreReply<'_> {
        StoreReply::Pending(Box::pin(async move {
            self.0.refund_now(now_us, &ops);
            Ok(Vec::new())
        }))
    }
}

/// A shared store that is down, configured to fail closed.
struct Down;

impl CounterStore for Down {
    fn apply(&self, _now_us: u64, _ops: Vec<Op>) -> StoreReply<'_> {
        StoreReply::Ready(Err(StoreError::Unavailable("connection refused".into())))
    }

    fn refund(&self, _now_us: u64, _ops: Vec<Op>) -> StoreReply<'_> {
        StoreReply::Ready(Err(StoreError::Unavailable("connection refused".into())))
    }
}

fn engine(store: Arc<dyn CounterStore>) -> Arc<RateLimiter> {
    let config: RateLimitConfig = serde_json::from_value(json!({ "pre_auth": [
        { "name": "per-ip", "key": "client_ip", "rate": 1, "per": "1m", "burst": 2 }
    ]}))
    .unwrap();
    let policy = config.compile("").unwrap();
    Arc::new(RateLimiter::new(
        policy,
        store,
        Arc::new(ManualClock::at_micros(T0)),
    ))
}

#[test]
fn a_waiting_store_gives_the_same_decisions() {
    let stage = PreAuthRateLimitStage::new(engine(Arc::new(Deferred(LocalStore::default()))));
    let mut cx = request("203.0.113.7", "r");
    let step = stage.on_request(&mut cx);
    assert!(matches!(step, Step::Wait(_)));
    assert_eq!(now_or_never(step.resolve()), Verdict::Continue);
    assert_eq!(
        run(&stage, &mut request("203.0.113.7", "r")),
        Verdict::Continue
    );
    let p = refused(run(&stage, &mut request("203.0.113.7", "r")));
    assert_eq!(p.kind.slug, "rate-limited");
}

#[test]
fn an_unavailable_store_fails_closed_with_503_and_no_detail() {
    let stage = PreAuthRateLimitStage::new(engine(Arc::new(Down)));
    let p = refused(run(&stage, &mut request("203.0.113.7", "r")));
    assert_eq!(p.kind.slug, "rate-limit-unavailable");
    assert_eq!(p.kind.status, 503);
    let body = String::from_utf8(p.to_json("r")).unwrap();
    assert!(
        !body.contains("connection refused"),
        "internal detail leaked: {body}"
    );
}
