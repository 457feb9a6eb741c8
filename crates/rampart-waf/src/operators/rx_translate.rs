//! Translating PCRE patterns (as CRS writes them) into the `regex` dialect.
//!
//! ModSecurity compiles `@rx` with PCRE in byte mode with DOTALL and MULTILINE
//! (measured, see docs). `regex::bytes` with `(?sm)` and Unicode off has the same
//! flags, but PCRE accepts some syntax `regex` reads differently:
//! - an unescaped `[` inside a class is a literal in PCRE, a nested class in `regex`;
//! - `\<` and `\>` inside a class are the literal characters in PCRE;
//! - a `{` that does not start a valid quantifier is a literal in PCRE;
//! - `\x{NN}` inside a class is rejected by `regex` without Unicode: it becomes `\xNN`;
//! - a non-ASCII literal character means its UTF-8 bytes in PCRE's byte mode;
//! - possessive quantifiers (`*+`, `++`, `?+`, `{n}+`) are accepted by `regex` as
//!   plain nested repetition, which changes meaning, so they are reported and
//!   such patterns go to the backtracking fallback.

/// The result of translating one pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    /// The pattern in `regex` syntax (without the `(?sm)` flags).
    pub pattern: String,
    /// The pattern uses possessive quantifiers.
    pub possessive: bool,
}

/// Translates a PCRE pattern.
pub fn translate(pcre: &str) -> Translated {
    let chars: Vec<char> = pcre.chars().collect();
    let mut out = String::with_capacity(pcre.len() + 16);
    let mut possessive = false;
    let mut in_class = false;
    // Position in `out` of the first char of the class body, to allow a leading `]`.
    let mut class_start = false;
    let mut i = 0;
    let get = |k: usize| chars.get(k).copied();
    while let Some(c) = get(i) {
        if c == '\\' {
            let Some(n) = get(i + 1) else {
                out.push_str("\\\\");
                break;
            };
            if n == 'v' {
                // PCRE's `\v` is vertical whitespace (LF, VT, FF, CR and, in byte
                // mode, NEL); `regex` reads it as VT alone. CRS 4 writes `[\s\v]`.
                out.push_str(if in_class {
                    "\\x0a-\\x0d\\x85"
                } else {
                    "[\\x0a-\\x0d\\x85]"
                });
                i += 2;
                class_start = false;
                continue;
            }
            if n == 'x' && get(i + 2) == Some('{') {
                // \x{NN}: rewrite to \xNN when it fits a byte.
                let mut j = i + 3;
                let mut hex = String::new();
                while let Some(h) = get(j) {
                    if h == '}' {
                        break;
                    }
                    hex.push(h);
                    j += 1;
                }
                if let Ok(v) = u32::from_str_radix(&hex, 16)
                    && v <= 0xff
                    && get(j) == Some('}')
                {
                    out.push_str(&format!("\\x{v:02x}"));
                    i = j + 1;
                    class_start = false;
                    continue;
                }
            }
            if in_class && (n == '<' || n == '>') {
                out.push(n);
            } else if n == 'Z' {
                out.push_str(if in_class { "Z" } else { "(?:\\n?\\z)" });
            } else if !n.is_ascii() {
                push_literal(&mut out, n);
            } else {
                out.push(c);
                out.push(n);
            }
            i += 2;
            class_start = false;
            continue;
        }
        if in_class {
            match c {
                ']' if !class_start => in_class = false,
                '[' => {
                    if get(i + 1) == Some(':')
                        && let Some(end) = find_posix_end(&chars, i + 2)
                    {
                        for k in i..=end {
                            out.push(chars.get(k).copied().unwrap_or(' '));
                        }
                        i = end + 1;
                        class_start = false;
                        continue;
                    }
                    out.push_str("\\[");
                    i += 1;
                    class_start = false;
                    continue;
                }
                '&' | '~' | '-' if get(i + 1) == Some(c) => {
                    // `regex` reads `&&`, `~~`, `--` as class set operations.
                    out.push('\\');
                    out.push(c);
                    i += 1;
                    class_start = false;
                    continue;
                }
                _ => {}
            }
            if !c.is_ascii() {
                push_literal(&mut out, c);
            } else {
                out.push(c);
            }
            if !(class_start && c == '^') {
                class_start = false;
            }
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                class_start = true;
                out.push('[');
                i += 1;
                if get(i) == Some('^') {
                    out.push('^');
                    i += 1;
                }
                continue;
            }
            '{' => {
                if let Some(end) = quantifier_end(&chars, i) {
                    for k in i..=end {
                        out.push(chars.get(k).copied().unwrap_or(' '));
                    }
                    i = end + 1;
                    if get(i) == Some('+') {
                        possessive = true;
                    }
                    continue;
                }
                out.push_str("\\{");
                i += 1;
                continue;
            }
            '}' => {
                out.push_str("\\}");
                i += 1;
                continue;
            }
            '*' | '+' | '?' => {
                let is_quantifier = !(c == '?' && i > 0 && get(i - 1) == Some('('));
                out.push(c);
                i += 1;
                if is_quantifier && get(i) == Some('+') {
                    possessive = true;
                    out.push('+');
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        if c.is_ascii() {
            out.push(c);
        } else {
            push_literal(&mut out, c);
        }
        i += 1;
    }
    Translated {
        pattern: out,
        possessive,
    }
}

/// A non-ASCII character as the escaped UTF-8 bytes PCRE's byte mode sees.
fn push_literal(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        out.push_str(&format!("\\x{b:02x}"));
    }
}

/// The index of the `]` closing a `[:name:]` POSIX class starting at `from`.
fn find_posix_end(chars: &[char], from: usize) -> Option<usize> {
    let mut j = from;
    while let Some(&c) = chars.get(j) {
        if c == ':' {
            return (chars.get(j + 1) == Some(&']')).then_some(j + 1);
        }
        if !c.is_ascii_alphabetic() {
            return None;
        }
        j += 1;
    }
    None
}

/// If `{` at `start` begins a valid quantifier (`{n}`, `{n,}`, `{n,m}`), its `}` index.
fn quantifier_end(chars: &[char], start: usize) -> Option<usize> {
    let mut j = start + 1;
    let mut digits = 0;
    while chars.get(j).is_some_and(char::is_ascii_digit) {
        j += 1;
        digits += 1;
    }
    if digits == 0 {
        return None;
    }
    if chars.get(j) == Some(&',') {
        j += 1;
        while chars.get(j).is_some_and(char::is_ascii_digit) {
            j += 1;
        }
    }
    (chars.get(j) == Some(&'}')).then_some(j)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn vertical_whitespace_is_pcre_s() {
        assert_eq!(translate(r"[\s\v]+").pattern, r"[\s\x0a-\x0d\x85]+");
        assert_eq!(translate(r"a\vb").pattern, r"a[\x0a-\x0d\x85]b");
        assert_eq!(translate(r"[^\s\v0-9]").pattern, r"[^\s\x0a-\x0d\x850-9]");
        let re = regex::bytes::RegexBuilder::new(&translate(r"^a[\s\v]b$").pattern)
            .unicode(false)
            .build()
            .unwrap();
        for ok in [&b"a\nb"[..], b"a\x0bb", b"a\x85b", b"a b"] {
            assert!(re.is_match(ok), "{ok:?}");
        }
        assert!(!re.is_match(b"axb"));
    }

    #[test]
    fn escapes_pcre_literals() {
        assert_eq!(translate(r"[a[b]").pattern, r"[a\[b]");
        assert_eq!(translate(r"[\<\>]").pattern, r"[<>]");
        assert_eq!(translate(r"\${x}").pattern, r"\$\{x\}");
        assert_eq!(translate(r"a{2,3}").pattern, r"a{2,3}");
        assert_eq!(translate(r"[[:alpha:]]").pattern, r"[[:alpha:]]");
        assert_eq!(translate(r"[]a]").pattern, r"[]a]");
        assert_eq!(translate(r"[\x{c2}]").pattern, r"[\xc2]");
        assert_eq!(translate("´").pattern, r"\xc2\xb4");
    }

    #[test]
    fn detects_possessive_quantifiers() {
        assert!(translate(r"a*+b").possessive);
        assert!(translate(r"a++").possessive);
        assert!(!translate(r"(?:a)+?").possessive);
        assert!(!translate(r"(?i)a+").possessive);
        assert!(!translate(r"[a+]+").possessive);
    }
}
