//! `base64DecodeExt`: forgiving base64 that skips characters that are not base64.

use std::borrow::Cow;

use super::base64_decode::decode_sextets;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    Cow::Owned(decode_sextets(input))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn skips_junk() {
        assert_eq!(&*apply(b"YW.Jj"), b"abc");
    }
}
