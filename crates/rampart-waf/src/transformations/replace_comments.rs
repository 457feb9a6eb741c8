//! `replaceComments`: each C comment `/* ... */` (also an unterminated one)
//! becomes one space; a lone `*/` is kept.

use std::borrow::Cow;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.windows(2).any(|w| w == b"/*") {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c == b'/' && input.get(i + 1) == Some(&b'*') {
            out.push(b' ');
            let rest = input.get(i + 2..).unwrap_or_default();
            match rest.windows(2).position(|w| w == b"*/") {
                Some(p) => i += 2 + p + 2,
                None => break,
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn replaces() {
        assert_eq!(&*apply(b"un/**/ion/*x*/sel/*ect"), b"un ion sel ");
        assert_eq!(&*apply(b"a*/b"), b"a*/b");
    }
}
