//! `jsDecode`: JavaScript escapes `\uHHHH`, `\xHH`, octal and the
//! single-character escapes.

use std::borrow::Cow;

use super::{hex_pair, hex_val, narrow_code_point};

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
        if matches!(n, b'u' | b'U')
            && let Some(cp) = hex4(input, i + 2)
        {
            out.push(narrow_code_point(cp));
            i += 6;
            continue;
        }
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
        out.push(simple_escape(n));
        i += 2;
    }
    Cow::Owned(out)
}

/// The byte a one-character escape stands for.
pub(super) fn simple_escape(n: u8) -> u8 {
    match n {
        b'a' => 0x07,
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'v' => 0x0b,
        other => other,
    }
}

/// Up to three octal digits (value at most 0o377).
pub(super) fn octal(s: &[u8], i: usize) -> (u8, usize) {
    let mut v: u32 = 0;
    let mut used = 0;
    while used < 3 {
        match s.get(i + used) {
            Some(&d @ b'0'..=b'7') => {
                let next = v * 8 + u32::from(d - b'0');
                if next > 0o377 {
                    break;
                }
                v = next;
                used += 1;
            }
            _ => break,
        }
    }
    ((v & 0xff) as u8, used)
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
    fn decodes_escapes() {
        assert_eq!(&*apply(br"\u0061\x62\143\n\'\z"), b"abc\n'z");
        assert_eq!(&*apply(br"\uff1c\u12"), b"<u12");
        assert_eq!(&*apply(b"a\\"), b"a\\");
    }
}
