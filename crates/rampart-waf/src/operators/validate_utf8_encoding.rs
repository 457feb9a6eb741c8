//! `@validateUtf8Encoding`: matches when the value is not valid UTF-8
//! (overlong forms, surrogates and truncated sequences included).

/// Evaluates the operator.
pub fn invalid(value: &[u8]) -> bool {
    std::str::from_utf8(value).is_err()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn flags_invalid_utf8() {
        assert!(!invalid("é".as_bytes()));
        assert!(invalid(b"\xc0\xaf"));
        assert!(invalid(b"\xe9"));
    }
}
