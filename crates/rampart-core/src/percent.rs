//! Percent-decoding (RFC 3986 §2.1) as every engine reads it: an escape is `%`
//! and exactly two hexadecimal digits. `u8::from_str_radix` alone also takes a
//! sign (`%+1` as 0x01) where upstreams keep the text literal, so the engines
//! share these instead of each parsing escapes.

/// Two hexadecimal digits as a byte; `None` for anything else.
pub fn hex_byte(hex: &[u8]) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    match hex {
        [high, low] => Some(u8::try_from(digit(*high)? * 16 + digit(*low)?).ok()?),
        _ => None,
    }
}

/// Decodes every escape; `None` on a malformed escape or bytes that are not
/// UTF-8.
pub fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            out.push(hex_byte(bytes.get(i + 1..i + 3)?)?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Decodes the escapes there are; a `%` that starts no escape stays as it is.
pub fn decode_lenient(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(byte) = bytes.get(i + 1..i + 3).and_then(hex_byte)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_escape_is_exactly_two_hex_digits() {
        assert_eq!(hex_byte(b"2F"), Some(0x2f));
        assert_eq!(hex_byte(b"ff"), Some(0xff));
        for bad in [&b"+1"[..], b"-1", b" 1", b"1", b"123", b"zz"] {
            assert_eq!(hex_byte(bad), None, "{bad:?}");
        }
        assert_eq!(decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(decode("%+1"), None);
        assert_eq!(decode("%FF"), None, "not UTF-8");
        assert_eq!(decode_lenient("a%+1%41%"), b"a%+1A%");
    }
}
