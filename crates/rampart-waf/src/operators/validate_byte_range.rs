//! `@validateByteRange`: matches when a byte lies outside the allowed ranges
//! (`1-255`, `9,10,13,32-126`).

/// Parses the allowed ranges.
pub fn parse(arg: &str) -> Result<[bool; 256], String> {
    let mut allowed = [false; 256];
    for part in arg.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (byte(a)?, byte(b)?),
            None => (byte(part)?, byte(part)?),
        };
        if lo > hi {
            return Err(format!("empty range {part}"));
        }
        for b in lo..=hi {
            if let Some(slot) = allowed.get_mut(usize::from(b)) {
                *slot = true;
            }
        }
    }
    Ok(allowed)
}

fn byte(s: &str) -> Result<u8, String> {
    s.trim()
        .parse::<u8>()
        .map_err(|_| format!("{s} is not a byte value"))
}

/// Whether some byte is not allowed.
pub fn violates(allowed: &[bool; 256], value: &[u8]) -> bool {
    value
        .iter()
        .any(|&b| !allowed.get(usize::from(b)).copied().unwrap_or(false))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn checks_ranges() {
        let allowed = parse("9,10,13,32-126").unwrap();
        assert!(!violates(&allowed, b"abc\t"));
        assert!(violates(&allowed, b"ab\x00"));
        assert!(parse("5-1").is_err());
        assert!(parse("300").is_err());
    }
}
