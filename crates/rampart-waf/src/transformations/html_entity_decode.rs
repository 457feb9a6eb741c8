//! `htmlEntityDecode`: `&#DDD;`, `&#xHH;` and the named entities quot, amp,
//! lt, gt and nbsp; the semicolon is optional, as in ModSecurity.

use std::borrow::Cow;

use super::hex_val;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'&') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c == b'&'
            && let Some((byte, used)) = entity(input, i + 1)
        {
            out.push(byte);
            i += 1 + used;
            if input.get(i) == Some(&b';') {
                i += 1;
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    Cow::Owned(out)
}

/// Decodes the entity body starting at `i`: the byte and how many bytes it used.
fn entity(s: &[u8], i: usize) -> Option<(u8, usize)> {
    if s.get(i) == Some(&b'#') {
        let (radix, start) = match s.get(i + 1) {
            Some(b'x' | b'X') => (16u32, i + 2),
            _ => (10u32, i + 1),
        };
        let mut value: u32 = 0;
        let mut j = start;
        while let Some(&d) = s.get(j) {
            let v = if radix == 16 {
                hex_val(d).map(u32::from)
            } else if d.is_ascii_digit() {
                Some(u32::from(d - b'0'))
            } else {
                None
            };
            let Some(v) = v else { break };
            value = value.wrapping_mul(radix).wrapping_add(v);
            j += 1;
        }
        if j == start {
            return None;
        }
        return Some(((value & 0xff) as u8, j - i));
    }
    const NAMED: &[(&[u8], u8)] = &[
        (b"quot", b'"'),
        (b"amp", b'&'),
        (b"lt", b'<'),
        (b"gt", b'>'),
        (b"nbsp", 0xa0),
    ];
    let rest = s.get(i..)?;
    NAMED.iter().find_map(|(name, byte)| {
        let head = rest.get(..name.len())?;
        head.eq_ignore_ascii_case(name)
            .then_some((*byte, name.len()))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn decodes_numeric_and_named() {
        assert_eq!(&*apply(b"&lt;script&GT;&#x27;&#39&amp;x"), b"<script>''&x");
        assert_eq!(&*apply(b"&foo; &#;"), b"&foo; &#;");
    }
}
