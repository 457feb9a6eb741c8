//! The two `Stage`s the gateway registers.
//!
//! - [`PreAuthRateLimitStage`] at `Phase::PreAuthRateLimit`: the client IP's
//!   lock-out and the `pre_auth` limits (IP, route, global, header), before any
//!   credential is looked at.
//! - [`ConsumerRateLimitStage`] at `Phase::ConsumerRateLimit`: the in-flight
//!   limits, then the consumer's plan limits and quotas (so a request refused for
//!   concurrency is not charged; a request refused by a limit gives its permits back).
//!
//! Each stores what it checked in `cx.extensions` and adds the rate-limit headers
//! in `on_response`. In-flight permits are kept in `cx.extensions` too and are
//! released when the gateway drops the request context.

use std::sync::Arc;

use rampart_core::{Phase, RequestCx, ResponseCx, Stage, Step, Verdict};

use crate::concurrency::Permit;
use crate::headers::{self, RateLimitReport};
use crate::key::Facts;
use crate::limiter::{Batch, Checked, RateLimiter, Scope};
use crate::store::{StoreReply, StoreResult};

/// What the pre-auth stage checked.
#[derive(Debug, Clone, Default)]
pub struct PreAuthReport(pub RateLimitReport);

/// What the consumer stage checked.
#[derive(Debug, Clone, Default)]
pub struct ConsumerReport(pub RateLimitReport);

/// In-flight permits held for the request; dropping the last clone releases them.
#[derive(Debug, Clone)]
pub struct InFlightPermits(pub Arc<Vec<Permit>>);

fn merged(cx: &RequestCx) -> RateLimitReport {
    let mut all = RateLimitReport::default();
    if let Some(r) = cx.extensions.get::<PreAuthReport>() {
        all.items.extend(r.0.items.iter().cloned());
    }
    if let Some(r) = cx.extensions.get::<ConsumerReport>() {
        all.items.extend(r.0.items.iter().cloned());
    }
    all
}

/// Runs a batch through the store; synchronous stores never allocate a future.
fn run<'a>(
    limiter: &'a RateLimiter,
    mut batch: Batch,
    done: impl FnOnce(Checked) -> Verdict + Send + 'a,
) -> Step<'a> {
    let ops = std::mem::take(&mut batch.ops);
    let now = batch.now_us;
    let finish = move |result: StoreResult| done(batch.finish(result, limiter.policy()));
    match limiter.store().apply(now, ops) {
        StoreReply::Ready(result) => Step::Done(finish(result)),
        StoreReply::Pending(future) => Step::Wait(Box::pin(async move { finish(future.await) })),
    }
}

/// Pre-authentication limits: per IP, per route, global; IP lock-out.
#[derive(Debug, Clone)]
pub struct PreAuthRateLimitStage {
    limiter: Arc<RateLimiter>,
}

impl PreAuthRateLimitStage {
    /// A stage over a shared engine.
    pub fn new(limiter: Arc<RateLimiter>) -> Self {
        Self { limiter }
    }
}

impl Stage for PreAuthRateLimitStage {
    fn name(&self) -> &'static str {
        "rate-limit-pre-auth"
    }

    fn phase(&self) -> Phase {
        Phase::PreAuthRateLimit
    }

    fn on_request<'a>(&'a self, cx: &'a mut RequestCx) -> Step<'a> {
        let batch = self.limiter.prepare(Scope::PreAuth, &Facts::of(cx));
        if batch.is_empty() {
            return Step::CONTINUE;
        }
        run(&self.limiter, batch, move |checked| match checked {
            Checked::Allowed(report) => {
                cx.extensions.insert(PreAuthReport(report));
                Verdict::Continue
            }
            Checked::Refused(problem) => Verdict::Respond(problem),
        })
    }

    fn on_response<'a>(&'a self, cx: &'a mut RequestCx, response: &'a mut ResponseCx) -> Step<'a> {
        if let Some(mine) = cx.extensions.get::<PreAuthReport>() {
            let all = merged(cx);
            headers::write_headers(
                &mine.0.items,
                &all,
                self.limiter.policy().headers,
                &mut response.headers,
            );
        }
        Step::CONTINUE
    }
}

/// Consumer limits: plan rate limits, quotas, in-flight limits.
#[derive(Debug, Clone)]
pub struct ConsumerRateLimitStage {
    limiter: Arc<RateLimiter>,
}

impl ConsumerRateLimitStage {
    /// A stage over a shared engine.
    pub fn new(limiter: Arc<RateLimiter>) -> Self {
        Self { limiter }
    }
}

impl Stage for ConsumerRateLimitStage {
    fn name(&self) -> &'static str {
        "rate-limit-consumer"
    }

    fn phase(&self) -> Phase {
        Phase::ConsumerRateLimit
    }

    fn on_request<'a>(&'a self, cx: &'a mut RequestCx) -> Step<'a> {
        // Permits first: a request refused for concurrency must not be charged
        // to the limits and quotas (refused requests are free, see `store`).
        let permits = match self.limiter.acquire_in_flight(&Facts::of(cx)) {
            Ok(permits) => permits,
            Err(name) => return Step::Done(Verdict::Respond(headers::too_many_in_flight(&name))),
        };
        let batch = self.limiter.prepare(Scope::Consumer, &Facts::of(cx));
        // Dropping `permits` on a refusal releases them.
        let after = move |cx: &mut RequestCx, report: RateLimitReport| -> Verdict {
            if !report.items.is_empty() {
                cx.extensions.insert(ConsumerReport(report));
            }
            if !permits.is_empty() {
                cx.extensions.insert(InFlightPermits(Arc::new(permits)));
            }
            Verdict::Continue
        };
        if batch.is_empty() {
            return Step::Done(after(cx, RateLimitReport::default()));
        }
        run(&self.limiter, batch, move |checked| match checked {
            Checked::Allowed(report) => after(cx, report),
            Checked::Refused(problem) => Verdict::Respond(problem),
        })
    }

    fn on_response<'a>(&'a self, cx: &'a mut RequestCx, response: &'a mut ResponseCx) -> Step<'a> {
        if let Some(mine) = cx.extensions.get::<ConsumerReport>() {
            let all = merged(cx);
            headers::write_headers(
                &mine.0.items,
                &all,
                self.limiter.policy().headers,
                &mut response.headers,
            );
        }
        Step::CONTINUE
    }
}
