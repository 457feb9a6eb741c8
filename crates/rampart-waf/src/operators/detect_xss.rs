//! `@detectXSS`: libinjection's XSS detection through
//! [`crate::services::InjectionDetector`].

use super::OpEnv;

/// Evaluates the operator (through the transaction's memo when it has one).
pub fn eval(env: &dyn OpEnv, value: &[u8]) -> bool {
    let detector = env.services().injection.as_ref();
    match env.injection_memo() {
        Some(memo) => memo.borrow_mut().xss(detector, value),
        None => detector.xss(value),
    }
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
    fn detects_xss() {
        let e = E(Services::default());
        assert!(eval(&e, b"<script>alert(1)</script>"));
        assert!(!eval(&e, b"hello"));
    }
}
