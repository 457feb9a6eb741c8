//! `normalizePathWin`: backslashes become slashes, then `normalizePath`.

use std::borrow::Cow;

use super::normalize_path::normalize;

/// Applies the transformation.
pub fn apply(input: &[u8]) -> Cow<'_, [u8]> {
    let slashed: Vec<u8> = input
        .iter()
        .map(|&c| if c == b'\\' { b'/' } else { c })
        .collect();
    Cow::Owned(normalize(&slashed))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn converts_backslashes() {
        assert_eq!(&*apply(br"c:\a\..\windows\win.ini"), b"c:/windows/win.ini");
    }
}
