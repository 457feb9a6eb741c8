//! Upstream response heads (sans I/O): one strict parse of the status line and
//! headers straight into `http` types, and the body framing they declare
//! (RFC 9112 §6.3).
//!
//! The upstream is not trusted to frame its responses sanely: anything whose
//! length is ambiguous (Content-Length with Transfer-Encoding, two
//! Content-Lengths, a coding other than `chunked`, a length that is not plain
//! digits) is refused rather than guessed at, so a hostile upstream cannot make
//! the gateway and its client disagree on where a response ends.

use http::header::{self, HeaderMap, HeaderValue};
use http::{StatusCode, Version};

/// Largest response head (status line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most response headers accepted.
pub const MAX_HEADERS: usize = 100;
/// Most interim (1xx) responses skipped before the final one.
pub const MAX_INTERIM: usize = 16;

/// Why an upstream response head was refused. Each makes the exchange a 502.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The status line or a header line is malformed (httparse refused it).
    #[error("malformed response head")]
    Malformed,
    /// A line ended in a bare LF instead of CRLF.
    #[error("response head line not ended by CRLF")]
    BareLf,
    /// The head is longer than [`MAX_HEAD_BYTES`].
    #[error("response head too large")]
    TooLarge,
    /// More than [`MAX_HEADERS`] headers.
    #[error("too many response headers")]
    TooManyHeaders,
    /// A protocol version other than HTTP/1.0 or HTTP/1.1.
    #[error("unsupported response version")]
    Version,
    /// A status code outside 100-999.
    #[error("invalid status code")]
    Status,
    /// A header name or value that `http` refuses.
    #[error("invalid response header")]
    Header,
    /// Content-Length is not a plain decimal number that fits in 63 bits.
    #[error("invalid Content-Length")]
    Length,
    /// More than one Content-Length header.
    #[error("several Content-Length headers")]
    DuplicateLength,
    /// Transfer-Encoding together with Content-Length.
    #[error("Content-Length with Transfer-Encoding")]
    LengthAndEncoding,
    /// A transfer coding other than exactly `chunked`, or one in HTTP/1.0.
    #[error("unsupported transfer coding")]
    Encoding,
    /// 101 Switching Protocols (upgrades are not proxied).
    #[error("upgrade refused")]
    Upgrade,
    /// More than [`MAX_INTERIM`] 1xx responses.
    #[error("too many interim responses")]
    TooManyInterim,
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304, or Content-Length: 0).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Read until the upstream closes (the connection is then not reused).
    Close,
}

/// How [`parse_shared`] returns a final head's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadersAs {
    /// All of them in the head's `HeaderMap`: for response stages, and for
    /// servers (hyper) that write the response from the map.
    Map,
    /// As [`RawHeaders`] lines for Rampart's own HTTP/1 server to copy to the
    /// client, when no stage looks at the response: each header is checked
    /// and copied, not made into a `HeaderName`, a `HeaderValue` and a map
    /// entry, only for the server to turn back into the same bytes. Falls
    /// back to the map when a `Connection` header names other headers.
    Lines,
}

/// Upstream response headers ready to be written to an HTTP/1 client:
/// `name: value\r\n` lines, names lower-cased as the map would give them,
/// already without everything the proxy removes from a response (framing,
/// hop-by-hop headers, `Server`, `X-Powered-By`). The headers the gateway may
/// set on a response itself (`X-Request-Id`, `Strict-Transport-Security`)
/// are in the head's map instead, so that setting one replaces the
/// upstream's. Handed over with the response's body
/// ([`crate::pool::PooledBody::take_raw_headers`]).
#[derive(Debug, Clone)]
pub struct RawHeaders {
    /// The header lines. A `Vec`, not `Bytes`: they are only ever read as
    /// a slice, and `Bytes` made from a `Vec` with spare capacity (these
    /// lines always have some: the head's length was reserved) allocated a
    /// shared header for it, once per response.
    pub lines: Vec<u8>,
    /// The upstream's Content-Length: written only where no body states the
    /// length (a response to HEAD, a 304).
    pub content_length: Option<u64>,
    /// Whether a `Date` line is among them.
    pub has_date: bool,
}

/// The line `name: value` CRLF of `head` that `name` and `value` (slices of
/// it) came from, when it is exactly that form
/// ([`crate::headers::line_as_received`]).
fn whole_line<'a>(head: &'a [u8], name: &[u8], value: &[u8]) -> Option<&'a [u8]> {
    let offset = |part: &[u8]| (part.as_ptr() as usize).checked_sub(head.as_ptr() as usize);
    let (name_at, value_at) = (offset(name)?, offset(value)?);
    let line = crate::headers::line_as_received(
        head,
        name_at..name_at + name.len(),
        value_at..value_at + value.len(),
    )?;
    head.get(line)
}

/// A final response head.
#[derive(Debug)]
pub struct Head {
    /// Status code.
    pub status: StatusCode,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// Headers, without Transfer-Encoding (decoded here) and without a
    /// Connection header that only says `keep-alive` / `close`. With
    /// [`HeadersAs::Lines`], only those [`RawHeaders`] leaves to the map.
    pub headers: HeaderMap,
    /// The headers as lines ([`HeadersAs::Lines`]).
    pub raw: Option<RawHeaders>,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the connection may carry another request after this response.
    pub keep_alive: bool,
    /// How long the upstream keeps the connection open while idle, when it
    /// says so (`Keep-Alive: timeout=N`).
    pub keep_alive_timeout: Option<std::time::Duration>,
}

/// What [`parse`] found at the front of the buffer.
#[derive(Debug)]
pub enum Parsed {
    /// The head is not complete yet: read more.
    Partial,
    /// An interim (1xx other than 101) response of this many bytes: skip it.
    Interim(usize),
    /// The final head, of this many bytes.
    Final(usize, Head),
}

#[cfg(test)]
thread_local! {
    /// How often [`parse`] ran on this thread (tests count re-parsing).
    pub(crate) static PARSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Parses the response head at the front of `buf`. `head_request` says the
/// request was HEAD (no body whatever the headers say).
pub fn parse(buf: &[u8], head_request: bool) -> Result<Parsed, ResponseError> {
    parse_shared(
        &bytes::Bytes::copy_from_slice(buf),
        head_request,
        HeadersAs::Map,
    )
}

/// [`parse`] for a head held in `Bytes` (the head alone, as split off the read
/// buffer): header values are slices of it instead of copies. The exchange's
/// path; [`parse`] (tests, fuzzing) copies its input and comes here too.
pub fn parse_shared(
    shared: &bytes::Bytes,
    head_request: bool,
    wanted: HeadersAs,
) -> Result<Parsed, ResponseError> {
    parse_with(shared, head_request, wanted, |value| {
        HeaderValue::from_maybe_shared(shared.slice_ref(value)).ok()
    })
}

/// The head at the front of `read` (the connection's read buffer, head and
/// whatever followed it), parsed into lines where it lies, when the parse ends
/// it in CRLF CRLF: the exchange then takes it without first searching for its
/// end. That is the end the search would find: httparse ends a head at its
/// first empty line (after skipping leading CRLFs and LFs, which the search
/// skips too; a lone CR there is refused and left to the search), and in
/// what it accepts a CR stands only before an LF, so no CRLF CRLF comes
/// earlier. (`has_bare_lf` already refuses a head not ended so; the check here
/// does not lean on it.) A partial or refused head gives `None`: the search
/// and the parse of what it finds decide (the same way as without this look).
/// The few header values kept in a map on the lines path are copied here
/// (there is no shared head to slice yet).
pub fn parse_first_look(read: &[u8], head_request: bool) -> Option<(usize, Parsed)> {
    let parsed = parse_with(read, head_request, HeadersAs::Lines, |value| {
        HeaderValue::from_bytes(value).ok()
    })
    .ok()?;
    let len = match &parsed {
        Parsed::Interim(len) | Parsed::Final(len, _) => *len,
        Parsed::Partial => return None,
    };
    read.get(..len)?
        .ends_with(b"\r\n\r\n")
        .then_some((len, parsed))
}

/// [`parse_shared`] over `buf`, with `value_of` making the header values that
/// go into the map (slices of a shared head, or copies).
fn parse_with(
    buf: &[u8],
    head_request: bool,
    wanted: HeadersAs,
    value_of: impl Fn(&[u8]) -> Option<HeaderValue> + Copy,
) -> Result<Parsed, ResponseError> {
    #[cfg(test)]
    PARSES.with(|n| n.set(n.get() + 1));
    // Uninitialised slots: filling 100 empty headers cost more than parsing
    // the usual handful.
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    // The default settings, on purpose: `has_bare_lf` relies on them (no
    // obs-fold, no skipped invalid lines, no space before the first name, so
    // every line but the last two ends right before a field name).
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut slots,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_HEAD_BYTES {
                return Err(ResponseError::TooLarge);
            }
            return Ok(Parsed::Partial);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(ResponseError::TooManyHeaders),
        Err(_) => return Err(ResponseError::Malformed),
    };
    if len > MAX_HEAD_BYTES {
        return Err(ResponseError::TooLarge);
    }
    // httparse takes a bare LF as a line end; an upstream must use CRLF.
    if has_bare_lf(buf.get(..len).unwrap_or_default(), response.headers) {
        return Err(ResponseError::BareLf);
    }
    let version = match response.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(ResponseError::Version),
    };
    let code = response.code.ok_or(ResponseError::Malformed)?;
    let status = StatusCode::from_u16(code).map_err(|_| ResponseError::Status)?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(ResponseError::Upgrade);
    }
    if status.is_informational() {
        return Ok(Parsed::Interim(len));
    }

    let as_lines = wanted == HeadersAs::Lines;
    // On the lines path the map nearly always stays empty: no allocation
    // then. Otherwise room for what the gateway adds on the way out
    // (X-Request-Id, HSTS, `Connection: close`): the map is not grown and
    // rehashed per response.
    let mut headers = if as_lines {
        HeaderMap::new()
    } else {
        HeaderMap::with_capacity(response.headers.len() + 3)
    };
    let mut lines = Vec::with_capacity(if as_lines { len } else { 0 });
    let mut has_date = false;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut encoded = false;
    let mut close = version == Version::HTTP_10;
    let mut keep_alive_timeout = None;
    for slot in response.headers.iter() {
        let raw_name = slot.name.as_bytes();
        let value = slot.value;
        // Every name is classified here, where each is looked at anyway: a
        // map lookup per response would cost more than the parse.
        match field_kind(raw_name) {
            FieldKind::ContentLength => {
                if length.is_some() {
                    return Err(ResponseError::DuplicateLength);
                }
                length = Some(parse_length(value)?);
                // Kept aside, not copied, on the lines path.
                if as_lines {
                    continue;
                }
            }
            FieldKind::TransferEncoding => {
                // Codings accumulate over lines; only one `chunked`, last, alone.
                for coding in value.split(|&b| b == b',') {
                    let coding = coding.trim_ascii();
                    if chunked || !coding.eq_ignore_ascii_case(b"chunked") {
                        return Err(ResponseError::Encoding);
                    }
                    chunked = true;
                }
                encoded = true;
                continue;
            }
            FieldKind::Connection => {
                let mut other = false;
                for token in value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if !token.eq_ignore_ascii_case(b"keep-alive") {
                        other = true;
                    }
                }
                // A Connection header naming other headers stays for the proxy
                // to strip them; the usual keep-alive / close tells nothing more.
                if !other {
                    continue;
                }
                // The lines would have to lose the headers it names: the map's
                // path does that.
                if as_lines {
                    return parse_with(buf, head_request, HeadersAs::Map, value_of);
                }
            }
            FieldKind::KeepAlive => {
                keep_alive_timeout = keep_alive_timeout.or(announced_timeout(value));
                // Hop-by-hop: never a line (the map's path removes it later).
                if as_lines {
                    continue;
                }
            }
            kind @ (FieldKind::Copied | FieldKind::Date) if as_lines => {
                has_date |= kind == FieldKind::Date;
                // httparse took the name as a token and the value as visible
                // text, tabs and spaces: exactly what a `HeaderName` and a
                // `HeaderValue` accept.
                let start = lines.len();
                match whole_line(buf, raw_name, value) {
                    // As received (most lines): one copy, not four.
                    Some(line) => lines.extend_from_slice(line),
                    None => {
                        lines.extend_from_slice(raw_name);
                        lines.extend_from_slice(b": ");
                        lines.extend_from_slice(value);
                        lines.extend_from_slice(b"\r\n");
                    }
                }
                if let Some(name) = lines.get_mut(start..start + raw_name.len()) {
                    name.make_ascii_lowercase();
                }
                continue;
            }
            FieldKind::Dropped if as_lines => continue,
            FieldKind::Copied | FieldKind::Date | FieldKind::Dropped | FieldKind::Map => {}
        }
        let name = crate::headers::header_name(raw_name).map_err(|_| ResponseError::Header)?;
        let value = value_of(value).ok_or(ResponseError::Header)?;
        headers.append(name, value);
    }
    if encoded {
        if length.is_some() {
            return Err(ResponseError::LengthAndEncoding);
        }
        if version == Version::HTTP_10 || !chunked {
            return Err(ResponseError::Encoding);
        }
    }
    let no_body =
        head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let framing = if no_body {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else {
        match length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }
    };
    if framing == Framing::Close {
        close = true;
    }
    // A 204 announcing a body may send one anyway: the bytes after it would
    // be read as the next response, so the connection ends here.
    if status == StatusCode::NO_CONTENT && (encoded || length.is_some_and(|n| n != 0)) {
        close = true;
    }
    Ok(Parsed::Final(
        len,
        Head {
            status,
            version,
            headers,
            // (`lines` is empty and unallocated on the map path.)
            raw: as_lines.then_some(RawHeaders {
                lines,
                content_length: length,
                has_date,
            }),
            framing,
            keep_alive: !close,
            keep_alive_timeout,
        },
    ))
}

/// What a response header is to the parser: read for the framing and the
/// connection, or, when the head is parsed into lines, where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    /// `Content-Length`: read for the framing, then kept aside (lines) or in
    /// the map.
    ContentLength,
    /// `Transfer-Encoding`: read for the framing, never passed on.
    TransferEncoding,
    /// `Connection`: read; passed on (map only) when it names other headers.
    Connection,
    /// `Keep-Alive`: its timeout read; hop-by-hop.
    KeepAlive,
    /// Copied into the lines.
    Copied,
    /// `Date`: copied, and noted (the server adds one when it is missing).
    Date,
    /// Into the map: a header the gateway may set on the response itself.
    Map,
    /// Never sent to the client: hop-by-hop, or revealing the upstream's
    /// software ([`crate::headers::removed_from_responses`]).
    Dropped,
}

/// The [`FieldKind`] of a header name (any case). By length first: most
/// names are then told apart by at most one comparison.
fn field_kind(name: &[u8]) -> FieldKind {
    // httparse took the name as a token.
    let is = |lower: &[u8]| crate::headers::token_is(name, lower);
    let kind = match name.len() {
        4 if is(b"date") => Some(FieldKind::Date),
        6 if is(b"server") => Some(FieldKind::Dropped),
        10 if is(b"connection") => Some(FieldKind::Connection),
        10 if is(b"keep-alive") => Some(FieldKind::KeepAlive),
        12 if is(b"content-type") => Some(FieldKind::Copied),
        12 if is(b"x-request-id") => Some(FieldKind::Map),
        14 if is(b"content-length") => Some(FieldKind::ContentLength),
        17 if is(b"transfer-encoding") => Some(FieldKind::TransferEncoding),
        25 if is(b"strict-transport-security") => Some(FieldKind::Map),
        _ => None,
    };
    match kind {
        Some(kind) => kind,
        None if crate::headers::removed_from_responses(name) => FieldKind::Dropped,
        None => FieldKind::Copied,
    }
}

/// Whether a head httparse accepted (with these fields) has a line ended by a
/// bare LF. httparse starts each field name at the start of a line, so every
/// line but the last two ends right before a name, and those two (the last
/// field's or the status line, and the blank line) end the head: looking at
/// the two bytes before each name and the head's last four is enough, no
/// search. Empty lines before the status line (httparse skips them) take the
/// search.
fn has_bare_lf(head: &[u8], fields: &[httparse::Header<'_>]) -> bool {
    if !head.starts_with(b"HTTP/") {
        return memchr::memchr_iter(b'\n', head)
            .any(|lf| lf == 0 || head.get(lf - 1) != Some(&b'\r'));
    }
    let base = head.as_ptr().addr();
    !head.ends_with(b"\r\n\r\n")
        || fields.iter().any(|field| {
            let at = field.name.as_ptr().addr().wrapping_sub(base);
            at < 2 || head.get(at - 2..at) != Some(b"\r\n".as_slice())
        })
}

/// Longest announced keep-alive timeout taken (bounds the parse).
const MAX_KEEP_ALIVE_SECS: u64 = 24 * 3600;

/// The `timeout=` of a `Keep-Alive` header value (`timeout=5, max=100`, as
/// Apache and Node.js send). Anything unparsable is ignored.
pub fn announced_timeout(value: &[u8]) -> Option<std::time::Duration> {
    value.split(|&b| b == b',').find_map(|param| {
        let eq = param.iter().position(|&b| b == b'=')?;
        let (name, secs) = (param.get(..eq)?, param.get(eq + 1..)?);
        if !name.trim_ascii().eq_ignore_ascii_case(b"timeout") {
            return None;
        }
        let secs = secs.trim_ascii();
        let secs = secs
            .strip_prefix(b"\"")
            .and_then(|s| s.strip_suffix(b"\""))
            .unwrap_or(secs);
        if secs.is_empty() || secs.len() > 6 || !secs.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let secs = secs.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        Some(std::time::Duration::from_secs(
            secs.min(MAX_KEEP_ALIVE_SECS),
        ))
    })
}

/// A Content-Length value: 1 to 18 ASCII digits (below 2^63), nothing else.
fn parse_length(value: &[u8]) -> Result<u64, ResponseError> {
    if value.is_empty() || value.len() > 18 {
        return Err(ResponseError::Length);
    }
    let mut n: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return Err(ResponseError::Length);
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Ok(n)
}

/// The headers a head gives the client, `(name, value)` sorted by name
/// (values of one name in their order), framing headers aside: from the map
/// after the proxy's cleaning, or from the lines (parsed back) and what they
/// left in the map. `None` when the lines do not parse back. For tests and
/// fuzzing: the two ways of parsing a head must give the same.
#[doc(hidden)]
pub fn client_headers(head: &Head) -> Option<Vec<(String, Vec<u8>)>> {
    let mut seen: Vec<(String, Vec<u8>)> = Vec::new();
    let mut map = head.headers.clone();
    match &head.raw {
        None => {
            crate::headers::clean_response(&mut map);
            map.remove(header::CONTENT_LENGTH);
        }
        Some(raw) => {
            let mut text = raw.lines.to_vec();
            text.extend_from_slice(b"\r\n");
            let mut slots = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
            let Ok(httparse::Status::Complete((len, parsed))) =
                httparse::parse_headers(&text, &mut slots)
            else {
                return None;
            };
            if len != text.len() {
                return None;
            }
            for line in parsed {
                if line.name != line.name.to_ascii_lowercase() {
                    return None;
                }
                seen.push((line.name.to_string(), line.value.to_vec()));
            }
            if raw.has_date != seen.iter().any(|(name, _)| name == "date") {
                return None;
            }
        }
    }
    for (name, value) in &map {
        seen.push((name.as_str().to_string(), value.as_bytes().to_vec()));
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    Some(seen)
}

/// Fuzzing entry point: whether parsing `input` into a map and into lines
/// agree: both refuse it alike, or both accept it with the same framing,
/// the same headers for the client and the same Content-Length.
#[doc(hidden)]
pub fn fuzz_lines_agree(input: &[u8], head_request: bool) -> bool {
    let shared = bytes::Bytes::copy_from_slice(input);
    let mapped = parse_shared(&shared, head_request, HeadersAs::Map);
    let lined = parse_shared(&shared, head_request, HeadersAs::Lines);
    match (mapped, lined) {
        (Err(a), Err(b)) => a == b,
        (Ok(Parsed::Partial), Ok(Parsed::Partial)) => true,
        (Ok(Parsed::Interim(a)), Ok(Parsed::Interim(b))) => a == b,
        (Ok(Parsed::Final(a_len, a)), Ok(Parsed::Final(b_len, b))) => {
            let stated = a
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse::<u64>().ok());
            a_len == b_len
                && a.framing == b.framing
                && a.keep_alive == b.keep_alive
                && a.keep_alive_timeout == b.keep_alive_timeout
                && b.raw
                    .as_ref()
                    .is_none_or(|raw| raw.content_length == stated)
                && client_headers(&a).is_some()
                && client_headers(&a) == client_headers(&b)
        }
        _ => false,
    }
}

/// Fuzzing entry point: whether [`parse_first_look`] agrees with the search
/// for the head's end and the parse of what it finds: `None` when the first
/// look left `input` to the search, else whether both took a head of the same
/// length and kind, with the same status, headers, lines and framing.
#[doc(hidden)]
pub fn fuzz_first_look_agrees(input: &[u8], head_request: bool) -> Option<bool> {
    let (len, first) = parse_first_look(input, head_request)?;
    let Some(end) = crate::h1guard::find_head_end(input, 0) else {
        return Some(false);
    };
    let head = bytes::Bytes::copy_from_slice(input.get(..end).unwrap_or_default());
    let Ok(searched) = parse_shared(&head, head_request, HeadersAs::Lines) else {
        return Some(false);
    };
    Some(match (first, searched) {
        (Parsed::Interim(a), Parsed::Interim(b)) => a == len && b == end && a == b,
        (Parsed::Final(a_len, a), Parsed::Final(b_len, b)) => {
            let raw = |head: &Head| {
                head.raw
                    .as_ref()
                    .map(|raw| (raw.lines.clone(), raw.content_length, raw.has_date))
            };
            a_len == len
                && b_len == end
                && a_len == b_len
                && a.status == b.status
                && a.version == b.version
                && a.headers == b.headers
                && raw(&a) == raw(&b)
                && a.framing == b.framing
                && a.keep_alive == b.keep_alive
                && a.keep_alive_timeout == b.keep_alive_timeout
        }
        _ => false,
    })
}

/// Fuzzing entry point: parses `input` as a response head (after any interim
/// heads), then decodes the body it frames from the rest, fed in pieces of
/// `step` bytes. Returns the body bytes when the response was whole.
#[doc(hidden)]
pub fn fuzz_response(input: &[u8], step: usize, head_request: bool) -> Option<Vec<u8>> {
    use crate::h1server::decode::{Decoded, Decoder};
    let mut at = 0usize;
    let head = loop {
        match parse(input.get(at..)?, head_request).ok()? {
            Parsed::Partial => return None,
            Parsed::Interim(len) => at += len,
            Parsed::Final(len, head) => {
                at += len;
                break head;
            }
        }
    };
    let rest = input.get(at..)?;
    let mut decoder = match head.framing {
        Framing::Empty => return Some(Vec::new()),
        Framing::Close => return Some(rest.to_vec()),
        Framing::Length(n) => Decoder::length(n),
        Framing::Chunked => Decoder::chunked(),
    };
    let mut buf = bytes::BytesMut::new();
    let mut out = Vec::new();
    for piece in rest.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf, 8192).ok()? {
                Decoded::Data(data) => out.extend_from_slice(&data),
                Decoded::NeedMore => break,
                Decoded::Done => return Some(out),
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
