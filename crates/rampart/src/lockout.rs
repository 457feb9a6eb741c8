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
//! Login attempts (operations marked `auth_endpoint`) reserve their failure when
//! they start ([`rampart_ratelimit::Lockout::reserve`]): parallel guesses cannot
//! all pass before the first 401 comes back. The reservation rides in the
//! request's extensions ([`Held`]) and is settled once: confirmed by a counted
//! 401 (the authentication stage's or the upstream's), refunded by any other
//! answer, and refunded when dropped unsettled: the request ended without
//! reaching the upstream's response (a later stage refused it, the upstream
//! failed or timed out, the client went away and the request was dropped).
//!
//! The username of a login comes from the OpenAPI route stage, which reads it from
//! the body of operations configured with a `username_field` and leaves a
//! [`LoginIdentifier`] in the request's extensions (it runs in an earlier phase).
//! A credential-stuffing run against one user from many IPs thus locks that user;
//! the lock-out hashes the name before it becomes a key and never logs it.

use std::sync::Arc;

use parking_lot::Mutex;
use rampart_core::{Phase, RequestCx, ResponseCx, ResponsePhase, Stage, Step, Verdict};
use rampart_openapi::{LoginIdentifier, LoginOperation};
use rampart_ratelimit::lockout::{Reservation, Reserved};
use rampart_ratelimit::{RateLimiter, StoreReply, UpstreamFailures};

/// The login identifier the OpenAPI stage found in this request, if any.
fn username(cx: &RequestCx) -> Option<String> {
    cx.extensions
        .get::<LoginIdentifier>()
        .map(|id| id.0.clone())
}

/// A login attempt's reservation, in the request's extensions until settled.
/// Extensions must be `Clone`: the clones share one reservation, settled once.
#[derive(Clone)]
struct Held(Arc<HeldInner>);

struct HeldInner {
    limiter: Arc<RateLimiter>,
    reservation: Mutex<Option<Reservation>>,
}

impl Drop for HeldInner {
    /// Never settled: the request ended without an answer that says whether the
    /// attempt failed, so it is given back (a legitimate login must not leave a
    /// failure behind because, say, the client closed the connection early).
    fn drop(&mut self) {
        let Some(reservation) = self.reservation.get_mut().take() else {
            return;
        };
        give_back(&self.limiter, reservation);
    }
}

/// Refunds `reservation` without waiting: a local store refunds at once; a
/// remote one (Redis) acts only when polled, so that reply is dropped unpolled
/// and the refund runs as a task (its errors were ignored anyway, and a
/// successful login's answer must not wait on a round trip).
fn give_back(limiter: &Arc<RateLimiter>, reservation: Reservation) {
    let Some(lockout) = limiter.lockout() else {
        return;
    };
    if let StoreReply::Ready(_) = lockout.refund_reply(&reservation) {
        return;
    }
    let limiter = limiter.clone();
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                if let Some(lockout) = limiter.lockout() {
                    let _ = lockout.refund(reservation).await;
                }
            });
        }
        // No runtime (shutting down): the units stay charged until the
        // window forgives them.
        Err(_) => {
            tracing::debug!(target: "rampart::ratelimit", "lock-out reservation not refunded: no runtime");
        }
    }
}

/// Takes this request's reservation out of its extensions, to settle it.
fn take_reservation(cx: &mut RequestCx) -> Option<Reservation> {
    cx.extensions
        .remove::<Held>()
        .and_then(|held| held.0.reservation.lock().take())
}

/// Counts a failure of this request: confirms its reservation, or records one
/// when it holds none (not a login attempt, or the store failed at its start).
async fn count_failure(limiter: &RateLimiter, cx: &mut RequestCx) {
    let Some(lockout) = limiter.lockout() else {
        return;
    };
    // Store errors are ignored: the rate limits still hold, and a store that
    // is down must not turn into a lock-out of everyone.
    let _ = match take_reservation(cx) {
        Some(reservation) => lockout.confirm(reservation).await,
        None => {
            let user = username(cx);
            lockout.record_failure(cx.client_ip, user.as_deref()).await
        }
    };
}

/// Gives this request's reservation back, if it holds one, without waiting.
fn refund(limiter: &Arc<RateLimiter>, cx: &mut RequestCx) {
    if let Some(reservation) = take_reservation(cx) {
        give_back(limiter, reservation);
    }
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
        if !is_login(cx) {
            return Step::Wait(Box::pin(async move {
                match lockout.check(ip, user.as_deref()).await {
                    Ok(Some(problem)) => Verdict::Respond(problem),
                    // A store failure must not lock everyone out; the rate limits still hold.
                    Ok(None) | Err(_) => Verdict::Continue,
                }
            }));
        }
        Step::Wait(Box::pin(async move {
            match lockout.reserve(ip, user.as_deref()).await {
                Ok(Reserved::Held(reservation)) => {
                    cx.extensions.insert(Held(Arc::new(HeldInner {
                        limiter: self.limiter.clone(),
                        reservation: Mutex::new(Some(reservation)),
                    })));
                    Verdict::Continue
                }
                Ok(Reserved::Refused(problem)) => Verdict::Respond(problem),
                // As above: no reservation; a failure is then recorded when it
                // comes back.
                Ok(Reserved::Untracked) | Err(_) => Verdict::Continue,
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
        let failed = counted && response.status == http::StatusCode::UNAUTHORIZED;
        if !failed {
            // The login did not fail: its reserved unit goes back, and the
            // answer does not wait for that.
            refund(&self.limiter, cx);
            return Step::CONTINUE;
        }
        Step::Wait(Box::pin(async move {
            count_failure(&self.limiter, cx).await;
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
            if let Verdict::Respond(problem) = &verdict {
                if is_guess(cx, problem) {
                    count_failure(&self.limiter, cx).await;
                } else {
                    // Refused, but not a guess: a login attempt's reserved
                    // failure goes back now (not only when the request ends).
                    refund(&self.limiter, cx);
                }
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
            // An issuer without `kid` rotating its keys: no key was tried.
            "jwt-kid-required",
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

    /// A login attempt for `user` from `ip`, as the route stage marks it.
    fn login(ip: &str, user: &str) -> RequestCx {
        let mut cx = RequestCx::new(
            "r".into(),
            format!("{ip}:1000").parse().unwrap(),
            http::Method::POST,
            "/login".into(),
        );
        cx.extensions.insert(LoginOperation);
        cx.extensions.insert(LoginIdentifier(user.into()));
        cx
    }

    fn three_failures() -> Arc<RateLimiter> {
        limiter_with(serde_json::json!({"max_failures": 3, "window": "5m", "lock_for": "15m"}))
    }

    fn is_locked_out(verdict: &Verdict) -> bool {
        matches!(verdict, Verdict::Respond(p) if p.kind.slug == "locked-out")
    }

    #[tokio::test]
    async fn parallel_guesses_for_one_user_reach_the_upstream_at_most_max_failures_times() {
        let stage = Arc::new(LockoutStage::new(three_failures()));
        let reached = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // Credential stuffing: twelve guesses at once for one user, each from
        // its own address, against an upstream that takes a while to say 401.
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let (stage, reached) = (stage.clone(), reached.clone());
                tokio::spawn(async move {
                    let mut cx = login(&format!("198.51.100.{i}"), "victim");
                    let verdict = stage.on_request(&mut cx).resolve().await;
                    if verdict == Verdict::Continue {
                        reached.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        stage
                            .on_response(&mut cx, &mut response(401))
                            .resolve()
                            .await;
                    }
                    verdict
                })
            })
            .collect();
        let mut refused = 0;
        for task in tasks {
            // Nobody had failed yet: the waiting guesses are told to retry.
            if matches!(task.await.unwrap(), Verdict::Respond(p) if p.kind.slug == "login-concurrency-limited")
            {
                refused += 1;
            }
        }
        assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(refused, 9);
        // And the user is locked now, from anywhere.
        let verdict = stage
            .on_request(&mut login("192.0.2.1", "victim"))
            .resolve()
            .await;
        assert!(is_locked_out(&verdict));
    }

    #[tokio::test]
    async fn colleagues_behind_one_address_log_in_at_once() {
        let stage = Arc::new(LockoutStage::new(three_failures()));
        // Four users (max_failures is 3) log in at the same moment from one
        // office address, against an upstream that takes a while to say 200.
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let stage = stage.clone();
                tokio::spawn(async move {
                    let mut cx = login("192.0.2.80", &format!("user{i}"));
                    let verdict = stage.on_request(&mut cx).resolve().await;
                    if verdict == Verdict::Continue {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        stage
                            .on_response(&mut cx, &mut response(200))
                            .resolve()
                            .await;
                    }
                    verdict
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Verdict::Continue);
        }
    }

    #[tokio::test]
    async fn successful_logins_never_accumulate_failures() {
        let stage = LockoutStage::new(three_failures());
        for _ in 0..9 {
            assert_eq!(
                upstream_answers(&stage, login("192.0.2.1", "alice"), 200).await,
                Verdict::Continue
            );
        }
        // Two failures, then successes: the third attempt is still allowed.
        for _ in 0..2 {
            upstream_answers(&stage, login("192.0.2.1", "alice"), 401).await;
        }
        for _ in 0..9 {
            assert_eq!(
                upstream_answers(&stage, login("192.0.2.1", "alice"), 200).await,
                Verdict::Continue
            );
        }
        upstream_answers(&stage, login("192.0.2.1", "alice"), 401).await;
        let verdict = upstream_answers(&stage, login("192.0.2.1", "alice"), 200).await;
        assert!(is_locked_out(&verdict), "the third failure locks");
    }

    #[tokio::test]
    async fn attempts_that_end_without_an_answer_give_their_failure_back() {
        let limiter = three_failures();
        let stage = LockoutStage::new(limiter.clone());
        // Refused by a later stage (not 401), the upstream down, the client
        // gone: the request is dropped with its reservation.
        for _ in 0..9 {
            let mut cx = login("192.0.2.1", "alice");
            assert_eq!(stage.on_request(&mut cx).resolve().await, Verdict::Continue);
            drop(cx);
        }
        // A correctly signed but expired token on the login operation: refused,
        // not a guess, given back at once.
        let expired = CountFailures::new(Arc::new(RefusesBecause("jwt-expired")), limiter.clone());
        for _ in 0..9 {
            let mut cx = login("192.0.2.1", "alice");
            assert_eq!(stage.on_request(&mut cx).resolve().await, Verdict::Continue);
            expired.on_request(&mut cx).resolve().await;
            assert!(cx.extensions.get::<Held>().is_none(), "settled");
        }
        // A forged one counts once (its reservation, not a second failure):
        // two leave the third attempt allowed.
        let forged = CountFailures::new(
            Arc::new(RefusesBecause("jwt-bad-signature")),
            limiter.clone(),
        );
        for _ in 0..2 {
            let mut cx = login("192.0.2.1", "alice");
            assert_eq!(stage.on_request(&mut cx).resolve().await, Verdict::Continue);
            forged.on_request(&mut cx).resolve().await;
        }
        let mut cx = login("192.0.2.1", "alice");
        assert_eq!(stage.on_request(&mut cx).resolve().await, Verdict::Continue);
        forged.on_request(&mut cx).resolve().await;
        let verdict = stage
            .on_request(&mut login("192.0.2.2", "alice"))
            .resolve()
            .await;
        assert!(is_locked_out(&verdict));
    }

    /// A store that answers through a future, as Redis does.
    struct Remote(LocalStore);

    impl rampart_ratelimit::CounterStore for Remote {
        fn apply(&self, now_us: u64, ops: Vec<rampart_ratelimit::Op>) -> StoreReply<'_> {
            StoreReply::Pending(Box::pin(async move { Ok(self.0.apply_now(now_us, &ops)) }))
        }

        fn refund(&self, now_us: u64, ops: Vec<rampart_ratelimit::Op>) -> StoreReply<'_> {
            StoreReply::Pending(Box::pin(async move {
                self.0.refund_now(now_us, &ops);
                Ok(Vec::new())
            }))
        }
    }

    #[tokio::test]
    async fn a_dropped_reservation_on_a_remote_store_is_refunded_by_a_task() {
        let config: RateLimitConfig = serde_json::from_value(serde_json::json!({
            "lockout": {"max_failures": 2, "window": "5m", "lock_for": "15m", "per_ip": false}
        }))
        .unwrap();
        let limiter = Arc::new(RateLimiter::new(
            config.compile("rate_limit").unwrap(),
            Arc::new(Remote(LocalStore::new(1024, 8))),
            Arc::new(SystemClock),
        ));
        let stage = LockoutStage::new(limiter);
        for _ in 0..6 {
            let mut cx = login("192.0.2.1", "alice");
            assert_eq!(stage.on_request(&mut cx).resolve().await, Verdict::Continue);
            drop(cx);
            // The refund runs on the runtime.
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        }
        // A successful login's answer does not wait for the refund's round
        // trip: the hook is done at once, and the refund runs as a task.
        for _ in 0..6 {
            let mut cx = login("192.0.2.1", "alice");
            assert_eq!(stage.on_request(&mut cx).resolve().await, Verdict::Continue);
            assert!(matches!(
                stage.on_response(&mut cx, &mut response(200)),
                Step::Done(Verdict::Continue)
            ));
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        }
    }
}
