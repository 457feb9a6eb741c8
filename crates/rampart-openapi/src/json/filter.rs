//! The response filter: copies a JSON document, dropping the members the client must
//! not see, in one pass over the bytes (no tree is built).
//!
//! A member is dropped when the schema does not declare it, when it is `writeOnly`,
//! when it is visible only to roles the caller lacks, or when its name looks sensitive
//! (password, secret, token, SSN, card numbers...) and it was not declared visible.
//! Kept members are copied byte for byte.

use std::collections::HashMap;

use super::lexer::{Lexer, SyntaxError};
use crate::shape::{ANY, Member, NEVER, ShapeId, Shapes};

/// Who is asking and what the operation reveals.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'r> {
    /// The caller's roles.
    pub roles: &'r [String],
    /// Sensitive-looking names that may be shown (lower-case).
    pub reveal: &'r [String],
    /// Member names visible only to some roles.
    pub role_visible: &'r HashMap<String, Vec<String>>,
    /// Deepest nesting accepted from the upstream.
    pub max_depth: usize,
}

/// The filtered document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    /// The output bytes.
    pub body: Vec<u8>,
    /// How many members were dropped.
    pub removed: usize,
}

/// Why the upstream body could not be filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Not JSON.
    #[error("upstream body is not JSON (byte {0})")]
    Syntax(usize),
    /// Nested deeper than the limit.
    #[error("upstream body nested too deeply")]
    Depth,
}

impl From<SyntaxError> for FilterError {
    fn from(e: SyntaxError) -> Self {
        FilterError::Syntax(e.offset)
    }
}

/// Filters `bytes` against the root of `shapes`.
pub fn filter(bytes: &[u8], shapes: &Shapes, rules: &Rules<'_>) -> Result<Filtered, FilterError> {
    let mut f = Filter {
        lx: Lexer::new(bytes),
        out: Vec::with_capacity(bytes.len()),
        shapes,
        rules,
        removed: 0,
    };
    f.value(Some(shapes.root), 1)?;
    f.lx.skip_ws();
    if f.lx.pos != bytes.len() {
        return Err(f.lx.err().into());
    }
    Ok(Filtered {
        body: f.out,
        removed: f.removed,
    })
}

/// Whether a member name looks like it holds a secret or sensitive personal data.
pub fn looks_sensitive(key: &str) -> bool {
    looks_sensitive_bytes(key.as_bytes())
}

/// As [`looks_sensitive`], on the raw bytes of a name.
pub fn looks_sensitive_bytes(key: &[u8]) -> bool {
    // Normalise: lower-case, separators removed ("api_key", "apiKey", "API-KEY" alike);
    // on the stack for usual lengths, on the heap for long names (never truncated, so
    // a long prefix cannot hide a pattern).
    let chars = key
        .iter()
        .filter(|b| !matches!(b, b'_' | b'-' | b'.' | b' '))
        .map(u8::to_ascii_lowercase);
    let mut buf = [0u8; 64];
    let heap: Vec<u8>;
    let norm: &[u8] = if key.len() <= buf.len() {
        let mut n = 0;
        for (slot, b) in buf.iter_mut().zip(chars) {
            *slot = b;
            n += 1;
        }
        buf.get(..n).unwrap_or_default()
    } else {
        heap = chars.collect();
        &heap
    };
    const CONTAINS: [&[u8]; 13] = [
        b"password",
        b"passwd",
        b"passphrase",
        b"secret",
        b"token",
        b"apikey",
        b"privatekey",
        b"creditcard",
        b"cardnumber",
        b"cardno",
        b"socialsecurity",
        b"cvv",
        b"cvc",
    ];
    const EXACT: [&[u8]; 5] = [b"ssn", b"pan", b"pin", b"pwd", b"iban"];
    // Common names that contain a pattern but are not secrets: pagination cursors are
    // opaque handles clients must get back; a secretary is a person.
    if norm.ends_with(b"pagetoken")
        || norm.ends_with(b"continuationtoken")
        || norm.starts_with(b"secretar")
    {
        return false;
    }
    CONTAINS
        .iter()
        .any(|p| norm.windows(p.len()).any(|w| w == *p))
        || EXACT.contains(&norm)
        || norm.ends_with(b"ssn")
}

struct Filter<'a, 's> {
    lx: Lexer<'a>,
    out: Vec<u8>,
    shapes: &'s Shapes,
    rules: &'s Rules<'s>,
    removed: usize,
}

impl Filter<'_, '_> {
    /// `shape` is `None` when nothing may be shown of objects here (a type mismatch).
    fn value(&mut self, shape: Option<ShapeId>, depth: usize) -> Result<(), FilterError> {
        if depth > self.rules.max_depth {
            return Err(FilterError::Depth);
        }
        self.lx.skip_ws();
        match self.lx.peek() {
            Some(b'{') => self.object(shape, depth),
            Some(b'[') => self.array(shape, depth),
            _ => {
                let start = self.lx.pos;
                self.scalar()?;
                self.out
                    .extend_from_slice(self.lx.bytes.get(start..self.lx.pos).unwrap_or_default());
                Ok(())
            }
        }
    }

    fn scalar(&mut self) -> Result<(), FilterError> {
        match self.lx.peek() {
            Some(b'"') => self.lx.string().map(|_| ())?,
            Some(b't') => self.lx.literal(b"true")?,
            Some(b'f') => self.lx.literal(b"false")?,
            Some(b'n') => self.lx.literal(b"null")?,
            Some(b'-' | b'0'..=b'9') => self.lx.number()?,
            _ => return Err(self.lx.err().into()),
        }
        Ok(())
    }

    /// Skips a value without output, still checking grammar and depth.
    fn skip(&mut self, depth: usize) -> Result<(), FilterError> {
        if depth > self.rules.max_depth {
            return Err(FilterError::Depth);
        }
        self.lx.skip_ws();
        let close = match self.lx.peek() {
            Some(b'{') => b'}',
            Some(b'[') => b']',
            _ => return self.scalar(),
        };
        self.lx.pos += 1;
        self.lx.skip_ws();
        if self.lx.peek() == Some(close) {
            self.lx.pos += 1;
            return Ok(());
        }
        loop {
            if close == b'}' {
                self.lx.skip_ws();
                self.lx.string()?;
                self.lx.expect(b':')?;
            }
            self.skip(depth + 1)?;
            self.lx.skip_ws();
            match self.lx.peek() {
                Some(b',') => self.lx.pos += 1,
                Some(c) if c == close => {
                    self.lx.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.lx.err().into()),
            }
        }
    }

    fn has_role(&self, roles: &[String]) -> bool {
        roles.iter().any(|r| self.rules.roles.contains(r))
    }

    fn revealed(&self, key: &[u8]) -> bool {
        self.rules
            .reveal
            .iter()
            .any(|r| r.as_bytes().eq_ignore_ascii_case(key))
    }

    /// Whether a member not named by the schema (free-form or pattern) may be shown.
    fn free_member_visible(&self, key: &[u8]) -> bool {
        if looks_sensitive_bytes(key) && !self.revealed(key) {
            return false;
        }
        if self.rules.role_visible.is_empty() {
            return true;
        }
        // Names are lower-cased in the map; members match without regard to case.
        let roles = self
            .rules
            .role_visible
            .iter()
            .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(key));
        roles.is_none_or(|(_, r)| self.has_role(r))
    }

    /// What to do with member `key`: `Some(child shape)` to keep, `None` to drop.
    /// Declared members carry their sensitivity and roles from build time.
    fn decide(&self, shape: Option<ShapeId>, key: &[u8]) -> Option<Option<ShapeId>> {
        let kept = self.decide_member(shape, key)?;
        // A member whose schema is `false` is never shown.
        (kept != Some(NEVER)).then_some(kept)
    }

    fn decide_member(&self, shape: Option<ShapeId>, key: &[u8]) -> Option<Option<ShapeId>> {
        let shape = self.shapes.get(shape?);
        if shape.any {
            return self.free_member_visible(key).then_some(Some(ANY));
        }
        let obj = shape.object.as_ref()?;
        match obj.member_bytes(key) {
            Member::Declared(p) => {
                if p.write_only || (p.sensitive && !p.reveal && !self.revealed(key)) {
                    return None;
                }
                if p.roles.as_ref().is_some_and(|r| !self.has_role(r)) {
                    return None;
                }
                Some(Some(p.shape))
            }
            Member::Pattern(s) => self.free_member_visible(key).then_some(Some(s)),
            Member::Undeclared => None,
        }
    }

    /// For a discriminated union, the branch the object names: its members are read
    /// once ahead (the discriminator may come last) and the reader rewinds.
    fn branch(
        &mut self,
        shape: Option<ShapeId>,
        depth: usize,
    ) -> Result<Option<ShapeId>, FilterError> {
        let Some(d) = shape.and_then(|id| self.shapes.get(id).discriminator.as_deref()) else {
            return Ok(shape);
        };
        let start = self.lx.pos;
        let mut found = None;
        self.lx.pos += 1;
        self.lx.skip_ws();
        if self.lx.peek() != Some(b'}') {
            loop {
                self.lx.skip_ws();
                let span = self.lx.string()?;
                let is_tag = self.lx.text(span)? == d.property.as_str();
                self.lx.expect(b':')?;
                self.lx.skip_ws();
                if is_tag && self.lx.peek() == Some(b'"') {
                    let value = self.lx.string()?;
                    let value = self.lx.text(value)?;
                    found = d
                        .branches
                        .iter()
                        .find(|(v, _)| *v == value)
                        .map(|(_, id)| *id);
                } else {
                    self.skip(depth + 1)?;
                }
                self.lx.skip_ws();
                match self.lx.peek() {
                    Some(b',') => self.lx.pos += 1,
                    Some(b'}') => break,
                    _ => return Err(self.lx.err().into()),
                }
            }
        }
        self.lx.pos = start;
        Ok(found.or(shape))
    }

    /// For a union, the branch the value is shown by: the value is read ahead,
    /// parsed and matched against the branches (see [`crate::shape::Union`]).
    /// A value that does not parse as a tree (a number past `f64`) is shown by
    /// the merged shape.
    fn union_branch(
        &mut self,
        shape: Option<ShapeId>,
        depth: usize,
    ) -> Result<Option<ShapeId>, FilterError> {
        let Some(id) = shape.filter(|id| self.shapes.get(*id).union.is_some()) else {
            return Ok(shape);
        };
        let start = self.lx.pos;
        self.skip(depth)?;
        let end = self.lx.pos;
        self.lx.pos = start;
        let bytes = self.lx.bytes.get(start..end).unwrap_or_default();
        Ok(Some(
            match serde_json::from_slice::<serde_json::Value>(bytes) {
                Ok(value) => self.shapes.resolve(id, &value),
                Err(_) => id,
            },
        ))
    }

    fn object(&mut self, shape: Option<ShapeId>, depth: usize) -> Result<(), FilterError> {
        let shape = self.branch(shape, depth)?;
        let shape = self.union_branch(shape, depth)?;
        self.lx.pos += 1;
        self.out.push(b'{');
        self.lx.skip_ws();
        if self.lx.peek() == Some(b'}') {
            self.lx.pos += 1;
            self.out.push(b'}');
            return Ok(());
        }
        let mut first = true;
        loop {
            self.lx.skip_ws();
            let span = self.lx.string()?;
            // Unescaped names are compared as bytes (no UTF-8 pass: a name equal to a
            // declared one is valid); escaped ones are decoded first.
            let decoded;
            let key: &[u8] = if span.escaped {
                decoded = self.lx.text(span)?;
                decoded.as_bytes()
            } else {
                self.lx.bytes.get(span.start..span.end).unwrap_or_default()
            };
            self.lx.expect(b':')?;
            match self.decide(shape, key) {
                Some(child) => {
                    if !first {
                        self.out.push(b',');
                    }
                    first = false;
                    let raw = self
                        .lx
                        .bytes
                        .get(span.start - 1..span.end + 1)
                        .unwrap_or_default();
                    self.out.extend_from_slice(raw);
                    self.out.push(b':');
                    self.value(child, depth + 1)?;
                }
                None => {
                    self.removed += 1;
                    self.skip(depth + 1)?;
                }
            }
            self.lx.skip_ws();
            match self.lx.peek() {
                Some(b',') => self.lx.pos += 1,
                Some(b'}') => {
                    self.lx.pos += 1;
                    self.out.push(b'}');
                    return Ok(());
                }
                _ => return Err(self.lx.err().into()),
            }
        }
    }

    fn array(&mut self, shape: Option<ShapeId>, depth: usize) -> Result<(), FilterError> {
        let shape = self.union_branch(shape, depth)?;
        let shapes = self.shapes;
        let item = |i: usize| shape.and_then(|id| shapes.get(id).item(i));
        let mut index = 0;
        let mut first = true;
        self.lx.pos += 1;
        self.out.push(b'[');
        self.lx.skip_ws();
        if self.lx.peek() == Some(b']') {
            self.lx.pos += 1;
            self.out.push(b']');
            return Ok(());
        }
        loop {
            match item(index) {
                // Past a tuple closed with `false`: not shown.
                Some(NEVER) => {
                    self.removed += 1;
                    self.skip(depth + 1)?;
                }
                child => {
                    if !first {
                        self.out.push(b',');
                    }
                    first = false;
                    self.value(child, depth + 1)?;
                }
            }
            index += 1;
            self.lx.skip_ws();
            match self.lx.peek() {
                Some(b',') => self.lx.pos += 1,
                Some(b']') => {
                    self.lx.pos += 1;
                    self.out.push(b']');
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
    use serde_json::{Value, json};

    fn run(schema: Value, body: &str, roles: &[String]) -> Value {
        let shapes = Shapes::build(&schema, "$defs");
        let rv = HashMap::new();
        let rules = Rules {
            roles,
            reveal: &[],
            role_visible: &rv,
            max_depth: 64,
        };
        let out = filter(body.as_bytes(), &shapes, &rules).unwrap();
        serde_json::from_slice(&out.body).unwrap()
    }

    #[test]
    fn drops_undeclared_write_only_role_restricted_and_sensitive_members() {
        let schema = json!({"type": "object", "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "password": {"type": "string", "writeOnly": true},
            "salary": {"type": "number", "x-rampart-roles": ["hr"]},
            "api_token": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "object", "properties": {"t": {}}}}
        }});
        let body = r#"{"id":1,"password":"x","name":"a\"b","salary":5,"api_token":"t",
            "internal":{"sql":"select"},"tags":[{"t":1,"debug":2}]}"#;
        assert_eq!(
            run(schema.clone(), body, &[]),
            json!({"id": 1, "name": "a\"b", "tags": [{"t": 1}]})
        );
        assert_eq!(run(schema, body, &["hr".to_string()])["salary"], json!(5));
    }

    #[test]
    fn nothing_past_a_closed_tuple_or_of_a_false_member_is_shown() {
        let name = json!({"type": "object", "properties": {"name": {}}});
        for schema in [
            json!({"prefixItems": [name.clone()], "items": false}),
            json!({"items": [name.clone()], "additionalItems": false}),
        ] {
            let body = r#"[{"name":"A","x":1},{"internal":"i"},5,[1]]"#;
            assert_eq!(run(schema, body, &[]), json!([{"name": "A"}]));
        }
        let schema = json!({"properties": {"a": {}, "internal": false}});
        assert_eq!(
            run(schema, r#"{"internal":{"k":1},"a":1}"#, &[]),
            json!({"a": 1})
        );
    }

    #[test]
    fn free_form_keeps_members_but_not_secrets() {
        let out = run(json!({}), r#"{"a":[1,{"clientSecret":"s","b":null}]}"#, &[]);
        assert_eq!(out, json!({"a": [1, {"b": null}]}));
    }

    #[test]
    fn unchanged_documents_are_byte_identical() {
        let shapes = Shapes::build(&json!({"properties": {"a": {}}}), "$defs");
        let rv = HashMap::new();
        let rules = Rules {
            roles: &[],
            reveal: &[],
            role_visible: &rv,
            max_depth: 64,
        };
        let body = br#"{"a":[1, 2.5e3, "x"]}"#;
        let out = filter(body, &shapes, &rules).unwrap();
        assert_eq!(out.removed, 0);
        assert_eq!(out.body, br#"{"a":[1,2.5e3,"x"]}"#);
    }

    #[test]
    fn malformed_and_too_deep_bodies_are_errors() {
        let shapes = Shapes::free();
        let rv = HashMap::new();
        let rules = Rules {
            roles: &[],
            reveal: &[],
            role_visible: &rv,
            max_depth: 4,
        };
        assert!(filter(b"{\"a\":", &shapes, &rules).is_err());
        assert_eq!(
            filter(b"[[[[[1]]]]]", &shapes, &rules),
            Err(FilterError::Depth)
        );
        assert!(filter(b"{} x", &shapes, &rules).is_err());
    }

    #[test]
    fn sensitive_names() {
        for yes in [
            "password",
            "userPassword",
            "api_key",
            "API-KEY",
            "client_secret",
            "ssn",
            "user_ssn",
            "cardNumber",
            "cvv",
            "accessToken",
        ] {
            assert!(looks_sensitive(yes), "{yes}");
        }
        for no in [
            "name",
            "email",
            "id",
            "description",
            "lessons",
            "spin",
            "nextPageToken",
            "page_token",
            "secretary",
        ] {
            assert!(!looks_sensitive(no), "{no}");
        }
    }
}
