//! A byte-level JSON tokenizer: just enough to walk a document once, in order.
//!
//! It checks the RFC 8259 grammar of strings, numbers and literals and reports where each
//! string's content lies, so callers can compare keys or copy spans without allocating.

use std::borrow::Cow;

/// Why the bytes are not JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset of the problem.
    pub offset: usize,
}

/// Where a string's content (between the quotes) lies, and whether it holds escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrSpan {
    /// First content byte.
    pub start: usize,
    /// One past the last content byte (the closing quote's offset).
    pub end: usize,
    /// Whether the content contains backslash escapes.
    pub escaped: bool,
}

/// A cursor over JSON bytes.
#[derive(Debug)]
pub struct Lexer<'a> {
    /// The whole document.
    pub bytes: &'a [u8],
    /// The current offset.
    pub pos: usize,
}

impl<'a> Lexer<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// An error at the current offset.
    pub fn err(&self) -> SyntaxError {
        SyntaxError { offset: self.pos }
    }

    /// The byte at the cursor, if any.
    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skips JSON whitespace.
    #[inline]
    pub fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `byte` (after whitespace) or fails.
    #[inline]
    pub fn expect(&mut self, byte: u8) -> Result<(), SyntaxError> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err())
        }
    }

    /// Reads a string starting at the cursor (which must be on the opening quote).
    pub fn string(&mut self) -> Result<StrSpan, SyntaxError> {
        if self.peek() != Some(b'"') {
            return Err(self.err());
        }
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            // Skip plain content in one tight scan; stop on a quote, a backslash or a
            // control character.
            let rest = self.bytes.get(self.pos..).unwrap_or_default();
            match rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
            {
                Some(n) => self.pos += n,
                None => {
                    self.pos = self.bytes.len();
                    return Err(self.err());
                }
            }
            match self.peek() {
                Some(b'"') => {
                    let end = self.pos;
                    self.pos += 1;
                    return Ok(StrSpan {
                        start,
                        end,
                        escaped,
                    });
                }
                Some(b'\\') => {
                    escaped = true;
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            self.pos += 1;
                            let code = self.hex_escape()?;
                            // Surrogates must pair up (as serde_json requires): a high
                            // one followed by an escaped low one, never alone.
                            if (0xD800..0xDC00).contains(&code) {
                                if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return Err(self.err());
                                }
                                self.pos += 2;
                                if !(0xDC00..0xE000).contains(&self.hex_escape()?) {
                                    return Err(self.err());
                                }
                            } else if (0xDC00..0xE000).contains(&code) {
                                return Err(self.err());
                            }
                        }
                        _ => return Err(self.err()),
                    }
                }
                _ => return Err(self.err()),
            }
        }
    }

    /// Reads the four hex digits of a `\\u` escape.
    fn hex_escape(&mut self) -> Result<u32, SyntaxError> {
        let digits = self.bytes.get(self.pos..self.pos + 4).ok_or(self.err())?;
        let code = hex4(digits).ok_or(self.err())?;
        self.pos += 4;
        Ok(code)
    }

    /// Reads a number starting at the cursor.
    pub fn number(&mut self) -> Result<(), SyntaxError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.err()),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err());
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err());
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes the literal `word` (`true`, `false`, `null`).
    pub fn literal(&mut self, word: &[u8]) -> Result<(), SyntaxError> {
        let end = self.pos + word.len();
        if self.bytes.get(self.pos..end) == Some(word) {
            self.pos = end;
            Ok(())
        } else {
            Err(self.err())
        }
    }

    /// The decoded text of a string span: borrowed when it has no escapes.
    pub fn text(&self, span: StrSpan) -> Result<Cow<'a, str>, SyntaxError> {
        let bad = SyntaxError { offset: span.start };
        let raw = self.bytes.get(span.start..span.end).ok_or(bad)?;
        if !span.escaped {
            return std::str::from_utf8(raw).map(Cow::Borrowed).map_err(|_| bad);
        }
        unescape(raw).map(Cow::Owned).ok_or(bad)
    }
}

/// Decodes JSON string content (without quotes); `None` when invalid (bad UTF-8, lone
/// surrogates).
pub fn unescape(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let esc = *raw.get(i + 1)?;
        i += 2;
        let simple = match esc {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            continue;
        }
        if esc != b'u' {
            return None;
        }
        let first = hex4(raw.get(i..i + 4)?)?;
        i += 4;
        let code = if (0xD800..0xDC00).contains(&first) {
            // A high surrogate must be followed by an escaped low surrogate.
            if raw.get(i..i + 2) != Some(b"\\u") {
                return None;
            }
            let second = hex4(raw.get(i + 2..i + 6)?)?;
            if !(0xDC00..0xE000).contains(&second) {
                return None;
            }
            i += 6;
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        let ch = char::from_u32(code)?;
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    String::from_utf8(out).ok()
}

fn hex4(digits: &[u8]) -> Option<u32> {
    // Digits only: `from_str_radix` would also take a leading `+`.
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let text = std::str::from_utf8(digits).ok()?;
    u32::from_str_radix(text, 16).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_escapes() {
        let mut lx = Lexer::new(br#""a\u0062\n\ud83d\ude00""#);
        let span = lx.string().unwrap();
        assert!(span.escaped);
        assert_eq!(lx.text(span).unwrap(), "ab\n\u{1F600}");
    }

    #[test]
    fn lone_surrogate_and_control_chars_are_refused() {
        for bad in [
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\ud83dx""#,
            r#""\ud83d\u0041""#,
            r#""\u12G4""#,
        ] {
            assert!(Lexer::new(bad.as_bytes()).string().is_err(), "{bad}");
        }
        // A sign is not a hex digit, in the lexer or when unescaping.
        assert!(Lexer::new(br#""\u+041""#).string().is_err());
        assert_eq!(unescape(br"\u+041"), None);
        let lx = Lexer::new(br#""\ud83d""#);
        let span = StrSpan {
            start: 1,
            end: 7,
            escaped: true,
        };
        assert!(lx.text(span).is_err());
        assert!(Lexer::new(b"\"a\x01\"").string().is_err());
    }

    #[test]
    fn numbers_follow_the_grammar() {
        for ok in ["0", "-1", "1.5e+10", "12E3"] {
            let mut lx = Lexer::new(ok.as_bytes());
            lx.number().unwrap();
            assert_eq!(lx.pos, ok.len(), "{ok}");
        }
        for bad in ["-", "1.", ".5", "1e"] {
            assert!(Lexer::new(bad.as_bytes()).number().is_err(), "{bad}");
        }
    }
}
