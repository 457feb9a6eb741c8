//! `removeWhitespace`: drops whitespace, NBSP included.

use std::borrow::Cow;

use super::is_space;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    if input.iter().any(|&c| is_space(c)) {
        Cow::Owned(input.iter().copied().filter(|&c| !is_space(c)).collect())
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
        assert_eq!(&*apply(b" s e\tl\xa0"), b"sel");
    }
}
