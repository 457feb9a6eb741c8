//! `removeComments`: removes `/* */` and `<!-- -->` comments; `--` and
//! `#` end the value (replaced by a space), as in ModSecurity.

use std::borrow::Cow;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        let rest = input.get(i..).unwrap_or_default();
        if rest.starts_with(b"/*") {
            match rest
                .get(2..)
                .unwrap_or_default()
                .windows(2)
                .position(|w| w == b"*/")
            {
                Some(p) => i += 2 + p + 2,
                None => break,
            }
            continue;
        }
        if rest.starts_with(b"<!--") {
            match rest
                .get(4..)
                .unwrap_or_default()
                .windows(3)
                .position(|w| w == b"-->")
            {
                Some(p) => i += 4 + p + 3,
                None => break,
            }
            continue;
        }
        if rest.starts_with(b"--") || c == b'#' {
            out.push(b' ');
            break;
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
    fn removes() {
        assert_eq!(&*apply(b"a/*x*/b<!--y-->c-- rest"), b"abc ");
        assert_eq!(&*apply(b"a#b"), b"a ");
    }
}
