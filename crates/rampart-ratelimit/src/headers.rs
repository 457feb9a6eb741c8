//! Response headers and refusals.
//!
//! Headers follow draft-ietf-httpapi-ratelimit-headers (-08 through -11, which
//! agree on this syntax): both fields are Structured Field Lists whose items are
//! the policy names as Strings.
//!
//! ```text
//! RateLimit-Policy: "per-ip";q=20;w=10, "daily";q=1000;w=86400
//! RateLimit: "per-ip";r=19;t=1, "daily";r=998;t=69845
//! ```
//!
//! `q` is the policy's quota units and `w` its window in seconds. A GCRA limit with
//! burst `b` regaining one unit every `T` is advertised as `q=b; w=b·T`: the same
//! sustained rate, and `r` (remaining) never exceeds `q`; `w` is rounded up to
//! whole seconds, but not for the under-0.1% that rounding `T` up to whole
//! microseconds adds (60 per second stays `w=1`). `t` is the seconds until
//! the policy's units are fully back (a quota: until its calendar reset).
//! Optionally the de-facto `X-RateLimit-Limit/-Remaining/-Reset` carry the
//! strictest policy. A refusal is a `429` problem (`rate-limited`,
//! `quota-exceeded`, `locked-out`, `login-concurrency-limited`) with `Retry-After`.

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderName, HeaderValue};
use rampart_core::{Problem, ProblemType};
use serde_json::Value;

use crate::calendar::{self, Zone};
use crate::clock::MICROS_PER_SEC;
use crate::policy::{HeaderOptions, PolicyInfo};
use crate::store::Outcome;

/// A rate limit refused the request.
pub const RATE_LIMITED: ProblemType = ProblemType::new("rate-limited", 429, "Too Many Requests");
/// A calendar quota is used up.
pub const QUOTA_EXCEEDED: ProblemType = ProblemType::new("quota-exceeded", 429, "Quota Exceeded");
/// The client IP or username is locked after repeated authentication failures.
pub const LOCKED_OUT: ProblemType = ProblemType::new("locked-out", 429, "Too Many Failed Attempts");
/// As many login attempts of this username (or client IP) are in flight, or
/// failed within the lock-out window, as allowed; nothing is locked.
pub const LOGIN_CONCURRENCY_LIMITED: ProblemType = ProblemType::new(
    "login-concurrency-limited",
    429,
    "Too Many Logins In Progress",
);
/// Too many of this client's requests are in flight.
pub const CONCURRENCY_LIMITED: ProblemType =
    ProblemType::new("concurrency-limited", 429, "Too Many Requests In Flight");
/// The shared counter store is unreachable and the limiter fails closed.
pub const RATE_LIMIT_UNAVAILABLE: ProblemType =
    ProblemType::new("rate-limit-unavailable", 503, "Service Unavailable");

/// `RateLimit-Policy`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// `X-RateLimit-Limit`.
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`.
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`.
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// One checked policy and what the store said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportItem {
    /// The policy.
    pub info: PolicyInfo,
    /// Its outcome.
    pub outcome: Outcome,
}

/// Every policy checked for a request, kept in `RequestCx::extensions` for the
/// response headers. Both rate-limit stages append to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitReport {
    /// Items in check order.
    pub items: Vec<ReportItem>,
}

fn secs_ceil(us: u64) -> u64 {
    us.div_ceil(MICROS_PER_SEC)
}

impl RateLimitReport {
    /// The strictest item: a refused one with the longest wait, else the one with
    /// the fewest units left (ties: the longest reset).
    pub fn strictest(&self) -> Option<&ReportItem> {
        let refused = self
            .items
            .iter()
            .filter(|i| !i.outcome.allowed)
            .max_by_key(|i| i.outcome.retry_after_us);
        refused.or_else(|| {
            self.items.iter().min_by(|a, b| {
                a.outcome
                    .remaining
                    .cmp(&b.outcome.remaining)
                    .then(b.outcome.reset_after_us.cmp(&a.outcome.reset_after_us))
            })
        })
    }

    /// Whether every item passed.
    pub fn allowed(&self) -> bool {
        self.items.iter().all(|i| i.outcome.allowed)
    }
}

/// `RateLimit-Policy` and `RateLimit` values for `items`.
pub fn standard_values(items: &[ReportItem]) -> (String, String) {
    let mut policy = String::new();
    let mut state = String::new();
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            policy.push_str(", ");
            state.push_str(", ");
        }
        // Names are validated to [a-z0-9_-]: safe inside an sf-string.
        policy.push_str(&format!(
            "\"{}\";q={};w={}",
            item.info.name, item.info.quota, item.info.window_secs
        ));
        state.push_str(&format!(
            "\"{}\";r={};t={}",
            item.info.name,
            item.outcome.remaining,
            secs_ceil(item.outcome.reset_after_us)
        ));
    }
    (policy, state)
}

/// Adds the configured headers for `items` (appending to any an earlier stage set
/// for its own items; legacy headers are replaced with the strictest of `all`).
pub fn write_headers(
    items: &[ReportItem],
    all: &RateLimitReport,
    opts: HeaderOptions,
    headers: &mut HeaderMap,
) {
    if opts.standard && !items.is_empty() {
        let (policy, state) = standard_values(items);
        if let Ok(v) = HeaderValue::from_str(&policy) {
            headers.append(RATELIMIT_POLICY, v);
        }
        if let Ok(v) = HeaderValue::from_str(&state) {
            headers.append(RATELIMIT, v);
        }
    }
    if opts.legacy
        && let Some(s) = all.strictest()
    {
        headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(s.info.quota));
        headers.insert(
            X_RATELIMIT_REMAINING,
            HeaderValue::from(s.outcome.remaining),
        );
        headers.insert(
            X_RATELIMIT_RESET,
            HeaderValue::from(secs_ceil(s.outcome.reset_after_us)),
        );
    }
}

/// The 429 for a refused report: the strictest refused policy decides the type and
/// `Retry-After`; every checked policy is reported in the headers.
pub fn refusal(report: &RateLimitReport, opts: HeaderOptions, zone: &Zone) -> Problem {
    let Some(decider) = report.strictest() else {
        return Problem::new(RATE_LIMITED);
    };
    let retry = secs_ceil(decider.outcome.retry_after_us).max(1);
    let mut problem = if decider.info.is_quota {
        let reset = decider
            .info
            .reset_at_us
            .map(|at| calendar::rfc3339(at, zone))
            .unwrap_or_default();
        Problem::new(QUOTA_EXCEEDED)
            .with_detail(format!(
                "Quota '{}' is used up; it resets at {reset}.",
                decider.info.name
            ))
            .with_extension("reset", Value::String(reset))
    } else {
        Problem::new(RATE_LIMITED).with_detail(format!(
            "Rate limit '{}' exceeded; retry in {retry} s.",
            decider.info.name
        ))
    };
    problem = problem
        .with_extension("policy", Value::String(decider.info.name.to_string()))
        .with_extension("retry_after", Value::from(retry))
        .with_header(RETRY_AFTER, HeaderValue::from(retry));
    let mut headers = HeaderMap::new();
    write_headers(&report.items, report, opts, &mut headers);
    for (name, value) in &headers {
        problem = problem.with_header(name.clone(), value.clone());
    }
    problem
}

/// The 429 for a locked key, `retry_after_us` from now.
pub fn locked_out(retry_after_us: u64) -> Problem {
    let retry = secs_ceil(retry_after_us).max(1);
    Problem::new(LOCKED_OUT)
        .with_detail("Too many failed authentication attempts; try again later.")
        .with_extension("retry_after", Value::from(retry))
        .with_header(RETRY_AFTER, HeaderValue::from(retry))
}

/// The 429 for a login attempt refused because as many are in flight (or
/// failed) as allowed, though no lock is set: retry in a second, when the
/// attempts in flight have likely been answered.
pub fn too_many_logins() -> Problem {
    Problem::new(LOGIN_CONCURRENCY_LIMITED)
        .with_detail("Too many logins in progress; try again in a moment.")
        .with_extension("retry_after", Value::from(1u64))
        .with_header(RETRY_AFTER, HeaderValue::from(1u64))
}

/// The 429 for too many requests in flight.
pub fn too_many_in_flight(name: &str) -> Problem {
    Problem::new(CONCURRENCY_LIMITED)
        .with_detail(format!("Too many concurrent requests under '{name}'."))
        .with_header(RETRY_AFTER, HeaderValue::from(1u64))
}

/// The 503 when the counter store is down and the limiter fails closed.
pub fn unavailable() -> Problem {
    Problem::new(RATE_LIMIT_UNAVAILABLE).with_header(RETRY_AFTER, HeaderValue::from(1u64))
}
