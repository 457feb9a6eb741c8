//! Rampart's own HTTP/1.1 client connection to upstreams (plain TCP or rustls).
//!
//! No connection task: the request's own future writes the head (and a body
//! that is already at hand) in one write and reads the response head; the
//! response body ([`H1Body`]) owns the connection while it is read and hands it
//! back to the pool when the response ended cleanly and the upstream did not
//! ask to close. Idle connections sit in the pool as plain sockets; a checkout
//! probes them once (without waiting) so one the upstream closed is not used.
//!
//! Layout: [`response`] parses response heads and their framing (sans I/O,
//! fuzzed); bodies are decoded with the server's strict decoder
//! ([`crate::h1server::decode`]). `RAMPART_UPSTREAM_H1=hyper` selects hyper's
//! client instead (see [`crate::pool`]).

pub mod response;

use std::io::{self, Write as _};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Method, Response, header};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::BoxError;
use crate::h1server::decode::{BodyError, Decoded, Decoder};
use crate::upstream::UpstreamBody;
use response::{Framing, Parsed, ResponseError};

/// Request body bytes sent in the same write as the head when they are at hand.
const INLINE_BODY: usize = 64 * 1024;
/// Read buffer growth step.
const READ_CHUNK: usize = 16 * 1024;
/// Trailer section bound for chunked responses.
const MAX_TRAILERS: usize = 16 * 1024;

/// The byte stream to an upstream.
pub(crate) enum Stream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// rustls over TCP (boxed: the TLS state is large).
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// An in-memory pipe (tests).
    #[cfg(test)]
    Duplex(tokio::io::DuplexStream),
    /// A pipe that holds writes until flushed, as TLS may (tests).
    #[cfg(test)]
    Buffered(tokio::io::BufWriter<tokio::io::DuplexStream>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            #[cfg(test)]
            Stream::Duplex(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(test)]
            Stream::Buffered(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            #[cfg(test)]
            Stream::Duplex(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(test)]
            Stream::Buffered(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            #[cfg(test)]
            Stream::Duplex(s) => Pin::new(s).poll_flush(cx),
            #[cfg(test)]
            Stream::Buffered(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            #[cfg(test)]
            Stream::Duplex(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(test)]
            Stream::Buffered(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Why an HTTP/1 exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Writing the request or reading the response failed.
    #[error("upstream I/O failed: {0}")]
    Io(io::Error),
    /// The upstream closed the connection before a complete response head.
    #[error("upstream closed the connection before responding")]
    Closed,
    /// The response head was refused.
    #[error("bad upstream response: {0}")]
    Response(#[from] ResponseError),
    /// The request body failed while it was being sent.
    #[error("request body failed: {0}")]
    Body(BoxError),
    /// The request body's length differs from the length it declared.
    #[error("request body length differs from its declared length")]
    BodyLength,
    /// Reading failed after part of a response had arrived: the upstream saw
    /// the request, so it is never sent again.
    #[error("upstream I/O failed mid-response: {0}")]
    ReadAfterResponse(io::Error),
    /// A reused connection had bytes to read before the request head was
    /// written (left over from an earlier exchange): never taken as this
    /// request's response.
    #[error("upstream sent bytes before the request")]
    Stale,
    /// The connection was found closed before any byte of the request was
    /// written (the upstream closed it while it sat idle).
    #[error("upstream closed the connection before the request was sent")]
    ClosedBeforeRequest,
    /// Reading or writing failed before any byte of the request was written
    /// (a reset idle connection).
    #[error("upstream connection failed before the request was sent: {0}")]
    FailedBeforeRequest(io::Error),
}

impl ExchangeError {
    /// Whether nothing came back: a reused connection that fails this way was
    /// most likely closed by the upstream while idle, and an idempotent request
    /// may be sent again on another. The upstream may still have received it
    /// (its close crossed the request), so never for other requests: see
    /// [`ExchangeError::unsent`].
    pub(crate) fn is_retryable(&self) -> bool {
        self.unsent() || matches!(self, ExchangeError::Closed | ExchangeError::Io(_))
    }

    /// Whether the exchange failed before any byte of the request left: the
    /// upstream cannot have acted on it, so any request whose body is still at
    /// hand may be sent again on another connection, whatever its method.
    pub(crate) fn unsent(&self) -> bool {
        matches!(
            self,
            ExchangeError::Stale
                | ExchangeError::ClosedBeforeRequest
                | ExchangeError::FailedBeforeRequest(_)
        )
    }
}

/// One upstream HTTP/1.1 connection and its read buffer.
pub(crate) struct Connection {
    io: Stream,
    read: BytesMut,
    /// How far `read` has been searched for the end of a response head.
    searched: usize,
    write: Vec<u8>,
    /// How long the upstream said it keeps this connection open while idle
    /// (its `Keep-Alive: timeout=`), from the last response.
    pub(crate) keep_alive_hint: Option<std::time::Duration>,
    /// The last exchange took something from a streamed request body (which
    /// then cannot be sent again elsewhere).
    body_taken: bool,
}

impl Connection {
    pub(crate) fn new(io: Stream) -> Self {
        Connection {
            io,
            read: BytesMut::with_capacity(READ_CHUNK),
            searched: 0,
            write: Vec::with_capacity(4096),
            keep_alive_hint: None,
            body_taken: false,
        }
    }

    /// Whether an idle connection still looks usable: nothing to read and not
    /// closed. Never waits. The kernel is asked first: tokio learns of a close
    /// that has just arrived only at its next look at the sockets.
    pub(crate) fn probe_idle(&mut self) -> bool {
        if !self.read.is_empty() {
            return false;
        }
        let plain = matches!(self.io, Stream::Tcp(_));
        match self.kernel_peek() {
            // Nothing to read: plain TCP needs no second look.
            Some(Err(error)) if error.kind() == io::ErrorKind::WouldBlock && plain => {
                return true;
            }
            Some(Err(error)) if error.kind() == io::ErrorKind::WouldBlock => {}
            // Closed or reset; or, on plain TCP, bytes nobody asked for (TLS
            // records may be session tickets, which rustls takes below).
            Some(Ok(0) | Err(_)) => return false,
            Some(Ok(_)) if plain => return false,
            Some(Ok(_)) | None => {}
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut scratch = [0u8; 64];
        let mut buf = ReadBuf::new(&mut scratch);
        matches!(
            Pin::new(&mut self.io).poll_read(&mut cx, &mut buf),
            Poll::Pending
        )
    }

    /// Peeks at the socket under the stream, bypassing tokio's readiness
    /// (None for in-memory test streams).
    fn kernel_peek(&self) -> Option<io::Result<usize>> {
        let tcp = match &self.io {
            Stream::Tcp(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
            #[cfg(test)]
            _ => return None,
        };
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        // The socket is non-blocking: no data yet is `WouldBlock`.
        Some(socket2::SockRef::from(tcp).peek(&mut byte))
    }

    /// Whether the last exchange left a streamed request body as it was
    /// (nothing polled from it): after an [`ExchangeError::unsent`] failure
    /// the body can still be sent on another connection.
    pub(crate) fn body_untouched(&self) -> bool {
        !self.body_taken
    }

    /// Reads more bytes into the read buffer; `Ok(0)` at end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        use std::future::Future;
        use tokio::io::AsyncReadExt;
        if self.read.capacity() - self.read.len() < 1024 {
            // Reclaims the same allocation when the pieces handed out earlier
            // are gone (the usual case), else grows.
            self.read.reserve(READ_CHUNK);
        }
        // `read_buf` holds no state of its own: a fresh one per poll is fine.
        std::pin::pin!(self.io.read_buf(&mut self.read)).poll(cx)
    }
}

/// A request ready to be written: the method, target, headers and its body.
pub(crate) struct Outgoing<'a> {
    pub method: &'a Method,
    /// Origin-form target (or authority-form for CONNECT).
    pub target: &'a str,
    pub headers: &'a HeaderMap,
    /// Host header used when `headers` has none.
    pub host: &'a str,
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
fn encode_head(out: &mut Vec<u8>, request: &Outgoing<'_>, framing: BodyFraming) {
    out.clear();
    out.extend_from_slice(request.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(request.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !request.headers.contains_key(header::HOST) {
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(request.host.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in request.headers {
        // Framing is ours (set below from the body), never the caller's.
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        BodyFraming::None => {}
        BodyFraming::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{n}\r\n");
        }
        BodyFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

#[derive(Debug, Clone, Copy)]
enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

/// A response head as the exchange returns it, with its body still on the
/// connection.
pub(crate) struct Exchanged {
    pub response: Response<()>,
    pub framing: Framing,
    pub keep_alive: bool,
    /// The response came before the whole request was sent (an early
    /// answer): the connection is not reused, and its body's reads are bounded.
    pub early: bool,
}

/// The outgoing side of an exchange: what is still to be written, in order.
struct Pending {
    /// Bytes of `Connection::write` already written.
    written: usize,
    /// A large data piece written after the write buffer (not copied into it).
    big: Bytes,
    /// Written after `big` (the CRLF ending a chunk).
    after_big: &'static [u8],
    /// Flushed after the last write (TLS buffers).
    flushed: bool,
    /// The body has ended (its last framing is in the buffer).
    body_done: bool,
    /// Body bytes taken so far, against a declared length.
    taken: u64,
    /// Writing failed: the upstream may still have answered (and closed).
    write_failed: Option<io::Error>,
    /// Something of the request has been written.
    head_sent: bool,
    /// A streamed body has been polled to a frame (or its end).
    body_taken: bool,
}

impl Connection {
    /// Sends the request and reads the response head, both at once: an upstream
    /// that answers before the request body has been sent (an early error) is
    /// heard at once, and the connection is then not reused. A full body stays
    /// with the caller (replayable); a stream is consumed.
    pub(crate) async fn exchange(
        &mut self,
        request: &Outgoing<'_>,
        body: &mut SendBody,
    ) -> Result<Exchanged, ExchangeError> {
        self.read.clear();
        self.searched = 0;
        let mut pending = Pending {
            written: 0,
            big: Bytes::new(),
            after_big: b"",
            flushed: false,
            body_done: true,
            taken: 0,
            write_failed: None,
            head_sent: false,
            body_taken: false,
        };
        let framing = match body {
            SendBody::None => {
                encode_head(&mut self.write, request, BodyFraming::None);
                BodyFraming::None
            }
            SendBody::Full(bytes) => {
                encode_head(
                    &mut self.write,
                    request,
                    BodyFraming::Length(bytes.len() as u64),
                );
                if bytes.len() <= INLINE_BODY {
                    self.write.extend_from_slice(bytes);
                } else {
                    pending.big = bytes.clone();
                }
                BodyFraming::None
            }
            SendBody::Stream { length, .. } => {
                let framing = match *length {
                    Some(n) => BodyFraming::Length(n),
                    None => BodyFraming::Chunked,
                };
                encode_head(&mut self.write, request, framing);
                pending.body_done = false;
                framing
            }
        };
        let head_request = *request.method == Method::HEAD;
        let mut interim = 0usize;
        let mut stream = match body {
            SendBody::Stream { body, .. } => Some(body),
            _ => None,
        };
        let result = std::future::poll_fn(|cx| {
            loop {
                // Until the head is written nothing may be read as the
                // response: bytes (or a close) now are left from before.
                if !pending.head_sent && pending.write_failed.is_none() {
                    match self.poll_fill(cx) {
                        Poll::Pending => {}
                        Poll::Ready(Ok(0)) => {
                            return Poll::Ready(Err(ExchangeError::ClosedBeforeRequest));
                        }
                        Poll::Ready(Ok(_)) => return Poll::Ready(Err(ExchangeError::Stale)),
                        Poll::Ready(Err(error)) => {
                            return Poll::Ready(Err(ExchangeError::FailedBeforeRequest(error)));
                        }
                    }
                }
                let progressed =
                    match self.poll_send(cx, &mut pending, stream.as_deref_mut(), framing) {
                        Ok(progressed) => progressed,
                        Err(error) => return Poll::Ready(Err(error)),
                    };
                if !pending.head_sent && pending.write_failed.is_none() {
                    if progressed {
                        continue;
                    }
                    return Poll::Pending;
                }
                match self.poll_head(cx, head_request, &mut interim) {
                    // The first write failed: not a byte of the request left.
                    Poll::Ready(Err(ExchangeError::Closed | ExchangeError::Io(_)))
                        if !pending.head_sent =>
                    {
                        let error = pending.write_failed.take();
                        return Poll::Ready(Err(ExchangeError::FailedBeforeRequest(
                            error.unwrap_or_else(|| io::ErrorKind::BrokenPipe.into()),
                        )));
                    }
                    Poll::Ready(Err(ExchangeError::Closed)) if pending.write_failed.is_some() => {
                        let error = pending.write_failed.take();
                        return Poll::Ready(Err(ExchangeError::Io(
                            error.unwrap_or_else(|| io::ErrorKind::BrokenPipe.into()),
                        )));
                    }
                    Poll::Ready(result) => return Poll::Ready(result),
                    Poll::Pending if !progressed => return Poll::Pending,
                    Poll::Pending => {}
                }
            }
        })
        .await;
        let sent = pending.body_done
            && pending.flushed
            && pending.write_failed.is_none()
            && self.write.is_empty();
        self.write.clear();
        self.body_taken = pending.body_taken;
        result.map(|mut exchanged| {
            exchanged.keep_alive &= sent;
            exchanged.early = !sent;
            exchanged
        })
    }

    /// Moves the request forward: writes what is buffered, then takes the next
    /// body piece. Returns whether anything happened (so the caller polls again).
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        pending: &mut Pending,
        body: Option<&mut UpstreamBody>,
        framing: BodyFraming,
    ) -> Result<bool, ExchangeError> {
        if pending.write_failed.is_some() || pending.flushed {
            return Ok(false);
        }
        // Body pieces at hand join the buffer before it is written (the head
        // goes out with the first piece), up to the inline size. Never while a
        // big piece or its closing CRLF is unsent: the next frame would go out
        // before them and break the chunked framing.
        if !pending.body_done
            && pending.big.is_empty()
            && pending.after_big.is_empty()
            && self.write.len() - pending.written < INLINE_BODY
            && let Some(body) = body
        {
            // The written prefix goes before more is appended: with a slow
            // upstream the buffer would otherwise hold the whole upload.
            if pending.written > 0 {
                self.write.drain(..pending.written);
                pending.written = 0;
            }
            let polled = Pin::new(body).poll_frame(cx);
            pending.body_taken |= polled.is_ready();
            match polled {
                // Only the head so far: it waits for the first piece.
                Poll::Pending if !pending.head_sent && pending.taken == 0 => return Ok(false),
                Poll::Pending => {}
                Poll::Ready(Some(Err(error))) => return Err(ExchangeError::Body(error)),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        pending.taken += data.len() as u64;
                        if let BodyFraming::Length(n) = framing
                            && pending.taken > n
                        {
                            return Err(ExchangeError::BodyLength);
                        }
                        let chunked = matches!(framing, BodyFraming::Chunked);
                        if chunked {
                            // Writing into a Vec cannot fail.
                            let _ = write!(self.write, "{:x}\r\n", data.len());
                        }
                        if data.len() <= INLINE_BODY {
                            self.write.extend_from_slice(&data);
                            if chunked {
                                self.write.extend_from_slice(b"\r\n");
                            }
                        } else {
                            pending.big = data;
                            pending.after_big = if chunked { b"\r\n" } else { b"" };
                        }
                    }
                    return Ok(true);
                }
                Poll::Ready(None) => {
                    if let BodyFraming::Length(n) = framing
                        && pending.taken != n
                    {
                        return Err(ExchangeError::BodyLength);
                    }
                    if matches!(framing, BodyFraming::Chunked) {
                        self.write.extend_from_slice(b"0\r\n\r\n");
                    }
                    pending.body_done = true;
                    return Ok(true);
                }
            }
        }
        // The buffered bytes first, then the big piece, then its CRLF.
        let out: &[u8] = if pending.written < self.write.len() {
            self.write.get(pending.written..).unwrap_or_default()
        } else if !pending.big.is_empty() {
            &pending.big
        } else if !pending.after_big.is_empty() {
            pending.after_big
        } else {
            &[]
        };
        if !out.is_empty() {
            return match Pin::new(&mut self.io).poll_write(cx, out) {
                Poll::Pending => Ok(false),
                Poll::Ready(Ok(0)) => {
                    pending.write_failed = Some(io::ErrorKind::WriteZero.into());
                    Ok(true)
                }
                Poll::Ready(Ok(n)) => {
                    pending.head_sent = true;
                    if pending.written < self.write.len() {
                        pending.written += n;
                        if pending.written == self.write.len() {
                            self.write.clear();
                            pending.written = 0;
                        }
                    } else if !pending.big.is_empty() {
                        pending.big.advance(n);
                    } else {
                        pending.after_big = pending.after_big.get(n..).unwrap_or_default();
                    }
                    Ok(true)
                }
                Poll::Ready(Err(error)) => {
                    pending.write_failed = Some(error);
                    Ok(true)
                }
            };
        }
        // Nothing left to write while the body waits: what TLS holds goes
        // out now, not only at the body's end.
        if !pending.body_done && pending.head_sent {
            return match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Pending | Poll::Ready(Ok(())) => Ok(false),
                Poll::Ready(Err(error)) => {
                    pending.write_failed = Some(error);
                    Ok(true)
                }
            };
        }
        if pending.body_done {
            return match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Pending => Ok(false),
                Poll::Ready(Ok(())) => {
                    pending.flushed = true;
                    Ok(false)
                }
                Poll::Ready(Err(error)) => {
                    pending.write_failed = Some(error);
                    Ok(true)
                }
            };
        }
        Ok(false)
    }

    /// Reads until a final response head, skipping interim ones.
    fn poll_head(
        &mut self,
        cx: &mut Context<'_>,
        head_request: bool,
        interim: &mut usize,
    ) -> Poll<Result<Exchanged, ExchangeError>> {
        loop {
            // Only the new bytes are searched for the head's end (a trickling
            // upstream would otherwise cost a full parse per read); the head
            // is parsed once, and must end exactly there.
            let Some(end) =
                crate::h1guard::find_head_end(&self.read, self.searched.saturating_sub(3))
            else {
                if self.read.len() > response::MAX_HEAD_BYTES {
                    return Poll::Ready(Err(ResponseError::TooLarge.into()));
                }
                self.searched = self.read.len();
                match self.poll_fill(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(error)) => {
                        return Poll::Ready(Err(read_failure(error, &self.read, *interim)));
                    }
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(if self.read.is_empty() && *interim == 0 {
                            ExchangeError::Closed
                        } else {
                            ExchangeError::Response(ResponseError::Malformed)
                        }));
                    }
                    Poll::Ready(Ok(_)) => {}
                }
                continue;
            };
            match response::parse(self.read.get(..end).unwrap_or_default(), head_request)? {
                Parsed::Interim(len) | Parsed::Final(len, _) if len != end => {
                    return Poll::Ready(Err(ResponseError::Malformed.into()));
                }
                Parsed::Partial => return Poll::Ready(Err(ResponseError::Malformed.into())),
                Parsed::Interim(len) => {
                    *interim += 1;
                    if *interim > response::MAX_INTERIM {
                        return Poll::Ready(Err(ResponseError::TooManyInterim.into()));
                    }
                    self.read.advance(len);
                    self.searched = 0;
                }
                Parsed::Final(len, head) => {
                    self.read.advance(len);
                    self.searched = 0;
                    let mut response = Response::new(());
                    *response.status_mut() = head.status;
                    *response.version_mut() = head.version;
                    *response.headers_mut() = head.headers;
                    return Poll::Ready(Ok(Exchanged {
                        response,
                        framing: head.framing,
                        keep_alive: head.keep_alive,
                        early: false,
                    }));
                }
            }
        }
    }
}

/// A read error while waiting for the response head: retryable (`Io`) only
/// when nothing at all has been received.
fn read_failure(error: io::Error, read: &[u8], interim: usize) -> ExchangeError {
    if read.is_empty() && interim == 0 {
        ExchangeError::Io(error)
    } else {
        ExchangeError::ReadAfterResponse(error)
    }
}

/// Why a response body could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum ResponseBodyError {
    /// Reading failed.
    #[error("upstream body read failed: {0}")]
    Io(io::Error),
    /// The body's framing was broken.
    #[error("upstream body malformed: {0}")]
    Framing(BodyError),
    /// The upstream closed before the declared end.
    #[error("upstream closed before the response body ended")]
    Incomplete,
    /// The upstream sent nothing for longer than the response body timeout.
    #[error("upstream response body stalled past its timeout")]
    TimedOut,
}

/// Where a response body is read from, and where the connection goes after.
pub(crate) trait Checkin: Send + Sync + 'static {
    /// Takes back a connection whose response ended cleanly.
    fn checkin(&self, conn: Box<Connection>);
}

/// A response body read from its connection as it is polled.
pub struct H1Body {
    conn: Option<Box<Connection>>,
    decoder: BodyDecoder,
    keep_alive: bool,
    home: Option<std::sync::Arc<dyn Checkin>>,
    /// The longest wait between two reads (`response_body_timeout`).
    idle: Option<crate::body::ReadIdle>,
}

/// Reads more of a body, failing with `TimedOut` when `idle` passes without
/// a byte.
fn fill_bounded(
    conn: &mut Connection,
    idle: &mut Option<crate::body::ReadIdle>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    match conn.poll_fill(cx) {
        Poll::Ready(result) => {
            if let (Ok(1..), Some(idle)) = (&result, idle.as_mut()) {
                idle.progress();
            }
            Poll::Ready(result)
        }
        Poll::Pending => {
            if let Some(idle) = idle
                && idle.expired(cx)
            {
                return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
            }
            Poll::Pending
        }
    }
}

fn body_read_error(error: io::Error) -> ResponseBodyError {
    if error.kind() == io::ErrorKind::TimedOut {
        ResponseBodyError::TimedOut
    } else {
        ResponseBodyError::Io(error)
    }
}

enum BodyDecoder {
    Framed(Decoder),
    Close,
    Done,
}

impl H1Body {
    /// `read_idle` bounds the wait between two reads.
    pub(crate) fn new(
        conn: Box<Connection>,
        framing: Framing,
        keep_alive: bool,
        home: std::sync::Arc<dyn Checkin>,
        read_idle: Option<std::time::Duration>,
    ) -> Self {
        let decoder = match framing {
            Framing::Empty => BodyDecoder::Done,
            Framing::Length(n) => BodyDecoder::Framed(Decoder::length(n)),
            Framing::Chunked => BodyDecoder::Framed(Decoder::chunked()),
            Framing::Close => BodyDecoder::Close,
        };
        let mut body = H1Body {
            conn: Some(conn),
            decoder,
            keep_alive: keep_alive && framing != Framing::Close,
            home: Some(home),
            idle: read_idle.map(crate::body::ReadIdle::new),
        };
        if matches!(body.decoder, BodyDecoder::Done) {
            body.finish();
        }
        body
    }

    /// The body ended cleanly: the connection goes home if it can be reused.
    fn finish(&mut self) {
        self.decoder = BodyDecoder::Done;
        let (Some(conn), Some(home)) = (self.conn.take(), self.home.take()) else {
            return;
        };
        // Bytes past the response mean the upstream sent more than it framed.
        if self.keep_alive && conn.read.is_empty() {
            home.checkin(conn);
        }
    }

    fn fail(&mut self) {
        self.decoder = BodyDecoder::Done;
        self.conn = None;
        self.home = None;
    }
}

impl Body for H1Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match &mut this.decoder {
                BodyDecoder::Done => return Poll::Ready(None),
                BodyDecoder::Close => {
                    if !conn.read.is_empty() {
                        let data = conn.read.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    match fill_bounded(conn, &mut this.idle, cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(0)) => {
                            this.fail();
                            return Poll::Ready(None);
                        }
                        Poll::Ready(Ok(_)) => {}
                        Poll::Ready(Err(error)) => {
                            this.fail();
                            return Poll::Ready(Some(Err(Box::new(body_read_error(error)))));
                        }
                    }
                }
                BodyDecoder::Framed(decoder) => {
                    match decoder.decode(&mut conn.read, MAX_TRAILERS) {
                        Ok(Decoded::Data(data)) => {
                            if decoder.is_done() {
                                this.finish();
                            }
                            return Poll::Ready(Some(Ok(Frame::data(data))));
                        }
                        Ok(Decoded::Done) => {
                            this.finish();
                            return Poll::Ready(None);
                        }
                        Ok(Decoded::NeedMore) => {}
                        Err(error) => {
                            this.fail();
                            return Poll::Ready(Some(Err(Box::new(ResponseBodyError::Framing(
                                error,
                            )))));
                        }
                    }
                    match fill_bounded(conn, &mut this.idle, cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(0)) => {
                            this.fail();
                            return Poll::Ready(Some(Err(Box::new(ResponseBodyError::Incomplete))));
                        }
                        Poll::Ready(Ok(_)) => {}
                        Poll::Ready(Err(error)) => {
                            this.fail();
                            return Poll::Ready(Some(Err(Box::new(body_read_error(error)))));
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.decoder, BodyDecoder::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match self.decoder {
            BodyDecoder::Done => SizeHint::with_exact(0),
            BodyDecoder::Framed(Decoder::Length(n)) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests;
