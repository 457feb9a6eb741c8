//! `sha1`: the raw 20-byte SHA-1 digest.

use std::borrow::Cow;

use sha1::{Digest, Sha1};

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    Cow::Owned(Sha1::digest(input).to_vec())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert_eq!(apply(b"abc").len(), 20);
        assert_eq!(apply(b"abc")[0], 0xa9);
    }
}
