//! The engine: a compiled [`Policy`] plus a [`CounterStore`], a [`Clock`],
//! adaptive overrides and in-flight counters.
//!
//! A check is two pure steps around one store call, so the same code serves the
//! synchronous local store and the Redis round trip:
//! [`RateLimiter::prepare`] turns the request facts into a [`Batch`] of ops (every
//! applicable limit and quota), the store applies it all-or-nothing, and
//! [`Batch::finish`] turns the outcomes into a [`RateLimitReport`]: every policy
//! checked, allowed only if all allowed, the strictest deciding the refusal.

use std::sync::Arc;

use crate::adaptive::{AdaptiveLimits, DEFAULT_MAX_OVERRIDES};
use crate::clock::Clock;
use crate::concurrency::{InFlight, Permit};
use crate::headers::{self, RateLimitReport, ReportItem};
use crate::key::Facts;
use crate::local::LocalStore;
use crate::lockout::Lockout;
use crate::policy::{self, Policy, PolicyInfo};
use crate::store::{CounterStore, Op, StoreResult};

/// Which stage's limits to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Before authentication: `pre_auth` limits and the client IP's lock-out.
    PreAuth,
    /// After authentication: the consumer's plan limits and quotas.
    Consumer,
}

/// The ops of one request and what to tell the client about each.
#[derive(Debug)]
pub struct Batch {
    /// The time the batch was built at.
    pub now_us: u64,
    /// Ops, lock-out probes first; take them (`std::mem::take`) to hand to the store.
    pub ops: Vec<Op>,
    /// One entry per op after the probes.
    infos: Vec<PolicyInfo>,
    /// How many leading ops are lock-out probes.
    probes: usize,
}

/// What a finished check decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    /// Every policy passed; the report is for the response headers.
    Allowed(RateLimitReport),
    /// A policy refused; answer with this problem.
    Refused(rampart_core::Problem),
}

impl Batch {
    /// Whether there is nothing to check.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Interprets the store's answer.
    pub fn finish(self, result: StoreResult, policy: &Policy) -> Checked {
        let outcomes = match result {
            Ok(o) if o.len() == self.probes + self.infos.len() => o,
            Ok(_) => {
                tracing::error!(target: "rampart::ratelimit", "counter store answered the wrong number of outcomes");
                return Checked::Refused(headers::unavailable());
            }
            Err(error) => {
                tracing::error!(target: "rampart::ratelimit", %error, "rate limit check failed closed");
                return Checked::Refused(headers::unavailable());
            }
        };
        let (probes, limits) = outcomes.split_at(self.probes);
        if let Some(locked) = probes
            .iter()
            .filter(|o| !o.allowed)
            .max_by_key(|o| o.retry_after_us)
        {
            return Checked::Refused(headers::locked_out(locked.retry_after_us));
        }
        let report = RateLimitReport {
            items: self
                .infos
                .into_iter()
                .zip(limits.iter().copied())
                .map(|(info, outcome)| ReportItem { info, outcome })
                .collect(),
        };
        if report.allowed() {
            Checked::Allowed(report)
        } else {
            Checked::Refused(headers::refusal(&report, policy.headers, &policy.zone))
        }
    }
}

/// The rate-limit engine of one API.
pub struct RateLimiter {
    policy: Arc<Policy>,
    store: Arc<dyn CounterStore>,
    clock: Arc<dyn Clock>,
    adaptive: Arc<AdaptiveLimits>,
    in_flight: InFlight,
    lockout: Option<Lockout>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// An engine over the given store and clock.
    pub fn new(policy: Policy, store: Arc<dyn CounterStore>, clock: Arc<dyn Clock>) -> Self {
        let adaptive = Arc::new(AdaptiveLimits::new(
            Arc::clone(&clock),
            DEFAULT_MAX_OVERRIDES,
        ));
        let lockout = policy
            .lockout
            .clone()
            .map(|p| Lockout::new(p, Arc::clone(&store), Arc::clone(&clock)));
        Self {
            policy: Arc::new(policy),
            store,
            clock,
            adaptive,
            in_flight: InFlight::new(),
            lockout,
        }
    }

    /// An engine over a fresh in-process store sized by the policy (the default
    /// backend).
    pub fn local(policy: Policy, clock: Arc<dyn Clock>) -> Self {
        let store = Arc::new(LocalStore::new(policy.local_max_keys, policy.local_shards));
        Self::new(policy, store, clock)
    }

    /// The compiled policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The counter store.
    pub fn store(&self) -> &Arc<dyn CounterStore> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Adaptive overrides: lower a key's rate for a while.
    pub fn adaptive(&self) -> &Arc<AdaptiveLimits> {
        &self.adaptive
    }

    /// The lock-out tracker, when configured. The gateway reserves a failure
    /// when a login attempt starts ([`Lockout::reserve`], which also checks the
    /// locks) and confirms or refunds it by the outcome; other requests are
    /// checked with [`Lockout::check`] and their failures recorded with
    /// [`Lockout::record_failure`].
    pub fn lockout(&self) -> Option<&Lockout> {
        self.lockout.as_ref()
    }

    /// Builds the batch for `scope`.
    pub fn prepare(&self, scope: Scope, facts: &Facts<'_>) -> Batch {
        let now = self.clock.now_micros();
        let mut batch = Batch {
            now_us: now,
            ops: Vec::new(),
            infos: Vec::new(),
            probes: 0,
        };
        match scope {
            Scope::PreAuth => {
                if let Some(probe) = self
                    .lockout
                    .as_ref()
                    .and_then(|l| l.ip_probe(facts.client_ip))
                {
                    batch.ops.push(probe);
                    batch.probes = 1;
                }
                self.push_limits(&self.policy.pre_auth, facts, now, &mut batch);
            }
            Scope::Consumer => {
                let Some(identity) = facts.identity else {
                    return batch;
                };
                let Some(plan) = self.policy.plan_for(identity) else {
                    return batch;
                };
                self.push_limits(&plan.limits, facts, now, &mut batch);
                let mut consumer = String::new();
                facts.write_value(&crate::key::KeyKind::Consumer, &mut consumer);
                for quota in &plan.quotas {
                    let (op, info) = policy::quota_op(quota, &consumer, now, &self.policy.zone);
                    batch.ops.push(op);
                    batch.infos.push(info);
                }
            }
        }
        batch
    }

    fn push_limits(
        &self,
        limits: &[policy::Limit],
        facts: &Facts<'_>,
        now: u64,
        batch: &mut Batch,
    ) {
        let mut value = String::new();
        for limit in limits {
            if !policy::route_matches(&limit.routes, facts) {
                continue;
            }
            value.clear();
            if !facts.write_value(&limit.key, &mut value) {
                continue;
            }
            let eff = self.adaptive.effective(limit, &value, now);
            let (op, info) = policy::limit_op(limit, &value, eff);
            batch.ops.push(op);
            batch.infos.push(info);
        }
    }

    /// Prepares, applies and finishes in one call.
    pub async fn check(&self, scope: Scope, facts: &Facts<'_>) -> Checked {
        let mut batch = self.prepare(scope, facts);
        if batch.is_empty() {
            return Checked::Allowed(RateLimitReport::default());
        }
        let ops = std::mem::take(&mut batch.ops);
        let result = self.store.apply(batch.now_us, ops).resolve().await;
        batch.finish(result, &self.policy)
    }

    /// Takes an in-flight permit under every applicable concurrency limit; on
    /// refusal the permits already taken are released and the limit's name returned.
    pub fn acquire_in_flight(&self, facts: &Facts<'_>) -> Result<Vec<Permit>, String> {
        let mut permits = Vec::new();
        for limit in &self.policy.concurrency {
            if !policy::route_matches(&limit.routes, facts) {
                continue;
            }
            let mut key = format!("{}:", limit.name);
            if !facts.write_value(&limit.key, &mut key) {
                continue;
            }
            match self.in_flight.try_acquire(key, limit.max_in_flight) {
                Some(p) => permits.push(p),
                None => return Err(limit.name.clone()),
            }
        }
        Ok(permits)
    }

    /// The in-flight counters (for tests and metrics).
    pub fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }
}
