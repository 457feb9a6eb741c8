//! `cmdLine`: normalises shell command evasion: deletes `\\ " ' ^`, turns
//! `,` `;` and whitespace runs into one space, drops spaces before `/` and `(`,
//! and lower-cases.

use std::borrow::Cow;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    let mut space = false;
    for &c in input {
        match c {
            b'"' | b'\'' | b'\\' | b'^' => {}
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | b',' | b';' => {
                if !space {
                    out.push(b' ');
                    space = true;
                }
            }
            b'/' | b'(' => {
                if space {
                    out.pop();
                }
                space = false;
                out.push(c);
            }
            other => {
                space = false;
                out.push(other.to_ascii_lowercase());
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        assert_eq!(
            &*apply(br#"C^aT  "/etc/pa\ss"wd;,Ls ("#),
            b"cat/etc/passwd ls("
        );
    }
}
