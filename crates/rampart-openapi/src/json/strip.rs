//! Removes given members from a JSON text and copies everything else byte for
//! byte: strip mode forwards exactly what the client sent minus the undeclared
//! members (member order, number spelling and integers wider than 64 bits are
//! kept, which re-serialising a parsed tree would not do).
//!
//! Callers pass texts that passed the pre-scan (no duplicate keys, bounded depth),
//! so a JSON pointer names at most one member.

use std::collections::HashSet;

use super::lexer::{Lexer, SyntaxError};
use crate::problems::{push_index, push_segment};

/// Deepest nesting walked (the pre-scan caps depth at 100).
const MAX_DEPTH: usize = 128;

/// `bytes` without the object members at `pointers` (RFC 6901 JSON pointers);
/// `None` when the text is not JSON or too deep.
pub fn remove_members(bytes: &[u8], pointers: &HashSet<String>) -> Option<Vec<u8>> {
    let mut s = Stripper {
        lx: Lexer::new(bytes),
        out: Vec::with_capacity(bytes.len()),
        pointers,
        pointer: String::new(),
    };
    s.lx.skip_ws();
    s.value(0).ok()?;
    s.lx.skip_ws();
    (s.lx.peek().is_none()).then_some(s.out)
}

struct Stripper<'a, 'p> {
    lx: Lexer<'a>,
    out: Vec<u8>,
    pointers: &'p HashSet<String>,
    pointer: String,
}

impl Stripper<'_, '_> {
    /// Copies (when `copy`) or skips one value at the cursor.
    fn walk(&mut self, depth: usize, copy: bool) -> Result<(), SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.lx.err());
        }
        self.lx.skip_ws();
        let start = self.lx.pos;
        match self.lx.peek() {
            Some(b'{') => self.object(depth, copy),
            Some(b'[') => self.array(depth, copy),
            Some(b'"') => {
                self.lx.string()?;
                self.copy_from(start, copy);
                Ok(())
            }
            Some(b't') => self.literal(b"true", start, copy),
            Some(b'f') => self.literal(b"false", start, copy),
            Some(b'n') => self.literal(b"null", start, copy),
            Some(b'-' | b'0'..=b'9') => {
                self.lx.number()?;
                self.copy_from(start, copy);
                Ok(())
            }
            _ => Err(self.lx.err()),
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), SyntaxError> {
        self.walk(depth, true)
    }

    fn literal(&mut self, word: &[u8], start: usize, copy: bool) -> Result<(), SyntaxError> {
        self.lx.literal(word)?;
        self.copy_from(start, copy);
        Ok(())
    }

    fn copy_from(&mut self, start: usize, copy: bool) {
        if copy {
            let span = self.lx.bytes.get(start..self.lx.pos).unwrap_or_default();
            self.out.extend_from_slice(span);
        }
    }

    fn object(&mut self, depth: usize, copy: bool) -> Result<(), SyntaxError> {
        self.lx.pos += 1;
        if copy {
            self.out.push(b'{');
        }
        self.lx.skip_ws();
        if self.lx.peek() == Some(b'}') {
            self.lx.pos += 1;
            if copy {
                self.out.push(b'}');
            }
            return Ok(());
        }
        let mut first = true;
        loop {
            self.lx.skip_ws();
            let key_start = self.lx.pos;
            let span = self.lx.string()?;
            let key_end = self.lx.pos;
            let key = self.lx.text(span)?;
            let len = self.pointer.len();
            push_segment(&mut self.pointer, &key);
            let keep = copy && !self.pointers.contains(&self.pointer);
            self.lx.expect(b':')?;
            if keep {
                if !first {
                    self.out.push(b',');
                }
                first = false;
                let raw = self.lx.bytes.get(key_start..key_end).unwrap_or_default();
                self.out.extend_from_slice(raw);
                self.out.push(b':');
            }
            self.walk(depth + 1, keep)?;
            self.pointer.truncate(len);
            self.lx.skip_ws();
            match self.lx.peek() {
                Some(b',') => self.lx.pos += 1,
                Some(b'}') => {
                    self.lx.pos += 1;
                    if copy {
                        self.out.push(b'}');
                    }
                    return Ok(());
                }
                _ => return Err(self.lx.err()),
            }
        }
    }

    fn array(&mut self, depth: usize, copy: bool) -> Result<(), SyntaxError> {
        self.lx.pos += 1;
        if copy {
            self.out.push(b'[');
        }
        self.lx.skip_ws();
        if self.lx.peek() == Some(b']') {
            self.lx.pos += 1;
            if copy {
                self.out.push(b']');
            }
            return Ok(());
        }
        let mut index = 0;
        loop {
            if index > 0 && copy {
                self.out.push(b',');
            }
            let len = self.pointer.len();
            push_index(&mut self.pointer, index);
            self.walk(depth + 1, copy)?;
            self.pointer.truncate(len);
            index += 1;
            self.lx.skip_ws();
            match self.lx.peek() {
                Some(b',') => self.lx.pos += 1,
                Some(b']') => {
                    self.lx.pos += 1;
                    if copy {
                        self.out.push(b']');
                    }
                    return Ok(());
                }
                _ => return Err(self.lx.err()),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn strip(text: &str, pointers: &[&str]) -> Option<String> {
        let set = pointers.iter().map(|p| p.to_string()).collect();
        remove_members(text.as_bytes(), &set).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn removes_exactly_the_named_members_and_keeps_the_rest_verbatim() {
        let text = r#"{"z":1, "big":123456789012345678901234567890,"a":{"x":1.50,"drop":[1,{"y":2}]},"list":[{"drop":1,"k":"\u0041"},{"k":2}],"drop":true}"#;
        assert_eq!(
            strip(text, &["/drop", "/a/drop", "/list/0/drop"]).unwrap(),
            r#"{"z":1,"big":123456789012345678901234567890,"a":{"x":1.50},"list":[{"k":"\u0041"},{"k":2}]}"#
        );
        assert_eq!(
            strip(text, &[]).unwrap().len(),
            text.len() - 1,
            "only whitespace between members goes"
        );
        // Escaped and special member names are matched by their decoded name.
        assert_eq!(
            strip(r#"{"a\/b":1,"c~d":2,"e":3}"#, &["/a~1b", "/c~0d"]).unwrap(),
            r#"{"e":3}"#
        );
        assert_eq!(strip(r#"{"only":1}"#, &["/only"]).unwrap(), "{}");
    }

    #[test]
    fn malformed_text_is_none() {
        assert_eq!(strip(r#"{"a":1"#, &[]), None);
        assert_eq!(strip(r#"{"a":1} x"#, &[]), None);
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(strip(&deep, &[]), None);
    }
}
