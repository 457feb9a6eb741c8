//! `@contains`: the argument occurs in the value.

/// Evaluates the operator.
pub fn matches(value: &[u8], arg: &[u8]) -> bool {
    arg.is_empty() || super::find_bytes(value, arg).is_some()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn substring() {
        assert!(matches(b"a../b", b".."));
        assert!(!matches(b"a./b", b".."));
    }
}
