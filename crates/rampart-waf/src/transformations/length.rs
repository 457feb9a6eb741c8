//! `length`: the value's length in bytes, as decimal text.

use std::borrow::Cow;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    Cow::Owned(input.len().to_string().into_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn measures() {
        assert_eq!(&*apply(b"abc"), b"3");
    }
}
