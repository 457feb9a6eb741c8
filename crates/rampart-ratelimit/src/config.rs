//! The `rate_limit` section of an API's configuration (raw, as deserialised), and
//! its validation into the compiled [`Policy`] the engine runs.
//!
//! Every error names the offending field path, e.g. `plans.pro.limits[1].per`.
//!
//! ```yaml
//! rate_limit:
//!   pre_auth:                       # before authentication
//!     - { name: per-ip, key: client_ip, rate: 100, per: 1m, burst: 20 }
//!     - { name: login, key: client_ip, rate: 5, per: 1m, routes: ["POST /login"] }
//!     - { name: global, key: global, rate: 5000, per: 1s }
//!   default_plan: free
//!   plan_claim: tier                # when the key metadata names no plan
//!   plans:
//!     free:
//!       limits: [ { name: consumer, key: consumer, rate: 10, per: 1s } ]
//!       quotas: [ { name: daily, limit: 1000, period: day } ]
//!     pro:
//!       limits: [ { name: consumer, key: consumer, rate: 100, per: 1s, burst: 200 } ]
//!       quotas: [ { name: monthly, limit: 1000000, period: month } ]
//!   quota_time_zone: Europe/Paris     # or UTC, or a fixed offset such as "+01:00"
//!   lockout: { max_failures: 5, window: 5m, lock_for: 15m, upstream_failures: login_operations }
//!   concurrency: [ { name: reports, key: consumer, max_in_flight: 4, routes: ["GET /reports"] } ]
//!   headers: { standard: true, legacy: false }
//!   local: { max_keys: 1048576 }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::calendar::{self, Period, Zone};
use crate::key::KeyKind;
use crate::local::{DEFAULT_MAX_KEYS, DEFAULT_SHARDS};
use crate::policy::{
    ConcurrencyLimit, HeaderOptions, Limit, LockoutPolicy, Plan, Policy, Quota, UpstreamFailures,
};

/// Rate limits, plans, quotas, lock-out and concurrency limits of one API.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Limits checked before authentication (per IP, per route, global, per header).
    #[serde(default)]
    pub pre_auth: Vec<LimitConfig>,
    /// Named plans (e.g. `free`, `pro`, `partner`) with their limits and quotas.
    #[serde(default)]
    pub plans: BTreeMap<String, PlanConfig>,
    /// The plan of consumers whose identity names no plan or an unknown one.
    #[serde(default)]
    pub default_plan: Option<String>,
    /// A verified claim naming the consumer's plan (e.g. `tier`), used when the
    /// identity carries no plan from its key metadata.
    #[serde(default)]
    pub plan_claim: Option<String>,
    /// Fixed UTC offset quota days and months are counted in: `UTC`, `+02:00`, `-05:00`.
    /// Kept for existing files; `quota_time_zone` also takes zone names.
    #[serde(default)]
    pub quota_utc_offset: Option<String>,
    /// Where quota days and months begin: `UTC`, a fixed offset (`+02:00`) or an
    /// IANA time zone (`Europe/Paris`, daylight-saving changes included). Default UTC.
    #[serde(default)]
    pub quota_time_zone: Option<String>,
    /// Lock-out after repeated authentication failures.
    #[serde(default)]
    pub lockout: Option<LockoutConfig>,
    /// Limits on requests in flight.
    #[serde(default)]
    pub concurrency: Vec<ConcurrencyConfig>,
    /// Which response headers to send.
    #[serde(default)]
    pub headers: HeadersConfig,
    /// The in-process backend's memory bound.
    #[serde(default)]
    pub local: LocalConfig,
}

/// One GCRA limit: `rate` requests per `per`, with bursts of up to `burst`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// Policy name, shown to clients in `RateLimit-Policy`: `[a-z0-9_-]{1,64}`; a
    /// plan may not use a `pre_auth` limit's name.
    pub name: String,
    /// What to count by: `client_ip`, `consumer`, `application`, `api_key`, `route`,
    /// `global`, `header:<name>` or `claim:<name>`. A request with no value for
    /// `application`, `api_key` or `claim:<name>` is counted per consumer.
    pub key: String,
    /// Requests allowed per `per`.
    pub rate: u64,
    /// The period of `rate`: `<n>ms`, `<n>s`, `<n>m`, `<n>h`, `<n>d`.
    pub per: String,
    /// Requests that may arrive at once; defaults to `rate`.
    #[serde(default)]
    pub burst: Option<u64>,
    /// Apply only on these routes (route templates as matched, e.g. `POST /login`);
    /// empty means every route.
    #[serde(default)]
    pub routes: Vec<String>,
}

/// A plan's limits and quotas.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// Rate limits for consumers on this plan.
    #[serde(default)]
    pub limits: Vec<LimitConfig>,
    /// Calendar quotas per consumer.
    #[serde(default)]
    pub quotas: Vec<QuotaConfig>,
}

/// A per-consumer quota over a calendar period.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Quota name, `[a-z0-9_-]{1,64}`.
    pub name: String,
    /// Requests allowed per period.
    pub limit: u64,
    /// `day` or `month`.
    pub period: Period,
}

/// Lock-out after `max_failures` authentication failures within `window`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LockoutConfig {
    /// Failures that trigger the lock.
    pub max_failures: u64,
    /// The window failures are counted in (duration).
    pub window: String,
    /// How long the key stays locked (duration).
    pub lock_for: String,
    /// Count failures per client IP (default true).
    #[serde(default = "yes")]
    pub per_ip: bool,
    /// Count failures per username (default true).
    #[serde(default = "yes")]
    pub per_username: bool,
    /// Which 401 answers of the upstream count as failures: `login_operations`
    /// (default: only on operations with `auth_endpoint: true` in `openapi`) or
    /// `every_route` (for upstreams that authenticate every request themselves,
    /// e.g. HTTP basic authentication). An API with `login_operations`, no
    /// login operation and no `authn` section is refused: nothing would count.
    #[serde(default)]
    pub upstream_failures: UpstreamFailures,
}

/// A limit on requests in flight.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencyConfig {
    /// Limit name, `[a-z0-9_-]{1,64}`.
    pub name: String,
    /// What to count by (as for rate limits; typically `consumer` or `route`).
    pub key: String,
    /// Requests allowed in flight at once per key.
    pub max_in_flight: u32,
    /// Apply only on these routes; empty means every route.
    #[serde(default)]
    pub routes: Vec<String>,
}

/// Response headers.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeadersConfig {
    /// Send `RateLimit-Policy` and `RateLimit` (IETF httpapi draft). Default true.
    #[serde(default = "yes")]
    pub standard: bool,
    /// Also send `X-RateLimit-Limit`, `-Remaining`, `-Reset`. Default false.
    #[serde(default)]
    pub legacy: bool,
}

impl Default for HeadersConfig {
    fn default() -> Self {
        Self {
            standard: true,
            legacy: false,
        }
    }
}

/// Memory bound of the in-process store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// Most keys tracked at once (default 1 048 576).
    #[serde(default = "default_max_keys")]
    pub max_keys: usize,
    /// Lock shards (default 64, rounded up to a power of two).
    #[serde(default = "default_shards")]
    pub shards: usize,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            max_keys: DEFAULT_MAX_KEYS,
            shards: DEFAULT_SHARDS,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_max_keys() -> usize {
    DEFAULT_MAX_KEYS
}
fn default_shards() -> usize {
    DEFAULT_SHARDS
}

/// A configuration error, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A name is empty, too long or has characters outside `[a-z0-9_-]`.
    #[error("{field}: names are 1-64 characters of a-z, 0-9, '_' and '-'")]
    InvalidName {
        /// Field path.
        field: String,
    },
    /// Two limits or quotas in one list share a name.
    #[error("{field}: duplicate name")]
    DuplicateName {
        /// Field path.
        field: String,
    },
    /// A plan's limit or quota has the name of a `pre_auth` limit.
    #[error(
        "{field}: also the name of a pre_auth limit; a request is checked against both, so names must differ"
    )]
    NameInPreAuth {
        /// Field path.
        field: String,
    },
    /// A key is not one of the known kinds.
    #[error(
        "{field}: unknown key (client_ip, consumer, application, api_key, route, global, header:<name>, claim:<name>)"
    )]
    InvalidKey {
        /// Field path.
        field: String,
    },
    /// An identity-based key in a pre-authentication limit.
    #[error("{field}: this key needs an identity and cannot be used before authentication")]
    KeyNeedsIdentity {
        /// Field path.
        field: String,
    },
    /// A duration is malformed or zero.
    #[error("{field}: expected a duration such as 500ms, 1s, 1m, 1h, 1d")]
    InvalidDuration {
        /// Field path.
        field: String,
    },
    /// A rate, burst, quota or concurrency limit is zero or too large.
    #[error("{field}: must be between 1 and {max}")]
    OutOfRange {
        /// Field path.
        field: String,
        /// Largest accepted value.
        max: u64,
    },
    /// The rate is finer than one request per microsecond.
    #[error("{field}: rate too high for its period (more than one per microsecond)")]
    RateTooHigh {
        /// Field path.
        field: String,
    },
    /// `default_plan` names no plan.
    #[error("{field}: no such plan")]
    UnknownPlan {
        /// Field path.
        field: String,
    },
    /// The UTC offset is malformed.
    #[error("{field}: expected UTC or an offset such as +02:00")]
    InvalidOffset {
        /// Field path.
        field: String,
    },
    /// The time zone is neither an offset nor a known IANA zone name.
    #[error(
        "{field}: expected UTC, an offset such as +02:00, or an IANA zone such as Europe/Paris"
    )]
    InvalidTimeZone {
        /// Field path.
        field: String,
    },
    /// `local.max_keys` below 8 per shard: the store would hold more.
    #[error("{field}: at least {min} (8 per shard, shards rounded up to a power of two)")]
    TooFewKeys {
        /// Field path.
        field: String,
        /// Smallest accepted value.
        min: usize,
    },
    /// A lock-out that counts neither per IP nor per username would never
    /// lock anything.
    #[error("{field}: per_ip and per_username are both false: nothing would ever be locked")]
    LockoutCountsNothing {
        /// Field path.
        field: String,
    },
    /// Both `quota_utc_offset` and `quota_time_zone` are set.
    #[error("{field}: set either quota_time_zone or quota_utc_offset, not both")]
    ConflictingTimeZones {
        /// Field path.
        field: String,
    },
}

const MAX_COUNT: u64 = 1 << 40;

fn check_name(name: &str, field: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::InvalidName {
            field: field.to_owned(),
        })
    }
}

fn check_count(value: u64, field: String) -> Result<u64, ConfigError> {
    if value == 0 || value > MAX_COUNT {
        return Err(ConfigError::OutOfRange {
            field,
            max: MAX_COUNT,
        });
    }
    Ok(value)
}

/// Parses `<n>ms|s|m|h|d` into microseconds (> 0).
pub fn parse_duration_us(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let scale: u64 = match unit {
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => return None,
    };
    n.checked_mul(scale).filter(|us| *us > 0)
}

fn duration(text: &str, field: String) -> Result<u64, ConfigError> {
    parse_duration_us(text).ok_or(ConfigError::InvalidDuration { field })
}

fn compile_limit(raw: &LimitConfig, field: &str, pre_auth: bool) -> Result<Limit, ConfigError> {
    check_name(&raw.name, &format!("{field}.name"))?;
    let key = KeyKind::parse(&raw.key).ok_or_else(|| ConfigError::InvalidKey {
        field: format!("{field}.key"),
    })?;
    if pre_auth && key.needs_identity() {
        return Err(ConfigError::KeyNeedsIdentity {
            field: format!("{field}.key"),
        });
    }
    let rate = check_count(raw.rate, format!("{field}.rate"))?;
    let per_us = duration(&raw.per, format!("{field}.per"))?;
    let burst = check_count(raw.burst.unwrap_or(rate), format!("{field}.burst"))?;
    if rate > per_us {
        return Err(ConfigError::RateTooHigh {
            field: format!("{field}.rate"),
        });
    }
    // Rounded up: a limit may be enforced a little below its rate (600000 per 1s:
    // 2 µs, 500000/s) but never above it, as rounding down would (1 µs, 1000000/s).
    let emission_us = per_us.div_ceil(rate);
    let name: Arc<str> = raw.name.as_str().into();
    Ok(Limit {
        counter: name.clone(),
        name,
        key,
        emission_us,
        burst,
        routes: raw.routes.clone(),
    })
}

fn compile_limits(
    raw: &[LimitConfig],
    field: &str,
    pre_auth: bool,
) -> Result<Vec<Limit>, ConfigError> {
    let mut out: Vec<Limit> = Vec::with_capacity(raw.len());
    for (i, l) in raw.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let limit = compile_limit(l, &f, pre_auth)?;
        if out.iter().any(|o| o.name == limit.name) {
            return Err(ConfigError::DuplicateName {
                field: format!("{f}.name"),
            });
        }
        out.push(limit);
    }
    Ok(out)
}

impl RateLimitConfig {
    /// Validates this section into the engine's policy. `field_prefix` is where the
    /// section sits in the whole configuration (e.g. `apis.shop.rate_limit`).
    pub fn compile(&self, field_prefix: &str) -> Result<Policy, ConfigError> {
        let p = |rest: &str| {
            if field_prefix.is_empty() {
                rest.to_owned()
            } else {
                format!("{field_prefix}.{rest}")
            }
        };
        let pre_auth = compile_limits(&self.pre_auth, &p("pre_auth"), true)?;
        let mut plans = BTreeMap::new();
        for (name, raw) in &self.plans {
            let f = p(&format!("plans.{name}"));
            check_name(name, &f)?;
            let mut limits = compile_limits(&raw.limits, &format!("{f}.limits"), false)?;
            for limit in &mut limits {
                limit.counter = format!("{name}.{}", limit.name).into();
            }
            // A request is checked against pre_auth and its plan: one name in both
            // would be listed twice in the headers and, with the same key kind,
            // share one counter that each request charges twice.
            let in_pre_auth = |name: &str| pre_auth.iter().any(|l| *l.name == *name);
            if let Some(i) = limits.iter().position(|l| in_pre_auth(&l.name)) {
                return Err(ConfigError::NameInPreAuth {
                    field: format!("{f}.limits[{i}].name"),
                });
            }
            let mut quotas: Vec<Quota> = Vec::with_capacity(raw.quotas.len());
            for (i, q) in raw.quotas.iter().enumerate() {
                let qf = format!("{f}.quotas[{i}]");
                check_name(&q.name, &format!("{qf}.name"))?;
                if in_pre_auth(&q.name) {
                    return Err(ConfigError::NameInPreAuth {
                        field: format!("{qf}.name"),
                    });
                }
                // Limits and quotas share the plan's headers.
                if quotas.iter().any(|o| *o.name == *q.name)
                    || limits.iter().any(|o| *o.name == *q.name)
                {
                    return Err(ConfigError::DuplicateName {
                        field: format!("{qf}.name"),
                    });
                }
                quotas.push(Quota {
                    name: q.name.as_str().into(),
                    limit: check_count(q.limit, format!("{qf}.limit"))?,
                    period: q.period,
                });
            }
            plans.insert(
                name.clone(),
                Plan {
                    name: name.clone(),
                    limits,
                    quotas,
                },
            );
        }
        let default_plan = match &self.default_plan {
            Some(name) if !plans.contains_key(name) => {
                return Err(ConfigError::UnknownPlan {
                    field: p("default_plan"),
                });
            }
            other => other.clone(),
        };
        let zone = match (&self.quota_utc_offset, &self.quota_time_zone) {
            (None, None) => Zone::default(),
            (Some(_), Some(_)) => {
                return Err(ConfigError::ConflictingTimeZones {
                    field: p("quota_time_zone"),
                });
            }
            (Some(text), None) => Zone::Fixed(calendar::parse_offset(text).ok_or(
                ConfigError::InvalidOffset {
                    field: p("quota_utc_offset"),
                },
            )?),
            (None, Some(text)) => Zone::parse(text).ok_or(ConfigError::InvalidTimeZone {
                field: p("quota_time_zone"),
            })?,
        };
        let lockout = match &self.lockout {
            None => None,
            Some(l) if !l.per_ip && !l.per_username => {
                return Err(ConfigError::LockoutCountsNothing {
                    field: p("lockout"),
                });
            }
            Some(l) => Some(LockoutPolicy {
                max_failures: check_count(l.max_failures, p("lockout.max_failures"))?,
                window_us: duration(&l.window, p("lockout.window"))?,
                lock_us: duration(&l.lock_for, p("lockout.lock_for"))?,
                per_ip: l.per_ip,
                per_username: l.per_username,
                upstream_failures: l.upstream_failures,
            }),
        };
        let mut concurrency = Vec::with_capacity(self.concurrency.len());
        let mut concurrency_names = std::collections::HashSet::new();
        for (i, c) in self.concurrency.iter().enumerate() {
            let f = p(&format!("concurrency[{i}]"));
            check_name(&c.name, &format!("{f}.name"))?;
            // Two limits of one name would share one counter per key.
            if !concurrency_names.insert(c.name.as_str()) {
                return Err(ConfigError::DuplicateName {
                    field: format!("{f}.name"),
                });
            }
            let key = KeyKind::parse(&c.key).ok_or_else(|| ConfigError::InvalidKey {
                field: format!("{f}.key"),
            })?;
            check_count(u64::from(c.max_in_flight), format!("{f}.max_in_flight"))?;
            concurrency.push(ConcurrencyLimit {
                name: c.name.clone(),
                key,
                max_in_flight: c.max_in_flight,
                routes: c.routes.clone(),
            });
        }
        check_count(self.local.max_keys as u64, p("local.max_keys"))?;
        // The store's bounds (`LocalStore::new`), refused rather than clamped:
        // at most 65536 shards, and at least 8 keys per shard.
        if self.local.shards == 0 || self.local.shards > 1 << 16 {
            return Err(ConfigError::OutOfRange {
                field: p("local.shards"),
                max: 1 << 16,
            });
        }
        let shards = self.local.shards.next_power_of_two();
        if self.local.max_keys < shards.saturating_mul(8) {
            return Err(ConfigError::TooFewKeys {
                field: p("local.max_keys"),
                min: shards.saturating_mul(8),
            });
        }
        if self.plan_claim.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::InvalidName {
                field: p("plan_claim"),
            });
        }
        Ok(Policy {
            pre_auth,
            plans,
            default_plan,
            plan_claim: self.plan_claim.clone(),
            zone,
            lockout,
            concurrency,
            headers: HeaderOptions {
                standard: self.headers.standard,
                legacy: self.headers.legacy,
            },
            local_max_keys: self.local.max_keys,
            local_shards: self.local.shards,
        })
    }
}
