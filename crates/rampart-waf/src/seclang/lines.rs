//! Apache-style configuration lexing: logical lines and quoted arguments.
//!
//! ModSecurity v2 reads its rules through Apache's config parser, and the CRS
//! regression suite expects that behaviour: a line ending in `\` continues on the
//! next line, `#` starts a comment line, arguments are separated by whitespace and
//! may be quoted with `"` or `'`, and inside an argument `\\` becomes `\` and a
//! backslash before the quote character becomes the quote. Every other backslash
//! is kept, so regex escapes reach the regex compiler intact.

/// One directive's text with the line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine {
    /// 1-based line number of the first physical line.
    pub line: usize,
    /// The joined text, continuations removed.
    pub text: String,
}

/// Splits a file into logical lines, dropping blank and comment lines.
pub fn logical_lines(src: &str) -> Vec<LogicalLine> {
    let mut out = Vec::new();
    let mut current: Option<LogicalLine> = None;
    for (index, raw) in src.lines().enumerate() {
        let trimmed_end = raw.trim_end();
        let (body, continues) = match trimmed_end.strip_suffix('\\') {
            Some(body) => (body, true),
            None => (trimmed_end, false),
        };
        match current.as_mut() {
            Some(line) => line.text.push_str(body),
            None => {
                let start = body.trim_start();
                if start.is_empty() && !continues {
                    continue;
                }
                if start.starts_with('#') {
                    // A comment ends at its physical line in practice; Apache would
                    // continue it, but CRS never relies on continued comments.
                    continue;
                }
                current = Some(LogicalLine {
                    line: index + 1,
                    text: start.to_string(),
                });
            }
        }
        if !continues
            && let Some(line) = current.take()
            && !line.text.trim().is_empty()
        {
            out.push(line);
        }
    }
    if let Some(line) = current.take()
        && !line.text.trim().is_empty()
    {
        out.push(line);
    }
    out
}

/// Splits a logical line into arguments (the directive name is the first one).
pub fn split_args(text: &str) -> Result<Vec<String>, String> {
    let bytes = text.as_bytes();
    let mut args = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let Some(&first) = bytes.get(i) else { break };
        let quote = if first == b'"' || first == b'\'' {
            i += 1;
            Some(first)
        } else {
            None
        };
        let mut arg = Vec::new();
        let mut closed = quote.is_none();
        while let Some(&c) = bytes.get(i) {
            if let Some(q) = quote
                && c == q
            {
                closed = true;
                i += 1;
                break;
            }
            if quote.is_none() && c.is_ascii_whitespace() {
                break;
            }
            if c == b'\\' {
                let next = bytes.get(i + 1).copied();
                if next == Some(b'\\') || (quote.is_some() && next == quote) {
                    if let Some(n) = next {
                        arg.push(n);
                    }
                    i += 2;
                    continue;
                }
            }
            arg.push(c);
            i += 1;
        }
        if !closed {
            return Err("unterminated quoted argument".into());
        }
        if quote.is_some() && bytes.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
            return Err("text directly after a closing quote".into());
        }
        args.push(String::from_utf8(arg).map_err(|_| "argument is not UTF-8".to_string())?);
    }
    Ok(args)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn continuations_join_and_comments_drop() {
        let src = "# comment\nSecRule A \\\n    \"@rx x\" \\\n    \"id:1\"\n\n  SecMarker END\n";
        let lines = logical_lines(src);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].line, 2);
        assert_eq!(lines[0].text, "SecRule A     \"@rx x\"     \"id:1\"");
        assert_eq!(lines[1].line, 6);
        assert_eq!(lines[1].text, "SecMarker END");
    }

    #[test]
    fn quoting_follows_apache() {
        let args = split_args(r#"SecRule ARGS "@rx a\\b\"c\d" 'id:1,msg:\'x\''"#).unwrap();
        assert_eq!(
            args,
            vec!["SecRule", "ARGS", r#"@rx a\b"c\d"#, "id:1,msg:'x'"]
        );
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert!(split_args("SecRule ARGS \"@rx a").is_err());
    }

    #[test]
    fn unquoted_double_backslash_collapses() {
        assert_eq!(split_args(r"a\\b c\d").unwrap(), vec![r"a\b", r"c\d"]);
    }
}
