//! `multipart/form-data` with ModSecurity's strictness flags (the
//! `MULTIPART_*` variables that CRS and the recommended rule 200003 read).

use super::Pair;

/// Strictness findings; each is a `MULTIPART_*` variable.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // Each field is the MULTIPART_ variable of the same name.
pub struct MultipartFlags {
    pub boundary_quoted: bool,
    pub boundary_whitespace: bool,
    pub data_before: bool,
    pub data_after: bool,
    pub header_folding: bool,
    pub lf_line: bool,
    pub crlf_lf_lines: bool,
    pub missing_semicolon: bool,
    pub invalid_quoting: bool,
    pub invalid_part: bool,
    pub invalid_header_folding: bool,
    pub file_limit_exceeded: bool,
    pub unmatched_boundary: bool,
}

impl MultipartFlags {
    /// MULTIPART_STRICT_ERROR: any finding (parse errors are added by the
    /// caller). Bodies with bare-LF line ends throughout are common (and what
    /// the CRS 3.3 tests send), so only a *mix* of CRLF and LF lines counts;
    /// MULTIPART_LF_LINE still reports bare LFs.
    pub fn strict_error(&self) -> bool {
        self.boundary_quoted
            || self.boundary_whitespace
            || self.data_before
            || self.data_after
            || self.header_folding
            || self.crlf_lf_lines
            || self.missing_semicolon
            || self.invalid_quoting
            || self.invalid_part
            || self.invalid_header_folding
            || self.file_limit_exceeded
    }
}

/// An uploaded file part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePart {
    /// The form field name.
    pub name: Vec<u8>,
    /// The client's file name.
    pub filename: Vec<u8>,
    /// Size of the content.
    pub size: usize,
}

/// The parsed body.
#[derive(Debug, Default, Clone)]
pub struct Multipart {
    /// Non-file fields (ARGS_POST).
    pub args: Vec<Pair>,
    /// File parts (FILES, FILES_NAMES, FILES_SIZES).
    pub files: Vec<FilePart>,
    /// Every part header line, keyed by part name (MULTIPART_PART_HEADERS).
    pub part_headers: Vec<Pair>,
    /// Strictness findings.
    pub flags: MultipartFlags,
    /// The first hard error, which also sets REQBODY_ERROR.
    pub error: Option<String>,
}

/// Parts allowed before the rest is ignored and flagged.
const MAX_PARTS: usize = 1000;
/// File parts allowed (ModSecurity's `SecUploadFileLimit` default).
const MAX_FILES: usize = 100;
/// Header lines one part may have; more is an invalid part. Each line is
/// kept with the part's name (MULTIPART_PART_HEADERS), so without a bound a
/// long name and many short lines made a small body gigabytes of pairs.
const MAX_PART_HEADERS: usize = 32;
/// The part names copied as MULTIPART_PART_HEADERS keys (one per header
/// line, as each line is a value keyed by its part's name) are bounded in
/// total: a long name over 32 lines still made the pairs some 33 times the
/// body. A name is in the body once, and its Content-Disposition line is
/// longer than it, so forms with up to four header lines per part (they have
/// one to three) stay within four times the body, plus room for small ones.
const PART_HEADER_KEY_BYTES_PER_BODY_BYTE: usize = 4;
/// ... the room for small bodies.
const MIN_PART_HEADER_KEY_BYTES: usize = 64 * 1024;

/// The boundary from a Content-Type header value, with boundary flags.
///
/// The parameters are parsed as HTTP parameters (`;`-separated, values a
/// token or a quoted string) and the boundary is the value of the one
/// parameter named `boundary`. `None` (a parse error) when the parameters do
/// not parse, when there is no or more than one such parameter, or when the
/// word appears anywhere else (`type="boundary=foo"; boundary=bar`,
/// `boundary*=`): the first substring `boundary` used to be taken, so such a
/// header gave this parser one boundary and the application's another.
pub fn boundary(content_type: &[u8], flags: &mut MultipartFlags) -> Option<Vec<u8>> {
    let media_end = content_type
        .iter()
        .position(|&c| c == b';')
        .unwrap_or(content_type.len());
    let media = content_type.get(..media_end)?;
    if contains_word(media, b"boundary") || media.contains(&b'"') {
        return None;
    }
    let mut found: Option<Vec<u8>> = None;
    for param in params(content_type.get(media_end..)?)? {
        if param.name.eq_ignore_ascii_case(b"boundary") {
            if found.is_some() {
                // Parsers disagree on which of several counts.
                return None;
            }
            flags.boundary_whitespace |= param.space_around_equals;
            flags.boundary_quoted |= param.quoted;
            let value = trim_end(&param.value);
            if value.is_empty() {
                return None;
            }
            if value.iter().any(u8::is_ascii_whitespace) {
                flags.boundary_whitespace = true;
            }
            found = Some(value.to_vec());
        } else if contains_word(param.name, b"boundary") || contains_word(&param.value, b"boundary")
        {
            return None;
        }
    }
    found
}

/// One Content-Type parameter.
struct Param<'a> {
    name: &'a [u8],
    /// Unquoted and unescaped.
    value: Vec<u8>,
    quoted: bool,
    space_around_equals: bool,
}

/// The parameters after the media type (`rest` starts at the first `;`, or
/// is empty). `None` when they do not parse: a name that is not a token, a
/// missing `=`, an unterminated quoted string, or something other than `;`
/// after a value (`boundary=a b`, `boundary=a, multipart/mixed`). Empty
/// parameters (`;;`, a trailing `;`) are skipped, as most parsers do.
fn params(rest: &[u8]) -> Option<Vec<Param<'_>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while rest.get(*i).is_some_and(|&c| c == b' ' || c == b'\t') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        match rest.get(i) {
            None => return Some(out),
            Some(b';') => i += 1,
            Some(_) => return None,
        }
        skip_ws(&mut i);
        if matches!(rest.get(i), None | Some(b';')) {
            continue;
        }
        let start = i;
        while rest.get(i).is_some_and(|&c| is_token_char(c)) {
            i += 1;
        }
        let name = rest.get(start..i)?;
        if name.is_empty() {
            return None;
        }
        let before = i;
        skip_ws(&mut i);
        let mut space_around_equals = i != before;
        if rest.get(i) != Some(&b'=') {
            return None;
        }
        i += 1;
        let after = i;
        skip_ws(&mut i);
        space_around_equals |= i != after;
        let mut value = Vec::new();
        let quoted = rest.get(i) == Some(&b'"');
        if quoted {
            i += 1;
            loop {
                match rest.get(i)? {
                    b'"' => break,
                    b'\\' => {
                        value.push(*rest.get(i + 1)?);
                        i += 2;
                    }
                    &c => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
            i += 1;
        } else {
            // A token, widened to the characters RFC 2046 allows in a
            // boundary (`=`, `/`, `:`, `?`, ...), which clients send
            // unquoted; never a quote, a separator or whitespace.
            while let Some(&c) = rest.get(i) {
                if c <= b' ' || c >= 0x7f || matches!(c, b'"' | b';' | b',' | b'\\') {
                    break;
                }
                value.push(c);
                i += 1;
            }
            if value.is_empty() {
                return None;
            }
        }
        out.push(Param {
            name,
            value,
            quoted,
            space_around_equals,
        });
    }
}

/// RFC 9110 `tchar`.
fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Whether `word` occurs in `s`, ignoring ASCII case.
fn contains_word(s: &[u8], word: &[u8]) -> bool {
    s.windows(word.len()).any(|w| w.eq_ignore_ascii_case(word))
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let Some((c, rest)) = s.split_first() {
        if !c.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    s
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let Some((c, rest)) = s.split_last() {
        if !c.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    s
}

/// Splits into lines: (content, had CR before LF, had LF).
fn lines(body: &[u8]) -> Vec<(&[u8], bool, bool)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &c) in body.iter().enumerate() {
        if c == b'\n' {
            let line = body.get(start..i).unwrap_or_default();
            let (line, cr) = match line.strip_suffix(b"\r") {
                Some(l) => (l, true),
                None => (line, false),
            };
            out.push((line, cr, true));
            start = i + 1;
        }
    }
    if start < body.len() {
        out.push((body.get(start..).unwrap_or_default(), false, false));
    }
    out
}

/// Parses a multipart body.
pub fn parse(body: &[u8], content_type: &[u8]) -> Multipart {
    let mut m = Multipart::default();
    let Some(boundary) = boundary(content_type, &mut m.flags) else {
        m.error = Some(
            "multipart: no usable boundary in Content-Type (missing, empty or repeated)".into(),
        );
        return m;
    };
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(&boundary);
    let mut delim_end = delim.clone();
    delim_end.extend_from_slice(b"--");

    enum State {
        Preamble,
        Headers,
        Data,
        Epilogue,
    }
    let mut state = State::Preamble;
    let (mut crlf, mut lf) = (0usize, 0usize);
    let mut headers: Vec<Vec<u8>> = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let mut pending_eol: &[u8] = b"";
    let mut parts = 0usize;
    let mut finished = false;
    let mut key_bytes_left = body
        .len()
        .saturating_mul(PART_HEADER_KEY_BYTES_PER_BODY_BYTE)
        .saturating_add(MIN_PART_HEADER_KEY_BYTES);
    for (line, cr, has_lf) in lines(body) {
        if has_lf && !matches!(state, State::Epilogue) {
            if cr { crlf += 1 } else { lf += 1 }
        }
        let trimmed = trim_end(line);
        let is_delim = trimmed == delim.as_slice();
        let is_end = trimmed == delim_end.as_slice();
        // A line that starts with the delimiter but goes on (`--XyZjunk`,
        // `--XyZ--x`) is data here and a delimiter to parsers that match the
        // boundary as a prefix: the recommended rule 200004 refuses it. A
        // line that is only the start of the delimiter (`--`, or `---` under
        // a browser's `----WebKitFormBoundary…`) is text nobody reads as a
        // delimiter, so it does not count.
        if !is_delim && !is_end && !matches!(state, State::Epilogue) && line.starts_with(&delim) {
            m.flags.unmatched_boundary = true;
        }
        match state {
            State::Preamble => {
                if is_delim {
                    state = State::Headers;
                } else if is_end {
                    state = State::Epilogue;
                    finished = true;
                } else if !line.is_empty() {
                    m.flags.data_before = true;
                }
            }
            State::Headers => {
                if line.is_empty() {
                    state = State::Data;
                    data.clear();
                    pending_eol = b"";
                } else if line.first().is_some_and(|&c| c == b' ' || c == b'\t') {
                    m.flags.header_folding = true;
                    match headers.last_mut() {
                        Some(h) => h.extend_from_slice(line),
                        None => m.flags.invalid_header_folding = true,
                    }
                } else if headers.len() >= MAX_PART_HEADERS {
                    m.flags.invalid_part = true;
                } else {
                    headers.push(line.to_vec());
                }
            }
            State::Data => {
                if is_delim || is_end {
                    parts += 1;
                    if parts > MAX_PARTS {
                        m.flags.file_limit_exceeded = true;
                    } else {
                        let data = std::mem::take(&mut data);
                        finish_part(&mut m, &mut headers, data, &mut key_bytes_left);
                    }
                    headers.clear();
                    if is_end {
                        state = State::Epilogue;
                        finished = true;
                    } else {
                        state = State::Headers;
                    }
                } else {
                    data.extend_from_slice(pending_eol);
                    data.extend_from_slice(line);
                    pending_eol = match (cr, has_lf) {
                        (true, true) => b"\r\n",
                        (false, true) => b"\n",
                        _ => b"",
                    };
                }
            }
            State::Epilogue => {
                if !line.is_empty() {
                    m.flags.data_after = true;
                }
            }
        }
    }
    if lf > 0 {
        m.flags.lf_line = true;
        if crlf > 0 {
            m.flags.crlf_lf_lines = true;
        }
    }
    if !finished {
        m.error = Some("multipart: final boundary missing".into());
    }
    m
}

/// Files the part as an argument or a file; its header lines are moved into
/// MULTIPART_PART_HEADERS while `key_bytes_left` allows the name copies.
fn finish_part(
    m: &mut Multipart,
    headers: &mut Vec<Vec<u8>>,
    data: Vec<u8>,
    key_bytes_left: &mut usize,
) {
    let mut name: Option<Vec<u8>> = None;
    let mut filename: Option<Vec<u8>> = None;
    let mut disposition_seen = false;
    for h in headers.iter() {
        let Some(colon) = h.iter().position(|&c| c == b':') else {
            m.flags.invalid_part = true;
            continue;
        };
        let hname = h.get(..colon).unwrap_or_default();
        let value = trim_start(h.get(colon + 1..).unwrap_or_default());
        if hname.eq_ignore_ascii_case(b"content-disposition") {
            // A second one (the first names a field, the second a file):
            // parsers disagree on which counts, so it is an invalid part.
            if disposition_seen {
                m.flags.invalid_part = true;
                continue;
            }
            disposition_seen = true;
            if let Err(e) = parse_disposition(value, &mut m.flags, &mut name, &mut filename) {
                m.error.get_or_insert_with(|| e.into());
            }
        }
    }
    if !disposition_seen || name.is_none() {
        m.flags.invalid_part = true;
    }
    let name = name.unwrap_or_default();
    match key_bytes_left.checked_sub(name.len().saturating_mul(headers.len())) {
        Some(left) => {
            *key_bytes_left = left;
            for h in headers.drain(..) {
                m.part_headers.push((name.clone(), h));
            }
        }
        // Past the bound the lines are not kept, and the body fails strict
        // validation (rule 200003 refuses it).
        None => m.flags.invalid_part = true,
    }
    // `filename=""` is a field to some parsers (Go's), so its content is
    // inspected as one rather than filed as an upload nobody looks into.
    match filename.filter(|filename| !filename.is_empty()) {
        Some(filename) => {
            if m.files.len() >= MAX_FILES {
                m.flags.file_limit_exceeded = true;
                return;
            }
            m.files.push(FilePart {
                name,
                filename,
                size: data.len(),
            });
        }
        None => m.args.push((name, data)),
    }
}

/// Reads `name` and `filename` from a Content-Disposition value; anomalies
/// parsers tolerate differently are flags. A parameter this parser would
/// read differently from the application's is an `Err` (a parse error, as in
/// ModSecurity): any parameter but `name` and `filename`, either of them
/// twice, or whitespace before `=`. Only the exact key `filename` makes the
/// part a file: `filename*=x` and `filename ="x"` used to count, so the
/// content went uninspected as an upload while PHP (which knows only
/// `filename`) and Go (which drops an invalid `filename*`) delivered it as a
/// field. `filename*` (RFC 2231) is forbidden in form data by RFC 7578.
fn parse_disposition(
    v: &[u8],
    flags: &mut MultipartFlags,
    name: &mut Option<Vec<u8>>,
    filename: &mut Option<Vec<u8>>,
) -> Result<(), &'static str> {
    let mut result = Ok(());
    let mut extended_filename = false;
    let lower = v.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix(b"form-data").map(|r| r.len()) else {
        flags.invalid_part = true;
        return result;
    };
    let mut i = v.len() - rest;
    loop {
        while v.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        match v.get(i) {
            None => break,
            Some(b';') => i += 1,
            Some(_) => {
                flags.missing_semicolon = true;
            }
        }
        while v.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        let start = i;
        while v.get(i).is_some_and(|&c| c != b'=' && c != b';') {
            i += 1;
        }
        let raw_key = v.get(start..i).unwrap_or_default();
        let key = trim_end(raw_key).to_ascii_lowercase();
        let space_before_equals = key.len() != raw_key.len();
        if v.get(i) != Some(&b'=') {
            if key.is_empty() {
                if v.get(i).is_none() {
                    break;
                }
                continue;
            }
            flags.invalid_part = true;
            continue;
        }
        i += 1;
        while v.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        let value = match v.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                if q == b'\'' {
                    flags.invalid_quoting = true;
                }
                i += 1;
                let mut val = Vec::new();
                let mut closed = false;
                while let Some(&c) = v.get(i) {
                    i += 1;
                    if c == b'\\' && q == b'"' {
                        if let Some(&n) = v.get(i) {
                            val.push(n);
                            i += 1;
                        }
                        continue;
                    }
                    if c == q {
                        closed = true;
                        break;
                    }
                    val.push(c);
                }
                if !closed {
                    flags.invalid_quoting = true;
                }
                val
            }
            _ => {
                let start = i;
                while v.get(i).is_some_and(|&c| c != b';') {
                    i += 1;
                }
                let raw = trim_end(v.get(start..i).unwrap_or_default());
                // An RFC 8187 extended value (`filename*=utf-8''a.txt`, as
                // .NET's MultipartFormDataContent writes beside `filename`)
                // holds single quotes by its syntax.
                let extended = key.as_slice() == b"filename*";
                if raw.contains(&b'"') || (raw.contains(&b'\'') && !extended) {
                    flags.invalid_quoting = true;
                }
                raw.to_vec()
            }
        };
        // The first problem is reported; the rest of the header is still
        // read, so a later `name` keeps naming the part.
        let problem = if space_before_equals {
            Some("multipart: whitespace before '=' in a Content-Disposition parameter")
        } else {
            match key.as_slice() {
                b"name" if name.is_some() => Some("multipart: Content-Disposition names twice"),
                b"name" => {
                    *name = Some(value);
                    None
                }
                b"filename" if filename.is_some() => {
                    Some("multipart: Content-Disposition with two file names")
                }
                b"filename" => {
                    *filename = Some(value);
                    None
                }
                // Beside `filename` every parser takes the part as a file;
                // alone (or twice) parsers disagree on whether it is one.
                b"filename*" if extended_filename => {
                    Some("multipart: Content-Disposition with two file names")
                }
                b"filename*" => {
                    extended_filename = true;
                    None
                }
                _ => Some("multipart: unknown Content-Disposition parameter"),
            }
        };
        if let (Some(p), Ok(())) = (problem, result) {
            result = Err(p);
        }
    }
    if extended_filename && filename.is_none() && result.is_ok() {
        result = Err("multipart: filename* without filename in form data (RFC 7578)");
    }
    result
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const CT: &[u8] = b"multipart/form-data; boundary=XyZ";

    #[test]
    fn header_lines_per_part_are_bounded() {
        // A long name and thousands of header lines: each line was kept with
        // a copy of the name, gigabytes from a small body.
        let name = "A".repeat(10_000);
        let mut body = format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n");
        for _ in 0..5_000 {
            body.push_str("a:\r\n");
        }
        body.push_str("\r\nv\r\n--XyZ--\r\n");
        let m = parse(body.as_bytes(), CT);
        assert!(m.part_headers.len() <= MAX_PART_HEADERS);
        assert!(m.flags.invalid_part && m.flags.strict_error());
    }

    #[test]
    fn part_header_names_are_bounded_in_total() {
        // 20 parts, each a 10,000-byte name over 32 header lines: 6.4 MB of
        // name copies from a 205 KB body.
        let name = "A".repeat(10_000);
        let mut body = String::new();
        for _ in 0..20 {
            body.push_str(&format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n"
            ));
            for _ in 0..31 {
                body.push_str("a:\r\n");
            }
            body.push_str("\r\nv\r\n");
        }
        body.push_str("--XyZ--\r\n");
        let m = parse(body.as_bytes(), CT);
        let keys: usize = m.part_headers.iter().map(|(k, _)| k.len()).sum();
        assert!(
            keys <= body.len() * PART_HEADER_KEY_BYTES_PER_BODY_BYTE + MIN_PART_HEADER_KEY_BYTES,
            "{keys} bytes of names from a {}-byte body",
            body.len()
        );
        assert!(m.flags.invalid_part && m.flags.strict_error());
        assert_eq!(m.args.len(), 20);
        // Long names with the usual header lines are kept whole.
        let mut body = String::new();
        for _ in 0..100 {
            body.push_str(&format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"a.txt\"\r\n\
                 Content-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\nv\r\n"
            ));
        }
        body.push_str("--XyZ--\r\n");
        let m = parse(body.as_bytes(), CT);
        assert_eq!(m.part_headers.len(), 300);
        assert!(!m.flags.strict_error(), "{:?}", m.flags);
    }

    #[test]
    fn parts_parsers_disagree_on_are_refused_or_inspected() {
        // Two Content-Disposition headers (a field, then a file): invalid.
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"q\"\r\nContent-Disposition: form-data; name=\"q\"; filename=\"x\"\r\n\r\n' or 1=1--\r\n--XyZ--\r\n";
        let m = parse(body.as_bytes(), CT);
        assert!(m.flags.invalid_part && m.flags.strict_error());
        // `filename=""`: a field to Go's parser, so its content is an ARG.
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"q\"; filename=\"\"\r\n\r\n' or 1=1--\r\n--XyZ--\r\n";
        let m = parse(body.as_bytes(), CT);
        assert!(m.files.is_empty());
        assert_eq!(m.args, vec![(b"q".to_vec(), b"' or 1=1--".to_vec())]);
        // Two boundary parameters: which one counts differs between parsers.
        let m = parse(
            body.as_bytes(),
            b"multipart/form-data; boundary=XyZ; boundary=Other",
        );
        assert!(m.error.is_some());
        // A boundary that is the word itself is one parameter.
        let body =
            "--boundary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--boundary--\r\n";
        let m = parse(body.as_bytes(), b"multipart/form-data; boundary=boundary");
        assert!(m.error.is_none(), "{:?}", m.error);
        assert_eq!(m.args.len(), 1);
    }

    #[test]
    fn disposition_parameters_other_parsers_read_differently_are_errors() {
        // `filename*=x` and `filename ="x"` made the part an uninspected
        // file, while PHP and Go deliver its content as the field q.
        for disposition in [
            "name=\"q\"; filename*=x",
            "name=\"q\"; filename =\"x\"",
            "name=\"q\"; filename*=utf-8''x.txt",
            "name=\"q\"; filename*=utf-8''x.txt; filename*=utf-8''y.txt",
        ] {
            let body = format!(
                "--XyZ\r\nContent-Disposition: form-data; {disposition}\r\n\r\n' or 1=1--\r\n--XyZ--\r\n"
            );
            let m = parse(body.as_bytes(), CT);
            assert!(m.error.is_some(), "{disposition}");
            assert!(m.files.is_empty(), "{disposition}");
            assert_eq!(
                m.args,
                vec![(b"q".to_vec(), b"' or 1=1--".to_vec())],
                "{disposition}"
            );
        }
        // Unknown parameters, a name or file name twice, a space before `=`.
        for disposition in [
            "name=\"q\"; size=3",
            "name=\"q\"; name=\"r\"",
            "name=\"q\"; filename=\"a\"; filename=\"b\"",
            "name =\"q\"",
        ] {
            let body = format!(
                "--XyZ\r\nContent-Disposition: form-data; {disposition}\r\n\r\nv\r\n--XyZ--\r\n"
            );
            assert!(parse(body.as_bytes(), CT).error.is_some(), "{disposition}");
        }
        // What browsers send, in either order and with a space after `=`.
        for disposition in [
            "name=\"q\"",
            "filename=\"a.txt\"; name=\"q\"",
            "NAME= \"q\"; FileName=\"a.txt\"",
        ] {
            let body = format!(
                "--XyZ\r\nContent-Disposition: form-data; {disposition}\r\n\r\nv\r\n--XyZ--\r\n"
            );
            let m = parse(body.as_bytes(), CT);
            assert!(m.error.is_none(), "{disposition}: {:?}", m.error);
            assert!(!m.flags.strict_error(), "{disposition}: {:?}", m.flags);
        }
        // .NET's MultipartFormDataContent writes an RFC 8187 `filename*`
        // beside `filename`: every parser takes that part as the file.
        let body = "--XyZ\r\nContent-Disposition: form-data; name=file; filename=a.txt; filename*=utf-8''a.txt\r\n\r\nv\r\n--XyZ--\r\n";
        let m = parse(body.as_bytes(), CT);
        assert!(m.error.is_none(), "{:?}", m.error);
        assert!(!m.flags.strict_error(), "{:?}", m.flags);
        assert_eq!(m.files.len(), 1);
        assert!(m.args.is_empty());
    }

    #[test]
    fn the_boundary_is_the_parameter_named_boundary() {
        // The word inside another parameter's value: the first substring
        // `boundary` gave `foo"` here while Go, Node and Python use `bar`.
        let body =
            "--bar\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n' or 1=1--\r\n--bar--\r\n";
        for ct in [
            "multipart/form-data; type=\"boundary=foo\"; boundary=bar",
            "multipart/form-data; type=boundary=foo; boundary=bar",
            "multipart/form-data; boundary=bar; x=\"a;boundary=foo\"",
            "multipart/form-data; boundary*=foo; boundary=bar",
            "multipart/form-data; xboundary=foo; boundary=bar",
            "multipart/form-data boundary=foo; boundary=bar",
        ] {
            let m = parse(body.as_bytes(), ct.as_bytes());
            assert!(m.error.is_some(), "{ct}");
        }
        // Parameters that do not parse.
        for ct in [
            "multipart/form-data; boundary=bar baz",
            "multipart/form-data; boundary=\"bar",
            "multipart/form-data; boundary=bar, multipart/mixed; boundary=baz",
            "multipart/form-data; =x; boundary=bar",
            "multipart/form-data; charset; boundary=bar",
            "multipart/form-data; boundary=",
        ] {
            assert!(
                parse(body.as_bytes(), ct.as_bytes()).error.is_some(),
                "{ct}"
            );
        }
        // Well-formed headers, the boundary quoted or holding the word.
        for (ct, quoted) in [
            ("multipart/form-data; boundary=bar", false),
            ("multipart/form-data;boundary=bar;", false),
            ("multipart/form-data; charset=utf-8; boundary=\"bar\"", true),
            ("Multipart/Form-Data; BOUNDARY=bar ; type=x", false),
        ] {
            let m = parse(body.as_bytes(), ct.as_bytes());
            assert!(m.error.is_none(), "{ct}: {:?}", m.error);
            assert_eq!(
                m.args,
                vec![(b"q".to_vec(), b"' or 1=1--".to_vec())],
                "{ct}"
            );
            assert_eq!(m.flags.boundary_quoted, quoted, "{ct}");
        }
        let mut flags = MultipartFlags::default();
        let ct = b"multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxk";
        assert_eq!(
            boundary(ct, &mut flags).as_deref(),
            Some(&b"----WebKitFormBoundary7MA4YWxk"[..])
        );
        let ct = b"multipart/form-data; boundary=\"a\\\"b=c:d\"";
        assert_eq!(boundary(ct, &mut flags).as_deref(), Some(&b"a\"b=c:d"[..]));
        let mut flags = MultipartFlags::default();
        assert_eq!(
            boundary(b"multipart/form-data; boundary = x", &mut flags).as_deref(),
            Some(&b"x"[..])
        );
        assert!(flags.boundary_whitespace);
    }

    #[test]
    fn only_a_line_that_starts_with_the_delimiter_is_an_unmatched_boundary() {
        let with = |line: &str| {
            let body = format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n{line}\r\nw\r\n--XyZ--\r\n"
            );
            parse(body.as_bytes(), CT).flags.unmatched_boundary
        };
        assert!(with("--XyZjunk"));
        assert!(with("--XyZ--junk"));
        assert!(with("--XyZ x"));
        assert!(!with("--"));
        assert!(!with("--Xy"));
        assert!(!with("-- signature"));
        assert!(!with("---"));
    }

    #[test]
    fn parses_fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\nworld\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.php\"\r\nContent-Type: text/plain\r\n\r\n<?php ?>\r\n--XyZ--\r\n";
        let m = parse(body, CT);
        assert_eq!(m.error, None);
        assert_eq!(m.args, vec![(b"a".to_vec(), b"hello\r\nworld".to_vec())]);
        assert_eq!(
            m.files,
            vec![FilePart {
                name: b"f".to_vec(),
                filename: b"x.php".to_vec(),
                size: 8
            }]
        );
        assert_eq!(m.part_headers.len(), 3);
        assert!(!m.flags.strict_error(), "{:?}", m.flags);
    }

    #[test]
    fn flags_evasions() {
        let body = b"junk\n--XyZ\nContent-Disposition: form-data name='a'\n\nv\n--XyZ--\nafter";
        let m = parse(body, b"multipart/form-data; boundary=\"XyZ\"");
        assert!(m.flags.data_before);
        assert!(m.flags.data_after);
        assert!(m.flags.lf_line);
        assert!(!m.flags.crlf_lf_lines);
        assert!(m.flags.missing_semicolon);
        assert!(m.flags.invalid_quoting);
        assert!(m.flags.boundary_quoted);
        assert!(m.flags.strict_error());
    }

    #[test]
    fn missing_final_boundary_and_boundary_are_errors() {
        assert!(parse(b"--XyZ\r\n\r\n", CT).error.is_some());
        assert!(parse(b"", b"multipart/form-data").error.is_some());
    }
}
