//! `base64Encode`: standard base64 with padding.

use std::borrow::Cow;

use base64::Engine as _;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    Cow::Owned(
        base64::engine::general_purpose::STANDARD
            .encode(input)
            .into_bytes(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn encodes() {
        assert_eq!(&*apply(b"ab"), b"YWI=");
    }
}
