//! The request as the exchange sends it: its head, encoded here (framing is
//! ours, never the caller's), and its body, classified as absent, whole at
//! hand (replayable on another connection) or still streaming.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, header};
use http_body::{Body, Frame};

use super::INLINE_BODY;
use crate::BoxError;
use crate::upstream::UpstreamBody;

/// A request ready to be written: the method, target, headers and its body.
pub(crate) struct Outgoing<'a> {
    pub method: &'a Method,
    /// Origin-form target (or authority-form for CONNECT).
    pub target: &'a str,
    pub headers: &'a HeaderMap,
    /// Host header used when `headers` has none.
    pub host: &'a str,
    /// How the response head's headers are wanted.
    pub response_headers: super::response::HeadersAs,
    /// The header fields as received, when they go as lines (`headers` is
    /// then empty).
    pub fields: Option<crate::fields::OutgoingFields<'a>>,
}

/// The request body as the exchange sends it.
pub(crate) enum SendBody {
    /// No body.
    None,
    /// The whole body, at hand (replayable on another connection).
    Full(Bytes),
    /// A body still arriving; `length` when it declared one.
    Stream {
        body: UpstreamBody,
        length: Option<u64>,
    },
}

impl SendBody {
    /// Classifies a request body: one already complete (or empty) is taken
    /// whole without waiting.
    pub(crate) fn from_body(mut body: UpstreamBody, method: &Method) -> Self {
        if body.is_end_stream() {
            return if needs_length(method) {
                SendBody::Full(Bytes::new())
            } else {
                SendBody::None
            };
        }
        // Take what is ready now (a buffered body is one ready frame).
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let exact = body.size_hint().exact();
        if let Some(len) = exact
            && len <= INLINE_BODY as u64
        {
            let mut frames: Vec<Bytes> = Vec::new();
            let mut taken = 0usize;
            loop {
                if body.is_end_stream() {
                    return SendBody::Full(join(frames, taken));
                }
                match Pin::new(&mut body).poll_frame(&mut cx) {
                    Poll::Ready(None) => return SendBody::Full(join(frames, taken)),
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Ok(data) = frame.into_data() {
                            taken += data.len();
                            frames.push(data);
                        }
                    }
                    // An error is kept: it surfaces when the body is sent.
                    Poll::Ready(Some(Err(error))) => {
                        let prefix = join(frames, taken);
                        return SendBody::Stream {
                            body: prefixed(prefix, failed(error)),
                            length: exact,
                        };
                    }
                    // Not ready: the rest is streamed.
                    Poll::Pending => {
                        let prefix = join(frames, taken);
                        let rest = body;
                        return SendBody::Stream {
                            body: prefixed(prefix, rest),
                            length: exact,
                        };
                    }
                }
            }
        }
        SendBody::Stream {
            length: exact,
            body,
        }
    }

    /// The body as a plain body again (for an HTTP/2 connection).
    pub(crate) fn into_body(self) -> UpstreamBody {
        use http_body_util::{BodyExt, Empty, Full};
        match self {
            SendBody::None => Empty::new().map_err(|never| match never {}).boxed(),
            SendBody::Full(bytes) => Full::new(bytes).map_err(|never| match never {}).boxed(),
            SendBody::Stream { body, .. } => body,
        }
    }

    /// Whether this body can be sent again on another connection.
    pub(crate) fn replayable(&self) -> bool {
        !matches!(self, SendBody::Stream { .. })
    }
}

fn prefixed(prefix: Bytes, rest: UpstreamBody) -> UpstreamBody {
    use http_body_util::BodyExt;
    if prefix.is_empty() {
        return rest;
    }
    crate::body::PrefixedBody::new(prefix, rest).boxed()
}

/// A body that only fails with `error` (a failure polled ahead of sending).
fn failed(error: BoxError) -> UpstreamBody {
    use http_body_util::BodyExt;
    struct Failed(Option<BoxError>);
    impl Body for Failed {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(self.0.take().map(Err))
        }
    }
    Failed(Some(error)).boxed()
}

fn join(mut frames: Vec<Bytes>, len: usize) -> Bytes {
    if frames.len() <= 1 {
        return frames.pop().unwrap_or_default();
    }
    let mut joined = BytesMut::with_capacity(len);
    for frame in &frames {
        joined.extend_from_slice(frame);
    }
    joined.freeze()
}

/// Methods whose empty body is still announced (`Content-Length: 0`), as
/// hyper does.
fn needs_length(method: &Method) -> bool {
    *method == Method::POST || *method == Method::PUT || *method == Method::PATCH
}

/// Whether a request may be sent again after a reused connection failed
/// without answering, though the upstream may have received it.
pub(crate) fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Writes the request head into `out`.
pub(super) fn encode_head(out: &mut Vec<u8>, request: &Outgoing<'_>, framing: BodyFraming) {
    use crate::headers::write_line;
    out.clear();
    out.extend_from_slice(request.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(request.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    debug_assert!(
        request.fields.is_none() || request.headers.is_empty(),
        "fields come either raw or in the map"
    );
    let has_host = match request.fields {
        Some(fields) => fields.head.host.is_some(),
        None => request.headers.contains_key(header::HOST),
    };
    if !has_host {
        write_line(out, b"host: ", request.host.as_bytes());
    }
    if let Some(fields) = request.fields {
        fields.head.encode_fields(out, fields.raw);
    }
    for (name, value) in request.headers {
        // Framing is ours (set below from the body), never the caller's.
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        write_line(out, b": ", value.as_bytes());
    }
    match framing {
        BodyFraming::None => {}
        BodyFraming::Length(n) => {
            write_line(
                out,
                b"content-length: ",
                itoa::Buffer::new().format(n).as_bytes(),
            );
        }
        BodyFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

#[derive(Debug, Clone, Copy)]
pub(super) enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

/// For tests and the `request_head` fuzz target: whether a request head's
/// fields go upstream the same as lines (what the gateway writes when nothing
/// needs a map) and through a map (what it writes otherwise), for the
/// gateway settings the bits of `flags` pick (upstream `Host`, scheme,
/// forwarded host, request id, body framing). Compared as lower-cased names
/// with their values in order. Heads the server refuses, and fields the
/// lines path does not take (`UpstreamHead::lines_fit`), agree trivially.
#[doc(hidden)]
pub fn fuzz_request_lines_agree(head: &[u8], flags: u8) -> bool {
    use crate::fields::{OutgoingFields, UpstreamHead, fields_of_head};
    use crate::headers::ForwardedPeer;
    use http::HeaderValue;

    let Some(raw) = fields_of_head(head) else {
        return true;
    };
    let peer = ForwardedPeer::new(std::net::IpAddr::from([203, 0, 113, 7]));
    let upstream_host = HeaderValue::from_static("up.example:8080");
    let id = HeaderValue::from_static("req-1");
    let plan = UpstreamHead {
        host: (flags & 1 != 0).then_some(&upstream_host),
        strip_accept_encoding: false,
        peer_trusted: false,
        peer: &peer,
        proto: if flags & 2 != 0 { "https" } else { "http" },
        forwarded_host: if flags & 4 != 0 {
            "api.example.com"
        } else {
            "bad\u{1}host"
        },
        request_id: (flags & 8 != 0).then_some(&id),
    };
    if !plan.lines_fit(&raw) {
        return true;
    }
    // httparse-accepted fields always make a map.
    let Ok(mut map) = raw.to_map(6) else {
        return false;
    };
    plan.apply_to_map(&mut map);
    let framing = match flags >> 4 & 3 {
        0 => BodyFraming::None,
        1 => BodyFraming::Length(5),
        _ => BodyFraming::Chunked,
    };
    let empty = HeaderMap::new();
    let outgoing = |headers, fields| Outgoing {
        method: &Method::POST,
        target: "/t",
        headers,
        host: "default.example",
        response_headers: super::response::HeadersAs::Map,
        fields,
    };
    let mut as_lines = Vec::new();
    encode_head(
        &mut as_lines,
        &outgoing(&empty, Some(OutgoingFields::new(&plan, &raw))),
        framing,
    );
    let mut as_map = Vec::new();
    encode_head(&mut as_map, &outgoing(&map, None), framing);
    let (lines, map) = (sent_fields(&as_lines), sent_fields(&as_map));
    lines.is_some() && lines == map
}

/// The fields of an encoded request head, by lower-cased name, values in order.
fn sent_fields(head: &[u8]) -> Option<std::collections::BTreeMap<String, Vec<Vec<u8>>>> {
    // Room for every line (each takes at least four bytes): a head with many
    // fields must not fail here for want of slots.
    let mut slots = vec![httparse::EMPTY_HEADER; head.len() / 4 + 1];
    let mut request = httparse::Request::new(&mut slots);
    match request.parse(head) {
        Ok(httparse::Status::Complete(end)) if end == head.len() => {}
        _ => return None,
    }
    let mut fields = std::collections::BTreeMap::<String, Vec<Vec<u8>>>::new();
    for header in request.headers.iter() {
        fields
            .entry(header.name.to_ascii_lowercase())
            .or_default()
            .push(header.value.to_vec());
    }
    Some(fields)
}
