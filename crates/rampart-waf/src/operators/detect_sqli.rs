//! `@detectSQLi`: libinjection's SQL injection detection through
//! [`crate::services::InjectionDetector`]; with `capture`, TX:0 is the fingerprint.

use super::{Captures, OpEnv};

/// Evaluates the operator (through the transaction's memo when it has one).
pub fn eval(env: &dyn OpEnv, value: &[u8], capture: bool) -> Option<Captures> {
    let detector = env.services().injection.as_ref();
    let fingerprint = match env.injection_memo() {
        Some(memo) => memo.borrow_mut().sqli(detector, value),
        None => detector.sqli(value),
    }?;
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

    use crate::macros::MacroString;
    use crate::services::Services;

    struct E(Services);
    impl OpEnv for E {
        fn expand(&self, _: &MacroString) -> Vec<u8> {
            Vec::new()
        }
        fn services(&self) -> &Services {
            &self.0
        }
        fn set_geo(&self, _: Vec<(String, String)>) {}
    }

    #[test]
    fn detects_and_captures_fingerprint() {
        let e = E(Services::default());
        let caps = eval(&e, b"1' OR '1'='1", true).unwrap();
        assert!(caps[0].as_ref().is_some_and(|f| !f.is_empty()));
        assert!(eval(&e, b"just a search", false).is_none());
    }
}
