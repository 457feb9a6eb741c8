//! `@eq`, `@ge`, `@gt`, `@le`, `@lt`: integer comparison. Both sides are
//! read as C's `atoi` does (leading spaces, a sign, digits; anything else is 0),
//! which is what ModSecurity does.

/// Which comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// Equal.
    Eq,
    /// Greater or equal.
    Ge,
    /// Greater.
    Gt,
    /// Less or equal.
    Le,
    /// Less.
    Lt,
}

impl CompareOp {
    /// Evaluates the operator.
    pub fn matches(self, value: &[u8], arg: &[u8]) -> bool {
        let (v, a) = (atoi(value), atoi(arg));
        match self {
            CompareOp::Eq => v == a,
            CompareOp::Ge => v >= a,
            CompareOp::Gt => v > a,
            CompareOp::Le => v <= a,
            CompareOp::Lt => v < a,
        }
    }
}

/// C `atoi` with saturation instead of undefined overflow.
pub fn atoi(s: &[u8]) -> i64 {
    let mut i = 0;
    while s.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut n: i64 = 0;
    while let Some(&d) = s.get(i) {
        if !d.is_ascii_digit() {
            break;
        }
        n = n.saturating_mul(10).saturating_add(i64::from(d - b'0'));
        i += 1;
    }
    if negative { -n } else { n }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn compares_like_atoi() {
        assert!(CompareOp::Eq.matches(b"0", b"0"));
        assert!(CompareOp::Eq.matches(b"abc", b"0"));
        assert!(CompareOp::Ge.matches(b" 5x", b"5"));
        assert!(CompareOp::Lt.matches(b"-3", b"1"));
        assert!(!CompareOp::Gt.matches(b"1", b"1"));
        assert_eq!(atoi(b"99999999999999999999999"), i64::MAX);
    }
}
