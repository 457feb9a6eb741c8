//! `removeNulls`: drops NUL bytes.

use std::borrow::Cow;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    if input.contains(&0) {
        Cow::Owned(input.iter().copied().filter(|&c| c != 0).collect())
    } else {
        Cow::Borrowed(input)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn removes() {
        assert_eq!(&*apply(b"a\0b"), b"ab");
    }
}
