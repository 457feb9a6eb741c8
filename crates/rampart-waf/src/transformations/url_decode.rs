//! `urlDecode`: `%XX` and `+`; invalid escapes are kept as they are.

use std::borrow::Cow;

use super::hex_pair;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.iter().any(|&c| c == b'%' || c == b'+') {
        return Cow::Borrowed(input);
    }
    Cow::Owned(decode(input))
}

/// Decodes `%XX` and `+` (also used by the urlencoded body processor).
pub fn decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        match c {
            b'%' => match hex_pair(input, i + 1) {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => out.push(c),
            },
            b'+' => out.push(b' '),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_keeps_invalid() {
        assert_eq!(&*apply(b"a%27+b%2"), b"a' b%2");
        assert_eq!(&*apply(b"%zz%41"), b"%zzA");
    }
}
