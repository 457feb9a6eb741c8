//! `trim`, `trimLeft`, `trimRight`: strip surrounding whitespace.

use std::borrow::Cow;

use super::is_space;

/// Applies the transformation to the chosen sides.
pub fn apply(input: &[u8], left: bool, right: bool) -> Cow<'_, [u8]> {
    let mut s = input;
    if left {
        while let Some((&c, rest)) = s.split_first() {
            if !is_space(c) {
                break;
            }
            s = rest;
        }
    }
    if right {
        while let Some((&c, rest)) = s.split_last() {
            if !is_space(c) {
                break;
            }
            s = rest;
        }
    }
    Cow::Borrowed(s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn trims() {
        assert_eq!(&*apply(b" a b ", true, true), b"a b");
        assert_eq!(&*apply(b" a ", true, false), b"a ");
        assert_eq!(&*apply(b" a ", false, true), b" a");
    }
}
