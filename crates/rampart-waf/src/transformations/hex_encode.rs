//! `hexEncode`: each byte as two lower-case hex digits.

use std::borrow::Cow;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(input.len() * 2);
    for &c in input {
        out.push(HEX[usize::from(c >> 4)]);
        out.push(HEX[usize::from(c & 0xf)]);
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn encodes() {
        assert_eq!(&*apply(b"A\xff"), b"41ff");
    }
}
