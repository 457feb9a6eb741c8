//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use http::{Method, StatusCode};
use rampart_core::{Identity, Problem, RequestCx, ResponseCx, Stage, Step, Verdict};
use rampart_ratelimit::{ManualClock, RateLimitConfig, RateLimiter};

/// 2026-11-28T04:46:00Z.
pub const T0: u64 = 1_795_841_160_000_000;

/// Polls a future that must be ready at once (the local store never waits).
pub fn now_or_never<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("future was not ready"),
    }
}

pub fn limiter(config: serde_json::Value) -> (Arc<RateLimiter>, Arc<ManualClock>) {
    let config: RateLimitConfig = serde_json::from_value(config).unwrap();
    let policy = config.compile("rate_limit").unwrap();
    let clock = Arc::new(ManualClock::at_micros(T0));
    (Arc::new(RateLimiter::local(policy, clock.clone())), clock)
}

pub fn request(ip: &str, route: &str) -> RequestCx {
    let peer = SocketAddr::new(ip.parse().unwrap(), 40000);
    let mut cx = RequestCx::new("req-1".into(), peer, Method::GET, "/x".into());
    cx.route = Some(route.into());
    cx
}

pub fn with_identity(mut cx: RequestCx, consumer: &str, plan: Option<&str>) -> RequestCx {
    cx.identity = Some(Identity {
        consumer: consumer.into(),
        method: "api_key".into(),
        plan: plan.map(Into::into),
        ..Identity::default()
    });
    cx
}

pub fn run(stage: &dyn Stage, cx: &mut RequestCx) -> Verdict {
    match stage.on_request(cx) {
        Step::Done(v) => v,
        Step::Wait(f) => now_or_never(f),
    }
}

pub fn refused(v: Verdict) -> Problem {
    match v {
        Verdict::Respond(p) => p,
        Verdict::Continue => panic!("expected a refusal"),
    }
}

pub fn header<'a>(p: &'a Problem, name: &str) -> Option<&'a str> {
    p.headers
        .iter()
        .find(|(n, _)| n.as_str() == name)
        .and_then(|(_, v)| v.to_str().ok())
}

pub fn respond(stage: &dyn Stage, cx: &mut RequestCx, response: &mut ResponseCx) {
    match stage.on_response(cx, response) {
        Step::Done(_) => {}
        Step::Wait(f) => {
            now_or_never(f);
        }
    }
}

pub fn ok_response() -> ResponseCx {
    ResponseCx {
        status: StatusCode::OK,
        headers: http::HeaderMap::new(),
        body: None,
        body_truncated: false,
    }
}
