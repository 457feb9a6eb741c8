//! Durations (`250ms`, `10s`, `5m`, `1h`) and byte sizes (`4096`, `64KiB`, `1MiB`).

use std::time::Duration;

/// Parses a duration such as `250ms`, `10s`, `5m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit (use ms, s, m or h)"))?;
    let (digits, unit) = text.split_at(split);
    let amount: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 250ms, 10s, 5m or 1h"))?;
    let millis = match unit {
        "ms" => Some(amount),
        "s" => amount.checked_mul(1_000),
        "m" => amount.checked_mul(60_000),
        "h" => amount.checked_mul(3_600_000),
        _ => return Err(format!("`{text}` has an unknown unit (use ms, s, m or h)")),
    };
    // At most 10 years: every duration becomes a deadline `now + d`, which
    // must not overflow a platform's `Instant` (u64 nanoseconds on some).
    const MAX_MILLIS: u64 = 10 * 365 * 24 * 3_600_000;
    millis
        .filter(|m| *m <= MAX_MILLIS)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{text}` is too large (at most 10 years)"))
}

/// Parses a byte size: a plain integer, or a number with `KiB`, `MiB` or `GiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let amount: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size like 4096, 64KiB or 1MiB"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "`{text}` has an unknown unit (use B, KiB, MiB or GiB)"
            ));
        }
    };
    amount
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("ten s").is_err());
        assert!(parse_duration("10d").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
        // Deadlines `now + d` must not overflow an Instant anywhere.
        assert!(parse_duration("10000000h").is_err());
        assert_eq!(
            parse_duration("87600h").unwrap(),
            Duration::from_secs(87_600 * 3600)
        );
        assert!(parse_duration("87601h").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64KiB").unwrap(), 65536);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert!(parse_size("1MB").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("18446744073709551615GiB").is_err());
    }
}
