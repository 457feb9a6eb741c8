//! Prefilter placeholder.
use crate::rule::Rule;

/// Prefilter.
#[derive(Debug, Default)]
pub struct Prefilter;

impl Prefilter {
    /// Builds.
    pub fn build(_rules: &[Rule]) -> Self {
        Prefilter
    }
}

impl Prefilter {
    /// Whether the rule's operator can match this value.
    pub fn may_match(&self, _rule: &Rule, _value: &[u8]) -> bool {
        true
    }
}
