//! Time for engines that must not read the system clock themselves: the [`Clock`]
//! they are handed (a [`SystemClock`] in the gateway, a [`ManualClock`] in tests),
//! and the few calendar conversions several engines need (RFC 3339 for audit
//! records, quota resets and key expiries; IMF-fixdate for `Sunset`/`Retry-After`
//! style headers; civil dates for calendar-aligned windows).
//!
//! Parsing goes through `jiff` (offsets, fractions and leap-second forms are easy
//! to get wrong); the hot formatting paths are hand-written because the audit
//! writer formats one timestamp per request.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MICROS_PER_SEC: u64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// A source of wall-clock time, injected so engines stay testable and free of I/O.
pub trait Clock: Send + Sync + Debug {
    /// Microseconds since the Unix epoch.
    fn now_micros(&self) -> u64;

    /// Whole seconds since the Unix epoch.
    fn unix_secs(&self) -> u64 {
        self.now_micros() / MICROS_PER_SEC
    }

    /// The current instant as a [`SystemTime`].
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(self.now_micros())
    }
}

/// The operating system's clock. A clock before 1970 reads as the epoch.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to: for tests of expiry, windows and sunsets.
#[derive(Debug, Default)]
pub struct ManualClock {
    micros: AtomicU64,
}

impl ManualClock {
    /// A clock reading `unix_secs` seconds after the epoch.
    pub fn at_secs(unix_secs: u64) -> Self {
        Self::at_micros(unix_secs.saturating_mul(MICROS_PER_SEC))
    }

    /// A clock reading `unix_micros` microseconds after the epoch.
    pub fn at_micros(unix_micros: u64) -> Self {
        Self {
            micros: AtomicU64::new(unix_micros),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        let _ = self
            .micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(by))
            });
    }

    /// Sets the clock to `unix_secs` seconds after the epoch.
    pub fn set_secs(&self, unix_secs: u64) {
        self.set_micros(unix_secs.saturating_mul(MICROS_PER_SEC));
    }

    /// Sets the clock to `unix_micros` microseconds after the epoch.
    pub fn set_micros(&self, unix_micros: u64) {
        self.micros.store(unix_micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> u64 {
        self.micros.load(Ordering::SeqCst)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian (year, month 1-12, day 1-31).
/// Howard Hinnant's `days_from_civil`; no validation (callers pass real dates).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month 1-12, day 1-31) of a day counted from 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both values are in range by construction (1..=31 and 1..=12).
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`: the audit record's timestamp (millisecond precision).
pub fn rfc3339_millis(time: SystemTime) -> String {
    String::from_utf8_lossy(&rfc3339_millis_bytes(time)).into_owned()
}

/// [`rfc3339_millis`] in a fixed buffer, for writers that format one per
/// request (`write!` with padding costs several times more). Years past 9999
/// are written as 9999-12-31T23:59:59.999Z: no request carries one.
pub fn rfc3339_millis_bytes(time: SystemTime) -> [u8; 24] {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX / 2);
    let (y, m, d) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let Some(year) = u32::try_from(y).ok().filter(|y| *y <= 9999) else {
        return *b"9999-12-31T23:59:59.999Z";
    };
    let tod = u32::try_from(secs.rem_euclid(SECS_PER_DAY)).unwrap_or(0);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for slot in out.iter_mut().skip(at).take(width).rev() {
            // A single decimal digit.
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, tod / 3600);
    put(14, 2, tod % 3600 / 60);
    put(17, 2, tod % 60);
    put(20, 3, since_epoch.subsec_millis());
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ`, or with `±HH:MM` when `offset_secs` (seconds east of
/// UTC) is not zero: the instant `unix_secs` as seen in that offset.
pub fn rfc3339(unix_secs: i64, offset_secs: i32) -> String {
    let (date, hh, mm, ss) = split(unix_secs.saturating_add(i64::from(offset_secs)));
    if offset_secs == 0 {
        return format!("{date}T{hh:02}:{mm:02}:{ss:02}Z");
    }
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let abs = offset_secs.unsigned_abs();
    format!(
        "{date}T{hh:02}:{mm:02}:{ss:02}{sign}{:02}:{:02}",
        abs / 3600,
        abs % 3600 / 60
    )
}

/// Parses an RFC 3339 timestamp (any offset, optional fraction) to Unix seconds,
/// truncating fractions. `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    text.trim()
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|ts| ts.as_second())
}

/// Formats Unix seconds as an IMF-fixdate (RFC 9110), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
/// Out-of-range instants are clamped to the epoch.
pub fn http_date(unix_secs: i64) -> String {
    let ts = jiff::Timestamp::from_second(unix_secs).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&ts)
        .unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 GMT".to_owned())
}

/// `(YYYY-MM-DD, hour, minute, second)` of an instant in seconds.
fn split(secs: i64) -> (String, i64, i64, i64) {
    let (y, m, d) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let tod = secs.rem_euclid(SECS_PER_DAY);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        tod / 3600,
        tod % 3600 / 60,
        tod % 60,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_four_centuries() {
        // Every day from 1800 to 2200 maps back to itself, leap days included.
        let start = days_from_civil(1800, 1, 1);
        let end = days_from_civil(2200, 1, 1);
        for day in start..end {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(
            civil_from_days(days_from_civil(2000, 2, 29) + 1),
            (2000, 3, 1)
        );
        assert_eq!(
            civil_from_days(days_from_civil(1900, 2, 28) + 1),
            (1900, 3, 1)
        );
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_millis(951_827_696_789);
        assert_eq!(rfc3339_millis(leap), "2000-02-29T12:34:56.789Z");
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(rfc3339_millis(far), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(1_795_840_929, 0), "2026-11-28T04:42:09Z");
        assert_eq!(
            rfc3339(1_795_840_929, 2 * 3600),
            "2026-11-28T06:42:09+02:00"
        );
        assert_eq!(
            rfc3339(1_795_840_929, -(5 * 3600 + 1800)),
            "2026-11-27T23:12:09-05:30"
        );
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn parses_offsets_and_fractions_and_refuses_garbage() {
        assert_eq!(parse_rfc3339("2026-11-28T04:42:09Z"), Some(1_795_840_929));
        assert_eq!(
            parse_rfc3339("2026-11-28T06:42:09.5+02:00"),
            Some(1_795_840_929)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        for bad in [
            "",
            "2026-11-28",
            "2026-13-01T00:00:00Z",
            "yesterday",
            "2026-11-28T25:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at_secs(100);
        assert_eq!(clock.unix_secs(), 100);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now_micros(), 101_500_000);
        clock.set_secs(7);
        assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(7));
        assert!(SystemClock.unix_secs() > 1_700_000_000);
    }
}
