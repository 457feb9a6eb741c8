//! Calendar arithmetic for quotas: day and month windows at a fixed UTC offset,
//! and RFC 3339 rendering of their reset time. Hand-written (Howard Hinnant's
//! civil-date algorithms) to keep the engine free of a date library.

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

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn to_us(secs: i64) -> u64 {
    u64::try_from(secs)
        .unwrap_or(0)
        .saturating_mul(MICROS_PER_SEC)
}

/// The window of `period` containing `now_us`, at `offset_secs` east of UTC.
pub fn window(period: Period, now_us: u64, offset_secs: i32) -> Window {
    let now = i64::try_from(now_us / MICROS_PER_SEC).unwrap_or(i64::MAX / 2);
    let off = i64::from(offset_secs);
    let local_day = (now + off).div_euclid(DAY_SECS);
    match period {
        Period::Day => {
            let (y, m, d) = civil_from_days(local_day);
            Window {
                id: format!("d{y:04}-{m:02}-{d:02}"),
                start_us: to_us(local_day * DAY_SECS - off),
                end_us: to_us((local_day + 1) * DAY_SECS - off),
            }
        }
        Period::Month => {
            let (y, m, _) = civil_from_days(local_day);
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

/// RFC 3339 rendering of `at_us` in the given offset, e.g. `2026-11-29T00:00:00+02:00`.
pub fn rfc3339(at_us: u64, offset_secs: i32) -> String {
    let secs = i64::try_from(at_us / MICROS_PER_SEC).unwrap_or(0) + i64::from(offset_secs);
    let day = secs.div_euclid(DAY_SECS);
    let tod = secs.rem_euclid(DAY_SECS);
    let (y, m, d) = civil_from_days(day);
    let (hh, mm, ss) = (tod / 3600, (tod % 3600) / 60, tod % 60);
    if offset_secs == 0 {
        return format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z");
    }
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let abs = offset_secs.unsigned_abs();
    format!(
        "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}{sign}{:02}:{:02}",
        abs / 3600,
        (abs % 3600) / 60
    )
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
    if h.len() != 2 || m.len() != 2 {
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

    #[test]
    fn utc_day_window() {
        let w = window(Period::Day, NOW, 0);
        assert_eq!(w.id, "d2026-11-28");
        assert_eq!(rfc3339(w.start_us, 0), "2026-11-28T00:00:00Z");
        assert_eq!(rfc3339(w.end_us, 0), "2026-11-29T00:00:00Z");
    }

    #[test]
    fn offset_moves_the_day_boundary() {
        // 04:46Z is 23:46 on the 27th at -05:00.
        let w = window(Period::Day, NOW, -5 * 3600);
        assert_eq!(w.id, "d2026-11-27");
        assert_eq!(rfc3339(w.end_us, -5 * 3600), "2026-11-28T00:00:00-05:00");
        assert_eq!(rfc3339(w.end_us, 0), "2026-11-28T05:00:00Z");
    }

    #[test]
    fn month_windows_cross_year_and_leap_february() {
        let w = window(Period::Month, NOW, 0);
        assert_eq!(w.id, "m2026-11");
        assert_eq!(rfc3339(w.end_us, 0), "2026-12-01T00:00:00Z");
        let dec = window(Period::Month, w.end_us + 1, 0);
        assert_eq!(rfc3339(dec.end_us, 0), "2027-01-01T00:00:00Z");
        let feb = days_from_civil(2028, 2, 10) as u64 * 86_400 * MICROS_PER_SEC;
        let w = window(Period::Month, feb, 3600);
        assert_eq!(rfc3339(w.end_us, 3600), "2028-03-01T00:00:00+01:00");
        assert_eq!(w.end_us - w.start_us, 29 * 86_400 * MICROS_PER_SEC);
    }

    #[test]
    fn civil_round_trip() {
        for day in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }

    #[test]
    fn offsets_parse_and_bad_ones_do_not() {
        assert_eq!(parse_offset("UTC"), Some(0));
        assert_eq!(parse_offset("+02:00"), Some(7200));
        assert_eq!(parse_offset("-05:30"), Some(-19_800));
        for bad in ["", "+2", "02:00", "+15:00", "+01:60", "+aa:00", "+"] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
    }
}
