//! `utf8toUnicode`: multi-byte UTF-8 characters become `%uHHHH`; ASCII and
//! invalid bytes are kept.

use std::borrow::Cow;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    if input.is_ascii() {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len() * 2);
    for chunk in input.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch.is_ascii() {
                out.push(ch as u8);
            } else {
                out.extend_from_slice(format!("%u{:04x}", u32::from(ch)).as_bytes());
            }
        }
        out.extend_from_slice(chunk.invalid());
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn converts() {
        assert_eq!(&*apply("aé\u{ff1c}".as_bytes()), b"a%u00e9%uff1c");
        assert_eq!(&*apply(b"\xff"), b"\xff");
    }
}
