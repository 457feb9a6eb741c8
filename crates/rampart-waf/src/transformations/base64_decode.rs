//! `base64Decode`: decodes base64, skipping every byte that is not in the
//! alphabet (padding included).
//!
//! ModSecurity v2 (APR) stopped at the first such byte, v3 (mbedtls) skips
//! whitespace and line breaks, and Node's `Buffer.from(s, 'base64')` skips
//! any invalid byte: stopping early let a payload split by a `%0A` (CRS
//! 934100, node-serialize) reach Node decoded but the rule only truncated.
//! Decoding more only adds what the rules see. `-` and `_` are read as the
//! URL-safe alphabet's 62 and 63, as Node reads them.

use std::borrow::Cow;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    Cow::Owned(decode_sextets(input))
}

/// The 6-bit value of a base64 character.
pub(super) fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        // The URL-safe alphabet too (RFC 4648 §5): Node and Python's
        // urlsafe decoders read `-` and `_` as `+` and `/`, and a payload
        // written with them must not decode shifted (the bits after a
        // skipped `_` misaligned) while the upstream reads it whole.
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// Decodes the base64 characters of `chars`, skipping every other byte.
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
    fn decodes_skipping_bytes_outside_the_alphabet() {
        assert_eq!(&*apply(b"YWJj"), b"abc");
        assert_eq!(&*apply(b"YWI="), b"ab");
        // Line breaks and spaces (what MIME and mbedtls allow) and any other
        // junk (what Node skips) do not end the decoding.
        assert_eq!(&*apply(b"YWJj\nZGVm"), b"abcdef");
        assert_eq!(&*apply(b"YWJj\r\nZG Vm"), b"abcdef");
        assert_eq!(&*apply(b"YW.Jj%ZGVm"), b"abcdef");
    }

    #[test]
    fn the_url_safe_alphabet_decodes_like_the_standard_one() {
        // `?>?` is `Pz4/` in base64 and `Pz4_` in its URL-safe alphabet.
        assert_eq!(&*apply(b"Pz4/YWJj"), b"?>?abc");
        assert_eq!(&*apply(b"Pz4_YWJj"), b"?>?abc");
        assert_eq!(&*apply(b"-_-_"), &*apply(b"+/+/"));
    }
}
