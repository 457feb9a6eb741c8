//! `multipart/form-data` request bodies (RFC 7578), split into `(field, value)` pairs
//! so they are typed, validated and checked for mass assignment like form bodies.
//!
//! Strict on purpose: a body the gateway reads one way and the upstream another is
//! a bypass. Refused (rule `multipart`): a missing, repeated or malformed
//! boundary, a part without `Content-Disposition: form-data; name=...`, more than
//! one disposition, a missing closing delimiter, more than [`MAX_PARTS`] parts,
//! part headers over [`MAX_PART_HEAD`] bytes. File contents are kept as (lossy) text: schemas
//! declare them as strings (`format: binary`), and their bytes are bounded by the
//! body limit already.

/// Most parts accepted.
pub const MAX_PARTS: usize = 256;
/// Largest header block of one part, in bytes.
pub const MAX_PART_HEAD: usize = 4096;

/// The refusal rule.
pub const RULE: &str = "multipart";

/// The `boundary` parameter of a `multipart/form-data` content type. `None` when
/// it is given twice: parsers disagree on which one counts.
pub fn boundary(content_type: &str) -> Option<&str> {
    let mut found = content_type.split(';').skip(1).filter_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim())
    });
    let value = found.next()?;
    if found.next().is_some() {
        return None;
    }
    let value = match value.strip_prefix('"') {
        Some(q) => q.strip_suffix('"')?,
        None => value,
    };
    // RFC 2046: 1 to 70 characters, no trailing space.
    let ok = (1..=70).contains(&value.len())
        && !value.ends_with(' ')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b));
    ok.then_some(value)
}

/// Splits a body into `(name, value)` pairs; `Err(RULE)` when it is malformed.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Vec<(String, String)>, &'static str> {
    Ok(parts(content_type, body)?
        .into_iter()
        .map(|(name, content)| (name, String::from_utf8_lossy(content).into_owned()))
        .collect())
}

/// The field names of a body, in order, without copying the contents (the
/// method-override check of bodies no schema types).
pub fn names(content_type: &str, body: &[u8]) -> Result<Vec<String>, &'static str> {
    Ok(parts(content_type, body)?
        .into_iter()
        .map(|(name, _)| name)
        .collect())
}

/// Splits a body into `(name, content)` parts.
fn parts<'b>(content_type: &str, body: &'b [u8]) -> Result<Vec<(String, &'b [u8])>, &'static str> {
    let boundary = boundary(content_type).ok_or(RULE)?;
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    // The first delimiter starts the body or follows a CRLF (a preamble).
    let mut at = if body.starts_with(d) {
        d.len()
    } else {
        find(body, &[b"\r\n", d].concat(), 0).ok_or(RULE)? + 2 + d.len()
    };
    let next_delimiter = [b"\r\n", d].concat();
    let mut out = Vec::new();
    loop {
        let rest = body.get(at..).ok_or(RULE)?;
        if rest.starts_with(b"--") {
            return Ok(out); // closing delimiter; the epilogue is ignored
        }
        if !rest.starts_with(b"\r\n") {
            return Err(RULE);
        }
        if out.len() >= MAX_PARTS {
            return Err(RULE);
        }
        let start = at + 2;
        let end = find(body, &next_delimiter, start).ok_or(RULE)?;
        let part = body.get(start..end).ok_or(RULE)?;
        out.push(part_pair(part)?);
        at = end + next_delimiter.len();
    }
}

fn part_pair(part: &[u8]) -> Result<(String, &[u8]), &'static str> {
    let split = find(part, b"\r\n\r\n", 0).ok_or(RULE)?;
    if split > MAX_PART_HEAD {
        return Err(RULE);
    }
    let head = std::str::from_utf8(part.get(..split).ok_or(RULE)?).map_err(|_| RULE)?;
    let content = part.get(split + 4..).ok_or(RULE)?;
    let mut name = None;
    for line in head.split("\r\n") {
        let (field, value) = line.split_once(':').ok_or(RULE)?;
        if !field.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        if name.is_some() {
            return Err(RULE);
        }
        name = Some(disposition_name(value)?);
    }
    let name = name.ok_or(RULE)?;
    Ok((name, content))
}

/// The `name` of `form-data; name="field"; filename="a.png"`.
fn disposition_name(value: &str) -> Result<String, &'static str> {
    let mut params = value.split(';');
    if !params
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("form-data"))
    {
        return Err(RULE);
    }
    let mut name = None;
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("name") {
            let v = v.trim();
            let v = match v.strip_prefix('"') {
                Some(q) => q.strip_suffix('"').ok_or(RULE)?,
                None => v,
            };
            if name.is_some() || v.is_empty() || v.contains(['"', '\\']) {
                return Err(RULE);
            }
            name = Some(v.to_string());
        }
    }
    name.ok_or(RULE)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let rest = haystack.get(from..)?;
    rest.windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=XyZ";

    fn body(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (head, content) in parts {
            out.extend_from_slice(format!("--XyZ\r\n{head}\r\n\r\n{content}\r\n").as_bytes());
        }
        out.extend_from_slice(b"--XyZ--\r\n");
        out
    }

    #[test]
    fn fields_and_files_become_pairs() {
        let b = body(&[
            ("Content-Disposition: form-data; name=\"title\"", "Hello"),
            (
                "Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain",
                "line1\r\nline2",
            ),
        ]);
        assert_eq!(
            parse(CT, &b).unwrap(),
            vec![
                ("title".to_string(), "Hello".to_string()),
                ("file".to_string(), "line1\r\nline2".to_string())
            ]
        );
        let quoted = "multipart/form-data; boundary=\"XyZ\"";
        assert_eq!(parse(quoted, &b).unwrap().len(), 2);
        let mut with_preamble = b"ignored preamble\r\n".to_vec();
        with_preamble.extend_from_slice(&b);
        assert_eq!(parse(CT, &with_preamble).unwrap().len(), 2);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let ok = "Content-Disposition: form-data; name=\"a\"";
        assert_eq!(parse("multipart/form-data", &body(&[(ok, "1")])), Err(RULE));
        // No name, not form-data, two dispositions, two names.
        for head in [
            "Content-Disposition: form-data",
            "Content-Disposition: attachment; name=\"a\"",
            "Content-Disposition: form-data; name=\"a\"\r\nContent-Disposition: form-data; name=\"b\"",
            "Content-Disposition: form-data; name=\"a\"; name=\"b\"",
            "no colon here",
        ] {
            assert_eq!(parse(CT, &body(&[(head, "1")])), Err(RULE), "{head}");
        }
        // No closing delimiter.
        let open = format!("--XyZ\r\n{ok}\r\n\r\n1\r\n");
        assert_eq!(parse(CT, open.as_bytes()), Err(RULE));
        let many: Vec<(&str, &str)> = (0..=MAX_PARTS).map(|_| (ok, "1")).collect();
        assert_eq!(parse(CT, &body(&many)), Err(RULE));
        assert_eq!(boundary("multipart/form-data; boundary="), None);
        assert_eq!(boundary(&format!("x; boundary={}", "a".repeat(71))), None);
        // A repeated boundary: the upstream may split on the other one.
        let twice = "multipart/form-data; boundary=XyZ; boundary=Other";
        assert_eq!(boundary(twice), None);
        assert_eq!(parse(twice, &body(&[(ok, "1")])), Err(RULE));
        assert_eq!(
            parse(
                "multipart/form-data; BOUNDARY=Other; boundary=XyZ",
                &body(&[(ok, "1")])
            ),
            Err(RULE)
        );
        assert_eq!(parse(CT, &body(&[(ok, "1")])).unwrap().len(), 1);
    }
}
