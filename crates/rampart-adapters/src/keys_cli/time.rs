//! Expiry arguments: a lifetime (`30d`, `12h`, `90m`, `3600s`, `2w`) or an
//! RFC 3339 instant (`2027-01-31T00:00:00Z`), and Unix seconds back to RFC 3339
//! for listings. Small and strict: operator input, but still bounded. The
//! calendar arithmetic is `rampart_core::time`'s; this file keeps the lifetime
//! syntax and the `u64`/`never` conventions of the key commands.

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

/// Parses an RFC 3339 timestamp into Unix seconds (fractions are dropped;
/// the calendar work is `rampart_core::time`'s).
pub fn parse_rfc3339(text: &str) -> Result<u64, String> {
    let unix = rampart_core::time::parse_rfc3339(text)
        .ok_or("not an RFC 3339 timestamp (e.g. 2027-01-31T00:00:00Z)")?;
    u64::try_from(unix).map_err(|_| "timestamp before 1970".into())
}

/// The last second of year 9999: later instants print as `never`.
const MAX_PRINTABLE: u64 = 253_402_300_799;

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (`never` past year 9999).
pub fn format_rfc3339(unix: u64) -> String {
    match i64::try_from(unix) {
        Ok(secs) if unix <= MAX_PRINTABLE => rampart_core::time::rfc3339(secs, 0),
        _ => "never".into(),
    }
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
            "+027-01-31T00:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
