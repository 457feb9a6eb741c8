//! `normalizePath`: removes `.` segments and repeated slashes and resolves
//! `..` segments (a relative path keeps its leading `..`).

use std::borrow::Cow;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'/') && input != b"." && input != b".." {
        return Cow::Borrowed(input);
    }
    Cow::Owned(normalize(input))
}

/// Normalises a `/`-separated path.
pub(super) fn normalize(input: &[u8]) -> Vec<u8> {
    let absolute = input.first() == Some(&b'/');
    let mut segments: Vec<&[u8]> = Vec::new();
    let parts: Vec<&[u8]> = input.split(|&c| c == b'/').collect();
    let last = parts.len().saturating_sub(1);
    let mut trailing = false;
    for (idx, seg) in parts.iter().enumerate() {
        match *seg {
            b"" | b"." => {
                if idx == last && idx > 0 {
                    trailing = true;
                }
            }
            b".." => {
                if segments.last().is_some_and(|s| *s != b"..") {
                    segments.pop();
                } else if !absolute {
                    segments.push(seg);
                }
                if idx == last {
                    trailing = true;
                }
            }
            s => segments.push(s),
        }
    }
    let mut out = Vec::with_capacity(input.len());
    if absolute {
        out.push(b'/');
    }
    out.extend_from_slice(&segments.join(&b'/'));
    if trailing && !segments.is_empty() {
        out.push(b'/');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn resolves_dots() {
        assert_eq!(&*apply(b"/a/./b/../../../etc//passwd"), b"/etc/passwd");
        assert_eq!(&*apply(b"../../etc/passwd"), b"../../etc/passwd");
        assert_eq!(&*apply(b"/a/b/"), b"/a/b/");
        assert_eq!(&*apply(b"/a/b/.."), b"/a/");
    }
}
