//! A request's header fields as Rampart's HTTP/1 server received them: where
//! each name and value lies in the head's bytes (already checked by httparse),
//! instead of an `http::HeaderMap`.
//!
//! Building the map costs a request more than anything else the proxy does
//! without stages (a hashed insert, a name lookup and a reference-counted slice
//! per field, and as much again to drop it). A request whose API has no stages
//! and whose upstream gets Rampart's own HTTP/1 client never needs the map: the
//! few fields the path reads (`Host`, `X-Request-Id`, `Transfer-Encoding`) are
//! looked up here, and the fields go upstream as the lines they arrived as
//! ([`UpstreamHead::encode_fields`]). Every other request gets its map from
//! [`RawFields::to_map`], as before. docs/request-path.md §5 has the picture.

use std::ops::Range;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::headers::{self, ForwardedPeer};
use crate::problems::GatewayError;

/// One field: the byte ranges of its name and value in the head.
#[derive(Debug, Clone)]
struct Field {
    name: Range<u32>,
    value: Range<u32>,
}

/// A request head's header fields, in the order received.
#[derive(Debug, Clone)]
pub struct RawFields {
    head: Bytes,
    fields: Vec<Field>,
    /// For each [`Known`] name: the index of its first field and how many there
    /// are (saturating), so the request path's lookups of those names do not
    /// scan every field, most of them for a name that is not there.
    known: [(u16, u8); Known::ALL.len()],
}

/// The names the request path looks up in every request (and the server in
/// every head): [`RawFields`] indexes them as it records the fields, and
/// [`FieldsView::known`] finds them without comparing a `HeaderName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    Host,
    XRequestId,
    TransferEncoding,
    Connection,
    XForwardedFor,
    Expect,
}

impl Known {
    /// Every known name, in slot order.
    pub const ALL: [Known; 6] = [
        Known::Host,
        Known::XRequestId,
        Known::TransferEncoding,
        Known::Connection,
        Known::XForwardedFor,
        Known::Expect,
    ];

    /// The slot in [`RawFields`]' index.
    fn slot(self) -> usize {
        self as usize
    }

    /// The name, lower-case.
    pub fn text(self) -> &'static [u8] {
        match self {
            Known::Host => b"host",
            Known::XRequestId => b"x-request-id",
            Known::TransferEncoding => b"transfer-encoding",
            Known::Connection => b"connection",
            Known::XForwardedFor => b"x-forwarded-for",
            Known::Expect => b"expect",
        }
    }

    /// The name as a `HeaderName`.
    pub fn name(self) -> HeaderName {
        match self {
            Known::Host => header::HOST,
            Known::XRequestId => headers::X_REQUEST_ID.clone(),
            Known::TransferEncoding => header::TRANSFER_ENCODING,
            Known::Connection => header::CONNECTION,
            Known::XForwardedFor => headers::X_FORWARDED_FOR.clone(),
            Known::Expect => header::EXPECT,
        }
    }

    /// The known name a field named `name` (any case) has, if any.
    fn of_text(name: &[u8]) -> Option<Known> {
        let known = match name.len() {
            4 => Known::Host,
            12 => Known::XRequestId,
            17 => Known::TransferEncoding,
            10 => Known::Connection,
            15 => Known::XForwardedFor,
            6 => Known::Expect,
            _ => return None,
        };
        // httparse took the name as a token.
        headers::token_is(name, known.text()).then_some(known)
    }

    /// The known name `name` is, if any (compared as a `HeaderName`: a tag
    /// compare for standard names, a few bytes for the others).
    fn of_name(name: &HeaderName) -> Option<Known> {
        Known::ALL.into_iter().find(|known| *name == known.name())
    }
}

impl RawFields {
    /// The fields of a request head that httparse's request parser, with its
    /// default settings, accepted (`headers` are its fields, slices of
    /// `head`). `None` when a field is not a slice of `head` (httparse never
    /// hands out others) or its name is longer than an `http::HeaderName` can
    /// be (64 KiB). With [`FieldPositions::over`], the only way to make
    /// `RawFields`: the unchecked values of [`RawFields::to_map`] rely on it.
    pub(crate) fn from_parsed(head: Bytes, headers: &[httparse::Header<'_>]) -> Option<Self> {
        FieldPositions::record(&head, headers)?.over(head)
    }
}

/// The fields of a head parsed where it was read, before it is split from its
/// read buffer: positions from the buffer's start, which is where the head
/// split off its front starts too. Made into [`RawFields`] by [`Self::over`].
#[derive(Debug)]
pub(crate) struct FieldPositions {
    fields: RawFields,
    /// The address the positions count from (compared, never dereferenced).
    base: usize,
    /// The end of the last field: the head must reach it.
    end: usize,
}

impl FieldPositions {
    /// Records httparse's `headers`, slices of `buffer` (as for
    /// [`RawFields::from_parsed`]).
    pub(crate) fn record(buffer: &[u8], headers: &[httparse::Header<'_>]) -> Option<Self> {
        let base = buffer.as_ptr() as usize;
        let mut fields = RawFields {
            head: Bytes::new(),
            fields: Vec::with_capacity(headers.len()),
            known: [(0, 0); Known::ALL.len()],
        };
        let mut end = 0;
        for header in headers {
            let (name, value) = (header.name.as_bytes(), header.value);
            let name_at = range_in(buffer, name)?;
            let value_at = range_in(buffer, value)?;
            end = end.max(name_at.end as usize).max(value_at.end as usize);
            fields.push(name, name_at, value_at)?;
        }
        Some(Self { fields, base, end })
    }

    /// The fields over `head`: `None` unless `head` starts where the buffer they
    /// were recorded in started and holds every field.
    pub(crate) fn over(self, head: Bytes) -> Option<RawFields> {
        if head.as_ptr() as usize != self.base || head.len() < self.end {
            return None;
        }
        Some(RawFields {
            head,
            ..self.fields
        })
    }
}

/// Where `part` lies in `buffer`, if it is a slice of it (addresses compared,
/// never dereferenced).
pub(crate) fn position_in(buffer: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(buffer.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= buffer.len()).then_some(start..end)
}

/// [`position_in`], as the `u32` range a [`Field`] keeps.
fn range_in(buffer: &[u8], part: &[u8]) -> Option<Range<u32>> {
    let at = position_in(buffer, part)?;
    Some(u32::try_from(at.start).ok()?..u32::try_from(at.end).ok()?)
}

impl RawFields {
    #[inline]
    fn push(&mut self, name: &[u8], name_at: Range<u32>, value_at: Range<u32>) -> Option<()> {
        if name.len() > usize::from(u16::MAX) {
            return None;
        }
        let index = self.fields.len();
        if let Some((first, count)) =
            Known::of_text(name).and_then(|known| self.known.get_mut(known.slot()))
        {
            if *count == 0 {
                // Heads are bounded far below 65,535 fields; past that (never),
                // lookups start from the top.
                *first = u16::try_from(index).unwrap_or(0);
            }
            *count = count.saturating_add(1);
        }
        self.fields.push(Field {
            name: name_at,
            value: value_at,
        });
        Some(())
    }

    fn slice(&self, range: &Range<u32>) -> &[u8] {
        self.head
            .get(range.start as usize..range.end as usize)
            .unwrap_or_default()
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Every field as received: name (any case) and value.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields
            .iter()
            .map(|field| (self.slice(&field.name), self.slice(&field.value)))
    }

    /// The values of the fields named `name`, in order.
    pub fn values<'a>(&'a self, name: &'a HeaderName) -> Values<'a> {
        FieldsView::Raw(self).values(name)
    }

    /// The values of the fields with a known name, in order.
    pub fn known(&self, known: Known) -> Values<'_> {
        FieldsView::Raw(self).known(known)
    }

    /// The fields as an `http::HeaderMap`, with `spare` more slots (for what
    /// the request path adds) so it is not grown per request.
    pub fn to_map(&self, spare: usize) -> Result<HeaderMap, GatewayError> {
        let mut map = HeaderMap::try_with_capacity(self.fields.len() + spare)
            .map_err(|_| GatewayError::HeadersTooLarge)?;
        for field in &self.fields {
            let name = headers::header_name(self.slice(&field.name))
                .map_err(|_| GatewayError::Malformed)?;
            let value = trusted_header_value(
                self.head
                    .slice(field.value.start as usize..field.value.end as usize),
            );
            map.append(name, value);
        }
        Ok(map)
    }

    /// Whether a `Connection` field names a field beyond the hop-by-hop set:
    /// such a field must not be forwarded, which only the map path removes.
    pub fn connection_names_others(&self) -> bool {
        self.known(Known::Connection)
            .flat_map(|value| value.split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            .any(|token| {
                !token.is_empty()
                    && !token.eq_ignore_ascii_case(b"close")
                    && !headers::is_hop_by_hop_name(token)
            })
    }
}

/// A header value httparse accepted, as a `HeaderValue` without checking its
/// bytes a second time (for a 700-byte token that check cost ~650 instructions
/// a request). httparse's request parser with its default settings (no
/// obs-fold, no skipping of invalid fields: what [`RawFields::from_parsed`]
/// takes) accepts in a value only HTAB, space, visible ASCII and bytes
/// 0x80-0xFF, a subset of what `HeaderValue` allows (anything but controls
/// other than HTAB, and DEL). The test `httparse_values_and_names_are_http_ones`
/// checks every byte at every offset httparse's vector code treats apart; in
/// debug builds `http` checks the value again anyway.
#[allow(unsafe_code)]
fn trusted_header_value(value: Bytes) -> HeaderValue {
    // SAFETY: `value` is a header value httparse's request parser accepted
    // (the only source of `RawFields`), whose every byte `HeaderValue`
    // accepts too (see above).
    unsafe { HeaderValue::from_maybe_shared_unchecked(value) }
}

/// Whether a request's raw `fields` can go upstream as lines: what
/// [`UpstreamHead::apply_to_map`] does that lines do not is merging a trusted
/// peer's `X-Forwarded-*`, dropping `Accept-Encoding` and removing fields
/// `Connection` names. The request path decides with this (beside
/// [`crate::runtime::ApiRuntime::forwards_raw_fields`]), and the tests compare
/// the two paths wherever it holds.
pub fn lines_fit(peer_trusted: bool, strip_accept_encoding: bool, fields: &RawFields) -> bool {
    !peer_trusted && !strip_accept_encoding && !fields.connection_names_others()
}

/// Client fields never forwarded as they are, beside the hop-by-hop ones: the
/// framing (ours) and what the gateway sets. Lower-case.
pub const REPLACED_BY_GATEWAY: [&str; 7] = [
    "host",
    "content-length",
    "transfer-encoding",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-request-id",
];

/// Bit `n` is set when a name in [`REPLACED_BY_GATEWAY`], the hop-by-hop set,
/// [`headers::CLIENT_ADDRESS_FIELDS`] or [`headers::URL_OVERRIDE_FIELDS`] is
/// `n` bytes long (all are under 64; the underscore spellings also dropped
/// have the lengths of names here).
const REPLACED_LENGTHS: u64 = headers::length_mask(&REPLACED_BY_GATEWAY)
    | headers::length_mask(&headers::HOP_BY_HOP)
    | headers::length_mask(&headers::CLIENT_ADDRESS_FIELDS)
    | headers::length_mask(&headers::URL_OVERRIDE_FIELDS);

/// What the gateway sets on a request going upstream, beside the client's
/// fields: the same whether the fields go as a map or as lines.
#[derive(Debug, Clone)]
pub struct UpstreamHead<'a> {
    /// The upstream's `Host`; `None`: the client's default authority.
    pub host: Option<&'a HeaderValue>,
    /// Drop `Accept-Encoding` (response stages read bodies).
    pub strip_accept_encoding: bool,
    /// Whether the peer is a trusted proxy (its `X-Forwarded-*` are kept).
    pub peer_trusted: bool,
    /// The peer, for `X-Forwarded-For`.
    pub peer: &'a ForwardedPeer,
    /// `X-Forwarded-Proto`.
    pub proto: &'static str,
    /// The host the client addressed, for `X-Forwarded-Host`.
    pub forwarded_host: &'a str,
    /// The request id sent upstream.
    pub request_id: Option<&'a HeaderValue>,
}

impl UpstreamHead<'_> {
    /// The client's fields made into the upstream request's, in a map:
    /// hop-by-hop ones (and those `Connection` names) removed, framing left to
    /// the client, `Host`, `X-Forwarded-*` and `X-Request-Id` set.
    pub fn apply_to_map(&self, headers: &mut HeaderMap) {
        headers::remove_hop_by_hop(headers);
        match self.host {
            Some(host) => {
                headers.insert(header::HOST, host.clone());
            }
            None => {
                headers.remove(header::HOST);
            }
        }
        // Framing is the body's, not the client's: a stage may have rewritten a
        // buffered body.
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::TRANSFER_ENCODING);
        if self.strip_accept_encoding {
            headers.remove(header::ACCEPT_ENCODING);
        }
        headers::set_forwarded(
            headers,
            self.peer_trusted,
            self.peer,
            self.proto,
            self.forwarded_host,
        );
        if let Some(value) = self.request_id {
            headers.insert(headers::X_REQUEST_ID.clone(), value.clone());
        }
    }

    /// Whether `fields` can go upstream as lines ([`Self::encode_fields`]);
    /// see [`lines_fit`].
    pub fn lines_fit(&self, fields: &RawFields) -> bool {
        lines_fit(self.peer_trusted, self.strip_accept_encoding, fields)
    }

    /// Writes `fields` as header lines, the way [`Self::apply_to_map`] would
    /// leave them (for fields where [`Self::lines_fit`]), then the gateway's
    /// own: `Host` when the upstream has one (else the caller writes its
    /// default), `X-Forwarded-*`, `X-Request-Id`. No framing lines.
    pub(crate) fn encode_fields(&self, out: &mut Vec<u8>, fields: &RawFields) {
        // A field received as exactly `name: value\r\n` is copied as its
        // line, and consecutive such lines as one piece of the head: the bytes
        // are the ones the four pieces of a line would write, in one copy for
        // a run of lines instead of four per line (most clients write every
        // line that way). Written out here rather than through `line` below:
        // the closure cost ~450 instructions a request in this loop.
        let head = &fields.head[..];
        let mut run = 0..0;
        for field in &fields.fields {
            let name = fields.slice(&field.name);
            if self.replaces(name) {
                continue;
            }
            let span = |range: &Range<u32>| range.start as usize..range.end as usize;
            if let Some(line) =
                headers::line_as_received(head, span(&field.name), span(&field.value))
            {
                if run.end != line.start {
                    out.extend_from_slice(head.get(run).unwrap_or_default());
                    run = line.start..line.start;
                }
                run.end = line.end;
                continue;
            }
            out.extend_from_slice(head.get(run).unwrap_or_default());
            run = 0..0;
            out.extend_from_slice(name);
            headers::write_line(out, b": ", fields.slice(&field.value));
        }
        out.extend_from_slice(head.get(run).unwrap_or_default());
        if let Some(host) = self.host {
            headers::write_line(out, b"host: ", host.as_bytes());
        }
        headers::write_line(out, b"x-forwarded-for: ", self.peer.value.as_bytes());
        match self.proto {
            "http" => out.extend_from_slice(b"x-forwarded-proto: http\r\n"),
            "https" => out.extend_from_slice(b"x-forwarded-proto: https\r\n"),
            proto => headers::write_line(out, b"x-forwarded-proto: ", proto.as_bytes()),
        }
        if is_header_value(self.forwarded_host) {
            headers::write_line(out, b"x-forwarded-host: ", self.forwarded_host.as_bytes());
        }
        if let Some(id) = self.request_id {
            headers::write_line(out, b"x-request-id: ", id.as_bytes());
        }
    }

    /// Whether a client field named `name` (any case) is not forwarded as it
    /// is: hop-by-hop, one of [`REPLACED_BY_GATEWAY`] (`X-Request-Id` only
    /// when the gateway sends one), a client-address field or a URL override.
    fn replaces(&self, name: &[u8]) -> bool {
        // Most names have a length none of these has: one test.
        if name.len() >= 64 || REPLACED_LENGTHS & (1 << name.len()) == 0 {
            return false;
        }
        if name.eq_ignore_ascii_case(b"x-request-id") {
            return self.request_id.is_some();
        }
        REPLACED_BY_GATEWAY
            .iter()
            .any(|replaced| name.eq_ignore_ascii_case(replaced.as_bytes()))
            || headers::is_hop_by_hop_name(name)
            // Lines go only for clients that are not trusted proxies.
            || headers::is_client_address_field(name)
            || headers::is_url_override_field(name)
    }
}

/// Whether `value` is a valid header value (no controls but HTAB, no DEL), as
/// `HeaderValue::from_str` checks, without making one.
fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

/// Raw fields on their way upstream, with what the gateway sets beside them.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingFields<'a> {
    /// What the gateway sets.
    pub head: &'a UpstreamHead<'a>,
    /// The client's fields.
    pub raw: &'a RawFields,
}

impl<'a> OutgoingFields<'a> {
    /// `raw`, to go upstream as `head` says.
    pub fn new(head: &'a UpstreamHead<'a>, raw: &'a RawFields) -> Self {
        Self { head, raw }
    }

    /// The upstream request's fields as a map, for a client that sends maps
    /// (hyper's, HTTP/2): what the map path would have made.
    pub fn to_map(self) -> Result<HeaderMap, GatewayError> {
        let mut map = self.raw.to_map(6)?;
        self.head.apply_to_map(&mut map);
        Ok(map)
    }
}

/// A request's fields wherever they are: in a map, or still raw.
#[derive(Debug, Clone, Copy)]
pub enum FieldsView<'a> {
    /// An `http::HeaderMap` (hyper's requests, or raw fields made into one).
    Map(&'a HeaderMap),
    /// Raw fields from Rampart's HTTP/1 server.
    Raw(&'a RawFields),
}

impl<'a> FieldsView<'a> {
    /// The number of fields (a map counts every value, as `HeaderMap::len`).
    pub fn len(self) -> usize {
        match self {
            Self::Map(map) => map.len(),
            Self::Raw(raw) => raw.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The values of the fields named `name`, in order.
    pub fn values(self, name: &'a HeaderName) -> Values<'a> {
        match self {
            Self::Map(map) => Values::Map(map.get_all(name).iter()),
            Self::Raw(raw) => match Known::of_name(name) {
                Some(known) => self.known(known),
                // Any other name is searched for.
                None => Values::Raw {
                    fields: raw,
                    name: name.as_str().as_bytes(),
                    next: 0,
                    remaining: usize::MAX,
                },
            },
        }
    }

    /// The values of the fields with a known name, in order.
    pub fn known(self, known: Known) -> Values<'a> {
        match self {
            Self::Map(map) => Values::Map(map.get_all(known.name()).iter()),
            Self::Raw(raw) => {
                // Starts at its first field and stops after its count (unless
                // that saturated).
                let (next, remaining) = match raw.known.get(known.slot()) {
                    Some(&(first, count)) if count < u8::MAX => {
                        (usize::from(first), usize::from(count))
                    }
                    Some(&(first, _)) => (usize::from(first), usize::MAX),
                    None => (0, usize::MAX),
                };
                Values::Raw {
                    fields: raw,
                    name: known.text(),
                    next,
                    remaining,
                }
            }
        }
    }

    /// The first value of the fields named `name`.
    pub fn first(self, name: &'a HeaderName) -> Option<&'a [u8]> {
        self.values(name).next()
    }

    /// The first value of the fields with a known name.
    pub fn first_known(self, known: Known) -> Option<&'a [u8]> {
        self.known(known).next()
    }
}

/// The values of one field name, from a [`FieldsView`].
#[derive(Debug)]
pub enum Values<'a> {
    /// From a map.
    Map(http::header::ValueIter<'a, HeaderValue>),
    /// From raw fields: `next` is the index of the next field to look at.
    Raw {
        /// The fields.
        fields: &'a RawFields,
        /// The name wanted, lower-case.
        name: &'a [u8],
        /// The next field to look at.
        next: usize,
        /// Values still to come, at most.
        remaining: usize,
    },
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Self::Map(values) => values.next().map(HeaderValue::as_bytes),
            Self::Raw {
                fields,
                name,
                next,
                remaining,
            } => {
                if *remaining == 0 {
                    return None;
                }
                while let Some(field) = fields.fields.get(*next) {
                    *next += 1;
                    if fields.slice(&field.name).eq_ignore_ascii_case(name) {
                        *remaining -= 1;
                        return Some(fields.slice(&field.value));
                    }
                }
                *remaining = 0;
                None
            }
        }
    }
}

/// The fields of a request head (ending in the blank line) as Rampart's
/// HTTP/1 server records them; `None` when httparse refuses the head. For
/// tests and the fuzz target.
#[doc(hidden)]
pub fn fields_of_head(head: &[u8]) -> Option<RawFields> {
    let head = Bytes::copy_from_slice(head);
    let mut slots = [httparse::EMPTY_HEADER; 512];
    let mut request = httparse::Request::new(&mut slots);
    // As the server: the head must end where httparse says it does (a bare
    // LF ends it early there, and the server refuses such a head).
    match request.parse(&head) {
        Ok(httparse::Status::Complete(end)) if end == head.len() => {}
        _ => return None,
    }
    RawFields::from_parsed(head.clone(), request.headers)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// `trusted_header_value` skips `HeaderValue`'s check because httparse's
    /// is stricter: every byte, at the start, middle and end of a value,
    /// either makes httparse refuse the head or is one `HeaderValue` accepts;
    /// and every name httparse accepts is a `HeaderName`.
    #[test]
    fn httparse_values_and_names_are_http_ones() {
        let mut accepted = 0;
        for byte in 0..=255u8 {
            // Short values take httparse's byte-wise code; in a long one, the
            // byte lands at the edges of its 8-, 16- and 32-byte blocks.
            let mut values = vec![vec![byte, b'a'], vec![b'a', byte, b'a'], vec![b'a', byte]];
            for offset in [0, 7, 8, 15, 16, 31, 32, 47, 63] {
                let mut long = vec![b'v'; 64];
                long[offset] = byte;
                values.push(long);
            }
            for value in values {
                let mut head = b"GET / HTTP/1.1\r\nx-probe: ".to_vec();
                head.extend_from_slice(&value);
                head.extend_from_slice(b"\r\n\r\n");
                if let Some(fields) = fields_of_head(&head) {
                    let (_, parsed) = fields.iter().next().unwrap();
                    assert!(
                        HeaderValue::from_bytes(parsed).is_ok(),
                        "httparse accepted byte {byte:#04x} that HeaderValue refuses"
                    );
                    let map = fields.to_map(0).unwrap();
                    assert_eq!(map["x-probe"].as_bytes(), parsed);
                    accepted += 1;
                }
            }
            for name in [vec![byte], vec![b'x', byte], vec![byte, b'x']] {
                let mut head = b"GET / HTTP/1.1\r\n".to_vec();
                head.extend_from_slice(&name);
                head.extend_from_slice(b": v\r\n\r\n");
                if let Some(fields) = fields_of_head(&head) {
                    let (parsed, _) = fields.iter().next().unwrap();
                    assert!(
                        HeaderName::from_bytes(parsed).is_ok(),
                        "httparse accepted name byte {byte:#04x} that HeaderName refuses"
                    );
                    assert!(fields.to_map(0).is_ok());
                }
            }
        }
        // Visible ASCII, HTAB and space inside, obs-text: most bytes pass.
        assert!(accepted > 2000, "{accepted}");
    }

    #[test]
    fn raw_and_map_views_give_the_same_values() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2, 3.3.3.3\r\nTRANSFER-ENCODING: chunked\r\nX-Request-Id: abc\r\n\r\n";
        let raw = fields_of_head(head).unwrap();
        let map = raw.to_map(0).unwrap();
        for view in [FieldsView::Raw(&raw), FieldsView::Map(&map)] {
            assert_eq!(view.len(), 5);
            assert_eq!(view.first(&header::HOST), Some(&b"a"[..]));
            let forwarded: Vec<&[u8]> = view.values(&headers::X_FORWARDED_FOR).collect();
            assert_eq!(forwarded, [&b"1.1.1.1"[..], b"2.2.2.2, 3.3.3.3"]);
            assert_eq!(
                view.first(&header::TRANSFER_ENCODING),
                Some(&b"chunked"[..])
            );
            assert_eq!(view.first(&headers::X_REQUEST_ID), Some(&b"abc"[..]));
            assert_eq!(view.first(&header::COOKIE), None);
        }
    }

    /// The looked-up names keep a count that saturates: past it, every value
    /// is still found; names in any case and any position count.
    #[test]
    fn known_names_are_found_however_many_and_wherever() {
        let mut head = b"GET / HTTP/1.1\r\nX-A: 1\r\n".to_vec();
        for i in 0..300 {
            let name = if i % 2 == 0 {
                "X-Forwarded-For"
            } else {
                "x-FORWARDED-for"
            };
            head.extend_from_slice(format!("{name}: 10.0.0.{}\r\n", i % 250).as_bytes());
        }
        head.extend_from_slice(b"hOsT: late\r\n\r\n");
        let raw = fields_of_head(&head).unwrap();
        let map = raw.to_map(0).unwrap();
        for view in [FieldsView::Raw(&raw), FieldsView::Map(&map)] {
            assert_eq!(view.values(&headers::X_FORWARDED_FOR).count(), 300);
            assert_eq!(view.values(&header::HOST).collect::<Vec<_>>(), [b"late"]);
            assert_eq!(view.first(&headers::X_REQUEST_ID), None);
            assert_eq!(view.first(&header::CONNECTION), None);
        }
        let custom = HeaderName::from_static("x-a");
        assert_eq!(raw.values(&custom).collect::<Vec<_>>(), [b"1"]);
    }

    #[test]
    fn known_names_agree_by_text_and_by_name() {
        for (slot, known) in Known::ALL.into_iter().enumerate() {
            assert_eq!(known.slot(), slot);
            let text = known.text();
            assert_eq!(Known::of_text(text), Some(known));
            assert_eq!(Known::of_text(&text.to_ascii_uppercase()), Some(known));
            let name = HeaderName::from_bytes(text).unwrap();
            assert_eq!(name, known.name());
            assert_eq!(Known::of_name(&name), Some(known), "{name}");
        }
        assert_eq!(Known::of_text(b"hosts"), None);
        assert_eq!(Known::of_text(b"x-request-ix"), None);
        assert_eq!(Known::of_name(&header::COOKIE), None);
        assert_eq!(
            Known::of_name(&HeaderName::from_static("x-forwarded-fox")),
            None
        );
    }

    #[test]
    fn connection_naming_a_field_beyond_the_hop_by_hop_set_is_seen() {
        let names = |value: &str| {
            let head = format!("GET / HTTP/1.1\r\nConnection: {value}\r\n\r\n");
            fields_of_head(head.as_bytes())
                .unwrap()
                .connection_names_others()
        };
        assert!(!names("close"));
        assert!(!names("keep-alive"));
        assert!(!names("Keep-Alive, TE, Upgrade"));
        assert!(!names(" , close ,"));
        assert!(names("x-secret"));
        assert!(names("close, Authorization"));
        assert!(names("keep-alive, x-forwarded-for"));
    }
}
