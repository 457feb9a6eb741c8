//! `@within`: the value occurs somewhere in the argument (e.g. a method in
//! `%{tx.allowed_methods}`). An empty value never matches.

/// Evaluates the operator.
pub fn matches(value: &[u8], arg: &[u8]) -> bool {
    !value.is_empty() && arg.windows(value.len()).any(|w| w == value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn finds_value_in_list() {
        assert!(matches(b"GET", b"GET HEAD POST"));
        assert!(!matches(b"PUT", b"GET HEAD POST"));
        assert!(!matches(b"", b"GET"));
    }
}
