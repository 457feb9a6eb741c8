//! `escapeSeqDecode`: ANSI C escapes (`\n`, `\xHH`, `\OOO`, ...).

use std::borrow::Cow;

use super::hex_pair;
use super::js_decode::{octal, simple_escape};

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
        let Some(&n) = input.get(i + 1) else {
            out.push(c);
            break;
        };
        if matches!(n, b'x' | b'X')
            && let Some(b) = hex_pair(input, i + 2)
        {
            out.push(b);
            i += 4;
            continue;
        }
        if (b'0'..=b'7').contains(&n) {
            let (b, used) = octal(input, i + 1);
            out.push(b);
            i += 1 + used;
            continue;
        }
        if matches!(
            n,
            b'a' | b'b' | b'f' | b'n' | b'r' | b't' | b'v' | b'\\' | b'?' | b'\'' | b'"'
        ) {
            out.push(simple_escape(n));
            i += 2;
            continue;
        }
        // Unknown escapes are kept as written.
        out.push(c);
        out.push(n);
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
        assert_eq!(&*apply(br"a\x41\101\t\q"), b"aAA\t\\q");
    }
}
