//! `replaceNulls`: NUL bytes become spaces.

use std::borrow::Cow;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    if input.contains(&0) {
        Cow::Owned(
            input
                .iter()
                .map(|&c| if c == 0 { b' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(input)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn replaces() {
        assert_eq!(&*apply(b"a\0b"), b"a b");
    }
}
