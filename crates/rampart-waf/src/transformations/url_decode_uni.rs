//! `urlDecodeUni`: like `urlDecode`, plus IIS-style `%uHHHH` escapes.

use std::borrow::Cow;

use super::{hex_pair, hex_val, narrow_code_point};

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.iter().any(|&c| c == b'%' || c == b'+') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c == b'%' {
            if matches!(input.get(i + 1), Some(b'u' | b'U'))
                && let Some(cp) = hex4(input, i + 2)
            {
                out.push(narrow_code_point(cp));
                i += 6;
                continue;
            }
            if let Some(b) = hex_pair(input, i + 1) {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(c);
        } else if c == b'+' {
            out.push(b' ');
        } else {
            out.push(c);
        }
        i += 1;
    }
    Cow::Owned(out)
}

fn hex4(s: &[u8], i: usize) -> Option<u32> {
    let mut v = 0u32;
    for k in 0..4 {
        v = (v << 4) | u32::from(hex_val(*s.get(i + k)?)?);
    }
    Some(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn decodes_unicode_escapes() {
        assert_eq!(&*apply(b"%u0027%uff1c%41+"), b"'<A ");
        assert_eq!(&*apply(b"%u12"), b"%u12");
    }
}
