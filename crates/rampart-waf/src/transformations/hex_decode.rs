//! `hexDecode`: pairs of hex digits to bytes; stops at the first invalid pair.

use std::borrow::Cow;

use super::hex_pair;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out = Vec::with_capacity(input.len() / 2);
    let mut i = 0;
    while let Some(b) = hex_pair(input, i) {
        out.push(b);
        i += 2;
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(&*apply(b"4142zz"), b"AB");
    }
}
