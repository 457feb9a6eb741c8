//! The request pre-scan: limits and duplicate keys checked in one pass over the bytes,
//! before serde_json builds a tree, so a hostile body costs at most one linear scan.

use std::borrow::Cow;
use std::collections::HashSet;

use super::lexer::{Lexer, StrSpan, SyntaxError, unescape};

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
    let mut scan = Scan {
        lx: Lexer::new(bytes),
        limits,
        keys: Vec::new(),
    };
    scan.value(1)?;
    scan.lx.skip_ws();
    if scan.lx.pos != bytes.len() {
        return Err(scan.lx.err().into());
    }
    Ok(())
}

/// Objects with more members than this check duplicates with a hash set.
const FEW_KEYS: usize = 16;

struct Scan<'a, 'l> {
    lx: Lexer<'a>,
    limits: &'l JsonLimits,
    /// Keys of the objects being scanned, innermost last: one shared stack instead of
    /// an allocation per object. Keys are compared as bytes, decoded when escaped
    /// (`"a"` and `"\u0061"` are the same key).
    keys: Vec<Cow<'a, [u8]>>,
}

impl<'a> Scan<'a, '_> {
    fn value(&mut self, depth: usize) -> Result<(), ScanError> {
        self.lx.skip_ws();
        match self.lx.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(|_| ()),
            Some(b't') => Ok(self.lx.literal(b"true")?),
            Some(b'f') => Ok(self.lx.literal(b"false")?),
            Some(b'n') => Ok(self.lx.literal(b"null")?),
            Some(b'-' | b'0'..=b'9') => Ok(self.lx.number()?),
            _ => Err(self.lx.err().into()),
        }
    }

    fn string(&mut self) -> Result<StrSpan, ScanError> {
        let span = self.lx.string()?;
        if span.end - span.start > self.limits.max_string_bytes {
            return Err(ScanError::StringLength);
        }
        Ok(span)
    }

    fn key(&self, span: StrSpan) -> Result<Cow<'a, [u8]>, ScanError> {
        let bytes: &'a [u8] = self.lx.bytes;
        let raw = bytes.get(span.start..span.end).unwrap_or_default();
        if !span.escaped {
            return Ok(Cow::Borrowed(raw));
        }
        let text = unescape(raw).ok_or(ScanError::Syntax { offset: span.start })?;
        Ok(Cow::Owned(text.into_bytes()))
    }

    fn object(&mut self, depth: usize) -> Result<(), ScanError> {
        if depth > self.limits.max_depth {
            return Err(ScanError::Depth);
        }
        self.lx.pos += 1; // '{'
        self.lx.skip_ws();
        if self.lx.peek() == Some(b'}') {
            self.lx.pos += 1;
            return Ok(());
        }
        let base = self.keys.len();
        let mut many: Option<HashSet<Cow<'a, [u8]>>> = None;
        let mut count = 0usize;
        loop {
            self.lx.skip_ws();
            let span = self.string()?;
            count += 1;
            if count > self.limits.max_object_keys {
                return Err(ScanError::ObjectKeys);
            }
            let key = self.key(span)?;
            let fresh = match &mut many {
                Some(set) => set.insert(key),
                None => {
                    let mine = self.keys.get(base..).unwrap_or_default();
                    if mine.contains(&key) {
                        false
                    } else if mine.len() < FEW_KEYS {
                        self.keys.push(key);
                        true
                    } else {
                        let mut set: HashSet<Cow<'a, [u8]>> = self.keys.drain(base..).collect();
                        set.insert(key);
                        many = Some(set);
                        true
                    }
                }
            };
            if !fresh {
                return Err(ScanError::DuplicateKey);
            }
            self.lx.expect(b':')?;
            self.value(depth + 1)?;
            self.lx.skip_ws();
            match self.lx.peek() {
                Some(b',') => self.lx.pos += 1,
                Some(b'}') => {
                    self.lx.pos += 1;
                    self.keys.truncate(base);
                    return Ok(());
                }
                _ => return Err(self.lx.err().into()),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), ScanError> {
        if depth > self.limits.max_depth {
            return Err(ScanError::Depth);
        }
        self.lx.pos += 1; // '['
        self.lx.skip_ws();
        if self.lx.peek() == Some(b']') {
            self.lx.pos += 1;
            return Ok(());
        }
        let mut count = 0usize;
        loop {
            count += 1;
            if count > self.limits.max_array_items {
                return Err(ScanError::ArrayItems);
            }
            self.value(depth + 1)?;
            self.lx.skip_ws();
            match self.lx.peek() {
                Some(b',') => self.lx.pos += 1,
                Some(b']') => {
                    self.lx.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.lx.err().into()),
            }
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
        // Nested objects keep their own key sets on the shared stack.
        assert_eq!(prescan(br#"{"a":{"b":1,"c":{"b":2}},"b":3}"#, &l), Ok(()));
        assert_eq!(
            prescan(br#"{"a":{"x":1},"a":2}"#, &l),
            Err(ScanError::DuplicateKey)
        );
        let mut wide = String::from("{");
        for i in 0..20 {
            wide.push_str(&format!("\"k{i}\":{{\"k{i}\":1,\"z\":2}},"));
        }
        wide.push_str("\"z\":0}");
        assert_eq!(prescan(wide.as_bytes(), &l), Ok(()));
        wide.truncate(wide.len() - 1);
        wide.push_str(",\"k19\":0}");
        assert_eq!(prescan(wide.as_bytes(), &l), Err(ScanError::DuplicateKey));
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
