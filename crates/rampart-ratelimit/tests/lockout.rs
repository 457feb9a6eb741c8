//! Brute-force lock-out: failures per IP and per username lock the key; login
//! attempts reserve their failure while in flight.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::*;
use rampart_core::Verdict;
use rampart_ratelimit::{PreAuthRateLimitStage, Reservation, Reserved};
use serde_json::json;

fn config() -> serde_json::Value {
    json!({ "lockout": { "max_failures": 3, "window": "5m", "lock_for": "15m" } })
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn repeated_failures_lock_the_ip_and_the_pre_auth_stage_refuses_it() {
    let (limiter, clock) = limiter(config());
    let lockout = limiter.lockout().unwrap();
    let attacker = ip("203.0.113.7");
    assert!(!now_or_never(lockout.record_failure(attacker, None)).unwrap());
    assert!(!now_or_never(lockout.record_failure(attacker, None)).unwrap());
    assert!(
        now_or_never(lockout.check(attacker, None))
            .unwrap()
            .is_none()
    );
    assert!(
        now_or_never(lockout.record_failure(attacker, None)).unwrap(),
        "third locks"
    );
    let p = now_or_never(lockout.check(attacker, None))
        .unwrap()
        .unwrap();
    assert_eq!(p.kind.slug, "locked-out");
    assert_eq!(p.kind.status, 429);
    assert_eq!(header(&p, "retry-after"), Some("900"));

    let stage = PreAuthRateLimitStage::new(limiter.clone());
    let p = refused(run(&stage, &mut request("203.0.113.7", "POST /login")));
    assert_eq!(p.kind.slug, "locked-out");
    // A legitimate client elsewhere is not affected.
    assert_eq!(
        run(&stage, &mut request("198.51.100.1", "POST /login")),
        Verdict::Continue
    );

    // Failures while locked do not extend the lock.
    clock.advance(Duration::from_secs(600));
    now_or_never(lockout.record_failure(attacker, None)).unwrap();
    let p = now_or_never(lockout.check(attacker, None))
        .unwrap()
        .unwrap();
    assert_eq!(header(&p, "retry-after"), Some("300"));
    clock.advance(Duration::from_secs(300));
    assert!(
        now_or_never(lockout.check(attacker, None))
            .unwrap()
            .is_none(),
        "lock expired"
    );
    assert_eq!(
        run(&stage, &mut request("203.0.113.7", "POST /login")),
        Verdict::Continue
    );
}

#[test]
fn failures_spread_beyond_the_window_do_not_lock() {
    let (limiter, clock) = limiter(config());
    let lockout = limiter.lockout().unwrap();
    let user = ip("203.0.113.7");
    // One failure every 2 min 30 s: under 3 per 5 min, a forgetful legitimate user.
    for _ in 0..20 {
        assert!(!now_or_never(lockout.record_failure(user, Some("alice"))).unwrap());
        clock.advance(Duration::from_secs(150));
    }
    assert!(
        now_or_never(lockout.check(user, Some("alice")))
            .unwrap()
            .is_none()
    );
}

#[test]
fn username_is_locked_across_ips_case_insensitively() {
    let (limiter, _clock) = limiter(json!({
        "lockout": { "max_failures": 3, "window": "5m", "lock_for": "15m", "per_ip": false }
    }));
    let lockout = limiter.lockout().unwrap();
    // Credential guessing against one account from three addresses.
    for (n, addr) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"].iter().enumerate() {
        let name = if n == 1 { "Alice" } else { "alice" };
        now_or_never(lockout.record_failure(ip(addr), Some(name))).unwrap();
    }
    let p = now_or_never(lockout.check(ip("198.51.100.1"), Some("ALICE"))).unwrap();
    assert_eq!(p.unwrap().kind.slug, "locked-out");
    assert!(
        now_or_never(lockout.check(ip("198.51.100.1"), Some("bob")))
            .unwrap()
            .is_none()
    );
    // IPs are not tracked in this configuration.
    assert!(
        now_or_never(lockout.check(ip("192.0.2.1"), None))
            .unwrap()
            .is_none()
    );
}

#[test]
fn credential_stuffing_from_one_ip_locks_the_ip_not_the_victims() {
    let (limiter, _clock) = limiter(config());
    let lockout = limiter.lockout().unwrap();
    let attacker = ip("203.0.113.66");
    for n in 0..3 {
        now_or_never(lockout.record_failure(attacker, Some(&format!("user{n}")))).unwrap();
    }
    assert!(
        now_or_never(lockout.check(attacker, None))
            .unwrap()
            .is_some()
    );
    // Each victim account saw one failure: still usable from their own address.
    let victim = ip("198.51.100.1");
    assert!(
        now_or_never(lockout.check(victim, Some("user0")))
            .unwrap()
            .is_none()
    );
}

fn held(r: Reserved) -> Reservation {
    match r {
        Reserved::Held(reservation) => reservation,
        other => panic!("expected a reservation, got {other:?}"),
    }
}

#[test]
fn login_attempts_in_flight_count_against_the_limit_until_settled() {
    let (limiter, _clock) = limiter(config());
    let lockout = limiter.lockout().unwrap();
    let reserve = |last: u8| {
        now_or_never(lockout.reserve(ip(&format!("192.0.2.{last}")), Some("victim"))).unwrap()
    };
    // Three attempts in flight for one user: a fourth, from anywhere, waits.
    let in_flight: Vec<Reservation> = (1..=3).map(|i| held(reserve(i))).collect();
    let Reserved::Refused(p) = reserve(4) else {
        panic!("a fourth attempt in flight")
    };
    // Nobody failed: not reported as a lock-out, and worth retrying soon.
    assert_eq!(p.kind.slug, "login-concurrency-limited");
    assert_eq!(header(&p, "retry-after"), Some("1"));
    // The refused attempt charged nothing: its address has all its failures left.
    let from_4: Vec<Reservation> = ["u1", "u2", "u3"]
        .iter()
        .map(|u| held(now_or_never(lockout.reserve(ip("192.0.2.4"), Some(u))).unwrap()))
        .collect();
    for r in from_4 {
        now_or_never(lockout.refund(r)).unwrap();
    }
    // One succeeds (refunded): room for one more.
    let mut in_flight = in_flight.into_iter();
    now_or_never(lockout.refund(in_flight.next().unwrap())).unwrap();
    let fourth = held(reserve(4));
    // The other three fail: the last one locks the user.
    assert!(!now_or_never(lockout.confirm(in_flight.next().unwrap())).unwrap());
    assert!(!now_or_never(lockout.confirm(in_flight.next().unwrap())).unwrap());
    assert!(
        now_or_never(lockout.confirm(fourth)).unwrap(),
        "the third failure locks"
    );
    let p = now_or_never(lockout.check(ip("198.51.100.1"), Some("victim")))
        .unwrap()
        .unwrap();
    assert_eq!(header(&p, "retry-after"), Some("900"));
    let Reserved::Refused(p) = reserve(9) else {
        panic!("locked")
    };
    assert_eq!(p.kind.slug, "locked-out");
    assert_eq!(header(&p, "retry-after"), Some("900"));
}

#[test]
fn many_users_behind_one_address_log_in_at_once() {
    let (limiter, _clock) = limiter(config());
    let lockout = limiter.lockout().unwrap();
    let office = ip("192.0.2.80");
    // Thirty colleagues at nine, all in flight at once (max_failures is 3).
    let in_flight: Vec<Reservation> = (0..30)
        .map(|n| held(now_or_never(lockout.reserve(office, Some(&format!("user{n}")))).unwrap()))
        .collect();
    // Past ten times max_failures the address waits a second; nobody is locked.
    let Reserved::Refused(p) = now_or_never(lockout.reserve(office, Some("user30"))).unwrap()
    else {
        panic!("the address has a bound")
    };
    assert_eq!(p.kind.slug, "login-concurrency-limited");
    assert_eq!(header(&p, "retry-after"), Some("1"));
    for r in in_flight {
        now_or_never(lockout.refund(r)).unwrap();
    }
    // Parallel guesses against one account from that address stay capped at 3.
    let guesses: Vec<Reserved> = (0..5)
        .map(|_| now_or_never(lockout.reserve(office, Some("victim"))).unwrap())
        .collect();
    let refused: Vec<_> = guesses
        .iter()
        .filter_map(|r| match r {
            Reserved::Refused(p) => Some(p.kind.slug),
            _ => None,
        })
        .collect();
    assert_eq!(refused, ["login-concurrency-limited"; 2]);
    // Three confirmed failures from the address lock it, for every account.
    for r in guesses {
        if let Reserved::Held(r) = r {
            now_or_never(lockout.confirm(r)).unwrap();
        }
    }
    let Reserved::Refused(p) = now_or_never(lockout.reserve(office, Some("bob"))).unwrap() else {
        panic!("the address is locked")
    };
    assert_eq!(p.kind.slug, "locked-out");
}

#[test]
fn attempts_nobody_tracks_reserve_nothing() {
    let (limiter, _clock) = limiter(json!({
        "lockout": { "max_failures": 3, "window": "5m", "lock_for": "15m", "per_ip": false }
    }));
    let lockout = limiter.lockout().unwrap();
    assert!(matches!(
        now_or_never(lockout.reserve(ip("192.0.2.1"), None)).unwrap(),
        Reserved::Untracked
    ));
}
