//! At most one log line a minute for an event that may repeat on every
//! request (a refused admin token, a kid-less JWT during a key rotation): a
//! client repeating it must not flood the log, and the line that is written
//! says how many events it stands for.

use std::sync::atomic::{AtomicU64, Ordering};

/// Seconds between two lines.
const INTERVAL_SECS: u64 = 60;

/// One throttled event's state; lock-free, shared by every request.
#[derive(Debug, Default)]
pub struct LogThrottle {
    /// When the last line was due (unix seconds, at least 1; 0: never).
    last_logged_secs: AtomicU64,
    /// Events since that line, this one included once noted.
    unlogged: AtomicU64,
}

impl LogThrottle {
    /// Notes one event at `now` (unix seconds); when a line is due (the
    /// first, then at most one a minute), the events it stands for.
    pub fn note(&self, now: u64) -> Option<u64> {
        self.unlogged.fetch_add(1, Ordering::Relaxed);
        let now = now.max(1);
        let last = self.last_logged_secs.load(Ordering::Relaxed);
        let due = last == 0 || now >= last.saturating_add(INTERVAL_SECS);
        (due && self
            .last_logged_secs
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok())
        .then(|| self.unlogged.swap(0, Ordering::Relaxed).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_at_most_once_a_minute_with_the_events_since_the_last() {
        let log = LogThrottle::default();
        assert_eq!(log.note(1_000), Some(1));
        assert_eq!(log.note(1_010), None);
        assert_eq!(log.note(1_059), None);
        // The line due a minute on stands for every event since the last one.
        assert_eq!(log.note(1_060), Some(3));
        assert_eq!(log.note(1_061), None);
        // A clock at zero (or behind) still logs the first event.
        assert_eq!(LogThrottle::default().note(0), Some(1));
    }
}
