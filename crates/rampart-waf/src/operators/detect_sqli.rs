//! `@detectSQLi`: libinjection's SQL injection detection through
//! [`crate::services::InjectionDetector`]; with `capture`, TX:0 is the fingerprint.

use super::Captures;
use crate::services::Services;

/// Evaluates the operator.
pub fn eval(services: &Services, value: &[u8], capture: bool) -> Option<Captures> {
    let fingerprint = services.injection.sqli(value)?;
    Some(if capture {
        vec![Some(fingerprint.into_bytes())]
    } else {
        Vec::new()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn detects_and_captures_fingerprint() {
        let s = Services::default();
        let caps = eval(&s, b"1' OR '1'='1", true).unwrap();
        assert!(caps[0].as_ref().is_some_and(|f| !f.is_empty()));
        assert!(eval(&s, b"just a search", false).is_none());
    }
}
