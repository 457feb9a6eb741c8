//! Macro strings: `%{tx.anomaly_score}`, `%{MATCHED_VAR}`, `%{rule.id}`.
//!
//! Parsed once at load; expanded per transaction by [`crate::transaction`].

/// One piece of a macro string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Lit(String),
    /// `%{name}` or `%{name.key}`; both lower-case.
    Var {
        /// Collection or variable name, lower-case (`tx`, `matched_var`, `rule`).
        name: String,
        /// Key inside the collection, lower-case.
        key: Option<String>,
    },
}

/// A string that may contain macros.
#[derive(Debug, Default)]
pub struct MacroString {
    /// The pieces, in order.
    pub parts: Vec<Part>,
    /// The TX slot of the one name the string stands for (`%{tx.name}`, or
    /// the literal text as a `setvar` name), once resolved.
    slot: crate::transaction::SlotCache,
}

impl Clone for MacroString {
    fn clone(&self) -> Self {
        Self {
            parts: self.parts.clone(),
            slot: Default::default(),
        }
    }
}

impl PartialEq for MacroString {
    fn eq(&self, other: &Self) -> bool {
        self.parts == other.parts
    }
}

impl Eq for MacroString {}

impl MacroString {
    /// Parses text; `%{` without a closing `}` is kept literally.
    pub fn parse(text: &str) -> Self {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut lit = String::new();
        while let Some(pos) = rest.find("%{") {
            let after = &rest[pos + 2..];
            match after.find('}') {
                Some(end) => {
                    lit.push_str(&rest[..pos]);
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    let inner = after[..end].trim().to_ascii_lowercase();
                    let (name, key) = match inner.split_once(['.', ':']) {
                        Some((n, k)) => (n.to_string(), Some(k.to_string())),
                        None => (inner, None),
                    };
                    parts.push(Part::Var { name, key });
                    rest = &after[end + 1..];
                }
                None => {
                    lit.push_str(&rest[..pos + 2]);
                    rest = after;
                }
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Self {
            parts,
            slot: Default::default(),
        }
    }

    /// The remembered TX slot of the name this string stands for.
    pub(crate) fn slot_cache(&self) -> &crate::transaction::SlotCache {
        &self.slot
    }

    /// Whether expansion is needed.
    pub fn has_macros(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var { .. }))
    }

    /// The text when there are no macros.
    pub fn literal(&self) -> Option<String> {
        if self.has_macros() {
            return None;
        }
        Some(
            self.parts
                .iter()
                .map(|p| match p {
                    Part::Lit(s) => s.as_str(),
                    Part::Var { .. } => "",
                })
                .collect(),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn parses_macros_and_literals() {
        let m = MacroString::parse("a %{TX.Score} b %{matched_var}%{x");
        assert_eq!(
            m.parts,
            vec![
                Part::Lit("a ".into()),
                Part::Var {
                    name: "tx".into(),
                    key: Some("score".into())
                },
                Part::Lit(" b ".into()),
                Part::Var {
                    name: "matched_var".into(),
                    key: None
                },
                Part::Lit("%{x".into()),
            ]
        );
        assert_eq!(MacroString::parse("plain").literal().unwrap(), "plain");
    }
}
