//! Wall-clock time derived from the monotonic clock, so a request reads the
//! clock once (an `Instant`) for both its duration and its audit timestamp.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime};

/// How long a thread's (monotonic, wall-clock) anchor is used before both
/// clocks are read again: a step of the system clock shows within this.
const REANCHOR_AFTER: Duration = Duration::from_secs(1);

thread_local! {
    static ANCHOR: Cell<Option<(Instant, SystemTime)>> = const { Cell::new(None) };
}

/// The wall-clock time at `instant`, a recent `Instant::now()`. Between two
/// readings of both clocks (at most a second apart on a thread) it runs at the
/// monotonic clock's rate: the two drift apart by far less than a millisecond
/// in a second, below what the audit record shows. After a step of the system
/// clock (set by hand or by NTP) or a suspend of the machine, a thread's
/// timestamps may miss the step for up to that second.
pub(crate) fn system_time_at(instant: Instant) -> SystemTime {
    ANCHOR.with(|anchor| {
        if let Some((mono, wall)) = anchor.get()
            && let Some(since) = instant.checked_duration_since(mono)
            && since < REANCHOR_AFTER
            && let Some(at) = wall.checked_add(since)
        {
            return at;
        }
        let (mono, wall) = (Instant::now(), SystemTime::now());
        anchor.set(Some((mono, wall)));
        // `instant` is at or before `mono`.
        wall.checked_sub(mono.saturating_duration_since(instant))
            .unwrap_or(wall)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sets this thread's anchor by hand.
    fn anchor_at(mono: Instant, wall: SystemTime) {
        ANCHOR.with(|anchor| anchor.set(Some((mono, wall))));
    }

    #[test]
    fn an_instant_after_a_recent_anchor_is_the_anchor_plus_the_time_since() {
        let now = Instant::now();
        let Some(anchored) = now.checked_sub(Duration::from_millis(300)) else {
            return;
        };
        // An anchor far from the real wall clock: the result must come from it.
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        anchor_at(anchored, wall);
        assert_eq!(system_time_at(now), wall + Duration::from_millis(300));
        assert_eq!(system_time_at(anchored), wall);
    }

    #[test]
    fn a_stale_anchor_or_an_instant_before_it_reads_the_clocks_again() {
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let close = |derived: SystemTime, expected: SystemTime| {
            let gap = derived
                .duration_since(expected)
                .or_else(|_| expected.duration_since(derived))
                .unwrap_or_default();
            gap < Duration::from_secs(5)
        };
        let now = Instant::now();
        // More than a second old: replaced, not extrapolated.
        if let Some(stale) = now.checked_sub(Duration::from_secs(5)) {
            anchor_at(stale, far);
            assert!(close(system_time_at(now), SystemTime::now()));
        }
        // After the instant asked about: read again, and the instant placed
        // before the new anchor by the time between them.
        anchor_at(now + Duration::from_secs(2), far);
        if let Some(earlier) = now.checked_sub(Duration::from_secs(60)) {
            let expected = SystemTime::now() - Duration::from_secs(60);
            assert!(close(system_time_at(earlier), expected));
        }
    }
}
