//! Rampart's own HTTP/1 server connection (plain and TLS listeners; h2 stays on
//! hyper).
//!
//! One task per connection reads a head into its buffer, checks it with the same
//! rules as the HTTP/1 guard ([`crate::h1guard`]: framing, limits, smuggling
//! refusals, header-read timeout) and builds the `http::Request` from that single
//! parse (header values are slices of the read buffer, not copies). The body is
//! decoded from the same buffer only as the handler reads it ([`body`],
//! [`decode`]); the response head and a small body go out in one write, bodies of
//! unknown length chunked. Requests are served one after the other, so pipelined
//! responses keep their order. A refused head gets its problem response and the
//! connection closes, as with the guard.
//!
//! Connections that open with the HTTP/2 preface are handed back to the caller
//! (with the bytes read so far) for hyper to serve.

pub mod body;
pub mod decode;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::future::poll_fn;
use std::mem::MaybeUninit;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{Method, Request, Response, Uri, Version};
use http_body::Body as _;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use body::{BodySender, Demand};
pub use body::{InboundBody, RequestBody};
use decode::{Decoded, Decoder};

use crate::Gateway;
use crate::body::ResponseBody;
use crate::fields::{FieldPositions, Known, RawFields};
use crate::h1guard::{
    BodyFraming, HeadLimits, OnRefusal, Preface, RefusedHead, TargetCheck, body_framing,
    encode_target, find_head_end, h2_preface, refusal_response, refused_head_facts,
};
use crate::problems::GatewayError;
use crate::proxy::{ConnInfo, handle};

/// Response bodies up to this size are copied behind the head (one write).
const COALESCE: usize = 16 * 1024;
/// Bytes read per read call (at least).
const READ_CHUNK: usize = 8 * 1024;
/// After a response that leaves request bytes unread, how long and how much of
/// them is read and dropped before closing, so the client gets the response
/// instead of a reset.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 256 * 1024;

/// How a connection ended.
pub(crate) enum Ended<IO> {
    /// Closed.
    Closed,
    /// It opened with the HTTP/2 preface: serve `io` with hyper, after replaying
    /// the bytes already read.
    Http2(IO, Bytes),
}

/// Per-connection settings and collaborators.
pub(crate) struct H1Conn {
    /// The shared gateway.
    pub gateway: Arc<Gateway>,
    /// Connection facts for the request path.
    pub info: Arc<ConnInfo>,
    /// Head limits and the header-read timeout.
    pub limits: HeadLimits,
    /// How long a write to the client may make no progress before the
    /// connection is closed.
    pub send_timeout: Duration,
    /// Audit records for refused heads.
    pub refusals: Arc<dyn OnRefusal>,
    /// Whether a connection may switch to HTTP/2 (prior knowledge on plain
    /// listeners).
    pub allow_h2: bool,
}

/// A parsed, accepted request head.
struct Parsed {
    /// The head, its header map left empty: the fields are in `fields`.
    parts: http::request::Parts,
    fields: RawFields,
    framing: BodyFraming,
    expect_continue: bool,
    close: bool,
}

/// The connection's side of the body being received.
struct Feed {
    sender: BodySender,
    decoder: Decoder,
    /// What is still to be written of `100 Continue` (all of it until the
    /// body is first wanted; empty when not asked for or sent). Written piece
    /// by piece so that a response completing mid-write finds where it
    /// stopped: the rest goes out first, never the final response inside it.
    continue_unsent: &'static [u8],
    /// Decoding stopped (body done, failed, or abandoned by the reader).
    stopped: bool,
}

// Every request returns one `Head`; boxing it would cost an allocation per
// request to save copying a few hundred bytes once.
#[allow(clippy::large_enum_variant)]
enum HeadRead {
    Head(Parsed),
    Closed,
    Refused(GatewayError, RefusedHead),
    Http2,
}

/// Serves one HTTP/1 connection until it closes. `drain` changes (or closes)
/// when the server shuts down: an idle connection closes at once, a busy one
/// after its current response (with `Connection: close`).
pub(crate) async fn serve<IO>(
    mut io: IO,
    settings: H1Conn,
    drain: watch::Receiver<bool>,
) -> Ended<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = Vec::with_capacity(1024);
    let mut first = settings.allow_h2;
    // The request future lives in one slot per connection, set in place for
    // each request: a future of a few kilobytes is not moved around per request.
    let make = |parts, body, fields| {
        handle(
            settings.gateway.clone(),
            settings.info.clone(),
            parts,
            body,
            Some(fields),
            true,
        )
    };
    let mut slot = Box::pin(None);
    // One header-read timer per connection. It is not re-armed per request:
    // when it fires, the wait for the current head is checked and the timer
    // moved to that wait's deadline if it has not passed.
    let mut timer = crate::deadline::Deadline::at(
        tokio::time::Instant::now() + settings.limits.header_read_timeout,
    );
    // One wait for the drain signal per connection, kept across requests: a
    // new `changed()` per head registered and unregistered a waiter (a lock
    // each way) on every request.
    let mut drain_signal = DrainSignal::new(drain.clone());
    loop {
        let head = read_head(
            &mut io,
            &mut rbuf,
            &settings,
            &drain,
            &mut drain_signal,
            &mut timer,
            first,
        );
        let parsed = match head.await {
            HeadRead::Head(parsed) => parsed,
            HeadRead::Closed => return Ended::Closed,
            HeadRead::Http2 => return Ended::Http2(io, rbuf.freeze()),
            HeadRead::Refused(error, facts) => {
                // Boxed: its code and state stay out of the path of every
                // request that is not refused.
                Box::pin(refuse_and_close(&mut io, error, facts, &settings)).await;
                return Ended::Closed;
            }
        };
        first = false;
        let Parsed {
            parts,
            fields,
            framing,
            expect_continue,
            close,
        } = parsed;
        let (body, mut feed) = match framing {
            BodyFraming::None => (InboundBody::Empty, None),
            // The whole body came with the head: handed over as it is, so the
            // upstream request is written head and body at once without the
            // handler waiting on the connection for it. (`100-continue` waits
            // to be asked for: the body is not expected yet.)
            BodyFraming::Length(length)
                if let Some(length) = usize::try_from(length)
                    .ok()
                    .filter(|&length| !expect_continue && length <= rbuf.len()) =>
            {
                (InboundBody::Whole(rbuf.split_to(length).freeze()), None)
            }
            BodyFraming::Length(length) => {
                let (body, sender) = RequestBody::channel(Some(length));
                (
                    InboundBody::H1(body),
                    Some(Feed::new(sender, Decoder::length(length), expect_continue)),
                )
            }
            BodyFraming::Chunked => {
                let (body, sender) = RequestBody::channel(None);
                (
                    InboundBody::H1(body),
                    Some(Feed::new(sender, Decoder::chunked(), expect_continue)),
                )
            }
        };
        let head_only = parts.method == Method::HEAD;
        let http10 = parts.version == Version::HTTP_10;
        slot.set(Some(make(parts, body, fields)));
        let exchange = Exchange {
            io: &mut io,
            rbuf: &mut rbuf,
            out: &mut out,
            feed: &mut feed,
            max_trailers: settings.limits.max_header_bytes,
            send_timeout: settings.send_timeout,
        };
        let keep_alive = exchange
            .run(
                slot.as_mut(),
                head_only,
                http10,
                close || settings.gateway.is_draining() || *drain.borrow(),
            )
            .await;
        let unread = feed.as_ref().is_some_and(|feed| !feed.decoder.is_done());
        if !keep_alive || unread {
            if unread {
                linger_close(&mut io).await;
            } else {
                shutdown_within(&mut io, LINGER).await;
            }
            return Ended::Closed;
        }
        if settings.gateway.is_draining() || *drain.borrow() {
            shutdown_within(&mut io, LINGER).await;
            return Ended::Closed;
        }
        // Give back memory a large body left behind before the next request.
        if rbuf.is_empty() && rbuf.capacity() > 4 * READ_CHUNK {
            rbuf = BytesMut::with_capacity(READ_CHUNK);
        }
    }
}

/// Answers a head refused before it was handled, then closes.
async fn refuse_and_close<IO>(
    io: &mut IO,
    error: GatewayError,
    mut facts: RefusedHead,
    settings: &H1Conn,
) where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let response = refusal_response(error, &mut facts, settings.refusals.as_ref());
    if send_all(io, &response, settings.send_timeout, false).await {
        linger_close(io).await;
    }
}

/// Reads and checks the next head.
async fn read_head<IO>(
    io: &mut IO,
    rbuf: &mut BytesMut,
    settings: &H1Conn,
    drain: &watch::Receiver<bool>,
    drain_signal: &mut DrainSignal,
    timer: &mut crate::deadline::Deadline,
    first: bool,
) -> HeadRead
where
    IO: AsyncRead + Unpin,
{
    let limits = &settings.limits;
    let deadline = tokio::time::Instant::now() + limits.header_read_timeout;
    if timer.deadline() > deadline {
        // Only after a longer timeout was configured: never wait past ours.
        timer.reset(deadline);
    }
    let mut searched = 0usize;
    let mut draining = *drain.borrow() || drain_signal.fired;
    loop {
        // HTTP/2 with prior knowledge once its whole preface is here; while
        // only its beginning is, read on under the header-read deadline
        // (`PRI * HTTP/2.0\r\n\r\n` alone would be a complete HTTP/1 head).
        let awaiting_preface = first
            && !rbuf.is_empty()
            && match h2_preface(rbuf) {
                Preface::Complete => return HeadRead::Http2,
                Preface::Partial => true,
                Preface::Other => false,
            };
        if !awaiting_preface {
            if searched == 0
                && let Some(read) = first_look(rbuf, limits)
            {
                return read;
            }
            if let Some(read) = search_head(rbuf, searched, limits) {
                return read;
            }
            searched = rbuf.len();
        }
        if rbuf.len() > limits.max_header_bytes {
            return refused_partial(GatewayError::HeadersTooLarge, rbuf.len());
        }
        if draining && rbuf.is_empty() {
            return HeadRead::Closed;
        }
        rbuf.reserve(READ_CHUNK);
        tokio::select! {
            biased;
            read = io.read_buf(rbuf) => match read {
                Ok(0) | Err(_) => return HeadRead::Closed,
                Ok(_) => {}
            },
            () = poll_fn(|cx| timer.poll_fired(cx)) => {
                if tokio::time::Instant::now() < deadline {
                    timer.reset(deadline);
                    continue;
                }
                if rbuf.is_empty() {
                    return HeadRead::Closed;
                }
                return refused_partial(GatewayError::HeaderTimeout, rbuf.len());
            }
            () = poll_fn(|cx| drain_signal.poll_fired(cx)), if !draining => draining = true,
        }
    }
}

/// The connection's wait for the server's drain signal (the watch value
/// changing, or its sender going away), made once and registered once: a
/// connection's task polls with the same waker every time, so the wait is
/// polled again only for another waker, and whether it fired is read from the
/// watch itself (an atomic load). Polling the registered wait at every head
/// cost ~150 instructions per request (see `deadline::Registration`).
struct DrainSignal {
    wait: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
    /// A receiver to ask whether the value changed or the sender went.
    watch: watch::Receiver<bool>,
    registration: crate::deadline::Registration,
    /// It fired: the wait is not polled again (a finished future must not be).
    fired: bool,
}

impl DrainSignal {
    fn new(drain: watch::Receiver<bool>) -> Self {
        let mut changed = drain.clone();
        Self {
            wait: Box::pin(async move {
                let _ = changed.changed().await;
            }),
            watch: drain,
            registration: crate::deadline::Registration::default(),
            fired: false,
        }
    }

    /// Ready when the signal has fired (and ever after).
    fn poll_fired(&mut self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.fired || !matches!(self.watch.has_changed(), Ok(false)) {
            self.fired = true;
            return Poll::Ready(());
        }
        let polled = self.registration.poll(self.wait.as_mut(), cx, true);
        self.fired = polled.is_ready();
        polled
    }
}

fn refused_partial(error: GatewayError, head_bytes: usize) -> HeadRead {
    HeadRead::Refused(
        error,
        RefusedHead {
            head_bytes,
            ..RefusedHead::default()
        },
    )
}

/// A head's first look, before any search for its end: what httparse makes of
/// the bytes read so far decides when they hold a whole head that ends in
/// CRLF CRLF within the limit, the common case of a head that came in one
/// read. The search for the blank line (memmem, ~330 instructions a request)
/// is then not needed: httparse ends a head at its first empty line, and no
/// CRLF CRLF can come before that (CR stands only before LF in what it
/// accepts), so the head is the one the search would have found, and the
/// verdict is the same (`fuzz_head_reads_agree`). `None`: anything else,
/// left to the search, which reads on. Taken once per head, so a head that
/// trickles in is not parsed again with every piece.
fn first_look(rbuf: &mut BytesMut, limits: &HeadLimits) -> Option<HeadRead> {
    // Leading empty lines are skipped by the search: left to it.
    if !rbuf.first().is_some_and(|&b| b != b'\r' && b != b'\n') {
        return None;
    }
    let Front::Complete { len, layout } = parse_front(rbuf, limits.max_headers) else {
        return None;
    };
    if len > limits.max_header_bytes || !rbuf.get(..len)?.ends_with(b"\r\n\r\n") {
        return None;
    }
    let head = rbuf.split_to(len).freeze();
    let parsed = layout.and_then(|layout| layout.build(head.clone()));
    Some(head_read(parsed, &head, limits))
}

/// The head the bytes read so far hold, found by searching for its blank line
/// from `searched` (the bytes searched before, less the three a CRLF CRLF
/// could straddle): the head (or its refusal), or `None` to read on.
fn search_head(rbuf: &mut BytesMut, searched: usize, limits: &HeadLimits) -> Option<HeadRead> {
    let end = find_head_end(rbuf, searched.saturating_sub(3))?;
    if end > limits.max_header_bytes {
        return Some(refused_partial(GatewayError::HeadersTooLarge, end));
    }
    let head = rbuf.split_to(end).freeze();
    let parsed = parse_head(head.clone(), limits.max_headers);
    Some(head_read(parsed, &head, limits))
}

/// What reading `head` (split off the buffer) came to: the request, or its
/// refusal with the facts the refusal reports.
fn head_read(parsed: Result<Parsed, GatewayError>, head: &Bytes, limits: &HeadLimits) -> HeadRead {
    match parsed {
        Ok(parsed) => HeadRead::Head(parsed),
        Err(error) => HeadRead::Refused(error, refused_head_facts(head, limits.max_headers)),
    }
}

/// For the fuzz target: on `data` as the bytes read so far, whenever the first
/// look decides, the search decides the same (the same head, parsed the same,
/// or the same refusal) and leaves the same bytes. The first byte picks the
/// limits; the rest is the buffer.
#[doc(hidden)]
pub fn fuzz_head_reads_agree(data: &[u8]) -> bool {
    head_reads_agree(data).unwrap_or(true)
}

/// [`fuzz_head_reads_agree`]'s check: `None` when the first look left the
/// bytes to the search (nothing to compare).
fn head_reads_agree(data: &[u8]) -> Option<bool> {
    let (&flags, bytes) = data.split_first()?;
    let limits = HeadLimits {
        max_header_bytes: if flags & 1 == 0 { 64 * 1024 } else { 64 },
        // Over the parser's 128 stack slots, the fields go on the heap.
        max_headers: match flags >> 1 & 3 {
            0 => 100,
            1 => 3,
            2 => 200,
            _ => 0,
        },
        header_read_timeout: Duration::from_secs(1),
    };
    let mut looked = BytesMut::from(bytes);
    let mut searched = looked.clone();
    let first = first_look(&mut looked, &limits)?;
    let Some(search) = search_head(&mut searched, 0, &limits) else {
        return Some(false);
    };
    Some(looked == searched && head_read_summary(&first) == head_read_summary(&search))
}

/// Everything a head read decided, as text to compare.
fn head_read_summary(read: &HeadRead) -> String {
    match read {
        HeadRead::Head(parsed) => format!(
            "{:?} {} {:?} {:?} {:?} {} {} {:?}",
            parsed.parts.method,
            parsed.parts.uri,
            parsed.parts.version,
            parsed.parts.headers,
            parsed.framing,
            parsed.expect_continue,
            parsed.close,
            parsed.fields,
        ),
        HeadRead::Refused(error, facts) => format!("refused {error:?} {facts:?}"),
        HeadRead::Closed => "closed".into(),
        HeadRead::Http2 => "h2".into(),
    }
}

/// Parses a complete head (ending in the blank line) into request parts.
fn parse_head(head: Bytes, max_headers: usize) -> Result<Parsed, GatewayError> {
    match parse_front(&head, max_headers) {
        // The head ends at the first CRLF CRLF. httparse also accepts a bare LF
        // as a line end and so may end the head earlier: the bytes between would
        // be neither head nor body (a desync with a front end that reads bare LF
        // as we do not), so such a head is refused.
        Front::Complete { len, layout } if len == head.len() => layout?.build(head),
        Front::Complete { .. } | Front::Partial => Err(GatewayError::Malformed),
        Front::Refused(error) => Err(error),
    }
}

/// What httparse makes of the front of a buffer.
enum Front {
    /// A head of `len` bytes, and the request it lays out (or why that is
    /// refused).
    Complete {
        len: usize,
        layout: Result<HeadLayout, GatewayError>,
    },
    /// Not a whole head yet.
    Partial,
    /// Refused by httparse.
    Refused(GatewayError),
}

/// A parsed head, its parts still positions in the buffer it was read into.
struct HeadLayout {
    method: Method,
    version: Version,
    target: Target,
    framing: BodyFraming,
    fields: FieldPositions,
}

/// The request target: where it lies in the head, or re-encoded.
enum Target {
    At(std::ops::Range<usize>),
    Encoded(String),
}

fn parse_front(buffer: &[u8], max_headers: usize) -> Front {
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 128];
    let mut heap = Vec::new();
    let slots = if max_headers <= stack.len() {
        stack.get_mut(..max_headers).unwrap_or_default()
    } else {
        heap.resize(max_headers, MaybeUninit::uninit());
        heap.as_mut_slice()
    };
    let mut request = httparse::Request::new(&mut []);
    match request.parse_with_uninit_headers(buffer, slots) {
        Ok(httparse::Status::Complete(len)) => Front::Complete {
            len,
            layout: lay_out(buffer, &request),
        },
        Ok(httparse::Status::Partial) => Front::Partial,
        Err(httparse::Error::TooManyHeaders) => Front::Refused(GatewayError::HeadersTooLarge),
        Err(_) => Front::Refused(GatewayError::Malformed),
    }
}

/// The request httparse parsed from `buffer`, checked (framing, target,
/// method) and laid out.
fn lay_out(buffer: &[u8], request: &httparse::Request<'_, '_>) -> Result<HeadLayout, GatewayError> {
    let framing = body_framing(request)?;
    let path = request.path.unwrap_or_default();
    let target = match encode_target(path) {
        TargetCheck::Fine => Target::At(
            crate::fields::position_in(buffer, path.as_bytes()).ok_or(GatewayError::Malformed)?,
        ),
        TargetCheck::Encoded(encoded) => Target::Encoded(encoded),
        TargetCheck::Invalid => return Err(GatewayError::Malformed),
    };
    let method = Method::from_bytes(request.method.unwrap_or_default().as_bytes())
        .map_err(|_| GatewayError::Malformed)?;
    let version = match request.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let fields = FieldPositions::record(buffer, request.headers).ok_or(GatewayError::Malformed)?;
    Ok(HeadLayout {
        method,
        version,
        target,
        framing,
        fields,
    })
}

impl HeadLayout {
    /// The request over `head`, the bytes it was laid out in (split off the
    /// front of that buffer).
    fn build(self, head: Bytes) -> Result<Parsed, GatewayError> {
        let HeadLayout {
            method,
            version,
            target,
            framing,
            fields,
        } = self;
        let uri = match target {
            Target::At(range) if range.end <= head.len() => {
                Uri::from_maybe_shared(head.slice(range))
            }
            Target::At(_) => return Err(GatewayError::Malformed),
            Target::Encoded(encoded) => Uri::try_from(encoded),
        }
        .map_err(|_| GatewayError::Malformed)?;
        // The fields stay where they are in the head; the request path makes a
        // map of them only if it needs one (crate::fields).
        let fields = fields.over(head).ok_or(GatewayError::Malformed)?;
        let mut close = version == Version::HTTP_10;
        for token in fields
            .known(Known::Connection)
            .flat_map(|value| value.split(|&b| b == b','))
        {
            let token = token.trim_ascii();
            if token.eq_ignore_ascii_case(b"close") {
                close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") && version == Version::HTTP_10 {
                close = false;
            }
        }
        // The last Expect decides, as when each field was looked at in turn.
        let expect_continue = fields
            .known(Known::Expect)
            .last()
            .is_some_and(|value| value.eq_ignore_ascii_case(b"100-continue"));
        let mut parts = Request::new(()).into_parts().0;
        parts.method = method;
        parts.uri = uri;
        parts.version = version;
        Ok(Parsed {
            parts,
            fields,
            framing,
            expect_continue: expect_continue && version == Version::HTTP_11,
            close,
        })
    }
}

impl Feed {
    fn new(sender: BodySender, decoder: Decoder, expect_continue: bool) -> Self {
        Self {
            sender,
            decoder,
            continue_unsent: if expect_continue { CONTINUE } else { b"" },
            stopped: false,
        }
    }

    /// Whether `100 Continue` was begun but not finished.
    fn continue_begun(&self) -> bool {
        !self.continue_unsent.is_empty() && self.continue_unsent.len() < CONTINUE.len()
    }
}

/// The interim response to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Decodes the next piece of the request body when the reader wants one.
/// Cancel-safe at every await: progress lives in `feed` and `rbuf`.
async fn feed_step<IO>(io: &mut IO, rbuf: &mut BytesMut, feed: &mut Feed, max_trailers: usize)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    // Body bytes already read are decoded into the free slot without waiting
    // to be asked: the upstream client then finds the body with the head and
    // writes both at once. Reading the socket, and `100 Continue`, wait until
    // the body is wanted.
    let ready = feed.continue_unsent.is_empty() && !rbuf.is_empty() && feed.sender.slot_free();
    if !ready && poll_fn(|cx| feed.sender.poll_demand(cx)).await == Demand::Gone {
        feed.stopped = true;
        return;
    }
    // Cancel-safe: each piece written is recorded before the next await.
    while !feed.continue_unsent.is_empty() {
        match io.write(feed.continue_unsent).await {
            Ok(n) if n > 0 => {
                feed.continue_unsent = feed.continue_unsent.get(n..).unwrap_or_default()
            }
            _ => {
                feed.sender.fail(decode::BodyError::Incomplete);
                feed.stopped = true;
                return;
            }
        }
    }
    loop {
        match feed.decoder.decode(rbuf, max_trailers) {
            Ok(Decoded::Data(data)) => {
                let last = feed.decoder.is_done();
                feed.sender.send(Some(data), last);
                feed.stopped = last;
                return;
            }
            Ok(Decoded::Done) => {
                feed.sender.send(None, true);
                feed.stopped = true;
                return;
            }
            Ok(Decoded::NeedMore) => {
                rbuf.reserve(READ_CHUNK);
                match io.read_buf(rbuf).await {
                    Ok(0) | Err(_) => {
                        feed.sender.fail(decode::BodyError::Incomplete);
                        feed.stopped = true;
                        return;
                    }
                    Ok(_) => {}
                }
            }
            Err(error) => {
                feed.sender.fail(error);
                feed.stopped = true;
                return;
            }
        }
    }
}

/// One request/response exchange on the connection.
struct Exchange<'a, IO> {
    io: &'a mut IO,
    rbuf: &'a mut BytesMut,
    out: &'a mut Vec<u8>,
    feed: &'a mut Option<Feed>,
    max_trailers: usize,
    send_timeout: Duration,
}

impl<IO> Exchange<'_, IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    fn feeding(&self) -> bool {
        self.feed.as_ref().is_some_and(|feed| !feed.stopped)
    }

    /// Whether the client may still be sending a body nobody reads any more
    /// (the connection closes after this response).
    fn unwanted_body(&self) -> bool {
        self.feed
            .as_ref()
            .is_some_and(|feed| feed.stopped && !feed.decoder.is_done())
    }

    /// Writes `bytes` to the client within the send timeout (see [`send_all`]).
    async fn send(&mut self, bytes: &[u8]) -> bool {
        let discard = self.unwanted_body();
        send_all(self.io, bytes, self.send_timeout, discard).await
    }

    /// Writes and flushes what `out` holds, then empties it.
    async fn send_out(&mut self) -> bool {
        let out = std::mem::take(self.out);
        let sent = self.send(&out).await && flush_within(self.io, self.send_timeout).await;
        *self.out = out;
        self.out.clear();
        sent
    }

    /// Runs the handler while feeding it the body, then writes the response
    /// (still feeding: an upstream may answer before the body ends). Returns
    /// whether the connection may carry another request.
    async fn run<F>(
        mut self,
        mut handler: std::pin::Pin<&mut Option<F>>,
        head_only: bool,
        http10: bool,
        mut close: bool,
    ) -> bool
    where
        F: Future<Output = Result<Response<ResponseBody>, std::convert::Infallible>>,
    {
        let mut respond = poll_fn(|cx| match handler.as_mut().as_pin_mut() {
            Some(future) => future.poll(cx),
            None => Poll::Pending,
        });
        let response = loop {
            if !self.feeding() {
                break (&mut respond).await;
            }
            tokio::select! {
                biased;
                response = &mut respond => break response,
                () = async {
                    if let Some(feed) = self.feed.as_mut() {
                        feed_step(self.io, self.rbuf, feed, self.max_trailers).await;
                    }
                } => {}
            }
        };
        drop(respond);
        handler.set(None);
        // Once the final response exists, a `100 Continue` may never follow it
        // (RFC 9110 §15.2): it would land inside the response body. One begun
        // is finished first (its start is already on the wire).
        let rest = self.feed.as_mut().map_or(&b""[..], |feed| {
            let begun = feed.continue_begun();
            let rest = std::mem::take(&mut feed.continue_unsent);
            if begun { rest } else { b"" }
        });
        if !rest.is_empty() && !self.send(rest).await {
            return false;
        }
        let Ok(response) = response;
        let (parts, mut body) = response.into_parts();
        let status = parts.status;
        let body_allowed = !(head_only
            || status.is_informational()
            || status == http::StatusCode::NO_CONTENT
            || status == http::StatusCode::NOT_MODIFIED);
        // A body still arriving when the head goes out: the connection cannot be
        // reused (the rest of it is read and dropped before closing).
        close |= self.feed.as_ref().is_some_and(|f| !f.decoder.is_done());
        close |= parts
            .headers
            .get(CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let exact = body.size_hint().exact();
        let chunked = body_allowed && exact.is_none() && !http10;
        // HTTP/1.0 bodies of unknown length end with the connection.
        close |= body_allowed && exact.is_none() && http10;

        let out = &mut *self.out;
        out.clear();
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\n");
        let mut length_written = false;
        let mut has_date = false;
        // Upstream headers passed through as lines (no stage looked at them):
        // copied as they are; only what the gateway set is in the map.
        if let Some(lines) = body.head_lines() {
            let raw = &lines.upstream;
            out.extend_from_slice(&raw.lines);
            if let Some(id) = &lines.request_id {
                crate::headers::write_line(out, b"x-request-id: ", id.as_bytes());
            }
            has_date = raw.has_date;
            // As below: HEAD and 304 keep the length the upstream stated.
            if let Some(length) = raw.content_length
                && !body_allowed
                && status != http::StatusCode::NO_CONTENT
            {
                length_line(out, length);
                length_written = true;
            }
        }
        for (name, value) in &parts.headers {
            if name == TRANSFER_ENCODING || name == CONNECTION {
                continue;
            }
            if name == CONTENT_LENGTH {
                // HEAD and 304 keep the length the upstream stated; otherwise the
                // body's own length is written below.
                if body_allowed || status == http::StatusCode::NO_CONTENT || length_written {
                    continue;
                }
                length_written = true;
            }
            out.extend_from_slice(name.as_str().as_bytes());
            crate::headers::write_line(out, b": ", value.as_bytes());
        }
        if !has_date && !parts.headers.contains_key(DATE) {
            with_date_line(|line| out.extend_from_slice(line));
        }
        if body_allowed {
            match exact {
                Some(length) => {
                    length_line(out, length);
                }
                None if chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
                None => {}
            }
        } else if head_only
            && !length_written
            && status != http::StatusCode::NO_CONTENT
            && status != http::StatusCode::NOT_MODIFIED
            && !status.is_informational()
            && let Some(length) = exact
            // An empty body is the upstream's answer to HEAD, whose length
            // (unstated: it would send it chunked) is not 0. Rampart's own
            // answers (problems) have bodies, and their length is the GET's.
            && length > 0
        {
            length_line(out, length);
        }
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");

        let mut broken = false;
        if body_allowed {
            loop {
                if body.is_end_stream() {
                    break;
                }
                let feeding = self.feeding();
                let mut next = pin!(body.frame());
                let frame = match poll_fn(|cx| Poll::Ready(next.as_mut().poll(cx))).await {
                    Poll::Ready(frame) => frame,
                    Poll::Pending => {
                        // Send what is ready before waiting for the upstream.
                        if !self.out.is_empty() && !self.send_out().await {
                            return false;
                        }
                        tokio::select! {
                            biased;
                            frame = &mut next => frame,
                            () = async {
                                if let Some(feed) = self.feed.as_mut() {
                                    feed_step(self.io, self.rbuf, feed, self.max_trailers).await;
                                }
                            }, if feeding => continue,
                        }
                    }
                };
                let data = match frame {
                    None => break,
                    Some(Err(_)) => {
                        broken = true;
                        break;
                    }
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) if !data.is_empty() => data,
                        _ => continue,
                    },
                };
                if chunked {
                    self.out
                        .extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                }
                if self.out.len() + data.len() <= COALESCE {
                    self.out.extend_from_slice(&data);
                } else {
                    let out = std::mem::take(self.out);
                    let sent = self.send(&out).await && self.send(&data).await;
                    *self.out = out;
                    self.out.clear();
                    if !sent {
                        return false;
                    }
                }
                if chunked {
                    self.out.extend_from_slice(b"\r\n");
                }
            }
            if chunked && !broken {
                self.out.extend_from_slice(b"0\r\n\r\n");
            }
        }
        if !self.send_out().await {
            return false;
        }
        drop(body);
        !(close || broken)
    }
}

fn length_line(out: &mut Vec<u8>, length: u64) {
    crate::headers::write_line(
        out,
        b"content-length: ",
        itoa::Buffer::new().format(length).as_bytes(),
    );
}

thread_local! {
    /// The `Date` line of the current second (formatted once per second).
    static DATE_CACHE: RefCell<(u64, Vec<u8>)> = const { RefCell::new((u64::MAX, Vec::new())) };
}

/// Hands `write` the whole `date: …` line (CRLF included) of this second.
fn with_date_line(write: impl FnOnce(&[u8])) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE_CACHE.with_borrow_mut(|(secs, line)| {
        if *secs != now {
            *secs = now;
            let date = rampart_core::time::http_date(i64::try_from(now).unwrap_or(0));
            *line = format!("date: {date}\r\n").into_bytes();
        }
        write(line);
    });
}

/// Writes all of `bytes`, giving up (false) when the client takes nothing for
/// `timeout` or the connection fails. No timer is armed while the socket takes
/// the bytes at once. While a write waits and `discard` is set (the response is
/// final and the rest of the request body is not wanted), what the client sends
/// is read and dropped: a client that uploads its whole body before reading the
/// answer would otherwise never read it, and both sides would wait for ever.
async fn send_all<IO>(io: &mut IO, mut bytes: &[u8], timeout: Duration, discard: bool) -> bool
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    while !bytes.is_empty() {
        let now =
            poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *io).poll_write(cx, bytes))).await;
        let written = match now {
            Poll::Ready(written) => written,
            Poll::Pending => {
                let mut sink = if discard {
                    vec![0u8; 8 * 1024]
                } else {
                    Vec::new()
                };
                let mut reading = discard;
                let wait = poll_fn(|cx| {
                    // Bounded per wake-up, so a flooding client cannot keep
                    // this task from yielding.
                    for _ in 0..16 {
                        if !reading {
                            break;
                        }
                        let mut read = tokio::io::ReadBuf::new(&mut sink);
                        match std::pin::Pin::new(&mut *io).poll_read(cx, &mut read) {
                            Poll::Ready(Ok(())) if !read.filled().is_empty() => {}
                            Poll::Ready(_) => reading = false,
                            Poll::Pending => break,
                        }
                    }
                    std::pin::Pin::new(&mut *io).poll_write(cx, bytes)
                });
                match tokio::time::timeout(timeout, wait).await {
                    Ok(written) => written,
                    Err(_) => return false,
                }
            }
        };
        match written {
            Ok(0) | Err(_) => return false,
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
        }
    }
    true
}

/// Ends our side within `timeout` (a TLS stream's close_notify must be
/// written, and a client that stopped reading would hold the task and its
/// connection slot forever); no timer when it completes at once. Past the
/// timeout the connection is simply dropped.
async fn shutdown_within<IO>(io: &mut IO, timeout: Duration)
where
    IO: AsyncWrite + Unpin,
{
    if poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *io).poll_shutdown(cx)))
        .await
        .is_pending()
    {
        let _ = tokio::time::timeout(timeout, io.shutdown()).await;
    }
}

/// Flushes within `timeout` (TLS streams may hold bytes back); no timer when
/// the flush completes at once.
async fn flush_within<IO>(io: &mut IO, timeout: Duration) -> bool
where
    IO: AsyncWrite + Unpin,
{
    match poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *io).poll_flush(cx))).await {
        Poll::Ready(result) => result.is_ok(),
        Poll::Pending => matches!(tokio::time::timeout(timeout, io.flush()).await, Ok(Ok(()))),
    }
}

/// Closes after a final response while the client may still be sending: ends
/// our side, then reads and drops what arrives (bounded in time and bytes) so
/// the unread bytes do not turn the close into a reset that loses the response.
async fn linger_close<IO>(io: &mut IO)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    // Bounded: a TLS close sends bytes (close_notify, and what the stream
    // still holds), which a client that stopped reading never takes.
    if !flush_within(io, LINGER).await {
        return;
    }
    shutdown_within(io, LINGER).await;
    let mut sink = [0u8; 4096];
    let mut seen = 0usize;
    let _ = tokio::time::timeout(LINGER, async {
        while seen < LINGER_BYTES {
            match io.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen += n,
            }
        }
    })
    .await;
}

/// A connection whose first bytes were already read: they are replayed before
/// reading on (for handing an HTTP/2 connection to hyper).
pub(crate) struct Prefixed<IO> {
    prefix: Bytes,
    io: IO,
}

impl<IO> Prefixed<IO> {
    /// `prefix` is read first, then `io`.
    pub(crate) fn new(prefix: Bytes, io: IO) -> Self {
        Self { prefix, io }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Prefixed<IO> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(this.prefix.split_to(n).as_ref());
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Prefixed<IO> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
