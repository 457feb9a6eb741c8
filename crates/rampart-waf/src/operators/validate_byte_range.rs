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

/// Compiled allowed ranges.
#[derive(Debug, Clone)]
pub struct ByteRanges {
    allowed: [bool; 256],
    /// The refused bytes when there are at most three (CRS PL1's `1-255`
    /// refuses only NUL): `memchr` finds them many bytes at a time.
    few: Option<Vec<u8>>,
}

impl ByteRanges {
    /// Parses the allowed ranges.
    pub fn parse(arg: &str) -> Result<Self, String> {
        let allowed = parse(arg)?;
        let refused: Vec<u8> = (0..=255u8)
            .zip(allowed.iter())
            .filter(|(_, ok)| !**ok)
            .map(|(b, _)| b)
            .collect();
        Ok(Self {
            allowed,
            few: (refused.len() <= 3).then_some(refused),
        })
    }

    /// Whether some byte of `value` is not allowed.
    pub fn violates(&self, value: &[u8]) -> bool {
        match self.few.as_deref() {
            Some([]) => false,
            Some([a]) => memchr::memchr(*a, value).is_some(),
            Some([a, b]) => memchr::memchr2(*a, *b, value).is_some(),
            Some([a, b, c]) => memchr::memchr3(*a, *b, *c, value).is_some(),
            _ => violates(&self.allowed, value),
        }
    }
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

    /// The `memchr` paths refuse exactly what the table refuses.
    #[test]
    fn few_refused_bytes_agree_with_the_table() {
        for arg in [
            "1-255",
            "0-254",
            "1-9,11-255",
            "1-9,11-12,14-255",
            "0-255",
            "32-126",
        ] {
            let r = ByteRanges::parse(arg).unwrap();
            let table = parse(arg).unwrap();
            for b in 0..=255u8 {
                for v in [
                    vec![b],
                    vec![b'a', b, b'z'],
                    [vec![b'x'; 40], vec![b]].concat(),
                ] {
                    assert_eq!(r.violates(&v), violates(&table, &v), "{arg} {v:?}");
                }
            }
            assert!(!r.violates(b""));
        }
    }
}
