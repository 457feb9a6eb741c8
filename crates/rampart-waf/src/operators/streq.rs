//! `@streq`: exact, case-sensitive equality.

/// Evaluates the operator.
pub fn matches(value: &[u8], arg: &[u8]) -> bool {
    value == arg
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn compares_exactly() {
        assert!(matches(b"POST", b"POST"));
        assert!(!matches(b"post", b"POST"));
    }
}
