//! The request pre-scan: limits and duplicate keys checked in one pass over the bytes,
//! before serde_json builds a tree, so a hostile body costs at most one linear scan.

use std::borrow::Cow;
use std::collections::HashSet;

use super::lexer::{Lexer, SyntaxError};

/// Structural limits on a JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Deepest nesting of arrays and objects (the top-level value is depth 1).
    pub max_depth: usize,
    /// Most items in one array.
    pub max_array_items: usize,
    /// Longest string (key or value), counted in raw bytes between the quotes.
    pub max_string_bytes: usize,
    /// Most members in one object.
    pub max_object_keys: usize,
}

impl Default for JsonLimits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_array_items: 10_000,
            max_string_bytes: 65_536,
            max_object_keys: 1_000,
        }
    }
}

/// Why the pre-scan refused a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// Not JSON (grammar, invalid UTF-8 in a key, trailing data).
    #[error("malformed JSON at byte {offset}")]
    Syntax {
        /// Where the problem is.
        offset: usize,
    },
    /// Nested deeper than `max_depth`.
    #[error("nesting deeper than the limit")]
    Depth,
    /// An array longer than `max_array_items`.
    #[error("array longer than the limit")]
    ArrayItems,
    /// A string longer than `max_string_bytes`.
    #[error("string longer than the limit")]
    StringLength,
    /// An object with more than `max_object_keys` members.
    #[error("object with more keys than the limit")]
    ObjectKeys,
    /// The same key twice in one object.
    #[error("duplicate key in an object")]
    DuplicateKey,
}

impl ScanError {
    /// The rule name reported to clients.
    pub fn rule(&self) -> &'static str {
        match self {
            ScanError::Syntax { .. } => "json-syntax",
            ScanError::Depth => "max-depth",
            ScanError::ArrayItems => "max-array-items",
            ScanError::StringLength => "max-string-length",
            ScanError::ObjectKeys => "max-object-keys",
            ScanError::DuplicateKey => "duplicate-key",
        }
    }
}

impl From<SyntaxError> for ScanError {
    fn from(e: SyntaxError) -> Self {
        ScanError::Syntax { offset: e.offset }
    }
}

/// Checks that `bytes` hold exactly one JSON value within `limits` and without duplicate
/// keys. Recursion depth is bounded by `limits.max_depth`.
pub fn prescan(bytes: &[u8], limits: &JsonLimits) -> Result<(), ScanError> {
    // JSON text is UTF-8 (RFC 8259 §8.1); checked up front so that what passes here
    // also parses in serde_json (no differential between the two parsers).
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(ScanError::Syntax {
            offset: e.valid_up_to(),
        });
    }
    let mut lx = Lexer::new(bytes);
    value(&mut lx, limits, 1)?;
    lx.skip_ws();
    if lx.pos != bytes.len() {
        return Err(lx.err().into());
    }
    Ok(())
}

fn value(lx: &mut Lexer<'_>, limits: &JsonLimits, depth: usize) -> Result<(), ScanError> {
    lx.skip_ws();
    match lx.peek() {
        Some(b'{') => object(lx, limits, depth),
        Some(b'[') => array(lx, limits, depth),
        Some(b'"') => string(lx, limits).map(|_| ()),
        Some(b't') => Ok(lx.literal(b"true")?),
        Some(b'f') => Ok(lx.literal(b"false")?),
        Some(b'n') => Ok(lx.literal(b"null")?),
        Some(b'-' | b'0'..=b'9') => Ok(lx.number()?),
        _ => Err(lx.err().into()),
    }
}

fn string(lx: &mut Lexer<'_>, limits: &JsonLimits) -> Result<super::lexer::StrSpan, ScanError> {
    let span = lx.string()?;
    if span.end - span.start > limits.max_string_bytes {
        return Err(ScanError::StringLength);
    }
    Ok(span)
}

/// Keys seen in one object: a short list first (most objects are small), a hash set
/// once it grows, so the check stays linear.
enum Seen<'a> {
    Few(Vec<Cow<'a, str>>),
    Many(HashSet<Cow<'a, str>>),
}

impl<'a> Seen<'a> {
    /// Records `key`; false when it was already there.
    fn insert(&mut self, key: Cow<'a, str>) -> bool {
        match self {
            Seen::Few(list) => {
                if list.contains(&key) {
                    return false;
                }
                if list.len() < 16 {
                    list.push(key);
                } else {
                    let mut set: HashSet<Cow<'a, str>> = list.drain(..).collect();
                    set.insert(key);
                    *self = Seen::Many(set);
                }
                true
            }
            Seen::Many(set) => set.insert(key),
        }
    }
}

fn object(lx: &mut Lexer<'_>, limits: &JsonLimits, depth: usize) -> Result<(), ScanError> {
    if depth > limits.max_depth {
        return Err(ScanError::Depth);
    }
    lx.pos += 1; // '{'
    lx.skip_ws();
    if lx.peek() == Some(b'}') {
        lx.pos += 1;
        return Ok(());
    }
    let mut seen = Seen::Few(Vec::new());
    let mut count = 0usize;
    loop {
        lx.skip_ws();
        let span = string(lx, limits)?;
        count += 1;
        if count > limits.max_object_keys {
            return Err(ScanError::ObjectKeys);
        }
        // Keys are compared decoded: "a" and "\u0061" are the same key.
        if !seen.insert(lx.text(span)?) {
            return Err(ScanError::DuplicateKey);
        }
        lx.expect(b':')?;
        value(lx, limits, depth + 1)?;
        lx.skip_ws();
        match lx.peek() {
            Some(b',') => lx.pos += 1,
            Some(b'}') => {
                lx.pos += 1;
                return Ok(());
            }
            _ => return Err(lx.err().into()),
        }
    }
}

fn array(lx: &mut Lexer<'_>, limits: &JsonLimits, depth: usize) -> Result<(), ScanError> {
    if depth > limits.max_depth {
        return Err(ScanError::Depth);
    }
    lx.pos += 1; // '['
    lx.skip_ws();
    if lx.peek() == Some(b']') {
        lx.pos += 1;
        return Ok(());
    }
    let mut count = 0usize;
    loop {
        count += 1;
        if count > limits.max_array_items {
            return Err(ScanError::ArrayItems);
        }
        value(lx, limits, depth + 1)?;
        lx.skip_ws();
        match lx.peek() {
            Some(b',') => lx.pos += 1,
            Some(b']') => {
                lx.pos += 1;
                return Ok(());
            }
            _ => return Err(lx.err().into()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn limits() -> JsonLimits {
        JsonLimits {
            max_depth: 3,
            max_array_items: 3,
            max_string_bytes: 5,
            max_object_keys: 2,
        }
    }

    #[test]
    fn legitimate_documents_pass_at_the_boundaries() {
        for ok in [
            r#"{"a":[1,2,3],"b":{"c":"12345"}}"#,
            r#" [ [ [] ] ] "#,
            "1",
            r#""abcde""#,
            "{}",
        ] {
            assert_eq!(prescan(ok.as_bytes(), &limits()), Ok(()), "{ok}");
        }
    }

    #[test]
    fn each_limit_is_enforced_one_past_the_boundary() {
        let l = limits();
        assert_eq!(prescan(b"[[[[]]]]", &l), Err(ScanError::Depth));
        assert_eq!(prescan(b"[1,2,3,4]", &l), Err(ScanError::ArrayItems));
        assert_eq!(prescan(br#""123456""#, &l), Err(ScanError::StringLength));
        assert_eq!(
            prescan(br#"{"123456":1}"#, &l),
            Err(ScanError::StringLength)
        );
        assert_eq!(
            prescan(br#"{"a":1,"b":2,"c":3}"#, &l),
            Err(ScanError::ObjectKeys)
        );
    }

    #[test]
    fn duplicate_keys_are_refused_even_when_escaped() {
        let l = JsonLimits::default();
        assert_eq!(
            prescan(br#"{"a":1,"a":2}"#, &l),
            Err(ScanError::DuplicateKey)
        );
        assert_eq!(
            prescan(br#"{"role":1,"\u0072ole":2}"#, &l),
            Err(ScanError::DuplicateKey)
        );
        // Many keys switch to the hash set; the duplicate is still found.
        let mut doc = String::from("{");
        for i in 0..40 {
            doc.push_str(&format!("\"k{i}\":{i},"));
        }
        doc.push_str("\"k3\":0}");
        assert_eq!(prescan(doc.as_bytes(), &l), Err(ScanError::DuplicateKey));
        // Same key in different objects is fine.
        assert_eq!(prescan(br#"[{"a":1},{"a":2}]"#, &l), Ok(()));
    }

    #[test]
    fn malformed_documents_are_refused() {
        let l = JsonLimits::default();
        assert!(matches!(
            prescan(b"\"\xff\"", &l),
            Err(ScanError::Syntax { offset: 1 })
        ));
        for bad in [
            "",
            "{",
            "[1,]",
            r#"{"a" 1}"#,
            "01",
            "1 2",
            "tru",
            r#"{"a":1,}"#,
        ] {
            assert!(
                matches!(prescan(bad.as_bytes(), &l), Err(ScanError::Syntax { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_deep_bomb_stops_at_the_limit_without_recursing_further() {
        let bomb = "[".repeat(100_000);
        assert_eq!(
            prescan(bomb.as_bytes(), &JsonLimits::default()),
            Err(ScanError::Depth)
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod ceiling {
    use super::*;

    #[test]
    fn the_depth_ceiling_stays_within_serde_json_recursion_limit() {
        let n = crate::config::MAX_DEPTH_CEILING;
        let doc = format!("{}{}", "[".repeat(n), "]".repeat(n));
        let limits = JsonLimits {
            max_depth: n,
            ..JsonLimits::default()
        };
        assert_eq!(prescan(doc.as_bytes(), &limits), Ok(()));
        assert!(serde_json::from_str::<serde_json::Value>(&doc).is_ok());
    }
}
