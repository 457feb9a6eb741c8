//! The two counting algorithms, as pure functions of (stored state, now, op).
//!
//! - **GCRA** (generic cell rate algorithm): the state is one timestamp, the
//!   *theoretical arrival time* (TAT). A limit of `burst` requests with one request
//!   regained every `emission` µs admits a request when, after charging it, the TAT
//!   is at most `burst × emission` ahead of now. That is a token bucket without a
//!   refill timer, and the state is a single `u64`, which makes the Redis script and
//!   the local shards equally simple.
//! - **Fixed calendar window** (quotas): a counter that expires at the window end.
//!
//! A `cost` of 0 asks "would one more request pass?" and never changes state; the
//! lock-out check uses it. [`refund`] gives back what an earlier charge took
//! (the lock-out's reservations, Redis Cluster's partial batches).
//!
//! The same arithmetic is written in Lua in `rampart-redis`; tests there check both
//! agree.

/// The state one key holds: for GCRA `value` is the TAT and `idle_at` equals it;
/// for a window `value` is the count and `idle_at` the window end. At or after
/// `idle_at` the slot says nothing an absent slot would not, so it may be evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Slot {
    /// TAT (µs) or request count.
    pub value: u64,
    /// When this slot becomes equivalent to an absent one (µs since the epoch).
    pub idle_at: u64,
}

/// What one op decided about one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eval {
    /// Whether the op passes.
    pub allowed: bool,
    /// Units left after this op (0 when refused).
    pub remaining: u64,
    /// µs until the key is back to its full allowance.
    pub reset_after: u64,
    /// µs until a refused op would pass (0 when allowed).
    pub retry_after: u64,
    /// The state to store when every op of the request passed (`None`: leave as is).
    pub next: Option<Slot>,
}

/// GCRA for one key. `emission` is µs per unit (> 0), `burst` the number of units
/// that may pass at once (>= 1).
pub fn gcra(state: Option<Slot>, now: u64, emission: u64, burst: u64, cost: u64) -> Eval {
    let emission = emission.max(1);
    let tolerance = emission.saturating_mul(burst.max(1));
    let tat = state.map_or(now, |s| s.value).max(now);
    let charged = cost.max(1);
    let new_tat = tat.saturating_add(emission.saturating_mul(charged));
    let allow_at = new_tat.saturating_sub(tolerance);
    if allow_at > now {
        return Eval {
            allowed: false,
            remaining: 0,
            reset_after: tat - now,
            retry_after: allow_at - now,
            next: None,
        };
    }
    let remaining = (now.saturating_add(tolerance) - new_tat) / emission;
    if cost == 0 {
        // A probe: report as if one unit were charged, store nothing.
        return Eval {
            allowed: true,
            remaining: remaining.saturating_add(1).min(burst),
            reset_after: tat - now,
            retry_after: 0,
            next: None,
        };
    }
    Eval {
        allowed: true,
        remaining,
        reset_after: new_tat - now,
        retry_after: 0,
        next: Some(Slot {
            value: new_tat,
            idle_at: new_tat,
        }),
    }
}

/// A fixed window of `limit` units ending at `window_end` (µs since the epoch).
pub fn window(state: Option<Slot>, now: u64, limit: u64, window_end: u64, cost: u64) -> Eval {
    // A slot from an earlier window (its end has passed) counts as empty.
    let used = state.filter(|s| s.idle_at > now).map_or(0, |s| s.value);
    let reset_after = window_end.saturating_sub(now);
    let charged = cost.max(1);
    let after = used.saturating_add(charged);
    if after > limit {
        return Eval {
            allowed: false,
            remaining: limit.saturating_sub(used),
            reset_after,
            retry_after: reset_after,
            next: None,
        };
    }
    let next = (cost > 0).then_some(Slot {
        value: after,
        idle_at: window_end,
    });
    Eval {
        allowed: true,
        remaining: if cost == 0 {
            limit - used
        } else {
            limit - after
        },
        reset_after,
        retry_after: 0,
        next,
    }
}

/// The state after giving back `cost` units charged earlier: a GCRA key's TAT
/// moves back by `emission × cost`, a window's count drops by `cost`. Charges are
/// additive, so the charges of other requests made since stay. `None`: the key
/// is back to full (or was already), the slot can go. `kind` is the op's
/// algorithm; the same arithmetic as `REFUND_SCRIPT` in `rampart-redis`.
pub fn refund(
    state: Option<Slot>,
    now: u64,
    kind: crate::store::Algorithm,
    cost: u64,
) -> Option<Slot> {
    let slot = state.filter(|s| s.idle_at > now)?;
    if cost == 0 {
        return Some(slot);
    }
    match kind {
        crate::store::Algorithm::Gcra { emission_us, .. } => {
            let back = slot
                .value
                .saturating_sub(emission_us.max(1).saturating_mul(cost));
            (back > now).then_some(Slot {
                value: back,
                idle_at: back,
            })
        }
        crate::store::Algorithm::Window { .. } => {
            let left = slot.value.saturating_sub(cost);
            (left > 0).then_some(Slot {
                value: left,
                idle_at: slot.idle_at,
            })
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000;

    fn run(state: &mut Option<Slot>, now: u64, emission: u64, burst: u64) -> Eval {
        let e = gcra(*state, now, emission, burst, 1);
        if let Some(next) = e.next {
            *state = Some(next);
        }
        e
    }

    #[test]
    fn burst_passes_then_the_next_is_refused() {
        let mut s = None;
        for i in 0..5 {
            let e = run(&mut s, 100 * SEC, SEC, 5);
            assert!(e.allowed, "request {i} of the burst");
            assert_eq!(e.remaining, 4 - i);
        }
        let e = run(&mut s, 100 * SEC, SEC, 5);
        assert!(!e.allowed);
        assert_eq!(e.retry_after, SEC);
        assert_eq!(e.reset_after, 5 * SEC);
    }

    #[test]
    fn one_unit_comes_back_per_emission_interval() {
        let mut s = None;
        for _ in 0..3 {
            assert!(run(&mut s, 0, SEC, 3).allowed);
        }
        assert!(!run(&mut s, SEC - 1, SEC, 3).allowed);
        assert!(run(&mut s, SEC, SEC, 3).allowed);
        assert!(!run(&mut s, SEC, SEC, 3).allowed);
    }

    #[test]
    fn sustained_rate_never_exceeds_burst_plus_rate_times_time() {
        let mut s = None;
        let mut accepted = 0u64;
        // 10 per second, burst 4, hammered every 10 ms for 10 s.
        let mut now = 0;
        while now <= 10 * SEC {
            if run(&mut s, now, SEC / 10, 4).allowed {
                accepted += 1;
            }
            now += SEC / 100;
        }
        assert_eq!(accepted, 4 + 100);
    }

    #[test]
    fn probe_does_not_consume() {
        let s = None;
        let p = gcra(s, 0, SEC, 2, 0);
        assert!(p.allowed);
        assert!(p.next.is_none());
        assert_eq!(p.remaining, 2);
    }

    #[test]
    fn clock_going_backwards_is_safe() {
        let mut s = None;
        assert!(run(&mut s, 10 * SEC, SEC, 1).allowed);
        let e = run(&mut s, 5 * SEC, SEC, 1);
        assert!(!e.allowed);
        assert_eq!(e.retry_after, 6 * SEC);
    }

    #[test]
    fn a_refund_gives_back_exactly_what_was_charged() {
        use crate::store::Algorithm;
        let g = Algorithm::Gcra {
            emission_us: SEC,
            burst: 3,
        };
        let mut s = None;
        for _ in 0..3 {
            assert!(run(&mut s, 0, SEC, 3).allowed);
        }
        assert!(!run(&mut s, 0, SEC, 3).allowed);
        // One back: one more passes, and only one.
        s = refund(s, 0, g, 1);
        assert!(run(&mut s, 0, SEC, 3).allowed);
        assert!(!run(&mut s, 0, SEC, 3).allowed);
        // All back: the key is as if absent.
        assert_eq!(refund(s, 0, g, 3), None);
        // Nothing to give back from an idle key, nor more than was charged.
        assert_eq!(refund(s, 10 * SEC, g, 1), None);
        let w = Algorithm::Window {
            limit: 3,
            window_end_us: 100,
        };
        let two = Some(Slot {
            value: 2,
            idle_at: 100,
        });
        assert_eq!(
            refund(two, 10, w, 1),
            Some(Slot {
                value: 1,
                idle_at: 100
            })
        );
        assert_eq!(refund(two, 10, w, 5), None);
        assert_eq!(refund(two, 100, w, 1), None, "a window that ended");
    }

    #[test]
    fn window_counts_to_limit_and_resets_at_its_end() {
        let mut s = None;
        for i in 0..3 {
            let e = window(s, 10, 3, 100, 1);
            assert!(e.allowed);
            assert_eq!(e.remaining, 2 - i);
            s = e.next;
        }
        let e = window(s, 50, 3, 100, 1);
        assert!(!e.allowed);
        assert_eq!(e.retry_after, 50);
        // Next window: the key includes the window id, but a stale slot is also empty.
        let e = window(s, 100, 3, 200, 1);
        assert!(e.allowed);
        assert_eq!(e.remaining, 2);
    }
}
