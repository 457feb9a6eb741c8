//! `sqlHexDecode`: SQL hex literals `0xHHHH` become the bytes they encode.

use std::borrow::Cow;

use super::hex_pair;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c == b'0'
            && matches!(input.get(i + 1), Some(b'x' | b'X'))
            && hex_pair(input, i + 2).is_some()
        {
            let mut j = i + 2;
            while let Some(b) = hex_pair(input, j) {
                out.push(b);
                j += 2;
            }
            i = j;
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
    fn decodes() {
        assert_eq!(&*apply(b"select 0x414243,0x"), b"select ABC,0x");
    }
}
