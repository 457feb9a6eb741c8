//! `@containsWord`: the argument occurs in the value with word boundaries
//! (non-word characters or the ends of the value) on both sides.

/// Evaluates the operator.
pub fn matches(value: &[u8], arg: &[u8]) -> bool {
    if arg.is_empty() {
        return true;
    }
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut start = 0;
    while let Some(rest) = value.get(start..) {
        let Some(pos) = super::find_bytes(rest, arg) else {
            return false;
        };
        let at = start + pos;
        let before_ok = at == 0 || value.get(at - 1).is_some_and(|&c| !is_word(c));
        let after_ok = value.get(at + arg.len()).is_none_or(|&c| !is_word(c));
        if before_ok && after_ok {
            return true;
        }
        start = at + 1;
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        assert!(matches(b"a select b", b"select"));
        assert!(matches(b"select", b"select"));
        assert!(!matches(b"selection", b"select"));
        assert!(matches(b"selection select", b"select"));
    }
}
