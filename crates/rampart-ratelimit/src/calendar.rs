//! Calendar windows for quotas: day and month windows in a [`Zone`] (UTC, a fixed
//! offset, or an IANA time zone with its daylight-saving rules), and the RFC 3339
//! rendering of their reset time.
//!
//! Fixed offsets use `rampart_core::time`'s civil-date arithmetic; named zones use
//! `jiff` with its bundled time-zone database, so no system files are read. In a
//! zone with DST a day is 23 or 25 hours long on the change days, and the reset is
//! still local midnight (or the first instant after it when midnight is skipped).

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use rampart_core::time::{civil_from_days, days_from_civil};

use crate::clock::MICROS_PER_SEC;

const DAY_SECS: i64 = 86_400;

/// The calendar period a quota counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// A calendar day, reset at local midnight.
    Day,
    /// A calendar month, reset at local midnight on the 1st.
    Month,
}

/// Where quota days and months begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zone {
    /// A fixed offset, seconds east of UTC (0 is UTC).
    Fixed(i32),
    /// An IANA time zone such as `Europe/Paris`.
    Named(TimeZone),
}

impl Default for Zone {
    fn default() -> Self {
        Zone::Fixed(0)
    }
}

impl Zone {
    /// `UTC`, `Z`, a fixed offset (`+02:00`, `-05:30`) or an IANA zone name
    /// (`Europe/Paris`), from the bundled database. `None` when it is none of these.
    pub fn parse(text: &str) -> Option<Zone> {
        if let Some(offset) = parse_offset(text) {
            return Some(Zone::Fixed(offset));
        }
        // Names are ASCII letters, digits and `/_-+`; anything else is not looked up.
        let plausible = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b));
        if !plausible {
            return None;
        }
        TimeZone::get(text).ok().map(Zone::Named)
    }

    /// The offset from UTC in force at `at_us`, in seconds east of UTC.
    pub fn offset_at(&self, at_us: u64) -> i32 {
        match self {
            Zone::Fixed(offset) => *offset,
            Zone::Named(tz) => tz.to_offset(timestamp(at_us)).seconds(),
        }
    }
}

/// A window: an id for the storage key and its bounds (µs since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Stable window id, e.g. `d2026-11-28` or `m2026-11`.
    pub id: String,
    /// Start, µs since the epoch.
    pub start_us: u64,
    /// End (exclusive, the reset time), µs since the epoch.
    pub end_us: u64,
}

fn to_us(secs: i64) -> u64 {
    u64::try_from(secs)
        .unwrap_or(0)
        .saturating_mul(MICROS_PER_SEC)
}

fn timestamp(at_us: u64) -> Timestamp {
    i64::try_from(at_us)
        .ok()
        .and_then(|us| Timestamp::from_microsecond(us).ok())
        .unwrap_or(Timestamp::MAX)
}

/// The window of `period` containing `now_us`, in `zone`.
pub fn window(period: Period, now_us: u64, zone: &Zone) -> Window {
    match zone {
        Zone::Fixed(offset) => fixed_window(period, now_us, *offset),
        Zone::Named(tz) => named_window(period, now_us, tz)
            // Only at the far ends of jiff's range (year ±9999); UTC is as good there.
            .unwrap_or_else(|| fixed_window(period, now_us, 0)),
    }
}

fn fixed_window(period: Period, now_us: u64, offset_secs: i32) -> Window {
    let now = i64::try_from(now_us / MICROS_PER_SEC).unwrap_or(i64::MAX / 2);
    let off = i64::from(offset_secs);
    let local_day = (now + off).div_euclid(DAY_SECS);
    let (y, m, d) = civil_from_days(local_day);
    match period {
        Period::Day => Window {
            id: format!("d{y:04}-{m:02}-{d:02}"),
            start_us: to_us(local_day * DAY_SECS - off),
            end_us: to_us((local_day + 1) * DAY_SECS - off),
        },
        Period::Month => {
            let first = days_from_civil(y, m, 1);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let next = days_from_civil(ny, nm, 1);
            Window {
                id: format!("m{y:04}-{m:02}"),
                start_us: to_us(first * DAY_SECS - off),
                end_us: to_us(next * DAY_SECS - off),
            }
        }
    }
}

fn named_window(period: Period, now_us: u64, tz: &TimeZone) -> Option<Window> {
    let today = timestamp(now_us).to_zoned_datetime(tz.clone()).date();
    let (first, next, id) = match period {
        Period::Day => (
            today,
            today.tomorrow().ok()?,
            format!(
                "d{:04}-{:02}-{:02}",
                today.year(),
                today.month(),
                today.day()
            ),
        ),
        Period::Month => (
            today.first_of_month(),
            today.last_of_month().tomorrow().ok()?,
            format!("m{:04}-{:02}", today.year(), today.month()),
        ),
    };
    let start = |date: Date| -> Option<u64> {
        // Midnight, or the first instant after it when a DST change skips it.
        let us = date
            .to_zoned_datetime(tz.clone())
            .ok()?
            .timestamp()
            .as_microsecond();
        u64::try_from(us).ok()
    };
    Some(Window {
        id,
        start_us: start(first)?,
        end_us: start(next)?,
    })
}

/// RFC 3339 rendering of `at_us` with the offset `zone` has then, e.g.
/// `2026-11-29T00:00:00+01:00`.
pub fn rfc3339(at_us: u64, zone: &Zone) -> String {
    let secs = i64::try_from(at_us / MICROS_PER_SEC).unwrap_or(0);
    rampart_core::time::rfc3339(secs, zone.offset_at(at_us))
}

/// Parses a fixed offset: `Z`, `UTC`, `+02:00`, `-05:30`. Returns seconds east of UTC.
pub fn parse_offset(text: &str) -> Option<i32> {
    if text.eq_ignore_ascii_case("z") || text.eq_ignore_ascii_case("utc") {
        return Some(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, text.get(1..)?),
        b'-' => (-1, text.get(1..)?),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    // Two digits each: `parse` alone would take a sign (`+-5:00`).
    let two_digits = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return None;
    }
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    // 2026-11-28T04:46:00Z
    const NOW: u64 = 1_795_841_160 * MICROS_PER_SEC;
    const HOUR_US: u64 = 3_600 * MICROS_PER_SEC;
    const UTC: Zone = Zone::Fixed(0);

    fn at(text: &str) -> u64 {
        let secs = rampart_core::time::parse_rfc3339(text).unwrap();
        u64::try_from(secs).unwrap() * MICROS_PER_SEC
    }

    fn paris() -> Zone {
        Zone::parse("Europe/Paris").unwrap()
    }

    #[test]
    fn utc_day_window() {
        let w = window(Period::Day, NOW, &UTC);
        assert_eq!(w.id, "d2026-11-28");
        assert_eq!(rfc3339(w.start_us, &UTC), "2026-11-28T00:00:00Z");
        assert_eq!(rfc3339(w.end_us, &UTC), "2026-11-29T00:00:00Z");
    }

    #[test]
    fn offset_moves_the_day_boundary() {
        // 04:46Z is 23:46 on the 27th at -05:00.
        let zone = Zone::Fixed(-5 * 3600);
        let w = window(Period::Day, NOW, &zone);
        assert_eq!(w.id, "d2026-11-27");
        assert_eq!(rfc3339(w.end_us, &zone), "2026-11-28T00:00:00-05:00");
        assert_eq!(rfc3339(w.end_us, &UTC), "2026-11-28T05:00:00Z");
    }

    #[test]
    fn month_windows_cross_year_and_leap_february() {
        let w = window(Period::Month, NOW, &UTC);
        assert_eq!(w.id, "m2026-11");
        assert_eq!(rfc3339(w.end_us, &UTC), "2026-12-01T00:00:00Z");
        let dec = window(Period::Month, w.end_us + 1, &UTC);
        assert_eq!(rfc3339(dec.end_us, &UTC), "2027-01-01T00:00:00Z");
        let feb = days_from_civil(2028, 2, 10) as u64 * 86_400 * MICROS_PER_SEC;
        let plus1 = Zone::Fixed(3600);
        let w = window(Period::Month, feb, &plus1);
        assert_eq!(rfc3339(w.end_us, &plus1), "2028-03-01T00:00:00+01:00");
        assert_eq!(w.end_us - w.start_us, 29 * 86_400 * MICROS_PER_SEC);
    }

    #[test]
    fn offsets_and_zone_names_parse_and_bad_ones_do_not() {
        assert_eq!(parse_offset("UTC"), Some(0));
        assert_eq!(parse_offset("+02:00"), Some(7200));
        assert_eq!(parse_offset("-05:30"), Some(-19_800));
        for bad in [
            "", "+2", "02:00", "+15:00", "+01:60", "+aa:00", "+", "+-5:00", "+02:-5", "++2:00",
        ] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
        assert_eq!(Zone::parse("+02:00"), Some(Zone::Fixed(7200)));
        assert!(matches!(
            Zone::parse("America/New_York"),
            Some(Zone::Named(_))
        ));
        for bad in ["Europe/Atlantis", "../../etc/passwd", "Europe/Paris\n", ""] {
            assert_eq!(Zone::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn paris_days_are_23_and_25_hours_long_across_dst_changes() {
        let zone = paris();
        // Winter: midnight is 23:00Z the day before.
        let w = window(Period::Day, at("2026-11-28T04:46:00Z"), &zone);
        assert_eq!(w.id, "d2026-11-28");
        assert_eq!(rfc3339(w.start_us, &UTC), "2026-11-27T23:00:00Z");
        assert_eq!(rfc3339(w.end_us, &zone), "2026-11-29T00:00:00+01:00");
        // 2026-03-29: clocks go from 02:00 to 03:00; the day is 23 hours.
        let spring = window(Period::Day, at("2026-03-29T12:00:00Z"), &zone);
        assert_eq!(spring.id, "d2026-03-29");
        assert_eq!(rfc3339(spring.start_us, &zone), "2026-03-29T00:00:00+01:00");
        assert_eq!(rfc3339(spring.end_us, &zone), "2026-03-30T00:00:00+02:00");
        assert_eq!(spring.end_us - spring.start_us, 23 * HOUR_US);
        // 2026-10-25: clocks go from 03:00 back to 02:00; the day is 25 hours.
        let autumn = window(Period::Day, at("2026-10-25T12:00:00Z"), &zone);
        assert_eq!(autumn.end_us - autumn.start_us, 25 * HOUR_US);
        assert_eq!(rfc3339(autumn.end_us, &zone), "2026-10-26T00:00:00+01:00");
        // Either side of local midnight in summer (22:00Z): two different days.
        let before = window(Period::Day, at("2026-07-01T21:59:59Z"), &zone);
        let after = window(Period::Day, at("2026-07-01T22:00:00Z"), &zone);
        assert_eq!(
            (before.id.as_str(), after.id.as_str()),
            ("d2026-07-01", "d2026-07-02")
        );
        assert_eq!(before.end_us, after.start_us);
    }

    #[test]
    fn paris_months_span_the_dst_change() {
        let zone = paris();
        let march = window(Period::Month, at("2026-03-15T00:00:00Z"), &zone);
        assert_eq!(march.id, "m2026-03");
        assert_eq!(rfc3339(march.start_us, &zone), "2026-03-01T00:00:00+01:00");
        assert_eq!(rfc3339(march.end_us, &zone), "2026-04-01T00:00:00+02:00");
        assert_eq!(march.end_us - march.start_us, (31 * 24 - 1) * HOUR_US);
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_at_the_first_instant_after_it() {
        // America/Havana moves clocks forward at midnight: 2026-03-08 00:00 does
        // not exist locally, the day starts at 01:00 (-04:00).
        let zone = Zone::parse("America/Havana").unwrap();
        let w = window(Period::Day, at("2026-03-08T12:00:00Z"), &zone);
        assert_eq!(w.id, "d2026-03-08");
        assert_eq!(rfc3339(w.start_us, &zone), "2026-03-08T01:00:00-04:00");
        assert_eq!(w.end_us - w.start_us, 23 * HOUR_US);
    }
}
