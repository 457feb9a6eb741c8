//! `@beginsWith`: the value starts with the argument.

/// Evaluates the operator.
pub fn matches(value: &[u8], arg: &[u8]) -> bool {
    value.starts_with(arg)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn prefix() {
        assert!(matches(b"/admin/x", b"/admin"));
        assert!(!matches(b"/x/admin", b"/admin"));
    }
}
