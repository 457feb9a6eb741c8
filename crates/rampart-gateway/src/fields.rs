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
}

impl RawFields {
    /// Fields of `head`, room made for `capacity`.
    pub(crate) fn with_capacity(head: Bytes, capacity: usize) -> Self {
        Self {
            head,
            fields: Vec::with_capacity(capacity),
        }
    }

    /// Adds a field whose name and value are slices of the head. Slices from
    /// anywhere else are ignored (httparse hands out only the head's).
    pub(crate) fn push(&mut self, name: &[u8], value: &[u8]) {
        if let (Some(name), Some(value)) = (self.range_of(name), self.range_of(value)) {
            self.fields.push(Field { name, value });
        }
    }

    fn range_of(&self, part: &[u8]) -> Option<Range<u32>> {
        let start = (part.as_ptr() as usize).checked_sub(self.head.as_ptr() as usize)?;
        let end = start.checked_add(part.len())?;
        (end <= self.head.len()).then_some(u32::try_from(start).ok()?..u32::try_from(end).ok()?)
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
        self.values(&header::CONNECTION)
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
/// a request). httparse's request parser accepts in a value only HTAB, visible
/// ASCII, space and bytes 0x80-0xFF, a subset of what `HeaderValue` allows
/// (anything but controls other than HTAB, and DEL): the test
/// `httparse_values_are_header_values` checks every byte.
#[allow(unsafe_code)]
fn trusted_header_value(value: Bytes) -> HeaderValue {
    // SAFETY: `value` is a header value httparse's request parser accepted,
    // whose every byte `HeaderValue` accepts too (see above).
    unsafe { HeaderValue::from_maybe_shared_unchecked(value) }
}

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

    /// Whether `fields` can go upstream as lines ([`Self::encode_fields`]):
    /// what [`Self::apply_to_map`] does that lines cannot is merging a trusted
    /// peer's `X-Forwarded-For` and removing fields `Connection` names.
    pub fn lines_fit(&self, fields: &RawFields) -> bool {
        !self.peer_trusted && !self.strip_accept_encoding && !fields.connection_names_others()
    }

    /// Writes `fields` as header lines, the way [`Self::apply_to_map`] would
    /// leave them (for fields where [`Self::lines_fit`]), then the gateway's
    /// own: `Host` when the upstream has one (else the caller writes its
    /// default), `X-Forwarded-*`, `X-Request-Id`. No framing lines.
    pub(crate) fn encode_fields(&self, out: &mut Vec<u8>, fields: &RawFields) {
        for (name, value) in fields.iter() {
            if self.replaces(name) {
                continue;
            }
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        let mut line = |name: &[u8], value: &[u8]| {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        };
        if let Some(host) = self.host {
            line(b"host", host.as_bytes());
        }
        line(b"x-forwarded-for", self.peer.value.as_bytes());
        line(b"x-forwarded-proto", self.proto.as_bytes());
        if is_header_value(self.forwarded_host) {
            line(b"x-forwarded-host", self.forwarded_host.as_bytes());
        }
        if let Some(id) = self.request_id {
            line(b"x-request-id", id.as_bytes());
        }
    }

    /// Whether a client field named `name` (any case) is not forwarded as it
    /// is: hop-by-hop, framing, or one the gateway sets.
    fn replaces(&self, name: &[u8]) -> bool {
        let set_here = match name.len() {
            4 => name.eq_ignore_ascii_case(b"host"),
            12 => self.request_id.is_some() && name.eq_ignore_ascii_case(b"x-request-id"),
            14 => name.eq_ignore_ascii_case(b"content-length"),
            15 => name.eq_ignore_ascii_case(b"x-forwarded-for"),
            16 => name.eq_ignore_ascii_case(b"x-forwarded-host"),
            17 => {
                name.eq_ignore_ascii_case(b"x-forwarded-proto")
                    || name.eq_ignore_ascii_case(b"transfer-encoding")
            }
            _ => false,
        };
        set_here || headers::is_hop_by_hop_name(name)
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
            Self::Raw(raw) => Values::Raw {
                fields: raw,
                name: name.as_str().as_bytes(),
                next: 0,
            },
        }
    }

    /// The first value of the fields named `name`.
    pub fn first(self, name: &'a HeaderName) -> Option<&'a [u8]> {
        self.values(name).next()
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
    },
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Self::Map(values) => values.next().map(HeaderValue::as_bytes),
            Self::Raw { fields, name, next } => {
                while let Some(field) = fields.fields.get(*next) {
                    *next += 1;
                    if fields.slice(&field.name).eq_ignore_ascii_case(name) {
                        return Some(fields.slice(&field.value));
                    }
                }
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
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut slots);
    // As the server: the head must end where httparse says it does (a bare
    // LF ends it early there, and the server refuses such a head).
    match request.parse(&head) {
        Ok(httparse::Status::Complete(end)) if end == head.len() => {}
        _ => return None,
    }
    let mut fields = RawFields::with_capacity(head.clone(), request.headers.len());
    for header in request.headers.iter() {
        fields.push(header.name.as_bytes(), header.value);
    }
    Some(fields)
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
            for value in [vec![byte, b'a'], vec![b'a', byte, b'a'], vec![b'a', byte]] {
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
        assert!(accepted > 500, "{accepted}");
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
