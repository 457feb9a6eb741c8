//! Brute-force lock-out: repeated authentication failures per client IP and per
//! username within a window lock that key for a configured time.
//!
//! Two keys per subject, both GCRA so they work on every [`CounterStore`]:
//! - the failure counter `lf:<subject>`: burst `max_failures`, one failure forgiven
//!   every `window / max_failures`; the failure that empties it sets the lock;
//! - the lock `lk:<subject>`: emission `lock_for`, burst 1. Setting it charges one
//!   unit (TAT = now + lock_for); "is it locked?" is a probe (cost 0) that fails
//!   while TAT is in the future, and its retry time is the lock's remaining time.
//!   Setting a lock that is already set is refused by the store and changes nothing,
//!   so failures cannot extend a lock indefinitely.
//!
//! Usernames are compared in the loose form login backends use (NFKC, case
//! folded, invisible characters removed, surrounding white space ignored: see
//! [`crate::username`]), so `ＡＬＩＣＥ` or `al\u{200B}ice` count against `alice`'s
//! lock; only the SHA-256 of that form becomes a key: keys live in a shared Redis
//! and in logs of stores, and users type passwords into username fields.

use std::net::IpAddr;
use std::sync::Arc;

use rampart_core::Problem;

use crate::clock::Clock;
use crate::headers;
use crate::policy::LockoutPolicy;
use crate::store::{Algorithm, CounterStore, Op, StoreError};

/// Failure counting and locks over a counter store.
pub struct Lockout {
    policy: LockoutPolicy,
    store: Arc<dyn CounterStore>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Lockout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lockout")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn subject_ip(ip: IpAddr) -> String {
    format!("ip:{{{}}}", crate::key::ip_bucket(ip))
}

/// The key subject of a username: a hash of its normalised form (128 bits are
/// plenty to keep distinct usernames apart).
fn subject_user(username: &str) -> String {
    // Every spelling the backend takes for this account shares one lock.
    let normalised = crate::username::normalise(username);
    let mut out = String::with_capacity(40);
    out.push_str("user:{");
    crate::key::push_digest(&mut out, b"rampart-lockout-user\0", normalised.as_bytes());
    out.push('}');
    out
}

impl Lockout {
    /// A tracker for `policy` over `store`.
    pub fn new(policy: LockoutPolicy, store: Arc<dyn CounterStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            policy,
            store,
            clock,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &LockoutPolicy {
        &self.policy
    }

    fn lock_op(&self, subject: &str, cost: u64) -> Op {
        Op {
            key: format!("lk:{subject}"),
            algorithm: Algorithm::Gcra {
                emission_us: self.policy.lock_us,
                burst: 1,
            },
            cost,
        }
    }

    fn failure_op(&self, subject: &str) -> Op {
        Op {
            key: format!("lf:{subject}"),
            algorithm: Algorithm::Gcra {
                // Rounded up: more failures than allowed must never fit in the window.
                emission_us: self
                    .policy
                    .window_us
                    .div_ceil(self.policy.max_failures)
                    .max(1),
                burst: self.policy.max_failures,
            },
            cost: 1,
        }
    }

    /// The probe that fails while `ip` is locked (used by the pre-auth stage, in
    /// the same round trip as its limits), or `None` when IPs are not tracked.
    pub fn ip_probe(&self, ip: IpAddr) -> Option<Op> {
        self.policy.per_ip.then(|| self.lock_op(&subject_ip(ip), 0))
    }

    fn subjects(&self, ip: IpAddr, username: Option<&str>) -> Vec<String> {
        let mut s = Vec::with_capacity(2);
        if self.policy.per_ip {
            s.push(subject_ip(ip));
        }
        if self.policy.per_username
            && let Some(u) = username
        {
            s.push(subject_user(u));
        }
        s
    }

    /// Checks whether `ip` or `username` is locked; call before verifying a
    /// credential. `Ok(Some(problem))` is the 429 to answer with.
    pub async fn check(
        &self,
        ip: IpAddr,
        username: Option<&str>,
    ) -> Result<Option<Problem>, StoreError> {
        let ops: Vec<Op> = self
            .subjects(ip, username)
            .iter()
            .map(|s| self.lock_op(s, 0))
            .collect();
        if ops.is_empty() {
            return Ok(None);
        }
        let now = self.clock.now_micros();
        let outcomes = self.store.apply(now, ops).resolve().await?;
        Ok(outcomes
            .iter()
            .filter(|o| !o.allowed)
            .map(|o| o.retry_after_us)
            .max()
            .map(headers::locked_out))
    }

    /// Records one authentication failure for `ip` and `username`; returns whether
    /// this failure locked one of them.
    pub async fn record_failure(
        &self,
        ip: IpAddr,
        username: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut locked = false;
        for subject in self.subjects(ip, username) {
            let now = self.clock.now_micros();
            // Each subject separately: the IP's count must grow even when the
            // username's is exhausted, unlike the all-or-nothing request limits.
            let out = self
                .store
                .apply(now, vec![self.failure_op(&subject)])
                .resolve()
                .await?;
            let exhausted = out.first().is_none_or(|o| !o.allowed || o.remaining == 0);
            if exhausted {
                let set = self
                    .store
                    .apply(now, vec![self.lock_op(&subject, 1)])
                    .resolve()
                    .await?;
                if set.first().is_some_and(|o| o.allowed) {
                    // Usernames stay out of the log: users type passwords into them.
                    let kind = if subject.starts_with("ip:") {
                        "client_ip"
                    } else {
                        "username"
                    };
                    tracing::warn!(target: "rampart::ratelimit", kind, client.ip = %ip, "locked out after repeated authentication failures");
                    locked = true;
                }
            }
        }
        Ok(locked)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_forgiven_no_sooner_than_window_over_max_failures() {
        let policy = LockoutPolicy {
            max_failures: 3,
            window_us: 1_000,
            lock_us: 1_000_000,
            per_ip: true,
            per_username: false,
            upstream_failures: Default::default(),
        };
        let store = Arc::new(crate::local::LocalStore::new(16, 1));
        let clock = Arc::new(crate::clock::ManualClock::at_micros(0));
        let lockout = Lockout::new(policy, store, clock);
        // 1000 / 3 rounded up: rounded down, a fourth failure fit in the window.
        assert_eq!(
            lockout.failure_op("x").algorithm,
            Algorithm::Gcra {
                emission_us: 334,
                burst: 3
            }
        );
    }

    #[test]
    fn unicode_variants_of_a_username_share_its_lock() {
        let a = subject_user("alice");
        for variant in [
            "ＡＬＩＣＥ",
            "al\u{200B}ice",
            "a\u{00AD}li\u{FE0F}ce",
            "\u{FEFF}Alice",
        ] {
            assert_eq!(subject_user(variant), a, "{variant:?}");
        }
        assert_eq!(subject_user("STRASSE"), subject_user("straße"));
        assert_ne!(subject_user("alicé"), a);
        assert_ne!(subject_user("bob"), a);
    }

    #[test]
    fn usernames_become_hashes_compared_case_insensitively() {
        let a = subject_user("Alice");
        assert_eq!(a, subject_user(" alice "));
        assert_ne!(a, subject_user("alice2"));
        assert!(!a.to_lowercase().contains("alice"), "{a}");
        // One hash tag: both keys of a subject land on one Redis Cluster slot.
        assert!(a.starts_with("user:{") && a.ends_with('}') && a.len() == 6 + 32 + 1);
        // Long identifiers do not share one key.
        assert_ne!(
            subject_user(&"x".repeat(500)),
            subject_user(&"x".repeat(501))
        );
    }
}
