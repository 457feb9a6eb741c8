//! `removeCommentsChar`: removes the comment markers `/*`, `*/`, `<!--`,
//! `-->`, `--` and `#` (not the text between them).

use std::borrow::Cow;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        let rest = input.get(i..).unwrap_or_default();
        let skip = if rest.starts_with(b"<!--") {
            4
        } else if rest.starts_with(b"-->") {
            3
        } else if rest.starts_with(b"/*") || rest.starts_with(b"*/") || rest.starts_with(b"--") {
            2
        } else if c == b'#' {
            1
        } else {
            0
        };
        if skip == 0 {
            out.push(c);
            i += 1;
        } else {
            i += skip;
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn removes_markers() {
        assert_eq!(&*apply(b"a/*b*/c--d#e<!--f-->"), b"abcdef");
    }
}
