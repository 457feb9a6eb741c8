//! The compiled policy: validated limits, plans and quotas, and how they become
//! the [`Op`]s of one request.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::calendar::{self, Period, Zone};
use crate::clock::MICROS_PER_SEC;
use crate::key::{Facts, KeyKind};
use crate::store::{Algorithm, Op};

/// A GCRA limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// Policy name (as the headers and problems show it).
    pub name: Arc<str>,
    /// The name its counters are stored under: the policy name, or
    /// `<plan>.<name>` for a plan's limit, so that plans using one name never
    /// share a counter (a plan's limit counting by route or header would
    /// otherwise be charged at another plan's rate). `.` is never in a name.
    pub counter: Arc<str>,
    /// What it counts by.
    pub key: KeyKind,
    /// µs per request (period / rate, rounded up).
    pub emission_us: u64,
    /// Requests that may pass at once.
    pub burst: u64,
    /// Routes it applies to; empty: all.
    pub routes: Vec<String>,
}

/// A calendar quota per consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// Quota name.
    pub name: Arc<str>,
    /// Requests per period.
    pub limit: u64,
    /// Day or month.
    pub period: Period,
}

/// A named plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Plan name.
    pub name: String,
    /// Its rate limits.
    pub limits: Vec<Limit>,
    /// Its quotas.
    pub quotas: Vec<Quota>,
}

/// Lock-out after authentication failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures within `window_us` that lock the key.
    pub max_failures: u64,
    /// Failure counting window, µs.
    pub window_us: u64,
    /// Lock duration, µs.
    pub lock_us: u64,
    /// Count per client IP.
    pub per_ip: bool,
    /// Count per username.
    pub per_username: bool,
    /// Which upstream 401s are failures.
    pub upstream_failures: UpstreamFailures,
}

/// Which 401 answers of the upstream count as authentication failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamFailures {
    /// Only on login operations (`auth_endpoint: true` in the API's `openapi`
    /// section): elsewhere a 401 is mostly an expired session or token, and
    /// counting it would lock out its client's address for every route.
    #[default]
    LoginOperations,
    /// On every route: for upstreams that check a password on every request
    /// themselves (HTTP basic authentication).
    EveryRoute,
}

/// A limit on requests in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcurrencyLimit {
    /// Limit name.
    pub name: String,
    /// What it counts by.
    pub key: KeyKind,
    /// Requests in flight allowed per key.
    pub max_in_flight: u32,
    /// Routes it applies to; empty: all.
    pub routes: Vec<String>,
}

/// Which headers responses carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderOptions {
    /// `RateLimit-Policy` and `RateLimit`.
    pub standard: bool,
    /// `X-RateLimit-*`.
    pub legacy: bool,
}

/// A validated rate-limit policy (see [`crate::RateLimitConfig::compile`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Limits checked before authentication.
    pub pre_auth: Vec<Limit>,
    /// Plans by name.
    pub plans: BTreeMap<String, Plan>,
    /// Plan of consumers with no or an unknown plan.
    pub default_plan: Option<String>,
    /// Claim naming the plan when the identity has none.
    pub plan_claim: Option<String>,
    /// Where quota days and months begin.
    pub zone: Zone,
    /// Lock-out, if configured.
    pub lockout: Option<LockoutPolicy>,
    /// Concurrency limits.
    pub concurrency: Vec<ConcurrencyLimit>,
    /// Header options.
    pub headers: HeaderOptions,
    /// Local store bound.
    pub local_max_keys: usize,
    /// Local store shards.
    pub local_shards: usize,
}

impl Policy {
    /// The plan for a consumer: the one its identity names (key metadata), else
    /// the one its `plan_claim` names, else the default. Unknown names fall through.
    pub fn plan_for(&self, identity: &rampart_core::Identity) -> Option<&Plan> {
        let from_claim = || {
            self.plan_claim
                .as_ref()
                .and_then(|c| identity.claim(c))
                .and_then(|v| v.as_str())
                .and_then(|n| self.plans.get(n))
        };
        identity
            .plan
            .as_deref()
            .and_then(|n| self.plans.get(n))
            .or_else(from_claim)
            .or_else(|| self.default_plan.as_ref().and_then(|d| self.plans.get(d)))
    }
}

/// Whether a route filter admits the request.
pub fn route_matches(routes: &[String], facts: &Facts<'_>) -> bool {
    routes.is_empty() || facts.route.is_some_and(|r| routes.iter().any(|x| x == r))
}

/// What the client is told about one checked limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInfo {
    /// Policy name.
    pub name: Arc<str>,
    /// Quota units of the policy (burst for a rate limit, the limit for a quota).
    pub quota: u64,
    /// The policy window in seconds (time to regain a full burst; the quota period).
    pub window_secs: u64,
    /// Whether this is a calendar quota.
    pub is_quota: bool,
    /// For quotas: the reset instant, µs since the epoch.
    pub reset_at_us: Option<u64>,
}

/// A limit after adaptive adjustment: the numbers actually enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effective {
    /// µs per request.
    pub emission_us: u64,
    /// Burst.
    pub burst: u64,
}

/// Builds the op and info for a GCRA limit whose key value is `value`.
pub fn limit_op(limit: &Limit, value: &str, eff: Effective) -> (Op, PolicyInfo) {
    // `rl:<counter>:<tag>:{<value>}`, built without the formatting machinery (hot path).
    let tag = limit.key.tag();
    let mut key = String::with_capacity(limit.counter.len() + tag.len() + value.len() + 8);
    key.push_str("rl:");
    key.push_str(&limit.counter);
    key.push(':');
    key.push_str(tag);
    key.push_str(":{");
    key.push_str(value);
    key.push('}');
    let op = Op {
        key,
        algorithm: Algorithm::Gcra {
            emission_us: eff.emission_us,
            burst: eff.burst,
        },
        cost: 1,
    };
    let window_us = eff.emission_us.saturating_mul(eff.burst);
    // The emission interval is rounded up to whole µs, which puts e.g. 60 per 1s at
    // 1.00002 s: up to 0.1% over a whole second does not advertise one more second.
    let window_secs = (window_us - window_us / 1000)
        .div_ceil(MICROS_PER_SEC)
        .max(1);
    let info = PolicyInfo {
        name: limit.name.clone(),
        quota: eff.burst,
        window_secs,
        is_quota: false,
        reset_at_us: None,
    };
    (op, info)
}

/// Builds the op and info for a quota of `consumer` at `now_us`.
pub fn quota_op(quota: &Quota, consumer: &str, now_us: u64, zone: &Zone) -> (Op, PolicyInfo) {
    let w = calendar::window(quota.period, now_us, zone);
    let op = Op {
        key: format!("rq:{}:{}:{{{consumer}}}", quota.name, w.id),
        algorithm: Algorithm::Window {
            limit: quota.limit,
            window_end_us: w.end_us,
        },
        cost: 1,
    };
    let info = PolicyInfo {
        name: quota.name.clone(),
        quota: quota.limit,
        window_secs: (w.end_us - w.start_us) / MICROS_PER_SEC,
        is_quota: true,
        reset_at_us: Some(w.end_us),
    };
    (op, info)
}
