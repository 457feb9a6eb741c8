//! `@validateUrlEncoding`: matches when a `%` is not followed by two hex digits.

use crate::transformations::hex_pair;

/// Evaluates the operator.
pub fn invalid(value: &[u8]) -> bool {
    value
        .iter()
        .enumerate()
        .any(|(i, &c)| c == b'%' && hex_pair(value, i + 1).is_none())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn flags_broken_escapes() {
        assert!(!invalid(b"a%20b"));
        assert!(invalid(b"a%2"));
        assert!(invalid(b"%zz"));
    }
}
