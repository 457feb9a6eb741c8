//! `cssDecode`: CSS 2 escapes: `\\` plus up to six hex digits (and one
//! following whitespace), an escaped newline, or an escaped character.

use std::borrow::Cow;

use super::{hex_val, narrow_code_point};

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'\\') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let mut j = i + 1;
        let mut cp: u32 = 0;
        while j < i + 7 {
            match input.get(j).and_then(|&d| hex_val(d)) {
                Some(v) => cp = (cp << 4) | u32::from(v),
                None => break,
            }
            j += 1;
        }
        if j > i + 1 {
            out.push(narrow_code_point(cp));
            if input
                .get(j)
                .is_some_and(|&w| matches!(w, b' ' | b'\t' | b'\n' | b'\r' | 0x0c))
            {
                j += 1;
            }
            i = j;
            continue;
        }
        match input.get(i + 1) {
            Some(b'\n') | None => {}
            Some(&n) => out.push(n),
        }
        i += 2;
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(&*apply(br"\6a \61vascript\:x"), b"javascript:x");
        assert_eq!(&*apply(br"\00003c"), b"<");
    }
}
