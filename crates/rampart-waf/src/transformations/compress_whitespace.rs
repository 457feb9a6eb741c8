//! `compressWhitespace`: each run of whitespace (NBSP included) becomes one space.

use std::borrow::Cow;

use super::is_space;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out = Vec::with_capacity(input.len());
    let mut in_space = false;
    for &c in input {
        if is_space(c) {
            if !in_space {
                out.push(b' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn compresses() {
        assert_eq!(&*apply(b"a \t\n b"), b"a b");
    }
}
