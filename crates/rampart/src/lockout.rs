//! Glue between authentication and the rate limiter's lock-out: repeated
//! authentication failures from one client IP, or for one username, lock it out
//! for a while.
//!
//! Two sources of failures: Rampart's own authentication stage refusing a
//! credential as a guess ([`CountFailures`] wraps it; which refusals are guesses is
//! decided in `rampart_authn::refusal`: a bad signature is, an expired but
//! correctly signed token is not), and the upstream answering 401 on a login
//! operation (`auth_endpoint: true`), or on any route with `upstream_failures:
//! every_route` ([`LockoutStage`] sees the response). Locked clients get 429
//! `locked-out` before any credential is looked at.
//!
//! The username of a login comes from the OpenAPI route stage, which reads it from
//! the body of operations configured with a `username_field` and leaves a
//! [`LoginIdentifier`] in the request's extensions (it runs in an earlier phase).
//! A credential-stuffing run against one user from many IPs thus locks that user;
//! the lock-out hashes the name before it becomes a key and never logs it.

use std::sync::Arc;

use rampart_core::{Phase, RequestCx, ResponseCx, ResponsePhase, Stage, Step, Verdict};
use rampart_openapi::{LoginIdentifier, LoginOperation};
use rampart_ratelimit::{RateLimiter, UpstreamFailures};

/// The login identifier the OpenAPI stage found in this request, if any.
fn username(cx: &RequestCx) -> Option<String> {
    cx.extensions
        .get::<LoginIdentifier>()
        .map(|id| id.0.clone())
}

/// Whether the route stage marked this request as a login attempt.
fn is_login(cx: &RequestCx) -> bool {
    cx.extensions.get::<LoginOperation>().is_some()
}

/// Whether an authentication stage's refusal counts as a failure: a 401 for a
/// credential that looks guessed or forged. A credential checked and found
/// genuine but expired or revoked is not a guess, nor is none at all (otherwise
/// anyone behind the same NAT or /64 could lock the others out by sending
/// requests without one). Without the authentication stage's reason (another
/// stage refused), every 401 but a missing credential counts.
fn is_guess(cx: &RequestCx, problem: &rampart_core::Problem) -> bool {
    problem.kind.status == 401
        && match cx.extensions.get::<rampart_authn::AuthnRefusal>() {
            Some(refusal) => refusal.is_guess(),
            None => problem.kind.slug != rampart_authn::problem::MISSING_CREDENTIAL.slug,
        }
}

/// Refuses locked-out clients; counts upstream 401s of login operations (or of
/// every route, as configured) as failures.
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
        let Some(lockout) = self.limiter.lockout() else {
            return Step::CONTINUE;
        };
        // Elsewhere than on a login a 401 is mostly an expired session, unless
        // the upstream authenticates every request itself.
        let counted = match lockout.policy().upstream_failures {
            UpstreamFailures::LoginOperations => is_login(cx),
            UpstreamFailures::EveryRoute => true,
        };
        if !counted || response.status != http::StatusCode::UNAUTHORIZED {
            return Step::CONTINUE;
        }
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
        Step::Wait(Box::pin(async move {
            let verdict = self.inner.on_request(cx).resolve().await;
            if let (Verdict::Respond(problem), Some(lockout)) = (&verdict, self.limiter.lockout())
                && is_guess(cx, problem)
            {
                let user = username(cx);
                let _ = lockout.record_failure(cx.client_ip, user.as_deref()).await;
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

    /// As the authentication stage refuses: 401 `invalid_token`, its reason left
    /// in the extensions.
    struct RefusesBecause(&'static str);

    impl Stage for RefusesBecause {
        fn name(&self) -> &'static str {
            "authn"
        }
        fn phase(&self) -> Phase {
            Phase::Authentication
        }
        fn on_request<'a>(&'a self, cx: &'a mut RequestCx) -> Step<'a> {
            cx.extensions
                .insert(rampart_authn::AuthnRefusal { reason: self.0 });
            Step::Done(Verdict::Respond(rampart_authn::problem::invalid_token()))
        }
    }

    fn limiter_with(lockout: serde_json::Value) -> Arc<RateLimiter> {
        let config: RateLimitConfig =
            serde_json::from_value(serde_json::json!({ "lockout": lockout })).unwrap();
        Arc::new(RateLimiter::new(
            config.compile("rate_limit").unwrap(),
            Arc::new(LocalStore::new(1024, 8)),
            Arc::new(SystemClock),
        ))
    }

    fn response(status: u16) -> ResponseCx {
        ResponseCx {
            status: http::StatusCode::from_u16(status).unwrap(),
            headers: http::HeaderMap::new(),
            body: None,
            body_truncated: false,
        }
    }

    /// The request through the lock-out stage, an upstream answering `status`,
    /// and the stage's response hook.
    async fn upstream_answers(stage: &LockoutStage, mut cx: RequestCx, status: u16) -> Verdict {
        let verdict = stage.on_request(&mut cx).resolve().await;
        if verdict == Verdict::Continue {
            stage
                .on_response(&mut cx, &mut response(status))
                .resolve()
                .await;
        }
        verdict
    }

    fn login_request() -> RequestCx {
        let mut cx = request();
        cx.extensions.insert(LoginOperation);
        cx
    }

    #[tokio::test]
    async fn expired_or_revoked_tokens_never_lock_and_forged_ones_do() {
        let limiter =
            limiter_with(serde_json::json!({"max_failures": 2, "window": "5m", "lock_for": "1m"}));
        let lockout = limiter.lockout().unwrap();
        let ip = request().client_ip;
        // An SPA whose token expired fires its parallel calls, again and again.
        for reason in [
            "jwt-expired",
            "jwt-revoked",
            "jwt-not-yet-valid",
            "introspection-expired",
        ] {
            let stage = CountFailures::new(Arc::new(RefusesBecause(reason)), limiter.clone());
            for _ in 0..6 {
                let verdict = stage.on_request(&mut request()).resolve().await;
                assert!(matches!(verdict, Verdict::Respond(p) if p.kind.status == 401));
            }
        }
        assert!(lockout.check(ip, None).await.unwrap().is_none());
        // Forged signatures: two lock.
        let forged = CountFailures::new(
            Arc::new(RefusesBecause("jwt-bad-signature")),
            limiter.clone(),
        );
        for _ in 0..2 {
            forged.on_request(&mut request()).resolve().await;
        }
        assert!(lockout.check(ip, None).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn upstream_401s_count_on_login_operations_only_by_default() {
        let limiter =
            limiter_with(serde_json::json!({"max_failures": 2, "window": "5m", "lock_for": "1m"}));
        let stage = LockoutStage::new(limiter.clone());
        let ip = request().client_ip;
        // A session expired: the upstream answers 401 on ordinary routes.
        for _ in 0..5 {
            assert_eq!(
                upstream_answers(&stage, request(), 401).await,
                Verdict::Continue
            );
        }
        assert!(
            limiter
                .lockout()
                .unwrap()
                .check(ip, None)
                .await
                .unwrap()
                .is_none()
        );
        // Failed logins count.
        for _ in 0..2 {
            assert_eq!(
                upstream_answers(&stage, login_request(), 401).await,
                Verdict::Continue
            );
        }
        let refused = upstream_answers(&stage, request(), 200).await;
        assert!(matches!(refused, Verdict::Respond(p) if p.kind.slug == "locked-out"));
    }

    #[tokio::test]
    async fn every_route_counts_upstream_401s_anywhere() {
        let limiter = limiter_with(
            serde_json::json!({"max_failures": 2, "window": "5m", "lock_for": "1m",
                                                      "upstream_failures": "every_route"}),
        );
        let stage = LockoutStage::new(limiter.clone());
        for _ in 0..2 {
            assert_eq!(
                upstream_answers(&stage, request(), 401).await,
                Verdict::Continue
            );
        }
        let refused = upstream_answers(&stage, request(), 200).await;
        assert!(matches!(refused, Verdict::Respond(p) if p.kind.slug == "locked-out"));
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
