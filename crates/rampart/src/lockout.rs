//! Glue between authentication and the rate limiter's lock-out: repeated
//! authentication failures from one client IP, or for one username, lock it out
//! for a while.
//!
//! Two sources of failures: Rampart's own authentication stage refusing a
//! credential ([`CountFailures`] wraps it), and the upstream answering 401 (a login
//! endpoint behind Rampart; [`LockoutStage`] sees the response). Locked clients get
//! 429 `locked-out` before any credential is looked at.
//!
//! The username of a login comes from the OpenAPI route stage, which reads it from
//! the body of operations configured with a `username_field` and leaves a
//! [`LoginIdentifier`] in the request's extensions (it runs in an earlier phase).
//! A credential-stuffing run against one user from many IPs thus locks that user;
//! the lock-out hashes the name before it becomes a key and never logs it.

use std::sync::Arc;

use rampart_core::{Phase, RequestCx, ResponseCx, ResponsePhase, Stage, Step, Verdict};
use rampart_openapi::LoginIdentifier;
use rampart_ratelimit::RateLimiter;

/// The login identifier the OpenAPI stage found in this request, if any.
fn username(cx: &RequestCx) -> Option<String> {
    cx.extensions
        .get::<LoginIdentifier>()
        .map(|id| id.0.clone())
}

/// Refuses locked-out clients; counts upstream 401s as failures.
pub struct LockoutStage {
    limiter: Arc<RateLimiter>,
}

impl LockoutStage {
    /// A stage over the API's limiter (which has a lock-out policy).
    pub fn new(limiter: Arc<RateLimiter>) -> Self {
        Self { limiter }
    }
}

impl Stage for LockoutStage {
    fn name(&self) -> &'static str {
        "lockout"
    }

    fn phase(&self) -> Phase {
        Phase::PreAuthRateLimit
    }

    fn on_request<'a>(&'a self, cx: &'a mut RequestCx) -> Step<'a> {
        let Some(lockout) = self.limiter.lockout() else {
            return Step::CONTINUE;
        };
        let ip = cx.client_ip;
        let user = username(cx);
        Step::Wait(Box::pin(async move {
            match lockout.check(ip, user.as_deref()).await {
                Ok(Some(problem)) => Verdict::Respond(problem),
                // A store failure must not lock everyone out; the rate limits still hold.
                Ok(None) | Err(_) => Verdict::Continue,
            }
        }))
    }

    fn response_phase(&self) -> ResponsePhase {
        // Before error masking turns the upstream's 401 into a uniform problem.
        ResponsePhase::Observe
    }

    fn on_response<'a>(&'a self, cx: &'a mut RequestCx, response: &'a mut ResponseCx) -> Step<'a> {
        let (Some(lockout), true) = (
            self.limiter.lockout(),
            response.status == http::StatusCode::UNAUTHORIZED,
        ) else {
            return Step::CONTINUE;
        };
        let ip = cx.client_ip;
        let user = username(cx);
        Step::Wait(Box::pin(async move {
            let _ = lockout.record_failure(ip, user.as_deref()).await;
            Verdict::Continue
        }))
    }
}

/// Wraps an authentication stage: its 401 refusals count as failures.
pub struct CountFailures {
    inner: Arc<dyn Stage>,
    limiter: Arc<RateLimiter>,
}

impl CountFailures {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Stage>, limiter: Arc<RateLimiter>) -> Self {
        Self { inner, limiter }
    }
}

impl Stage for CountFailures {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn phase(&self) -> Phase {
        self.inner.phase()
    }

    fn request_body_limit(&self, cx: &RequestCx) -> Option<usize> {
        self.inner.request_body_limit(cx)
    }

    fn on_request<'a>(&'a self, cx: &'a mut RequestCx) -> Step<'a> {
        let ip = cx.client_ip;
        let user = username(cx);
        let inner = self.inner.on_request(cx);
        Step::Wait(Box::pin(async move {
            let verdict = inner.resolve().await;
            // A credential checked and refused counts; none at all does not
            // (otherwise anyone behind the same NAT or /64 could lock the
            // others out by sending requests without one).
            if let (Verdict::Respond(problem), Some(lockout)) = (&verdict, self.limiter.lockout())
                && problem.kind.status == 401
                && problem.kind.slug != rampart_authn::problem::MISSING_CREDENTIAL.slug
            {
                let _ = lockout.record_failure(ip, user.as_deref()).await;
            }
            verdict
        }))
    }

    fn response_phase(&self) -> ResponsePhase {
        self.inner.response_phase()
    }

    fn wants_response_body(&self, cx: &RequestCx, response: &ResponseCx) -> bool {
        self.inner.wants_response_body(cx, response)
    }

    fn inspects_response_body_prefix(&self) -> bool {
        self.inner.inspects_response_body_prefix()
    }

    fn on_response<'a>(&'a self, cx: &'a mut RequestCx, response: &'a mut ResponseCx) -> Step<'a> {
        self.inner.on_response(cx, response)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use rampart_core::Problem;
    use rampart_ratelimit::{LocalStore, RateLimitConfig, SystemClock};

    /// An authentication stage that refuses every request with `problem`.
    struct Refuses(Problem);

    impl Stage for Refuses {
        fn name(&self) -> &'static str {
            "authn"
        }
        fn phase(&self) -> Phase {
            Phase::Authentication
        }
        fn on_request<'a>(&'a self, _cx: &'a mut RequestCx) -> Step<'a> {
            Step::Done(Verdict::Respond(self.0.clone()))
        }
    }

    fn request() -> RequestCx {
        RequestCx::new(
            "r".into(),
            "203.0.113.9:1000".parse().unwrap(),
            http::Method::GET,
            "/".into(),
        )
    }

    #[tokio::test]
    async fn refused_credentials_count_and_missing_ones_do_not() {
        let config: RateLimitConfig = serde_json::from_value(serde_json::json!({
            "lockout": {"max_failures": 2, "window": "5m", "lock_for": "1m"}
        }))
        .unwrap();
        let limiter = Arc::new(RateLimiter::new(
            config.compile("rate_limit").unwrap(),
            Arc::new(LocalStore::new(1024, 8)),
            Arc::new(SystemClock),
        ));
        let ip = request().client_ip;
        let lockout = limiter.lockout().unwrap();
        // No credential at all, many times: nobody behind this address is locked.
        let missing = CountFailures::new(
            Arc::new(Refuses(rampart_authn::problem::missing_credential())),
            limiter.clone(),
        );
        for _ in 0..5 {
            missing.on_request(&mut request()).resolve().await;
        }
        assert!(lockout.check(ip, None).await.unwrap().is_none());
        // A credential checked and refused, twice: locked.
        let invalid = CountFailures::new(
            Arc::new(Refuses(rampart_authn::problem::invalid_token())),
            limiter.clone(),
        );
        for _ in 0..2 {
            invalid.on_request(&mut request()).resolve().await;
        }
        assert!(lockout.check(ip, None).await.unwrap().is_some());
    }
}
