//! `uppercase`: ASCII letters to upper case.

use std::borrow::Cow;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    if input.iter().any(u8::is_ascii_lowercase) {
        Cow::Owned(input.to_ascii_uppercase())
    } else {
        Cow::Borrowed(input)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn uppers() {
        assert_eq!(&*apply(b"aB1"), b"AB1");
    }
}
