//! `@detectXSS`: libinjection's XSS detection through
//! [`crate::services::InjectionDetector`].

use crate::services::Services;

/// Evaluates the operator.
pub fn eval(services: &Services, value: &[u8]) -> bool {
    services.injection.xss(value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn detects_xss() {
        let s = Services::default();
        assert!(eval(&s, b"<script>alert(1)</script>"));
        assert!(!eval(&s, b"hello"));
    }
}
