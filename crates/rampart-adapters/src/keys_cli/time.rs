//! Expiry arguments: a lifetime (`30d`, `12h`, `90m`, `3600s`, `2w`) or an
//! RFC 3339 instant (`2027-01-31T00:00:00Z`), and Unix seconds back to RFC 3339
//! for listings. Small and strict: operator input, but still bounded.

use std::time::Duration;

/// Longest lifetime accepted: 100 years.
pub const MAX_LIFETIME_SECS: u64 = 100 * 366 * 86_400;

/// Parses a lifetime such as `30d`.
pub fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.len() > 16 {
        return Err("lifetime too long".into());
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or("a lifetime needs a unit: s, m, h, d or w")?;
    let (digits, unit) = text.split_at(split);
    let amount: u64 = digits.parse().map_err(|_| "not a number")?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err("unknown unit (use s, m, h, d or w)".into()),
    };
    let secs = amount
        .checked_mul(unit_secs)
        .filter(|s| (1..=MAX_LIFETIME_SECS).contains(s))
        .ok_or("lifetime must be positive and at most 100 years")?;
    Ok(Duration::from_secs(secs))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn number(bytes: &[u8], range: std::ops::Range<usize>) -> Result<i64, String> {
    let digits = bytes.get(range).ok_or("truncated timestamp")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err("not an RFC 3339 timestamp".into());
    }
    Ok(digits
        .iter()
        .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
}

/// Parses an RFC 3339 timestamp into Unix seconds (fractions are dropped).
pub fn parse_rfc3339(text: &str) -> Result<u64, String> {
    let b = text.trim().as_bytes();
    if b.len() < 20 || b.len() > 40 {
        return Err("not an RFC 3339 timestamp".into());
    }
    let sep = |i: usize, allowed: &[u8]| -> Result<(), String> {
        match b.get(i) {
            Some(c) if allowed.contains(c) => Ok(()),
            _ => Err("not an RFC 3339 timestamp".into()),
        }
    };
    sep(4, b"-")?;
    sep(7, b"-")?;
    sep(10, b"Tt ")?;
    sep(13, b":")?;
    sep(16, b":")?;
    let (year, month, day) = (number(b, 0..4)?, number(b, 5..7)?, number(b, 8..10)?);
    let (hour, minute, second) = (number(b, 11..13)?, number(b, 14..16)?, number(b, 17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err("timestamp out of range".into());
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err("empty fraction".into());
        }
    }
    let offset = match b.get(i..) {
        Some(b"Z" | b"z") => 0,
        Some([sign @ (b'+' | b'-'), rest @ ..])
            if rest.len() == 5 && rest.get(2) == Some(&b':') =>
        {
            let (oh, om) = (number(rest, 0..2)?, number(rest, 3..5)?);
            if oh > 23 || om > 59 {
                return Err("offset out of range".into());
            }
            let secs = oh * 3_600 + om * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return Err("timestamp needs Z or an offset like +02:00".into()),
    };
    // A leap second counts as the last second of its minute.
    let second = second.min(59);
    let unix =
        days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second - offset;
    u64::try_from(unix).map_err(|_| "timestamp before 1970".into())
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(unix: u64) -> String {
    let Ok(secs) = i64::try_from(unix) else {
        return "never".into();
    };
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    if y > 9999 {
        return "never".into();
    }
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(parse_lifetime("30d").unwrap().as_secs(), 30 * 86_400);
        assert_eq!(parse_lifetime("12h").unwrap().as_secs(), 43_200);
        assert_eq!(parse_lifetime("2w").unwrap().as_secs(), 14 * 86_400);
        assert_eq!(parse_lifetime("1s").unwrap().as_secs(), 1);
        for bad in [
            "",
            "30",
            "d",
            "0d",
            "30x",
            "-1d",
            "1.5d",
            "36601d0",
            "99999999999999d",
            "40000d",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
        assert!(parse_lifetime("36600d").is_ok());
    }

    #[test]
    fn rfc3339_round_trips() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_rfc3339("2027-01-31T00:00:00Z").unwrap(),
            1_801_353_600
        );
        assert_eq!(
            parse_rfc3339("2027-01-31T02:00:00+02:00").unwrap(),
            1_801_353_600
        );
        assert_eq!(
            parse_rfc3339("2027-01-30T23:30:00.123456-00:30").unwrap(),
            1_801_353_600
        );
        assert_eq!(
            parse_rfc3339("2024-02-29t12:00:00z").unwrap(),
            1_709_208_000
        );
        for unix in [0, 951_782_400, 1_709_208_000, 1_801_353_600, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&format_rfc3339(unix)).unwrap(), unix);
        }
        assert_eq!(format_rfc3339(u64::MAX), "never");
    }

    #[test]
    fn bad_timestamps_are_refused() {
        for bad in [
            "",
            "2027-01-31",
            "2027-01-31T00:00:00",
            "2027-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2027-01-31T24:00:00Z",
            "2027-01-31T00:60:00Z",
            "2027-01-31T00:00:00+2:00",
            "2027-01-31T00:00:00.Z",
            "1969-12-31T23:59:59Z",
            "２027-01-31T00:00:00Z",
            "2027-01-31T00:00:00+24:00",
            "+027-01-31T00:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
