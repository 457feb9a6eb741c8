//! Brute-force lock-out: repeated authentication failures per client IP and per
//! username within a window lock that key for a configured time.
//!
//! Three keys per subject, all GCRA so they work on every [`CounterStore`]:
//! - the failure counter `lf:<subject>`: burst `max_failures`, one failure forgiven
//!   every `window / max_failures`; the failure that empties it sets the lock;
//! - the attempt counter `la:<subject>`, with the same parameters: failures plus
//!   login attempts in flight (see below);
//! - the lock `lk:<subject>`: emission `lock_for`, burst 1. Setting it charges one
//!   unit (TAT = now + lock_for); "is it locked?" is a probe (cost 0) that fails
//!   while TAT is in the future, and its retry time is the lock's remaining time.
//!   Setting a lock that is already set is refused by the store and changes nothing,
//!   so failures cannot extend a lock indefinitely.
//!
//! Login attempts reserve a unit before the credential is checked
//! ([`Lockout::reserve`]): one unit of each subject's attempt counter is charged
//! when the attempt starts, in the same all-or-nothing batch as the lock probes.
//! The attempt is refused with 429 `locked-out` when a lock is set, and with 429
//! `login-concurrency-limited` (`Retry-After: 1`) when only an attempt counter is
//! empty: nobody failed, so it must not read as a lock-out. Counting only when the
//! 401 came back let a credential-stuffing run send many guesses in parallel
//! (against slow password hashing, a whole burst) before the first failure was
//! recorded. When the attempt fails ([`Lockout::confirm`]) its units stay and the
//! failure is counted in `lf`, which alone decides the lock: attempts still in
//! flight are no failures (a user's double-click, an office behind one address
//! logging in at nine must not lock anyone). Otherwise the units are given back
//! ([`Lockout::refund`]). Failures outside logins ([`Lockout::record_failure`])
//! are charged to both counters.
//!
//! The two subjects get different attempt budgets, for what each must stop:
//! - a username's attempt counter `la:` has `max_failures` units: attempts in
//!   flight plus failures for one account never exceed `max_failures`, from
//!   however many addresses (K addresses × B parallel guesses each cannot reach
//!   the account more than `max_failures` times before the lock);
//! - a client IP's in-flight counter `li:` has `IP_IN_FLIGHT_FACTOR ×
//!   max_failures` units: an office or carrier NAT logs many different users in
//!   at once, and each of their accounts is capped by its own counter anyway;
//!   parallel guesses from one address against many accounts are bounded by it,
//!   and the IP's confirmed failures lock it as before.
//!
//! The cost: while a username's attempt counter is empty (after a lock expires,
//! until one failure is forgiven at `window / max_failures`), its logins get
//! `login-concurrency-limited`. A gateway that dies with attempts in flight
//! leaves their units charged until the window forgives them.
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
use crate::store::{Algorithm, CounterStore, Op, StoreError, StoreReply};

/// One attempt unit per subject held for a login attempt in flight: settle it
/// with [`Lockout::confirm`] (the attempt failed) or [`Lockout::refund`] (it did
/// not, or never reached a verdict). Dropping it unsettled leaves the units
/// charged until the window forgives them: the caller must refund.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a reservation must be confirmed or refunded"]
pub struct Reservation {
    ip: IpAddr,
    subjects: Vec<Subject>,
}

/// What a lock and its counters are kept for: a client IP or a username.
#[derive(Debug, PartialEq, Eq)]
struct Subject {
    kind: SubjectKind,
    /// The key part: `ip:{…}` or `user:{<hash>}`.
    key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubjectKind {
    ClientIp,
    Username,
}

impl SubjectKind {
    /// The name logs give it (never the username itself).
    fn as_str(self) -> &'static str {
        match self {
            SubjectKind::ClientIp => "client_ip",
            SubjectKind::Username => "username",
        }
    }
}

/// What [`Lockout::reserve`] decided.
#[derive(Debug)]
pub enum Reserved {
    /// Not locked: the attempt units are held for this attempt.
    Held(Reservation),
    /// Locked, or as many attempts failed or in flight as allowed: the 429.
    Refused(Problem),
    /// Nothing tracked for this attempt (no subject: only usernames are
    /// counted and it has none).
    Untracked,
}

/// How many more login attempts a client IP may have in flight (or failed in
/// the window) than a username: many users share an address behind a NAT.
pub const IP_IN_FLIGHT_FACTOR: u64 = 10;

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

    /// One failure of `subject`, counted in `lf`.
    fn failure_op(&self, subject: &str) -> Op {
        self.counter_op("lf", subject)
    }

    /// One attempt (a failure or a login in flight) of `subject`: in `la` for a
    /// username, in the larger `li` for a client IP.
    fn attempt_op(&self, subject: &Subject) -> Op {
        match subject.kind {
            SubjectKind::ClientIp => {
                let burst = self.policy.max_failures.saturating_mul(IP_IN_FLIGHT_FACTOR);
                self.counter_op_with("li", &subject.key, burst)
            }
            SubjectKind::Username => self.counter_op("la", &subject.key),
        }
    }

    fn counter_op(&self, counter: &str, subject: &str) -> Op {
        self.counter_op_with(counter, subject, self.policy.max_failures)
    }

    fn counter_op_with(&self, counter: &str, subject: &str, burst: u64) -> Op {
        Op {
            key: format!("{counter}:{subject}"),
            algorithm: Algorithm::Gcra {
                // Rounded up: more failures than allowed must never fit in the window.
                emission_us: self.policy.window_us.div_ceil(burst).max(1),
                burst,
            },
            cost: 1,
        }
    }

    /// The probe that fails while `ip` is locked (used by the pre-auth stage, in
    /// the same round trip as its limits), or `None` when IPs are not tracked.
    pub fn ip_probe(&self, ip: IpAddr) -> Option<Op> {
        self.policy.per_ip.then(|| self.lock_op(&subject_ip(ip), 0))
    }

    fn subjects(&self, ip: IpAddr, username: Option<&str>) -> Vec<Subject> {
        let mut s = Vec::with_capacity(2);
        if self.policy.per_ip {
            s.push(Subject {
                kind: SubjectKind::ClientIp,
                key: subject_ip(ip),
            });
        }
        if self.policy.per_username
            && let Some(u) = username
        {
            s.push(Subject {
                kind: SubjectKind::Username,
                key: subject_user(u),
            });
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
            .map(|s| self.lock_op(&s.key, 0))
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

    /// Starts a login attempt by `ip` for `username`: in one all-or-nothing
    /// batch, checks that no subject is locked and charges one attempt to each
    /// subject's attempt counter. Refused (nothing charged) with `locked-out`
    /// when a lock is set, and with `login-concurrency-limited` when only an
    /// attempt counter is empty: that bounds the attempts in flight plus the
    /// failures in the window by `max_failures` per username and by
    /// [`IP_IN_FLIGHT_FACTOR`] times that per client IP.
    pub async fn reserve(
        &self,
        ip: IpAddr,
        username: Option<&str>,
    ) -> Result<Reserved, StoreError> {
        let subjects = self.subjects(ip, username);
        if subjects.is_empty() {
            return Ok(Reserved::Untracked);
        }
        let mut ops: Vec<Op> = subjects.iter().map(|s| self.lock_op(&s.key, 0)).collect();
        ops.extend(subjects.iter().map(|s| self.attempt_op(s)));
        let now = self.clock.now_micros();
        let outcomes = self.store.apply(now, ops).resolve().await?;
        // The first `subjects.len()` outcomes are the lock probes.
        let (locks, attempts) = outcomes.split_at(subjects.len().min(outcomes.len()));
        let locked = locks
            .iter()
            .filter(|o| !o.allowed)
            .map(|o| o.retry_after_us)
            .max();
        Ok(match locked {
            Some(retry_after_us) => Reserved::Refused(headers::locked_out(retry_after_us)),
            // No lock: as many attempts in flight (or failed) as allowed. A
            // reply too short would be a store bug: refuse rather than hold
            // units that were not charged.
            None if attempts.len() < subjects.len() || attempts.iter().any(|o| !o.allowed) => {
                Reserved::Refused(headers::too_many_logins())
            }
            None => Reserved::Held(Reservation { ip, subjects }),
        })
    }

    /// The attempt of `reservation` failed: its attempt units stay charged, the
    /// failure is counted, and each subject whose failure counter it empties is
    /// locked. Returns whether one was.
    pub async fn confirm(&self, reservation: Reservation) -> Result<bool, StoreError> {
        let Reservation { ip, subjects } = reservation;
        let mut locked = false;
        for subject in &subjects {
            locked |= self.count_failure(subject, ip).await?;
        }
        Ok(locked)
    }

    /// The attempt of `reservation` did not fail (or never got an answer): its
    /// units are given back.
    pub async fn refund(&self, reservation: Reservation) -> Result<(), StoreError> {
        self.refund_reply(&reservation).resolve().await.map(drop)
    }

    /// The store's reply to refunding `reservation`, not yet awaited: a local
    /// store has answered already (ready), a remote one acts only when polled.
    pub fn refund_reply(&self, reservation: &Reservation) -> StoreReply<'_> {
        let ops = reservation
            .subjects
            .iter()
            .map(|s| self.attempt_op(s))
            .collect();
        self.store.refund(self.clock.now_micros(), ops)
    }

    /// Sets `subject`'s lock; whether it was not set already.
    async fn set_lock(&self, subject: &Subject, ip: IpAddr, now: u64) -> Result<bool, StoreError> {
        let set = self
            .store
            .apply(now, vec![self.lock_op(&subject.key, 1)])
            .resolve()
            .await?;
        if !set.first().is_some_and(|o| o.allowed) {
            return Ok(false);
        }
        // Usernames stay out of the log: users type passwords into them.
        let kind = subject.kind.as_str();
        tracing::warn!(target: "rampart::ratelimit", kind, client.ip = %ip, "locked out after repeated authentication failures");
        Ok(true)
    }

    /// Counts one failure of `subject`, locking it when that empties its
    /// failure counter; whether it locked. Each subject on its own: the IP's
    /// count must grow even when the username's is exhausted, unlike the
    /// all-or-nothing request limits.
    async fn count_failure(&self, subject: &Subject, ip: IpAddr) -> Result<bool, StoreError> {
        let now = self.clock.now_micros();
        let out = self
            .store
            .apply(now, vec![self.failure_op(&subject.key)])
            .resolve()
            .await?;
        let exhausted = out.first().is_none_or(|o| !o.allowed || o.remaining == 0);
        if exhausted {
            return self.set_lock(subject, ip, now).await;
        }
        Ok(false)
    }

    /// Records one authentication failure for `ip` and `username`; returns whether
    /// this failure locked one of them. For failures of requests that reserved
    /// none (not login attempts); a reserved one is [`Lockout::confirm`]ed.
    pub async fn record_failure(
        &self,
        ip: IpAddr,
        username: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut locked = false;
        for subject in self.subjects(ip, username) {
            locked |= self.count_failure(&subject, ip).await?;
            // Also an attempt, so that fewer logins may be in flight; refused
            // when the attempt counter is already empty, which is as good.
            let now = self.clock.now_micros();
            self.store
                .apply(now, vec![self.attempt_op(&subject)])
                .resolve()
                .await?;
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
        assert_eq!(subject_user("alicé"), a, "accents fold away");
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
