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
/// in a second, below what the audit record shows.
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

    /// `system_time_at` against a fresh reading of the wall clock: the gap
    /// between them, either way.
    fn gap(instant: Instant, expected: SystemTime) -> Duration {
        let derived = system_time_at(instant);
        derived
            .duration_since(expected)
            .or_else(|_| expected.duration_since(derived))
            .unwrap_or_default()
    }

    #[test]
    fn the_wall_clock_at_an_instant_is_the_system_time_then() {
        // Anchored by the first call, derived from the anchor by the next.
        for _ in 0..3 {
            let (now, wall) = (Instant::now(), SystemTime::now());
            assert!(gap(now, wall) < Duration::from_millis(50));
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn an_instant_before_the_anchor_or_long_after_it_is_placed_right() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let _ = system_time_at(now);
        // Before the anchor: two seconds earlier than now.
        let earlier = now.checked_sub(Duration::from_secs(2));
        if let Some(earlier) = earlier {
            let expected = wall - Duration::from_secs(2);
            assert!(gap(earlier, expected) < Duration::from_millis(50));
        }
        // An anchor more than a second old is replaced, not extrapolated.
        ANCHOR.with(|anchor| {
            anchor.set(Some((
                now - Duration::from_secs(5),
                wall - Duration::from_secs(3600),
            )));
        });
        let (later, wall) = (Instant::now(), SystemTime::now());
        assert!(gap(later, wall) < Duration::from_millis(50));
    }
}
