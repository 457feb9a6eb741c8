//! `@endsWith`: the value ends with the argument.

/// Evaluates the operator.
pub fn matches(value: &[u8], arg: &[u8]) -> bool {
    value.ends_with(arg)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn suffix() {
        assert!(matches(b"x.php", b".php"));
        assert!(!matches(b"x.php.txt", b".php"));
    }
}
