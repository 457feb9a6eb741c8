//! `base64Decode`: decodes base64 up to the first character that is not base64
//! (as APR's decoder does); padding is optional.

use std::borrow::Cow;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    let valid: Vec<u8> = input
        .iter()
        .copied()
        .take_while(|&c| sextet(c).is_some())
        .collect();
    Cow::Owned(decode_sextets(&valid))
}

/// The 6-bit value of a base64 character.
pub(super) fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes a run of base64 characters (no padding, no junk).
pub(super) fn decode_sextets(chars: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chars.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in chars {
        let Some(v) = sextet(c) else { continue };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn decodes_until_junk() {
        assert_eq!(&*apply(b"YWJj"), b"abc");
        assert_eq!(&*apply(b"YWI=junk"), b"ab");
    }
}
